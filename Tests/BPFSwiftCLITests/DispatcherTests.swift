import Testing
import Foundation
@testable import BPFSwiftCLI
import BPFCore

/// Runs the CLI in-process with memory sinks.
func runCLI(_ args: String...) -> (status: Int32, out: String, err: String) {
    runCLI(args: args)
}

func runCLI(args: [String]) -> (status: Int32, out: String, err: String) {
    let out = OutputSink(), err = OutputSink()
    let status = CLI.run(["bpfswift"] + args, out: out, err: err)
    out.flush(); err.flush()
    return (status, out.text, err.text)
}

@Suite struct DispatcherTests {
    @Test func everyObjectWordHasItsTable() {
        // Dispatch builds one table by its word; help, man pages and completions use them all.
        for w in CLI.objectWords where w != "version" && w != "help" {
            #expect(CLI.group(named: w)?.name == w, "\(w)")
        }
        #expect(CLI.group(named: "version") == nil)
        #expect(CLI.groups.map(\.name) == ["prog", "map", "link", "object", "struct_ops", "gen", "btf", "net", "cgroup", "perf", "iter", "feature"])
    }

    @Test func bpffsMountsMatchProcMounts() throws {
        // Cross-check the byte scanner against a plain reading of /proc/mounts.
        let text = String(decoding: try readFileBytes("/proc/mounts"), as: UTF8.self)
        let expected = text.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ")
            guard f.count >= 3, f[2] == "bpf" else { return nil }
            return String(f[1]).replacingOccurrences(of: "\\040", with: " ")
        }
        #expect(Kernel.bpffsMounts() == expected)
    }
    @Test func unknownObjectIsAUsageError() {
        let r = runCLI("frobnicate")
        #expect(r.status == 2)
        #expect(r.err.hasPrefix("Error: unknown object 'frobnicate'"))
        #expect(r.err.split(separator: "\n").count == 1)
    }

    @Test func jsonErrorGoesToStdout() {
        let r = runCLI("-j", "frobnicate")
        #expect(r.status == 2)
        #expect(r.out.hasPrefix("{\"error\":\"unknown object"))
    }

    @Test func prefixSelectsFirstMatch() {
        let cmds = [Command("show", usage: []) { _, _ in }, Command("list", usage: []) { _, _ in },
                    Command("pin", usage: []) { _, _ in }]
        let g = CommandGroup(name: "x", summary: "", commands: cmds)
        #expect(g.select("s")?.name == "show")
        #expect(g.select("p")?.name == "pin")
        #expect(g.select("l")?.name == "list")
        #expect(g.select("q") == nil)
    }

    @Test func versionPrintsLibbpf() {
        let r = runCLI("-j", "version")
        #expect(r.status == 0)
        #expect(r.out.contains("\"libbpf_version\":\"1."))
        let v = runCLI("-V")
        #expect(v.status == 0 && v.out.hasPrefix("bpfswift v"))
    }

    @Test func helpAtEveryLevel() {
        #expect(runCLI("help").status == 0)
        #expect(runCLI("-h").status == 0)
        for g in CLI.groups {
            let r = runCLI(g.name, "help")
            #expect(r.status == 0, "\(g.name) help")
            #expect(r.out.contains("bpfswift [OPTIONS] \(g.name)"))
        }
    }

    @Test func selectorGrammar() throws {
        var a = Arguments(["id", "42"], commandPath: "prog show")
        #expect(try a.selector("PROG", allowed: ["id", "pinned", "tag", "name"]) == .id(42))
        var t = Arguments(["tag", "aed9730c9d9e6534"], commandPath: "prog show")
        #expect(try t.selector("PROG", allowed: ["id", "tag"]) == .tag([0xae, 0xd9, 0x73, 0x0c, 0x9d, 0x9e, 0x65, 0x34]))
        var bad = Arguments(["id", "x"], commandPath: "prog show")
        #expect(throws: UsageError.self) { try bad.selector("PROG", allowed: ["id"]) }
        var badTag = Arguments(["tag", "xyz"], commandPath: "prog show")
        #expect(throws: UsageError.self) { try badTag.selector("PROG", allowed: ["tag"]) }
        var word = Arguments(["tag", "aa"], commandPath: "map show")
        #expect(throws: UsageError.self) { try word.selector("MAP", allowed: ["id", "pinned", "name"]) }
    }

    @Test func jsonWriterEscapesAndNests() {
        var w = JSONWriter()
        w.beginObject(); w.field("a", "q\"\n"); w.key("b"); w.beginArray(); w.int(-5); w.int(UInt64.max); w.endArray(); w.endObject()
        #expect(String(decoding: w.bytes, as: UTF8.self) == "{\"a\":\"q\\\"\\n\",\"b\":[-5,18446744073709551615]}")
    }
}
