#if canImport(Glibc)
import Glibc
#endif
internal import CLibBPF

/// A BPF program behind a file descriptor of some process, as
/// BPF_TASK_FD_QUERY reports it (`perf show`).
public struct TaskFDAttachment: Sendable {
    public enum Kind: Sendable { case rawTracepoint, tracepoint, kprobe, kretprobe, uprobe, uretprobe, other(UInt32) }
    public var pid: Int32
    public var fd: Int32
    public var programID: UInt32
    public var kind: Kind
    /// The tracepoint, function or file name.
    public var name: String
    public var probeOffset: UInt64
    public var probeAddress: UInt64

    /// Whether this kernel answers BPF_TASK_FD_QUERY: asked about an fd that
    /// holds no BPF attachment, it says ENOTSUPP (524). bpftool's check.
    public static func checkSupport() throws(BPFError) {
        let fd = Glibc.open("/", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError("perf_query_support: cannot open directory \"/\"", errno: Glibc.errno) }
        defer { Glibc.close(fd) }
        var buf = [CChar](repeating: 0, count: 256)
        var len = UInt32(buf.count), prog: UInt32 = 0, type: UInt32 = 0, off: UInt64 = 0, addr: UInt64 = 0
        Glibc.errno = 0
        _ = bpf_task_fd_query(getpid(), fd, 0, &buf, &len, &prog, &type, &off, &addr)
        let e = Glibc.errno
        if e != 524 {
            throw BPFError("perf_query_support: \(errnoText(e))", detail: "non root or kernel doesn't support TASK_FD_QUERY")
        }
    }

    /// Every (pid, fd) under /proc that holds a perf event or raw
    /// tracepoint with a BPF program, in /proc's directory order.
    /// Calls `bpf_task_fd_query`.
    public static func all() -> [TaskFDAttachment] {
        var out: [TaskFDAttachment] = []
        for pidName in directoryEntries("/proc") {
            guard let pid = Int32(pidName), pidName.allSatisfy(\.isNumber) else { continue }
            for fdName in directoryEntries("/proc/\(pidName)/fd") {
                guard let fd = Int32(fdName), fdName.allSatisfy(\.isNumber) else { continue }
                var buf = [CChar](repeating: 0, count: 4096)
                var len = UInt32(buf.count), prog: UInt32 = 0, type: UInt32 = 0, off: UInt64 = 0, addr: UInt64 = 0
                guard bpf_task_fd_query(pid, fd, 0, &buf, &len, &prog, &type, &off, &addr) >= 0 else { continue }
                let kind: Kind
                switch bpf_task_fd_type(rawValue: type) {
                case BPF_FD_TYPE_RAW_TRACEPOINT: kind = .rawTracepoint
                case BPF_FD_TYPE_TRACEPOINT: kind = .tracepoint
                case BPF_FD_TYPE_KPROBE: kind = .kprobe
                case BPF_FD_TYPE_KRETPROBE: kind = .kretprobe
                case BPF_FD_TYPE_UPROBE: kind = .uprobe
                case BPF_FD_TYPE_URETPROBE: kind = .uretprobe
                default: kind = .other(type)
                }
                let name = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                out.append(TaskFDAttachment(pid: pid, fd: fd, programID: prog, kind: kind, name: name,
                                            probeOffset: off, probeAddress: addr))
            }
        }
        return out
    }

    private static func directoryEntries(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            names.append(withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) })
        }
        return names
    }
}
