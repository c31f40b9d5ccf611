import Testing
@testable import BPFCore

/// What a build against an older libbpf says when a feature needs a newer one
/// (scripts/test-libbpf-compat runs such a build on the kernel).
@Suite struct LibbpfVersionTests {
    @Test func requireNamesTheVersionNeededAndTheOneBuiltWith() {
        #expect(LibbpfVersion.atLeast(1, 1))
        #expect(!LibbpfVersion.atLeast(99, 0))
        #expect(throws: Never.self) { try LibbpfVersion.require(1, 1, for: "anything") }
        do {
            try LibbpfVersion.require(99, 2, for: "a netfilter link")
            Issue.record("require(99, 2) passed")
        } catch {
            #expect(error.description == "a netfilter link needs libbpf >= 99.2 (bpfswift was built with libbpf \(LibbpfVersion.built))")
        }
        #expect(LibbpfVersion.built.hasPrefix("1."))
    }

    @Test func sectionsAnOlderLibbpfDoesNotKnow() {
        // Built against this machine's libbpf: what is in its SEC_DEF table is known.
        let builtMinor = Int32(LibbpfVersion.built.split(separator: ".")[1])!
        for (section, minor) in [("tcx/ingress", Int32(3)), ("netfilter", 3), ("uprobe.multi", 3),
                                 ("uprobe.multi/libc.so.6:getsid", 3), ("kprobe.session/x", 5), ("struct_ops.s/init", 2)] {
            let v = LibbpfVersion.newerLibbpf(forSection: section)
            if builtMinor >= minor {
                #expect(v == nil, "\(section)")
            } else {
                #expect(v?.major == 1 && v?.minor == minor, "\(section)")
            }
        }
        // Names that only look alike are not matched.
        #expect(LibbpfVersion.newerLibbpf(forSection: "tcx/ingressx") == nil)
        #expect(LibbpfVersion.newerLibbpf(forSection: "uprobe.multix") == nil)
        #expect(LibbpfVersion.newerLibbpf(forSection: "tracepoint/syscalls/sys_enter_getpid") == nil)
    }

    @Test func typeNamesLibbpfLearntLaterAreFilledIn() {
        // The fallbacks must agree with what libbpf itself says when it knows them.
        #expect(LinkType.uprobeMulti.name == "uprobe_multi")
        #expect(LinkType.tcx.name == "tcx")
        #expect(LinkType.netkit.name == "netkit")
        #expect(LinkType.netfilter.name == "netfilter")
        #expect(AttachType.netfilter.name == "netfilter")
        #expect(MapType(name: "arena") != nil)
        #expect(programTypeName(32) == "netfilter")
    }
}
