// object pin --attach: a TCP congestion control registered without a link
// (SEC(".struct_ops")): the pin under links/ holds the map, and unpin must
// unregister it; listed as "bpfswift_objm" while registered. A second,
// optional map ("?" section) is only created with --enable.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("struct_ops")
__u32 BPF_PROG(objm_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(objm_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(objm_undo_cwnd, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
__u32 BPF_PROG(objm_opt_ssthresh, struct sock *sk)
{
    return 12;
}

SEC(".struct_ops")
struct tcp_congestion_ops objm_ca = {
    .ssthresh = (void *)objm_ssthresh,
    .cong_avoid = (void *)objm_cong_avoid,
    .undo_cwnd = (void *)objm_undo_cwnd,
    .name = "bpfswift_objm",
};

SEC("?.struct_ops")
struct tcp_congestion_ops objm_opt = {
    .ssthresh = (void *)objm_opt_ssthresh,
    .cong_avoid = (void *)objm_cong_avoid,
    .undo_cwnd = (void *)objm_undo_cwnd,
    .name = "bpfswift_objo",
};

char LICENSE[] SEC("license") = "GPL";
