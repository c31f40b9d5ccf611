import Foundation
import Testing
import BPFCore
import TestSupport

/// `net` and `cgroup` against bpftool 7.5 on the real kernel: attachments
/// made by bpfswift in a fresh network namespace (a veth pair) or fresh
/// cgroups, then `show`/`tree` compared with bpftool's text byte for byte
/// and JSON key by key, and the attachment's effect checked.
@Suite(.enabled(if: TestEnv.kernelTestsEnabled, "needs root and bpffs (see TestEnv.bpfUnavailableReason)"))
struct NetCgroupCommandTests {
    /// net_progs loaded by bpftool (pins on bpffs), and the ids of its programs.
    final class Loaded {
        let dir: BPFFSDir
        init(_ label: String) throws {
            dir = try BPFFSDir(label)
            try LinkTesting.loadall("net_progs", dir, autoattach: false)
        }
        func id(_ program: String) throws -> String {
            String(try Program.open(pinned: dir.sub("p/\(program)")).id.rawValue)
        }
        deinit { dir.remove() }
    }

    /// A namespace with a veth pair `a`–`b`, both up.
    static func vethNamespace(_ label: String) throws -> TestNetns {
        let ns = try TestNetns(label)
        for cmd in [["link", "add", "name", "vna", "type", "veth", "peer", "name", "vnb"],
                    ["link", "set", "vna", "up"], ["link", "set", "vnb", "up"]] {
            let r = try runProcess("/usr/sbin/ip", ["-n", ns.name] + cmd)
            guard r.status == 0 else { throw TestFailure("ip \(cmd): \(r.stderr)") }
        }
        return ns
    }

    /// What differs between bpftool's and our `args` (text exactly; JSON both
    /// ways), or nil. bpftool 7.5's flow_dissector JSON is `["id":N]`, not
    /// JSON; it is read as the `[{"id":N}]` we print.
    static func difference(_ args: [String], netns: String? = nil) throws -> String? {
        let theirs = try LinkTesting.run([Bpftool.path] + args, netns: netns)
        let ours = try LinkTesting.run([TestEnv.binary] + args, netns: netns)
        if ours.status != 0 { return "bpfswift \(args) exited \(ours.status): \(ours.stderr)" }
        if theirs.status != 0 { return "bpftool \(args) exited \(theirs.status): \(theirs.stderr)" }
        guard args.contains("-j") || args.contains("-p") else {
            return ours.stdout == theirs.stdout ? nil : "\(args): bpftool\n\(theirs.stdout)\nours\n\(ours.stdout)"
        }
        var fixed = theirs.stdout
        fixed = fixed.replacingOccurrences(of: #""flow_dissector":(\s*)\[(\s*)"id":(\s*)([0-9]+)(\s*)\]"#,
                                           with: "\"flow_dissector\":$1[{$2\"id\":$3$4}$5]", options: .regularExpression)
        let e = try parseJSON(fixed), a = try parseJSON(ours.stdout)
        if let d = jsonDifference(expected: e, actual: a) ?? jsonDifference(expected: a, actual: e) {
            return "\(args): \(d)\nbpftool \(theirs.stdout)\nours \(ours.stdout)"
        }
        return nil
    }

    /// `difference` asked a few times: netfilter links are global, and tests
    /// running alongside add and remove theirs between the two commands.
    static func expectSame(_ args: [String], netns: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var d: String? = nil
        for attempt in 0..<5 {
            if attempt > 0 { usleep(100_000) }
            d = try difference(args, netns: netns)
            if d == nil { return }
        }
        Issue.record(Comment(rawValue: d!), sourceLocation: sourceLocation)
    }

    @Test func netAttachShowDetachAgreesWithBpftool() throws {
        let progs = try Loaded("net_show")
        let ns = try Self.vethNamespace("netshow")
        defer { ns.remove() }
        let xdp = try progs.id("net_xdp"), tcx = try progs.id("net_tcx"), flow = try progs.id("net_flow")

        func ours(_ args: String...) throws -> ProcessResult { try LinkTesting.run([TestEnv.binary] + args, netns: ns.name) }
        #expect(try ours("net", "attach", "xdpgeneric", "id", xdp, "dev", "vna").status == 0)
        #expect(try ours("-j", "net", "attach", "xdp", "id", xdp, "dev", "vnb").stdout == "null\n")
        #expect(try ours("net", "attach", "tcx_ingress", "id", tcx, "dev", "vna").status == 0)
        #expect(try ours("net", "attach", "tcx_egress", "id", tcx, "dev", "vnb").status == 0)
        // A second XDP program without overwrite is refused, with it replaces.
        let busy = try ours("net", "attach", "xdpgeneric", "id", xdp, "dev", "vna")
        #expect(busy.status == 1 && busy.stderr.contains("Device or resource busy"))
        #expect(try ours("net", "attach", "xdpgeneric", "id", xdp, "dev", "vna", "overwrite").status == 0)
        // Classic tc (cls_bpf) and the flow dissector, made by tc and bpftool.
        let obj = try Fixtures.object("net_progs")
        for cmd in [["/usr/sbin/tc", "qdisc", "add", "dev", "vnb", "clsact"],
                    ["/usr/sbin/tc", "filter", "add", "dev", "vnb", "ingress", "bpf", "da", "obj", obj, "sec", "tc"],
                    [Bpftool.path, "prog", "attach", "id", flow, "flow_dissector"]] {
            let r = try LinkTesting.run(cmd, netns: ns.name)
            #expect(r.status == 0, "\(cmd): \(r.stderr)")
        }

        for flags in [[], ["-j"], ["-p"]] {
            try Self.expectSame(flags + ["net", "show"], netns: ns.name)
            try Self.expectSame(flags + ["net", "list", "dev", "vna"], netns: ns.name)
            try Self.expectSame(flags + ["net", "show", "dev", "vnb"], netns: ns.name)
        }
        let shown = try ours("net", "show").stdout
        #expect(shown.contains("vna(") && shown.contains(" generic id \(xdp)"), "\(shown)")
        #expect(shown.contains(" driver id \(xdp)") && shown.contains("tcx/ingress net_tcx prog_id \(tcx) "), "\(shown)")
        #expect(shown.contains("clsact/ingress net_progs.bpf.o:[tc] id ") && shown.contains("flow_dissector:\nid \(flow)\n"), "\(shown)")
        let json = try parseJSON(try ours("-j", "net", "show").stdout) as? [[String: Any]]
        #expect((json?.first?["flow_dissector"] as? [[String: Any]])?.first?["id"] as? Int == Int(flow))

        // The generic XDP program on vna runs: vnb's ARP requests reach it.
        let before = try LinkTesting.counter(progs.dir.sub("m/net_hits"), key: 0)
        _ = try LinkTesting.run(["/usr/sbin/ip", "addr", "add", "10.77.0.2/24", "dev", "vnb"], netns: ns.name)
        // (No ping here: a UDP datagram to an unknown neighbour makes vnb send ARP requests.)
        _ = try LinkTesting.run(["/bin/bash", "-c", "echo x > /dev/udp/10.77.0.9/9; sleep 0.3"], netns: ns.name)
        #expect(try LinkTesting.counter(progs.dir.sub("m/net_hits"), key: 0) > before)

        // Detach: gone from both tools' view.
        #expect(try ours("net", "detach", "xdpgeneric", "dev", "vna").status == 0)
        #expect(try ours("net", "detach", "tcx_ingress", "dev", "vna").status == 0)
        let again = try ours("net", "detach", "tcx_ingress", "dev", "vna")
        #expect(again.status == 1 && again.stderr == "Error: interface tcx_ingress detach failed: No such file or directory\n")
        try Self.expectSame(["net", "show", "dev", "vna"], netns: ns.name)
        let after = try ours("net", "show", "dev", "vna").stdout
        #expect(after.hasPrefix("xdp:\n\ntc:\n\nflow_dissector:\nid \(flow)\nnetfilter:\n"), "\(after)")
    }

    @Test func netfilterLinksAreListedAsBpftoolLists() throws {
        let dir = try BPFFSDir("net_nf")
        defer { dir.remove() }
        try LinkTesting.loadall("link_net", dir, autoattach: false)
        let ns = try TestNetns("netnf")
        defer { ns.remove() }
        let program = try Kernel.openPinned(dir.sub("p/link_nf"), as: .program)
        let link = try ns.run {
            try KernelLink.attach(program: program, to: .netfilter(NetfilterLink(protocolFamily: 2, hook: 1, priority: -77, flags: 0)))
        }
        defer { link.fd.close() }
        let shown = try LinkTesting.run([TestEnv.binary, "net", "show"], netns: ns.name).stdout
        let progID = try Program.open(pinned: dir.sub("p/link_nf")).id.rawValue
        #expect(shown.contains("\n\tip input prio -77 prog_id \(progID)"), "\(shown)")
        try Self.expectSame(["net", "show"], netns: ns.name)
        try Self.expectSame(["-j", "net", "show"], netns: ns.name)
    }

    @Test func netUsageAndErrors() throws {
        let ns = try TestNetns("neterr")
        defer { ns.remove() }
        func ours(_ args: String...) throws -> ProcessResult { try LinkTesting.run([TestEnv.binary] + args, netns: ns.name) }
        let noDev = try ours("net", "show", "dev", "nosuchdev0")
        #expect(noDev.status == 1 && noDev.stderr == "Error: invalid devname nosuchdev0\n")
        let badType = try ours("net", "attach", "xdpbogus", "id", "1", "dev", "lo")
        #expect(badType.status == 2 && badType.stderr.hasPrefix("Error: net attach: invalid net attach/detach type: xdpbogus"))
        let notDev = try ours("net", "detach", "xdp", "device", "lo")
        #expect(notDev.status == 2 && notDev.stderr.contains("expected 'dev', got: 'device'?"))
        let json = try ours("-j", "net", "show", "dev", "nosuchdev0")
        #expect(json.status == 1 && json.stdout == "{\"error\":\"invalid devname nosuchdev0\"}\n")
    }

    // MARK: cgroup

    @Test func cgroupAttachShowTreeDetachAgreesWithBpftool() throws {
        let progs = try Loaded("net_cg")
        let root = try TestCgroup("net_cg")
        defer { root.remove() }
        let child = root.path + "/child", grand = child + "/grand"
        #expect(mkdir(child, 0o755) == 0 && mkdir(grand, 0o755) == 0)
        defer { rmdir(grand); rmdir(child) }
        let skb = try progs.id("net_cg_skb"), sock = try progs.id("net_cg_sock")

        // Nothing attached: no text; JSON [] (bpftool prints an empty line).
        #expect(try bpfswift("cgroup", "show", root.path).stdout == "")
        #expect(try bpfswift("-j", "cgroup", "show", root.path).stdout == "[]\n")

        #expect(try bpfswift("cgroup", "attach", root.path, "ingress", "id", skb, "multi").status == 0)
        #expect(try bpfswift("-j", "cgroup", "attach", root.path, "cgroup_inet_sock_create", "id", sock).stdout == "null\n")
        #expect(try bpfswift("cgroup", "attach", child, "cgroup_inet_ingress", "id", skb, "override").status == 0)

        for flags in [[], ["-j"], ["-p"]] {
            for args in [["show", root.path], ["list", child], ["show", grand, "effective"], ["show", child, "effective"],
                         ["tree", root.path], ["tree", root.path, "effective"], ["tree", root.path + "/"]] {
                try Self.expectSame(flags + ["cgroup"] + args)
            }
        }
        let text = try bpfswift("cgroup", "show", root.path).stdout
        #expect(text.hasPrefix("ID       AttachType      AttachFlags     Name           \n\(skb)"), "\(text)")
        #expect(text.contains("cgroup_inet_ingress multi           net_cg_skb"), "\(text)")
        let tree = try bpfswift("-j", "cgroup", "tree", root.path, "effective").stdout
        let entries = try parseJSON(tree) as? [[String: Any]]
        #expect(entries?.map { $0["cgroup"] as? String } == [root.path, child, grand])
        #expect((entries?.last?["programs"] as? [Any])?.count == 3)
        // Without a root: the whole cgroup v2 hierarchy, ours among it.
        let whole = try bpfswift("cgroup", "tree")
        #expect(whole.status == 0 && whole.stdout.hasPrefix("CgroupPath\nID       AttachType      AttachFlags     Name           \n"))
        #expect(whole.stdout.contains("\n\(root.path)\n    \(skb) "), "\(whole.stdout)")

        // Detach: bpftool sees it gone.
        #expect(try bpfswift("cgroup", "detach", child, "cgroup_inet_ingress", "id", skb).status == 0)
        let bpftoolView = try Bpftool.run(["cgroup", "show", child])
        #expect(bpftoolView.status == 0 && bpftoolView.stdout == "")
        let twice = try bpfswift("cgroup", "detach", child, "cgroup_inet_ingress", "id", skb)
        #expect(twice.status == 1 && twice.stderr == "Error: failed to detach program: No such file or directory\n")
        #expect(try bpfswift("cgroup", "detach", root.path, "ingress", "id", skb).status == 0)
        #expect(try bpfswift("cgroup", "detach", root.path, "sock_create", "id", sock).status == 0)
        #expect(try Bpftool.run(["cgroup", "show", root.path]).stdout == "")
    }

    @Test func cgroupUsageAndErrors() throws {
        let cg = try TestCgroup("net_cgerr")
        defer { cg.remove() }
        let missing = try bpfswift("cgroup", "show", cg.path + "/nosuch")
        #expect(missing.status == 1 && missing.stderr == "Error: can't open cgroup \(cg.path)/nosuch\n")
        let extra = try bpfswift("cgroup", "show", cg.path, "bogus")
        #expect(extra.status == 2 && extra.stderr.contains("expected no more arguments, 'effective', got: 'bogus'?"))
        let dup = try bpfswift("cgroup", "tree", cg.path, "eff", "effective")
        #expect(dup.status == 2 && dup.stderr.contains("duplicated argument: effective"))
        let few = try bpfswift("cgroup", "attach", cg.path, "ingress", "id")
        #expect(few.status == 2 && few.stderr.contains("too few parameters for cgroup attach"))
        let badType = try bpfswift("cgroup", "attach", cg.path, "nosuchtype", "id", "1")
        #expect(badType.status == 2 && badType.stderr.contains("invalid attach type"))
        let badFlag = try bpfswift("cgroup", "attach", cg.path, "ingress", "id", "1", "sometimes")
        #expect(badFlag.status == 2 && badFlag.stderr.contains("unknown option: sometimes"), "\(badFlag.stderr)")
    }
}
