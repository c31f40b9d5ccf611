import Testing
import BPFCore

/// Link and attach type names as bpftool 7.5 (libbpf 1.5) prints them.
@Suite struct LinkTypeTests {
    @Test func namesFollowBpftool() {
        #expect(LinkType.rawTracepoint.name == "raw_tracepoint")
        #expect(LinkType.perfEvent.name == "perf_event")
        // libbpf 1.4 lacks this one; bpftool 7.5 (libbpf 1.5) has it.
        #expect(LinkType.sockmap.name == "sockmap")
        #expect(LinkType(rawValue: 999).name == nil)
        #expect(AttachType.cgroupSysctl.name == "cgroup_sysctl")
        #expect(AttachType.tcxIngress.name == "tcx_ingress")
        #expect(AttachType(rawValue: 999).name == nil)
    }
}
