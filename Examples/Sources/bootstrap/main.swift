// bootstrap: process execs and exits as a table, read from a ring buffer.
//   bootstrap [-d MIN_DURATION_MS] [-t SECONDS]
// With -d, only exits of processes that ran at least that long are shown.
// Runs until Ctrl-C (or for SECONDS), then detaches and exits cleanly.
import BPFCore
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

func usage() -> Never {
    fputs("usage: bootstrap [-d MIN_DURATION_MS] [-t SECONDS]\n", stderr)
    exit(2)
}

var minDurationMs: UInt64 = 0
var seconds: UInt64?
var rest = CommandLine.arguments.dropFirst()
while let flag = rest.popFirst() {
    guard let value = rest.popFirst().flatMap({ UInt64($0) }) else { usage() }
    switch flag {
    case "-d": minDurationMs = value
    case "-t": seconds = value
    default: usage()
    }
}

/// The local time of day, as "HH:MM:SS".
func timeOfDay() -> String {
    var now = time(nil)
    var parts = tm()
    localtime_r(&now, &parts)
    var buf = [CChar](repeating: 0, count: 16)
    strftime(&buf, buf.count, "%H:%M:%S", &parts)
    return String(cString: buf)
}

func column(_ s: String, _ width: Int) -> String {
    s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
}

do {
    let skel = try BootstrapSkeleton()
    skel.rodata.min_duration_ns = minDurationMs * 1_000_000   // .rodata: before load
    try skel.load()
    try skel.attach()

    // Leaving the loop (here: cancelling its task) frees the ring buffer reader.
    let reader = Task {
        print(column("TIME", 9) + column("EVENT", 6) + column("COMM", 17) + column("PID", 8) + column("PPID", 8)
              + "FILENAME/EXIT CODE")
        for try await e in skel.maps.events.records(as: BootstrapSkeleton.Types.event.self) {
            var line = column(timeOfDay(), 9)
            line += column(e.is_exit != 0 ? "EXIT" : "EXEC", 6)
            line += column(e.comm.string, 17) + column("\(e.pid)", 8) + column("\(e.ppid)", 8)
            if e.is_exit != 0 {
                line += "[\(e.exit_code)]"
                if e.duration_ns != 0 { line += " (\(e.duration_ns / 1_000_000)ms)" }
            } else {
                line += e.filename.string
            }
            print(line)
            fflush(stdout)
        }
    }

    // Ctrl-C (SIGINT) or SIGTERM, or the time limit, ends the loop.
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let stops = [SIGINT, SIGTERM].map { sig in
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { reader.cancel() }
        source.resume()
        return source
    }
    if let seconds {
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(Int(seconds))) { reader.cancel() }
    }
    do {
        try await reader.value
    } catch is CancellationError {
    }
    stops.forEach { $0.cancel() }
    skel.detach()
    print("detached; bye")
} catch {
    fputs("bootstrap: \(error)\n", stderr)
    exit(1)
}
