import Testing
import Foundation
import BPFCore
import TestSupport

/// Helpers for the object tree tests: run the binary, read trees and counters.
enum ObjectKit {
    /// `bpfswift object pin OBJ PATH ARGS...` (with the test's --pin-root when given).
    @discardableResult
    static func pin(_ fixture: String, _ path: String, root: String?, _ extra: [String] = [],
                    env: [String: String]? = nil, json: Bool = false) throws -> ProcessResult {
        var args = (json ? ["-j"] : []) + ["object", "pin", try Fixtures.object(fixture), path] + extra
        if let root { args += ["--pin-root", root] }
        return try bpfswift(args: args, environment: env)
    }

    /// `bpfswift -j object show PATH`, parsed; throws when it fails.
    static func show(_ path: String) throws -> [String: Any] {
        let r = try bpfswift("-j", "object", "show", path)
        guard r.status == 0 else { throw TestFailure("object show \(path): \(r.stderr)") }
        return try #require(try parseJSON(r.stdout) as? [String: Any])
    }

    static func list(_ root: String) throws -> [[String: Any]] {
        let r = try bpfswift("-j", "object", "list", root)
        guard r.status == 0 else { throw TestFailure("object list \(root): \(r.stderr)") }
        return try #require(try parseJSON(r.stdout) as? [[String: Any]])
    }

    /// Entries of show's "maps"/"programs"/"links" by name.
    static func entries(_ show: [String: Any], _ key: String) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for e in show[key] as? [[String: Any]] ?? [] { out[e["name"] as! String] = e }
        return out
    }

    static func id(_ e: [String: Any]?) -> Int { (e?["id"] as? Int) ?? -1 }

    /// `bpftool -j link show pinned FILE`. bpftool 7.5 prints a perf_event
    /// link and then exits 255, so the JSON decides, not the status.
    static func bpftoolLink(_ pinned: String) throws -> [String: Any] {
        let r = try Bpftool.run(["-j", "link", "show", "pinned", pinned])
        guard let obj = try? parseJSON(r.stdout) as? [String: Any], obj["id"] != nil else {
            throw TestFailure("bpftool link show pinned \(pinned): \(r.stderr)\(r.stdout)")
        }
        return obj
    }

    /// Whether anything (file, dir, symlink) is at `path`.
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func staging(_ path: String) -> String {
        let u = URL(fileURLWithPath: path)
        return u.deletingLastPathComponent().appendingPathComponent("bpfswift_staging_" + u.lastPathComponent).path
    }

    static func names(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// The u64 value for this process in a per-process counter map (key = tgid), or 0.
    static func counter(_ pinnedMap: String, tgid: Int32 = getpid()) throws -> UInt64 {
        let k = withUnsafeBytes(of: UInt32(tgid).littleEndian) { Array($0) }.map(String.init)
        let r = try Bpftool.run(["-j", "map", "lookup", "pinned", pinnedMap, "key"] + k)
        if r.status != 0 { return 0 }
        let obj = try #require(try parseJSON(r.stdout) as? [String: Any])
        let bytes = try #require(obj["value"] as? [String]).map { UInt8($0.dropFirst(2), radix: 16)! }
        return bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    /// Polls `cond` every 20 ms for up to `timeout` seconds.
    static func eventually(_ timeout: Double = 5, _ cond: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try cond() { return true }
            usleep(20_000)
        } while Date() < deadline
        return try cond()
    }

    /// Whether a kernel object with this id still exists.
    static func alive(_ kind: BPFObjectKind, _ id: Int) -> Bool {
        PinnedObjectSummary.exists(kind, id: UInt32(id))
    }

    /// Kernel programs (or maps) whose name is `name`, by bpftool.
    static func kernelIDs(_ what: String, named name: String) throws -> [Int] {
        let all = try #require(try Bpftool.json([what, "show"]) as? [[String: Any]])
        return all.filter { ($0["name"] as? String) == name }.compactMap { $0["id"] as? Int }
    }

    /// A bpfswift run in the background, its stderr readable while it runs.
    final class Background {
        let process = Process()
        private let errPipe = Pipe()
        private(set) var stderrText = ""

        init(_ args: [String], env: [String: String]) throws {
            process.executableURL = URL(fileURLWithPath: TestEnv.binary)
            process.arguments = args
            var e = ProcessInfo.processInfo.environment
            for (k, v) in env { e[k] = v }
            process.environment = e
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errPipe
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        /// Reads stderr until it contains `text` (or `timeout` passes / the process ends).
        func waitForStderr(_ text: String, timeout: Double = 20) -> Bool {
            let fd = errPipe.fileHandleForReading.fileDescriptor
            let deadline = Date().addingTimeInterval(timeout)
            while !stderrText.contains(text) && Date() < deadline {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, 100) > 0 {
                    var buf = [UInt8](repeating: 0, count: 4096)
                    let n = read(fd, &buf, buf.count)
                    if n <= 0 { break }
                    stderrText += String(decoding: buf[0..<n], as: UTF8.self)
                }
            }
            return stderrText.contains(text)
        }

        /// Waits for the end and returns (status, whether a signal ended it, all of stderr).
        func finish() -> (status: Int32, signaled: Bool, stderr: String) {
            let rest = errPipe.fileHandleForReading.readDataToEndOfFile()
            stderrText += String(decoding: rest, as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, process.terminationReason == .uncaughtSignal, stderrText)
        }
    }
}

@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct ObjectPinTests {
    @Test func layoutMatchesBpftool() throws {
        let dir = try BPFFSDir("obj_layout")
        let path = dir.sub("counter")
        let r = try ObjectKit.pin("counter", path, root: nil, ["--attach"], json: true)
        #expect(r.status == 0, "\(r.stderr)")
        let pinOut = try #require(try parseJSON(r.stdout) as? [String: Any])
        #expect(pinOut["result"] as? String == "pinned")

        #expect(ObjectKit.names(in: path) == ["links", "manifest", "maps", "programs"])
        #expect(ObjectKit.names(in: path + "/maps") == ["counter_bss", "counter_rodata", "hit_map"])
        #expect(ObjectKit.names(in: path + "/programs") == ["count_enter", "count_raw"])
        #expect(ObjectKit.names(in: path + "/links") == ["count_enter", "count_raw"])
        #expect(!ObjectKit.exists(ObjectKit.staging(path)))

        let show = try ObjectKit.show(path)
        #expect(show["complete"] as? Bool == true)
        #expect(show["state"] as? String == "complete")
        #expect(show["name"] as? String == "counter")
        let sha = try runProcess("/usr/bin/sha256sum", [try Fixtures.object("counter")]).stdout.prefix(64)
        #expect(show["sha256"] as? String == String(sha))

        for (name, m) in ObjectKit.entries(show, "maps") {
            let b = try #require(try Bpftool.json(["map", "show", "pinned", m["pinned"] as! String]) as? [String: Any])
            #expect(b["id"] as? Int == m["id"] as? Int, "\(name)")
            #expect(b["type"] as? String == m["type"] as? String, "\(name)")
            #expect(m["present"] as? Bool == true)
        }
        let progs = ObjectKit.entries(show, "programs")
        #expect(Set(progs.keys) == ["count_enter", "count_raw"])
        for (name, p) in progs {
            let b = try #require(try Bpftool.json(["prog", "show", "pinned", p["pinned"] as! String]) as? [String: Any])
            #expect(b["id"] as? Int == p["id"] as? Int)
            #expect(b["name"] as? String == name)
            #expect(b["type"] as? String == p["type"] as? String)
            // Programs loaded by bpfswift keep their metadata (libbpf binds .rodata).
            let md = try #require(b["metadata"] as? [String: Any], "\(name) has no metadata")
            #expect(md["commit"] as? String == "abc123")
            #expect(md["build"] as? Int == 42)
            #expect(p["attached"] as? Bool == true)
            let link = try ObjectKit.bpftoolLink(p["link"] as! String)
            #expect(link["prog_id"] as? Int == p["id"] as? Int)
            #expect(link["id"] as? Int == p["link_id"] as? Int)
        }
        let links = ObjectKit.entries(show, "links")
        #expect(links["count_enter"]?["type"] as? String == "perf_event")
        #expect(links["count_raw"]?["type"] as? String == "raw_tracepoint")

        let listed = try ObjectKit.list(dir.path)
        #expect(listed.count == 1)
        #expect(listed.first?["path"] as? String == path)
        #expect(listed.first?["state"] as? String == "complete")

        let text = try bpfswift("object", "show", path)
        #expect(text.stdout.hasPrefix("\(path): object counter, complete\n"))
        #expect(text.stdout.contains("prog \(ObjectKit.id(progs["count_enter"])): tracepoint  programs/count_enter"))

        let progIDs = progs.values.map { ObjectKit.id($0) }
        let u = try bpfswift("object", "unpin", path)
        #expect(u.status == 0, "\(u.stderr)")
        #expect(!ObjectKit.exists(path))
        #expect(ObjectKit.eventually { progIDs.allSatisfy { !ObjectKit.alive(.program, $0) } })
        dir.remove()
    }

    @Test func byNameMapsAreSharedAcrossObjects() throws {
        let dir = try BPFFSDir("obj_byname")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        #expect(try ObjectKit.pin("obj_shared_a", dir.sub("a"), root: root).status == 0)
        #expect(try ObjectKit.pin("obj_shared_b", dir.sub("b"), root: root).status == 0)
        // LIBBPF_PIN_BY_NAME pins at <pin-root>/<name>; LIBBPF_PIN_NONE does not.
        #expect(ObjectKit.names(in: root) == ["obj_shared"])
        let sharedID = try #require(try Bpftool.json(["map", "show", "pinned", root + "/obj_shared"]) as? [String: Any])["id"] as? Int
        let a = ObjectKit.entries(try ObjectKit.show(dir.sub("a")), "maps")
        let b = ObjectKit.entries(try ObjectKit.show(dir.sub("b")), "maps")
        #expect(ObjectKit.id(a["obj_shared"]) == sharedID)
        #expect(ObjectKit.id(b["obj_shared"]) == sharedID)
        #expect(a["obj_shared"]?["shared_pin"] as? String == root + "/obj_shared")
        #expect(a["obj_local"]?["shared_pin"] is NSNull)

        // State written through one object's tree is read through the other's.
        let w = try Bpftool.run(["map", "update", "pinned", dir.sub("a") + "/maps/obj_shared",
                                 "key", "0", "0", "0", "0", "value", "42", "0", "0", "0", "0", "0", "0", "0"])
        #expect(w.status == 0, "\(w.stderr)")
        let read = try #require(try Bpftool.json(["map", "lookup", "pinned", dir.sub("b") + "/maps/obj_shared",
                                                  "key", "0", "0", "0", "0"]) as? [String: Any])
        #expect((read["value"] as? [String])?.first == "0x2a")

        // Unpinning a tree leaves the shared pin for the other.
        #expect(try bpfswift("object", "unpin", dir.sub("a")).status == 0)
        #expect(ObjectKit.names(in: root) == ["obj_shared"])
        #expect(try ObjectKit.show(dir.sub("b"))["complete"] as? Bool == true)
        #expect(try bpfswift("object", "unpin", dir.sub("b")).status == 0)
        #expect(ObjectKit.names(in: root) == ["obj_shared"])
        dir.remove()
    }

    @Test func byNameMismatchFailsNamingTheMapAndChangesNothing() throws {
        let dir = try BPFFSDir("obj_mismatch")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        #expect(try ObjectKit.pin("obj_shared_a", dir.sub("a"), root: root).status == 0)
        let before = try ObjectKit.show(dir.sub("a"))
        let sharedBefore = try #require(try Bpftool.json(["map", "show", "pinned", root + "/obj_shared"]) as? [String: Any])

        let r = try ObjectKit.pin("obj_mismatch", dir.sub("m"), root: root)
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("map obj_shared"))
        #expect(r.stderr.contains("max_entries differs (pinned 1, object 2)"))
        // Nothing changed: no tree, no staging, no new by-name pin, the old pin and tree untouched.
        #expect(!ObjectKit.exists(dir.sub("m")))
        #expect(!ObjectKit.exists(ObjectKit.staging(dir.sub("m"))))
        #expect(ObjectKit.names(in: root) == ["obj_shared"])
        let sharedAfter = try #require(try Bpftool.json(["map", "show", "pinned", root + "/obj_shared"]) as? [String: Any])
        #expect(sharedAfter["id"] as? Int == sharedBefore["id"] as? Int)
        let after = try ObjectKit.show(dir.sub("a"))
        #expect(after["complete"] as? Bool == true)
        #expect(ObjectKit.entries(after, "maps").mapValues { ObjectKit.id($0) } == ObjectKit.entries(before, "maps").mapValues { ObjectKit.id($0) })
        dir.remove()
    }

    @Test func mapAndPinMapOptions() throws {
        let dir = try BPFFSDir("obj_mapopts")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let mine = dir.sub("mine")
        let c = try Bpftool.run(["map", "create", mine, "type", "array", "key", "4", "value", "8", "entries", "1", "name", "objmine"])
        try #require(c.status == 0, "\(c.stderr)")
        let mineID = try #require(try Bpftool.json(["map", "show", "pinned", mine]) as? [String: Any])["id"] as? Int

        let r = try ObjectKit.pin("obj_shared_a", dir.sub("a"), root: root,
                                  ["--map", "obj_local=\(mine)", "--pin-map", "obj_shared=\(dir.sub("ps"))"])
        #expect(r.status == 0, "\(r.stderr)")
        let maps = ObjectKit.entries(try ObjectKit.show(dir.sub("a")), "maps")
        // --map: the object's map is the pinned one, named as the object declares it.
        #expect(ObjectKit.id(maps["obj_local"]) == mineID)
        #expect(maps["obj_local"]?["reused_pin"] as? String == mine)
        #expect(ObjectKit.exists(dir.sub("a") + "/maps/obj_local"))
        // --pin-map: pinned at FILE instead of <pin-root>/<name>.
        let psID = try #require(try Bpftool.json(["map", "show", "pinned", dir.sub("ps")]) as? [String: Any])["id"] as? Int
        #expect(ObjectKit.id(maps["obj_shared"]) == psID)
        #expect(maps["obj_shared"]?["shared_pin"] as? String == dir.sub("ps"))
        #expect(ObjectKit.names(in: root).isEmpty)

        // ... with the same automatic reuse as by-name pinning.
        #expect(try ObjectKit.pin("obj_shared_b", dir.sub("b"), root: root, ["--pin-map", "obj_shared=\(dir.sub("ps"))"]).status == 0)
        #expect(ObjectKit.id(ObjectKit.entries(try ObjectKit.show(dir.sub("b")), "maps")["obj_shared"]) == psID)

        let unknown = try ObjectKit.pin("obj_shared_a", dir.sub("c"), root: root, ["--map", "nosuch=\(mine)"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("--map nosuch") && unknown.stderr.contains("obj_shared, obj_local"))
        let malformed = try ObjectKit.pin("obj_shared_a", dir.sub("c"), root: root, ["--pin-map", "obj_shared"])
        #expect(malformed.status == 2)
        #expect(malformed.stderr.contains("--pin-map expects NAME=FILE"))
        #expect(!ObjectKit.exists(dir.sub("c")))
        dir.remove()
    }

    @Test func invalidPinningValueIsAClearError() throws {
        let dir = try BPFFSDir("obj_badpin")
        let r = try ObjectKit.pin("obj_badpin", dir.sub("x"), root: dir.path)
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.contains("map 'obj_badpin': invalid pinning value 2"))
        #expect(r.stderr.contains("LIBBPF_PIN_BY_NAME"))
        #expect(ObjectKit.names(in: dir.path).isEmpty)
        let j = try ObjectKit.pin("obj_badpin", dir.sub("x"), root: dir.path, json: true)
        #expect(j.stdout.hasPrefix("{\"error\":\"open BPF object"))
        dir.remove()
    }

    @Test func aProgramTheVerifierRefusesFailsWithItsReasonAndLeavesNothing() throws {
        let dir = try BPFFSDir("obj_rejected")
        let r = try ObjectKit.pin("obj_rejected", dir.sub("x"), root: dir.path)
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        // libbpf's first warning names the program, the verifier's last word says why.
        #expect(r.stderr.contains("prog 'wild_read': BPF program load failed: Permission denied"), "\(r.stderr)")
        #expect(r.stderr.contains("verifier: R1 invalid mem access 'scalar'"), "\(r.stderr)")
        #expect(ObjectKit.names(in: dir.path).isEmpty)
        // bpftool refuses it too.
        let b = try Bpftool.run(["prog", "loadall", try Fixtures.object("obj_rejected"), dir.sub("b")])
        #expect(b.status != 0)
        #expect(b.stderr.contains("R1 invalid mem access 'scalar'"))
        dir.remove()
    }

    @Test func anInjectedFaultAtEveryStepLeavesNothingBehind() throws {
        let dir = try BPFFSDir("obj_fault")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        for step in StepGuard.pinSteps where step != "exchange" {
            let r = try ObjectKit.pin("obj_fault", path, root: root, ["--attach"], env: ["BPFSWIFT_FAULT": step])
            #expect(r.status == 1, "\(step)")
            #expect(r.stderr == "Error: injected fault at step \(step) (BPFSWIFT_FAULT): Input/output error\n", "\(step)")
            #expect(ObjectKit.names(in: dir.path) == ["root"], "\(step)")
            #expect(ObjectKit.names(in: root).isEmpty, "\(step): new by-name pin left behind")
        }
        // The kernel lets go of everything those runs made.
        #expect(ObjectKit.eventually { (try? ObjectKit.kernelIDs("prog", named: "obj_fault_prog").isEmpty) == true })
        #expect(ObjectKit.eventually { (try? ObjectKit.kernelIDs("map", named: "obj_fault_hits").isEmpty) == true })

        // A fault after --replace swapped the trees swaps them back.
        try #require(try ObjectKit.pin("obj_shared_a", path, root: root).status == 0)
        let before = try ObjectKit.show(path)
        let r = try ObjectKit.pin("obj_fault", path, root: root, ["--attach", "--replace"], env: ["BPFSWIFT_FAULT": "exchange"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("injected fault at step exchange"))
        let after = try ObjectKit.show(path)
        #expect(after["name"] as? String == "obj_shared_a")
        #expect(after["complete"] as? Bool == true)
        #expect(ObjectKit.entries(after, "programs").mapValues { ObjectKit.id($0) } == ObjectKit.entries(before, "programs").mapValues { ObjectKit.id($0) })
        #expect(ObjectKit.names(in: dir.path) == ["root", "t"])
        #expect(ObjectKit.names(in: root) == ["obj_shared"])

        // A failed unpin leaves the tree as it was.
        for step in StepGuard.unpinSteps {
            let u = try bpfswift(args: ["object", "unpin", path], environment: ["BPFSWIFT_FAULT": step])
            #expect(u.status == 1, "\(step)")
            #expect(u.stderr.contains("injected fault at step \(step)"))
            #expect(try ObjectKit.show(path)["complete"] as? Bool == true, "\(step)")
            #expect(ObjectKit.names(in: dir.path) == ["root", "t"], "\(step)")
        }
        #expect(ObjectKit.eventually { (try? ObjectKit.kernelIDs("prog", named: "obj_fault_prog").isEmpty) == true })
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }

    @Test func aKilledPinLeavesStagingThatTheNextPinRemoves() throws {
        let dir = try BPFFSDir("obj_kill")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        let staging = ObjectKit.staging(path)
        let bg = try ObjectKit.Background(["object", "pin", try Fixtures.object("obj_tp"), path, "--attach", "--pin-root", root],
                                          env: ["BPFSWIFT_FAULT": "pin-links:sleep=60"])
        try #require(bg.waitForStderr("sleeping at pin-links"), "\(bg.stderrText)")
        // Mid-way: the staging directory holds the tree so far (links included), nothing is published.
        #expect(ObjectKit.names(in: staging).contains("links"))
        #expect(!ObjectKit.exists(path))
        let link = try ObjectKit.bpftoolLink(staging + "/links/obj_tp_getppid")
        let linkID = try #require(link["id"] as? Int)
        #expect(try ObjectKit.list(dir.path).first?["state"] as? String == "busy")

        kill(bg.process.processIdentifier, SIGKILL)
        let end = bg.finish()
        #expect(end.signaled)
        let leftover = try ObjectKit.list(dir.path)
        #expect(leftover.count == 1)
        #expect(leftover.first?["state"] as? String == "staging")
        #expect(leftover.first?["tree"] as? String == path)
        // The new by-name map waited in staging: nothing leaked into the pin root.
        #expect(ObjectKit.names(in: root).isEmpty)

        let r = try ObjectKit.pin("obj_tp", path, root: root, ["--attach"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!ObjectKit.exists(staging))
        #expect(try ObjectKit.show(path)["complete"] as? Bool == true)
        // The killed run's link went with its staging directory.
        #expect(ObjectKit.eventually { !ObjectKit.alive(.link, linkID) })
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }

    @Test func aSignalMidPinRollsBackAndExitsWithStatusOne() throws {
        let dir = try BPFFSDir("obj_sigterm")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        let bg = try ObjectKit.Background(["object", "pin", try Fixtures.object("obj_tp"), path, "--attach", "--pin-root", root],
                                          env: ["BPFSWIFT_FAULT": "pin-links:sleep=60"])
        try #require(bg.waitForStderr("sleeping at pin-links"), "\(bg.stderrText)")
        kill(bg.process.processIdentifier, SIGTERM)
        let end = bg.finish()
        #expect(!end.signaled)
        #expect(end.status == 1)
        #expect(end.stderr.contains("Error: interrupted by SIGTERM at step pin-links; rolled back"))
        #expect(ObjectKit.names(in: dir.path) == ["root"])
        #expect(ObjectKit.names(in: root).isEmpty)
        dir.remove()
    }

    @Test func twoConcurrentPinsOfOnePathOneWins() throws {
        let dir = try BPFFSDir("obj_race")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        // Deterministic: the first run holds the claim while the second starts.
        let first = try ObjectKit.Background(["object", "pin", try Fixtures.object("obj_shared_a"), path, "--pin-root", root],
                                             env: ["BPFSWIFT_FAULT": "lock:sleep=2"])
        try #require(first.waitForStderr("sleeping at lock"))
        let second = try ObjectKit.pin("obj_shared_b", path, root: root)
        #expect(second.status == 1)
        #expect(second.stderr.contains("another bpfswift run is working on it"), "\(second.stderr)")
        let end = first.finish()
        #expect(end.status == 0, "\(end.stderr)")
        let show = try ObjectKit.show(path)
        #expect(show["name"] as? String == "obj_shared_a")
        #expect(show["complete"] as? Bool == true)
        #expect(try bpfswift("object", "unpin", path).status == 0)

        // Free-running: two different objects onto one fresh PATH, a few times.
        for round in 0..<4 {
            let p = dir.sub("r\(round)")
            let a = try ObjectKit.Background(["object", "pin", try Fixtures.object("obj_shared_a"), p, "--pin-root", root], env: [:])
            let b = try ObjectKit.Background(["object", "pin", try Fixtures.object("obj_shared_b"), p, "--pin-root", root], env: [:])
            let ra = a.finish(), rb = b.finish()
            #expect([ra.status, rb.status].sorted() == [0, 1], "round \(round): \(ra.stderr) \(rb.stderr)")
            let loser = ra.status == 0 ? rb.stderr : ra.stderr
            #expect(loser.split(separator: "\n").count == 1)
            #expect(try ObjectKit.show(p)["complete"] as? Bool == true)
            #expect(!ObjectKit.exists(ObjectKit.staging(p)))
            #expect(try bpfswift("object", "unpin", p).status == 0)
        }
        dir.remove()
    }

    @Test func repinningTheSameFileIsANoOp() throws {
        let dir = try BPFFSDir("obj_repin")
        let path = dir.sub("t")
        #expect(try ObjectKit.pin("counter", path, root: nil, ["--attach"]).status == 0)
        let before = try ObjectKit.show(path)
        let again = try ObjectKit.pin("counter", path, root: nil, ["--attach"], json: true)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try #require(try parseJSON(again.stdout) as? [String: Any])["result"] as? String == "unchanged")
        let after = try ObjectKit.show(path)
        #expect(after["pinned_at"] as? Int == before["pinned_at"] as? Int)
        #expect(after["manifest_id"] as? Int == before["manifest_id"] as? Int)
        for key in ["maps", "programs", "links"] {
            #expect(ObjectKit.entries(after, key).mapValues { ObjectKit.id($0) } == ObjectKit.entries(before, key).mapValues { ObjectKit.id($0) })
        }
        // The same file with other options is not the same tree.
        let other = try ObjectKit.pin("counter", path, root: nil)
        #expect(other.status == 1)
        #expect(other.stderr.contains("other options") && other.stderr.contains("--replace"))
        // An incomplete tree is not re-pinned silently either.
        #expect(unlink(path + "/links/count_raw") == 0)
        let inc = try ObjectKit.show(path)
        #expect(inc["complete"] as? Bool == false)
        #expect(inc["missing"] as? [String] == ["links/count_raw"])
        #expect(try ObjectKit.list(dir.path).first?["state"] as? String == "incomplete")
        let re = try ObjectKit.pin("counter", path, root: nil, ["--attach"])
        #expect(re.status == 1)
        #expect(re.stderr.contains("incomplete"))
        let fixed = try ObjectKit.pin("counter", path, root: nil, ["--attach", "--replace"], json: true)
        #expect(try #require(try parseJSON(fixed.stdout) as? [String: Any])["result"] as? String == "replaced")
        #expect(try ObjectKit.show(path)["complete"] as? Bool == true)
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }

    @Test func replaceSwapsTheTreeAndRemovesTheOldOne() throws {
        let dir = try BPFFSDir("obj_replace")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        #expect(try ObjectKit.pin("obj_shared_a", path, root: root, ["--attach"]).status == 0)
        let old = try ObjectKit.show(path)
        let oldProg = ObjectKit.id(ObjectKit.entries(old, "programs")["obj_a_count"])
        let oldLink = ObjectKit.id(ObjectKit.entries(old, "links")["obj_a_count"])
        let sharedID = ObjectKit.id(ObjectKit.entries(old, "maps")["obj_shared"])

        let refused = try ObjectKit.pin("obj_shared_b", path, root: root, ["--attach"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("it holds object obj_shared_a"))
        #expect(refused.stderr.contains("use --replace"))

        let r = try ObjectKit.pin("obj_shared_b", path, root: root, ["--attach", "--replace"], json: true)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try #require(try parseJSON(r.stdout) as? [String: Any])["result"] as? String == "replaced")
        let new = try ObjectKit.show(path)
        #expect(new["name"] as? String == "obj_shared_b")
        #expect(new["complete"] as? Bool == true)
        #expect(ObjectKit.id(ObjectKit.entries(new, "maps")["obj_shared"]) == sharedID)
        #expect(ObjectKit.names(in: dir.path) == ["root", "t"])
        // The old tree is gone: its link detached, its program freed.
        #expect(ObjectKit.eventually { !ObjectKit.alive(.link, oldLink) && !ObjectKit.alive(.program, oldProg) })
        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(ObjectKit.names(in: root) == ["obj_shared"])
        dir.remove()
    }

    @Test func pathsOffBPFFSOrUnfitAreRefused() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("bpfswift_obj_\(getpid())").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let r = try ObjectKit.pin("counter", tmp + "/x", root: nil)
        #expect(r.status == 1)
        #expect(r.stderr.contains("is not on a bpffs mount"))
        #expect(!ObjectKit.exists(tmp + "/x"))
        #expect(ObjectKit.names(in: tmp).isEmpty)

        let dir = try BPFFSDir("obj_paths")
        let dotted = try ObjectKit.pin("counter", dir.sub("a.b"), root: nil)
        #expect(dotted.status == 1 && dotted.stderr.contains("bpffs refuses names with '.'"))
        let noParent = try ObjectKit.pin("counter", dir.sub("missing/x"), root: nil)
        #expect(noParent.status == 1 && noParent.stderr.contains("No such file or directory"))
        let reserved = try ObjectKit.pin("counter", dir.sub("bpfswift_staging_x"), root: nil)
        #expect(reserved.status == 1 && reserved.stderr.contains("reserved"))
        let root = try ObjectKit.pin("counter", TestEnv.bpffsRoot, root: nil)
        #expect(root.status == 1)
        #expect(ObjectKit.names(in: dir.path).isEmpty)
        dir.remove()
    }

    @Test func unpinRemovesOnlyTheTree() throws {
        let dir = try BPFFSDir("obj_unpin")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        #expect(try ObjectKit.pin("obj_shared_a", path, root: root, ["--attach"]).status == 0)
        let show = try ObjectKit.show(path)
        let linkID = ObjectKit.id(ObjectKit.entries(show, "links")["obj_a_count"])

        // Through a symlink: refused, the tree stays.
        try #require(symlink(path, dir.sub("alias")) == 0)
        let viaLink = try bpfswift("object", "unpin", dir.sub("alias"))
        #expect(viaLink.status == 1)
        #expect(viaLink.stderr.contains("symbolic link"))
        #expect(try ObjectKit.show(path)["complete"] as? Bool == true)

        // A directory that is not an object tree: refused, left alone.
        let plain = dir.sub("plain")
        try #require(mkdir(plain, 0o700) == 0)
        #expect(try Bpftool.run(["map", "pin", "pinned", path + "/maps/obj_local", plain + "/m"]).status == 0)
        let notTree = try bpfswift("object", "unpin", plain)
        #expect(notTree.status == 1)
        #expect(notTree.stderr.contains("not an object tree"))
        #expect(ObjectKit.names(in: plain) == ["m"])
        #expect(try bpfswift("object", "unpin", dir.sub("nothing")).status == 1)
        #expect(try bpfswift("object", "unpin", TestEnv.bpffsRoot).status == 1)

        let u = try bpfswift("object", "unpin", path)
        #expect(u.status == 0, "\(u.stderr)")
        #expect(!ObjectKit.exists(path))
        #expect(!ObjectKit.exists(ObjectKit.staging(path)))
        #expect(ObjectKit.names(in: root) == ["obj_shared"])
        #expect(ObjectKit.names(in: dir.path) == ["alias", "plain", "root"])
        #expect(ObjectKit.eventually { !ObjectKit.alive(.link, linkID) })
        dir.remove()
    }
}
