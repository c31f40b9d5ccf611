#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The global variables of one data section of a skeleton's object
/// (`.bss`, `.data`, `.rodata`, `.data.*`, `.rodata.*`, `.kconfig`), read
/// and written at their BTF offsets.
///
/// Before `load()` the bytes are libbpf's initial image of the map (what
/// `bpf_map__initial_value` returns), so writes become the values the
/// programs start with. After `load()` they are the live map, mmap'd: the
/// programs and this process see the same memory.
public final class SkeletonGlobals: @unchecked Sendable {
    /// Who may write the section.
    public enum Access: Sendable {
        /// `.bss`, `.data`, `.data.*`: always (before load: the initial value; after: the live map).
        case writable
        /// `.rodata`, `.rodata.*`: before load only; the kernel freezes the map at load.
        case writableUntilLoad
        /// `.kconfig`: libbpf fills it at load; never written from here.
        case readOnly
    }

    /// The internal map that holds the section.
    public let map: ObjectMap
    public let access: Access
    private var live: MappedMapValue?
    // Reads and writes from several threads see whole values.
    private let lock = Mutex<Void>(())

    init(map: ObjectMap, access: Access) {
        self.map = map
        self.access = access
    }

    /// Whether a write is allowed now.
    public var isWritable: Bool {
        switch access {
        case .writable: return !map.object.isLoaded || live != nil
        case .writableUntilLoad: return !map.object.isLoaded
        case .readOnly: return false
        }
    }

    /// Whether the bytes are the live, kernel-shared map (after load).
    public var isLive: Bool { live != nil }

    /// Maps the loaded map into this process. Called by the skeleton after load.
    func mapLive() throws(BPFError) {
        // Not created (autocreate off; libbpf still gives it a placeholder fd).
        guard map.autocreate, map.fd != nil else { return }
        let m = try map.mapLiveValue(writable: access == .writable)
        lock.withLock { _ in live = m }
    }

    private var readBytes: UnsafeRawBufferPointer {
        if let live { return UnsafeRawBufferPointer(live.bytes) }
        guard let initial = map.initialValuePointer else {
            preconditionFailure("global data of map \(map.name) is not available")
        }
        return UnsafeRawBufferPointer(initial)
    }

    /// Calls `body` with the section's current bytes.
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try lock.withLock { (_) throws(E) -> R in try body(readBytes) }
    }

    /// A copy of the section's current bytes.
    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// Reads the variable at `offset`.
    public func load<T>(at offset: Int, _ codec: BTFCodec<T>) -> T {
        withBytes { codec.load($0, at: offset) }
    }

    /// Reads the variable at `offset` (its type says how).
    public func load<T: BTFCodable>(at offset: Int) -> T {
        load(at: offset, T.btfCodec)
    }

    /// Writes the variable `name` at `offset` (its type says how), as `store(_:at:_:name:)`.
    public func store<T: BTFCodable>(_ value: T, at offset: Int, name: String) {
        store(value, at: offset, T.btfCodec, name: name)
    }

    /// Writes the variable `name` at `offset`. Writing a read-only section
    /// (`.rodata` after load, `.kconfig`) is a programming error.
    public func store<T>(_ value: T, at offset: Int, _ codec: BTFCodec<T>, name: String) {
        lock.withLock { _ in storeLocked(value, at: offset, codec, name: name) }
    }

    /// Writes the variable at `offset` (its type says how), as `store(_:at:name:)`;
    /// the message of a write to a read-only section names the variable from the
    /// object's BTF.
    public func store<T: BTFCodable>(_ value: T, at offset: Int) {
        lock.withLock { _ in storeLocked(value, at: offset, T.btfCodec, name: self.variableName(at: offset)) }
    }

    /// The name of the variable at `offset` in the section's BTF, else "offset N".
    func variableName(at offset: Int) -> String {
        if let btf = map.object.btf, let sec = btf.type(map.btfValueTypeID), sec.kind == .dataSection,
           let v = sec.sectionVariables.first(where: { Int($0.offset) == offset }),
           let t = btf.type(v.typeID), !t.name.isEmpty {
            return t.name
        }
        return "offset \(offset)"
    }

    private func storeLocked<T>(_ value: T, at offset: Int, _ codec: BTFCodec<T>, name: @autoclosure () -> String) {
        if let live {
            precondition(access == .writable, "\(name()): \(sectionName) is read-only after load()")
            codec.store(value, live.bytes, at: offset)
            return
        }
        switch access {
        case .readOnly:
            preconditionFailure("\(name()): \(sectionName) is read-only")
        case .writableUntilLoad:
            precondition(!map.object.isLoaded, "\(name()): \(sectionName) is read-only after load()")
        case .writable:
            precondition(!map.object.isLoaded, "\(name()): map \(map.name) was not created, nothing to write")
        }
        guard let initial = map.initialValuePointer else {
            preconditionFailure("global data of map \(map.name) is not available")
        }
        codec.store(value, initial, at: offset)
    }

    /// ".rodata", ".bss", ... from the map name ("counter.rodata").
    private var sectionName: String {
        let n = map.name
        if let dot = n.firstIndex(of: ".") { return String(n[dot...]) }
        return n
    }
}
