// object pin --attach: a TCP congestion control registered through a
// struct_ops link; while registered, "bpfswift_objl" is listed in
// /proc/sys/net/ipv4/tcp_available_congestion_control.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("struct_ops")
__u32 BPF_PROG(objl_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(objl_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(objl_undo_cwnd, struct sock *sk)
{
    return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops objl_ca = {
    .ssthresh = (void *)objl_ssthresh,
    .cong_avoid = (void *)objl_cong_avoid,
    .undo_cwnd = (void *)objl_undo_cwnd,
    .name = "bpfswift_objl",
};

char LICENSE[] SEC("license") = "GPL";
