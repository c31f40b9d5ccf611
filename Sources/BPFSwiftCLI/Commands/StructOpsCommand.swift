#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift struct_ops`: struct_ops maps: register, show, dump, unregister.
/// Table order follows bpftool's so that prefixes select the same verb.
enum StructOpsCommand {
    static let group = CommandGroup(
        name: "struct_ops",
        summary: "struct_ops maps: register, show, dump, unregister",
        commands: [
            Command("show", usage: ["{ show | list } [STRUCT_OPS_MAP]"],
                    summary: "Show every struct_ops map, or those STRUCT_OPS_MAP selects: id, name and the kernel struct it implements.",
                    run: show),
            Command("list", usage: [], summary: "Same as show.", run: show),
            Command("register", usage: ["register OBJ [LINK_DIR] [--enable MAP]... [--disable MAP]..."],
                    summary: "Load OBJ and register each of its struct_ops maps that is created: maps of ?.struct_ops sections only with --enable, none that --disable names; local types with a ___suffix are matched to the kernel type without it, and programs that only skipped maps use are not loaded. A selection in which two maps register the same name is refused before anything loads. Maps of .struct_ops.link sections get their link pinned at LINK_DIR/<map name> (required for them) so that the registration outlives this process; other maps stay registered until unregistered. LINK_DIR must be on bpffs; a missing one is made with mode 1700, the sticky bit marking it as bpfswift's.",
                    run: register),
            Command("unregister", usage: ["unregister STRUCT_OPS_MAP"],
                    summary: "Unregister the struct_ops maps STRUCT_OPS_MAP selects: a map without link loses its element; for a link-based map the struct_ops links that hold it are detached and their pins removed, and a LINK_DIR that register made is removed once empty.",
                    run: unregister),
            Command("dump", usage: ["dump [STRUCT_OPS_MAP]"],
                    summary: "Print the info and the value of every struct_ops map, or of those STRUCT_OPS_MAP selects, decoded by the kernel's BTF: function pointers show their signature and the program behind them.",
                    run: dump),
        ],
        grammar: ["STRUCT_OPS_MAP := { id STRUCT_OPS_MAP_ID | name STRUCT_OPS_MAP_NAME }"]
    )

    /// What the STRUCT_OPS_MAP words select.
    enum Target: Equatable {
        case all
        case id(MapID)
        case name(String)
    }

    /// Parses `[STRUCT_OPS_MAP]` (bpftool: exactly two words, `id` and `name`
    /// by prefix, the id as strtoul reads it). With `required`, no words is an error.
    static func target(_ a: inout Arguments, required: Bool) throws -> Target {
        let words = a.remaining
        while a.next() != nil {}
        if words.isEmpty && !required { return .all }
        guard words.count == 2 else {
            throw UsageError("\(a.commandPath): expected STRUCT_OPS_MAP := { id STRUCT_OPS_MAP_ID | name STRUCT_OPS_MAP_NAME }")
        }
        if isPrefix(words[0], of: "id") {
            guard let v = parseCUnsigned(words[1], base: 0), v != 0, v <= UInt64(UInt32.max) else {
                throw UsageError("\(a.commandPath): invalid id \(words[1])")
            }
            return .id(MapID(UInt32(v)))
        }
        if isPrefix(words[0], of: "name") {
            return .name(words[1])
        }
        throw UsageError("\(a.commandPath): expected 'id' or 'name', got '\(words[0])'")
    }

    /// The maps `target` selects; a name that matches none is an error.
    static func maps(_ target: Target) throws -> [StructOpsMap] {
        switch target {
        case .all:
            return try StructOpsMap.all()
        case .id(let id):
            return [try StructOpsMap.open(id: id)]
        case .name(let name):
            let found = try StructOpsMap.all(named: name)
            if found.isEmpty { throw BPFError("no struct_ops found for \(name)") }
            return found
        }
    }

    // MARK: show, dump

    static func show(_ a: inout Arguments, _ ctx: Context) throws {
        let rows = try maps(target(&a, required: false)).map { m in
            StructOpsShowRow(id: m.info.id, name: m.info.name, kernelStructOps: try m.kernelStructName())
        }
        if ctx.json {
            ctx.emitJSON { w in
                w.beginArray()
                for r in rows { StructOpsOutput.json(r, &w) }
                w.endArray()
            }
        } else {
            for r in rows { ctx.out.write(StructOpsOutput.text(r)) }
        }
    }

    static func dump(_ a: inout Arguments, _ ctx: Context) throws {
        let selected = try maps(target(&a, required: false))
        let format = try StructOpsDumpFormat()
        var entries: [StructOpsDumpEntry] = []
        for m in selected {
            let v = try format.valueFormat(of: m)
            entries.append(StructOpsDumpEntry(mapInfo: m.info.rawInfo, mapInfoTypeID: format.mapInfoTypeID,
                                              mapInfoDumper: format.vmlinuxDumper, valueTypeName: v.typeName,
                                              valueTypeID: v.typeID, value: try m.value(), valueDumper: v.dumper))
        }
        // Formatted whole before anything is written: a failure prints only the error.
        if ctx.json {
            var w = ctx.makeJSONWriter()
            try StructOpsOutput.json(entries, &w)
            ctx.out.write(bytes: w.bytes)
            ctx.out.line()
        } else {
            ctx.out.write(try StructOpsOutput.text(entries))
        }
    }

    // MARK: register, unregister

    static func register(_ a: inout Arguments, _ ctx: Context) throws {
        let enable = try a.extractOption("--enable")
        let disable = try a.extractOption("--disable")
        let file = try a.require("OBJ")
        let linkDir = a.next()
        try a.expectEnd()
        for name in enable where disable.contains(name) {
            throw UsageError("\(a.commandPath): map \(name) is given with both --enable and --disable")
        }
        let result = try StructOpsRegistrar.register(
            objectFile: file, options: StructOpsRegisterOptions(linkDirectory: linkDir, enable: enable, disable: disable))
        if ctx.json {
            ctx.emitJSON { $0.null() }
        } else {
            for r in result.registrations { ctx.err.line(StructOpsOutput.registered(r)) }
        }
    }

    static func unregister(_ a: inout Arguments, _ ctx: Context) throws {
        let selected = try maps(target(&a, required: true))
        var failures: [BPFError] = []
        for m in selected {
            do throws(BPFError) {
                let structName = try m.kernelStructName()
                _ = try m.unregister(structName: structName)
                if !ctx.json { ctx.err.line(StructOpsOutput.unregistered(structName: structName, m.info)) }
            } catch {
                failures.append(error)
            }
        }
        // As bpftool: every map is tried; each failure is reported.
        if let last = failures.last {
            for f in failures.dropLast() { ctx.err.line("Error: \(f)") }
            throw last
        }
        if ctx.json { ctx.emitJSON { $0.null() } }
    }
}
