#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CLibBPF

/// Options for opening an object file (libbpf's `bpf_object_open_opts`).
public struct ObjectOpenOptions: Sendable {
    /// Directory for maps pinned by name (libbpf's pin_root_path; default /sys/fs/bpf).
    public var pinRoot: String?
    /// Object name override (libbpf defaults to the file name stem for files).
    public var objectName: String?
    /// Values for `extern ... __kconfig` variables ("CONFIG_X=y\n...").
    public var kconfig: String?
    /// Options with libbpf's defaults for whatever is nil.
    public init(pinRoot: String? = nil, objectName: String? = nil, kconfig: String? = nil) {
        self.pinRoot = pinRoot
        self.objectName = objectName
        self.kconfig = kconfig
    }
}

/// A BPF object file opened by libbpf (`struct bpf_object`). Between
/// `open` and `load()` maps and programs can be configured (autocreate,
/// autoload, pin paths, initial values); after `load()` they have fds.
/// The object is closed (`bpf_object__close`) when this goes away: every
/// map and program not pinned or held elsewhere goes with it.
public final class BPFObject: @unchecked Sendable {
    let handle: OpaquePointer
    private let loaded = Atomic<Bool>(false)
    // Serializes load() (libbpf objects are not safe to load from two threads).
    private let loadLock = Mutex<Void>(())
    /// Whether `load()` succeeded.
    public var isLoaded: Bool { loaded.load(ordering: .acquiring) }
    // Keeps the bytes alive for objects opened from memory (libbpf copies, but be safe).
    private let backing: [UInt8]?

    private init(handle: OpaquePointer, backing: [UInt8]?) {
        self.handle = handle
        self.backing = backing
    }

    deinit { bpf_object__close(handle) }

    /// Opens an ELF object file. Calls `bpf_object__open_file`.
    public static func open(path: String, options: ObjectOpenOptions = .init()) throws(BPFError) -> BPFObject {
        if path.utf8.contains(0) { throw BPFError("open BPF object \(String(reflecting: path)): the path contains a NUL byte", errno: EINVAL) }
        clearLibbpfWarning()
        let p = withOpenOpts(options) { opts in bpf_object__open_file(path, opts) }
        guard let p else {
            let e = Glibc.errno
            throw BPFError("open BPF object \(path)", errno: e == 0 ? EINVAL : e, detail: takeLibbpfWarning())
        }
        return BPFObject(handle: p, backing: nil)
    }

    /// Opens an object from its bytes (an embedded object). Calls `bpf_object__open_mem`.
    public static func open(bytes: [UInt8], options: ObjectOpenOptions = .init()) throws(BPFError) -> BPFObject {
        clearLibbpfWarning()
        let p: OpaquePointer? = bytes.withUnsafeBytes { raw in
            withOpenOpts(options) { opts in bpf_object__open_mem(raw.baseAddress, raw.count, opts) }
        }
        guard let p else {
            let e = Glibc.errno
            throw BPFError("open BPF object \(options.objectName ?? "from memory")", errno: e == 0 ? EINVAL : e,
                           detail: takeLibbpfWarning())
        }
        return BPFObject(handle: p, backing: bytes)
    }

    private static func withOpenOpts<R>(_ o: ObjectOpenOptions, _ body: (UnsafePointer<bpf_object_open_opts>) -> R) -> R {
        withOptionalCString(o.pinRoot) { pinRoot in
            withOptionalCString(o.objectName) { name in
                withOptionalCString(o.kconfig) { kconfig in
                    withLibbpfOptions(bpf_object_open_opts.self) { opts in
                        opts.pointee.pin_root_path = pinRoot
                        opts.pointee.object_name = name
                        opts.pointee.kconfig = kconfig
                        return body(opts)
                    }
                }
            }
        }
    }

    /// The object's name. Calls `bpf_object__name`.
    public var name: String { String(cString: bpf_object__name(handle)) }

    /// Every map, in the object's order. Calls `bpf_object__next_map`.
    public var maps: [ObjectMap] {
        var out: [ObjectMap] = []
        var m = bpf_object__next_map(handle, nil)
        while let cur = m {
            out.append(ObjectMap(object: self, handle: cur))
            m = bpf_object__next_map(handle, cur)
        }
        return out
    }

    /// Every program, in the object's order. Calls `bpf_object__next_program`.
    public var programs: [ObjectProgram] {
        var out: [ObjectProgram] = []
        var p = bpf_object__next_program(handle, nil)
        while let cur = p {
            out.append(ObjectProgram(object: self, handle: cur))
            p = bpf_object__next_program(handle, cur)
        }
        return out
    }

    /// The map called `name` (its libbpf name, e.g. "counter.bss" or "hit_map").
    public func map(named name: String) -> ObjectMap? {
        guard !name.utf8.contains(0), let m = bpf_object__find_map_by_name(handle, name) else { return nil }
        return ObjectMap(object: self, handle: m)
    }

    /// The program whose function is called `name`.
    public func program(named name: String) -> ObjectProgram? {
        guard !name.utf8.contains(0), let p = bpf_object__find_program_by_name(handle, name) else { return nil }
        return ObjectProgram(object: self, handle: p)
    }

    /// The object's BTF, if it has any; it keeps the object alive (the BTF
    /// lives in it). Calls `bpf_object__btf`.
    public var btf: BTF? {
        guard let b = bpf_object__btf(handle) else { return nil }
        return BTF.borrowing(b, owner: self)
    }

    /// Creates the maps and loads the programs into the kernel. Calls `bpf_object__load`.
    public func load() throws(BPFError) {
        try loadLock.withLock { (_) throws(BPFError) in
            guard !isLoaded else { throw BPFError("load object \(name): already loaded", errno: EALREADY) }
            // A section this libbpf does not know yet: say which one would.
            for p in programs where p.autoload && p.type == 0 {
                if let v = LibbpfVersion.newerLibbpf(forSection: p.sectionName) {
                    try LibbpfVersion.require(v.major, v.minor, for: "load object \(name): program \(p.name) (section \(p.sectionName))")
                }
            }
            clearLibbpfWarning()
            let r = bpf_object__load(handle)
            if r != 0 {
                throw BPFError("load object \(name)", errno: r == -1 ? Glibc.errno : -r, detail: takeLibbpfWarning())
            }
            loaded.store(true, ordering: .releasing)
        }
    }
}

/// A map of an opened object (`struct bpf_map`); valid while its object lives.
public struct ObjectMap: @unchecked Sendable {
    public let object: BPFObject
    let handle: OpaquePointer

    /// Calls `bpf_map__name`.
    public var name: String { String(cString: bpf_map__name(handle)) }
    /// The kernel map type number. Calls `bpf_map__type`.
    public var type: UInt32 { bpf_map__type(handle).rawValue }
    /// bpftool's name of the type ("hash", "array", ...). Calls `libbpf_bpf_map_type_str`.
    public var typeName: String {
        LibbpfNames.mapType(type) ?? "type \(type)"
    }
    public var keySize: UInt32 { bpf_map__key_size(handle) }
    public var valueSize: UInt32 { bpf_map__value_size(handle) }
    public var maxEntries: UInt32 { bpf_map__max_entries(handle) }
    public var flags: UInt32 { bpf_map__map_flags(handle) }
    public var mapExtra: UInt64 { bpf_map__map_extra(handle) }
    public var btfKeyTypeID: UInt32 { bpf_map__btf_key_type_id(handle) }
    public var btfValueTypeID: UInt32 { bpf_map__btf_value_type_id(handle) }
    /// Whether libbpf made this map itself (.data, .bss, .rodata, .kconfig, .struct_ops...). Calls `bpf_map__is_internal`.
    public var isInternal: Bool { bpf_map__is_internal(handle) }

    /// Whether the map is created at load. Calls `bpf_map__autocreate` / `bpf_map__set_autocreate`.
    public var autocreate: Bool { bpf_map__autocreate(handle) }
    /// Sets whether the map is created at load (before load only). Calls `bpf_map__set_autocreate`.
    public func setAutocreate(_ on: Bool) throws(BPFError) {
        try check(bpf_map__set_autocreate(handle, on), "set autocreate of map \(name)")
    }

    /// Where libbpf pins (and reuses) this map: set by LIBBPF_PIN_BY_NAME or `setPinPath`. Calls `bpf_map__pin_path`.
    public var pinPath: String? {
        guard let p = bpf_map__pin_path(handle) else { return nil }
        return String(cString: p)
    }
    /// Calls `bpf_map__set_pin_path`.
    public func setPinPath(_ path: String?) throws(BPFError) {
        try check(bpf_map__set_pin_path(handle, path), "set pin path of map \(name)")
    }
    /// Whether libbpf pinned or reused it at its pin path. Calls `bpf_map__is_pinned`.
    public var isPinned: Bool { bpf_map__is_pinned(handle) }

    /// Makes the map reuse an existing map instead of creating one. Calls `bpf_map__reuse_fd`.
    public func reuse(_ fd: FileDescriptor) throws(BPFError) {
        try check(bpf_map__reuse_fd(handle, fd.rawValue), "reuse fd for map \(name)")
    }

    /// The initial bytes of a global-data map (.data/.rodata/.bss...). Calls `bpf_map__initial_value`.
    public var initialValue: [UInt8]? {
        var size = 0
        guard let p = bpfswift_map_initial_value(handle, &size) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: size))
    }

    /// The live value of a loaded mmapable array map (.bss, .data, .rodata
    /// read-only): shared memory with the kernel. mmap(2) of the map fd.
    public func mapLiveValue(writable: Bool) throws(BPFError) -> MappedMapValue {
        guard let f = fd else { throw BPFError("map \(name) is not loaded", errno: EBADF) }
        return try MappedMapValue(fd: f, size: Int(valueSize), writable: writable, what: "map \(name)")
    }

    /// libbpf's copy of the initial value (before load). Calls `bpf_map__initial_value`.
    public var initialValuePointer: UnsafeMutableRawBufferPointer? {
        var size = 0
        guard let p = bpfswift_map_initial_value(handle, &size) else { return nil }
        return UnsafeMutableRawBufferPointer(start: p, count: size)
    }

    /// Calls `bpf_map__set_initial_value`.
    public func setInitialValue(_ bytes: [UInt8]) throws(BPFError) {
        let r = bytes.withUnsafeBytes { bpf_map__set_initial_value(handle, $0.baseAddress, $0.count) }
        try check(r, "set initial value of map \(name)")
    }

    /// The map's fd after load (borrowed: owned by the object), or nil. Calls `bpf_map__fd`.
    public var fd: Int32? {
        let f = bpf_map__fd(handle)
        return f >= 0 ? f : nil
    }

    /// A descriptor of the loaded map that the caller owns.
    public func duplicateFD() throws(BPFError) -> FileDescriptor {
        guard let f = fd else { throw BPFError("map \(name) is not loaded", errno: EBADF) }
        let d = fcntl(f, F_DUPFD_CLOEXEC, 3)
        if d < 0 { throw BPFError("duplicate fd of map \(name)", errno: Glibc.errno) }
        return FileDescriptor(owning: d)
    }

    /// Pins the loaded map at `path`. Calls `bpf_map__pin`.
    public func pin(at path: String) throws(BPFError) {
        try check(bpf_map__pin(handle, path), "pin map \(name) at \(path)")
    }

    /// Registers a struct_ops map and returns its link. Calls `bpf_map__attach_struct_ops`.
    public func attachStructOps() throws(BPFError) -> BPFLink {
        clearLibbpfWarning()
        guard let l = bpf_map__attach_struct_ops(handle) else {
            throw BPFError("register struct_ops map \(name)", errno: Glibc.errno, detail: takeLibbpfWarning())
        }
        return BPFLink(handle: l, object: object)
    }
}

/// A program of an opened object (`struct bpf_program`); valid while its object lives.
public struct ObjectProgram: @unchecked Sendable {
    public let object: BPFObject
    let handle: OpaquePointer

    /// The function name. Calls `bpf_program__name`.
    public var name: String { String(cString: bpf_program__name(handle)) }
    /// Calls `bpf_program__section_name`.
    public var sectionName: String { String(cString: bpf_program__section_name(handle)) }
    /// The kernel program type number. Calls `bpf_program__type`.
    public var type: UInt32 { bpf_program__type(handle).rawValue }
    /// bpftool's name of the type. Calls `libbpf_bpf_prog_type_str`.
    public var typeName: String {
        LibbpfNames.programType(type) ?? "type \(type)"
    }
    /// Calls `bpf_program__expected_attach_type`.
    public var expectedAttachType: UInt32 { bpf_program__expected_attach_type(handle).rawValue }
    /// Calls `bpf_program__insn_cnt`.
    public var instructionCount: Int { bpf_program__insn_cnt(handle) }

    /// Whether the program is loaded with the object. Calls `bpf_program__autoload` / `bpf_program__set_autoload`.
    public var autoload: Bool { bpf_program__autoload(handle) }
    /// Sets whether the program is loaded with the object (before load only). Calls `bpf_program__set_autoload`.
    public func setAutoload(_ on: Bool) throws(BPFError) {
        try check(bpf_program__set_autoload(handle, on), "set autoload of program \(name)")
    }
    /// Whether skeleton-style attach should attach it. Calls `bpf_program__autoattach`.
    public var autoattach: Bool { bpf_program__autoattach(handle) }
    /// Sets whether skeleton-style attach attaches it. Calls `bpf_program__set_autoattach`.
    public func setAutoattach(_ on: Bool) { bpf_program__set_autoattach(handle, on) }

    /// The program's fd after load (borrowed), or nil. Calls `bpf_program__fd`.
    public var fd: Int32? {
        let f = bpf_program__fd(handle)
        return f >= 0 ? f : nil
    }

    /// Pins the loaded program at `path`. Calls `bpf_program__pin`.
    public func pin(at path: String) throws(BPFError) {
        try check(bpf_program__pin(handle, path), "pin program \(name) at \(path)")
    }

    /// Attaches the program as its section name says. Calls `bpf_program__attach`.
    public func attach() throws(BPFError) -> BPFLink {
        clearLibbpfWarning()
        guard let l = bpf_program__attach(handle) else {
            throw BPFError("attach program \(name) (\(sectionName))", errno: Glibc.errno, detail: takeLibbpfWarning())
        }
        return BPFLink(handle: l, object: object)
    }
}

@inline(__always)
func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

/// A map's value mapped into this process (BPF_F_MMAPABLE array maps);
/// unmapped when this goes away.
public final class MappedMapValue: @unchecked Sendable {
    public let bytes: UnsafeMutableRawBufferPointer
    private let mappedLength: Int

    init(fd: Int32, size: Int, writable: Bool, what: String) throws(BPFError) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let len = max(page, (size + page - 1) / page * page)
        let prot = writable ? (PROT_READ | PROT_WRITE) : PROT_READ
        let p = mmap(nil, len, prot, MAP_SHARED, fd, 0)
        if p == MAP_FAILED || p == nil {
            throw BPFError("mmap \(what)", errno: Glibc.errno)
        }
        bytes = UnsafeMutableRawBufferPointer(start: p, count: size)
        mappedLength = len
    }

    deinit { munmap(bytes.baseAddress, mappedLength) }
}
