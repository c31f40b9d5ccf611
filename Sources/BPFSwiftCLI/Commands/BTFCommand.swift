#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift btf`: BTF objects: show, dump (raw or as a C header).
enum BTFCommand {
    static let group = CommandGroup(
        name: "btf",
        summary: "BTF objects: show, dump as raw types or as a C header (vmlinux.h)",
        commands: [
            Command("show", usage: ["{ show | list } [id BTF_ID]"],
                    summary: "Show every BTF object the kernel holds, or the one BTF_ID names, as bpftool does: "
                        + "id, name (in brackets for kernel BTF), size, and the ids of the programs and maps that "
                        + "use it; -j prints bpftool's JSON keys.",
                    run: show),
            Command("list", usage: [], summary: "The same as show.", run: show),
            Command("dump", usage: ["dump BTF_SRC [format { raw | c [unsorted] }]"],
                    summary: "Print the types of a BTF object. raw (the default) lists every type with its "
                        + "fields, as bpftool does (-j prints bpftool's JSON); c writes a compilable C header: "
                        + "`btf dump file /sys/kernel/btf/vmlinux format c` is the vmlinux.h of CO-RE builds, "
                        + "byte for byte bpftool 7.5's (types in bpftool's stable order; unsorted keeps id order). "
                        + "A map source dumps the key and value types (key, value, kv or all selects); module "
                        + "BTF (/sys/kernel/btf/MODULE, or a module's id) is read on top of vmlinux.",
                    run: dump),
        ],
        grammar: [
            "BTF_SRC := { id BTF_ID | prog PROG | map MAP [{ key | value | kv | all }] | file FILE }",
            ProgCommand.progGrammar,
            "MAP := { id MAP_ID | pinned FILE | name MAP_NAME }",
        ]
    )

    // MARK: show

    /// `btf show [id BTF_ID]`: bpftool's do_show.
    static func show(_ args: inout Arguments, _ ctx: Context) throws {
        var one: BTFID?
        if !args.isEmpty {
            let word = try args.require("id BTF_ID")
            guard isPrefix(word, of: "id") else { throw UsageError("\(args.commandPath): expected 'id', got: '\(word)'") }
            let value = try args.require("BTF_ID")
            guard let id = parseCUnsigned(value, base: 0).flatMap(UInt32.init(exactly:)) else {
                throw UsageError("\(args.commandPath): can't parse \(value) as ID")
            }
            try args.expectEnd()
            one = BTFID(id)
        }
        // Open the one object first: a missing id fails before the tables are built.
        let single = try one.map { id throws(BPFError) in try BTFInfo.read(id: id) }
        let users = try BTFUsers.collect()
        if let single {
            if ctx.json {
                ctx.emitJSON { w in BTFOutput.showJSON(single, users, &w) }
            } else {
                ctx.out.write(BTFOutput.showText(single, users))
            }
            return
        }
        let all = try BTFInfo.all()
        if ctx.json {
            ctx.emitJSON { w in
                w.beginArray()
                for b in all { BTFOutput.showJSON(b, users, &w) }
                w.endArray()
            }
        } else {
            for b in all { ctx.out.write(BTFOutput.showText(b, users)) }
        }
    }

    // MARK: dump

    /// `btf dump BTF_SRC [format { raw | c [unsorted] }]`: bpftool's do_dump.
    static func dump(_ args: inout Arguments, _ ctx: Context) throws {
        let path = args.commandPath
        guard let source = args.next() else {
            throw UsageError("\(path): expected BTF_SRC := { id BTF_ID | prog PROG | map MAP | file FILE }")
        }
        guard args.peek() != nil else { throw UsageError("\(path): '\(source)' needs a value") }
        var btf: BTF
        var roots: [UInt32] = []
        if isPrefix(source, of: "map") {
            let map = try MapCommand.openMap(&args)
            defer { map.fd.close() }
            let info = map.info
            guard info.btfID != 0 else {
                throw BPFError("map id \(info.id) (\(info.name)) has no BTF", errno: ENOENT)
            }
            if let w = args.peek(), isPrefix(w, of: "key") {
                roots = [info.btfKeyTypeID]; _ = args.next()
            } else if let w = args.peek(), isPrefix(w, of: "value") {
                roots = [info.btfValueTypeID]; _ = args.next()
            } else if let w = args.peek(), isPrefix(w, of: "all") {
                _ = args.next()
            } else {
                if let w = args.peek(), isPrefix(w, of: "kv") { _ = args.next() }
                roots = [info.btfKeyTypeID, info.btfValueTypeID]
            }
            btf = try loadKernelBTF(BTFID(info.btfID), ctx)
        } else if isPrefix(source, of: "prog") {
            let program = try Program.selectOne(args.selector("PROG", allowed: ProgCommand.selectorWords))
            defer { program.fd.close() }
            guard let id = program.info.btfID else {
                throw BPFError("program id \(program.id) (\(program.info.name)) has no BTF", errno: ENOENT)
            }
            btf = try loadKernelBTF(id, ctx)
        } else if isPrefix(source, of: "id") {
            let value = args.next()!
            guard let id = parseCUnsigned(value, base: 0).flatMap(UInt32.init(exactly:)) else {
                throw UsageError("\(path): can't parse \(value) as ID")
            }
            btf = try loadKernelBTF(BTFID(id), ctx)
        } else if isPrefix(source, of: "file") {
            btf = try BTF.parse(path: args.next()!)
        } else {
            throw UsageError("\(path): unrecognized BTF source specifier: '\(source)'")
        }

        var asC = false, sorted = true
        while let w = args.next() {
            if isPrefix(w, of: "format") {
                guard let f = args.next() else { throw UsageError("\(path): expecting value for 'format' option") }
                switch f {
                case "c": asC = true
                case "raw": asC = false
                default: throw UsageError("\(path): unrecognized format specifier: '\(f)', possible values: raw, c")
                }
            } else if isPrefix(w, of: "unsorted") {
                sorted = false
            } else {
                throw UsageError("\(path): unrecognized option: '\(w)'")
            }
        }

        if asC {
            if ctx.json { throw BPFError("JSON output for C-syntax dump is not supported") }
            let out = ctx.out
            try btf.writeC(rootTypes: roots, sorted: sorted) { chunk in out.write(bytes: Array(chunk)) }
            return
        }
        let ids: [UInt32]
        if roots.isEmpty {
            let first = btf.firstOwnTypeID, end = btf.typeCount
            ids = first < end ? Array(first..<end) : []
        } else {
            ids = roots
        }
        if ctx.json {
            var w = ctx.makeJSONWriter()
            w.beginObject(); w.key("types"); w.beginArray()
            for id in ids {
                guard let t = btf.rawType(id: id) else { throw BPFError("BTF type \(id) does not exist", errno: ENOENT) }
                BTFOutput.rawJSON(t, &w)
                if w.bytes.count >= 1 << 16 { ctx.out.write(bytes: w.take()) }
            }
            w.endArray(); w.endObject()
            ctx.out.write(bytes: w.take())
            ctx.out.line()
        } else {
            for id in ids {
                guard let t = btf.rawType(id: id) else { throw BPFError("BTF type \(id) does not exist", errno: ENOENT) }
                ctx.out.write(BTFOutput.rawText(t))
            }
        }
    }

    /// Kernel BTF by id; module BTF gets vmlinux as its base, with bpftool's note.
    private static func loadKernelBTF(_ id: BTFID, _ ctx: Context) throws -> BTF {
        let info = try BTFInfo.read(id: id)
        if info.isModule && !ctx.json {
            ctx.err.line("Warning: valid base BTF was not specified with -B option, falling back to standard base BTF (/sys/kernel/btf/vmlinux)")
        }
        return try BTF.load(id: id)
    }
}

/// Which programs and maps use each BTF object, in the order bpftool prints them.
struct BTFUsers {
    var programs: [UInt32: [UInt32]] = [:]
    var maps: [UInt32: [UInt32]] = [:]

    static func collect() throws -> BTFUsers {
        var u = BTFUsers()
        var progPairs: [(UInt32, UInt32)] = []
        try Program.forEach { p in
            if let b = p.info.btfID { progPairs.append((b.rawValue, p.id.rawValue)) }
        }
        var mapPairs: [(UInt32, UInt32)] = []
        for id in try BPFMap.ids() {
            guard let m = try BPFMap.openIfPresent(id: id) else { continue }
            defer { m.fd.close() }
            if m.info.btfID != 0 { mapPairs.append((m.info.btfID, id.rawValue)) }
        }
        u.programs = hashmapOrder(progPairs)
        u.maps = hashmapOrder(mapPairs)
        return u
    }

    /// bpftool keeps (BTF id, object id) pairs in a libbpf hashmap and prints
    /// a key's entries by walking its bucket: each append goes to the head of
    /// its bucket, and each growth of the table (when (size + 1) * 4 / 3
    /// exceeds the capacity, capacity doubling from 4) re-links every bucket
    /// head-first, reversing it. So the order of one key's object ids depends
    /// on how many pairs the whole table held at each append.
    static func hashmapOrder(_ pairs: [(key: UInt32, value: UInt32)]) -> [UInt32: [UInt32]] {
        var lists: [UInt32: [UInt32]] = [:]   // in walk order
        var size = 0, capacity = 0, capBits = 0
        for (key, value) in pairs {
            if capacity == 0 || (size + 1) * 4 / 3 > capacity {
                capBits = max(capBits + 1, 2)
                capacity = 1 << capBits
                for k in lists.keys { lists[k]!.reverse() }
            }
            lists[key, default: []].insert(value, at: 0)
            size += 1
        }
        return lists
    }
}
