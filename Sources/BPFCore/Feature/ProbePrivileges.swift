#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

extension FeatureProbe {
    /// The capabilities a full probe needs, in bpftool's order (CAP_BPF,
    /// CAP_NET_ADMIN and CAP_PERFMON only on kernels that know CAP_BPF).
    static let probeCapabilities: [(cap: UInt32, name: String)] = [
        (21, "CAP_SYS_ADMIN"), (39, "CAP_BPF"), (12, "CAP_NET_ADMIN"), (38, "CAP_PERFMON"),
    ]

    /// Whether this kernel knows CAP_BPF (Linux 5.8).
    static func kernelKnowsCAPBPF() -> Bool {
        let last = readSysctl("/proc/sys/kernel/cap_last_cap")
        return last < 0 || last >= 39
    }

    /// bpftool's privilege check before probing. A full probe needs every
    /// capability above (on kernels before CAP_BPF: CAP_SYS_ADMIN) and
    /// fails without them. An `unprivileged` probe clears those it holds
    /// from the effective set of the calling thread, so what follows on it
    /// runs as a user without them would (the permitted set keeps them: the
    /// process is not changed for good). Probe on the same thread.
    public static func checkPrivileges(unprivileged: Bool) throws(BPFError) {
        var header = __user_cap_header_struct(version: UInt32(_LINUX_CAPABILITY_VERSION_3), pid: 0)
        var data = [__user_cap_data_struct](repeating: .init(), count: 2)
        guard bpfswift_capget(&header, &data) == 0 else {
            throw BPFError("failed to get capabilities for process", errno: errno)
        }
        let caps = kernelKnowsCAPBPF() ? probeCapabilities : [probeCapabilities[0]]
        func held(_ cap: UInt32) -> Bool { data[Int(cap / 32)].effective & (1 << (cap % 32)) != 0 }
        let heldCaps = caps.filter { held($0.cap) }
        if unprivileged {
            guard !heldCaps.isEmpty else { return }
            for c in heldCaps { data[Int(c.cap / 32)].effective &= ~(UInt32(1) << (c.cap % 32)) }
            guard bpfswift_capset(&header, &data) == 0 else {
                throw BPFError("failed to drop capabilities", errno: errno)
            }
            return
        }
        guard heldCaps.count < caps.count else { return }
        if caps.count == 1 {
            throw BPFError.message("missing CAP_SYS_ADMIN, required for full feature probing; run as root or use 'unprivileged'")
        }
        let missing = caps.filter { !held($0.cap) }.map { $0.name + ", " }.joined()
        throw BPFError.message("missing \(missing)required for full feature probing; run as root or use 'unprivileged'")
    }
}
