#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CLibBPF

/// The runtime behind a generated skeleton (`bpfswift gen skeleton`): the
/// object opened from its embedded bytes, its typed sections of global
/// variables, its maps and programs, and the links that `attach()` made.
///
/// The generated class is a thin typed face over this one; everything that
/// talks to libbpf happens here.
public final class BPFSkeleton: @unchecked Sendable {
    /// The object (open, then loaded).
    public let object: BPFObject
    private struct State {
        var sections: [SkeletonGlobals] = []
        var links: [(name: String, link: BPFLink)] = []
        var isAttached = false
        var pinnedPath: String?
    }
    // Several tasks may use one skeleton: its own state sits behind a lock,
    // and the phase changes (load, attach, pin, detach) run one at a time.
    private let state = Mutex<State>(State())
    private let phase = Mutex<Void>(())
    private var sections: [SkeletonGlobals] { state.withLock { $0.sections } }
    /// Links made by `attach()`, by program name or struct_ops map name, in attach order.
    public var links: [(name: String, link: BPFLink)] { state.withLock { $0.links } }
    /// Whether `attach()` ran (then `pin(at:)` writes links/, as `object pin --attach`).
    public var isAttached: Bool { state.withLock { $0.isAttached } }
    /// Where `pin(at:)` published the object, once it did.
    public var pinnedPath: String? { state.withLock { $0.pinnedPath } }
    private let elf: [UInt8]
    private let source: String
    private let pinRoot: String?

    /// Opens the object from its bytes under `objectName` (the name the
    /// generator saw, so that internal map names such as "counter.bss"
    /// match). `source` names the object file it was generated from.
    /// Calls `bpf_object__open_mem`.
    public init(elf: [UInt8], objectName: String, source: String, options: ObjectOpenOptions = .init()) throws(BPFError) {
        var o = options
        o.objectName = objectName
        object = try BPFObject.open(bytes: elf, options: o)
        self.elf = elf
        self.source = source
        pinRoot = options.pinRoot
    }

    /// Opens the object a generated skeleton embeds: `base64` text of the
    /// zlib-compressed object, `count` bytes once inflated. Data that does
    /// not decode throws. Calls `bpf_object__open_mem`.
    public convenience init(embedded base64: String, count: Int, objectName: String, source: String,
                            options: ObjectOpenOptions = .init()) throws(BPFError) {
        let elf: [UInt8]
        do {
            elf = try EmbeddedObject.decompress(base64: base64, count: count)
        } catch {
            throw BPFError("skeleton of \(source): \(error.operation)", errno: error.errno, detail: error.detail)
        }
        try self.init(elf: elf, objectName: objectName, source: source, options: options)
    }

    /// Whether `load()` succeeded.
    public var isLoaded: Bool { object.isLoaded }

    // MARK: lookups the generated code makes at init

    /// C stops a string at its first NUL: such a name would find another map.
    private func rejectNUL(_ name: String, _ what: String) throws(BPFError) {
        if name.utf8.contains(0) {
            throw BPFError("skeleton of \(object.name): \(what) name \(String(reflecting: name)) contains a NUL byte", errno: EINVAL)
        }
    }

    private func mismatch(_ what: String) -> BPFError {
        BPFError("skeleton of \(object.name): the embedded object has no \(what); regenerate the skeleton", errno: ENOENT)
    }

    /// The map named `name` in the object.
    public func objectMap(_ name: String) throws(BPFError) -> ObjectMap {
        try rejectNUL(name, "map")
        guard let m = object.map(named: name) else { throw mismatch("map \(name)") }
        return m
    }

    /// The program whose function is `name`.
    public func program(_ name: String) throws(BPFError) -> ObjectProgram {
        try rejectNUL(name, "program")
        guard let p = object.program(named: name) else { throw mismatch("program \(name)") }
        return p
    }

    /// A map with byte-level access.
    public func map(_ name: String) throws(BPFError) -> SkeletonMap {
        SkeletonMap(map: try objectMap(name))
    }

    /// A map with typed keys and values.
    public func map<K, V>(_ name: String, key: BTFCodec<K>, value: BTFCodec<V>) throws(BPFError) -> SkeletonTypedMap<K, V> {
        let m = try objectMap(name)
        try checkSizes(m, key.size, value.size)
        return SkeletonTypedMap(map: m, key: key, value: value)
    }

    /// A per-CPU map with typed keys and values.
    public func perCPUMap<K, V>(_ name: String, key: BTFCodec<K>, value: BTFCodec<V>) throws(BPFError) -> SkeletonPerCPUMap<K, V> {
        let m = try objectMap(name)
        try checkSizes(m, key.size, value.size)
        return SkeletonPerCPUMap(map: m, key: key, value: value)
    }

    private func checkSizes(_ m: ObjectMap, _ k: Int, _ v: Int) throws(BPFError) {
        if Int(m.keySize) != k || Int(m.valueSize) != v {
            throw BPFError("skeleton of \(object.name): map \(m.name) has \(m.keySize)-byte keys and \(m.valueSize)-byte values, "
                           + "the generated types \(k) and \(v); regenerate the skeleton")
        }
    }

    /// The global variables of the internal map `name` ("counter.bss").
    public func globals(_ name: String, access: SkeletonGlobals.Access) throws(BPFError) -> SkeletonGlobals {
        let m = try objectMap(name)
        guard m.initialValuePointer != nil else { throw mismatch("global data in map \(name)") }
        let g = SkeletonGlobals(map: m, access: access)
        // Asked for after load(): live at once, as load() makes the others.
        if object.isLoaded { try g.mapLive() }
        state.withLock { $0.sections.append(g) }
        return g
    }

    /// The shadow of the struct_ops map `name`.
    public func structOps(_ name: String) throws(BPFError) -> SkeletonStructOps {
        let m = try objectMap(name)
        guard m.isStructOps, m.initialValuePointer != nil else {
            throw mismatch("struct_ops map \(name)")
        }
        return SkeletonStructOps(map: m)
    }

    // MARK: phases

    /// Creates the maps, loads the programs, and maps every section of
    /// global variables live (mmap of the map: libbpf 1.4 does not remap
    /// them after a plain load). Calls `bpf_object__load`.
    public func load() throws(BPFError) {
        try phase.withLock { (_) throws(BPFError) in
            try object.load()
            for s in sections { try s.mapLive() }
        }
    }

    /// Attaches every loaded program that libbpf can attach from its section
    /// name (autoattach on; programs without automatic attachment are left
    /// alone, as bpf_object__attach_skeleton and `object pin --attach` do)
    /// and registers every created struct_ops map. On failure, what this
    /// call attached is detached again. Calls `bpf_program__attach` and
    /// `bpf_map__attach_struct_ops`.
    public func attach() throws(BPFError) {
        try phase.withLock { (_) throws(BPFError) in try attachLocked() }
    }

    private func attachLocked() throws(BPFError) {
        guard object.isLoaded else { throw BPFError("attach skeleton of \(object.name): not loaded", errno: EINVAL) }
        guard pinnedPath == nil else {
            throw BPFError("attach skeleton of \(object.name): pinned at \(pinnedPath!); the tree holds its links", errno: EBUSY)
        }
        var made: [(name: String, link: BPFLink)] = []
        do {
            for p in object.programs where p.autoload && p.autoattach && !p.isStructOps && p.fd != nil {
                if link(p.name) != nil { continue }
                do {
                    made.append((p.name, try p.attach()))
                } catch where error.errno == EOPNOTSUPP || error.errno == ESRCH {
                    continue  // the section gives libbpf no attach target
                }
            }
            // libbpf gives every map a placeholder fd at open: only created maps count.
            for m in object.maps where m.isStructOps && m.autocreate && m.fd != nil {
                if link(m.name) != nil { continue }
                made.append((m.name, try m.attachStructOps()))
            }
        } catch {
            for (_, l) in made.reversed() { try? l.detach() }
            throw error
        }
        state.withLock {
            $0.links.append(contentsOf: made)
            $0.isAttached = true
        }
    }

    /// Publishes the loaded object on bpffs at `path` as the tree
    /// `bpfswift object pin` writes (PATH/maps, PATH/programs, the manifest,
    /// and after `attach()` PATH/links, as with --attach), atomically. The
    /// pins then hold everything: the process may exit, `bpfswift object
    /// unpin PATH` takes it down, and `detach()` no longer detaches.
    /// Uses `ObjectPinner.pin(loaded:...)`, the writer of `object pin`.
    /// With `replace`, an object tree already at `path` is swapped out
    /// atomically, as `bpfswift object pin --replace` does; without it an
    /// existing `path` is an error (EEXIST).
    public func pin(at path: String, replace: Bool = false) throws(BPFError) {
        try phase.withLock { (_) throws(BPFError) in try pinLocked(at: path, replace: replace) }
    }

    private func pinLocked(at path: String, replace: Bool) throws(BPFError) {
        if path.utf8.contains(0) {
            throw BPFError("pin skeleton of \(object.name) at \(String(reflecting: path)): the path contains a NUL byte", errno: EINVAL)
        }
        guard object.isLoaded else { throw BPFError("pin skeleton of \(object.name) at \(path): not loaded", errno: EINVAL) }
        if let p = pinnedPath { throw BPFError("pin skeleton of \(object.name) at \(path): already pinned at \(p)", errno: EBUSY) }
        var exe = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &exe, exe.count - 1)
        let program = n > 0 ? String(cString: exe) : "this process"
        _ = try ObjectPinner.pin(loaded: object, bytes: elf, file: "\(program) (embedded \(source))", pinRoot: pinRoot,
                                 links: isAttached ? links : nil, at: path, replace: replace)
        state.withLock { $0.pinnedPath = path }
    }

    /// The link of the program or struct_ops map `name`, once attached.
    public func link(_ name: String) -> BPFLink? {
        links.first { $0.name == name }?.link
    }

    /// Detaches everything `attach()` attached (links pinned elsewhere stay).
    public func detach() {
        phase.withLock { _ in
            // Destroying a link detaches it unless it is pinned; last made, first gone.
            var gone = state.withLock { s in
                let l = s.links
                s.links = []
                return l
            }
            while !gone.isEmpty { gone.removeLast() }
        }
    }
}

/// The object bytes a generated skeleton embeds: zlib-compressed, as base64
/// text (compact, and quick for the compiler: a string literal, not an
/// array literal), decompressed once when the skeleton opens.
public enum EmbeddedObject {
    /// `bytes` compressed with zlib (best compression), as the generator embeds them.
    /// Calls zlib's `compress2`.
    public static func compress(_ bytes: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in
                compress2(o.baseAddress, &size, i.baseAddress, uLong(i.count), Z_BEST_COMPRESSION)
            }
        }
        // compressBound is enough by zlib's contract; only memory exhaustion fails.
        precondition(rc == Z_OK, "zlib compress2 failed (\(rc))")
        out.removeSubrange(Int(size)...)
        return out
    }

    /// The object a skeleton embeds: base64 text (whitespace ignored) of
    /// zlib data that inflates to exactly `count` bytes. Anything else (a
    /// character outside base64, data zlib rejects, a checksum or size that
    /// does not match) throws. Calls zlib's `uncompress`.
    public static func decompress(base64 text: String, count: Int) throws(BPFError) -> [UInt8] {
        guard let packed = strictBase64(text) else {
            throw BPFError("embedded object: the text is not base64")
        }
        guard count >= 0, count <= 1 << 30 else {
            throw BPFError("embedded object: implausible size \(count)")
        }
        // One spare byte: data that inflates to more than `count` is caught, not cut.
        var out = [UInt8](repeating: 0, count: count + 1)
        var size = uLong(out.count)
        let rc = out.withUnsafeMutableBufferPointer { o in
            packed.withUnsafeBufferPointer { i in uncompress(o.baseAddress, &size, i.baseAddress, uLong(i.count)) }
        }
        guard rc == Z_OK else {
            let why = rc == Z_BUF_ERROR ? "it inflates to more than \(count) bytes or is cut short"
                : rc == Z_DATA_ERROR ? "zlib finds it corrupt" : "zlib error \(rc)"
            throw BPFError("embedded object: \(why); regenerate the skeleton")
        }
        guard Int(size) == count else {
            throw BPFError("embedded object: \(size) bytes, expected \(count); regenerate the skeleton")
        }
        out.removeLast()
        return out
    }

    /// Base64 text as bytes, whitespace skipped; nil for any other character
    /// or a misplaced '='.
    static func strictBase64(_ text: String) -> [UInt8]? {
        base64(text, strict: true)
    }

    /// Decodes base64 text, skipping whitespace, newlines and any other
    /// character (what skeletons generated before the compressed embedding call).
    public static func decodeBase64(_ text: String) -> [UInt8] {
        base64(text, strict: false) ?? []
    }

    /// The one base64 decoder: `strict` refuses (nil) a character outside the
    /// alphabet and whitespace, and data after '='; otherwise those are skipped.
    private static func base64(_ text: String, strict: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="): padding += 1; continue
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): continue
            default:
                if strict { return nil }
                continue
            }
            if strict && padding > 0 { return nil }
            acc = (acc << 6 | v) & 0xffffff
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return !strict || padding <= 2 ? out : nil
    }

    /// Encodes `bytes` as base64 lines of `lineLength` characters.
    public static func encodeBase64(_ bytes: [UInt8], lineLength: Int = 76) -> [String] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let n = b0 << 16 | b1 << 8 | b2
            text.append(alphabet[Int(n >> 18 & 63)])
            text.append(alphabet[Int(n >> 12 & 63)])
            text.append(i + 1 < bytes.count ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            text.append(i + 2 < bytes.count ? alphabet[Int(n & 63)] : UInt8(ascii: "="))
            i += 3
        }
        var lines: [String] = []
        var start = 0
        while start < text.count {
            let end = min(start + lineLength, text.count)
            lines.append(String(decoding: text[start..<end], as: UTF8.self))
            start = end
        }
        return lines
    }
}
