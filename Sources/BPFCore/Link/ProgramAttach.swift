#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// How an XDP program sits on its device.
public enum XDPMode: Sendable {
    /// What the kernel chooses: the driver's hook if it has one, else generic.
    case `default`
    /// The generic hook in the network stack (any device; XDP_FLAGS_SKB_MODE).
    case generic
    /// The driver's hook (XDP_FLAGS_DRV_MODE).
    case native
    /// Offloaded to the NIC (XDP_FLAGS_HW_MODE).
    case offload

    var flags: UInt32 {
        switch self {
        case .default: return 0
        case .generic: return 1 << 1
        case .native: return 1 << 2
        case .offload: return 1 << 3
        }
    }
}

/// The side of a device a tcx program sees.
public enum TCXDirection: Sendable {
    case ingress
    case egress
}

/// Explicit attach calls: each names its hook instead of relying on the
/// section name, and returns a `BPFLink`. The program must be loaded.
extension ObjectProgram {
    private func loadedFD(_ what: @autoclosure () -> String) throws(BPFError) -> Int32 {
        guard let f = fd else { throw BPFError("\(what()): program \(name) is not loaded", errno: EBADF) }
        return f
    }

    private func link(_ what: String, _ make: () -> OpaquePointer?) throws(BPFError) -> BPFLink {
        clearLibbpfWarning()
        guard let l = make() else {
            let e = Glibc.errno
            throw BPFError(what, errno: e == 0 ? EINVAL : e, detail: takeLibbpfWarning())
        }
        return BPFLink(handle: l, object: object)
    }

    /// A uprobe (or uretprobe) on `function` of the ELF file `binary` (an
    /// executable or shared library, by path; libbpf resolves the symbol),
    /// in process `pid` or every process (nil). Calls `bpf_program__attach_uprobe_opts`.
    public func attachUprobe(binary: String, function: String, pid: Int32? = nil, retprobe: Bool = false) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) as \(retprobe ? "uretprobe" : "uprobe") to \(binary):\(function)"
        _ = try loadedFD(what)
        try requireFile(binary, what)
        return try link(what) {
            function.withCString { fn in
                withLibbpfOptions(bpf_uprobe_opts.self) { o in
                    o.pointee.retprobe = retprobe
                    o.pointee.func_name = fn
                    return bpf_program__attach_uprobe_opts(handle, pid ?? -1, binary, 0, o)
                }
            }
        }
    }

    /// A uprobe (or uretprobe) at byte `offset` of the ELF file `binary`.
    /// Calls `bpf_program__attach_uprobe_opts`.
    public func attachUprobe(binary: String, offset: Int, pid: Int32? = nil, retprobe: Bool = false) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) as \(retprobe ? "uretprobe" : "uprobe") to \(binary)+\(offset)"
        _ = try loadedFD(what)
        guard offset >= 0 else { throw BPFError("\(what): negative offset", errno: EINVAL) }
        try requireFile(binary, what)
        return try link(what) {
            withLibbpfOptions(bpf_uprobe_opts.self) { o in
                o.pointee.retprobe = retprobe
                return bpf_program__attach_uprobe_opts(handle, pid ?? -1, binary, offset, o)
            }
        }
    }

    /// A USDT probe `provider:name` of `binary`. Calls `bpf_program__attach_usdt`.
    public func attachUSDT(binary: String, provider: String, name probe: String, pid: Int32? = nil) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) to USDT \(provider):\(probe) of \(binary)"
        _ = try loadedFD(what)
        try requireFile(binary, what)
        return try link(what) { bpf_program__attach_usdt(handle, pid ?? -1, binary, provider, probe, nil) }
    }

    /// A kprobe (or kretprobe) on kernel function `function`. Kernels built
    /// without kprobes refuse it. Calls `bpf_program__attach_kprobe_opts`.
    public func attachKprobe(function: String, retprobe: Bool = false) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) as \(retprobe ? "kretprobe" : "kprobe") to \(function)"
        _ = try loadedFD(what)
        do {
            return try link(what) {
                withLibbpfOptions(bpf_kprobe_opts.self) { o in
                    o.pointee.retprobe = retprobe
                    return bpf_program__attach_kprobe_opts(handle, function, o)
                }
            }
        } catch where !Kernel.hasKprobes {
            throw BPFError("\(what): this kernel has no kprobes (built without CONFIG_KPROBE_EVENTS)", errno: error.errno)
        }
    }

    /// The tracepoint `category:name` (/sys/kernel/tracing/events/CATEGORY/NAME).
    /// Calls `bpf_program__attach_tracepoint`.
    public func attachTracepoint(category: String, name tp: String) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) to tracepoint \(category):\(tp)"
        _ = try loadedFD(what)
        try requireName(category, what, "category")
        try requireName(tp, what, "name")
        return try link(what) { bpf_program__attach_tracepoint(handle, category, tp) }
    }

    /// The raw tracepoint `name` ("sys_enter"). Calls `bpf_program__attach_raw_tracepoint`.
    public func attachRawTracepoint(name tp: String) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) to raw tracepoint \(tp)"
        _ = try loadedFD(what)
        try requireName(tp, what, "name")
        return try link(what) { bpf_program__attach_raw_tracepoint(handle, tp) }
    }

    /// XDP on the device `interface` of the calling thread's network
    /// namespace, in `mode`. Calls `bpf_link_create`.
    public func attachXDP(interface: String, mode: XDPMode = .default) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) as XDP to \(interface)"
        let p = try loadedFD(what)
        let index = try interfaceIndex(interface, what)
        return try linkCreate(what, program: p, target: Int32(bitPattern: index), type: BPF_XDP) { $0.pointee.flags = mode.flags }
    }

    /// tcx on the `direction` side of the device `interface` of the calling
    /// thread's network namespace. Calls `bpf_link_create`.
    public func attachTCX(interface: String, direction: TCXDirection) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) as tcx \(direction) to \(interface)"
        let p = try loadedFD(what)
        let index = try interfaceIndex(interface, what)
        return try linkCreate(what, program: p, target: Int32(bitPattern: index),
                              type: direction == .ingress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS) { _ in }
    }

    /// The cgroup v2 directory `path`, with the program's attach type (from
    /// its section: cgroup_skb/egress, cgroup/sysctl, ...). Calls `bpf_program__attach_cgroup`.
    public func attachCgroup(path: String) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) to cgroup \(path)"
        _ = try loadedFD(what)
        let cg = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if cg < 0 { throw BPFError("\(what): open \(path)", errno: Glibc.errno) }
        defer { Glibc.close(cg) }
        return try link(what) { bpf_program__attach_cgroup(handle, cg) }
    }

    /// A netfilter hook of the calling thread's network namespace.
    /// Calls `bpf_link_create`.
    public func attachNetfilter(_ hook: NetfilterLink) throws(BPFError) -> BPFLink {
        let p = try loadedFD("attach program \(name) to a netfilter hook")
        do {
            return BPFLink(try KernelLink.attach(program: FileDescriptor(owning: fcntl(p, F_DUPFD_CLOEXEC, 3)), to: .netfilter(hook)),
                           object: object)
        } catch {
            throw BPFError("attach program \(name): " + error.operation, errno: error.errno, detail: error.detail)
        }
    }

    /// An iterator over `target`; read it with `iteratorOutput()` or by
    /// pinning the link and reading the pin. Calls `bpf_link_create`.
    public func attachIterator(_ target: IteratorTarget = .all) throws(BPFError) -> BPFLink {
        let p = try loadedFD("attach program \(name) as an iterator")
        let dup = fcntl(p, F_DUPFD_CLOEXEC, 3)
        if dup < 0 { throw BPFError("attach program \(name) as an iterator: duplicate fd", errno: Glibc.errno) }
        do {
            return BPFLink(try KernelLink.attach(program: FileDescriptor(owning: dup), to: .iterator(target)), object: object)
        } catch {
            throw BPFError("attach program \(name): " + error.operation, errno: error.errno, detail: error.detail)
        }
    }

    /// An open perf event (from perf_event_open(2)); the link keeps its own
    /// reference to the event. Calls `bpf_program__attach_perf_event`.
    public func attachPerfEvent(fd event: Int32) throws(BPFError) -> BPFLink {
        let what = "attach program \(name) to perf event fd \(event)"
        _ = try loadedFD(what)
        // libbpf closes the event's fd when the link goes: give it a copy.
        let dup = fcntl(event, F_DUPFD_CLOEXEC, 3)
        if dup < 0 { throw BPFError("\(what): duplicate fd", errno: Glibc.errno) }
        do {
            return try link(what) { bpf_program__attach_perf_event(handle, dup) }
        } catch {
            Glibc.close(dup)
            throw error
        }
    }

    // MARK: checks that name what was wrong before libbpf sees it

    private func requireFile(_ path: String, _ what: String) throws(BPFError) {
        var st = stat()
        if path.isEmpty || path.utf8.contains(0) { throw BPFError("\(what): empty or invalid path", errno: EINVAL) }
        if stat(path, &st) != 0 { throw BPFError("\(what): \(path)", errno: Glibc.errno) }
    }

    private func requireName(_ s: String, _ what: String, _ field: String) throws(BPFError) {
        if s.isEmpty || s.utf8.contains(0) || s.contains("/") {
            throw BPFError("\(what): invalid \(field) \"\(s)\"", errno: EINVAL)
        }
    }

    private func interfaceIndex(_ interface: String, _ what: String) throws(BPFError) -> UInt32 {
        guard !interface.isEmpty, interface.utf8.count < 16, !interface.utf8.contains(0) else {
            throw BPFError("\(what): invalid interface name \"\(interface)\"", errno: EINVAL)
        }
        let i = if_nametoindex(interface)
        if i == 0 { throw BPFError("\(what): no interface \(interface) in this network namespace", errno: ENODEV) }
        return i
    }

    private func linkCreate(_ what: String, program: Int32, target: Int32, type: bpf_attach_type,
                            _ setup: (UnsafeMutablePointer<bpf_link_create_opts>) -> Void) throws(BPFError) -> BPFLink {
        let fd = withLibbpfOptions(bpf_link_create_opts.self) { o in
            setup(o)
            return bpf_link_create(program, target, type, o)
        }
        if fd < 0 { throw BPFError(what, errno: fd == -1 ? Glibc.errno : -fd) }
        return BPFLink(KernelLink(fd: FileDescriptor(owning: fd)), object: object)
    }
}

extension Kernel {
    /// Whether the kernel can make kprobes (it lists kprobe events).
    public static var hasKprobes: Bool {
        access("/sys/kernel/tracing/kprobe_events", F_OK) == 0 || access("/sys/kernel/debug/tracing/kprobe_events", F_OK) == 0
    }
}
