#if canImport(Glibc)
import Glibc
#endif

/// Whether this process holds what BPF needs, so that an EPERM or EACCES can
/// be reported as what it is: missing privileges, not the memlock hint libbpf
/// prints or a "not an object tree" that the unreadable pin led to.
public enum Privileges {
    /// CAP_SYS_ADMIN (21): id iteration, and everything on kernels before CAP_BPF.
    static let capSysAdmin = 21
    /// CAP_BPF (39, Linux 5.8).
    static let capBPF = 39

    /// The effective capability set (CapEff of /proc/self/status), or nil when unreadable.
    static func effectiveCapabilities() -> UInt64? {
        guard let text = readTextFile("/proc/self/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: " \t"), radix: 16)
        }
        return nil
    }

    /// The capabilities BPF commands need that this process lacks, by name
    /// ("CAP_BPF", "CAP_SYS_ADMIN"); empty when it has them (or cannot tell).
    public static func missing() -> [String] {
        guard let caps = effectiveCapabilities() else { return [] }
        var out: [String] = []
        if caps & (1 << UInt64(capBPF)) == 0 { out.append("CAP_BPF") }
        if caps & (1 << UInt64(capSysAdmin)) == 0 { out.append("CAP_SYS_ADMIN") }
        return out
    }

    /// Whether `errno` is what the kernel answers a caller without the privileges.
    static func isPermissionErrno(_ e: Int32) -> Bool { e == EPERM || e == EACCES }

    /// The text that replaces an error's detail when privileges are missing.
    static func missingText(_ missing: [String]) -> String {
        "missing privileges: running as uid \(geteuid()) without \(missing.joined(separator: " and ")); run bpfswift as root"
    }
}

extension BPFError {
    /// This error, saying that privileges are missing when it is an EPERM or
    /// EACCES and this process lacks CAP_BPF or CAP_SYS_ADMIN. The detail it
    /// replaces (libbpf's "Failed to bump RLIMIT_MEMLOCK ...") is a
    /// consequence, not the cause. Unchanged otherwise: as root, an EPERM
    /// means something else (lockdown, an LSM) and keeps its own text.
    public func explainingPrivileges() -> BPFError {
        guard Privileges.isPermissionErrno(errno) else { return self }
        let missing = Privileges.missing()
        guard !missing.isEmpty else { return self }
        var e = self
        e.detail = Privileges.missingText(missing)
        return e
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}
