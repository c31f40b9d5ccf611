#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// `bpfswift object`: whole BPF object files and their pinned trees.
enum ObjectCommand {
    static let group = CommandGroup(
        name: "object",
        summary: "whole BPF object files and their pinned trees",
        commands: [
            Command("pin", usage: ["pin OBJ PATH [--attach] [--pin-root DIR] [--enable MAP]... [--disable MAP]... [--replace] [--map NAME=PINNED_FILE]... [--pin-map NAME=FILE]... [--attach-to PROG=TARGET]..."],
                    summary: "Load OBJ and publish all of it atomically under PATH on bpffs: PATH/maps/NAME ('.' in map names becomes '_'), PATH/programs/NAME, and with --attach PATH/links/NAME for every program libbpf can attach from its section name and every struct_ops map. Maps declared with LIBBPF_PIN_BY_NAME are pinned at DIR/NAME (default /sys/fs/bpf; DIR must be on bpffs, and is made, mode 0700, when missing) and reused from there when they fit; --map reuses a pinned map, --pin-map sets a map's pin path; --enable/--disable set a map's autocreate. --attach-to PROG=TARGET attaches program PROG where its section name cannot say (TARGET := \(ProgramAttachTarget.grammar); ATTACH_TYPE as cgroup attach names it) and pins its link at PATH/links/PROG like the others; without --attach only the programs it names attach. Pinning the same file again with the same options changes nothing; a different object needs --replace, which swaps the trees and removes the old one. A failure, or SIGINT/SIGTERM, rolls back everything the run made.",
                    run: pin),
            Command("show", usage: ["show PATH"],
                    summary: "Print the tree at PATH: the object's name, sha256 and file, every pinned map, program and link with its id and type, whether each program is attached, and whether the tree is complete.",
                    run: show),
            Command("unpin", usage: ["unpin PATH"],
                    summary: "Remove the tree at PATH: its links detach and its struct_ops maps are unregistered. Maps pinned by name outside the tree stay. Never follows a symlink or enters another mount; refuses a directory that is not an object tree (its manifest must validate) or that another user could change. Given a leftover staging directory, or a PATH whose pin or unpin was killed, removes what was left.",
                    run: unpin),
            Command("list", usage: ["list [ROOT]"],
                    summary: "Print every object tree under ROOT (default /sys/fs/bpf) with its state: complete, incomplete, staging (left by a killed run) or busy (a run is working on it).",
                    run: list),
            Command("inspect", usage: ["inspect OBJ"],
                    summary: "Describe OBJ without loading it and without privileges: ELF sections, maps (with their pinning), programs, license, metadata and struct_ops maps with the program in each member.",
                    run: inspect),
        ],
        grammar: [
            "PATH := a directory to create on bpffs: PATH/maps/NAME, PATH/programs/NAME, PATH/links/NAME",
            "ROOT := a directory on bpffs (default /sys/fs/bpf)",
        ]
    )

    /// Parses `NAME=FILE`.
    static func assignment(_ s: String, _ flag: String, _ form: String, _ path: String) throws -> MapPinAssignment {
        guard let eq = s.firstIndex(of: "="), eq != s.startIndex, s.index(after: eq) != s.endIndex else {
            throw UsageError("\(path): \(flag) expects \(form), got '\(s)'")
        }
        return MapPinAssignment(map: String(s[..<eq]), file: String(s[s.index(after: eq)...]))
    }

    /// `object pin OBJ PATH [...]`: load OBJ and publish its tree at PATH.
    static func pin(_ args: inout Arguments, _ ctx: Context) throws {
        var o = ObjectPinOptions()
        let cp = args.commandPath
        o.attach = args.extractFlag("--attach")
        o.replace = args.extractFlag("--replace")
        let roots = try args.extractOption("--pin-root")
        if roots.count > 1 { throw UsageError("\(cp): --pin-root given more than once") }
        o.pinRoot = roots.first
        o.enable = try args.extractOption("--enable")
        o.disable = try args.extractOption("--disable")
        o.reuseMaps = try args.extractOption("--map").map { try assignment($0, "--map", "NAME=PINNED_FILE", cp) }
        o.pinMaps = try args.extractOption("--pin-map").map { try assignment($0, "--pin-map", "NAME=FILE", cp) }
        o.attachTo = try args.extractOption("--attach-to").map { text in
            do { return try ProgramAttachSpec(parsing: text) } catch let e as BPFError { throw UsageError("\(cp): \(e.operation)") }
        }
        if let both = Set(o.enable).intersection(o.disable).first {
            throw UsageError("\(cp): map \(both) is given with both --enable and --disable")
        }
        if let unknown = args.remaining.first(where: { $0.hasPrefix("--") }) {
            throw UsageError("\(cp): unknown option '\(unknown)'")
        }
        let obj = try args.require("OBJ")
        let path = try args.require("PATH")
        try args.expectEnd()

        // Left for exit to close (see CLI.exitsAfterRun); otherwise pin closes them.
        o.keepDescriptors = CLI.exitsAfterRun
        var r = try ObjectPinner.pin(objectFile: obj, at: path, options: o)
        if let d = r.descriptors { CLI.keptUntilExit.append(d) }
        r.descriptors = nil
        if r.outcome != .unchanged {
            for p in r.manifest.programs {
                if let why = p.notAttached, p.type != "struct_ops" {
                    ctx.warn("program \(p.name) is loaded and pinned but not attached: \(why)")
                }
            }
        }
        if ctx.json {
            let status = try ObjectTree.status(at: r.path)
            ctx.emitJSON { w in ObjectTreeView(status).writeJSON(to: &w, result: r.outcome.rawValue) }
        }
    }

    /// `object show PATH`.
    static func show(_ args: inout Arguments, _ ctx: Context) throws {
        let path = try args.require("PATH")
        try args.expectEnd()
        let view = ObjectTreeView(try ObjectTree.status(at: path))
        if ctx.json {
            ctx.emitJSON { w in view.writeJSON(to: &w) }
        } else {
            ctx.out.write(view.text())
        }
    }

    /// `object unpin PATH`.
    static func unpin(_ args: inout Arguments, _ ctx: Context) throws {
        let path = try args.require("PATH")
        try args.expectEnd()
        try ObjectTree.unpin(path)
        if ctx.json { ctx.out.line("null") }
    }

    /// `object list [ROOT]`.
    static func list(_ args: inout Arguments, _ ctx: Context) throws {
        let root = args.next() ?? "/sys/fs/bpf"
        try args.expectEnd()
        let items = try ObjectTree.list(root: root)
        if ctx.json {
            ctx.emitJSON { w in ObjectListView.writeJSON(items, to: &w) }
        } else {
            ctx.out.write(ObjectListView.text(items))
        }
    }

    /// `object inspect OBJ`: offline.
    static func inspect(_ args: inout Arguments, _ ctx: Context) throws {
        let file = try args.require("OBJ")
        try args.expectEnd()
        let view = ObjectInspectView(try ObjectInspection.inspect(file: file))
        if ctx.json {
            try ctx.emitJSON { w in try view.writeJSON(to: &w) }
        } else {
            ctx.out.write(try view.text())
        }
    }
}
