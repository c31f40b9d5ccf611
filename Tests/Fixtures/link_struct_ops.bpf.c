// A minimal TCP congestion control registered through a struct_ops link,
// for link tests: while the link is attached, "bpfswift_lnk" is listed in
// /proc/sys/net/ipv4/tcp_available_congestion_control.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("struct_ops")
__u32 BPF_PROG(lnk_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(lnk_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(lnk_undo_cwnd, struct sock *sk)
{
    return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops lnk_ca = {
    .ssthresh = (void *)lnk_ssthresh,
    .cong_avoid = (void *)lnk_cong_avoid,
    .undo_cwnd = (void *)lnk_undo_cwnd,
    .name = "bpfswift_lnk",
};

char LICENSE[] SEC("license") = "GPL";
