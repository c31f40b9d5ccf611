// Robustness: struct_ops maps for the mutation, descriptor and fuzz tests:
// one registered through a link ("bpfswift_rob"), one without
// ("bpfswift_rob2"), and an optional variant ("?" section, not created unless
// enabled). Names of their own, so that these tests never collide with other
// tests registering congestion controls at the same time.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("struct_ops")
__u32 BPF_PROG(rob_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(rob_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(rob_undo_cwnd, struct sock *sk)
{
    return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops rob_ca = {
    .ssthresh = (void *)rob_ssthresh,
    .cong_avoid = (void *)rob_cong_avoid,
    .undo_cwnd = (void *)rob_undo_cwnd,
    .name = "bpfswift_rob",
};

SEC(".struct_ops")
struct tcp_congestion_ops rob_ca_nolink = {
    .ssthresh = (void *)rob_ssthresh,
    .cong_avoid = (void *)rob_cong_avoid,
    .undo_cwnd = (void *)rob_undo_cwnd,
    .name = "bpfswift_rob2",
};

SEC("?.struct_ops.link")
struct tcp_congestion_ops rob_ca_optional = {
    .ssthresh = (void *)rob_ssthresh,
    .undo_cwnd = (void *)rob_undo_cwnd,
    .cong_avoid = (void *)rob_cong_avoid,
    .name = "bpfswift_rob3",
};

char LICENSE[] SEC("license") = "GPL";
