import Testing
import Foundation
import BPFCore
import TestSupport

/// Output is checked: a write to stdout that fails (a full device, a reader
/// that went away) is exit status 1 with one error line on stderr, and a
/// long dump stops at once instead of reading the rest of the map.
@Suite struct OutputWriteErrorTests {
    /// Runs `script` under bash with BIN set to the bpfswift binary.
    static func bash(_ script: String, timeout: TimeInterval = 600) throws -> TimedResult {
        try Robust.run("/bin/bash", ["-c", script], timeout: timeout, environment: ["BIN": TestEnv.binary])
    }

    @Test(arguments: [["-j", "version"], ["version"], ["help"], ["-j", "prog", "show"], ["prog", "show"]])
    func fullDeviceIsAnError(args: [String]) throws {
        // `prog show` writes nothing (and so meets no full device) when no
        // program is loaded: load one for the time of the test.
        var dir: BPFFSDir?
        defer { dir?.remove() }
        if args.contains("prog") {
            let d = try BPFFSDir("gen_full")
            dir = d
            let load = try Bpftool.run(["prog", "load", try Fixtures.object("counter"), d.sub("p")])
            try #require(load.status == 0, "\(load.stderr)")
        }
        let r = try Self.bash("\"$BIN\" \(args.joined(separator: " ")) >/dev/full", timeout: 60)
        #expect(r.status == 1, "\(args): \(r.summary)")
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 1 && lines.first == "Error: write to standard output: No space left on device",
                "\(args): \(r.stderr)")
    }

    /// A large text (a C skeleton of more than 16 KB) goes to the descriptor
    /// from its own storage, not through the sink's buffer: it meets a full
    /// device the same way, and arrives whole and once, the same bytes as
    /// the held -j output that does go through the buffer.
    @Test func largeTextWrite() throws {
        let obj = try Fixtures.object("execs")
        let full = try Self.bash("\"$BIN\" gen skeleton \(obj) --lang c >/dev/full", timeout: 60)
        #expect(full.status == 1, "\(full.summary)")
        #expect(full.stderr == "Error: write to standard output: No space left on device\n", "\(full.stderr)")
        let direct = try Self.bash("\"$BIN\" gen skeleton \(obj) --lang c | cat", timeout: 60)
        let held = try Self.bash("\"$BIN\" -j gen skeleton \(obj) --lang c | cat", timeout: 60)
        #expect(direct.status == 0 && held.status == 0, "\(direct.summary) \(held.summary)")
        #expect(direct.stdout.utf8.count > 1 << 14, "the skeleton is \(direct.stdout.utf8.count) bytes")
        #expect(direct.stdout == held.stdout)
        #expect(direct.stdout.hasSuffix("#endif /* __EXECS_BPF_SKEL_H__ */\n"))
    }

    /// A 300,000-element array map dumped into `head -c 100`: the dump stops
    /// at the first failed write (EPIPE), long before a full dump would end.
    /// Counted in bpf(2) calls (strace -c), not in milliseconds: a full dump
    /// makes a dozen batch lookups, a stopped one its first.
    @Test(.enabled(if: TestEnv.kernelTestsEnabled))
    func brokenPipeStopsALongDump() throws {
        let dir = try BPFFSDir("gen_epipe")
        defer { dir.remove() }
        let map = dir.sub("big")
        let made = try Robust.bpfswift(["map", "create", map, "type", "array", "key", "4", "value", "8",
                                        "entries", "300000", "name", "gen_epipe"])
        try #require(made.status == 0, "\(made.summary)")
        let hasStrace = try Self.bash("command -v strace >/dev/null && echo yes")
        try #require(hasStrace.stdout.hasPrefix("yes"), "strace is needed (scripts/setup installs it)")

        // The script prints "STATUS BPF_CALLS", STATUS being bpfswift's own exit status.
        func run(_ j: String, piped: Bool) throws -> (status: Int, calls: Int, stderr: String) {
            let sink = piped ? "2>\"$E\" | head -c 100 >/dev/null; s=${PIPESTATUS[0]}" : ">/dev/null 2>\"$E\"; s=$?"
            let r = try Self.bash("""
                E=$(mktemp /tmp/gen_epipe_XXXXXX); T=$(mktemp /tmp/gen_epipe_XXXXXX)
                strace -f -c -e trace=bpf -o "$T" "$BIN" \(j)map dump pinned \(map) \(sink)
                echo $s $(awk '$NF == "bpf" { print $4 }' "$T"); cat "$E" >&2; rm -f "$E" "$T"
                """)
            let f = r.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            try #require(f.count == 2, "\(r.summary)")
            return (f[0], f[1], r.stderr)
        }
        for json in [false, true] {
            let j = json ? "-j " : ""
            let full = try run(j, piped: false)
            let piped = try run(j, piped: true)
            #expect(full.status == 0, "the full dump succeeds: \(full.stderr)")
            #expect(piped.status == 1, "EPIPE is a failure: \(piped.stderr)")
            let lines = piped.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines.first?.hasPrefix("Error: write to standard output: Broken pipe") == true,
                    "\(piped.stderr)")
            #expect(piped.calls * 3 < full.calls,
                    "json \(json): the piped dump made \(piped.calls) bpf calls, the full one \(full.calls)")
        }
    }
}
