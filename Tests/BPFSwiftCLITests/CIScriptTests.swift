import Foundation
import Testing
import TestSupport

/// The "done when" of bpftool parity: a CI script written for bpftool
/// (Tests/Fixtures/ci-script/bpftool-ci.sh) runs unchanged with
/// BPFTOOL=bpfswift, and both runs print the same, once the ids, times and
/// netns/cgroup numbers that differ between two loads are normalized.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (see TestEnv.bpfUnavailableReason)"))
struct CIScriptTests {
    static let script = Fixtures.sourceDir + "/ci-script/bpftool-ci.sh"

    /// Replaces what must differ between two runs: ids (named by their key,
    /// or leading a `show` line), and every other place those same numbers
    /// appear (table columns), map[id:N] in listings, load times.
    static func normalize(_ text: String) -> String {
        var ids = Set<String>()
        var t = text
        func replace(_ pattern: String, options: NSRegularExpression.Options = [], _ transform: ([String]) -> String) {
            let re = try! NSRegularExpression(pattern: pattern, options: options)
            let ns = t as NSString
            var out = "", last = 0
            for m in re.matches(in: t, range: NSRange(location: 0, length: ns.length)) {
                out += ns.substring(with: NSRange(location: last, length: m.range.location - last))
                let groups = (0..<m.numberOfRanges).map { m.range(at: $0).location == NSNotFound ? "" : ns.substring(with: m.range(at: $0)) }
                out += transform(groups)
                last = m.range.location + m.range.length
            }
            out += ns.substring(from: last)
            t = out
        }
        let digits = try! NSRegularExpression(pattern: "[0-9]+")
        func hide(_ s: String) -> String {
            let ns = s as NSString
            for m in digits.matches(in: s, range: NSRange(location: 0, length: ns.length)) { ids.insert(ns.substring(with: m.range)) }
            return digits.stringByReplacingMatches(in: s, range: NSRange(location: 0, length: ns.length), withTemplate: "N")
        }
        replace(#"(\b(?:id|prog_id|map_id|link_id|btf_id|prog_ids|map_ids|netns_ino|cgroup_id|loaded_at|prog|attach_btf_obj_id)"?(?::|: | )\s*\[?)((?:[0-9]+(?:,\s*)?)+)"#) { $0[1] + hide($0[2]) }
        replace(#"(map\[id:)([0-9]+)(\])"#) { $0[1] + hide($0[2]) + $0[3] }
        replace(#"^([0-9]+)(?=: [a-z])"#, options: .anchorsMatchLines) { hide($0[1]) }
        replace(#"loaded_at \S+"#) { _ in "loaded_at T" }
        for id in ids.sorted(by: { $0.count > $1.count }) {
            replace(#"(?<![\w.])"# + id + #"(?![\w.])"#) { _ in "N" }
        }
        return t
    }

    static func run(tool: String, tag: String) throws -> ProcessResult {
        try runProcess("/bin/bash", [script], environment: ["BPFTOOL": tool, "CI_TAG": tag])
    }

    @Test("the bpftool CI script runs unchanged with bpfswift and prints what bpftool prints")
    func sameAsBpftool() throws {
        _ = try Fixtures.object("ci_demo")
        _ = try Fixtures.object("ci_iter")
        // One tag for both runs (they run one after the other): paths and
        // interface names print the same; the script removes what it made.
        let tag = "bpfswift_ci_\(getpid())"
        // The script counts the programs named ci_xdp in the whole kernel:
        // no other test may load ci_demo during either run.
        let (theirs, ours) = try Fixtures.withSoleUse(of: "ci_demo") {
            (try Self.run(tool: Bpftool.path, tag: tag), try Self.run(tool: TestEnv.binary, tag: tag))
        }
        #expect(theirs.status == 0, "bpftool run failed:\n\(theirs.stdout.suffix(2000))\(theirs.stderr)")
        #expect(ours.status == 0, "bpfswift run failed:\n\(ours.stdout.suffix(2000))\(ours.stderr)")
        for leftover in ["/sys/fs/bpf/" + tag, "/run/netns/" + tag] {
            #expect(!FileManager.default.fileExists(atPath: leftover), "\(leftover) left behind")
        }
        let a = Self.normalize(theirs.stdout).split(separator: "\n", omittingEmptySubsequences: false)
        let b = Self.normalize(ours.stdout).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(a.count > 300, "the bpftool run printed only \(a.count) lines")
        if let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset ?? (a.count != b.count ? min(a.count, b.count) : nil) {
            let ctx = max(0, i - 3)
            Issue.record("""
                line \(i + 1) differs
                bpftool:  \(a[ctx..<min(a.count, i + 3)].joined(separator: "\n          "))
                bpfswift: \(b[ctx..<min(b.count, i + 3)].joined(separator: "\n          "))
                """)
        }
        // The steps that prove something ran, in both outputs alike.
        for needle in ["== done", "task iterator ran", "iter pin: task iterator ran", "veth0(3) generic id N",
                       "clsact/ingress ci_tc", "cgroup_inet_ingress multi", "Return value: 2"] {
            #expect(b.contains { $0.contains(needle) }, "bpfswift output lacks \(needle)")
        }
    }

    @Test("normalizing hides ids and times, nothing else")
    func normalizer() {
        let text = "455254: xdp  name ci_xdp  tag 04ef013644869279  gpl\n\tloaded_at 2026-12-07T13:16:57+0000  uid 0\n"
            + "{\"id\":455254,\"map_ids\":[97632,97635]}\n  35: (18) r1 = map[id:97632]\n455254   cgroup_inet_ingress\n"
        #expect(Self.normalize(text) == "N: xdp  name ci_xdp  tag 04ef013644869279  gpl\n\tloaded_at T  uid 0\n"
            + "{\"id\":N,\"map_ids\":[N,N]}\n  35: (18) r1 = map[id:N]\nN   cgroup_inet_ingress\n")
    }
}
