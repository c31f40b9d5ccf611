// A minimal TCP congestion control for the completion tests: pinned with
// `object pin --attach`, its struct_ops map comp_ca is what
// `bpfswift struct_ops show name <TAB>` must offer. Registered as
// "bpfswift_comp" so that it never collides with other tests' struct_ops.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("struct_ops")
__u32 BPF_PROG(comp_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(comp_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(comp_undo_cwnd, struct sock *sk)
{
    return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops comp_ca = {
    .ssthresh = (void *)comp_ssthresh,
    .cong_avoid = (void *)comp_cong_avoid,
    .undo_cwnd = (void *)comp_undo_cwnd,
    .name = "bpfswift_comp",
};

char LICENSE[] SEC("license") = "GPL";
