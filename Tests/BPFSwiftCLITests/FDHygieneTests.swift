import Foundation
import Testing
import TestSupport

/// File descriptor hygiene: every command path, success and failure, runs
/// through CLI.run in one process (the fuzz harness's batch mode, with
/// memory output sinks) that lists /proc/self/fd before and after each
/// command; a descriptor left open is a leak. The batch runs in a process of
/// its own because tests run in parallel in this one: counting here would
/// see the other tests' descriptors (and CLI.run's per-run caches are not
/// for concurrent use).
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct FDHygieneTests {
    enum Expect { case success, failure, either }

    @Test func noCommandPathLeaksADescriptor() throws {
        let fs = try BPFFSDir("rob_fds")
        defer { fs.remove() }
        let scratch = try Robust.tempDirectory("fds")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try Data("not an object\n".utf8).write(to: URL(fileURLWithPath: scratch + "/text"))
        let counter = try Fixtures.object("counter")
        let structOps = try Fixtures.object("rob_struct_ops")
        let shared = try Fixtures.object("obj_shared_a")

        // A tree to point the read verbs at (made by the real binary, outside the count).
        let P = fs.sub("tree")
        let pin = try Robust.bpfswift(["object", "pin", counter, P, "--attach"])
        try #require(pin.status == 0, "\(pin.summary)")
        let progID = try #require((try Bpftool.json(["prog", "show", "pinned", P + "/programs/count_enter"]) as? [String: Any])?["id"] as? Int)
        let mapID = try #require((try Bpftool.json(["map", "show", "pinned", P + "/maps/hit_map"]) as? [String: Any])?["id"] as? Int)
        // (bpftool 7.5 exits 255 after printing a perf_event link, so ask bpfswift.)
        let linkShow = try Robust.bpfswift(["-j", "link", "show", "pinned", P + "/links/count_enter"])
        let linkID = try #require((try parseJSON(linkShow.stdout) as? [String: Any])?["id"] as? Int, "\(linkShow.summary)")
        let tag = try #require((try Bpftool.json(["prog", "show", "id", "\(progID)"]) as? [String: Any])?["tag"] as? String)
        let map = P + "/maps/hit_map", bss = P + "/maps/counter_bss", prog = P + "/programs/count_enter"
        let link = P + "/links/count_enter"
        let F = fs.sub("free")
        try FileManager.default.createDirectory(atPath: F, withIntermediateDirectories: false)
        let root = fs.sub("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)

        var batch = CommandBatch()
        var expects: [Expect] = []
        func run(_ e: Expect, _ args: [String]) { batch.add(args); expects.append(e) }
        let key = ["key", "1", "0", "0", "0"]

        // Global, help, version.
        run(.success, ["version"]); run(.success, ["-j", "version"]); run(.success, ["help"])
        run(.success, ["prog", "help"]); run(.success, ["help", "--man"]); run(.success, ["help", "--man", "object"])
        run(.failure, ["frobnicate"]); run(.failure, ["-j"]); run(.failure, ["-d"])
        // prog.
        for a in [["prog", "show"], ["-j", "prog", "show"], ["-f", "prog", "show"], ["-j", "-f", "prog", "show"],
                  ["prog", "show", "id", "\(progID)"], ["-j", "prog", "show", "pinned", prog],
                  ["prog", "show", "name", "count_enter"], ["prog", "show", "tag", tag], ["prog", "show", "--metadata"],
                  ["-j", "prog", "show", "--metadata", "commit=abc123"], ["prog", "list", "id", "\(progID)"],
                  ["prog", "pin", "pinned", prog, F + "/prog_pin"], ["prog", "pin", "id", "\(progID)", F + "/prog_pin2"]] {
            run(.success, a)
        }
        for a in [["prog", "show", "id", "4294967295"], ["prog", "show", "pinned", "/nonexistent"],
                  ["prog", "show", "pinned", map], ["prog", "show", "name", "no_such_prog"], ["prog", "show", "id", "x"],
                  ["prog", "pin", "pinned", prog, scratch + "/x"], ["prog", "pin", "pinned", prog, prog],
                  ["prog", "pin", "id", "4294967295", F + "/x"], ["prog", "show", "pinned", scratch + "/text"]] {
            run(.failure, a)
        }
        // map.
        for a in [["map", "show"], ["-j", "-f", "map", "show"], ["map", "show", "id", "\(mapID)"],
                  ["map", "show", "pinned", map], ["map", "show", "name", "hit_map"], ["map", "dump", "pinned", map],
                  ["-j", "map", "dump", "pinned", map], ["map", "dump", "pinned", bss], ["-j", "map", "dump", "pinned", bss],
                  ["map", "update", "pinned", map] + key + ["value", "7", "0", "0", "0", "0", "0", "0", "0"],
                  ["map", "lookup", "pinned", map] + key, ["-j", "map", "lookup", "pinned", map] + key,
                  ["map", "getnext", "pinned", map],
                  ["map", "delete", "pinned", map] + key, ["map", "pin", "pinned", map, F + "/map_pin"],
                  ["map", "create", F + "/made", "type", "hash", "key", "4", "value", "8", "entries", "4", "name", "rob_made"],
                  ["map", "create", F + "/queue", "type", "queue", "key", "0", "value", "4", "entries", "4", "name", "rob_q"],
                  ["map", "push", "pinned", F + "/queue", "value", "1", "2", "3", "4"],
                  ["map", "peek", "pinned", F + "/queue"], ["map", "pop", "pinned", F + "/queue"],
                  ["map", "freeze", "pinned", F + "/made"]] {
            run(.success, a)
        }
        // Whether a key follows key 1 depends on which processes called getpid meanwhile.
        run(.either, ["map", "getnext", "pinned", map] + key)
        for a in [["map", "lookup", "pinned", map, "key", "9", "9", "9", "9"], ["map", "lookup", "pinned", map, "key", "1"],
                  ["map", "update", "pinned", F + "/made", "key", "1", "0", "0", "0", "value", "1", "0", "0", "0", "0", "0", "0", "0"],
                  ["map", "pop", "pinned", F + "/queue"], ["map", "dump", "id", "4294967295"],
                  ["map", "show", "pinned", prog], ["map", "pin", "pinned", map, map],
                  ["map", "create", F + "/bad", "type", "hash", "key", "4", "value", "4", "entries", "0", "name", "rob_bad"],
                  ["map", "create", scratch + "/m", "type", "hash", "key", "4", "value", "4", "entries", "1", "name", "rob_x"],
                  ["map", "dump", "pinned", F + "/queue"]] {
            run(.failure, a)
        }
        // link.
        for a in [["link", "show"], ["-j", "-f", "link", "show"], ["link", "show", "id", "\(linkID)"],
                  ["link", "show", "pinned", link], ["link", "pin", "pinned", link, F + "/link_pin"]] {
            run(.success, a)
        }
        for a in [["link", "show", "id", "4294967295"], ["link", "show", "pinned", map], ["link", "pin", "pinned", link, link],
                  ["link", "detach", "id", "4294967295"], ["link", "detach", "pinned", map]] {
            run(.failure, a)
        }
        // object.
        for a in [["object", "inspect", counter], ["-j", "object", "inspect", counter], ["object", "inspect", structOps],
                  ["-j", "object", "inspect", structOps], ["object", "show", P], ["-j", "object", "show", P],
                  ["object", "list", fs.path], ["-j", "object", "list", fs.path],
                  ["object", "pin", counter, F + "/t", "--attach"], ["object", "pin", counter, F + "/t", "--attach"],
                  ["-j", "object", "pin", try Fixtures.object("obj_tp"), F + "/t", "--replace", "--pin-root", root],
                  ["object", "pin", shared, F + "/s", "--pin-root", root], ["object", "pin", shared, F + "/s2", "--pin-root", root],
                  ["object", "pin", structOps, F + "/so", "--attach", "--disable", "rob_ca", "--disable", "rob_ca_nolink",
                   "--enable", "rob_ca_optional"], ["object", "unpin", F + "/so"],
                  ["object", "unpin", F + "/t"], ["object", "unpin", F + "/s"], ["object", "unpin", F + "/s2"]] {
            run(.success, a)
        }
        for a in [["object", "inspect", "/nonexistent"], ["object", "inspect", scratch + "/text"], ["object", "inspect", "/dev/zero"],
                  ["object", "pin", scratch + "/text", F + "/x"], ["object", "pin", counter, scratch + "/x"],
                  ["object", "pin", counter, F + "/x", "--enable", "no_such_map"],
                  ["object", "pin", counter, F + "/x", "--map", "hit_map=" + prog],
                  ["object", "pin", try Fixtures.object("obj_badpin"), F + "/x"],
                  ["object", "pin", try Fixtures.object("obj_tp"), P, "--pin-root", root], ["object", "show", F], ["object", "unpin", F],
                  ["object", "show", "/nonexistent"], ["object", "list", scratch], ["object", "unpin", map]] {
            run(.failure, a)
        }
        // gen skeleton and struct_ops (the optional map only: its name is this test's own).
        let optional = ["--disable", "rob_ca", "--disable", "rob_ca_nolink", "--enable", "rob_ca_optional"]
        try FileManager.default.createDirectory(atPath: fs.sub("solinks"), withIntermediateDirectories: false)
        for a in [["gen", "skeleton", counter], ["gen", "skeleton", counter, "--lang", "c"], ["gen", "skeleton", structOps],
                  ["gen", "skeleton", structOps, "--lang", "c", "name", "rob"],
                  ["struct_ops", "register", structOps, fs.sub("solinks")] + optional,
                  ["struct_ops", "show"], ["-j", "struct_ops", "show", "name", "rob_ca_optional"], ["struct_ops", "dump"],
                  ["-j", "struct_ops", "dump", "name", "rob_ca_optional"], ["struct_ops", "unregister", "name", "rob_ca_optional"]] {
            run(.success, a)
        }
        for a in [["gen", "skeleton", scratch + "/text"], ["gen", "skeleton", "/nonexistent"], ["gen", "skeleton", counter, "name", "1x"],
                  ["struct_ops", "register", structOps] + optional, ["struct_ops", "register", counter, fs.sub("solinks")],
                  ["struct_ops", "show", "name", "no_such_ops"], ["struct_ops", "dump", "id", "4294967295"],
                  ["struct_ops", "unregister", "name", "rob_ca_optional"]] {
            run(.failure, a)
        }
        // feature (not unprivileged: it drops this process's capabilities for the commands after it).
        for a in [["feature", "probe"], ["-j", "feature", "probe", "full"], ["feature", "probe", "macros", "prefix", "X_"],
                  ["feature", "probe", "dev", "lo"], ["feature", "list_builtins", "helpers"]] {
            run(.success, a)
        }
        for a in [["feature", "probe", "bogus"], ["feature", "probe", "dev", "no_such_dev0"], ["feature", "list_builtins", "x"]] {
            run(.failure, a)
        }
        // Fault injection: every step of pin and unpin fails once, and rolls back.
        for step in ["lock", "open", "configure", "load", "pin-maps", "pin-programs", "attach", "pin-links", "manifest",
                     "publish-shared", "publish"] {
            batch.setenv("BPFSWIFT_FAULT", step)
            run(.failure, ["object", "pin", shared, F + "/f", "--attach", "--pin-root", root])
        }
        batch.setenv("BPFSWIFT_FAULT", "exchange")
        run(.success, ["object", "pin", counter, F + "/f"])
        run(.failure, ["object", "pin", try Fixtures.object("obj_tp"), F + "/f", "--replace", "--pin-root", root])
        for step in ["unpin-lock", "unpin-move", "unpin-remove"] {
            batch.setenv("BPFSWIFT_FAULT", step)
            run(.failure, ["object", "unpin", F + "/f"])
        }
        batch.unsetenv("BPFSWIFT_FAULT")
        run(.success, ["object", "unpin", F + "/f"])

        let (results, process) = try batch.run(timeout: 600)
        #expect(!process.signaled && !process.timedOut && process.status == 0,
                "the harness died after \(results.count) commands: \(process.summary)")
        try #require(results.count == expects.count)
        for (r, e) in zip(results, expects) {
            #expect(r.leaked.isEmpty, "\(r.args.joined(separator: " ")) left open: \(r.leaked)")
            switch e {
            case .success: #expect(r.status == 0, "\(r.args.joined(separator: " ")) should succeed: \(r.err)")
            case .failure: #expect(r.status != 0, "\(r.args.joined(separator: " ")) should fail: \(r.out.prefix(300))")
            case .either: break
            }
        }
        // What the successful commands made.
        let made = Set(Robust.listTree(F))
        #expect(made == ["prog_pin", "prog_pin2", "map_pin", "made", "queue", "link_pin"], "\(made)")
        // By-name pins stay (shared maps outlive their trees), in this test's own pin root only.
        #expect(Set(Robust.listTree(root)) == ["obj_shared", "obj_tp_hits"], "\(Robust.listTree(root))")
    }
}
