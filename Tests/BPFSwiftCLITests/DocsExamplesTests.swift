import Testing
import Foundation
@testable import BPFSwiftCLI
import TestSupport

/// The README and Docs/ are true for a newcomer: every `$ bpfswift ...`
/// line runs as written, the Swift snippets compile, the SwiftPM lines
/// resolve, nothing points outside the repository, and the reference's
/// command grammar is the command tables'.
@Suite struct DocsExamplesTests {
    /// One `$ bpfswift ...` line of a document, and whether the lines after
    /// it show an error (an `Error:` line), i.e. a non-zero exit.
    struct Example: CustomStringConvertible {
        var file: String
        var line: Int
        var command: String
        var showsError: Bool
        var description: String { "\(file):\(line): \(command)" }
    }

    static func read(_ rel: String) throws -> String {
        try String(contentsOfFile: TestEnv.packageRoot + "/" + rel, encoding: .utf8)
    }

    /// Code lines: in a ``` fence, or indented by four spaces or more.
    /// A `$ ` line in code is a command; the code lines after it, up to the
    /// next `$ ` line or the end of the block, are its output.
    static func examples(in rel: String) throws -> (examples: [Example], synopses: [(Int, String)]) {
        var out: [Example] = []
        var synopses: [(Int, String)] = []
        var inFence = false
        var current: Example?
        func finish() { if let c = current { out.append(c) }; current = nil }
        for (i, raw) in try read(rel).components(separatedBy: "\n").enumerated() {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") { inFence.toggle(); finish(); continue }
            let isCode = inFence || raw.hasPrefix("    ") || raw.hasPrefix("\t")
            guard isCode else {
                if !trimmed.isEmpty { finish() }
                continue
            }
            if trimmed.hasPrefix("$ ") {
                finish()
                let cmd = String(trimmed.dropFirst(2))
                if cmd.hasPrefix("bpfswift ") { current = Example(file: rel, line: i + 1, command: cmd, showsError: false) }
            } else if trimmed.hasPrefix("bpfswift ") {
                synopses.append((i + 1, trimmed))
            } else if trimmed.hasPrefix("Error:") {
                current?.showsError = true
            }
        }
        finish()
        return (out, synopses)
    }

    /// Runs every `$ bpfswift` line of the README and the guide, in order,
    /// on the fixtures, under a unique directory on bpffs: a non-zero exit
    /// is a failure unless the text shows an error there, and an error it
    /// shows must happen.
    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func readmeAndGuideCommandsRunAsWritten() throws {
        let dir = try BPFFSDir("docs_examples")
        defer { dir.remove() }
        let work = NSTemporaryDirectory() + "bpfswift_docs_examples_\(getpid())"
        try FileManager.default.createDirectory(atPath: work + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createSymbolicLink(atPath: work + "/bin/bpfswift", withDestinationPath: TestEnv.binary)

        var all: [Example] = []
        for doc in ["README.md", "Docs/guide.md"] {
            let found = try Self.examples(in: doc).examples
            #expect(found.count >= 5, "\(doc): only \(found.count) commands found")
            all += found
        }
        // The struct_ops example registers names every run shares (map cc_v2,
        // congestion control bpfswift_v2): run a copy with names of this run's own.
        let base36 = String(getpid(), radix: 36)
        let pidTag = String((String(repeating: "0", count: 9) + base36).suffix(9))
        let mapName = "k" + String(pidTag.suffix(4)), ccName = "bs" + pidTag
        let cc = work + "/cc_variants.bpf.o"
        try Self.renamed(try Fixtures.object("cc_variants"), ["cc_v2": mapName, "bpfswift_v2": ccName]).write(to: URL(fileURLWithPath: cc))
        let path = work + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        for e in all {
            var line = e.command
                .replacingOccurrences(of: "Tests/Fixtures/build/cc_variants.bpf.o", with: cc)
                .replacingOccurrences(of: #"\bcc_v2\b"#, with: mapName, options: .regularExpression)
                .replacingOccurrences(of: "Tests/Fixtures/build/", with: Fixtures.buildDir + "/")
                .replacingOccurrences(of: "/sys/fs/bpf/", with: dir.path + "/")
            // `object list` without ROOT lists all of /sys/fs/bpf: list the test's directory.
            line = line.replacingOccurrences(of: #"object list(?=\s*($|#|\|))"#, with: "object list \(dir.path)",
                                             options: .regularExpression)
            let r = try runProcess("/bin/bash", ["-o", "pipefail", "-c", "cd '\(work)' && \(line)"],
                                   environment: ["PATH": path])
            if e.showsError {
                #expect(r.status != 0 && r.stderr.hasPrefix("Error:"), "\(e): the text shows an error; got exit \(r.status): \(r.stderr)")
            } else {
                #expect(r.status == 0, "\(e): exit \(r.status): \(r.stderr)")
            }
        }
    }

    /// The object file at `path` with every occurrence of each key replaced
    /// by its value (of the same length): symbol, BTF and section strings alike.
    static func renamed(_ path: String, _ names: [String: String]) throws -> Data {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for (old, new) in names {
            let o = Array(old.utf8), n = Array(new.utf8)
            precondition(o.count == n.count)
            var i = 0, replaced = 0
            while i + o.count <= bytes.count {
                if bytes[i] == o[0] && Array(bytes[i..<i + o.count]) == o {
                    bytes.replaceSubrange(i..<i + o.count, with: n)
                    replaced += 1
                    i += o.count
                } else {
                    i += 1
                }
            }
            if replaced == 0 { throw TestFailure("\(path) has no \(old)") }
        }
        return Data(bytes)
    }

    /// A `bpfswift` line without `$ ` must be a synopsis (it has placeholders),
    /// not an example that the test above would miss.
    @Test func everyExampleLineIsMarked() throws {
        for doc in ["README.md", "Docs/guide.md"] {
            for (line, text) in try Self.examples(in: doc).synopses {
                let placeholder = text.range(of: #"[A-Z][A-Z_]{2,}|\[|\{"#, options: .regularExpression) != nil
                #expect(placeholder, "\(doc):\(line): '\(text)' is neither a synopsis nor marked with '$ '")
            }
        }
    }

    /// Users have only this repository: no pointer to files outside it, no path of the machine the docs were written on.
    @Test func docsStandAlone() throws {
        var docs = ["README.md"]
        for f in try FileManager.default.contentsOfDirectory(atPath: TestEnv.packageRoot + "/Docs") where f.hasSuffix(".md") {
            docs.append("Docs/" + f)
        }
        for doc in docs {
            let text = try Self.read(doc)
            for bad in ["../shared", "SPEC.md", "/work/"] {
                #expect(!text.contains(bad), "\(doc) mentions \(bad)")
            }
        }
        let readme = try Self.read("README.md")
        // bpfswift is on the PATH (or its place is said) before the tour uses it.
        let install = try #require(readme.range(of: "$ scripts/install"))
        let firstUse = try #require(readme.range(of: "$ bpfswift "))
        #expect(install.lowerBound < firstUse.lowerBound)
    }

    /// The Commands section of Docs/reference.md is what `bpfswift OBJECT help` prints.
    @Test func referenceCommandsAreCurrent() throws {
        let text = try Self.read("Docs/reference.md")
        let begin = try #require(text.range(of: "<!-- BEGIN commands: generated by scripts/gen-docs; do not edit -->\n"))
        let end = try #require(text.range(of: "<!-- END commands -->"))
        var expected = ""
        for g in CLI.groups {
            expected += "### \(g.name)\n\n"
            let help = runCLI(g.name, "help").out
            for l in help.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                var s = "    " + l
                while s.hasSuffix(" ") { s.removeLast() }
                expected += s + "\n"
            }
            expected += "\n"
        }
        #expect(String(text[begin.upperBound..<end.lowerBound]) == expected, "Docs/reference.md is stale: run scripts/gen-docs")
    }

    /// The Swift snippets that use the counter skeleton (README and guide)
    /// compile as written, with the skeleton `gen skeleton` makes, in
    /// Swift 6 mode, against this build's BPFCore.
    @Test func skeletonSnippetsCompile() throws {
        let modules = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("Modules").path
        try #require(FileManager.default.fileExists(atPath: modules + "/BPFCore.swiftmodule"), "no BPFCore module in \(modules)")
        let work = NSTemporaryDirectory() + "bpfswift_docs_snippets_\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let skel = try bpfswift("gen", "skeleton", try Fixtures.object("counter"))
        try #require(skel.status == 0, "\(skel.stderr)")
        try skel.stdout.write(toFile: work + "/CounterSkeleton.swift", atomically: true, encoding: .utf8)

        var snippets: [(String, String)] = []
        for doc in ["README.md", "Docs/guide.md"] {
            for block in try Self.fencedBlocks("swift", in: doc) where block.contains("CounterSkeleton()") {
                snippets.append((doc, block))
            }
        }
        #expect(snippets.count == 2, "expected the README's and the guide's skeleton snippets")
        for (doc, block) in snippets {
            #expect(block.contains("import BPFCore"), "\(doc): the snippet must show its imports")
            let dirPath = work + "/\(snippets.firstIndex { $0.1 == block }!)"
            try FileManager.default.createDirectory(atPath: dirPath, withIntermediateDirectories: true)
            try block.write(toFile: dirPath + "/main.swift", atomically: true, encoding: .utf8)
            let r = try runProcess("/usr/bin/env", ["swiftc", "-typecheck", "-swift-version", "6",
                                                    "-I", modules, "-I", TestEnv.packageRoot + "/Sources/CLibBPF",
                                                    dirPath + "/main.swift", work + "/CounterSkeleton.swift"])
            #expect(r.status == 0, "\(doc)'s skeleton snippet does not compile:\n\(r.stderr)")
            // Its pin path is not the tour's tree.
            #expect(!block.contains("\"/sys/fs/bpf/counter\""), "\(doc): the snippet pins where the tour's tree is")
        }
    }

    /// The guide's Package.swift resolves as written, next to a checkout named `bpfswift`.
    @Test func packageManifestResolves() throws {
        let manifest = try #require(try Self.fencedBlocks("swift", in: "Docs/guide.md").first { $0.hasPrefix("// swift-tools-version") })
        let work = NSTemporaryDirectory() + "bpfswift_docs_manifest_\(getpid())"
        try FileManager.default.createDirectory(atPath: work + "/app/Sources/counter", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createSymbolicLink(atPath: work + "/bpfswift", withDestinationPath: TestEnv.packageRoot)
        try manifest.write(toFile: work + "/app/Package.swift", atomically: true, encoding: .utf8)
        try "print(1)\n".write(toFile: work + "/app/Sources/counter/main.swift", atomically: true, encoding: .utf8)
        let r = try runProcess("/usr/bin/env", ["swift", "package", "--package-path", work + "/app", "describe"])
        #expect(r.status == 0, "the guide's Package.swift does not resolve:\n\(r.stdout)\(r.stderr)")
        // The reference shows the same dependency lines.
        let reference = try Self.read("Docs/reference.md")
        for l in [#".package(path: "../bpfswift")"#, #".product(name: "BPFCore", package: "bpfswift")"#] {
            #expect(manifest.contains(l) && reference.contains(l), "\(l)")
        }
    }

    /// scripts/demo writes colour escapes only to a terminal: its output
    /// helpers, run with stdout on a pipe, print plain text; on a terminal
    /// (script(1) gives one), bold and dim.
    @Test func demoColoursOnlyATerminal() throws {
        let demo = try Self.read("scripts/demo")
        let lines = demo.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex { $0.hasPrefix("if [ -t 1 ]") })
        let end = try #require(lines.firstIndex { $0.hasPrefix("note()") })
        let helpers = lines[start...end].joined(separator: "\n")
        // Every escape in the script is in that block.
        let outside = lines.enumerated().filter { !(start...end).contains($0.offset) && $0.element.contains("\\033") }
        #expect(outside.isEmpty, "escapes outside the terminal check: \(outside.map(\.element))")
        let piped = try runProcess("/bin/bash", ["-c", helpers + "\nstep bpfswift version; note a note"])
        #expect(piped.status == 0 && piped.stdout == "\n$ bpfswift version\n# a note\n", "\(piped.stdout.debugDescription)")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/script") {
            let script = NSTemporaryDirectory() + "bpfswift_demo_tty_\(getpid()).sh"
            try (helpers + "\nstep x\n").write(toFile: script, atomically: true, encoding: .utf8)
            defer { unlink(script) }
            let tty = try runProcess("/usr/bin/script", ["-qec", "bash " + script, "/dev/null"])
            #expect(tty.stdout.contains("\u{1b}[1m$ x"), "\(tty.stdout.debugDescription)")
        }
    }

    /// The bodies of the ```LANG fenced blocks of a document.
    static func fencedBlocks(_ lang: String, in rel: String) throws -> [String] {
        var blocks: [String] = []
        var current: [String]?
        for line in try read(rel).components(separatedBy: "\n") {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```" + lang {
                current = []
            } else if current != nil, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }
}
