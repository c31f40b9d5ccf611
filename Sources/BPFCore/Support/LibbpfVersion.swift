internal import CLibBPF

/// The libbpf bpfswift was compiled against. bpfswift builds against libbpf
/// 1.1 and newer; a feature an older libbpf lacks fails when it is used, with
/// one line that names the version it needs (see CLibBPF's shim.h).
public enum LibbpfVersion {
    /// "1.1" for the libbpf headers bpfswift was built with.
    public static var built: String { "\(bpfswift_libbpf_major()).\(bpfswift_libbpf_minor())" }

    /// Whether bpfswift was built against libbpf `major.minor` or newer.
    public static func atLeast(_ major: Int32, _ minor: Int32) -> Bool {
        bpfswift_libbpf_at_least(major, minor) != 0
    }

    /// Throws "FEATURE needs libbpf >= X.Y (bpfswift was built with libbpf A.B)"
    /// unless bpfswift was built against libbpf `major.minor` or newer.
    public static func require(_ major: Int32, _ minor: Int32, for feature: String) throws(BPFError) {
        guard atLeast(major, minor) else {
            throw BPFError.message("\(feature) needs libbpf >= \(major).\(minor) (bpfswift was built with libbpf \(built))")
        }
    }
}

extension LibbpfVersion {
    /// Section names libbpf learned after 1.1, with the version that learned
    /// them (from libbpf's SEC_DEF table; "+" means the name alone or
    /// followed by "/..."). An older libbpf leaves such a program without a
    /// type and fails the load with "missing BPF prog type".
    static let newerSections: [(name: String, major: Int32, minor: Int32)] = [
        ("struct_ops.s+", 1, 2),
        ("cgroup/connect_unix", 1, 3), ("cgroup/getpeername_unix", 1, 3),
        ("cgroup/getsockname_unix", 1, 3), ("cgroup/recvmsg_unix", 1, 3),
        ("cgroup/sendmsg_unix", 1, 3), ("netfilter", 1, 3),
        ("netkit/peer", 1, 3), ("netkit/primary", 1, 3),
        ("tc/egress", 1, 3), ("tc/ingress", 1, 3), ("tcx/egress", 1, 3), ("tcx/ingress", 1, 3),
        ("uprobe.multi+", 1, 3), ("uprobe.multi.s+", 1, 3),
        ("uretprobe.multi+", 1, 3), ("uretprobe.multi.s+", 1, 3), ("usdt.s+", 1, 3),
        ("sk_skb/verdict", 1, 4),
        ("kprobe.session+", 1, 5),
        ("uprobe.session+", 1, 6), ("uprobe.session.s+", 1, 6),
    ]

    /// The libbpf version that first knows section `section`, when that is
    /// newer than the one bpfswift was built with; nil otherwise.
    static func newerLibbpf(forSection section: String) -> (major: Int32, minor: Int32)? {
        for s in newerSections where !atLeast(s.major, s.minor) {
            let matches: Bool
            if s.name.hasSuffix("+") {
                let base = String(s.name.dropLast())
                matches = section == base || section.hasPrefix(base + "/")
            } else {
                matches = section == s.name
            }
            if matches { return (s.major, s.minor) }
        }
        return nil
    }
}
