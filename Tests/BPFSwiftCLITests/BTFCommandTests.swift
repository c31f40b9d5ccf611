import Testing
import Foundation
import BPFCore
@testable import BPFSwiftCLI
import TestSupport

/// `btf show` and `btf dump` against bpftool 7.5 on the running kernel:
/// the same bytes on stdout (text and compact JSON) and the same exit class.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct BTFCommandTests {
    /// Runs both tools with `args`; expects both to succeed with identical stdout.
    func sameOutput(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let theirs = try Bpftool.run(args)
        let ours = try bpfswift(args: args)
        #expect(theirs.status == 0, "bpftool \(args): \(theirs.stderr)", sourceLocation: sourceLocation)
        #expect(ours.status == 0, "bpfswift \(args): \(ours.stderr)", sourceLocation: sourceLocation)
        if ours.stdout != theirs.stdout {
            let a = ours.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let b = theirs.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
            Issue.record("""
                bpfswift \(args.joined(separator: " ")) differs from bpftool at line \(i + 1) \
                (\(a.count) vs \(b.count) lines): ours \(i < a.count ? String(a[i]) : "<end>") \
                / bpftool \(i < b.count ? String(b[i]) : "<end>")
                """, sourceLocation: sourceLocation)
        }
    }

    @Test("btf dump file vmlinux format c is bpftool's vmlinux.h, byte for byte")
    func vmlinuxHeader() throws {
        try sameOutput(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"])
    }

    @Test("btf dump of vmlinux (file and id) in raw format: text and JSON")
    func vmlinuxRaw() throws {
        try sameOutput(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"])
        try sameOutput(["-j", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "raw"])
        let vmlinux = try #require(try BTFInfo.all().first { $0.isKernel && $0.name == "vmlinux" })
        try sameOutput(["btf", "dump", "id", "\(vmlinux.id.rawValue)"])
        try sameOutput(["btf", "dump", "id", "\(vmlinux.id.rawValue)", "format", "c", "unsorted"])
    }

    @Test("program and map BTF: raw, JSON and C, every map selection")
    func programBTF() throws {
        let fx = try LoadedFixture("link_trace", label: "btf_prog")
        defer { fx.remove() }
        let names = try fx.programNames()
        #expect(names.count >= 2)
        let pin = fx.pin(names[0])
        let prog = try fx.bpftoolJSON(names[0])
        let btfID = try #require(prog["btf_id"] as? Int)
        let mapIDs = try #require(prog["map_ids"] as? [Int])
        for format in [["format", "raw"], ["format", "c"], []] {
            try sameOutput(["btf", "dump", "prog", "pinned", pin] + format)
            try sameOutput(["btf", "dump", "id", "\(btfID)"] + format)
        }
        try sameOutput(["-j", "btf", "dump", "prog", "pinned", pin])
        try sameOutput(["-j", "btf", "dump", "id", "\(btfID)"])
        try sameOutput(["btf", "dump", "file", try Fixtures.object("link_trace")])
        try sameOutput(["-j", "btf", "dump", "file", try Fixtures.object("link_trace")])
        try sameOutput(["btf", "dump", "file", try Fixtures.object("link_trace"), "format", "c"])
        var mapsWithBTF = 0
        for m in mapIDs {
            let info = try #require(try Bpftool.json(["map", "show", "id", "\(m)"]) as? [String: Any])
            guard info["btf_id"] != nil else { continue }
            mapsWithBTF += 1
            for sel in [[], ["key"], ["value"], ["kv"], ["all"]] {
                try sameOutput(["btf", "dump", "map", "id", "\(m)"] + sel)
                try sameOutput(["-j", "btf", "dump", "map", "id", "\(m)"] + sel)
                try sameOutput(["btf", "dump", "map", "id", "\(m)"] + sel + ["format", "c"])
            }
        }
        #expect(mapsWithBTF > 0)
    }

    @Test("btf show: the object of a loaded fixture, text and JSON, with its program and map ids")
    func show() throws {
        let fx = try LoadedFixture("link_trace", label: "btf_show")
        defer { fx.remove() }
        let names = try fx.programNames()
        let btfID = try #require(try fx.bpftoolJSON(names[0])["btf_id"] as? Int)
        // Other tests load and unload programs meanwhile: the listing of
        // every BTF object may change between the two runs; our object's may not.
        try sameOutput(["btf", "show", "id", "\(btfID)"])
        try sameOutput(["-j", "btf", "show", "id", "\(btfID)"])
        let text = try bpfswift(args: ["btf", "show", "id", "\(btfID)"]).stdout
        #expect(text.contains("prog_ids "), "\(text)")
        // Every program of the object shares its BTF: all ids, in bpftool's order.
        let ours = try #require(try ourJSON(["btf", "show", "id", "\(btfID)"]) as? [String: Any])
        #expect((ours["prog_ids"] as? [Int])?.count == names.count)

        var matched = false
        for _ in 0..<5 where !matched {
            let theirs = try Bpftool.run(["-j", "btf", "list"])
            let ours = try bpfswift(args: ["-j", "btf", "list"])
            matched = theirs.stdout == ours.stdout && ours.status == 0
        }
        #expect(matched, "btf list -j never matched bpftool's in 5 tries")
        let vmlinux = try bpfswift(args: ["btf", "show"]).stdout
        #expect(vmlinux.contains(": name [vmlinux]  size "))
    }

    @Test("bad input: one error line, exit 1 or 2, as bpftool refuses it")
    func badInput() throws {
        let cases: [([String], Int32)] = [
            (["btf", "dump"], 2),
            (["btf", "dump", "id"], 2),
            (["btf", "dump", "id", "x"], 2),
            (["btf", "dump", "foo", "1"], 2),
            (["btf", "dump", "id", "1", "format", "x"], 2),
            (["btf", "dump", "id", "1", "bogus"], 2),
            (["btf", "dump", "id", "4000000000"], 1),
            (["btf", "dump", "file", "/nonexistent/btf"], 1),
            (["btf", "dump", "file", "/etc/passwd"], 1),
            (["btf", "show", "foo", "1"], 2),
            (["btf", "show", "id", "4000000000"], 1),
            (["-j", "btf", "dump", "id", "1", "format", "c"], 1),
        ]
        for (args, status) in cases {
            let ours = try bpfswift(args: args)
            #expect(ours.status == status, "\(args): exit \(ours.status): \(ours.stderr)")
            #expect(!ours.signaled)
            #expect(ours.stderr.split(separator: "\n").count == 1, "\(args): \(ours.stderr)")
            #expect(ours.stderr.hasPrefix("Error: "), "\(args): \(ours.stderr)")
            let theirs = try Bpftool.run(args)
            #expect(theirs.status != 0, "bpftool accepted \(args)")
        }
        let j = try bpfswift(args: ["-j", "btf", "dump", "id", "1", "format", "c"])
        #expect(j.stdout == "{\"error\":\"JSON output for C-syntax dump is not supported\"}\n")
    }
}

/// The library side of the C dump.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct BTFCDumpLibraryTests {
    @Test("bpftool skips the first type of its sorted list; without that quirk one more anonymous enum is kept")
    func skippedType() throws {
        let btf = try BTF.parse(path: "/sys/kernel/btf/vmlinux")
        var compatible: [UInt8] = [], complete: [UInt8] = []
        try btf.writeC { compatible.append(contentsOf: $0) }
        try btf.writeC(bpftoolCompatible: false) { complete.append(contentsOf: $0) }
        let a = String(decoding: compatible, as: UTF8.self), b = String(decoding: complete, as: UTF8.self)
        #expect(b.count > a.count)
        #expect(b.components(separatedBy: "\nenum {").count == a.components(separatedBy: "\nenum {").count + 1)
    }
}
