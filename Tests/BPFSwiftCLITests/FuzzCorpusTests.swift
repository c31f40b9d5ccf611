import Foundation
import Testing
import TestSupport

/// Every committed fuzz input (Tests/FuzzCorpus/TARGET: minimized interesting
/// inputs and every crasher the fuzzer found, kept after the fix) and the
/// seeds made from the fixtures, replayed through the harness built
/// normally: none may crash, hang or break the CLI's error invariants (the
/// harness aborts on a broken invariant).
@Suite struct FuzzCorpusTests {
    static let corpusRoot = TestEnv.packageRoot + "/Tests/FuzzCorpus"

    static func replay(_ target: String, _ paths: [String], cwd: String? = nil) throws -> TimedResult {
        try Robust.run(Robust.harness, ["replay", target] + paths, cwd: cwd, timeout: 300)
    }

    static func inputs(_ target: String) -> [String] {
        let dir = corpusRoot + "/" + target
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }
    }

    @Test(arguments: ["object", "btf", "elem"])
    func committedCorpusReplaysClean(_ target: String) throws {
        let count = Self.inputs(target).count
        #expect(count > 0, "Tests/FuzzCorpus/\(target) is empty")
        let r = try Self.replay(target, [Self.corpusRoot + "/" + target])
        #expect(r.status == 0 && !r.signaled && !r.timedOut, "\(r.summary)")
        #expect(r.stdout.contains("replayed \(count) inputs through \(target)"), "\(r.summary)")
    }

    /// The args target runs read-only commands against the kernel, from a
    /// scratch directory holding input.bpf.o (as scripts/fuzz runs it).
    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func argsCorpusReplaysClean() throws {
        let dir = try Robust.tempDirectory("fuzz-args")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: try Fixtures.object("counter"), toPath: dir + "/input.bpf.o")
        let count = Self.inputs("args").count
        #expect(count > 0)
        let r = try Self.replay("args", [Self.corpusRoot + "/args"], cwd: dir)
        #expect(r.status == 0 && !r.signaled && !r.timedOut, "\(r.summary)")
        #expect(r.stdout.contains("replayed \(count) inputs through args"), "\(r.summary)")
    }

    /// The seeds scripts/fuzz starts from: every fixture object and its .BTF section.
    @Test func fixtureSeedsReplayClean() throws {
        let objects = try FileManager.default.contentsOfDirectory(atPath: Fixtures.buildDir)
            .filter { $0.hasSuffix(".bpf.o") }.sorted().map { Fixtures.buildDir + "/" + $0 }
        try #require(objects.count >= 10)
        let r = try Self.replay("object", objects)
        #expect(r.status == 0 && !r.signaled && !r.timedOut, "\(r.summary)")

        let dir = try Robust.tempDirectory("fuzz-btf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seeded = try Robust.run(Robust.harness, ["seed-btf", dir] + objects, timeout: 60)
        #expect(seeded.status == 0, "\(seeded.summary)")
        let btfs = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(btfs.count == objects.count, "every fixture has BTF: \(btfs)")
        let b = try Self.replay("btf", [dir])
        #expect(b.status == 0 && !b.signaled && !b.timedOut, "\(b.summary)")
    }
}
