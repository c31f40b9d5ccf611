import Testing
import Foundation
import BPFCore
@testable import BPFSwiftCLI
import TestSupport

/// A fixture object loaded by bpftool (`prog loadall`), its programs pinned
/// under a test's own bpffs directory, which keeps them alive.
final class LoadedFixture {
    let dir: BPFFSDir
    let pinDir: String

    init(_ fixture: String, label: String) throws {
        dir = try BPFFSDir(label)
        pinDir = dir.sub("progs")
        let r = try Bpftool.run(["prog", "loadall", try Fixtures.object(fixture), pinDir])
        guard r.status == 0 else { throw TestFailure("bpftool prog loadall \(fixture): \(r.stderr)") }
    }

    /// The pin of program `name`.
    func pin(_ name: String) -> String { pinDir + "/" + name }

    /// Program names, from the pins.
    func programNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: pinDir).sorted()
    }

    /// bpftool's JSON object for the pinned program.
    func bpftoolJSON(_ name: String) throws -> [String: Any] {
        try #require(try Bpftool.json(["prog", "show", "pinned", pin(name)]) as? [String: Any])
    }

    func id(_ name: String) throws -> Int {
        try #require(try bpftoolJSON(name)["id"] as? Int)
    }

    func remove() { dir.remove() }
}

/// Runs the built binary and parses its stdout as JSON; fails on a non-zero exit.
func ourJSON(_ args: [String]) throws -> Any {
    let r = try bpfswift(args: ["-j"] + args)
    guard r.status == 0 else { throw TestFailure("bpfswift -j \(args.joined(separator: " ")): exit \(r.status): \(r.stderr)") }
    return try parseJSON(r.stdout)
}

/// Keys bpftool prints that move between two calls.
let movingCounters: Set<String> = ["run_time_ns", "run_cnt", "recursion_misses"]

/// Every key of `expected` is in `actual` with the same value, and `actual` has no key bpftool lacks.
func sameKeys(_ expected: [String: Any], _ actual: [String: Any], _ what: String) {
    if let d = jsonDifference(expected: expected, actual: actual, ignoring: movingCounters) {
        Issue.record("\(what): \(d)")
    }
    let extra = Set(actual.keys).subtracting(expected.keys).subtracting(movingCounters)
    #expect(extra.isEmpty, "\(what): keys bpftool does not print: \(extra)")
}

@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct ProgShowTests {
    @Test func showByPinnedMatchesBpftoolForEveryProgramType() throws {
        let f = try LoadedFixture("meta_types", label: "types")
        defer { f.remove() }
        let names = try f.programNames()
        #expect(names.count >= 20)
        var types = Set<String>()
        for n in names {
            let expected = try f.bpftoolJSON(n)
            let actual = try #require(try ourJSON(["prog", "show", "pinned", f.pin(n)]) as? [String: Any])
            sameKeys(expected, actual, n)
            types.insert(actual["type"] as? String ?? "?")
        }
        #expect(types.isSuperset(of: ["socket_filter", "xdp", "sched_cls", "sched_act", "cgroup_skb", "cgroup_sock",
                                      "cgroup_sock_addr", "cgroup_device", "cgroup_sysctl", "cgroup_sockopt", "lwt_in",
                                      "lwt_out", "lwt_xmit", "sock_ops", "sk_skb", "sk_msg", "flow_dissector",
                                      "sk_reuseport", "sk_lookup", "perf_event", "tracepoint", "raw_tracepoint",
                                      "tracing", "syscall", "netfilter"]))
    }

    @Test func textOutputIsBpftoolsLines() throws {
        let f = try LoadedFixture("meta_types", label: "typestext")
        defer { f.remove() }
        for n in try f.programNames() {
            let ours = try bpfswift("prog", "show", "pinned", f.pin(n))
            let theirs = try Bpftool.run(["prog", "show", "pinned", f.pin(n)])
            #expect(ours.status == 0)
            #expect(ours.stdout == theirs.stdout, "\(n)")
        }
    }

    @Test func counterObjectLoadedByBpftoolMatchesEveryKey() throws {
        // counter.bpf.o was not written for these tests: tracepoint and raw_tp
        // programs, .bss, a hash map, metadata.
        let f = try LoadedFixture("counter", label: "counter")
        defer { f.remove() }
        for n in ["count_enter", "count_raw"] {
            let expected = try f.bpftoolJSON(n)
            let actual = try #require(try ourJSON(["prog", "show", "pinned", f.pin(n)]) as? [String: Any])
            sameKeys(expected, actual, n)
            #expect((actual["metadata"] as? [String: Any])?["commit"] as? String == "abc123")
            let id = try f.id(n)
            let ours = try bpfswift("prog", "show", "id", String(id))
            let theirs = try Bpftool.run(["prog", "show", "id", String(id)])
            #expect(ours.stdout == theirs.stdout)
            #expect(ours.stdout.contains("\tmetadata:\n\t\tcommit = \"abc123\"\n\t\tbuild = 42\n"))
        }
    }

    @Test func showByIdMatchesBpftool() throws {
        let f = try LoadedFixture("meta_kinds", label: "byid")
        defer { f.remove() }
        let id = try f.id("meta_xdp")
        let expected = try #require(try Bpftool.json(["prog", "show", "id", String(id)]) as? [String: Any])
        let actual = try #require(try ourJSON(["prog", "show", "id", String(id)]) as? [String: Any])
        sameKeys(expected, actual, "id \(id)")
        #expect(actual["id"] as? Int == id)
        #expect(actual["type"] as? String == "xdp")
    }

    @Test func longNameComesFromBTFAndSelectsByFullNameOnly() throws {
        let f = try LoadedFixture("meta_long", label: "longname")
        defer { f.remove() }
        let id = try f.id("meta_long_program_name_here")
        let mine = try #require(try ourJSON(["prog", "show", "id", String(id)]) as? [String: Any])
        #expect(mine["name"] as? String == "meta_long_program_name_here")
        // By name: bpftool and we select the same programs (the full name).
        let byName = try ourJSON(["prog", "show", "name", "meta_long_program_name_here"])
        var objects: [[String: Any]] = []
        if let list = byName as? [[String: Any]] { objects = list } else { objects = [try #require(byName as? [String: Any])] }
        #expect(objects.contains { $0["id"] as? Int == id })
        #expect(objects.allSatisfy { $0["name"] as? String == "meta_long_program_name_here" })
        // The kernel's 15-character name does not select it (bpftool neither).
        let truncated = try bpfswift("-j", "prog", "show", "name", "meta_long_progr")
        let bpftoolTruncated = try Bpftool.run(["prog", "show", "name", "meta_long_progr"])
        #expect(bpftoolTruncated.status != 0)
        #expect(truncated.status == 1)
        #expect(try (parseJSON(truncated.stdout) as? [String: Any])?["error"] is String)
    }

    @Test func showByNameAndTagSelectsEveryMatch() throws {
        // Two copies of the same object: same names, same tags.
        let a = try LoadedFixture("meta_none", label: "twinA")
        defer { a.remove() }
        let b = try LoadedFixture("meta_none", label: "twinB")
        defer { b.remove() }
        let ids = Set([try a.id("meta_none_tc"), try b.id("meta_none_tc")])
        let tag = try #require(try a.bpftoolJSON("meta_none_tc")["tag"] as? String)
        for sel in [["name", "meta_none_tc"], ["tag", tag]] {
            let ours = try #require(try ourJSON(["prog", "show"] + sel) as? [[String: Any]], "\(sel)")
            let found = Set(ours.compactMap { $0["id"] as? Int })
            #expect(found.isSuperset(of: ids), "\(sel)")
            // Every program bpftool selects and still loaded is selected by us with the same keys.
            let theirs = try #require(try Bpftool.json(["prog", "show"] + sel) as? [[String: Any]])
            for t in theirs {
                guard let tid = t["id"] as? Int, let o = ours.first(where: { $0["id"] as? Int == tid }) else { continue }
                sameKeys(t, o, "\(sel) id \(tid)")
            }
            if sel[0] == "tag" { #expect(ours.allSatisfy { $0["tag"] as? String == tag }) }
        }
    }

    @Test func prefixedWordsAreTheSameCommand() throws {
        let f = try LoadedFixture("meta_long", label: "prefix")
        defer { f.remove() }
        let id = String(try f.id("meta_raw"))
        let long = try bpfswift("prog", "show", "id", id)
        let short = try bpfswift("p", "s", "id", id)
        #expect(long.status == 0 && short.status == 0)
        #expect(long.stdout == short.stdout)
        #expect(long.stdout.hasPrefix("\(id): raw_tracepoint  name meta_raw  tag "))
        let list = try bpfswift("prog", "list", "id", id)
        #expect(list.stdout == long.stdout)
    }

    @Test func unknownIdIsAnErrorWithJSON() throws {
        let r = try bpfswift("-j", "prog", "show", "id", "4000000000")
        #expect(r.status == 1)
        let obj = try #require(try parseJSON(r.stdout) as? [String: Any])
        let message = try #require(obj["error"] as? String)
        #expect(message.contains("4000000000") && message.contains("No such file or directory"))
        let plain = try bpfswift("prog", "show", "id", "4000000000")
        #expect(plain.status == 1)
        #expect(plain.stdout.isEmpty)
        #expect(plain.stderr.split(separator: "\n").count == 1)
        #expect(!r.signaled && !plain.signaled)
    }

    @Test func pinnedPathsWithBpffsOption() throws {
        let f = try LoadedFixture("meta_long", label: "pinnedf")
        defer { f.remove() }
        let path = f.pin("meta_raw")
        let id = try f.id("meta_raw")
        let expected = try #require(try Bpftool.json(["-f", "prog", "show", "id", String(id)]) as? [String: Any])
        let actual = try #require(try ourJSON(["-f", "prog", "show", "id", String(id)]) as? [String: Any])
        sameKeys(expected, actual, "-f id \(id)")
        #expect(actual["pinned"] as? [String] == [path])
        let text = try bpfswift("-f", "prog", "show", "id", String(id))
        #expect(text.stdout == (try Bpftool.run(["-f", "prog", "show", "id", String(id)])).stdout)
        #expect(text.stdout.contains("\n\tpinned \(path)\n\tbtf_id "))
        // Without -f: no pinned key.
        let plain = try #require(try ourJSON(["prog", "show", "id", String(id)]) as? [String: Any])
        #expect(plain["pinned"] == nil)
    }

    @Test func severalPinsOfOneProgramComeInBpftoolsOrder() throws {
        let f = try LoadedFixture("meta_long", label: "manypins")
        defer { f.remove() }
        let id = String(try f.id("meta_raw"))
        for i in 1...6 {
            let r = try Bpftool.run(["prog", "pin", "id", id, f.dir.sub("p\(i)")])
            #expect(r.status == 0)
        }
        // bpftool's order depends on every program pin on the system, which other
        // tests change while they run (a directory can appear and vanish inside
        // one walk and not the next): retry until a window where both bpftool
        // snapshots agree and ours equals them. With seven pins the order is
        // specific enough that a wrong replay of bpftool's hashmap never matches.
        var matched = false
        var last = ""
        for _ in 0..<30 where !matched {
            let before = try Bpftool.run(["-f", "prog", "show", "id", id]).stdout
            let beforeJSON = try Bpftool.run(["-j", "-f", "prog", "show", "id", id]).stdout
            let ours = try bpfswift("-f", "prog", "show", "id", id)
            let oursJSON = try bpfswift("-j", "-f", "prog", "show", "id", id)
            let after = try Bpftool.run(["-f", "prog", "show", "id", id]).stdout
            let afterJSON = try Bpftool.run(["-j", "-f", "prog", "show", "id", id]).stdout
            guard before == after, beforeJSON == afterJSON else { continue }
            let a = try #require(try parseJSON(oursJSON.stdout) as? [String: Any])
            let b = try #require(try parseJSON(afterJSON) as? [String: Any])
            last = "ours:\n\(ours.stdout)\nbpftool:\n\(before)"
            if ours.stdout == before, (a["pinned"] as? [String])?.count == 7,
               a["pinned"] as? [String] == b["pinned"] as? [String] {
                matched = true
            } else {
                usleep(100_000)
            }
        }
        #expect(matched, "our -f order never matched bpftool's in a quiet window; last:\n\(last)")
        let compared = matched
        #expect(compared, "bpftool's output never held still")
    }

    @Test func runStatisticsMatchBpftool() throws {
        let f = try LoadedFixture("meta_none", label: "stats")
        defer { f.remove() }
        let program = try Program.open(pinned: f.pin("meta_none_sock"))
        defer { program.fd.close() }
        // Counted only while kernel.bpf_stats_enabled is on: turn it on just
        // around one run of the filter, so the counters hold still afterwards.
        let sysctl = "/proc/sys/kernel/bpf_stats_enabled"
        let before = try String(contentsOfFile: sysctl, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try "1".write(toFile: sysctl, atomically: false, encoding: .utf8)
        defer { try? before.write(toFile: sysctl, atomically: false, encoding: .utf8) }
        // A UDP socket with the filter attached receives a datagram from itself.
        let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(s >= 0)
        defer { close(s) }
        var progFD = program.fd.rawValue
        #expect(setsockopt(s, SOL_SOCKET, 50 /* SO_ATTACH_BPF */, &progFD, 4) == 0)
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                _ = bind(s, sa, len)
                _ = getsockname(s, sa, &len)
                _ = sendto(s, "ping-ping", 9, 0, sa, len)
            }
        }
        var buf = [UInt8](repeating: 0, count: 64)
        // The filter keeps 4 bytes, less than a UDP header: an empty datagram arrives.
        #expect(recv(s, &buf, buf.count, 0) >= 0)
        try before.write(toFile: sysctl, atomically: false, encoding: .utf8)

        let expected = try f.bpftoolJSON("meta_none_sock")
        let actual = try #require(try ourJSON(["prog", "show", "pinned", f.pin("meta_none_sock")]) as? [String: Any])
        #expect((expected["run_cnt"] as? Int ?? 0) >= 1)
        #expect((actual["run_time_ns"] as? Int ?? 0) > 0)
        if let d = jsonDifference(expected: expected, actual: actual) { Issue.record("run stats: \(d)") }
        let text = try bpfswift("prog", "show", "pinned", f.pin("meta_none_sock")).stdout
        #expect(text == (try Bpftool.run(["prog", "show", "pinned", f.pin("meta_none_sock")])).stdout)
        #expect(text.contains(" run_time_ns "))
    }

    @Test func wholeListAgreesWithBpftool() throws {
        let f = try LoadedFixture("counter", label: "wholelist")
        defer { f.remove() }
        let theirs = try #require(try Bpftool.json(["prog", "show"]) as? [[String: Any]])
        let ours = try #require(try ourJSON(["prog", "show"]) as? [[String: Any]])
        let byID = Dictionary(ours.compactMap { o in (o["id"] as? Int).map { ($0, o) } }, uniquingKeysWith: { a, _ in a })
        var compared = 0
        for t in theirs {
            // Other tests load and unload programs meanwhile: compare what both saw.
            guard let id = t["id"] as? Int, let o = byID[id] else { continue }
            sameKeys(t, o, "id \(id)")
            compared += 1
        }
        #expect(compared >= 2)
        #expect(byID[try f.id("count_enter")] != nil)
        // Ids ascend, as bpftool lists them.
        let ids = ours.compactMap { $0["id"] as? Int }
        #expect(ids == ids.sorted())
    }

    @Test func pinAProgramAndBpftoolSeesIt() throws {
        let f = try LoadedFixture("meta_long", label: "pin")
        defer { f.remove() }
        let id = try f.id("meta_raw")
        let target = f.dir.sub("again")
        let r = try bpfswift("prog", "pin", "id", String(id), target)
        #expect(r.status == 0, "\(r.stderr)")
        let seen = try #require(try Bpftool.json(["prog", "show", "pinned", target]) as? [String: Any])
        #expect(seen["id"] as? Int == id)
        // Pinning over an existing file fails and says why.
        let again = try bpfswift("-j", "prog", "pin", "pinned", f.pin("meta_raw"), target)
        #expect(again.status == 1)
        #expect(again.stderr.contains("File exists"))
        #expect(try (parseJSON(again.stdout) as? [String: Any])?["error"] is String)
        // JSON success prints null, as bpftool does.
        let jsonPin = try bpfswift("-j", "prog", "pin", "name", "meta_long_program_name_here", f.dir.sub("x"))
        if jsonPin.status == 0 {
            #expect(jsonPin.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "null")
        } else {
            // Another test loaded meta_long meanwhile: a name that selects several is an error.
            #expect(jsonPin.stderr.contains("several programs match"))
        }
    }

    @Test func pinByAmbiguousNameIsAnError() throws {
        let a = try LoadedFixture("meta_none", label: "ambigA")
        defer { a.remove() }
        let b = try LoadedFixture("meta_none", label: "ambigB")
        defer { b.remove() }
        let r = try bpfswift("prog", "pin", "name", "meta_none_sock", a.dir.sub("one"))
        #expect(r.status == 1)
        #expect(r.stderr.contains("several programs match name meta_none_sock"))
        #expect(!FileManager.default.fileExists(atPath: a.dir.sub("one")))
    }
}

@Suite struct ProgCommandParsingTests {
    @Test func usageErrorsExitTwo() throws {
        for args in [["prog", "show", "id"], ["prog", "show", "frob", "1"], ["prog", "show", "id", "x"],
                     ["prog", "pin", "id", "1"], ["prog", "show", "id", "1", "extra"],
                     ["prog", "show", "--metadata", "=x"]] {
            let r = runCLI(args: args)
            #expect(r.status == 2, "\(args)")
            #expect(r.err.hasPrefix("Error: "), "\(args)")
        }
    }

    @Test func metadataFilterForms() throws {
        let path = "prog show"
        var r = try ProgCommand.extractMetadataFilter(["id", "3", "--metadata"], commandPath: path)
        #expect(r.rest == ["id", "3"] && r.filter == MetadataFilter())
        r = try ProgCommand.extractMetadataFilter(["--metadata", "commit=abc"], commandPath: path)
        #expect(r.rest.isEmpty && r.filter == MetadataFilter(key: "commit", value: "abc"))
        r = try ProgCommand.extractMetadataFilter(["--metadata=build"], commandPath: path)
        #expect(r.filter == MetadataFilter(key: "build", value: nil))
        r = try ProgCommand.extractMetadataFilter(["name", "x", "--metadata", "k=a=b"], commandPath: path)
        #expect(r.rest == ["name", "x"] && r.filter == MetadataFilter(key: "k", value: "a=b"))
        r = try ProgCommand.extractMetadataFilter(["name", "x"], commandPath: path)
        #expect(r.filter == nil)
        #expect(throws: UsageError.self) { try ProgCommand.extractMetadataFilter(["--metadata", "=v"], commandPath: path) }
    }

    @Test func helpListsShowAndPin() {
        let r = runCLI("prog", "help")
        #expect(r.status == 0)
        #expect(r.out.contains("prog { show | list } [PROG] [--metadata [KEY[=VALUE]]]"))
        #expect(r.out.contains("prog pin PROG FILE"))
        #expect(r.out.contains("PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }"))
    }
}
