import Testing
import Foundation
@testable import BPFCore
import TestSupport

/// The parts of struct_ops registration that need no kernel: reading the
/// struct_ops maps of an opened object, choosing variants, refusing
/// duplicate names, the libbpf version gate, C signatures of function pointers.
@Suite struct StructOpsTests {
    @Test func essentialNamesDropTheLastFlavor() {
        #expect(StructOps.essentialName("tcp_congestion_ops___v1") == "tcp_congestion_ops")
        #expect(StructOps.essentialName("tcp_congestion_ops") == "tcp_congestion_ops")
        #expect(StructOps.essentialName("a___b___c") == "a___b")
        // Not a separator: underscores on either side, or nothing after.
        #expect(StructOps.essentialName("ops____v1") == "ops____v1")
        #expect(StructOps.essentialName("ops___") == "ops___")
        #expect(StructOps.essentialName("x___y") == "x")
        #expect(StructOps.essentialName("") == "")
    }

    @Test func libbpfOlderThan14IsOneClearError() throws {
        for ok in [(UInt32(1), UInt32(4)), (1, 5), (1, 6), (2, 0)] {
            try StructOps.requireLibbpfSupport((ok.0, ok.1))
        }
        for old in [(UInt32(1), UInt32(3)), (1, 0), (0, 8)] {
            #expect {
                try StructOps.requireLibbpfSupport((old.0, old.1))
            } throws: { e in
                let d = "\(e)"
                return d.hasPrefix("struct_ops registration needs libbpf 1.4 or newer; this process runs libbpf \(old.0).\(old.1)")
                    && !d.contains("\n")
            }
        }
        // This build runs with a libbpf that has what registration needs.
        try StructOps.requireLibbpfSupport()
    }

    @Test func plansOfAnOpenedObject() throws {
        let object = try BPFObject.open(path: try Fixtures.object("sops_variants"))
        let plans = StructOps.maps(of: object)
        #expect(plans.map(\.name) == ["sv_link", "sv_plain", "sv_opt", "sv_dup"])
        let byName = Dictionary(uniqueKeysWithValues: plans.map { ($0.name, $0) })
        #expect(byName["sv_link"] == StructOpsMapPlan(name: "sv_link", localTypeName: "tcp_congestion_ops___v1",
                                                      kernelTypeName: "tcp_congestion_ops", usesLink: true,
                                                      created: true, registeredName: "sopsL_########"))
        #expect(byName["sv_plain"]?.usesLink == false && byName["sv_plain"]?.created == true)
        #expect(byName["sv_opt"]?.usesLink == true && byName["sv_opt"]?.created == false)
        #expect(byName["sv_dup"]?.kernelTypeName == "tcp_congestion_ops" && byName["sv_dup"]?.created == false)
        #expect(byName["sv_dup"]?.registeredName == byName["sv_plain"]?.registeredName)
        try StructOps.checkDistinctNames(plans)

        try StructOps.select(object, enable: ["sv_dup", "sv_opt"], disable: [])
        #expect {
            try StructOps.checkDistinctNames(StructOps.maps(of: object))
        } throws: { e in
            "\(e)" == "struct_ops maps sv_plain and sv_dup would both register tcp_congestion_ops \"sopsP_########\": choose one with --enable/--disable; nothing was loaded"
        }
        try StructOps.select(object, enable: [], disable: ["sv_plain"])
        let chosen = StructOps.maps(of: object).filter(\.created).map(\.name)
        #expect(chosen == ["sv_link", "sv_opt", "sv_dup"])
        try StructOps.checkDistinctNames(StructOps.maps(of: object))
    }

    @Test func selectionNamesMustExistAndNotConflict() throws {
        let object = try BPFObject.open(path: try Fixtures.object("sops_variants"))
        #expect(throws: BPFError.self) { try StructOps.select(object, enable: ["nope"], disable: []) }
        #expect(throws: BPFError.self) { try StructOps.select(object, enable: ["sv_opt"], disable: ["sv_opt"]) }
        // Nothing changed by the refused selections.
        #expect(object.map(named: "sv_opt")?.autocreate == false)
    }

    /// The C text bpftool prints for function pointer types, from vmlinux BTF.
    @Test(.enabled(if: TestEnv.inCI || FileManager.default.isReadableFile(atPath: "/sys/kernel/btf/vmlinux"),
                   "needs /sys/kernel/btf/vmlinux (in CI it must be there)"))
    func functionSignaturesAsBpftool() throws {
        let btf = try BTF.vmlinux()
        let ops = try #require(btf.find("tcp_congestion_ops", kind: .structure).flatMap { btf.type($0) })
        func signature(_ member: String) throws -> String {
            let m = try #require(ops.members.first { $0.name == member })
            let ptr = try #require(btf.type(btf.skipModifiers(m.typeID)))
            var s = ""
            #expect(FunctionSignature.function(btf, proto: btf.skipModifiers(ptr.referencedType), function: nil, into: &s))
            return s
        }
        #expect(try signature("ssthresh") == "u32 (struct sock *)")
        #expect(try signature("cong_avoid") == "void (struct sock *, u32, u32)")
        #expect(try signature("pkts_acked") == "void (struct sock *, const struct ack_sample *)")
        #expect(try signature("get_info") == "size_t (struct sock *, u32, int *, union tcp_cc_info *)")
        #expect(try signature("cwnd_event") == "void (struct sock *, enum tcp_ca_event)")
    }
}
