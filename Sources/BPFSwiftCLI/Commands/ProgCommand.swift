#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift prog`: BPF programs: show, pin.
enum ProgCommand {
    static let progGrammar = "PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }"
    static let selectorWords = ["id", "pinned", "tag", "name"]

    static let group = CommandGroup(
        name: "prog",
        summary: "BPF programs: show, pin",
        commands: [
            Command("show", usage: ["{ show | list } [PROG] [--metadata [KEY[=VALUE]]]"],
                    summary: "Show every loaded program, or those PROG selects (a name or a tag may select several), "
                        + "as bpftool does: id, type, name, tag, license, load time, uid, translated and JITed sizes, "
                        + "memlock, map ids, BTF id, and the metadata the program carries (bpf_metadata_* variables "
                        + "in its .rodata); -j prints bpftool's JSON keys and values, -f adds the pinned paths. "
                        + "--metadata keeps only the programs that carry metadata; --metadata KEY those that carry "
                        + "KEY; --metadata KEY=VALUE those whose KEY has that value (a string matches without its quotes).",
                    run: show),
            Command("list", usage: [], summary: "The same as show.", run: show),
            Command("pin", usage: ["pin PROG FILE"],
                    summary: "Pin the program PROG selects at FILE, a new name on a bpffs mount: the pin keeps the "
                        + "program loaded after every process that holds it has exited, until the pin is removed. "
                        + "A name or tag that selects several programs is an error.",
                    run: pin),
            dumpCommand,
        ] + loadRunCommands,
        grammar: [progGrammar, "MAP := { id MAP_ID | pinned FILE | name MAP_NAME }"]
    )

    /// Splits `--metadata [KEY[=VALUE]]` (or `--metadata=KEY[=VALUE]`) off the words.
    static func extractMetadataFilter(_ words: [String], commandPath: String) throws -> (rest: [String], filter: MetadataFilter?) {
        var rest: [String] = []
        var filter: MetadataFilter?
        var i = 0
        while i < words.count {
            let w = words[i]
            if w == "--metadata" {
                if i + 1 < words.count, !words[i + 1].hasPrefix("-") {
                    filter = MetadataFilter(parsing: words[i + 1])
                    i += 2
                } else {
                    filter = MetadataFilter()
                    i += 1
                }
            } else if w.hasPrefix("--metadata=") {
                filter = MetadataFilter(parsing: String(w.dropFirst("--metadata=".count)))
                i += 1
            } else {
                rest.append(w)
                i += 1
            }
            if let f = filter, let k = f.key, k.isEmpty {
                throw UsageError("\(commandPath): --metadata expects KEY or KEY=VALUE, got an empty key")
            }
        }
        return (rest, filter)
    }

    /// `prog show [PROG] [--metadata [KEY[=VALUE]]]`: bpftool's do_show.
    static func show(_ args: inout Arguments, _ ctx: Context) throws {
        let (words, filter) = try extractMetadataFilter(args.remaining, commandPath: args.commandPath)
        while args.next() != nil {}
        var sel = Arguments(words, commandPath: args.commandPath)
        let selector: Selector? = sel.isEmpty ? nil : try sel.selector("PROG", allowed: selectorWords)
        try sel.expectEnd()

        let reader = MetadataReader()
        let pins: PinnedIndex? = ctx.options.bpffs ? ctx.pinned : nil
        let anyPinned = pins?.hasPins(.program) ?? false

        func view(_ p: Program) -> ProgView? {
            let metadata = p.info.mapIDs.isEmpty ? nil : reader.metadata(for: p.info)
            if let filter, !filter.matches(metadata) { return nil }
            let pinned: [String]? = anyPinned ? pins!.pathsInBpftoolOrder(.program, id: p.id.rawValue) : nil
            let v = ProgView(info: p.info, pinned: pinned, metadata: metadata, json: ctx.json)
            if let e = v.metadataError {
                ctx.warn("program \(p.id): metadata \(metadata!.entries[v.metadataCount].name): \(e)")
            }
            return v
        }

        var w = ctx.makeJSONWriter()
        // Compact JSON: each program's object is formatted in place and
        // written straight to the output, and the array's brackets and
        // commas are written here: no JSONWriter array in between, which
        // grew to 128 KiB and was handed over (and a new one mapped) every
        // 64 KiB: ~60 page faults for 600 programs.
        let compact = ctx.json && !w.pretty ? CompactJSONBuffer() : nil
        var emitted = 0
        func beginArray() {
            if compact != nil { ctx.out.write("[") } else { w.beginArray() }
        }
        func endArray() {
            if compact != nil { ctx.out.write("]") } else { w.endArray() }
        }
        func emit(_ v: ProgView) {
            if let compact {
                if emitted > 0 { ctx.out.write(",") }
                if v.canWriteCompactJSON {
                    compact.reset()
                    v.writeCompactJSON(to: compact)
                    ctx.out.write(raw: compact.bytes)
                } else {
                    var one = ctx.makeJSONWriter()
                    v.writeJSON(to: &one)
                    ctx.out.write(bytes: one.bytes)
                }
            } else if ctx.json {
                v.writeJSON(to: &w)
                if w.bytes.count >= 1 << 16 { ctx.out.write(bytes: w.take()) }
            } else {
                ctx.out.write(v.text())
            }
            emitted += 1
        }

        if let selector {
            let programs = try Program.select(selector)
            defer { for p in programs { p.fd.close() } }
            // bpftool prints one object for one program, an array for several;
            // a --metadata filter always answers with an array (maybe empty).
            let asArray = programs.count > 1 || filter != nil
            if ctx.json && asArray { beginArray() }
            for p in programs {
                if let v = view(p) { emit(v) }
            }
            if ctx.json && asArray { endArray() }
        } else {
            if ctx.json { beginArray() }
            try Program.forEach { p in
                if let v = view(p) { emit(v) }
            }
            if ctx.json { endArray() }
        }
        if ctx.json {
            ctx.out.write(bytes: w.take())
            ctx.out.line()
        }
    }

    /// `prog pin PROG FILE`: bpftool's do_pin.
    static func pin(_ args: inout Arguments, _ ctx: Context) throws {
        let selector = try args.selector("PROG", allowed: selectorWords)
        let path = try args.require("FILE")
        try args.expectEnd()
        let program = try Program.selectOne(selector)
        defer { program.fd.close() }
        do {
            try program.pin(at: path)
        } catch {
            var e = error
            let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
            if !Kernel.isOnBPFFS(dir.isEmpty ? "/" : dir) {
                e.detail = "directory \(dir.isEmpty ? "/" : dir) is not on a bpffs mount"
            }
            throw e
        }
        if ctx.json { ctx.out.line("null") }
    }
}
