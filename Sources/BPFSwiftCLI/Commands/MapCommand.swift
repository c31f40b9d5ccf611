#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift map`: BPF maps: show, dump, lookup, update, ....
/// Table order follows bpftool's so that prefixes select the same verb.
enum MapCommand {
    static let mapSelectorWords = ["id", "pinned", "name"]

    static let group = CommandGroup(
        name: "map",
        summary: "BPF maps: show, dump, lookup, update, ...",
        commands: [
            Command("show", usage: ["{ show | list } [MAP]"],
                    summary: "Show every map, or the maps MAP selects, as bpftool does: id, type, name, flags, key and value sizes, max_entries, memlock, prog_array owner, btf_id, frozen; with -f the pinned paths.",
                    run: show),
            Command("list", usage: [], summary: "Same as show.", run: show),
            Command("dump", usage: ["dump MAP"],
                    summary: "Print every element of MAP: hex keys and values (one per possible CPU for per-CPU maps, inner map ids for maps of maps), BTF-formatted when the map has BTF. Reads with BPF_MAP_LOOKUP_BATCH where the kernel allows it (hash and array families), else element by element.",
                    run: dump),
            Command("update", usage: ["update MAP [key DATA] [value VALUE] [UPDATE_FLAGS]"],
                    summary: "Store VALUE under the key DATA. A per-CPU map gets VALUE on every CPU; a map of maps takes a MAP, a prog_array a PROG. UPDATE_FLAGS chooses whether the key must exist (exist), must not (noexist) or either (any, the default).",
                    run: update),
            Command("lookup", usage: ["lookup MAP [key DATA]"],
                    summary: "Print the element stored under the key DATA.", run: lookup),
            Command("getnext", usage: ["getnext MAP [key DATA]"],
                    summary: "Print the key that follows DATA (the first key without DATA).", run: getnext),
            Command("delete", usage: ["delete MAP key DATA"],
                    summary: "Remove the element stored under the key DATA.", run: delete),
            Command("pin", usage: ["pin MAP FILE"],
                    summary: "Pin MAP at FILE, which must lie on a bpffs mount.", run: pin),
            Command("create", usage: ["create FILE type TYPE key KEY_SIZE value VALUE_SIZE entries MAX_ENTRIES name NAME [flags FLAGS] [inner_map MAP] [offload_dev NAME]"],
                    summary: "Create a map and pin it at FILE. inner_map gives the template of a map of maps.",
                    run: create),
            Command("peek", usage: ["peek MAP"],
                    summary: "Print the head of a queue or the top of a stack without removing it.", run: lookup),
            Command("push", usage: ["push MAP value VALUE"], summary: "Push VALUE onto a stack.", run: update),
            Command("enqueue", usage: ["enqueue MAP value VALUE"], summary: "Append VALUE to a queue.", run: update),
            Command("pop", usage: ["pop MAP"], summary: "Remove and print the top of a stack.", run: pop),
            Command("dequeue", usage: ["dequeue MAP"], summary: "Remove and print the head of a queue.", run: pop),
            Command("freeze", usage: ["freeze MAP"],
                    summary: "Make MAP read-only from user space (programs may still write it).", run: freeze),
        ],
        grammar: [
            "MAP := { id MAP_ID | pinned FILE | name MAP_NAME }",
            "DATA := { [hex] BYTES }",
            "PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }",
            "VALUE := { DATA | MAP | PROG }",
            "UPDATE_FLAGS := { any | exist | noexist }",
            "TYPE := { " + MapType.allNames.joined(separator: " | ") + " }",
        ]
    )

    // MARK: show

    static func show(_ a: inout Arguments, _ ctx: Context) throws {
        let pins: PinnedIndex? = ctx.options.bpffs ? ctx.pinned : nil
        func pinned(_ info: MapInfo) -> [String]? {
            guard let pins else { return nil }
            if ctx.json && !pins.hasPins(.map) { return nil }
            return pins.pathsInBpftoolOrder(.map, id: info.id.rawValue)
        }
        func emit(_ m: BPFMap, _ w: inout JSONWriter) {
            if ctx.json { MapShowOutput.json(m.info, pinned: pinned(m.info), &w) }
            else { ctx.out.write(MapShowOutput.text(m.info, pinned: pinned(m.info))) }
        }
        var w = ctx.makeJSONWriter()
        if a.isEmpty {
            if ctx.json { w.beginArray() }
            for id in try BPFMap.ids() {
                guard let m = try BPFMap.openIfPresent(id: id) else { continue }
                emit(m, &w)
            }
            if ctx.json { w.endArray() }
        } else {
            let sel = try a.selector("MAP", allowed: mapSelectorWords)
            try a.expectEnd()
            let maps = try BPFMap.open(sel)
            if ctx.json && maps.count > 1 { w.beginArray() }
            for m in maps { emit(m, &w) }
            if ctx.json && maps.count > 1 { w.endArray() }
        }
        if ctx.json {
            ctx.out.write(bytes: w.bytes)
            ctx.out.line()
        }
    }

    // MARK: dump

    /// BPFSWIFT_MAP_NO_BATCH=1 forces the get_next_key walk (for comparing both walks).
    static var preferBatch: Bool {
        guard let v = getenv("BPFSWIFT_MAP_NO_BATCH") else { return true }
        return String(cString: v) != "1"
    }

    static func dump(_ a: inout Arguments, _ ctx: Context) throws {
        let sel = try a.selector("MAP", allowed: mapSelectorWords)
        try a.expectEnd()
        let maps = try BPFMap.open(sel)
        // A map without keys cannot be walked: say so before anything is printed.
        for m in maps where m.info.keySize == 0 {
            do { _ = try m.nextKey(after: nil) } catch { throw keylessError(m, error) }
        }
        let multi = maps.count > 1
        let cpus = try BPFMap.possibleCPUs()
        let buf = MapByteBuffer(sink: ctx.out)
        defer { buf.flush() }

        if ctx.json {
            let j = MapJSONEmitter(out: buf, pretty: ctx.options.pretty)
            if multi { j.beginArray() }
            for m in maps {
                let btf = try MapBTFFormat.load(for: m.info)
                if multi {
                    j.beginObject()
                    j.key("id"); j.uint(UInt64(m.info.id.rawValue))
                    j.key("type")
                    if let n = m.info.type.name { j.string(n) } else { j.uint(UInt64(m.info.type.rawValue)) }
                    if !m.info.name.isEmpty { j.key("name"); j.string(m.info.name) }
                    j.key("flags"); j.int(Int64(MapShowOutput.flagsJSON(m.info.flags)))
                    j.key("elements")
                }
                j.beginArray()
                let opened = buf.count
                let printer = MapEntryPrinter(info: m.info, cpus: cpus, style: .json(j), btf: btf, out: buf)
                do {
                    try walk(m, printer)
                } catch let e as BPFError {
                    // Nothing read from a map that cannot be walked: print only the error.
                    if !multi && buf.count == opened && !buf.flushedAny { buf.count = 0; throw e }
                    j.endArray()
                    if multi { j.endObject(); j.endArray() }
                    j.endDocument()
                    throw e
                }
                j.endArray()
                if multi { j.endObject() }
            }
            if multi { j.endArray() }
            j.endDocument()
            return
        }

        // Text: BTF-formatted (through bpftool's pretty writer) when every map has BTF.
        if maps.allSatisfy({ $0.info.btfID != 0 }) {
            let pw = BpftoolPrettyWriter(out: buf)
            if multi { pw.beginArray() }
            for m in maps {
                reuseportWarning(m.info, ctx)
                let btf = try MapBTFFormat.load(for: m.info)
                if multi {
                    pw.beginObject()
                    pw.uintField("id", UInt64(m.info.id.rawValue))
                    if let n = m.info.type.name { pw.stringField("type", n) } else { pw.uintField("type", UInt64(m.info.type.rawValue)) }
                    if !m.info.name.isEmpty { pw.stringField("name", m.info.name) }
                    pw.name("flags"); pw.raw(String(MapShowOutput.flagsJSON(m.info.flags)))
                    pw.name("elements")
                }
                pw.beginArray()
                let printer = MapEntryPrinter(info: m.info, cpus: cpus, style: .text(pw), btf: btf, out: buf)
                do {
                    try walk(m, printer)
                } catch {
                    pw.endArray()
                    if multi { pw.endObject(); pw.endArray() }
                    pw.finish()
                    throw error
                }
                pw.endArray()
                if multi { pw.endObject() }
            }
            if multi { pw.endArray() }
            pw.finish()
            return
        }

        for (i, m) in maps.enumerated() {
            if multi { buf.write(MapShowOutput.headerText(m.info)) }
            reuseportWarning(m.info, ctx)
            let printer = MapEntryPrinter(info: m.info, cpus: cpus, style: .text(nil), btf: nil, out: buf)
            var failure: Error?
            do { try walk(m, printer) } catch { failure = error }
            buf.write("Found \(printer.printed) element\(printer.printed != 1 ? "s" : "")\n")
            if let failure { throw failure }
            if i != maps.count - 1 { buf.write("\n") }
        }
    }

    private static func walk(_ m: BPFMap, _ printer: MapEntryPrinter) throws {
        var p = printer
        do {
            try m.walk(&p, preferBatch: preferBatch)
        } catch {
            if m.info.keySize == 0 { throw keylessError(m, error) }
            throw error
        }
    }

    /// Key-less maps (queue, stack, ringbuf, bloom_filter, ...) refuse get_next_key.
    private static func keylessError(_ m: BPFMap, _ error: BPFError) -> BPFError {
        let queueLike = m.info.type == .queue || m.info.type == .stack
        return BPFError("dump \(m.label): \(MapShowOutput.typeText(m.info.type)) maps have no keys to walk",
                        errno: error.errno,
                        detail: queueLike ? "use peek, pop or dequeue" : nil)
    }

    private static func reuseportWarning(_ info: MapInfo, _ ctx: Context) {
        if info.type == .reuseportSockarray && info.valueSize != 8 {
            ctx.err.line("Warning: cannot read values from \(MapShowOutput.typeText(info.type)) map with value_size != 8")
        }
    }

    // MARK: lookup, getnext, delete, update, pop

    static func lookup(_ a: inout Arguments, _ ctx: Context) throws {
        let m = try openMap(&a)
        let input = try MapElementParser.parse(a.remaining, info: m.info, wantKey: m.info.keySize > 0,
                                               wantValue: false, allowFlags: false, commandPath: a.commandPath)
        guard let value = try m.lookup(key: input.key) else {
            if !ctx.json {
                let buf = MapByteBuffer(sink: ctx.out)
                buf.write("key:\n" + hexText(input.key ?? []) + "\n\nNot found\n")
                buf.flush()
            }
            throw BPFError("look up key in \(m.label)", errno: ENOENT)
        }
        try printKeyValue(m, key: input.key ?? [], value: value, ctx)
    }

    static func getnext(_ a: inout Arguments, _ ctx: Context) throws {
        let m = try openMap(&a)
        var key: [UInt8]? = nil
        if !a.isEmpty {
            key = try MapElementParser.parse(a.remaining, info: m.info, wantKey: true, wantValue: false,
                                             allowFlags: false, commandPath: a.commandPath).key
        }
        guard let next = try m.nextKey(after: key) else {
            throw BPFError("get next key in \(m.label)", errno: ENOENT)
        }
        if ctx.json {
            var w = ctx.makeJSONWriter()
            w.beginObject()
            w.key("key")
            if let key { hexJSON(key, &w) } else { w.null() }
            w.key("next_key"); hexJSON(next, &w)
            w.endObject()
            ctx.out.write(bytes: w.bytes)
            ctx.out.line()
        } else {
            if let key { ctx.out.write("key:\n" + hexText(key) + "\n") } else { ctx.out.write("key: None\n") }
            ctx.out.write("next key:\n" + hexText(next) + "\n")
        }
    }

    static func delete(_ a: inout Arguments, _ ctx: Context) throws {
        let m = try openMap(&a)
        let input = try MapElementParser.parse(a.remaining, info: m.info, wantKey: true, wantValue: false,
                                               allowFlags: false, commandPath: a.commandPath)
        try m.delete(key: input.key ?? [])
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    static func update(_ a: inout Arguments, _ ctx: Context) throws {
        let m = try openMap(&a)
        let input = try MapElementParser.parse(a.remaining, info: m.info, wantKey: m.info.keySize > 0,
                                               wantValue: m.info.valueSize > 0, allowFlags: true,
                                               commandPath: a.commandPath,
                                               warn: ctx.json ? nil : { ctx.err.line($0) })
        var value = input.value ?? []
        if m.info.type.isPerCPU {
            // One value given: every CPU's slot gets it, as bpftool does.
            let cpus = try BPFMap.possibleCPUs()
            let stride = m.info.perCPUValueStride
            var all = [UInt8](repeating: 0, count: stride * cpus)
            for c in 0..<cpus { all.replaceSubrange((c * stride)..<(c * stride + value.count), with: value) }
            value = all
        }
        try withExtendedLifetime(input.reference) {
            try m.update(key: input.key, value: value, flag: input.flag ?? .any)
        }
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    static func pop(_ a: inout Arguments, _ ctx: Context) throws {
        let m = try openMap(&a)
        try a.expectEnd()
        if m.info.keySize != 0 {
            throw BPFError("\(a.commandPath): \(m.label) is a \(MapShowOutput.typeText(m.info.type)) map; pop and dequeue take from queue and stack maps")
        }
        guard let value = try m.lookupAndDelete(key: nil) else {
            throw BPFError("\(a.commandPath) \(m.label): empty map")
        }
        try printKeyValue(m, key: [], value: value, ctx)
    }

    /// bpftool's print_key_value: one element, JSON or text (BTF-formatted when the map has BTF).
    static func printKeyValue(_ m: BPFMap, key: [UInt8], value: [UInt8], _ ctx: Context) throws {
        let btf = try MapBTFFormat.load(for: m.info)
        let cpus = m.info.type.isPerCPU ? try BPFMap.possibleCPUs() : 1
        let buf = MapByteBuffer(sink: ctx.out)
        defer { buf.flush() }
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                if ctx.json {
                    let j = MapJSONEmitter(out: buf, pretty: ctx.options.pretty)
                    try MapEntryPrinter(info: m.info, cpus: cpus, style: .json(j), btf: btf, out: buf).printOne(k, v)
                    j.endDocument()
                } else if btf != nil {
                    let pw = BpftoolPrettyWriter(out: buf)
                    try MapEntryPrinter(info: m.info, cpus: cpus, style: .text(pw), btf: btf, out: buf).printOne(k, v)
                    pw.finish()
                } else {
                    try MapEntryPrinter(info: m.info, cpus: cpus, style: .text(nil), btf: nil, out: buf).printOne(k, v)
                }
            }
        }
    }

    // MARK: pin, create, freeze

    static func pin(_ a: inout Arguments, _ ctx: Context) throws {
        let m = try openMap(&a)
        let path = try a.require("FILE")
        try a.expectEnd()
        try pinChecked(m, path)
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    /// Pins, saying so when the target is not on bpffs (bpftool would mount one there; we do not).
    private static func pinChecked(_ m: BPFMap, _ path: String) throws {
        do { try m.pin(at: path) } catch {
            var dir = path
            if let slash = dir.lastIndex(of: "/") { dir = String(dir[..<slash]) } else { dir = "." }
            if dir.isEmpty { dir = "/" }
            if !Kernel.isOnBPFFS(dir) {
                throw BPFError(error.operation, errno: error.errno, detail: "\(dir) is not on a bpffs mount")
            }
            throw error
        }
    }

    static func create(_ a: inout Arguments, _ ctx: Context) throws {
        let path = try a.require("FILE")
        var type: MapType?
        var name: String?
        var keySize: UInt32 = 0, valueSize: UInt32 = 0, maxEntries: UInt32 = 0, flags: UInt32 = 0
        var inner: BPFMap?
        var ifindex: UInt32 = 0
        func u32(_ what: String, _ current: UInt32) throws -> UInt32 {
            let word = try a.require(what)
            if current != 0 { throw UsageError("\(a.commandPath): \(what) already specified") }
            guard let v = parseCUnsigned(word, base: 0), v <= UInt64(UInt32.max) else {
                throw UsageError("\(a.commandPath): can't parse \(word) as \(what)")
            }
            return UInt32(v)
        }
        while let word = a.next() {
            if isPrefix(word, of: "type") {
                let t = try a.require("TYPE")
                if type != nil { throw UsageError("\(a.commandPath): map type already specified") }
                guard let mt = MapType(name: t) else {
                    throw UsageError("\(a.commandPath): unrecognized map type: \(t)")
                }
                type = mt
            } else if isPrefix(word, of: "name") {
                name = try a.require("NAME")
            } else if isPrefix(word, of: "key") {
                keySize = try u32("key size", keySize)
            } else if isPrefix(word, of: "value") {
                valueSize = try u32("value size", valueSize)
            } else if isPrefix(word, of: "entries") {
                maxEntries = try u32("max entries", maxEntries)
            } else if isPrefix(word, of: "flags") {
                flags = try u32("flags", flags)
            } else if isPrefix(word, of: "offload_dev") || isPrefix(word, of: "dev") {
                let dev = try a.require("NAME")
                if ifindex != 0 { throw UsageError("\(a.commandPath): offload device already specified") }
                ifindex = if_nametoindex(dev)
                if ifindex == 0 { throw BPFError("unrecognized netdevice '\(dev)'", errno: errno) }
            } else if isPrefix(word, of: "inner_map") {
                inner = try BPFMap.openOne(a.selector("MAP", allowed: mapSelectorWords))
            } else {
                throw UsageError("\(a.commandPath): unknown arg \(word)")
            }
        }
        guard let type else { throw UsageError("\(a.commandPath): map type not specified (type TYPE)") }
        guard let name else { throw UsageError("\(a.commandPath): map name not specified") }
        let m = try BPFMap.create(type: type, name: name, keySize: keySize, valueSize: valueSize,
                                  maxEntries: maxEntries, flags: flags, innerMap: inner, ifindex: ifindex)
        try pinChecked(m, path)
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    static func freeze(_ a: inout Arguments, _ ctx: Context) throws {
        let m = try openMap(&a)
        try a.expectEnd()
        try m.freeze()
        if ctx.json { ctx.emitJSON { $0.null() } }
    }

    // MARK: helpers

    /// The one map the next words select (several maps of that name: an error).
    static func openMap(_ a: inout Arguments) throws -> BPFMap {
        try BPFMap.openOne(a.selector("MAP", allowed: mapSelectorWords))
    }

    /// bpftool's fprint_hex with " ": 16 bytes a line, a double space after 8.
    static func hexText(_ bytes: [UInt8]) -> String {
        var s = ""
        for (i, b) in bytes.enumerated() {
            if i > 0 { s += i % 16 == 0 ? "\n" : (i % 8 == 0 ? "  " : " ") }
            s += hex(b, width: 2)
        }
        return s
    }

    static func hexJSON(_ bytes: [UInt8], _ w: inout JSONWriter) {
        w.beginArray()
        for b in bytes { w.string("0x" + hex(b, width: 2)) }
        w.endArray()
    }
}

/// bpftool's is_prefix: `word` is a non-empty prefix of `full`.
func isPrefix(_ word: String, of full: String) -> Bool {
    !word.isEmpty && full.hasPrefix(word)
}

/// strtoul-like parsing of a whole word: base 0 takes 0x.. (hex), 0.. (octal)
/// or decimal; base 16 takes hex with an optional 0x. No sign, no spaces.
func parseCUnsigned(_ word: String, base: Int) -> UInt64? {
    var s = Substring(word)
    var radix = base
    if radix == 16 || radix == 0, s.count > 2, s.hasPrefix("0x") || s.hasPrefix("0X") {
        s = s.dropFirst(2); radix = 16
    } else if radix == 0 {
        radix = s.count > 1 && s.hasPrefix("0") ? 8 : 10
        if radix == 8 { s = s.dropFirst() }
    }
    guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
    return UInt64(s, radix: radix)
}
