// task_iter: list processes with a BPF task iterator.
//   task_iter [COMM]     (only processes whose command name is COMM)
// The iterator link is pinned on bpffs for the time of one read: reading
// the pin runs the program over every task.
import BPFCore
#if canImport(Glibc)
import Glibc
#endif

let filter = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : nil
if CommandLine.arguments.count > 2 {
    fputs("usage: task_iter [COMM]\n", stderr)
    exit(2)
}

/// Reads the whole file at `path` (an iterator pin: each open walks anew).
func readAll(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw BPFError("open \(path)", errno: errno) }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw BPFError("read \(path)", errno: errno) }
        if n == 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

do {
    let skel = try TaskIterSkeleton()
    try skel.load()
    let link = try skel.programs.list_processes.attach()
    let pin = "/sys/fs/bpf/task_iter-\(getpid())"
    try link.pin(at: pin)
    defer { unlink(pin) }
    let text = try readAll(pin)
    print("PID      PPID     UID   COMM")
    for line in text.split(separator: "\n") {
        let comm = line.split(separator: " ").dropFirst(3).joined(separator: " ")
        if let filter, comm != filter { continue }
        print(line)
    }
} catch {
    fputs("task_iter: \(error)\n", stderr)
    exit(1)
}
