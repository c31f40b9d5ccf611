import Testing
import Foundation
import BPFCore
@testable import BPFSwiftCLI
import TestSupport

/// `prog dump { xlated | jited } PROG file FILE` against bpftool 7.5, and the
/// one-line refusals where no listing is available.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct ProgDumpTests {
    @Test("xlated file: bpftool's bytes for every program of a fixture; jited file: bytes_jited bytes")
    func files() throws {
        let fx = try LoadedFixture("link_trace", label: "btf_dump")
        defer { fx.remove() }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("bpfswift_btf_dump_\(getpid())").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let names = try fx.programNames()
        #expect(!names.isEmpty)
        for name in names {
            let pin = fx.pin(name)
            let theirs = tmp + "/\(name).bpftool", ours = tmp + "/\(name).ours", jited = tmp + "/\(name).jited"
            let b = try Bpftool.run(["prog", "dump", "xlated", "pinned", pin, "file", theirs])
            #expect(b.status == 0, "\(b.stderr)")
            let r = try bpfswift(args: ["prog", "dump", "xlated", "pinned", pin, "file", ours])
            #expect(r.status == 0 && r.stdout.isEmpty, "\(r.stderr)")
            let a = try Data(contentsOf: URL(fileURLWithPath: ours)), e = try Data(contentsOf: URL(fileURLWithPath: theirs))
            #expect(!a.isEmpty && a == e, "\(name): xlated bytes differ from bpftool's")
            var st = stat()
            #expect(stat(ours, &st) == 0 && st.st_mode & 0o777 == 0o600)

            let j = try bpfswift(args: ["-j", "prog", "dump", "jited", "pinned", pin, "file", jited])
            #expect(j.status == 0 && j.stdout == "null\n", "\(j.stderr)")
            let info = try fx.bpftoolJSON(name)
            let jitedSize = try #require(info["bytes_jited"] as? Int)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: jited))
            #expect(bytes.count == jitedSize && jitedSize > 0, "\(name): jited \(bytes.count) bytes, bpftool says \(jitedSize)")
            #expect(bytes != e, "\(name): jited bytes are the xlated ones")
        }
    }

    @Test("jited listings: one line, exit 1, as bpftool without a disassembler; usage errors")
    func refusals() throws {
        let fx = try LoadedFixture("counter", label: "btf_refuse")
        defer { fx.remove() }
        let pin = fx.pin(try #require(try fx.programNames().first))
        let theirs = try Bpftool.run(["prog", "dump", "jited", "pinned", pin])
        let ours = try bpfswift(args: ["prog", "dump", "jited", "pinned", pin])
        #expect(ours.status == 1)
        #expect(ours.stderr == theirs.stderr, "bpftool: \(theirs.stderr)")
        let theirsJ = try Bpftool.run(["-j", "prog", "dump", "jited", "pinned", pin])
        let oursJ = try bpfswift(args: ["-j", "prog", "dump", "jited", "pinned", pin])
        #expect(oursJ.stdout == theirsJ.stdout)
        // visual is a listing bpfswift prints (XlatedGraphAndSeveralTests compares it with bpftool's).
        let x = try bpfswift(args: ["prog", "dump", "xlated", "pinned", pin, "visual"])
        #expect(x.status == 0 && x.stdout.hasPrefix("digraph "), "\(x.stderr)")

        let bad: [[String]] = [
            ["prog", "dump"], ["prog", "dump", "frob", "pinned", pin], ["prog", "dump", "xlated"],
            ["prog", "dump", "xlated", "pinned", pin, "file"],
            ["prog", "dump", "xlated", "pinned", pin, "file", "/tmp/x", "opcodes"],
            ["prog", "dump", "xlated", "pinned", pin, "bogus"],
        ]
        for args in bad {
            let r = try bpfswift(args: args)
            #expect(r.status == 2 && !r.signaled, "\(args): exit \(r.status)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("Error: "), "\(args): \(r.stderr)")
        }
        let missing = try bpfswift(args: ["prog", "dump", "xlated", "pinned", pin, "file", "/nonexistent/dir/f"])
        #expect(missing.status == 1 && missing.stderr.contains("No such file or directory"), "\(missing.stderr)")
    }
}

/// `prog dump xlated` listings against bpftool for every program of every
/// fixture bpftool can load (`prog loadall`).
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct XlatedListingTests {
    @Test("plain, opcodes + linum, and JSON listings equal bpftool's, byte for byte, for every fixture program")
    func everyFixtureProgram() throws {
        let objects = try FileManager.default.contentsOfDirectory(atPath: Fixtures.buildDir)
            .filter { $0.hasSuffix(".bpf.o") }.sorted()
        var programs = 0, fixtures = 0
        for object in objects {
            let name = String(object.dropLast(".bpf.o".count))
            // bpftool's loadall pins by-name maps at /sys/fs/bpf/NAME and
            // never removes them: other tests (and later runs) would meet
            // them there. Objects with such maps are left out.
            let inspect = try bpfswift(args: ["-j", "object", "inspect", Fixtures.buildDir + "/" + object])
            if let doc = try? parseJSON(inspect.stdout) as? [String: Any],
               let maps = doc["maps"] as? [[String: Any]],
               maps.contains(where: { $0["pinning"] as? String == "by_name" }) { continue }
            // CIScriptTests counts the kernel's programs by name while it runs.
            try Fixtures.withSoleUse(of: name) {
                let dir = try BPFFSDir("btf_x_\(name)")
                defer { dir.remove() }
                let load = try Bpftool.run(["prog", "loadall", Fixtures.buildDir + "/" + object, dir.sub("p")])
                guard load.status == 0 else { return }   // struct_ops-only or deliberately broken objects
                fixtures += 1
                for prog in try FileManager.default.contentsOfDirectory(atPath: dir.sub("p")).sorted() {
                    programs += 1
                    let pin = dir.sub("p") + "/" + prog
                    for extra in [[], ["opcodes", "linum"]] {
                        for json in [[], ["-j"]] {
                            let args = json + ["prog", "dump", "xlated", "pinned", pin] + extra
                            let theirs = try Bpftool.run(args), ours = try bpfswift(args: args)
                            #expect(ours.status == 0 && theirs.status == 0, "\(args): \(ours.stderr) / \(theirs.stderr)")
                            #expect(ours.stdout == theirs.stdout, "\(name)/\(prog) \(args): listing differs from bpftool's")
                        }
                    }
                }
            }
        }
        #expect(fixtures >= 10 && programs >= 20, "only \(fixtures) fixtures, \(programs) programs loaded")
    }
}

/// `prog dump xlated PROG visual` (bpftool's DOT graph) and a name or tag
/// that selects several programs, against bpftool 7.5.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct XlatedGraphAndSeveralTests {
    @Test("visual, alone and with opcodes and linum, equals bpftool's DOT byte for byte", arguments: ["ci_demo", "net_progs", "map_types", "link_trace"])
    func visual(fixture: String) throws {
        // CIScriptTests counts the kernel's programs by name while it runs.
        try Fixtures.withSoleUse(of: fixture) { try visualLoaded(fixture: fixture) }
    }

    func visualLoaded(fixture: String) throws {
        let dir = try BPFFSDir("dump_vis_\(fixture)")
        defer { dir.remove() }
        let load = try Bpftool.run(["prog", "loadall", try Fixtures.object(fixture), dir.sub("p")])
        #expect(load.status == 0, "\(load.stderr)")
        let progs = try FileManager.default.contentsOfDirectory(atPath: dir.sub("p")).sorted()
        #expect(!progs.isEmpty)
        var sawSubprogram = false
        for prog in progs {
            for extra in [["visual"], ["visual", "opcodes", "linum"], ["linum", "visual"]] {
                let args = ["prog", "dump", "xlated", "pinned", dir.sub("p/" + prog)] + extra
                let theirs = try Bpftool.run(args), ours = try bpfswift(args: args)
                #expect(ours.status == 0 && theirs.status == 0, "\(args): \(ours.stderr) / \(theirs.stderr)")
                #expect(ours.stdout.hasPrefix("digraph \"DOT graph for eBPF program\" {\n"))
                #expect(ours.stdout == theirs.stdout, "\(fixture)/\(prog) \(extra): graph differs from bpftool's")
                if ours.stdout.contains("subgraph \"cluster_1\"") { sawSubprogram = true }
            }
        }
        if fixture == "ci_demo" { #expect(sawSubprogram, "ci_xdp calls a subprogram: the graph should have two functions") }
        // -j: bpftool's refusal, word for word.
        let args = ["-j", "prog", "dump", "xlated", "pinned", dir.sub("p/" + progs[0]), "visual"]
        let theirs = try Bpftool.run(args), ours = try bpfswift(args: args)
        #expect(ours.status == 1 && ours.stdout == theirs.stdout && theirs.stdout.contains("not compatible with JSON"),
                "\(ours.stdout) / \(theirs.stdout)")
    }

    @Test("name/tag selecting several programs: each after its header, JSON an array with insns, as bpftool")
    func severalPrograms() throws {
        // It selects by name and tag across the whole kernel: no other test
        // may load dump_multi meanwhile (XlatedListingTests loads every fixture).
        try Fixtures.withSoleUse(of: "dump_multi") { try severalProgramsLoaded() }
    }

    func severalProgramsLoaded() throws {
        let dir = try BPFFSDir("dump_multi")
        defer { dir.remove() }
        for i in 0..<3 {
            let r = try Bpftool.run(["prog", "load", try Fixtures.object("dump_multi"), dir.sub("p\(i)")])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let tag = try #require((try Bpftool.json(["prog", "show", "pinned", dir.sub("p0")]) as? [String: Any])?["tag"] as? String)
        for sel in [["name", "dump_multi"], ["tag", tag]] {
            for extra in [[], ["opcodes"], ["linum"]] {
                for json in [[], ["-j"], ["-p"]] {
                    let args = json + ["prog", "dump", "xlated"] + sel + extra
                    let theirs = try Bpftool.run(args), ours = try bpfswift(args: args)
                    #expect(ours.status == 0 && theirs.status == 0, "\(args): \(ours.stderr) / \(theirs.stderr)")
                    #expect(ours.stdout == theirs.stdout, "\(args): bpftool\n\(theirs.stdout)\nours\n\(ours.stdout)")
                }
            }
            if sel[0] == "name" {
                let text = try bpfswift(args: ["prog", "dump", "xlated"] + sel).stdout
                #expect(text.components(separatedBy: "name dump_multi  tag ").count - 1 >= 3)
                let doc = try #require(try parseJSON(try bpfswift(args: ["-j", "prog", "dump", "xlated"] + sel).stdout) as? [[String: Any]])
                #expect(doc.count >= 3 && doc.allSatisfy { ($0["insns"] as? [Any])?.isEmpty == false })
            }
            // A file or a graph takes one program: bpftool's error.
            for extra in [["visual"], ["file", "/tmp/bpfswift_dump_multi_\(getpid())"]] {
                let ours = try bpfswift(args: ["prog", "dump", "xlated"] + sel + extra)
                let theirs = try Bpftool.run(["prog", "dump", "xlated"] + sel + extra)
                #expect(ours.status == 1 && ours.stderr == "Error: several programs matched\n" && ours.stderr == theirs.stderr,
                        "\(extra): \(ours.stderr) / \(theirs.stderr)")
            }
        }
    }
}
