#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Flags the kernel does not keep as given (it strips the fd access flags
/// and the token flag when it creates a map), so a pinned map may lack them
/// although it was created from the same definition.
private let flagsNotKept: UInt32 = UInt32(BPF_F_RDONLY) | UInt32(BPF_F_WRONLY) | UInt32(BPF_F_TOKEN_FD)

extension ObjectMap {
    /// Whether this is a struct_ops map (`SEC(".struct_ops")` or `SEC(".struct_ops.link")`).
    public var isStructOps: Bool { bpf_map__type(handle) == BPF_MAP_TYPE_STRUCT_OPS }

    /// Whether a struct_ops map registers through a BPF link (`.struct_ops.link`, BPF_F_LINK).
    public var registersWithLink: Bool { flags & UInt32(BPF_F_LINK) != 0 }

    /// The max_entries libbpf will create the map with: a perf event array
    /// declared without one gets one entry per possible CPU. Calls `libbpf_num_possible_cpus`.
    public var effectiveMaxEntries: UInt32 {
        if bpf_map__type(handle) == BPF_MAP_TYPE_PERF_EVENT_ARRAY && maxEntries == 0 {
            return UInt32((try? possibleCPUCount()) ?? 0)
        }
        return maxEntries
    }

    /// Why the existing map behind `fd` cannot stand in for this one, as
    /// "max_entries differs (pinned 64, object 128)", or nil when it fits.
    /// Compares what libbpf compares before reusing a pinned map: type,
    /// key size, value size, max_entries, flags (ignoring those the kernel
    /// does not keep) and map_extra. Calls `bpf_map_get_info_by_fd`.
    public func reuseMismatch(with fd: FileDescriptor) throws(BPFError) -> String? {
        var info = bpf_map_info()
        try Kernel.info(fd.rawValue, &info, what: "map")
        func typeName(_ t: UInt32) -> String {
            LibbpfNames.mapType(t) ?? "\(t)"
        }
        if info.type != type { return "type differs (pinned \(typeName(info.type)), object \(typeName(type)))" }
        if info.key_size != keySize { return "key size differs (pinned \(info.key_size), object \(keySize))" }
        if info.value_size != valueSize { return "value size differs (pinned \(info.value_size), object \(valueSize))" }
        let maxE = effectiveMaxEntries
        if info.max_entries != maxE { return "max_entries differs (pinned \(info.max_entries), object \(maxE))" }
        if info.map_flags & ~flagsNotKept != flags & ~flagsNotKept {
            return "flags differ (pinned 0x\(hex(info.map_flags)), object 0x\(hex(flags)))"
        }
        if info.map_extra != mapExtra { return "map_extra differs (pinned \(info.map_extra), object \(mapExtra))" }
        return nil
    }
}

extension ObjectProgram {
    /// Whether this is a struct_ops program (it runs through a struct_ops map, not through a link of its own).
    public var isStructOps: Bool { bpf_program__type(handle) == BPF_PROG_TYPE_STRUCT_OPS }
}
