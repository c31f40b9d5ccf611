#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// Which BPF features this kernel offers, probed the way bpftool's
/// `feature probe` does: libbpf's probe API for program types, map types and
/// helpers (each loads a tiny program or creates a tiny map and looks at
/// the answer), raw `BPF_PROG_LOAD`s for the miscellaneous features, and
/// /proc and the kernel config for the system configuration.
public enum FeatureProbe {
    public struct Options: Sendable {
        /// Also probe the helpers bpftool leaves out by default because
        /// probing them writes to the kernel log (bpf_trace_printk,
        /// bpf_trace_vprintk, bpf_probe_write_user).
        public var full = false
        /// Probe as a user without CAP_SYS_ADMIN, CAP_BPF, CAP_NET_ADMIN and
        /// CAP_PERFMON (see `dropPrivileges()`): a probe that fails with
        /// EPERM counts as not available.
        public var unprivileged = false
        /// Probe what can be offloaded to this network device (its index)
        /// instead of the kernel: sched_cls and xdp programs, hash and array maps.
        public var deviceIndex: UInt32? = nil
        public init(full: Bool = false, unprivileged: Bool = false, deviceIndex: UInt32? = nil) {
            self.full = full
            self.unprivileged = unprivileged
            self.deviceIndex = deviceIndex
        }
    }

    /// The helpers whose probe writes a warning to the kernel log; left out unless `full`.
    public static let noisyHelpers: Set<String> = ["bpf_trace_printk", "bpf_trace_vprintk", "bpf_probe_write_user"]

    /// A helper's name ("bpf_map_lookup_elem") by its id, from the kernel
    /// UAPI header bpfswift was built with (`enum bpf_func_id`). The list
    /// ends at id 211 since Linux 6.2 (new kernel functions are kfuncs, not
    /// helpers), and bpfswift needs the headers of 6.10 or newer: every
    /// helper a kernel can have is in it.
    public static func helperName(_ id: UInt32) -> String? {
        bpfswift_helper_name(id).map { String(cString: $0) }
    }

    /// Every helper name, index = id (0 is "bpf_unspec").
    public static func helperNames() -> [String] {
        var names: [String] = []
        var id: UInt32 = 0
        while let n = helperName(id) { names.append(n); id += 1 }
        return names
    }

    /// Program type names libbpf knows, in enum order from 1 (as bpftool
    /// walks them: up to the first value libbpf has no name for).
    public static func programTypeNames() -> [(raw: UInt32, name: String)] {
        var out: [(UInt32, String)] = []
        var raw: UInt32 = 1
        while let n = LibbpfNames.programType(raw) { out.append((raw, n)); raw += 1 }
        return out
    }

    /// Map type names libbpf knows, in enum order from 1.
    public static func mapTypeNames() -> [(raw: UInt32, name: String)] {
        var out: [(UInt32, String)] = []
        var raw: UInt32 = 1
        while let n = LibbpfNames.mapType(raw) { out.append((raw, n)); raw += 1 }
        return out
    }

    /// The names of one of `feature list_builtins`' groups, from 0 up to the
    /// first value without a name (attach types and helpers start with
    /// their value 0: cgroup_inet_ingress, bpf_unspec).
    public static func builtinNames(_ group: BuiltinGroup) -> [String] {
        var out: [String] = []
        var raw: UInt32 = 0
        while true {
            let name: String?
            switch group {
            case .programTypes: name = LibbpfNames.programType(raw)
            case .mapTypes: name = LibbpfNames.mapType(raw)
            case .attachTypes: name = LibbpfNames.attachType(raw)
            case .linkTypes: name = LibbpfNames.linkType(raw)
            case .helpers: name = helperName(raw)
            }
            guard let name else { break }
            out.append(name)
            raw += 1
        }
        return out
    }

    public enum BuiltinGroup: String, CaseIterable, Sendable {
        case programTypes = "prog_types", mapTypes = "map_types", attachTypes = "attach_types"
        case linkTypes = "link_types", helpers = "helpers"
    }

    // MARK: probing

    /// Probes every section. Call `checkPrivileges` first (bpftool refuses
    /// to probe without the capabilities, or drops them for `unprivileged`).
    public static func run(_ options: Options) -> FeatureReport {
        var report = FeatureReport(system: nil, syscallAvailable: false, programTypes: [], mapTypes: [],
                                   helpers: [], misc: [], probedBeyondSyscall: false)
        if options.deviceIndex == nil {
            let config = KernelConfig.read()
            report.system = FeatureReport.SystemConfiguration(
                sysctls: procIsProcfs() ? readSysctls() : nil,
                kernelConfig: config.options, kernelConfigProblem: config.problem)
        }
        report.syscallAvailable = probeSyscall()
        guard report.syscallAvailable else { return report }
        report.probedBeyondSyscall = true

        let ifindex = options.deviceIndex
        var supported: [UInt32: Bool] = [:]
        for (raw, name) in programTypeNames() {
            if let ifindex {
                guard offloadable(programType: raw) else { continue }
                let ok = loadsOnDevice(programType: raw, insns: [movImm(0, 2), exitInsn()], ifindex: ifindex)
                supported[raw] = ok
                report.programTypes.append(.init(name: name, rawValue: raw, available: ok))
                continue
            }
            errno = 0
            var ok: Bool
            if libbpfLacksName(programType: raw) {
                // Newer than the libbpf in use (netfilter before libbpf 1.3),
                // whose probe would refuse it: the load its successors make.
                ok = probeLoad(programType: raw, insns: [movImm(0, 0), exitInsn()], log: nil)
            } else {
                ok = libbpf_probe_bpf_prog_type(bpf_prog_type(rawValue: raw), nil) > 0
            }
            // A probe can pass while the load failed for want of privileges.
            if options.unprivileged && errno == EPERM { ok = false }
            supported[raw] = ok
            report.programTypes.append(.init(name: name, rawValue: raw, available: ok))
        }
        for (raw, name) in mapTypeNames() {
            if let ifindex {
                guard raw == BPF_MAP_TYPE_HASH.rawValue || raw == BPF_MAP_TYPE_ARRAY.rawValue else { continue }
                report.mapTypes.append(.init(name: name, rawValue: raw, available: createsOnDevice(mapType: raw, ifindex: ifindex)))
                continue
            }
            report.mapTypes.append(.init(name: name, rawValue: raw,
                                         available: libbpf_probe_bpf_map_type(bpf_map_type(rawValue: raw), nil) > 0))
        }
        let helperNames = helperNames()
        for (raw, name) in programTypeNames() {
            if ifindex != nil && !offloadable(programType: raw) { continue }
            let typeSupported = supported[raw] ?? false
            // With a libbpf before 1.5, one libbpf probe says whether libbpf can
            // probe this type's helpers at all (not tracing, ext, lsm,
            // struct_ops); the helpers are then probed by `helperLoads`.
            let ownLoads = ifindex == nil && typeSupported && !helperProbeKnowsCannotUse
            let libbpfCanProbe = !ownLoads || libbpfLacksName(programType: raw)
                || libbpf_probe_bpf_helper(bpf_prog_type(rawValue: raw), BPF_FUNC_map_lookup_elem, nil) >= 0
            var helpers: [FeatureReport.HelperSupport.Helper] = []
            for id in 1..<helperNames.count {
                let helper = helperNames[id]
                if !options.full && noisyHelpers.contains(helper) { continue }
                var ok = false
                if typeSupported {
                    errno = 0
                    if let ifindex {
                        ok = helperOnDevice(UInt32(id), programType: raw, ifindex: ifindex)
                    } else if ownLoads {
                        ok = libbpfCanProbe && helperLoads(UInt32(id), programType: raw)
                    } else {
                        ok = libbpf_probe_bpf_helper(bpf_prog_type(rawValue: raw), bpf_func_id(rawValue: UInt32(id)), nil) > 0
                    }
                    // A probe can pass while the load failed for want of privileges.
                    if options.unprivileged && errno == EPERM { ok = false }
                }
                helpers.append(.init(name: helper, available: ok))
            }
            report.helpers.append(.init(programType: name, programTypeSupported: typeSupported, helpers: helpers))
        }
        report.misc = probeMisc(ifindex: ifindex)
        return report
    }

    /// Whether the libbpf in use reads the verifier's "program of this type
    /// cannot use helper" as not available (libbpf 1.5 learned it; this
    /// kernel's verifier says it where older ones said "unknown func").
    /// With an older libbpf, `libbpf_probe_bpf_helper` finds every helper
    /// the kernel knows available to every program type that loads.
    static let helperProbeKnowsCannotUse: Bool =
        libbpf_major_version() > 1 || (libbpf_major_version() == 1 && libbpf_minor_version() >= 5)

    /// For a libbpf before 1.5: the load `libbpf_probe_bpf_helper` makes (a
    /// call to the helper, then exit, with the load options libbpf's probe
    /// gives the program type), read as libbpf 1.5 reads it: available
    /// unless the verifier refused the helper itself. One load, as libbpf's
    /// probe makes, so the probe costs what bpftool's costs.
    static func helperLoads(_ id: UInt32, programType raw: UInt32) -> Bool {
        let log = UnsafeMutableBufferPointer<CChar>.allocate(capacity: 4096)
        defer { log.deallocate() }
        log[0] = 0
        if probeLoad(programType: raw, insns: [insn(BPF_JMP | BPF_CALL, imm: Int32(bitPattern: id)), exitInsn()], log: log) {
            return true
        }
        let e = errno
        defer { errno = e }
        let l = log.baseAddress!
        return strstr(l, "invalid func ") == nil && strstr(l, "unknown func ") == nil
            && strstr(l, "program of this type cannot use helper ") == nil
    }

    /// Whether the libbpf in use has no name for this program type (it is
    /// newer than that libbpf; bpfswift names it from its own table).
    static func libbpfLacksName(programType raw: UInt32) -> Bool {
        libbpf_bpf_prog_type_str(bpf_prog_type(rawValue: raw)) == nil
    }

    /// One load of `insns` with the options libbpf's probes give the program
    /// type (the expected attach type some types need, sleepable for
    /// syscall programs); with `log`, the verifier's log at level 1. True
    /// when the program loaded.
    static func probeLoad(programType raw: UInt32, insns: [bpf_insn], log: UnsafeMutableBufferPointer<CChar>?) -> Bool {
        withLibbpfOptions(bpf_prog_load_opts.self) { opts in
            if let log {
                opts.pointee.log_buf = log.baseAddress
                opts.pointee.log_size = UInt32(log.count)
                opts.pointee.log_level = 1
            }
            switch bpf_prog_type(rawValue: raw) {
            case BPF_PROG_TYPE_CGROUP_SOCK_ADDR: opts.pointee.expected_attach_type = BPF_CGROUP_INET4_CONNECT
            case BPF_PROG_TYPE_CGROUP_SOCKOPT: opts.pointee.expected_attach_type = BPF_CGROUP_GETSOCKOPT
            case BPF_PROG_TYPE_SK_LOOKUP: opts.pointee.expected_attach_type = BPF_SK_LOOKUP
            case BPF_PROG_TYPE_LIRC_MODE2: opts.pointee.expected_attach_type = BPF_LIRC_MODE2
            case BPF_PROG_TYPE_NETFILTER: opts.pointee.expected_attach_type = BPF_NETFILTER
            case BPF_PROG_TYPE_SYSCALL: opts.pointee.prog_flags = UInt32(BPF_F_SLEEPABLE)
            default: break
            }
            let fd = insns.withUnsafeBufferPointer {
                bpf_prog_load(bpf_prog_type(rawValue: raw), nil, "GPL", $0.baseAddress, $0.count, opts)
            }
            if fd >= 0 { close(fd); return true }
            return false
        }
    }

    /// The program types a device can take (bpftool probes only these with `dev`).
    static func offloadable(programType raw: UInt32) -> Bool {
        raw == BPF_PROG_TYPE_SCHED_CLS.rawValue || raw == BPF_PROG_TYPE_XDP.rawValue
    }

    static func procIsProcfs() -> Bool {
        var st = statfs()
        guard statfs("/proc", &st) == 0 else { return false }
        return UInt(bitPattern: Int(st.f_type)) == 0x9fa0  // PROC_SUPER_MAGIC
    }

    /// A sysctl's integer: the first line, all digits, or -1. One read of
    /// a whole buffer: a sysctl answers only the read at offset 0 (a first
    /// read of one byte would leave the rest unread).
    static func readSysctl(_ path: String) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return -1 }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 128)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0, let nl = buf[..<n].firstIndex(of: UInt8(ascii: "\n")) else { return -1 }
        return Int(String(decoding: buf[..<nl], as: UTF8.self)) ?? -1
    }

    static func readSysctls() -> FeatureReport.Sysctls {
        FeatureReport.Sysctls(
            unprivilegedBPFDisabled: readSysctl("/proc/sys/kernel/unprivileged_bpf_disabled"),
            jitEnable: readSysctl("/proc/sys/net/core/bpf_jit_enable"),
            jitHarden: readSysctl("/proc/sys/net/core/bpf_jit_harden"),
            jitKallsyms: readSysctl("/proc/sys/net/core/bpf_jit_kallsyms"),
            jitLimit: readSysctl("/proc/sys/net/core/bpf_jit_limit"))
    }

    /// Whether the kernel has the bpf() syscall: any answer but ENOSYS.
    static func probeSyscall() -> Bool {
        errno = 0
        let fd = bpf_prog_load(BPF_PROG_TYPE_UNSPEC, nil, nil, nil, 0, nil)
        let e = errno
        if fd >= 0 { close(fd) }
        return e != ENOSYS
    }

    // MARK: instructions

    static func insn(_ code: Int32, dst: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) -> bpf_insn {
        var i = bpf_insn()
        i.code = UInt8(code)
        i.dst_reg = dst
        i.off = off
        i.imm = imm
        return i
    }
    static func movImm(_ dst: UInt8, _ imm: Int32) -> bpf_insn { insn(BPF_ALU64 | BPF_MOV | BPF_K, dst: dst, imm: imm) }
    static func exitInsn() -> bpf_insn { insn(BPF_JMP | BPF_EXIT) }

    /// Loads a socket filter of `insns` (with `ifindex`, for that device):
    /// available when it loads, or when the kernel failed it without an errno.
    static func loadsSocketFilter(_ insns: [bpf_insn], ifindex: UInt32?) -> Bool {
        withLibbpfOptions(bpf_prog_load_opts.self) { opts in
            opts.pointee.prog_ifindex = ifindex ?? 0
            errno = 0
            let fd = insns.withUnsafeBufferPointer {
                bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, nil, "GPL", $0.baseAddress, $0.count, opts)
            }
            let e = errno
            if fd >= 0 { close(fd) }
            return fd >= 0 || e == 0
        }
    }

    static func probeMisc(ifindex: UInt32?) -> [FeatureReport.MiscFeature] {
        // Linux 5.3: programs of up to a million instructions (BPF_MAXINSNS + 1 here).
        let large = Array(repeating: movImm(0, 1), count: Int(BPF_MAXINSNS)) + [exitInsn()]
        // Linux 5.3: bounded loops (a backward jump).
        let loop = [movImm(0, 10), insn(BPF_ALU64 | BPF_SUB | BPF_K, imm: 1),
                    insn(BPF_JMP | BPF_JNE | BPF_K, off: -2), exitInsn()]
        // Linux 4.14: BPF_JLT and friends; Linux 5.1: 32-bit jumps (JMP32).
        let v2 = [movImm(0, 0), insn(BPF_JMP | BPF_JLT | BPF_K, off: 1), movImm(0, 1), exitInsn()]
        let v3 = [movImm(0, 0), insn(BPF_JMP32 | BPF_JLT | BPF_K, off: 1), movImm(0, 1), exitInsn()]
        return [
            .init(key: "large_insn_limit", description: "Large program size limit", macro: "LARGE_INSN_LIMIT",
                  available: loadsSocketFilter(large, ifindex: ifindex)),
            .init(key: "bounded_loops", description: "Bounded loop support", macro: "BOUNDED_LOOPS",
                  available: loadsSocketFilter(loop, ifindex: ifindex)),
            .init(key: "v2_isa_extension", description: "ISA extension v2", macro: "V2_ISA_EXTENSION",
                  available: loadsSocketFilter(v2, ifindex: ifindex)),
            .init(key: "v3_isa_extension", description: "ISA extension v3", macro: "V3_ISA_EXTENSION",
                  available: loadsSocketFilter(v3, ifindex: ifindex)),
        ]
    }

    // MARK: offload (dev NAME)

    /// Loads `insns` as `programType` for the device, with a verifier log
    /// when `log` is given. libbpf's probe API has no device, so these are
    /// plain `bpf_prog_load`s with `prog_ifindex`.
    static func loadsOnDevice(programType raw: UInt32, insns: [bpf_insn], ifindex: UInt32,
                              log: UnsafeMutableBufferPointer<CChar>? = nil) -> Bool {
        withLibbpfOptions(bpf_prog_load_opts.self) { opts in
            opts.pointee.prog_ifindex = ifindex
            if let log {
                opts.pointee.log_buf = log.baseAddress
                opts.pointee.log_size = UInt32(log.count)
                opts.pointee.log_level = 1
            }
            errno = 0
            let fd = insns.withUnsafeBufferPointer {
                bpf_prog_load(bpf_prog_type(rawValue: raw), nil, "GPL", $0.baseAddress, $0.count, opts)
            }
            let e = errno
            if fd >= 0 { close(fd) }
            return fd >= 0 && e != EINVAL && e != EOPNOTSUPP
        }
    }

    static func createsOnDevice(mapType raw: UInt32, ifindex: UInt32) -> Bool {
        withLibbpfOptions(bpf_map_create_opts.self) { opts in
            opts.pointee.map_ifindex = ifindex
            let fd = bpf_map_create(bpf_map_type(rawValue: raw), nil, 4, 4, 1, opts)
            if fd >= 0 { close(fd) }
            return fd >= 0
        }
    }

    /// A helper on a device: a call to it loads, or the verifier's refusal
    /// is not about the helper.
    static func helperOnDevice(_ id: UInt32, programType raw: UInt32, ifindex: UInt32) -> Bool {
        let log = UnsafeMutableBufferPointer<CChar>.allocate(capacity: 4096)
        defer { log.deallocate() }
        log.initialize(repeating: 0)
        let call = insn(BPF_JMP | BPF_CALL, imm: Int32(bitPattern: id))
        _ = loadsOnDevice(programType: raw, insns: [call, exitInsn()], ifindex: ifindex, log: log)
        let text = String(cString: log.baseAddress!)
        var ok = !text.contains("invalid func ") && !text.contains("unknown func ")
            && !text.contains("program of this type cannot use helper ")
        if deviceVendor(ifindex) == 0x19ee {  // Netronome's firmware says so in its own words
            ok = ok && !text.contains("not supported by FW") && !text.contains("unsupported function id")
        }
        return ok
    }

    static func deviceVendor(_ ifindex: UInt32) -> Int? {
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE))
        guard if_indextoname(ifindex, &name) != nil else { return nil }
        guard let text = readTextFile("/sys/class/net/\(String(cString: name))/device/vendor") else { return nil }
        let t = text.trimmingTrailingNewlines()
        return t.hasPrefix("0x") ? Int(t.dropFirst(2), radix: 16) : Int(t)
    }

    /// The index of network device `name` (for `dev NAME`).
    public static func deviceIndex(_ name: String) throws(BPFError) -> UInt32 {
        let i = if_nametoindex(name)
        guard i != 0 else { throw BPFError("unrecognized netdevice '\(name)'", errno: errno) }
        return i
    }
}
