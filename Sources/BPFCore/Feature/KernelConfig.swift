#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// The running kernel's build configuration: /boot/config-$(uname -r), else
/// /proc/config.gz (CONFIG_IKCONFIG_PROC). Both read through zlib, which
/// takes plain and gzip-compressed files alike.
enum KernelConfig {
    /// The options bpftool's `feature probe` reports, in its order; the
    /// flag marks what `macros` prints (values BPF C programs use).
    static let reported: [(name: String, inMacros: Bool)] = [
        ("CONFIG_BPF", false), ("CONFIG_BPF_SYSCALL", false), ("CONFIG_HAVE_EBPF_JIT", false),
        ("CONFIG_BPF_JIT", false), ("CONFIG_BPF_JIT_ALWAYS_ON", false), ("CONFIG_DEBUG_INFO_BTF", false),
        ("CONFIG_DEBUG_INFO_BTF_MODULES", false),
        ("CONFIG_CGROUPS", false), ("CONFIG_CGROUP_BPF", false), ("CONFIG_CGROUP_NET_CLASSID", false),
        ("CONFIG_SOCK_CGROUP_DATA", false),
        ("CONFIG_BPF_EVENTS", false), ("CONFIG_KPROBE_EVENTS", false), ("CONFIG_UPROBE_EVENTS", false),
        ("CONFIG_TRACING", false), ("CONFIG_FTRACE_SYSCALLS", false), ("CONFIG_FUNCTION_ERROR_INJECTION", false),
        ("CONFIG_BPF_KPROBE_OVERRIDE", false),
        ("CONFIG_NET", false), ("CONFIG_XDP_SOCKETS", false), ("CONFIG_LWTUNNEL_BPF", false),
        ("CONFIG_NET_ACT_BPF", false), ("CONFIG_NET_CLS_BPF", false), ("CONFIG_NET_CLS_ACT", false),
        ("CONFIG_NET_SCH_INGRESS", false), ("CONFIG_XFRM", false), ("CONFIG_IP_ROUTE_CLASSID", false),
        ("CONFIG_IPV6_SEG6_BPF", false), ("CONFIG_BPF_LIRC_MODE2", false), ("CONFIG_BPF_STREAM_PARSER", false),
        ("CONFIG_NETFILTER_XT_MATCH_BPF", false),
        ("CONFIG_TEST_BPF", false),
        ("CONFIG_HZ", true),
    ]

    /// The kernel release (`uname -r`).
    static func release() -> String? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return withUnsafeBytes(of: &u.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// The reported options and their values, or why there are none
    /// (bpftool's "skipping kernel config, ..." notes).
    static func read() -> (options: [FeatureReport.KernelOption]?, problem: String?) {
        var file: gzFile? = nil
        if let r = release() { file = gzopen("/boot/config-" + r, "r") }
        if file == nil { file = gzopen("/proc/config.gz", "r") }
        guard let file else {
            return (nil, "skipping kernel config, can't open file: " + String(cString: strerror(errno)))
        }
        defer { gzclose(file) }
        var buf = [CChar](repeating: 0, count: 4096)
        func nextLine() -> String? {
            buf.withUnsafeMutableBufferPointer { b -> String? in
                guard gzgets(file, b.baseAddress, Int32(b.count)) != nil else { return nil }
                return String(cString: b.baseAddress!)
            }
        }
        // A config file says so on its second line.
        guard nextLine() != nil, let second = nextLine() else {
            return (nil, "skipping kernel config, can't read from file: " + String(cString: strerror(errno)))
        }
        guard second == "# Automatically generated file; DO NOT EDIT.\n" else {
            return (nil, "skipping kernel config, can't find correct file")
        }
        var wanted: [String: String] = [:]
        let names = Set(reported.map(\.name))
        while let line = nextLine() {
            guard line.hasPrefix("CONFIG_"), let eq = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<eq])
            // The line's last character is its newline (a line without one loses its last character, as in bpftool).
            let value = String(line[line.index(after: eq)...].dropLast())
            guard !value.isEmpty, names.contains(name), wanted[name] == nil else { continue }
            wanted[name] = value
        }
        return (reported.map { FeatureReport.KernelOption(name: $0.name, value: wanted[$0.name], inMacros: $0.inMacros) }, nil)
    }
}
