#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// The command-line entry point: parses global options, selects the object
/// and verb by prefix, runs it, and turns errors into exit statuses.
public enum CLI {
    public static let version = "0.1.0"

    /// Set by the bpfswift executable, which exits as soon as `run` returns
    /// (batch runs in one process leave it off). Then a command may keep
    /// descriptors of kernel objects that are pinned anyway open until exit,
    /// which closes them without a close(2) each: `object pin --attach`
    /// holds some 250 for the 100-program bench object, and each close would
    /// also run every program it attached to a syscall tracepoint.
    nonisolated(unsafe) public static var exitsAfterRun = false
    /// What `exitsAfterRun` lets commands keep (never released).
    nonisolated(unsafe) static var keptUntilExit: [AnyObject] = []

    static let optionsGrammar = "OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} | {-f|--bpffs} | {-h|--help} | {-V|--version} }"

    /// Every object's command table, in `objectWords` order (help, man pages,
    /// completions).
    public static var groups: [CommandGroup] {
        objectWords.compactMap(group(named:))
    }

    /// The table of one object word. A run builds only the table it
    /// dispatches into: building all of them (help texts, the map type
    /// list) was a tenth of a small command's start-up.
    static func group(named name: String) -> CommandGroup? {
        switch name {
        case "prog": return ProgCommand.group
        case "map": return MapCommand.group
        case "link": return LinkCommand.group
        case "object": return ObjectCommand.group
        case "struct_ops": return StructOpsCommand.group
        case "gen": return GenCommand.group
        case "btf": return BTFCommand.group
        case "net": return NetCommand.group
        case "cgroup": return CgroupCommand.group
        case "perf": return PerfCommand.group
        case "iter": return IterCommand.group
        case "feature": return FeatureCommand.group
        default: return nil
        }
    }

    /// The object words. Order matters: prefixes select the first match.
    static let objectWords = ["prog", "map", "link", "object", "struct_ops", "gen", "btf", "net", "cgroup", "perf", "iter", "feature", "version", "help"]

    public static var usageText: String {
        """
        Usage: bpfswift [OPTIONS] OBJECT { COMMAND | help }
               bpfswift version

               OBJECT := { prog | map | link | object | struct_ops | gen | btf | net | cgroup | perf | iter | feature | version | help }
               \(optionsGrammar)

        """
    }

    /// Runs `arguments` (argv without the program name is fine too: argv[0] is skipped
    /// when `skipProgramName`), writing to the given sinks. Returns the exit status.
    public static func run(_ argv: [String], out: OutputSink, err: OutputSink, skipProgramName: Bool = true) -> Int32 {
        var status = runCommand(argv, out: out, err: err, skipProgramName: skipProgramName)
        // Output is checked: a write that failed (a full disk, /dev/full, a
        // reader that went away) is a failure with one line on stderr, unless
        // the command already failed and said why.
        out.flush()
        if let e = out.writeError, status == 0 {
            err.line("Error: " + outputErrorMessage(e))
            status = 1
        }
        err.flush()
        return status
    }

    /// What a failed write to standard output says.
    static func outputErrorMessage(_ errno: Int32) -> String {
        BPFError("write to standard output", errno: errno).description
    }

    private static func runCommand(_ argv: [String], out: OutputSink, err: OutputSink, skipProgramName: Bool) -> Int32 {
        let args = skipProgramName ? Array(argv.dropFirst()) : argv
        var options = GlobalOptions()
        var rest: [String] = []
        var showHelp = false, showVersion = false
        var endOfOptions = false
        for a in args {
            if endOfOptions { rest.append(a); continue }
            switch a {
            case "--": endOfOptions = true
            case "--json": options.json = true
            case "--pretty": options.json = true; options.pretty = true
            case "--debug": options.debug = true
            case "--bpffs": options.bpffs = true
            case "--help": showHelp = true
            case "--version": showVersion = true
            default:
                if a.count >= 2, a.hasPrefix("-"), !a.hasPrefix("--"),
                   a.dropFirst().allSatisfy({ "jpdfhV".contains($0) }) {
                    for c in a.dropFirst() {
                        switch c {
                        case "j": options.json = true
                        case "p": options.json = true; options.pretty = true
                        case "d": options.debug = true
                        case "f": options.bpffs = true
                        case "h": showHelp = true
                        default: showVersion = true
                        }
                    }
                } else {
                    rest.append(a)
                }
            }
        }
        setLibbpfDebug(options.debug)
        // With -j an error must be the only thing on stdout: the command's
        // output is held until it has succeeded, and dropped when it fails
        // (up to a limit: a long dump streams, see OutputSink(holdingFor:)).
        let held = options.json ? OutputSink(holdingFor: out) : nil
        let ctx = Context(options: options, out: held ?? out, err: err)
        // Where errors go: the real sinks, past what was held.
        let errorCtx = Context(options: options, out: out, err: err)
        var failed = false
        defer {
            if let held {
                if failed { held.discard() } else { held.release() }
            }
            out.flush(); err.flush()
        }
        do {
            if showVersion { try VersionCommand.run(ctx); return 0 }
            if rest.isEmpty || (showHelp && rest.count == 1 && !objectWords.contains(where: { $0.hasPrefix(rest[0]) })) {
                if showHelp { out.write(usageText); return 0 }
                // A failure: the usage and the error line go to stderr (stdout stays for -j's {"error": ...}).
                err.write(usageText)
                throw UsageError("expected an OBJECT")
            }
            let word = rest[0]
            // An empty word is no prefix (bpftool's is_prefix): `bpfswift "" ...` must not run the first object.
            guard !word.isEmpty, let object = objectWords.first(where: { $0.hasPrefix(word) }) else {
                if word.count > 1 && word.hasPrefix("-") {
                    throw UsageError("unknown option '\(word)'; expected \(optionsGrammar)")
                }
                throw UsageError("unknown object '\(word)'; expected one of: \(objectWords.joined(separator: ", "))")
            }
            switch object {
            case "version":
                try VersionCommand.run(ctx); return 0
            case "help":
                // `help --man [OBJECT]` prints a man page generated from the command tables.
                if rest.count >= 2 && rest[1] == "--man" {
                    if rest.count == 2 { out.write(ManPage.renderMain(groups)); return 0 }
                    guard !rest[2].isEmpty, let g = groups.first(where: { $0.name.hasPrefix(rest[2]) }) else {
                        throw UsageError("help --man: unknown object '\(rest[2])'; expected one of: \(groups.map(\.name).joined(separator: ", "))")
                    }
                    out.write(ManPage.render(g)); return 0
                }
                out.write(usageText); return 0
            default:
                let group = group(named: object)!
                try dispatch(group, Array(rest.dropFirst()), ctx, help: showHelp)
                return 0
            }
        } catch let e as UsageError {
            failed = true
            report(e.message + (e.message.contains("help'") ? "" : ""), errorCtx)
            return 2
        } catch let e as BPFError {
            failed = true
            report(e.explainingPrivileges().description, errorCtx)
            return 1
        } catch {
            failed = true
            report("\(error)", errorCtx)
            return 1
        }
    }

    static func dispatch(_ group: CommandGroup, _ words: [String], _ ctx: Context, help: Bool) throws {
        if help || words.first.map({ "help".hasPrefix($0) && $0.count >= 1 && group.select($0) == nil }) == true
            || words.first == "help" {
            ctx.out.write(group.usageText)
            return
        }
        let command: Command
        var rest = words
        if let w = words.first {
            guard let c = group.select(w) else {
                let verbs = group.commands.map(\.name) + ["help"]
                throw UsageError("unknown command '\(w)' for \(group.name); expected one of: \(verbs.joined(separator: ", "))")
            }
            command = c
            rest.removeFirst()
        } else {
            guard let c = group.commands.first else {
                throw UsageError("\(group.name): expected a command; see 'bpfswift \(group.name) help'")
            }
            command = c
        }
        var args = Arguments(rest, commandPath: "\(group.name) \(command.name)")
        do {
            try command.run(&args, ctx)
        } catch let e as UsageError {
            // Name the expected form: the verb's usage line (a verb without its own
            // line, like list, shares the line that names it: "{ show | list } ...").
            let lines = command.usage.isEmpty
                ? group.commands.flatMap(\.usage).filter { $0.hasPrefix("{") && $0.contains(" \(command.name) ") }
                : command.usage
            let hint = e.message.contains(" help'") || e.message.contains("; usage: ") ? ""
                : lines.isEmpty ? "; see 'bpfswift \(group.name) help'"
                : "; usage: " + lines.map { "bpfswift \(group.name) " + $0 }.joined(separator: " | ")
            throw UsageError(e.message + hint)
        }
    }

    /// One error line on stderr; with -j also `{"error": ...}` on stdout, as bpftool does.
    static func report(_ message: String, _ ctx: Context) {
        // One line, whatever the words in it hold (a path or name with a
        // newline or a terminal escape).
        ctx.err.line("Error: " + TextEscape.controls(message))
        if ctx.json {
            var w = JSONWriter(pretty: ctx.options.pretty)
            w.beginObject(); w.field("error", message); w.endObject()
            ctx.out.write(bytes: w.bytes)
            ctx.out.line()
        }
    }
}

/// `bpfswift version`: our version, the libbpf in use, and whether bpffs is mounted.
enum VersionCommand {
    static func run(_ ctx: Context) throws {
        let mounts = Kernel.bpffsMounts()
        if ctx.json {
            ctx.emitJSON { w in
                w.beginObject()
                w.field("version", CLI.version)
                w.field("libbpf_version", Kernel.libbpfVersion)
                w.field("bpffs_mounted", !mounts.isEmpty)
                w.key("bpffs_mounts"); w.beginArray(); for m in mounts { w.string(m) }; w.endArray()
                w.endObject()
            }
        } else {
            ctx.out.line("bpfswift v\(CLI.version)")
            ctx.out.line("using libbpf v\(Kernel.libbpfVersion)")
            ctx.out.line("bpffs: " + (mounts.isEmpty ? "not mounted" : "mounted at " + mounts.joined(separator: ", ")))
        }
    }
}
