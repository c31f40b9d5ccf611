// Trust tests: a TCP congestion control registered through a struct_ops link
// (SEC(".struct_ops.link")), listed as "bpfswift_trustl" while registered. The
// attacks on other trees (forged manifests, symlinks, bind mounts) aim at it:
// it must stay registered.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("struct_ops")
__u32 BPF_PROG(trustl_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(trustl_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(trustl_undo_cwnd, struct sock *sk)
{
    return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops trustl_ca = {
    .ssthresh = (void *)trustl_ssthresh,
    .cong_avoid = (void *)trustl_cong_avoid,
    .undo_cwnd = (void *)trustl_undo_cwnd,
    .name = "bpfswift_trustl",
};

char LICENSE[] SEC("license") = "GPL";
