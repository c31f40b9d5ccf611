// struct_ops variants of one TCP congestion control, for the struct_ops
// tests. The names registered ("sopsL_########" ...) carry a placeholder
// that each test replaces with its own 8 characters in a copy of the
// object (congestion-control names are global and tests run in parallel).
//
//   sv_link   .struct_ops.link, local type tcp_congestion_ops___v1 (suffix)
//   sv_plain  .struct_ops (no link), the kernel's type
//   sv_opt    ?.struct_ops.link: off unless enabled; the only user of sv_opt_undo
//   sv_dup    ?.struct_ops, local type ___v1, the same name as sv_plain:
//             enabling it next to sv_plain is refused
// sv_ssthresh and sv_cong_avoid are shared by every map.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* A local view of the kernel type with only the members used here: libbpf
 * matches it to struct tcp_congestion_ops (the name up to "___"). */
struct tcp_congestion_ops___v1 {
    __u32 (*ssthresh)(struct sock *sk);
    void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
    __u32 (*undo_cwnd)(struct sock *sk);
    char name[16];
};

SEC("struct_ops")
__u32 BPF_PROG(sv_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(sv_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(sv_undo_cwnd, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
__u32 BPF_PROG(sv_opt_undo, struct sock *sk)
{
    return 11;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops___v1 sv_link = {
    .ssthresh = (void *)sv_ssthresh,
    .cong_avoid = (void *)sv_cong_avoid,
    .undo_cwnd = (void *)sv_undo_cwnd,
    .name = "sopsL_########",
};

SEC(".struct_ops")
struct tcp_congestion_ops sv_plain = {
    .ssthresh = (void *)sv_ssthresh,
    .cong_avoid = (void *)sv_cong_avoid,
    .undo_cwnd = (void *)sv_undo_cwnd,
    .name = "sopsP_########",
};

SEC("?.struct_ops.link")
struct tcp_congestion_ops sv_opt = {
    .ssthresh = (void *)sv_ssthresh,
    .cong_avoid = (void *)sv_cong_avoid,
    .undo_cwnd = (void *)sv_opt_undo,
    .name = "sopsO_########",
};

SEC("?.struct_ops")
struct tcp_congestion_ops___v1 sv_dup = {
    .ssthresh = (void *)sv_ssthresh,
    .cong_avoid = (void *)sv_cong_avoid,
    .undo_cwnd = (void *)sv_undo_cwnd,
    .name = "sopsP_########",
};

char LICENSE[] SEC("license") = "GPL";
