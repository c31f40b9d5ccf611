#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `prog load|loadall|attach|detach|run|tracelog`: bpftool's verbs for
/// loading object files, attaching programs to maps, test runs and the trace pipe.
extension ProgCommand {
    static let loadRunCommands: [Command] = [
        Command("load", usage: ["{ load | loadall } OBJ PATH [type TYPE] [map { idx IDX | name NAME } MAP]... [pinmaps DIR] [autoattach]"],
                summary: "Load OBJ and pin its first program at PATH (loadall: every program at PATH/NAME), as bpftool does. "
                    + "type TYPE sets every program's type (xdp, kprobe, ...) instead of its section's; map idx IDX MAP or "
                    + "map name NAME MAP makes the object's map reuse MAP; pinmaps DIR pins the maps at DIR/NAME; "
                    + "autoattach attaches each program as its section says and pins the link instead (a program that "
                    + "cannot attach is pinned itself).",
                run: { try load(&$0, $1, all: false) }),
        Command("loadall", usage: [], summary: "load, for every program of OBJ.", run: { try load(&$0, $1, all: true) }),
        Command("attach", usage: ["attach PROG ATTACH_TYPE [MAP]"],
                summary: "Attach PROG to MAP (a sockmap or sockhash) as sk_skb_stream_parser, sk_skb_stream_verdict, "
                    + "sk_skb_verdict or sk_msg_verdict (stream_parser, stream_verdict, skb_verdict, msg_verdict as "
                    + "bpftool also accepts), or as flow_dissector to the current network namespace (no MAP).",
                run: { try attachDetach(&$0, $1, attach: true) }),
        Command("detach", usage: ["detach PROG ATTACH_TYPE [MAP]"],
                summary: "Detach what attach attached.", run: { try attachDetach(&$0, $1, attach: false) }),
        Command("run", usage: ["run PROG [data_in FILE [data_out FILE [data_size_out L]]] [ctx_in FILE [ctx_out FILE [ctx_size_out M]]] [repeat N]"],
                summary: "Run PROG once (or N times) in the kernel on the bytes of data_in and the context of ctx_in "
                    + "(BPF_PROG_TEST_RUN; FILE - is standard input or output) and print its return value and duration "
                    + "as bpftool does; data_out and ctx_out receive what the program left (- prints a hex dump, or with "
                    + "-j a byte array).",
                run: testRun),
        Command("tracelog", usage: ["tracelog"],
                summary: "Print the kernel's trace pipe (bpf_printk output) until interrupted; -j prints a JSON array of lines.",
                run: tracelog),
    ]

    /// `prog load|loadall OBJ PATH [type TYPE] [map {idx IDX|name NAME} MAP]... [pinmaps DIR] [autoattach]`.
    static func load(_ args: inout Arguments, _ ctx: Context, all: Bool) throws {
        let file = try args.require("OBJ")
        let path = try args.require("PATH")
        var o = ProgramLoadOptions()
        o.all = all
        while let w = args.next() {
            if !w.isEmpty && "type".hasPrefix(w) {
                if o.type != nil { throw UsageError("\(args.commandPath): program type already specified") }
                o.type = try args.require("TYPE")
            } else if !w.isEmpty && "map".hasPrefix(w) {
                guard args.remaining.count >= 4 else { throw UsageError("\(args.commandPath): map needs { idx IDX | name NAME } MAP") }
                let how = args.next()!
                let which: MapReplacement.Which
                if !how.isEmpty && "idx".hasPrefix(how) {
                    let v = args.next()!
                    guard let i = Int(v), i >= 0 else { throw UsageError("\(args.commandPath): can't parse \(v) as IDX") }
                    which = .index(i)
                } else if !how.isEmpty && "name".hasPrefix(how) {
                    which = .name(args.next()!)
                } else {
                    throw UsageError("\(args.commandPath): expected 'idx' or 'name', got: '\(how)'?")
                }
                let selector = try args.selector("MAP", allowed: ["id", "pinned", "name"])
                o.replacements.append(MapReplacement(which, map: try openOneMap(selector)))
            } else if !w.isEmpty && "pinmaps".hasPrefix(w) {
                o.pinMaps = try args.require("DIR")
            } else if !w.isEmpty && "autoattach".hasPrefix(w) {
                o.autoattach = true
            } else {
                throw UsageError("\(args.commandPath): expected no more arguments, 'type', 'map', 'pinmaps' or 'autoattach', got: '\(w)'?")
            }
        }
        let notAttached = try ProgramLoader.load(file, at: path, o)
        for n in notAttached { ctx.err.line("Program \(n) does not support autoattach, falling back to pinning") }
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    /// The one map a MAP selector names.
    static func openOneMap(_ selector: Selector) throws -> FileDescriptor {
        switch selector {
        case .id(let id): return try Kernel.open(.map, id: id)
        case .pinned(let p): return try Kernel.openPinned(p, as: .map)
        default:
            var found: [FileDescriptor] = []
            for id in try Kernel.ids(.map) {
                guard let fd = try? Kernel.open(.map, id: id), let info = try? MapInfo(fd: fd) else { continue }
                if case .name(let n) = selector, info.name == n { found.append(fd) } else { fd.close() }
            }
            guard found.count == 1 else {
                found.forEach { $0.close() }
                throw BPFError(found.isEmpty ? "no map matches \(selector)" : "several maps match \(selector)",
                               errno: found.isEmpty ? ENOENT : EINVAL)
            }
            return found[0]
        }
    }

    /// `prog attach|detach PROG ATTACH_TYPE [MAP]`.
    static func attachDetach(_ args: inout Arguments, _ ctx: Context, attach: Bool) throws {
        let selector = try args.selector("PROG", allowed: selectorWords)
        let word = try args.require("ATTACH_TYPE")
        guard let type = ProgramMapAttach.attachType(word) else {
            throw UsageError("\(args.commandPath): invalid attach/detach type")
        }
        var map: FileDescriptor? = nil
        if ProgramMapAttach.needsMap(type) {
            map = try openOneMap(try args.selector("MAP", allowed: ["id", "pinned", "name"]))
        }
        defer { map?.close() }
        try args.expectEnd()
        let program = try Program.selectOne(selector)
        defer { program.fd.close() }
        if attach {
            try ProgramMapAttach.attach(program: program.fd, type: type, map: map)
        } else {
            try ProgramMapAttach.detach(program: program.fd, type: type, map: map)
        }
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    /// `prog run PROG [data_in FILE ...] [ctx_in FILE ...] [repeat N]`.
    static func testRun(_ args: inout Arguments, _ ctx: Context) throws {
        let selector = try args.selector("PROG", allowed: selectorWords)
        var dataIn: String?, dataOut: String?, ctxIn: String?, ctxOut: String?
        var dataSizeOut: UInt32 = 0, ctxSizeOut: UInt32 = 0, count: UInt32 = 1
        func number(_ what: String) throws -> UInt32 {
            let v = try args.require(what)
            let parsed = v.hasPrefix("0x") ? UInt32(v.dropFirst(2), radix: 16) : UInt32(v)
            guard let n = parsed else { throw UsageError("\(args.commandPath): can't parse \(v) as \(what)") }
            return n
        }
        let words = ["data_in", "data_out", "data_size_out", "ctx_in", "ctx_out", "ctx_size_out", "repeat"]
        while let w = args.next() {
            let matches = words.filter { !w.isEmpty && $0.hasPrefix(w) }
            if matches.count > 1 {
                throw UsageError("\(args.commandPath): parsing \(w): ambiguous prefix of \(matches.joined(separator: ", "))")
            }
            switch matches.first {
            case "data_in": dataIn = try args.require("FILE")
            case "data_out": dataOut = try args.require("FILE")
            case "data_size_out": dataSizeOut = try number("output data size")
            case "ctx_in": ctxIn = try args.require("FILE")
            case "ctx_out": ctxOut = try args.require("FILE")
            case "ctx_size_out": ctxSizeOut = try number("output context size")
            case "repeat": count = try number("repeat number")
            default:
                throw UsageError("\(args.commandPath): expected no more arguments, 'data_in', 'data_out', 'data_size_out', "
                                 + "'ctx_in', 'ctx_out', 'ctx_size_out' or 'repeat', got: '\(w)'?")
            }
        }
        if dataIn == "-" && ctxIn == "-" { throw UsageError("\(args.commandPath): cannot use standard input for both data_in and ctx_in") }
        let program = try Program.selectOne(selector)
        defer { program.fd.close() }
        let r = try ProgramTestRun.run(program.fd, dataIn: try dataIn.map(readInput), dataSizeOut: dataSizeOut,
                                       ctxIn: try ctxIn.map(readInput), ctxSizeOut: ctxSizeOut, repeat: count)
        var w = ctx.makeJSONWriter()
        if ctx.json { w.beginObject() }
        for (bytes, file, key) in [(r.dataOut, dataOut, "data_out"), (r.ctxOut, ctxOut, "ctx_out")] {
            guard let bytes, let file else { continue }
            if file == "-" {
                if ctx.json {
                    w.key(key); w.beginArray(); for b in bytes { w.int(b) }; w.endArray()
                } else {
                    ctx.out.write(hexDump(bytes))
                }
            } else {
                try writeOutput(bytes, to: file)
            }
        }
        if ctx.json {
            w.field("retval", r.retval)
            w.field("duration", r.duration)
            w.endObject()
            ctx.out.write(bytes: w.bytes)
            ctx.out.line()
        } else {
            ctx.out.line("Return value: \(r.retval), duration\(count > 1 ? " (average)" : ""): \(r.duration)ns")
        }
    }

    private static func readInput(_ file: String) throws -> [UInt8] {
        let fd = file == "-" ? 0 : open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError("failed to open \(file)", errno: errno) }
        defer { if fd != 0 { close(fd) } }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw BPFError("failed to read \(file)", errno: errno) }
            if n == 0 { break }
            out += buf[0..<n]
            if out.count > UInt32.max - 65536 { throw BPFError("\(file) is too large", errno: E2BIG) }
        }
        return out
    }

    private static func writeOutput(_ bytes: [UInt8], to file: String) throws {
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BPFError("failed to open \(file)", errno: errno) }
        defer { close(fd) }
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw BPFError("failed to write output data/ctx", errno: errno) }
            off += n
        }
    }

    /// bpftool's hex_print: offset, 16 bytes in pairs, and their ASCII.
    static func hexDump(_ data: [UInt8]) -> String {
        let hex = Array("0123456789abcdef")
        var s = ""
        var i = 0
        while i < data.count {
            let offset = String(i, radix: 16)
            s += String(repeating: "0", count: max(0, 7 - offset.count)) + offset + "\t"
            var j = i
            while j < i + 16 && j < data.count {
                s.append(hex[Int(data[j] >> 4)]); s.append(hex[Int(data[j] & 15)])
                if j % 2 == 1 { s += " " }
                j += 1
            }
            while j < i + 16 { s += j % 2 == 1 ? "   " : "  "; j += 1 }
            s += "| "
            j = i
            while j < i + 16 && j < data.count {
                let c = data[j]
                s.append(c < 0x20 || c > 0x7e ? "." : Character(Unicode.Scalar(c)))
                if j == i + 7 { s += " " }
                j += 1
            }
            s += "\n"
            i += 16
        }
        return s
    }

    /// `prog tracelog`: copies trace_pipe until SIGINT/SIGTERM/SIGHUP
    /// (with -j, a JSON array closed at the signal).
    static func tracelog(_ args: inout Arguments, _ ctx: Context) throws {
        try args.expectEnd()
        guard let path = TracePipe.path() else { throw BPFError("could not find tracefs") }
        guard let f = fopen(path, "r") else { throw BPFError("could not open trace pipe", errno: errno) }
        defer { fclose(f) }
        // The signals end the read: handled by a flag (no SA_RESTART), so getline returns.
        TraceLogSignal.install()
        var w = ctx.makeJSONWriter()
        if ctx.json { w.beginArray(); ctx.out.write(bytes: w.take()); ctx.out.flush() }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while TraceLogSignal.received == 0 {
            let n = getline(&line, &cap, f)
            if n <= 0 {
                if TraceLogSignal.received != 0 { break }
                if errno == EINTR { clearerr(f); continue }
                throw BPFError("failed to read content from trace pipe", errno: errno)
            }
            let text = String(cString: line!)
            if ctx.json { w.string(text); ctx.out.write(bytes: w.take()) } else { ctx.out.write(text) }
            ctx.out.flush()
        }
        if ctx.json { w.endArray(); ctx.out.write(bytes: w.take()); ctx.out.line() }
    }
}

/// The signal flag of `prog tracelog`.
enum TraceLogSignal {
    nonisolated(unsafe) static var received: sig_atomic_t = 0

    static func install() {
        // A parent may hand the signals down blocked (as test runners do).
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGHUP] {
            sigaddset(&set, s)
        }
        sigprocmask(SIG_UNBLOCK, &set, nil)
        for s in [SIGINT, SIGTERM, SIGHUP] {
            var act = sigaction()
            act.__sigaction_handler.sa_handler = { _ in TraceLogSignal.received = 1 }
            sigemptyset(&act.sa_mask)
            act.sa_flags = 0
            sigaction(s, &act, nil)
        }
    }
}
