import Foundation
import Testing
import BPFCore
import TestSupport

/// `object pin --attach-to`, `prog load|loadall|attach|detach|run|tracelog`,
/// `perf show` and `iter pin` on the real kernel: the effect checked (a
/// program runs, bpftool sees the attachment), and output compared with
/// bpftool 7.5 where both print.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (see TestEnv.bpfUnavailableReason)"))
struct ProgLoadRunIterTests {
    /// Runs bpfswift in the network namespace only (nsenter): unlike
    /// `ip netns exec`, /sys and its bpffs stay as they are.
    static func inNetns(_ ns: TestNetns, _ args: [String]) throws -> ProcessResult {
        try runProcess("/usr/bin/nsenter", ["--net=" + ns.path, TestEnv.binary] + args)
    }

    static func programID(_ path: String) throws -> UInt32 {
        try Program.open(pinned: path).id.rawValue
    }

    // MARK: object pin --attach-to

    @Test func attachToPlacesProgramsAndUnpinDetachesThem() throws {
        let dir = try BPFFSDir("net_attachto")
        defer { dir.remove() }
        let ns = try NetCgroupCommandTests.vethNamespace("attachto")
        defer { ns.remove() }
        let cg = try TestCgroup("net_attachto")
        defer { cg.remove() }
        let tree = dir.sub("tree")
        let obj = try Fixtures.object("net_progs")
        let specs = ["net_xdp=xdp:vna:generic", "net_tcx=tcx_ingress:vna", "net_tc=tcx_egress:vnb",
                     "net_cg_skb=cgroup:\(cg.path):cgroup_inet_egress", "net_cg_sock=cgroup:\(cg.path)",
                     "net_uprobe=uprobe:libc.so.6:getpgid", "net_flow=netns:\(ns.path)"]
        let pin = try Self.inNetns(ns, ["object", "pin", obj, tree] + specs.flatMap { ["--attach-to", $0] })
        #expect(pin.status == 0, "\(pin.stderr)")
        for name in ["net_xdp", "net_tcx", "net_tc", "net_cg_skb", "net_cg_sock", "net_uprobe", "net_flow"] {
            #expect(Kernel.kind(of: try Kernel.openPinned(tree + "/links/" + name)) == .link, "\(name)")
        }
        // Only the named programs attach without --attach.
        #expect(!FileManager.default.fileExists(atPath: tree + "/links/net_xdp_mark"))

        // bpftool sees each attachment where it belongs.
        let xdp = try Self.programID(tree + "/programs/net_xdp"), tcx = try Self.programID(tree + "/programs/net_tcx")
        let flow = try Self.programID(tree + "/programs/net_flow")
        let net = try LinkTesting.run([Bpftool.path, "net", "show"], netns: ns.name).stdout
        #expect(net.contains("vna(") && net.contains(" generic id \(xdp)\n"), "\(net)")
        #expect(net.contains(" tcx/ingress net_tcx prog_id \(tcx) link_id "), "\(net)")
        #expect(net.contains(" tcx/egress net_tc prog_id "), "\(net)")
        #expect(net.contains("flow_dissector:\nid \(flow)\n"), "\(net)")
        let cgroups = try Bpftool.run(["cgroup", "show", cg.path]).stdout
        #expect(cgroups.contains("cgroup_inet_egress") && cgroups.contains("net_cg_skb"), "\(cgroups)")
        #expect(cgroups.contains("cgroup_inet_sock_create") && cgroups.contains("net_cg_sock"), "\(cgroups)")
        // The uprobe runs when this process calls getpgid.
        let hits = tree + "/maps/net_hits"
        let before = try LinkTesting.counter(hits, key: 4)
        for _ in 0..<3 { _ = getpgid(0) }
        #expect(try LinkTesting.counter(hits, key: 4) >= before + 3)

        // object show lists the links; the same pin again changes nothing.
        let show = try bpfswift("-j", "object", "show", tree)
        #expect(show.status == 0 && show.stdout.contains("\"net_uprobe\""), "\(show.stdout)")
        let again = try Self.inNetns(ns, ["-j", "object", "pin", obj, tree] + specs.flatMap { ["--attach-to", $0] })
        #expect(again.status == 0 && again.stdout.contains("\"unchanged\""), "\(again.stdout)\(again.stderr)")

        // unpin detaches everything.
        #expect(try bpfswift("object", "unpin", tree).status == 0)
        let after = try LinkTesting.run([Bpftool.path, "net", "show"], netns: ns.name).stdout
        #expect(!after.contains("vna(") && after.contains("flow_dissector:\n\n"), "\(after)")
        #expect(try Bpftool.run(["cgroup", "show", cg.path]).stdout == "")
    }

    @Test func attachToErrorsLeaveNothingBehind() throws {
        let dir = try BPFFSDir("net_attachto_err")
        defer { dir.remove() }
        let obj = try Fixtures.object("net_progs")
        let tree = dir.sub("tree")
        let grammar = try bpfswift("object", "pin", obj, tree, "--attach-to", "net_xdp=xdp")
        #expect(grammar.status == 2 && grammar.stderr.contains("--attach-to target 'xdp'"), "\(grammar.stderr)")
        let mode = try bpfswift("object", "pin", obj, tree, "--attach-to", "net_xdp=xdp:lo:turbo")
        #expect(mode.status == 2 && mode.stderr.contains("XDP mode 'turbo' is not generic or native"), "\(mode.stderr)")
        let unknown = try bpfswift("object", "pin", obj, tree, "--attach-to", "nosuch=xdp:lo")
        #expect(unknown.status == 1 && unknown.stderr.contains("has no program of that name"), "\(unknown.stderr)")
        let noDev = try bpfswift("object", "pin", obj, tree, "--attach-to", "net_xdp=xdp:nosuchdev0")
        #expect(noDev.status == 1 && noDev.stderr.contains("no interface nosuchdev0"), "\(noDev.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tree))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    // MARK: prog load / loadall

    @Test func loadAndLoadallPinAsBpftoolDoes() throws {
        let byName = DefaultRootPins(["obj_tp_hits"])
        defer { byName.remove() }
        let dir = try BPFFSDir("net_load")
        defer { dir.remove() }
        let obj = try Fixtures.object("net_progs")
        // load: the first program, with the maps pinned.
        let one = try bpfswift("-j", "prog", "load", obj, dir.sub("first"), "pinmaps", dir.sub("m"))
        #expect(one.status == 0 && one.stdout == "null\n", "\(one.stderr)")
        let first = try Bpftool.json(["prog", "show", "pinned", dir.sub("first")]) as? [String: Any]
        #expect(first?["name"] as? String == "net_xdp" && first?["type"] as? String == "xdp")
        #expect(Kernel.kind(of: try Kernel.openPinned(dir.sub("m/net_hits"))) == .map)

        // loadall with a reused map: every program pinned by name, using that map.
        let all = try bpfswift("prog", "loadall", obj, dir.sub("all"), "map", "name", "net_hits", "pinned", dir.sub("m/net_hits"))
        #expect(all.status == 0, "\(all.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.sub("all")).sorted()
        #expect(names == ["net_cg_skb", "net_cg_sock", "net_flow", "net_msg", "net_parser", "net_tc", "net_tcx",
                          "net_uprobe", "net_verdict", "net_xdp", "net_xdp_mark"])
        let mapID = try MapInfo(fd: try Kernel.openPinned(dir.sub("m/net_hits"))).id.rawValue
        let tc = try Bpftool.json(["prog", "show", "pinned", dir.sub("all/net_tc")]) as? [String: Any]
        #expect((tc?["map_ids"] as? [Int])?.contains(Int(mapID)) == true, "\(String(describing: tc))")
        #expect(tc?["type"] as? String == "sched_cls")

        // bpftool agrees program by program on what loadall made (types and names).
        let theirs = dir.sub("theirs")
        #expect(try Bpftool.run(["prog", "loadall", obj, theirs]).status == 0)
        for n in names {
            let a = try Bpftool.json(["prog", "show", "pinned", dir.sub("all/\(n)")]) as? [String: Any]
            let b = try Bpftool.json(["prog", "show", "pinned", theirs + "/" + n]) as? [String: Any]
            for key in ["type", "name", "tag", "gpl_compatible", "bytes_xlated"] {
                #expect("\(a?[key] ?? "nil")" == "\(b?[key] ?? "nil")", "\(n).\(key)")
            }
        }

        // autoattach: links where the section says where, programs elsewhere.
        let links = dir.sub("links")
        let auto = try bpfswift("prog", "loadall", try Fixtures.object("link_trace"), links, "autoattach")
        #expect(auto.status == 0, "\(auto.stderr)")
        #expect(Kernel.kind(of: try Kernel.openPinned(links + "/link_raw")) == .link)

        // type TYPE for every program, as bpftool sets it.
        let typed = try bpfswift("prog", "load", try Fixtures.object("obj_tp"), dir.sub("typed"), "type", "tracepoint")
        #expect(typed.status == 0, "\(typed.stderr)")
        let typedInfo = try Bpftool.json(["prog", "show", "pinned", dir.sub("typed")]) as? [String: Any]
        #expect(typedInfo?["type"] as? String == "tracepoint")
        let badType = try bpfswift("prog", "load", try Fixtures.object("obj_tp"), dir.sub("x"), "type", "bogus")
        #expect(badType.status == 1 && badType.stderr.hasPrefix("Error: failed to guess program type from ELF section 'bogus'"))

        // Errors, as bpftool words them.
        let badIdx = try bpfswift("prog", "load", obj, dir.sub("x"), "map", "idx", "9", "pinned", dir.sub("m/net_hits"))
        #expect(badIdx.status == 1 && badIdx.stderr == "Error: map idx '9' not used\n", "\(badIdx.stderr)")
        let badWord = try bpfswift("prog", "load", obj, dir.sub("x"), "bogus")
        #expect(badWord.status == 2 && badWord.stderr.contains("got: 'bogus'?"))
        #expect(!FileManager.default.fileExists(atPath: dir.sub("x")))
    }

    // MARK: prog attach / detach

    @Test func attachDetachToSockmapAndFlowDissector() throws {
        let dir = try BPFFSDir("net_progattach")
        defer { dir.remove() }
        try LinkTesting.loadall("net_progs", dir, autoattach: false)
        let verdict = ["pinned", dir.sub("p/net_verdict")], sockmap = ["pinned", dir.sub("m/net_sockmap")]
        // Ours attaches, bpftool can then detach it (and not twice).
        #expect(try bpfswift(args: ["prog", "attach"] + verdict + ["stream_verdict"] + sockmap).status == 0)
        #expect(try Bpftool.run(["prog", "detach"] + verdict + ["sk_skb_stream_verdict"] + sockmap).status == 0)
        let gone = try bpfswift(args: ["prog", "detach"] + verdict + ["stream_verdict"] + sockmap)
        #expect(gone.status == 1 && gone.stderr.hasPrefix("Error: failed prog detach from map"), "\(gone.stderr)")
        // bpftool attaches, ours detaches.
        #expect(try Bpftool.run(["prog", "attach"] + verdict + ["stream_verdict"] + sockmap).status == 0)
        #expect(try bpfswift(args: ["prog", "detach"] + verdict + ["sk_skb_stream_verdict"] + sockmap).status == 0)
        #expect(try Bpftool.run(["prog", "detach"] + verdict + ["stream_verdict"] + sockmap).status != 0)
        #expect(try bpfswift(args: ["-j", "prog", "attach", "pinned", dir.sub("p/net_parser"), "sk_skb_stream_parser"] + sockmap).stdout == "null\n")
        #expect(try Bpftool.run(["prog", "detach", "pinned", dir.sub("p/net_parser"), "stream_parser"] + sockmap).status == 0)

        // flow_dissector: the namespace of the caller.
        let ns = try TestNetns("progflow")
        defer { ns.remove() }
        let flow = String(try Self.programID(dir.sub("p/net_flow")))
        #expect(try Self.inNetns(ns, ["prog", "attach", "id", flow, "flow_dissector"]).status == 0)
        #expect(try LinkTesting.run([Bpftool.path, "net", "show"], netns: ns.name).stdout.contains("flow_dissector:\nid \(flow)\n"))
        #expect(try Self.inNetns(ns, ["prog", "detach", "id", flow, "flow_dissector"]).status == 0)
        #expect(try LinkTesting.run([Bpftool.path, "net", "show"], netns: ns.name).stdout.contains("flow_dissector:\n\n"))
        let bad = try bpfswift("prog", "attach", "id", flow, "nosuchtype")
        #expect(bad.status == 2 && bad.stderr.contains("invalid attach/detach type"))
    }

    // MARK: prog run

    @Test func runMatchesBpftool() throws {
        let dir = try BPFFSDir("net_run")
        defer { dir.remove() }
        try LinkTesting.loadall("net_progs", dir, autoattach: false)
        let input = dir.path.replacingOccurrences(of: "/sys/fs/bpf/", with: "/tmp/") + "_in"
        let packet = (0..<64).map { UInt8($0) }
        try Data(packet).write(to: URL(fileURLWithPath: input))
        defer { unlink(input); unlink(input + ".out") }
        let prog = ["pinned", dir.sub("p/net_xdp_mark")]
        func withoutDuration(_ s: String) -> String {
            s.replacingOccurrences(of: #"duration( \(average\))?: [0-9]+ns"#, with: "duration$1: Nns", options: .regularExpression)
        }
        for extra in [[], ["repeat", "5"]] {
            let args = ["prog", "run"] + prog + ["data_in", input, "data_out", "-"] + extra
            let ours = try bpfswift(args: args), theirs = try Bpftool.run(args)
            #expect(ours.status == 0 && withoutDuration(ours.stdout) == withoutDuration(theirs.stdout),
                    "\(ours.stdout)\(ours.stderr) vs \(theirs.stdout)")
            let oj = try bpfswift(args: ["-j"] + args), tj = try Bpftool.run(["-j"] + args)
            let o = try parseJSON(oj.stdout), t = try parseJSON(tj.stdout)
            #expect(jsonDifference(expected: t, actual: o, ignoring: ["duration"]) == nil
                    && jsonDifference(expected: o, actual: t, ignoring: ["duration"]) == nil, "\(oj.stdout) vs \(tj.stdout)")
            #expect((o as? [String: Any])?["retval"] as? Int == 3)   // XDP_TX
        }
        #expect(try bpfswift(args: ["prog", "run"] + prog + ["data_in", input, "data_out", input + ".out"]).status == 0)
        let out = [UInt8](try Data(contentsOf: URL(fileURLWithPath: input + ".out")))
        #expect(out.count == 64 && out[0] == 0x42 && Array(out[1...]) == Array(packet[1...]))
        let both = try bpfswift(args: ["prog", "run"] + prog + ["data_in", "-", "ctx_in", "-"])
        #expect(both.status == 2 && both.stderr.contains("cannot use standard input for both data_in and ctx_in"))
        let ambiguous = try bpfswift(args: ["prog", "run"] + prog + ["data", input])
        #expect(ambiguous.status == 2 && ambiguous.stderr.contains("ambiguous"))
    }

    // MARK: prog tracelog

    @Test func tracelogCopiesTheTracePipeUntilInterrupted() throws {
        guard let pipePath = TracePipe.path() else { throw TestFailure("no tracefs") }
        let marker = "bpfswift-net-tracelog-\(getpid())"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnv.binary)
        p.arguments = ["-j", "prog", "tracelog"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        usleep(300_000)
        let markerFile = URL(fileURLWithPath: pipePath).deletingLastPathComponent().appendingPathComponent("trace_marker").path
        let fd = open(markerFile, O_WRONLY)
        #expect(fd >= 0)
        _ = marker.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        usleep(300_000)
        p.interrupt()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationReason == .exit && p.terminationStatus == 0)
        let lines = try parseJSON(text) as? [String]
        #expect(lines?.contains { $0.contains(marker) } == true, "\(text)")
    }

    // MARK: perf show

    @Test func perfShowMatchesBpftoolForThisProcess() throws {
        let obj = try BPFObject.open(path: try Fixtures.object("link_trace"))
        try obj.load()
        guard let raw = obj.programs.first(where: { $0.name == "link_raw" }) else { throw TestFailure("no link_raw") }
        let link = try raw.attach()
        defer { _ = link }
        let me = getpid()
        let ours = try bpfswift("perf", "show"), theirs = try Bpftool.run(["perf", "show"])
        let mine = { (s: String) in s.split(separator: "\n").filter { $0.hasPrefix("pid \(me) ") } }
        #expect(ours.status == 0 && !mine(ours.stdout).isEmpty && mine(ours.stdout) == mine(theirs.stdout),
                "\(ours.stdout) vs \(theirs.stdout)")
        #expect(mine(ours.stdout).contains { $0.contains("raw_tracepoint  sys_enter") })
        let oj = try parseJSON(try bpfswift("-j", "perf", "list").stdout) as? [[String: Any]] ?? []
        let tj = try parseJSON(try Bpftool.run(["-j", "perf", "show"]).stdout) as? [[String: Any]] ?? []
        let o = oj.filter { $0["pid"] as? Int == Int(me) }, t = tj.filter { $0["pid"] as? Int == Int(me) }
        #expect(!o.isEmpty && jsonDifference(expected: t, actual: o) == nil && jsonDifference(expected: o, actual: t) == nil)
    }

    // MARK: iter pin

    @Test func iterPinRunsOnRead() throws {
        let byName = DefaultRootPins(["obj_iter_hits"])
        defer { byName.remove() }
        let dir = try BPFFSDir("net_iter")
        defer { dir.remove() }
        let tasks = dir.sub("tasks")
        let r = try bpfswift("-j", "iter", "pin", try Fixtures.object("obj_iter"), tasks)
        #expect(r.status == 0 && r.stdout == "null\n", "\(r.stderr)")
        let pids = try String(contentsOfFile: tasks, encoding: .utf8).split(separator: "\n")
        #expect(pids.contains(Substring(String(getpid()))))

        // A map for an iterator that takes none: both tools answer alike.
        try LinkTesting.loadall("net_progs", dir, autoattach: false)
        let withMap = try bpfswift("iter", "pin", try Fixtures.object("obj_iter"), dir.sub("t2"), "map", "pinned", dir.sub("m/net_hits"))
        let theirs = try Bpftool.run(["iter", "pin", try Fixtures.object("obj_iter"), dir.sub("t3"), "map", "pinned", dir.sub("m/net_hits")])
        #expect((withMap.status == 0) == (theirs.status == 0), "\(withMap.stderr) vs \(theirs.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.sub("t2")) == FileManager.default.fileExists(atPath: dir.sub("t3")))
        let bad = try bpfswift("iter", "pin", try Fixtures.object("obj_iter"), dir.sub("x"), "mop", "id", "1")
        #expect(bad.status == 2)
    }
}
