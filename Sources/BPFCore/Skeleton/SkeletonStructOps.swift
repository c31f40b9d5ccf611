#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// The shadow of a struct_ops map: libbpf's copy of the struct the object
/// declares (`bpf_map__initial_value` of a struct_ops map), in which each
/// function-pointer slot holds the program that fills it. Changing a slot
/// or a data member before load changes what is registered; libbpf reads
/// the shadow when it loads the object.
public final class SkeletonStructOps {
    /// The struct_ops map.
    public let map: ObjectMap

    init(map: ObjectMap) { self.map = map }

    /// Whether the shadow can still change what gets registered (before load).
    public var isWritable: Bool { !map.object.isLoaded }

    private var data: UnsafeMutableRawBufferPointer {
        guard let d = map.initialValuePointer else {
            preconditionFailure("struct_ops map \(map.name) has no shadow data")
        }
        return d
    }

    /// Reads the data member at `offset`.
    public func load<T>(at offset: Int, _ codec: BTFCodec<T>) -> T {
        codec.load(UnsafeRawBufferPointer(data), at: offset)
    }

    /// Writes the data member `name` at `offset` (before load only).
    public func store<T>(_ value: T, at offset: Int, _ codec: BTFCodec<T>, name: String) {
        precondition(isWritable, "\(map.name).\(name): struct_ops shadow is read-only after load()")
        codec.store(value, data, at: offset)
    }

    /// The program in the function-pointer slot at `offset`, or nil when empty.
    public func program(at offset: Int) -> ObjectProgram? {
        let d = data
        precondition(offset >= 0 && offset + MemoryLayout<UInt>.size <= d.count, "slot at \(offset) outside the shadow")
        let raw = d.loadUnaligned(fromByteOffset: offset, as: UInt.self)
        guard raw != 0 else { return nil }
        return map.object.programs.first { UInt(bitPattern: Int(bitPattern: UnsafeRawPointer($0.handle))) == raw }
    }

    /// Puts `program` (of the same object) in the slot `name` at `offset`,
    /// or empties it with nil (before load only). libbpf then loads the
    /// programs that some created struct_ops map uses.
    public func setProgram(_ program: ObjectProgram?, at offset: Int, name: String) {
        precondition(isWritable, "\(map.name).\(name): struct_ops shadow is read-only after load()")
        let d = data
        precondition(offset >= 0 && offset + MemoryLayout<UInt>.size <= d.count, "slot at \(offset) outside the shadow")
        var raw: UInt = 0
        if let program {
            precondition(program.object === map.object, "\(map.name).\(name): program \(program.name) belongs to another object")
            raw = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(program.handle)))
        }
        d.storeBytes(of: raw, toByteOffset: offset, as: UInt.self)
    }
}
