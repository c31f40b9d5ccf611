import Testing
import Foundation
import BPFCore
import TestSupport

/// `object pin --attach`, one test per attach kind this kernel supports:
/// pin and attach, let bpfswift exit, trigger the hook, see the program's
/// counter move; unpin, see the link go and the counter stop.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct ObjectAttachTests {
    /// Pins `fixture` with --attach, checks `program` is attached by a link of
    /// `linkType`, and runs the trigger/unpin/stopped cycle on `counterMap`
    /// (pinned by name in the test's pin root, so it outlives the tree).
    func attachCycle(_ fixture: String, program: String, linkType: String, counterMap: String,
                     trigger: (String) throws -> Void) throws {
        let dir = try BPFFSDir("obj_\(fixture)")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        let r = try ObjectKit.pin(fixture, path, root: root, ["--attach"])
        try #require(r.status == 0, "\(r.stderr)")
        let show = try ObjectKit.show(path)
        #expect(show["complete"] as? Bool == true)
        let p = try #require(ObjectKit.entries(show, "programs")[program])
        #expect(p["attached"] as? Bool == true)
        let link = try ObjectKit.bpftoolLink(path + "/links/" + program)
        #expect(link["type"] as? String == linkType)
        #expect(link["prog_id"] as? Int == p["id"] as? Int)
        let linkID = try #require(link["id"] as? Int)

        // bpfswift has exited: the pinned link keeps the program attached.
        let counter = root + "/" + counterMap
        let before = try ObjectKit.counter(counter)
        for _ in 0..<5 { try trigger(path) }
        let moved = ObjectKit.eventually { ((try? ObjectKit.counter(counter)) ?? 0) >= before + 5 }
        #expect(moved, "counter stayed at \((try? ObjectKit.counter(counter)) ?? 0) from \(before)")

        let u = try bpfswift("object", "unpin", path)
        #expect(u.status == 0, "\(u.stderr)")
        #expect(ObjectKit.eventually { !ObjectKit.alive(.link, linkID) })
        // The kernel drops the link's id just before it unregisters the hook: let that finish.
        usleep(300_000)
        let stopped = try ObjectKit.counter(counter)
        for _ in 0..<5 { try? trigger(path) }
        usleep(100_000)
        #expect(try ObjectKit.counter(counter) == stopped)
        dir.remove()
    }

    @Test func tracepoint() throws {
        try attachCycle("obj_tp", program: "obj_tp_getppid", linkType: "perf_event", counterMap: "obj_tp_hits") { _ in
            _ = getppid()
        }
    }

    @Test func rawTracepoint() throws {
        try attachCycle("obj_rawtp", program: "obj_rawtp_enter", linkType: "raw_tracepoint", counterMap: "obj_rawtp_hits") { _ in
            _ = getppid()
        }
    }

    @Test func btfTracepoint() throws {
        try attachCycle("obj_tpbtf", program: "obj_tpbtf_enter", linkType: "raw_tracepoint", counterMap: "obj_tpbtf_hits") { _ in
            _ = getppid()
        }
    }

    @Test func iterator() throws {
        // Reading the pinned iterator link runs the program.
        try attachCycle("obj_iter", program: "obj_iter_task", linkType: "iter", counterMap: "obj_iter_hits") { path in
            let text = try String(contentsOfFile: path + "/links/obj_iter_task", encoding: .utf8)
            #expect(text.split(separator: "\n").contains("\(getpid())"))
        }
    }

    @Test func uprobe() throws {
        // SEC("uprobe/libc.so.6:getpgid"): the section names the target.
        try attachCycle("obj_uprobe", program: "obj_uprobe_getpgid", linkType: "perf_event", counterMap: "obj_uprobe_hits") { _ in
            _ = getpgid(0)
        }
    }

    static func congestionControls() -> [String] {
        ((try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_congestion_control", encoding: .utf8)) ?? "")
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }

    @Test func structOpsLink() throws {
        let dir = try BPFFSDir("obj_cclink")
        let path = dir.sub("t")
        let r = try ObjectKit.pin("obj_cclink", path, root: nil, ["--attach"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "struct_ops programs are not worth a warning: \(r.stderr)")
        #expect(Self.congestionControls().contains("bpfswift_objl"))
        let show = try ObjectKit.show(path)
        let l = try #require(ObjectKit.entries(show, "links")["objl_ca"])
        #expect(l["type"] as? String == "struct_ops")
        #expect(l["struct_ops_map"] as? String == "objl_ca")
        let b = try ObjectKit.bpftoolLink(path + "/links/objl_ca")
        #expect(b["map_id"] as? Int == ObjectKit.id(ObjectKit.entries(show, "maps")["objl_ca"]))
        for (_, p) in ObjectKit.entries(show, "programs") {
            #expect(p["type"] as? String == "struct_ops")
            #expect(p["attached"] as? Bool == false)
        }
        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(ObjectKit.eventually { !Self.congestionControls().contains("bpfswift_objl") })
        dir.remove()
    }

    @Test func structOpsMapWithoutLinkAndEnable() throws {
        let dir = try BPFFSDir("obj_ccmap")
        let path = dir.sub("t")
        let r = try ObjectKit.pin("obj_ccmap", path, root: nil, ["--attach", "--enable", "objm_opt"])
        try #require(r.status == 0, "\(r.stderr)")
        let cc = Self.congestionControls()
        #expect(cc.contains("bpfswift_objm") && cc.contains("bpfswift_objo"))
        let show = try ObjectKit.show(path)
        // Registered without a link: the pin under links/ holds the struct_ops map itself.
        let l = try #require(ObjectKit.entries(show, "links")["objm_ca"])
        #expect(l["type"] as? String == "struct_ops_map")
        #expect(ObjectKit.id(l) == ObjectKit.id(ObjectKit.entries(show, "maps")["objm_ca"]))
        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(ObjectKit.eventually {
            let now = Self.congestionControls()
            return !now.contains("bpfswift_objm") && !now.contains("bpfswift_objo")
        })

        // Without --enable the optional map is neither created nor registered, and its program is not loaded.
        let r2 = try ObjectKit.pin("obj_ccmap", path, root: nil, ["--attach"])
        try #require(r2.status == 0, "\(r2.stderr)")
        #expect(!Self.congestionControls().contains("bpfswift_objo"))
        let show2 = try ObjectKit.show(path)
        #expect(ObjectKit.entries(show2, "maps")["objm_opt"] == nil)
        #expect(ObjectKit.entries(show2, "programs")["objm_opt_ssthresh"] == nil)
        #expect(try bpfswift("object", "unpin", path).status == 0)
        #expect(ObjectKit.eventually { !Self.congestionControls().contains("bpfswift_objm") })
        dir.remove()
    }

    @Test func aProgramWithoutAutoAttachIsPinnedButNotAttached() throws {
        let dir = try BPFFSDir("obj_noattach")
        let root = dir.sub("root")
        try #require(mkdir(root, 0o700) == 0)
        let path = dir.sub("t")
        let r = try ObjectKit.pin("obj_tp", path, root: root, ["--attach"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "Warning: program obj_tp_xdp is loaded and pinned but not attached: section xdp gives libbpf no attach target\n")
        let show = try ObjectKit.show(path)
        #expect(show["complete"] as? Bool == true)
        let xdp = try #require(ObjectKit.entries(show, "programs")["obj_tp_xdp"])
        #expect(xdp["attached"] as? Bool == false)
        #expect(xdp["link"] is NSNull)
        #expect((xdp["not_attached"] as? String)?.contains("no attach target") == true)
        let b = try #require(try Bpftool.json(["prog", "show", "pinned", path + "/programs/obj_tp_xdp"]) as? [String: Any])
        #expect(b["type"] as? String == "xdp")
        #expect(!ObjectKit.exists(path + "/links/obj_tp_xdp"))
        let text = try bpfswift("object", "show", path).stdout
        #expect(text.contains("programs/obj_tp_xdp  section xdp  not attached: section xdp gives libbpf no attach target"))
        #expect(try bpfswift("object", "unpin", path).status == 0)
        dir.remove()
    }

    @Test func failingToAttachAnAttachableProgramRollsBack() throws {
        // obj_ba_ok attaches, then obj_ba_bad's tracepoint does not exist: nothing may stay.
        let dir = try BPFFSDir("obj_attachfail")
        let path = dir.sub("t")
        let r = try ObjectKit.pin("obj_badattach", path, root: nil, ["--attach"])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("Error: attach program obj_ba_bad (tracepoint/syscalls/sys_enter_bpfswift_no_such_call): No such file or directory"))
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(ObjectKit.names(in: dir.path).isEmpty)
        #expect(ObjectKit.eventually {
            (try? ObjectKit.kernelIDs("prog", named: "obj_ba_ok").isEmpty) == true
                && (try? ObjectKit.kernelIDs("prog", named: "obj_ba_bad").isEmpty) == true
        })
        dir.remove()
    }
}
