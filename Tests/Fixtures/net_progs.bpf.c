// Programs for the net, cgroup, prog attach/run and iter tests: each kind
// that `net`, `cgroup`, `prog attach` and `prog run` handle, doing little
// and letting traffic through; net_uprobe counts calls of the function
// --attach-to names. net_xdp_mark writes a byte, so that
// `prog run` has data_out to compare.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} net_hits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SOCKMAP);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} net_sockmap SEC(".maps");

static __always_inline void count(__u32 key)
{
    __u64 *v = bpf_map_lookup_elem(&net_hits, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
}

SEC("xdp")
int net_xdp(struct xdp_md *ctx)
{
    count(0);
    return XDP_PASS;
}

SEC("xdp")
int net_xdp_mark(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 1 > end)
        return XDP_DROP;
    data[0] = 0x42;
    return XDP_TX;
}

SEC("tc")
int net_tc(struct __sk_buff *skb)
{
    count(1);
    return 0; /* TC_ACT_OK */
}

SEC("tcx/ingress")
int net_tcx(struct __sk_buff *skb)
{
    count(2);
    return -1; /* TCX_NEXT */
}

SEC("cgroup_skb/ingress")
int net_cg_skb(struct __sk_buff *skb)
{
    count(3);
    return 1;
}

SEC("cgroup/sock_create")
int net_cg_sock(struct bpf_sock *sk)
{
    return 1;
}

SEC("flow_dissector")
int net_flow(struct __sk_buff *skb)
{
    return 1; /* BPF_FLOW_DISSECTOR_CONTINUE */
}

SEC("sk_skb/stream_parser")
int net_parser(struct __sk_buff *skb)
{
    return skb->len;
}

SEC("sk_skb/stream_verdict")
int net_verdict(struct __sk_buff *skb)
{
    return SK_PASS;
}

SEC("sk_msg")
int net_msg(struct sk_msg_md *msg)
{
    return SK_PASS;
}

/* No target in the section: object pin --attach-to places it. */
SEC("uprobe")
int net_uprobe(void *ctx)
{
    count(4);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
