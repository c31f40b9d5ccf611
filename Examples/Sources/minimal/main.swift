// minimal: load a counter, attach it, and watch it count.
//   minimal [SECONDS]    (default: until Ctrl-C)
// Each second this process writes a line; the BPF program counts the
// write(2) calls it sees from this process, and the line shows the count.
import BPFCore
#if canImport(Glibc)
import Glibc
#endif

let seconds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) : nil
if CommandLine.arguments.count > 2 || (CommandLine.arguments.count == 2 && seconds == nil) {
    fputs("usage: minimal [SECONDS]\n", stderr)
    exit(2)
}

do {
    let skel = try MinimalSkeleton()
    skel.rodata.watched_pid = UInt32(getpid())   // .rodata: set before load
    try skel.load()
    try skel.attach()
    print("counting write(2) calls of pid \(getpid()); Ctrl-C to stop")
    var tick = 0
    while seconds.map({ tick < $0 }) ?? true {
        sleep(1)
        tick += 1
        print("second \(tick): \(skel.bss.write_calls) write calls so far")   // .bss: live
        fflush(stdout)
    }
} catch {
    fputs("minimal: \(error)\n", stderr)
    exit(1)
}
