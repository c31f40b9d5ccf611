internal import CLibBPF

/// libbpf's names for kernel enum values (bpftool prints the same), with the
/// names libbpf learned after 1.1 filled in: bpfswift builds against libbpf
/// 1.1 and newer, and names what bpftool 7.5 names whichever it was built with.
enum LibbpfNames {
    /// Calls `libbpf_bpf_prog_type_str`.
    static func programType(_ raw: UInt32) -> String? {
        if let p = libbpf_bpf_prog_type_str(bpf_prog_type(rawValue: raw)) { return String(cString: p) }
        return newerProgramTypes[raw]
    }
    /// Calls `libbpf_bpf_map_type_str`.
    static func mapType(_ raw: UInt32) -> String? {
        if let p = libbpf_bpf_map_type_str(bpf_map_type(rawValue: raw)) { return String(cString: p) }
        return newerMapTypes[raw]
    }
    /// Calls `libbpf_bpf_link_type_str`.
    static func linkType(_ raw: UInt32) -> String? {
        if let p = libbpf_bpf_link_type_str(bpf_link_type(rawValue: raw)) { return String(cString: p) }
        return newerLinkTypes[raw]
    }
    /// Calls `libbpf_bpf_attach_type_str`.
    static func attachType(_ raw: UInt32) -> String? {
        if let p = libbpf_bpf_attach_type_str(bpf_attach_type(rawValue: raw)) { return String(cString: p) }
        return newerAttachTypes[raw]
    }

    // What libbpf 1.2 to 1.5 added to its name tables.
    static let newerProgramTypes: [UInt32: String] = [BPF_PROG_TYPE_NETFILTER.rawValue: "netfilter"]
    static let newerMapTypes: [UInt32: String] = [BPF_MAP_TYPE_ARENA.rawValue: "arena"]
    static let newerLinkTypes: [UInt32: String] = [
        BPF_LINK_TYPE_NETFILTER.rawValue: "netfilter", BPF_LINK_TYPE_TCX.rawValue: "tcx",
        BPF_LINK_TYPE_UPROBE_MULTI.rawValue: "uprobe_multi", BPF_LINK_TYPE_NETKIT.rawValue: "netkit",
        BPF_LINK_TYPE_SOCKMAP.rawValue: "sockmap",
    ]
    static let newerAttachTypes: [UInt32: String] = [
        BPF_STRUCT_OPS.rawValue: "struct_ops", BPF_NETFILTER.rawValue: "netfilter",
        BPF_TCX_INGRESS.rawValue: "tcx_ingress", BPF_TCX_EGRESS.rawValue: "tcx_egress",
        BPF_TRACE_UPROBE_MULTI.rawValue: "trace_uprobe_multi",
        BPF_CGROUP_UNIX_CONNECT.rawValue: "cgroup_unix_connect", BPF_CGROUP_UNIX_SENDMSG.rawValue: "cgroup_unix_sendmsg",
        BPF_CGROUP_UNIX_RECVMSG.rawValue: "cgroup_unix_recvmsg", BPF_CGROUP_UNIX_GETPEERNAME.rawValue: "cgroup_unix_getpeername",
        BPF_CGROUP_UNIX_GETSOCKNAME.rawValue: "cgroup_unix_getsockname",
        BPF_NETKIT_PRIMARY.rawValue: "netkit_primary", BPF_NETKIT_PEER.rawValue: "netkit_peer",
        BPF_TRACE_KPROBE_SESSION.rawValue: "trace_kprobe_session",
    ]
}
