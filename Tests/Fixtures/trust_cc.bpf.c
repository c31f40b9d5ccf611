// Trust tests: a TCP congestion control registered without a link
// (SEC(".struct_ops")), listed as "bpfswift_trust" while registered. The
// attacks on other trees (forged manifests, symlinks, bind mounts) aim at it:
// it must stay registered.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("struct_ops")
__u32 BPF_PROG(trust_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(trust_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(trust_undo_cwnd, struct sock *sk)
{
    return 10;
}

SEC(".struct_ops")
struct tcp_congestion_ops trust_ca = {
    .ssthresh = (void *)trust_ssthresh,
    .cong_avoid = (void *)trust_cong_avoid,
    .undo_cwnd = (void *)trust_undo_cwnd,
    .name = "bpfswift_trust",
};

char LICENSE[] SEC("license") = "GPL";
