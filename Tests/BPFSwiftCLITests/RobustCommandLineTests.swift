import Foundation
import Testing
import TestSupport

/// Every malformed command line we could think of, run through the real
/// binary with a time limit: no signal, no hang, exit 1 (failure) or 2
/// (usage), and one non-empty "Error: " line on stderr; with -j an
/// {"error": ...} document on stdout. Nothing may be created by them.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct RobustCommandLineTests {
    struct Case: CustomStringConvertible {
        var args: [String]
        /// The exit statuses allowed (1, 2 or both).
        var exits: Set<Int32>
        /// A word the error must contain, if any.
        var mentions: String?
        var description: String { args.map { $0.isEmpty ? "''" : $0 }.joined(separator: " ") }
    }

    static func usage(_ args: [String], _ mentions: String? = nil) -> Case { Case(args: args, exits: [2], mentions: mentions) }
    static func failure(_ args: [String], _ mentions: String? = nil) -> Case { Case(args: args, exits: [1], mentions: mentions) }
    static func either(_ args: [String], _ mentions: String? = nil) -> Case { Case(args: args, exits: [1, 2], mentions: mentions) }

    /// The table: P is a pinned tree of counter.bpf.o, T a scratch directory
    /// outside bpffs holding a FIFO, a text file and a directory.
    static func cases(tree P: String, scratch T: String, free F: String) throws -> [Case] {
        let obj = try Fixtures.object("counter")
        let map = P + "/maps/hit_map"
        let prog = P + "/programs/count_enter"
        let none = "/nonexistent/bpfswift"
        return [
            // The object word and global options.
            usage([]), usage(["-j"]), usage(["-d"]), usage(["-f", "-p"]),
            usage(["frobnicate"], "frobnicate"), usage([""], "''"), usage(["-x"]), usage(["--frob"]), usage(["-"]),
            usage(["--", "-j"]), usage(["-jx"]), usage(["progs"]), usage(["p\n"]),
            usage(["help", "--man", "frob"]), usage(["help", "--man", ""]),
            usage(["\u{1b}[31m"]), usage([String(repeating: "a", count: 100_000)]),
            // Verbs.
            usage(["prog", "frob"], "frob"), usage(["prog", ""]), usage(["map", ""]), usage(["object", ""]),
            usage(["link", "\u{7f}x"]), usage(["object", "pins"]), usage(["gen", "frob"]), usage(["struct_ops", "frob"]),
            // prog selectors.
            usage(["prog", "show", "id"]), usage(["prog", "show", "id", "x"]), usage(["prog", "show", "id", "-1"]),
            usage(["prog", "show", "id", "4294967296"]), usage(["prog", "show", "id", "0x10"]),
            usage(["prog", "show", "id", ""]), usage(["prog", "show", "id", " 1"]),
            failure(["prog", "show", "id", "4294967295"]),
            usage(["prog", "show", "tag"]), usage(["prog", "show", "tag", "xyz"]),
            usage(["prog", "show", "tag", "0123456789abcdeg"]), usage(["prog", "show", "tag", "0123456789abcdef0"]),
            usage(["prog", "show", "name", ""]), usage(["prog", "show", "frob", "x"]),
            usage(["prog", "show", "id", "1", "extra"]), usage(["prog", "show", "pinned"]),
            failure(["prog", "show", "pinned", none]), failure(["prog", "show", "pinned", ""]),
            failure(["prog", "show", "pinned", "/sys/fs/bpf"]), failure(["prog", "show", "pinned", "/dev/null"]),
            failure(["prog", "show", "pinned", map]), failure(["prog", "show", "pinned", T + "/fifo"]),
            failure(["prog", "show", "name", "no_such_program_x"]),
            usage(["prog", "show", "--metadata", ""]), usage(["prog", "show", "--metadata=", "id", "1"]),
            usage(["prog", "pin"]), usage(["prog", "pin", "id", "1"]), usage(["prog", "pin", "pinned", prog]),
            failure(["prog", "pin", "id", "4294967295", F + "/x"]), failure(["prog", "pin", "pinned", prog, T + "/x"]),
            failure(["prog", "pin", "pinned", prog, none + "/x"]), failure(["prog", "pin", "pinned", prog, prog]),
            usage(["prog", "pin", "pinned", prog, F + "/x", "extra"]),
            // map.
            usage(["map", "show", "id"]), usage(["map", "show", "tag", "0123456789abcdef"]),
            failure(["map", "show", "pinned", prog]), failure(["map", "show", "pinned", T + "/text"]),
            usage(["map", "dump"]), failure(["map", "dump", "id", "4294967295"]),
            usage(["map", "lookup", "pinned", map]), usage(["map", "lookup", "pinned", map, "key"]),
            usage(["map", "lookup", "pinned", map, "key", "1", "2", "3"]),
            usage(["map", "lookup", "pinned", map, "key", "1", "2", "3", "4", "5"]),
            usage(["map", "lookup", "pinned", map, "key", "hex", "zz", "0", "0", "0"]),
            usage(["map", "lookup", "pinned", map, "key", "256", "0", "0", "0"]),
            usage(["map", "lookup", "pinned", map, "key", "-1", "0", "0", "0"]),
            usage(["map", "lookup", "pinned", map, "key", "0", "0", "0", "0", "value", "1"]),
            usage(["map", "lookup", "pinned", map, "key", "0", "0", "0", "0", "key", "0", "0", "0", "0"]),
            usage(["map", "lookup", "pinned", map, "frob"]),
            failure(["map", "lookup", "pinned", map, "key", "0xff", "0xff", "0xff", "0xff"]),
            usage(["map", "getnext", "pinned", map, "key"]),
            usage(["map", "update", "pinned", map, "key", "0", "0", "0", "0"]),
            usage(["map", "update", "pinned", map, "key", "0", "0", "0", "0", "value", "1", "2"]),
            usage(["map", "update", "pinned", map, "key", "0", "0", "0", "0", "value", "0", "0", "0", "0", "0", "0", "0", "0", "any", "exist"]),
            usage(["map", "update", "pinned", map, "value", "0", "0", "0", "0", "0", "0", "0", "0"]),
            usage(["map", "delete", "pinned", map]), usage(["map", "freeze"]), usage(["map", "pin"]),
            usage(["map", "pin", "pinned", map]),
            failure(["map", "pin", "pinned", map, T + "/x"]), failure(["map", "pin", "pinned", map, map]),
            usage(["map", "create"]), usage(["map", "create", F + "/m"]),
            usage(["map", "create", F + "/m", "type", "frob", "key", "4", "value", "4", "entries", "1", "name", "m"]),
            usage(["map", "create", F + "/m", "type", "hash", "key", "x", "value", "4", "entries", "1", "name", "m"]),
            usage(["map", "create", F + "/m", "type", "hash", "key", "4", "value", "4", "entries", "1"]),
            either(["map", "create", F + "/m", "type", "hash", "key", "4", "value", "4", "entries", "0", "name", "m"]),
            either(["map", "create", T + "/m", "type", "hash", "key", "4", "value", "4", "entries", "1", "name", "m"]),
            either(["map", "pop", "pinned", map]), either(["map", "peek", "pinned", map]),
            either(["map", "push", "pinned", map, "value", "1"]),
            // link.
            usage(["link", "show", "name", "x"]), usage(["link", "show", "id", "x"]),
            failure(["link", "show", "id", "4294967295"]), failure(["link", "show", "pinned", map]),
            usage(["link", "pin"]), usage(["link", "pin", "id", "1"]),
            failure(["link", "pin", "id", "4294967295", F + "/x"]),
            usage(["link", "detach"]), failure(["link", "detach", "id", "4294967295"]),
            failure(["link", "detach", "pinned", map]), failure(["link", "detach", "pinned", prog]),
            // object pin.
            usage(["object", "pin"]), usage(["object", "pin", obj]), usage(["object", "pin", obj, F + "/t", "extra"]),
            usage(["object", "pin", "--frob", obj, F + "/t"], "--frob"),
            usage(["object", "pin", obj, F + "/t", "--pin-root"]),
            usage(["object", "pin", obj, F + "/t", "--pin-root", F, "--pin-root", F]),
            usage(["object", "pin", obj, F + "/t", "--map", "noequals"]), usage(["object", "pin", obj, F + "/t", "--map", "=x"]),
            usage(["object", "pin", obj, F + "/t", "--map", "x="]), usage(["object", "pin", obj, F + "/t", "--pin-map", "="]),
            usage(["object", "pin", obj, F + "/t", "--enable", "hit_map", "--disable", "hit_map"]),
            usage(["object", "pin", obj, F + "/t", "--enable"]),
            failure(["object", "pin", obj, F + "/t", "--enable", "no_such_map"], "no_such_map"),
            failure(["object", "pin", obj, F + "/t", "--map", "hit_map=" + none]),
            failure(["object", "pin", obj, F + "/t", "--map", "hit_map=" + prog]),
            failure(["object", "pin", obj, F + "/t", "--map", "no_such_map=" + map]),
            failure(["object", "pin", obj, F + "/t", "--pin-map", "hit_map=" + T + "/x"]),
            failure(["object", "pin", obj, F + "/t", "--pin-map", "hit_map=" + prog]),
            failure(["object", "pin", try Fixtures.object("obj_shared_a"), F + "/t", "--pin-root", none]),
            failure(["object", "pin", none + ".o", F + "/t"]), failure(["object", "pin", "", F + "/t"]),
            failure(["object", "pin", "/dev/null", F + "/t"]), failure(["object", "pin", "/dev/zero", F + "/t"]),
            failure(["object", "pin", T + "/fifo", F + "/t"]), failure(["object", "pin", T + "/text", F + "/t"]),
            failure(["object", "pin", T, F + "/t"]), failure(["object", "pin", "/proc/self/mem", F + "/t"]),
            failure(["object", "pin", obj, ""]), failure(["object", "pin", obj, "/"]),
            failure(["object", "pin", obj, F + "/bpfswift_staging_t"]), failure(["object", "pin", obj, F + "/t.x"]),
            failure(["object", "pin", obj, F + "/missing/t"]), failure(["object", "pin", obj, T + "/t"]),
            failure(["object", "pin", obj, map]), failure(["object", "pin", obj, P + "/maps"]),
            failure(["object", "pin", try Fixtures.object("obj_tp"), P]),
            failure(["object", "pin", obj, F + "/" + String(repeating: "n", count: 300)]),
            failure(["object", "pin", obj, F + "/" + String(repeating: "d/", count: 3000) + "t"]),
            // object show, unpin, list, inspect.
            usage(["object", "show"]), usage(["object", "show", P, "extra"]), failure(["object", "show", ""]),
            failure(["object", "show", none]), failure(["object", "show", T]), failure(["object", "show", map]),
            failure(["object", "show", P + "/maps"]), failure(["object", "show", "/sys/fs/bpf"]),
            usage(["object", "unpin"]), usage(["object", "unpin", P, P]), failure(["object", "unpin", ""]),
            failure(["object", "unpin", none]), failure(["object", "unpin", T]), failure(["object", "unpin", map]),
            failure(["object", "unpin", P + "/maps"]), failure(["object", "unpin", P + "/."]),
            usage(["object", "list", F, F]), failure(["object", "list", none]), failure(["object", "list", T]),
            failure(["object", "list", map]), failure(["object", "list", ""]),
            usage(["object", "inspect"]), usage(["object", "inspect", obj, obj]),
            failure(["object", "inspect", none]), failure(["object", "inspect", ""]), failure(["object", "inspect", T]),
            failure(["object", "inspect", "/dev/null"]), failure(["object", "inspect", "/dev/zero"]),
            failure(["object", "inspect", "/dev/stdin"]), failure(["object", "inspect", T + "/fifo"]),
            failure(["object", "inspect", T + "/text"]), failure(["object", "inspect", "/proc/self/mem"]),
            failure(["object", "inspect", map]), failure(["object", "inspect", "/sys/kernel/btf/vmlinux"]),
            // gen skeleton.
            usage(["gen"]), usage(["gen", "skeleton"]), usage(["gen", "skeleton", obj, "--lang"]),
            usage(["gen", "skeleton", obj, "--lang", "rust"], "rust"), usage(["gen", "skeleton", obj, "--lang", ""]),
            usage(["gen", "skeleton", obj, "--lang", "c", "--lang", "swift"]), usage(["gen", "skeleton", obj, "name"]),
            usage(["gen", "skeleton", obj, "name", "A", "name", "B"]), usage(["gen", "skeleton", obj, "frob"]),
            usage(["gen", "skeleton", obj, ""]),
            either(["gen", "skeleton", obj, "name", "1bad"]), either(["gen", "skeleton", obj, "name", "class"]),
            either(["gen", "skeleton", obj, "name", ""]), either(["gen", "skeleton", obj, "--lang", "c", "name", "a-b"]),
            either(["gen", "skeleton", obj, "--lang", "c", "name", "int"]),
            failure(["gen", "skeleton", none]), failure(["gen", "skeleton", ""]), failure(["gen", "skeleton", "/dev/zero"]),
            failure(["gen", "skeleton", T + "/fifo"]), failure(["gen", "skeleton", T + "/text"]),
            failure(["gen", "skeleton", T]), failure(["gen", "skeleton", map]),
            failure(["gen", "skeleton", "/dev/null", "--lang", "c"]),
            // struct_ops.
            usage(["struct_ops", "show", "id"]), usage(["struct_ops", "show", "id", "x"]),
            usage(["struct_ops", "show", "pinned", map]), usage(["struct_ops", "show", "id", "1", "x"]),
            failure(["struct_ops", "show", "id", "4294967295"]), failure(["struct_ops", "show", "name", "no_such_ops"]),
            failure(["struct_ops", "dump", "id", "4294967295"]), usage(["struct_ops", "dump", "tag", "x"]),
            usage(["struct_ops", "register"]), failure(["struct_ops", "register", none]),
            failure(["struct_ops", "register", T + "/text"]), failure(["struct_ops", "register", "/dev/zero"]),
            failure(["struct_ops", "register", obj]),
            either(["struct_ops", "register", try Fixtures.object("rob_struct_ops"), T, "--disable", "rob_ca",
                    "--disable", "rob_ca_nolink"]),
            either(["struct_ops", "register", try Fixtures.object("rob_struct_ops"), F, "--enable", "no_such_map"]),
            usage(["struct_ops", "unregister"]), usage(["struct_ops", "unregister", "id", "1", "x"]),
            failure(["struct_ops", "unregister", "id", "4294967295"]), failure(["struct_ops", "unregister", "name", "no_such_ops"]),
        ]
    }

    @Test func malformedCommandLinesFailCleanly() throws {
        let fs = try BPFFSDir("rob_cmdline")
        defer { fs.remove() }
        let scratch = try Robust.tempDirectory("cmdline")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        #expect(mkfifo(scratch + "/fifo", 0o600) == 0)
        try Data("not an object\n".utf8).write(to: URL(fileURLWithPath: scratch + "/text"))
        let tree = fs.sub("tree")
        let pinned = try Robust.bpfswift(["object", "pin", try Fixtures.object("counter"), tree])
        try #require(pinned.status == 0, "\(pinned.summary)")
        let free = fs.sub("free")
        try FileManager.default.createDirectory(atPath: free, withIntermediateDirectories: false)
        let treeBefore = Robust.listTree(tree)

        for c in try Self.cases(tree: tree, scratch: scratch, free: free) {
            for json in [false, true] {
                let args = json ? ["-j"] + c.args : c.args
                let r = try Robust.bpfswift(args, timeout: 30)
                #expect(!r.signaled && !r.timedOut, "\(c): \(r.summary)")
                #expect(c.exits.contains(r.status), "\(c) (json \(json)): \(r.summary)")
                guard r.status != 0 else { continue }
                #expect(Robust.isOneLineError(r.stderr), "\(c) (json \(json)): stderr \(r.stderr.prefix(500))")
                if let m = c.mentions, !json {
                    #expect(r.stderr.contains(m), "\(c): \(r.stderr)")
                }
                if json {
                    // The whole of stdout is the error document (pretty with -p).
                    let o = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
                    #expect((o?["error"] as? String)?.isEmpty == false, "\(c): -j stdout \(r.stdout.prefix(500))")
                }
            }
        }
        // None of them created anything, and the tree they aimed at is whole.
        #expect(Robust.listTree(free).isEmpty, "\(Robust.listTree(free))")
        #expect(Robust.listTree(tree) == treeBefore)
        #expect(Robust.listTree(scratch) == ["fifo", "text"], "\(Robust.listTree(scratch))")
        #expect(Robust.listTree(fs.path).filter { !$0.hasPrefix("tree") && !$0.hasPrefix("free") }.isEmpty,
                "\(Robust.listTree(fs.path))")
        let show = try Robust.bpfswift(["object", "show", tree])
        #expect(show.status == 0 && show.stdout.contains("complete"), "\(show.summary)")
        #expect(try Robust.bpfswift(["object", "unpin", tree]).status == 0)
    }
}
