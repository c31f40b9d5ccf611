import Foundation
import Testing
import BPFCore
import TestSupport

/// Descriptor hygiene of the net, cgroup, perf, iter, prog load/run/attach
/// and --attach-to paths, success and failure: each command runs through
/// CLI.run in one batch process that compares /proc/self/fd before and
/// after it (see FDHygieneTests). Everything runs in the root network
/// namespace, so device attachments are exercised on their failure paths
/// only (the netns tests cover their success).
@Suite(.enabled(if: TestEnv.kernelTestsEnabled))
struct NetFDHygieneTests {
    @Test func noNetOrCgroupPathLeaksADescriptor() throws {
        let fs = try BPFFSDir("net_fds")
        defer { fs.remove() }
        try LinkTesting.loadall("net_progs", fs, autoattach: false)
        let cg = try TestCgroup("net_fds")
        defer { cg.remove() }
        let scratch = try Robust.tempDirectory("netfds")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let packet = scratch + "/packet"
        try Data((0..<64).map { UInt8($0) }).write(to: URL(fileURLWithPath: packet))
        let obj = try Fixtures.object("net_progs")
        let skb = ["pinned", fs.sub("p/net_cg_skb")], verdict = ["pinned", fs.sub("p/net_verdict")]
        let sockmap = ["pinned", fs.sub("m/net_sockmap")]

        let byName = DefaultRootPins(["obj_iter_hits"])
        defer { byName.remove() }
        var batch = CommandBatch()
        var expects: [Bool] = []
        func run(_ ok: Bool, _ args: [String]) { batch.add(args); expects.append(ok) }
        for a in [["net", "show"], ["-j", "net", "show"], ["net", "show", "dev", "lo"], ["perf", "show"], ["-j", "perf", "list"],
                  ["cgroup", "attach", cg.path, "ingress"] + skb + ["multi"], ["cgroup", "show", cg.path], ["-j", "cgroup", "tree", cg.path],
                  ["cgroup", "show", cg.path, "effective"], ["cgroup", "detach", cg.path, "ingress"] + skb,
                  ["prog", "run", "pinned", fs.sub("p/net_xdp_mark"), "data_in", packet, "data_out", "-", "repeat", "3"],
                  ["-j", "prog", "run", "pinned", fs.sub("p/net_xdp_mark"), "data_in", packet, "data_out", scratch + "/out"],
                  ["prog", "attach"] + verdict + ["stream_verdict"] + sockmap, ["prog", "detach"] + verdict + ["stream_verdict"] + sockmap,
                  ["prog", "load", obj, fs.sub("one")], ["prog", "loadall", obj, fs.sub("all"), "pinmaps", fs.sub("maps")],
                  ["prog", "loadall", try Fixtures.object("link_trace"), fs.sub("auto"), "autoattach"],
                  ["prog", "load", obj, fs.sub("reuse"), "map", "name", "net_hits", "pinned", fs.sub("m/net_hits")],
                  ["iter", "pin", try Fixtures.object("obj_iter"), fs.sub("iter")],
                  ["object", "pin", obj, fs.sub("tree"), "--attach-to", "net_cg_skb=cgroup:\(cg.path):cgroup_inet_egress",
                   "--attach-to", "net_uprobe=uprobe:libc.so.6:getpgid"],
                  ["object", "unpin", fs.sub("tree")]] {
            run(true, a)
        }
        for a in [["net", "show", "dev", "nosuchdev0"], ["-j", "net", "show", "dev", "nosuchdev0"],
                  ["net", "attach", "xdpgeneric", "pinned", fs.sub("p/net_xdp"), "dev", "nosuchdev0"],
                  ["net", "attach", "tcx_ingress", "id", "4294967295", "dev", "lo"], ["net", "detach", "xdp", "dev", "nosuchdev0"],
                  ["cgroup", "show", scratch + "/missing"], ["cgroup", "attach", cg.path, "ingress", "id", "4294967295"],
                  ["cgroup", "detach", cg.path, "ingress"] + skb, ["cgroup", "attach", scratch + "/missing", "ingress"] + skb,
                  ["prog", "run", "pinned", fs.sub("p/net_xdp_mark"), "data_in", scratch + "/missing"],
                  ["prog", "run", "pinned", fs.sub("p/net_xdp_mark"), "data_in", packet, "data_out", scratch + "/missing/x"],
                  ["prog", "detach"] + verdict + ["stream_verdict"] + sockmap, ["prog", "attach"] + verdict + ["stream_verdict", "id", "4294967295"],
                  ["prog", "load", scratch + "/missing", fs.sub("x")], ["prog", "load", scratch, fs.sub("x")],
                  ["iter", "pin", scratch, fs.sub("x")], ["prog", "load", obj, fs.sub("x"), "map", "idx", "9"] + sockmap,
                  ["prog", "load", obj, scratch + "/missing/x"], ["iter", "pin", obj, fs.sub("x")],
                  ["iter", "pin", try Fixtures.object("obj_iter"), scratch + "/missing/x"],
                  ["object", "pin", obj, fs.sub("x"), "--attach-to", "net_xdp=xdp:nosuchdev0:generic"],
                  ["object", "pin", obj, fs.sub("x"), "--attach-to", "net_tcx=tcx_ingress:nosuchdev0"],
                  ["object", "pin", obj, fs.sub("x"), "--attach-to", "net_cg_skb=cgroup:\(scratch)/missing"],
                  ["object", "pin", obj, fs.sub("x"), "--attach-to", "net_flow=netns:\(scratch)/missing"],
                  ["object", "pin", obj, fs.sub("x"), "--attach-to", "net_uprobe=uprobe:\(scratch)/missing:f"]] {
            run(false, a)
        }
        let (results, process) = try batch.run(timeout: 600)
        #expect(!process.signaled && !process.timedOut && process.status == 0, "\(process.summary)")
        try #require(results.count == expects.count)
        for (r, ok) in zip(results, expects) {
            let line = r.args.joined(separator: " ")
            #expect(r.leaked.isEmpty, "\(line) left open: \(r.leaked)")
            #expect((r.status == 0) == ok, "\(line): exit \(r.status): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: fs.sub("x")))
        #expect(try Bpftool.run(["cgroup", "show", cg.path]).stdout == "")
    }
}
