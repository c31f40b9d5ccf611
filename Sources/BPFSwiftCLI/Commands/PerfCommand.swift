#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift perf`: BPF programs behind perf events and raw tracepoints of
/// every process (BPF_TASK_FD_QUERY); bpftool's output.
enum PerfCommand {
    static let group = CommandGroup(
        name: "perf",
        summary: "Programs attached through perf events and raw tracepoints, by process",
        commands: [
            Command("show", usage: ["{ show | list }"],
                    summary: "For every process and file descriptor that holds a tracepoint, raw tracepoint, kprobe or "
                        + "uprobe with a BPF program: pid, fd, program id and what it is attached to, as bpftool prints them.",
                    run: show),
            Command("list", usage: [], summary: "The same as show.", run: show),
        ]
    )

    static func show(_ args: inout Arguments, _ ctx: Context) throws {
        try args.expectEnd()
        try TaskFDAttachment.checkSupport()
        let all = TaskFDAttachment.all()
        if ctx.json {
            ctx.emitJSON { w in
                w.beginArray()
                for a in all { json(a, &w) }
                w.endArray()
            }
        } else {
            for a in all { ctx.out.write(text(a)) }
        }
    }

    static func json(_ a: TaskFDAttachment, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("pid", a.pid)
        w.field("fd", a.fd)
        w.field("prog_id", a.programID)
        switch a.kind {
        case .rawTracepoint, .tracepoint:
            w.field("fd_type", a.kind.isRaw ? "raw_tracepoint" : "tracepoint")
            w.field("tracepoint", a.name)
        case .kprobe, .kretprobe:
            w.field("fd_type", a.kind.isReturn ? "kretprobe" : "kprobe")
            if !a.name.isEmpty { w.field("func", a.name); w.field("offset", a.probeOffset) } else { w.field("addr", a.probeAddress) }
        case .uprobe, .uretprobe:
            w.field("fd_type", a.kind.isReturn ? "uretprobe" : "uprobe")
            w.field("filename", a.name)
            w.field("offset", a.probeOffset)
        case .other:
            break
        }
        w.endObject()
    }

    static func text(_ a: TaskFDAttachment) -> String {
        var s = "pid \(a.pid)  fd \(a.fd): prog_id \(a.programID)  "
        switch a.kind {
        case .rawTracepoint: s += "raw_tracepoint  \(a.name)\n"
        case .tracepoint: s += "tracepoint  \(a.name)\n"
        case .kprobe, .kretprobe:
            let k = a.kind.isReturn ? "kretprobe" : "kprobe"
            s += a.name.isEmpty ? "\(k)  addr \(a.probeAddress)\n" : "\(k)  func \(a.name)  offset \(a.probeOffset)\n"
        case .uprobe, .uretprobe:
            s += "\(a.kind.isReturn ? "uretprobe" : "uprobe")  filename \(a.name)  offset \(a.probeOffset)\n"
        case .other: break
        }
        return s
    }
}

extension TaskFDAttachment.Kind {
    var isRaw: Bool { if case .rawTracepoint = self { return true }; return false }
    var isReturn: Bool {
        switch self { case .kretprobe, .uretprobe: return true; default: return false }
    }
}
