// Networking programs for link tests, each counting the packets or lookups
// it sees in its own map and letting them through: XDP, tcx ingress,
// sk_lookup (a netns link), netfilter, and a sockmap stream verdict.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define COUNTER(name) \
    struct { \
        __uint(type, BPF_MAP_TYPE_ARRAY); \
        __uint(max_entries, 1); \
        __type(key, __u32); \
        __type(value, __u64); \
    } name SEC(".maps")

COUNTER(xdp_hits);
COUNTER(tcx_hits);
COUNTER(lookup_hits);
COUNTER(nf_hits);

struct {
    __uint(type, BPF_MAP_TYPE_SOCKMAP);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} sock_map SEC(".maps");

static __always_inline void count(void *map)
{
    __u32 key = 0;
    __u64 *v = bpf_map_lookup_elem(map, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
}

SEC("xdp")
int link_xdp(struct xdp_md *ctx)
{
    count(&xdp_hits);
    return XDP_PASS;
}

SEC("tcx/ingress")
int link_tcx(struct __sk_buff *skb)
{
    count(&tcx_hits);
    return -1; /* TCX_NEXT */
}

SEC("sk_lookup")
int link_lookup(struct bpf_sk_lookup *ctx)
{
    count(&lookup_hits);
    return SK_PASS;
}

SEC("netfilter")
int link_nf(struct bpf_nf_ctx *ctx)
{
    count(&nf_hits);
    return 1; /* NF_ACCEPT */
}

SEC("sk_skb/stream_verdict")
int link_verdict(struct __sk_buff *skb)
{
    return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
