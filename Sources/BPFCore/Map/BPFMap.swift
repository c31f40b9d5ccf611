#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// How `update` treats an existing (or missing) key: BPF_ANY, BPF_EXIST, BPF_NOEXIST.
public enum MapUpdateFlag: UInt64, Sendable {
    case any = 0
    case noExist = 1
    case exist = 2
}

/// An open BPF map: its descriptor and its info, and the element operations
/// of the bpf syscall, each through libbpf's low-level API.
public final class BPFMap {
    public let fd: FileDescriptor
    public let info: MapInfo

    /// Wraps an open map descriptor (taking ownership) and reads its info.
    /// Calls `bpf_map_get_info_by_fd`.
    public init(fd: FileDescriptor) throws(BPFError) {
        self.fd = fd
        self.info = try MapInfo(fd: fd)
    }

    /// "map 42" / "map 42 (flows)", for messages.
    public var label: String {
        info.name.isEmpty ? "map id \(info.id)" : "map id \(info.id) (\(info.name))"
    }

    // MARK: finding maps

    /// The map with this id, or nil when it went away (ids listed a moment ago
    /// may be gone). Calls `bpf_map_get_fd_by_id`.
    public static func openIfPresent(id: MapID) throws(BPFError) -> BPFMap? {
        let fd: FileDescriptor
        do { fd = try Kernel.open(.map, id: id.rawValue) } catch {
            if error.errno == ENOENT { return nil }
            throw error
        }
        return try BPFMap(fd: fd)
    }

    /// Ids of every map, ascending. Calls `bpf_map_get_next_id`.
    public static func ids() throws(BPFError) -> [MapID] {
        try Kernel.ids(.map).map { MapID($0) }
    }

    /// The maps `selector` names: one for `id` and `pinned`, every map with
    /// that name for `name` (none is an error).
    /// Calls `bpf_map_get_fd_by_id` / `bpf_obj_get`.
    public static func open(_ selector: Selector) throws(BPFError) -> [BPFMap] {
        switch selector {
        case .id(let id):
            return [try BPFMap(fd: Kernel.open(.map, id: id))]
        case .pinned(let path):
            return [try BPFMap(fd: openPinnedMap(path))]
        case .name(let name):
            // The kernel keeps BPF_OBJ_NAME_LEN - 1 characters.
            guard name.utf8.count <= 15 else {
                throw BPFError("find map named \(name): a map name has at most 15 characters", errno: EINVAL)
            }
            var out: [BPFMap] = []
            for id in try ids() {
                if let m = try openIfPresent(id: id), m.info.name == name { out.append(m) }
            }
            if out.isEmpty { throw BPFError("find map named \(name)", errno: ENOENT) }
            return out
        case .tag:
            throw BPFError("maps have no tag: use id, pinned or name", errno: EINVAL)
        }
    }

    /// The one map `selector` names; several maps with that name is an error.
    public static func openOne(_ selector: Selector) throws(BPFError) -> BPFMap {
        let maps = try open(selector)
        if maps.count > 1 {
            throw BPFError("\(selector): several maps match this handle (ids \(maps.map { String($0.info.id.rawValue) }.joined(separator: ", ")))")
        }
        return maps[0]
    }

    private static func openPinnedMap(_ path: String) throws(BPFError) -> FileDescriptor {
        let fd: FileDescriptor
        do { fd = try Kernel.openPinned(path) } catch {
            // bpftool's message for a path off bpffs; a directory that cannot
            // be looked at (no privileges) keeps its EACCES.
            var st = statfs()
            if error.errno == EACCES, statfs(parentDirectory(of: path), &st) == 0, !Kernel.isOnBPFFS(parentDirectory(of: path)) {
                throw BPFError("open pinned map \(path): directory not in bpf file system (bpffs)", errno: 0)
            }
            throw BPFError("open pinned map \(path)", errno: error.errno)
        }
        let kind = Kernel.kind(of: fd)
        if kind != .map {
            throw BPFError("open pinned map \(path): incorrect object type: \(kind?.rawValue ?? "unknown")")
        }
        return fd
    }

    // MARK: creating

    /// Creates a map. `innerMap` is the template for array_of_maps/hash_of_maps,
    /// `ifindex` requests hardware offload. Calls `bpf_map_create`.
    public static func create(type: MapType, name: String, keySize: UInt32, valueSize: UInt32,
                              maxEntries: UInt32, flags: UInt32 = 0, innerMap: BPFMap? = nil,
                              ifindex: UInt32 = 0) throws(BPFError) -> BPFMap {
        clearLibbpfWarning()
        let fd = withLibbpfOptions(bpf_map_create_opts.self) { opts in
            opts.pointee.map_flags = flags
            opts.pointee.map_ifindex = ifindex
            if let innerMap { opts.pointee.inner_map_fd = UInt32(bitPattern: innerMap.fd.rawValue) }
            return bpf_map_create(bpf_map_type(rawValue: type.rawValue), name, keySize, valueSize, maxEntries, opts)
        }
        if fd < 0 {
            let e = fd == -1 ? Glibc.errno : -fd
            throw BPFError("create \(type) map \(name)", errno: e, detail: takeLibbpfWarning())
        }
        return try BPFMap(fd: FileDescriptor(owning: fd))
    }

    // MARK: elements

    /// The number of possible CPUs (see `possibleCPUCount()`).
    public static func possibleCPUs() throws(BPFError) -> Int { try possibleCPUCount() }

    /// Bytes of one value buffer (all CPUs' slots for a per-CPU map).
    public func valueBufferSize() throws(BPFError) -> Int {
        info.valueBufferSize(cpus: info.type.isPerCPU ? try BPFMap.possibleCPUs() : 1)
    }

    private func checkKey(_ key: [UInt8]?, _ what: String) throws(BPFError) {
        let n = key?.count ?? 0
        if n != Int(info.keySize) {
            throw BPFError("\(what) \(label): key is \(n) bytes, the map's keys are \(info.keySize)", errno: EINVAL)
        }
    }

    /// The value stored under `key` (nil for a key-less lookup such as a queue
    /// peek), or nil when there is no such element. Calls `bpf_map_lookup_elem`.
    public func lookup(key: [UInt8]?) throws(BPFError) -> [UInt8]? {
        try checkKey(key, "look up in")
        var value = [UInt8](repeating: 0, count: try valueBufferSize())
        let r = withOptionalBytes(key) { k in
            value.withUnsafeMutableBytes { bpf_map_lookup_elem(fd.rawValue, k, $0.baseAddress) }
        }
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            if e == ENOENT { return nil }
            throw BPFError("look up key in \(label)", errno: e)
        }
        return value
    }

    /// Stores `value` under `key`. For per-CPU maps `value` holds every CPU's
    /// slot (see `valueBufferSize`). Calls `bpf_map_update_elem`.
    public func update(key: [UInt8]?, value: [UInt8], flag: MapUpdateFlag = .any) throws(BPFError) {
        try checkKey(key, "update")
        let expected = try valueBufferSize()
        if value.count != expected {
            throw BPFError("update \(label): value is \(value.count) bytes, expected \(expected)", errno: EINVAL)
        }
        let r = withOptionalBytes(key) { k in
            value.withUnsafeBytes { bpf_map_update_elem(fd.rawValue, k, $0.baseAddress, flag.rawValue) }
        }
        if r != 0 { throw BPFError("update \(label)", errno: r == -1 ? Glibc.errno : -r) }
    }

    /// Removes the element under `key`. Calls `bpf_map_delete_elem`.
    public func delete(key: [UInt8]) throws(BPFError) {
        try checkKey(key, "delete from")
        let r = key.withUnsafeBytes { bpf_map_delete_elem(fd.rawValue, $0.baseAddress) }
        if r != 0 { throw BPFError("delete key from \(label)", errno: r == -1 ? Glibc.errno : -r) }
    }

    /// The key after `key` (the first key for nil), or nil after the last one.
    /// Calls `bpf_map_get_next_key`.
    public func nextKey(after key: [UInt8]?) throws(BPFError) -> [UInt8]? {
        if key != nil { try checkKey(key, "get next key in") }
        var next = [UInt8](repeating: 0, count: Int(info.keySize))
        let r = withOptionalBytes(key) { k in
            next.withUnsafeMutableBytes { bpf_map_get_next_key(fd.rawValue, k, $0.baseAddress) }
        }
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            if e == ENOENT { return nil }
            throw BPFError("get next key in \(label)", errno: e)
        }
        return next
    }

    /// Removes and returns an element: the head of a queue, the top of a stack,
    /// or the element under `key`. Nil when there is none.
    /// Calls `bpf_map_lookup_and_delete_elem`.
    public func lookupAndDelete(key: [UInt8]?) throws(BPFError) -> [UInt8]? {
        try checkKey(key, "pop from")
        var value = [UInt8](repeating: 0, count: try valueBufferSize())
        let r = withOptionalBytes(key) { k in
            value.withUnsafeMutableBytes { bpf_map_lookup_and_delete_elem(fd.rawValue, k, $0.baseAddress) }
        }
        if r != 0 {
            let e = r == -1 ? Glibc.errno : -r
            if e == ENOENT { return nil }
            throw BPFError("pop from \(label)", errno: e)
        }
        return value
    }

    /// Makes the map read-only for user space. Calls `bpf_map_freeze`.
    public func freeze() throws(BPFError) {
        let r = bpf_map_freeze(fd.rawValue)
        if r != 0 { throw BPFError("freeze \(label)", errno: r == -1 ? Glibc.errno : -r) }
    }

    /// Pins the map at `path` (on bpffs). Calls `bpf_obj_pin`.
    public func pin(at path: String) throws(BPFError) {
        try Kernel.pin(fd, at: path, what: label)
    }
}

/// Calls `body` with the bytes of `bytes`, or with nil when it is nil or empty
/// (key-less maps take a NULL key).
@inline(__always)
func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?) -> R) -> R {
    guard let bytes, !bytes.isEmpty else { return body(nil) }
    return bytes.withUnsafeBytes { body($0.baseAddress) }
}

func parentDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let dir = String(path[..<slash])
    return dir.isEmpty ? "/" : dir
}
