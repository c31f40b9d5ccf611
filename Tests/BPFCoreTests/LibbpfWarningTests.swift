import Testing
@testable import BPFCore

/// How an error line picks the verifier's reason out of the end of its log.
@Suite struct LibbpfWarningTests {
    @Test(arguments: [
        // The common shape: instructions, the reason, then statistics.
        ("""
         0: R1=ctx() R10=fp0
         ; return *p; @ bad.bpf.c:4
         2: (61) r0 = *(u32 *)(r1 +0)
         R1 invalid mem access 'scalar'
         processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
         -- END PROG LOAD LOG --

         """, "R1 invalid mem access 'scalar'"),
        // Older kernels print a time and the stack depth after the reason.
        ("""
         1: (85) call bpf_probe_read#4
         R2 min value is negative, either use unsigned or 'var &= const'
         verification time 20 usec
         stack depth 8
         processed 5 insns (limit 1000000)
         -- END PROG LOAD LOG --
         """, "R2 min value is negative, either use unsigned or 'var &= const'"),
        ("BPF program is too large. Processed 1000001 insn\nprocessed 1000001 insns\n-- END PROG LOAD LOG --\n",
         "BPF program is too large. Processed 1000001 insn"),
        // A log that ends on an instruction or source line gives no reason.
        ("5: (95) exit\nprocessed 6 insns\n-- END PROG LOAD LOG --\n", nil),
        ("; return 0; @ x.c:9\n-- END PROG LOAD LOG --\n", nil),
        ("", nil),
    ] as [(String, String?)])
    func reasonFromLogTail(tail: String, reason: String?) {
        #expect(verifierReason(inLogTail: tail) == reason)
    }
}
