import Testing
import Foundation
@testable import BPFSwiftCLI
import TestSupport

/// Usage errors as a newcomer meets them: exit status 2, one line on stderr
/// ("Error: ..."), and the line names the expected form (the verb's usage
/// line, a grammar such as PROG := { ... }, or the words that would do).
@Suite struct UsageErrorTests {
    /// A malformed command line and the text of the expected form its error must carry.
    static let table: [(args: [String], form: String)] = [
        (["frob"], "expected one of: prog, map, link, object, struct_ops, gen, btf, net, cgroup, perf, iter, feature, version, help"),
        (["--frob"], "expected OPTIONS := {"),
        (["-x", "prog", "show"], "expected OPTIONS := {"),
        (["help", "--man", "frob"], "expected one of: prog, map, link"),
        (["prog", "frob"], "expected one of: show, list, pin, dump, load, loadall, attach, detach, run, tracelog, help"),
        (["map", "frobnicate"], "expected one of: show, list, dump, update, lookup"),
        (["prog", "show", "id"], "expected PROG := { id ID | pinned FILE | tag TAG | name NAME }"),
        (["prog", "show", "id", "abc"], "usage: bpfswift prog { show | list } [PROG]"),
        (["prog", "show", "foo", "1"], "expected PROG := {"),
        (["prog", "list", "id", "1", "extra"], "usage: bpfswift prog { show | list } [PROG]"),
        (["prog", "show", "tag", "123"], "expected 16 hex digits"),
        (["prog", "show", "--metadata="], "--metadata expects KEY or KEY=VALUE"),
        (["prog", "pin"], "expected PROG := {"),
        (["prog", "pin", "id", "1"], "usage: bpfswift prog pin PROG FILE"),
        (["prog", "pin", "name"], "expected PROG := {"),
        (["map", "dump"], "expected MAP := { id ID | pinned FILE | name NAME }"),
        (["map", "dump", "tag", "0011223344556677"], "expected MAP := {"),
        (["map", "lookup", "pinned"], "usage: bpfswift map lookup MAP [key DATA]"),
        (["map", "freeze"], "usage: bpfswift map freeze MAP"),
        (["map", "create"], "usage: bpfswift map create FILE type TYPE"),
        (["map", "create", "/sys/fs/bpf/x"], "map type not specified (type TYPE)"),
        (["map", "create", "/sys/fs/bpf/x", "type"], "usage: bpfswift map create FILE type TYPE"),
        (["map", "create", "/sys/fs/bpf/x", "type", "nosuch"], "usage: bpfswift map create FILE type TYPE"),
        (["map", "create", "/sys/fs/bpf/x", "type", "hash", "key", "four"], "usage: bpfswift map create"),
        (["map", "create", "/sys/fs/bpf/x", "type", "hash", "key", "4", "value", "4", "entries", "4"], "usage: bpfswift map create"),
        (["map", "create", "/sys/fs/bpf/x", "bogus"], "usage: bpfswift map create"),
        (["link", "show", "name", "x"], "expected LINK := { id ID | pinned FILE }"),
        (["link", "pin", "id", "1"], "usage: bpfswift link pin LINK FILE"),
        (["link", "detach"], "expected LINK := {"),
        (["link", "detach", "id", "x"], "usage: bpfswift link detach LINK"),
        (["object"], "usage: bpfswift object pin OBJ PATH"),
        (["object", "pin", "x.bpf.o"], "usage: bpfswift object pin OBJ PATH"),
        (["object", "pin", "x.bpf.o", "/sys/fs/bpf/x", "--bogus"], "usage: bpfswift object pin OBJ PATH"),
        (["object", "pin", "x.bpf.o", "/sys/fs/bpf/x", "--map", "foo"], "--map expects NAME=PINNED_FILE"),
        (["object", "pin", "x.bpf.o", "/sys/fs/bpf/x", "--pin-map"], "usage: bpfswift object pin"),
        (["object", "pin", "x.bpf.o", "/sys/fs/bpf/x", "--pin-root", "a", "--pin-root", "b"], "usage: bpfswift object pin"),
        (["object", "pin", "x.bpf.o", "/sys/fs/bpf/x", "--enable", "m", "--disable", "m"], "usage: bpfswift object pin"),
        (["object", "show"], "usage: bpfswift object show PATH"),
        (["object", "unpin"], "usage: bpfswift object unpin PATH"),
        (["object", "list", "a", "b"], "usage: bpfswift object list [ROOT]"),
        (["object", "inspect"], "usage: bpfswift object inspect OBJ"),
    ]

    @Test func malformedCommandLines() {
        for row in Self.table {
            let r = runCLI(args: row.args)
            let line = row.args.joined(separator: " ")
            #expect(r.status == 2, "bpfswift \(line): exit \(r.status)")
            #expect(r.out.isEmpty, "bpfswift \(line): stdout \(r.out)")
            let lines = r.err.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 2 && lines[1].isEmpty && lines[0].hasPrefix("Error: "), "bpfswift \(line): \(r.err)")
            #expect(r.err.contains(row.form), "bpfswift \(line): '\(r.err)' does not name '\(row.form)'")
        }
    }

    /// Every verb of every table, given words it cannot take, answers with its own usage line.
    @Test func everyVerbNamesItsUsage() {
        var checked = 0
        for g in CLI.groups {
            for c in g.commands {
                let r = runCLI(args: [g.name, c.name] + (1...9).map { "x\($0)" })
                let lines = r.err.split(separator: "\n")
                #expect(r.status == 2 && lines.count == 1, "\(g.name) \(c.name): exit \(r.status): \(r.err)")
                let usage = (c.usage.isEmpty ? g.commands.first { $0.usage.first?.contains(" \(c.name) ") == true }!.usage : c.usage)
                #expect(r.err.contains("usage: bpfswift \(g.name) \(usage[0])"), "\(g.name) \(c.name): \(r.err)")
                checked += 1
            }
        }
        #expect(checked >= 25)
    }

    /// With -j the same error is {"error": "..."} on stdout, still exit 2 and one line on stderr.
    @Test func jsonUsageErrors() throws {
        for args in [["-j", "prog", "show", "id"], ["-p", "object", "pin"], ["-j", "--frob"]] {
            let r = runCLI(args: args)
            #expect(r.status == 2)
            let j = try parseJSON(r.out) as? [String: Any]
            let message = try #require(j?["error"] as? String, "\(args): \(r.out)")
            #expect(r.err == "Error: \(message)\n")
        }
    }

    /// `bpfswift OBJECT help`, `bpfswift OBJECT h` and `bpfswift -h OBJECT` print the
    /// object's usage (every verb's line and its grammar) and exit 0.
    @Test func everyObjectPrintsItsUsage() {
        for g in CLI.groups {
            for args in [[g.name, "help"], [g.name, "h"], ["-h", g.name], [g.name, "--help"]] {
                if args[1] == "h" && g.select("h") != nil { continue }
                let r = runCLI(args: args)
                #expect(r.status == 0 && r.err.isEmpty, "\(args): \(r.err)")
                #expect(r.out.hasPrefix("Usage: bpfswift [OPTIONS] \(g.name) "), "\(args): \(r.out)")
                for c in g.commands {
                    for u in c.usage { #expect(r.out.contains("bpfswift [OPTIONS] \(g.name) \(u)\n"), "\(args) lacks \(u)") }
                }
                for line in g.grammar { #expect(r.out.contains(line), "\(args) lacks \(line)") }
                #expect(r.out.contains(CLI.optionsGrammar))
            }
        }
        let top = runCLI("help")
        #expect(top.status == 0 && top.out.contains("OBJECT := { prog | map | link | object | struct_ops | gen | btf | net | cgroup | perf | iter | feature | version | help }"))
        let bare = runCLI()
        // No OBJECT is a usage error: the usage goes to stderr with the error line, stdout stays empty.
        #expect(bare.status == 2 && bare.err.hasPrefix("Usage: bpfswift") && bare.out.isEmpty)
    }

    /// Every `bpfswift OBJECT VERB` in the code of README.md and Docs/guide.md
    /// names an object and a verb of the tables (prefixes resolved as the
    /// dispatcher does), so that the docs cannot teach a command that is gone.
    @Test func documentedCommandsExist() throws {
        var checked = 0
        for doc in ["README.md", "Docs/guide.md"] {
            let text = try String(contentsOfFile: TestEnv.packageRoot + "/" + doc, encoding: .utf8)
            for code in Self.codeSpans(text) {
                var words = code.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                while let i = words.firstIndex(of: "bpfswift") {
                    words.removeFirst(i + 1)
                    var rest = words.drop { $0.hasPrefix("-") }
                    guard let objectWord = rest.first, objectWord.first?.isLowercase == true else { continue }  // not a placeholder (OBJECT)
                    rest = rest.dropFirst()
                    let object = CLI.objectWords.first { $0.hasPrefix(objectWord) }
                    #expect(object != nil, "\(doc): '\(code)': unknown object '\(objectWord)'")
                    guard let object, let group = CLI.groups.first(where: { $0.name == object }) else { continue }
                    guard let verb = rest.first, verb.first?.isLetter == true, verb != "help" else { continue }
                    #expect(group.select(verb) != nil, "\(doc): '\(code)': \(object) has no verb '\(verb)'")
                    checked += 1
                }
            }
        }
        #expect(checked >= 30, "documented commands found: \(checked)")
    }

    /// The code of a Markdown text: fenced blocks, indented blocks and `inline` spans, line by line.
    static func codeSpans(_ text: String) -> [String] {
        var out: [String] = []
        var fenced = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```") { fenced.toggle(); continue }
            if fenced || line.hasPrefix("    ") || line.hasPrefix("\t") { out.append(line); continue }
            let parts = line.split(separator: "`", omittingEmptySubsequences: false)
            for (i, p) in parts.enumerated() where i % 2 == 1 { out.append(String(p)) }
        }
        return out
    }

    /// Key and value data are checked against the map (its key and value
    /// sizes), so these need a real one: a hash map created in the test's dir.
    @Test(.enabled(if: TestEnv.kernelTestsEnabled)) func malformedMapData() throws {
        let dir = try BPFFSDir("usage_map")
        defer { dir.remove() }
        let map = dir.sub("m")
        let made = try bpfswift("map", "create", map, "type", "hash", "key", "4", "value", "8", "entries", "4", "name", "usage_m")
        try #require(made.status == 0, "\(made.stderr)")
        let rows: [([String], String)] = [
            (["map", "lookup", "pinned", map], "usage: bpfswift map lookup MAP [key DATA]"),
            (["map", "lookup", "pinned", map, "key", "1", "2"], "usage: bpfswift map lookup MAP [key DATA]"),
            (["map", "lookup", "pinned", map, "key", "1", "2", "3", "300"], "(a byte is 0 to 255)"),
            (["map", "lookup", "pinned", map, "key", "hex", "zz", "00", "00", "00"], "(expected hex digits)"),
            (["map", "update", "pinned", map, "key", "1", "0", "0", "0"], "usage: bpfswift map update MAP [key DATA] [value VALUE] [UPDATE_FLAGS]"),
            (["map", "update", "pinned", map, "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "8", "sometimes"],
             "usage: bpfswift map update MAP"),
            (["map", "delete", "pinned", map], "usage: bpfswift map delete MAP key DATA"),
            (["map", "getnext", "pinned", map, "value", "1"], "usage: bpfswift map getnext MAP [key DATA]"),
            (["map", "pin", "pinned", map], "usage: bpfswift map pin MAP FILE"),
        ]
        for (args, form) in rows {
            let r = try bpfswift(args: args)
            #expect(r.status == 2, "\(args): exit \(r.status): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("Error: "), "\(args): \(r.stderr)")
            #expect(r.stderr.contains(form), "\(args): '\(r.stderr)' does not name '\(form)'")
        }
        dir.remove()
    }
}
