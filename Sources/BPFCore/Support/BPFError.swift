#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A failed operation: what was being done, and the errno that said why.
///
/// `description` reads like "open pinned map /sys/fs/bpf/x: No such file or directory".
public struct BPFError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was being done, e.g. "pin program count_enter at /sys/fs/bpf/x".
    public var operation: String
    /// The errno (positive), or 0 when the failure has no errno.
    public var errno: Int32
    /// Extra detail (libbpf's last warning, a mismatching attribute, ...).
    public var detail: String?

    /// `operation` says what was being done ("pin program x at /sys/fs/bpf/y"), `errno`
    /// why it failed (0: no errno), `detail` anything more; `description` joins them.
    public init(_ operation: String, errno: Int32 = 0, detail: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    /// An error without errno: the operation text is the whole message.
    public static func message(_ text: String) -> BPFError { BPFError(text) }

    public var description: String {
        var s = operation
        if errno != 0 { s += ": " + errnoText(errno) }
        if let detail, !detail.isEmpty { s += " (" + detail + ")" }
        return s
    }
}

/// The C library's text for an errno value (libbpf's own for its codes, 4000 and up).
public func errnoText(_ code: Int32) -> String {
    // Kernel-internal codes that leak out of the bpf syscall (include/linux/errno.h);
    // the C library has no text for them.
    switch code {
    case 524: return "Operation not supported (ENOTSUPP)"
    case 525: return "Object too small (ETOOSMALL)"
    case 512...530: return "kernel error \(code)"
    default: break
    }
    if code >= 4000 && code < 4100 {
        var buf = [CChar](repeating: 0, count: 128)
        if libbpf_strerror(code, &buf, buf.count) == 0 { return String(cString: buf) }
    }
    guard let p = strerror(code) else { return "errno \(code)" }
    return String(cString: p)
}

/// Turns a libbpf/syscall style return (`-1` + errno, or `-errno`) into a thrown BPFError.
@discardableResult
@inline(__always)
func check(_ ret: Int32, _ operation: @autoclosure () -> String) throws(BPFError) -> Int32 {
    if ret >= 0 { return ret }
    let code = ret == -1 ? Glibc.errno : -ret
    throw BPFError(operation(), errno: code == 0 ? EINVAL : code)
}

/// For libbpf calls that return a pointer or NULL with errno set (libbpf 1.0 mode).
@inline(__always)
func checkPointer<T>(_ p: T?, _ operation: @autoclosure () -> String) throws(BPFError) -> T {
    if let p { return p }
    let code = Glibc.errno
    throw BPFError(operation(), errno: code == 0 ? EINVAL : code)
}

/// Forgets what libbpf warned so far: call before the libbpf call whose
/// failure `takeLibbpfWarning` is to explain.
public func clearLibbpfWarning() {
    bpfswift_clear_last_warning()
}

/// What libbpf warned since the last clear, for an error's detail: its first
/// warning (the cause; notes it retries past are not kept) and, after a
/// verifier log, the verifier's reason. Clears.
public func takeLibbpfWarning() -> String? {
    let text = String(cString: bpfswift_last_warning()).trimmingTrailingNewlines()
    let reason = verifierReason(inLogTail: String(cString: bpfswift_last_load_log()))
    bpfswift_clear_last_warning()
    switch (text.isEmpty, reason) {
    case (true, nil): return nil
    case (true, let r?): return "verifier: \(r)"
    case (false, nil): return text
    case (false, let r?): return "\(text); verifier: \(r)"
    }
}

/// The verifier's reason for refusing a program: the last line of its log
/// that is neither an instruction, a source line nor a statistic ("R1
/// invalid mem access 'scalar'", "BPF program is too large. ..."). Nil
/// when the log ends without one.
func verifierReason(inLogTail tail: String) -> String? {
    let statistics = ["processed ", "verification time", "stack depth", "mark_read", "-- END ", "-- BEGIN "]
    for line in tail.split(separator: "\n").reversed() {
        let l = line.drop(while: { $0 == " " || $0 == "\t" })
        if l.isEmpty || statistics.contains(where: { l.hasPrefix($0) }) { continue }
        // "12: (61) r0 = ..." instructions, "; source" lines, "12: R1=..." states.
        if l.hasPrefix(";") { return nil }
        if let colon = l.firstIndex(of: ":"), !l[..<colon].isEmpty, l[..<colon].allSatisfy(\.isNumber) { return nil }
        return String(l)
    }
    return nil
}

/// Routes libbpf's log: everything to stderr with `debug`, else only kept for error messages.
public func setLibbpfDebug(_ debug: Bool) {
    bpfswift_set_libbpf_debug(debug ? 1 : 0)
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == " " || last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
