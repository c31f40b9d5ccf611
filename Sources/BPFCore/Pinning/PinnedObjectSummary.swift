#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// The few facts about a kernel object that an object tree needs: its kind,
/// id, type name and name (and for a link, its program; for a map, its raw
/// type). Read with `bpf_obj_get_info_by_fd`.
public struct PinnedObjectSummary: Equatable, Sendable {
    public var kind: BPFObjectKind
    public var id: UInt32
    /// bpftool's type name: "hash", "tracepoint", "perf_event", ...
    public var typeName: String
    /// The kernel's name of a map or program (links have none).
    public var name: String
    /// A link's program id (0 when none).
    public var programID: UInt32 = 0
    /// A map's raw type number.
    public var mapType: UInt32 = 0

    /// Describes the object behind `fd` (borrowed).
    static func describe(fd raw: Int32) throws(BPFError) -> PinnedObjectSummary {
        let dup = fcntl(raw, F_DUPFD_CLOEXEC, 3)
        if dup < 0 { throw BPFError("duplicate fd \(raw)", errno: Glibc.errno) }
        return try describe(FileDescriptor(owning: dup))
    }

    /// Describes the object behind `fd`.
    public static func describe(_ fd: FileDescriptor) throws(BPFError) -> PinnedObjectSummary {
        guard let kind = Kernel.kind(of: fd) else { throw BPFError("fd \(fd.rawValue) is not a BPF object", errno: EINVAL) }
        return try describe(fd: fd.rawValue, as: kind)
    }

    /// Describes the object behind `fd` (borrowed), known to be of `kind`: one syscall.
    static func describe(fd: Int32, as kind: BPFObjectKind) throws(BPFError) -> PinnedObjectSummary {
        switch kind {
        case .map:
            var i = bpf_map_info()
            try Kernel.info(fd, &i, what: "map")
            let t = LibbpfNames.mapType(i.type) ?? "type \(i.type)"
            return PinnedObjectSummary(kind: .map, id: i.id, typeName: t, name: stringFromCArray(i.name), mapType: i.type)
        case .program:
            var i = bpf_prog_info()
            try Kernel.info(fd, &i, what: "program")
            let t = LibbpfNames.programType(i.type) ?? "type \(i.type)"
            return PinnedObjectSummary(kind: .program, id: i.id, typeName: t, name: stringFromCArray(i.name))
        case .link:
            var i = bpf_link_info()
            try Kernel.info(fd, &i, what: "link")
            let t = LibbpfNames.linkType(i.type) ?? "type \(i.type)"
            return PinnedObjectSummary(kind: .link, id: i.id, typeName: t, name: "", programID: i.prog_id)
        case .btf:
            var i = bpf_btf_info()
            try Kernel.info(fd, &i, what: "BTF")
            return PinnedObjectSummary(kind: .btf, id: i.id, typeName: "btf", name: "")
        }
    }

    /// Describes the object pinned at `path`. Calls `bpf_obj_get`.
    public static func describe(pinnedAt path: String) throws(BPFError) -> PinnedObjectSummary {
        try describe(try Kernel.openPinned(path))
    }

    /// Whether a kernel object of `kind` with `id` still exists. Calls `bpf_*_get_fd_by_id`.
    public static func exists(_ kind: BPFObjectKind, id: UInt32) -> Bool {
        (try? Kernel.open(kind, id: id)) != nil
    }
}

/// Pins the object behind `fd` (borrowed) at `path`. Calls `bpf_obj_pin`.
func pinFD(_ fd: Int32, at path: String, what: @autoclosure () -> String) throws(BPFError) {
    let r = bpf_obj_pin(fd, path)
    if r != 0 { throw BPFError("pin \(what()) at \(path)", errno: r == -1 ? Glibc.errno : -r) }
}

/// Raw struct_ops map type, for telling registrations apart.
let structOpsMapType = BPF_MAP_TYPE_STRUCT_OPS.rawValue

/// Unregisters a struct_ops map registered without a link: deleting its only
/// element is how the kernel is told. Calls `bpf_map_delete_elem`.
func unregisterStructOpsMap(_ fd: FileDescriptor) -> Int32 {
    var key: UInt32 = 0
    let r = bpf_map_delete_elem(fd.rawValue, &key)
    return r == 0 ? 0 : (r == -1 ? Glibc.errno : -r)
}
