internal import CLibBPF

/// A kernel link type (`enum bpf_link_type`), named as libbpf names it.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let rawTracepoint = LinkType(rawValue: BPF_LINK_TYPE_RAW_TRACEPOINT.rawValue)
    public static let tracing = LinkType(rawValue: BPF_LINK_TYPE_TRACING.rawValue)
    public static let cgroup = LinkType(rawValue: BPF_LINK_TYPE_CGROUP.rawValue)
    public static let iterator = LinkType(rawValue: BPF_LINK_TYPE_ITER.rawValue)
    public static let netns = LinkType(rawValue: BPF_LINK_TYPE_NETNS.rawValue)
    public static let xdp = LinkType(rawValue: BPF_LINK_TYPE_XDP.rawValue)
    public static let perfEvent = LinkType(rawValue: BPF_LINK_TYPE_PERF_EVENT.rawValue)
    public static let kprobeMulti = LinkType(rawValue: BPF_LINK_TYPE_KPROBE_MULTI.rawValue)
    public static let structOps = LinkType(rawValue: BPF_LINK_TYPE_STRUCT_OPS.rawValue)
    public static let netfilter = LinkType(rawValue: BPF_LINK_TYPE_NETFILTER.rawValue)
    public static let tcx = LinkType(rawValue: BPF_LINK_TYPE_TCX.rawValue)
    public static let uprobeMulti = LinkType(rawValue: BPF_LINK_TYPE_UPROBE_MULTI.rawValue)
    public static let netkit = LinkType(rawValue: BPF_LINK_TYPE_NETKIT.rawValue)
    public static let sockmap = LinkType(rawValue: BPF_LINK_TYPE_SOCKMAP.rawValue)

    /// The name bpftool 7.5 prints ("raw_tracepoint", "perf_event", ...), or nil for a
    /// type it does not know. Calls `libbpf_bpf_link_type_str`; the names libbpf
    /// learnt after the one bpfswift was built with ("sockmap" in 1.5) are added.
    public var name: String? { LibbpfNames.linkType(rawValue) }

    public var description: String { name ?? "type \(rawValue)" }
}

/// An attach type (`enum bpf_attach_type`), named as libbpf names it.
public struct AttachType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ c: bpf_attach_type) { rawValue = c.rawValue }

    public static let cgroupInetIngress = AttachType(BPF_CGROUP_INET_INGRESS)
    public static let cgroupInetEgress = AttachType(BPF_CGROUP_INET_EGRESS)
    public static let cgroupInetSockCreate = AttachType(BPF_CGROUP_INET_SOCK_CREATE)
    public static let cgroupSysctl = AttachType(BPF_CGROUP_SYSCTL)
    public static let cgroupDevice = AttachType(BPF_CGROUP_DEVICE)
    public static let flowDissector = AttachType(BPF_FLOW_DISSECTOR)
    public static let skLookup = AttachType(BPF_SK_LOOKUP)
    public static let xdp = AttachType(BPF_XDP)
    public static let tcxIngress = AttachType(BPF_TCX_INGRESS)
    public static let tcxEgress = AttachType(BPF_TCX_EGRESS)
    public static let netfilter = AttachType(BPF_NETFILTER)
    public static let traceIter = AttachType(BPF_TRACE_ITER)
    public static let perfEvent = AttachType(BPF_PERF_EVENT)
    public static let skSkbStreamVerdict = AttachType(BPF_SK_SKB_STREAM_VERDICT)
    public static let skSkbVerdict = AttachType(BPF_SK_SKB_VERDICT)
    public static let skMsgVerdict = AttachType(BPF_SK_MSG_VERDICT)

    /// The name bpftool 7.5 prints ("cgroup_sysctl", "tcx_ingress", ...), or nil.
    /// Calls `libbpf_bpf_attach_type_str`; the names libbpf learnt after the one
    /// bpfswift was built with ("trace_kprobe_session" in 1.5) are added.
    public var name: String? { LibbpfNames.attachType(rawValue) }

    public var description: String { name ?? String(rawValue) }
}

/// A program type (`enum bpf_prog_type`), named as libbpf names it.
public struct ProgramTypeName: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The libbpf name ("tracing", "ext", ...), or nil.
    public var name: String? { programTypeName(rawValue) }
}
