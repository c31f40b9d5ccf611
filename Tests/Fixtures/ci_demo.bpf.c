// The programs of Tests/Fixtures/ci-script/bpftool-ci.sh, a CI script
// written for bpftool that must run unchanged with bpfswift. Names start
// with ci_ and no other test uses them, so `name` selects only these.
// ci_xdp calls a subprogram (the DOT graph has two functions) and flips
// the first byte of the packet (prog run has data_out to compare).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} ci_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SOCKMAP);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} ci_socks SEC(".maps");

static __noinline int ci_count(__u32 key)
{
    __u64 *v = bpf_map_lookup_elem(&ci_counts, &key);
    if (!v)
        return 0;
    __sync_fetch_and_add(v, 1);
    return 1;
}

SEC("xdp")
int ci_xdp(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;

    if (data + 1 > end)
        return XDP_DROP;
    data[0] ^= 0xff;
    for (int i = 1; i < 4 && data + i + 1 <= end; i++)
        data[i] += i;
    ci_count(0);
    return XDP_PASS;
}

SEC("tc")
int ci_tc(struct __sk_buff *skb)
{
    ci_count(1);
    return 0;
}

SEC("cgroup_skb/ingress")
int ci_cg_skb(struct __sk_buff *skb)
{
    return 1;
}

SEC("cgroup/sock_create")
int ci_cg_sock(struct bpf_sock *sk)
{
    return 1;
}

SEC("sk_msg")
int ci_sk_msg(struct sk_msg_md *msg)
{
    return SK_PASS;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int ci_getppid(void *ctx)
{
    return 0;
}

SEC("iter/task")
int ci_iter(struct bpf_iter__task *ctx)
{
    if (ctx->task && ctx->meta->seq_num == 0)
        BPF_SEQ_PRINTF(ctx->meta->seq, "task iterator ran\n");
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
