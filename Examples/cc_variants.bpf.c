// An example of struct_ops variants, for the README's tour and the guide:
// two TCP congestion controls in one object. cc_v1 is created by default;
// cc_v2 sits in "?.struct_ops.link" (created only when enabled) and is
// written against a local view of the kernel type, tcp_congestion_ops___v2
// (libbpf matches it to struct tcp_congestion_ops by the name before "___").
//
//   bpfswift struct_ops register cc_variants.bpf.o /sys/fs/bpf/cc --enable cc_v2 --disable cc_v1
//
// registers "bpfswift_v2" only; its link is pinned at /sys/fs/bpf/cc/cc_v2.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct tcp_congestion_ops___v2 {
    __u32 (*ssthresh)(struct sock *sk);
    void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
    __u32 (*undo_cwnd)(struct sock *sk);
    char name[16];
};

SEC("struct_ops")
__u32 BPF_PROG(cc_ssthresh, struct sock *sk)
{
    return 10;
}

SEC("struct_ops")
void BPF_PROG(cc_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(cc_undo_cwnd, struct sock *sk)
{
    return 10;
}

// Used only by cc_v2: left unloaded when cc_v2 is not created.
SEC("struct_ops")
__u32 BPF_PROG(cc_v2_undo_cwnd, struct sock *sk)
{
    return 20;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops cc_v1 = {
    .ssthresh = (void *)cc_ssthresh,
    .cong_avoid = (void *)cc_cong_avoid,
    .undo_cwnd = (void *)cc_undo_cwnd,
    .name = "bpfswift_v1",
};

SEC("?.struct_ops.link")
struct tcp_congestion_ops___v2 cc_v2 = {
    .ssthresh = (void *)cc_ssthresh,
    .cong_avoid = (void *)cc_cong_avoid,
    .undo_cwnd = (void *)cc_v2_undo_cwnd,
    .name = "bpfswift_v2",
};

char LICENSE[] SEC("license") = "GPL";
