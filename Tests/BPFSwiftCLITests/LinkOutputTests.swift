import Foundation
import Testing
@testable import BPFSwiftCLI
import BPFCore
import TestSupport

/// The renderers on link types the test kernel cannot create (kprobes are
/// configured out, trampolines are denied, map element iterators do not
/// load, no netkit device support in iproute2): the expected strings follow
/// bpftool 7.5's printf formats in link.c (`show_link_close_plain`, ...).
@Suite struct LinkOutputTests {
    func json(_ info: LinkInfo, pinned: [String]? = nil) throws -> [String: Any] {
        var w = JSONWriter()
        LinkOutput.json(info, pinned: pinned, &w)
        return try #require(try parseJSON(String(decoding: w.bytes, as: UTF8.self)) as? [String: Any])
    }

    @Test func kprobeMulti() throws {
        let info = LinkInfo(id: LinkID(5), type: .kprobeMulti, programID: ProgramID(10), details: .kprobeMulti(
            KprobeMultiLink(isReturnProbe: false, count: 2, missed: 3, functions: [
                .init(address: 0xffff_ffff_8100_0010, name: "do_sys_open", module: nil, cookie: 0),
                .init(address: 0xffff_ffff_c000_1000, name: "mod_fn", module: "mymod", cookie: 0x1f),
            ])))
        #expect(LinkOutput.text(info, pinned: []) == """
            5: kprobe_multi  prog 10  \n\tkprobe.multi  func_cnt 2  missed 3  \
            \n\taddr             cookie           func [module]\
            \n\tffffffff81000010 0                do_sys_open  \
            \n\tffffffffc0001000 1f               mod_fn [mymod]  \n
            """)
        let j = try json(info)
        #expect(j["retprobe"] as? Bool == false && j["func_cnt"] as? Int == 2 && j["missed"] as? Int == 3)
        let funcs = try #require(j["funcs"] as? [[String: Any]])
        #expect(funcs.count == 2)
        #expect((funcs[0]["addr"] as? NSNumber)?.uint64Value == 0xffff_ffff_8100_0010)
        #expect(funcs[0]["module"] is NSNull && funcs[1]["module"] as? String == "mymod")
        #expect(funcs[1]["cookie"] as? Int == 0x1f)

        // Without kernel symbols bpftool stops after the counts; a return probe says so.
        let bare = LinkInfo(id: LinkID(5), type: .kprobeMulti, programID: ProgramID(10), details: .kprobeMulti(
            KprobeMultiLink(isReturnProbe: true, count: 1, missed: 0, functions: nil)))
        #expect(LinkOutput.text(bare, pinned: []) == "5: kprobe_multi  prog 10  \n\tkretprobe.multi  func_cnt 1  \n")
    }

    @Test func tracing() throws {
        let fentry = AttachType(rawValue: 24)
        let tracingType = ProgramTypeName(rawValue: 26)
        #expect(fentry.name == "trace_fentry" && tracingType.name == "tracing")
        let info = LinkInfo(id: LinkID(3), type: .tracing, programID: ProgramID(8), details: .tracing(
            programType: tracingType, attachType: fentry, targetObjectID: 1, targetBTFID: 1234))
        #expect(LinkOutput.text(info, pinned: ["/sys/fs/bpf/x"]) == """
            3: tracing  prog 8  \n\tprog_type tracing  attach_type trace_fentry  \
            \n\ttarget_obj_id 1  target_btf_id 1234  \n\tpinned /sys/fs/bpf/x\n
            """)
        let j = try json(info, pinned: ["/sys/fs/bpf/x"])
        #expect(j["prog_type"] as? String == "tracing" && j["attach_type"] as? String == "trace_fentry")
        #expect(j["target_obj_id"] as? Int == 1 && j["target_btf_id"] as? Int == 1234)
        #expect(j["pinned"] as? [String] == ["/sys/fs/bpf/x"])
        // Unknown to libbpf: numbers, in both renderings.
        let odd = LinkInfo(id: LinkID(3), type: .tracing, programID: ProgramID(8), details: .tracing(
            programType: ProgramTypeName(rawValue: 999), attachType: AttachType(rawValue: 999), targetObjectID: 0, targetBTFID: 0))
        #expect(LinkOutput.text(odd, pinned: []) == "3: tracing  prog 8  \n\tprog_type 999  attach_type 999  \n")
        let oj = try json(odd)
        #expect(oj["prog_type"] as? Int == 999 && oj["attach_type"] as? Int == 999)
    }

    @Test func perfEventKprobeAndEvents() throws {
        let kprobe = LinkInfo(id: LinkID(4), type: .perfEvent, programID: ProgramID(9), details: .perfEvent(
            .kprobe(isReturnProbe: true, function: "do_unlinkat", address: 0xffff_ffff_8123_4560, offset: 16, missed: 2, cookie: 9)))
        #expect(LinkOutput.text(kprobe, pinned: []) ==
                "4: perf_event  prog 9  \n\tkretprobe ffffffff81234560 do_unlinkat+0x10  missed 2  cookie 9  \n")
        let kj = try json(kprobe)
        #expect(kj["retprobe"] as? Bool == true && kj["func"] as? String == "do_unlinkat")
        #expect(kj["offset"] as? Int == 16 && kj["missed"] as? Int == 2 && kj["cookie"] as? Int == 9)

        let cache = LinkInfo(id: LinkID(4), type: .perfEvent, programID: ProgramID(9), details: .perfEvent(
            .event(PerfEvent(type: 3, config: 1 << 16 | 1 << 8 | 0), cookie: 0)))
        #expect(LinkOutput.text(cache, pinned: []) == "4: perf_event  prog 9  \n\tevent hw-cache:L1-dcache-store-misses  \n")
        let unknown = LinkInfo(id: LinkID(4), type: .perfEvent, programID: ProgramID(9), details: .perfEvent(
            .event(PerfEvent(type: 9, config: 1234), cookie: 5)))
        #expect(LinkOutput.text(unknown, pinned: []) == "4: perf_event  prog 9  \n\tevent 9 :1234  cookie 5  \n")
        let uj = try json(unknown)
        #expect(uj["event_type"] as? Int == 9 && uj["event_config"] as? Int == 1234 && uj["cookie"] as? Int == 5)

        // C's "%#x" prints a zero offset as "0".
        let uprobe = LinkInfo(id: LinkID(4), type: .perfEvent, programID: ProgramID(9), details: .perfEvent(
            .uprobe(isReturnProbe: false, file: "/bin/true", offset: 0, cookie: 0)))
        #expect(LinkOutput.text(uprobe, pinned: []) == "4: perf_event  prog 9  \n\tuprobe /bin/true+0  \n")
    }

    @Test func devicesIteratorsNetfilter() throws {
        let primary = AttachType(rawValue: 54)
        #expect(primary.name == "netkit_primary")
        let netkit = LinkInfo(id: LinkID(6), type: .netkit, programID: ProgramID(2), details: .netkit(
            NetworkInterface(index: 99, name: nil), attachType: primary))
        #expect(LinkOutput.text(netkit, pinned: []) == "6: netkit  prog 2  \n\tifindex (unknown)  attach_type netkit_primary  \n")
        let nj = try json(netkit)
        #expect(nj["devname"] as? String == "(unknown)" && nj["ifindex"] as? Int == 99)
        let named = LinkInfo(id: LinkID(6), type: .xdp, programID: ProgramID(2), details: .xdp(NetworkInterface(index: 7, name: "veth0")))
        #expect(LinkOutput.text(named, pinned: []) == "6: xdp  prog 2  \n\tifindex veth0(7)  \n")

        let mapIter = LinkInfo(id: LinkID(7), type: .iterator, programID: ProgramID(3), details: .iterator(
            IteratorLink(targetName: "bpf_map_elem", parameter: .map(MapID(12)))))
        #expect(LinkOutput.text(mapIter, pinned: []) == "7: iter  prog 3  target_name bpf_map_elem  map_id 12  \n")
        #expect(try json(mapIter)["map_id"] as? Int == 12)
        let tidIter = LinkInfo(id: LinkID(7), type: .iterator, programID: ProgramID(3), details: .iterator(
            IteratorLink(targetName: "task_vma", parameter: .task(tid: 12, pid: 10))))
        #expect(LinkOutput.text(tidIter, pinned: []) == "7: iter  prog 3  target_name task_vma  tid 12 \n")
        let tj = try json(tidIter)
        #expect(tj["tid"] as? Int == 12 && tj["pid"] == nil)

        let arp = LinkInfo(id: LinkID(8), type: .netfilter, programID: ProgramID(4), details: .netfilter(
            NetfilterLink(protocolFamily: 3, hook: 5, priority: 0, flags: 0)))
        #expect(LinkOutput.text(arp, pinned: []) == "8: netfilter  prog 4  \n\tarp, hook 5, prio 0\n")
        let odd = LinkInfo(id: LinkID(8), type: .netfilter, programID: ProgramID(4), details: .netfilter(
            NetfilterLink(protocolFamily: 99, hook: 3, priority: 5, flags: 1)))
        #expect(LinkOutput.text(odd, pinned: []) == "8: netfilter  prog 4  \n\tpf: 99, hook 3, prio 5 flags 0x1\n")
    }

    @Test func uprobeMultiAndUnknownTypes() throws {
        let info = LinkInfo(id: LinkID(9), type: .uprobeMulti, programID: ProgramID(5), details: .uprobeMulti(
            UprobeMultiLink(isReturnProbe: true, path: "/bin/x", count: 1, pid: 42,
                            probes: [.init(offset: 0x1a0, refCounterOffset: 0, cookie: 5)])))
        #expect(LinkOutput.text(info, pinned: []) == """
            9: uprobe_multi  prog 5  \n\turetprobe.multi  path /bin/x  func_cnt 1  pid 42  \
            \n\toffset             ref_ctr_offset     cookies         \
            \n\t0x1a0              0x0                0x5               \n
            """)
        let j = try json(info)
        #expect(j["pid"] as? Int == 42 && j["path"] as? String == "/bin/x" && j["retprobe"] as? Bool == true)

        let unknown = LinkInfo(id: LinkID(10), type: LinkType(rawValue: 99), programID: ProgramID(6), details: .none)
        #expect(LinkOutput.text(unknown, pinned: []) == "10: type 99  prog 6  \n")
        #expect(try json(unknown)["type"] as? Int == 99)
    }
}
