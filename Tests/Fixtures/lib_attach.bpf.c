// Programs for the explicit attach calls of BPFCore (ObjectProgram.attach*):
// each counts its hits in .bss, filtered to the test's process where the
// hook is a process's (uprobe, tracepoints). `hits_b` is the alternative
// program a link is updated to.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;

// One struct, so that the members' offsets are fixed (index = member / 8).
struct hits {
    __u64 uprobe_hits, uretprobe_hits, tp_hits, raw_hits, hits_b;
    __u64 xdp_hits, tcx_hits, cgroup_hits, perf_hits, iter_hits, nf_hits;
    __s64 uretprobe_ret;
} hits = {};

static __always_inline int mine(void)
{
    return target_tgid && (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("uprobe")
int on_uprobe(struct pt_regs *ctx)
{
    if (mine())
        __sync_fetch_and_add(&hits.uprobe_hits, 1);
    return 0;
}

SEC("uretprobe")
int on_uretprobe(struct pt_regs *ctx)
{
    if (mine()) {
        __sync_fetch_and_add(&hits.uretprobe_hits, 1);
        hits.uretprobe_ret = PT_REGS_RC(ctx);
    }
    return 0;
}

SEC("tracepoint")
int on_tp(void *ctx)
{
    if (mine())
        __sync_fetch_and_add(&hits.tp_hits, 1);
    return 0;
}

SEC("tracepoint")
int on_tp_b(void *ctx)
{
    if (mine())
        __sync_fetch_and_add(&hits.hits_b, 1);
    return 0;
}

SEC("raw_tracepoint")
int on_raw(void *ctx)
{
    if (mine())
        __sync_fetch_and_add(&hits.raw_hits, 1);
    return 0;
}

SEC("kprobe")
int on_kprobe(struct pt_regs *ctx)
{
    return 0;
}

SEC("usdt")
int on_usdt(struct pt_regs *ctx)
{
    return 0;
}

SEC("xdp")
int on_xdp(struct xdp_md *ctx)
{
    __sync_fetch_and_add(&hits.xdp_hits, 1);
    return XDP_PASS;
}

SEC("xdp")
int on_xdp_b(struct xdp_md *ctx)
{
    __sync_fetch_and_add(&hits.hits_b, 1);
    return XDP_PASS;
}

SEC("tcx/ingress")
int on_tcx(struct __sk_buff *skb)
{
    __sync_fetch_and_add(&hits.tcx_hits, 1);
    return -1; /* TCX_NEXT */
}

SEC("cgroup_skb/egress")
int on_cgroup(struct __sk_buff *skb)
{
    __sync_fetch_and_add(&hits.cgroup_hits, 1);
    return 1;
}

SEC("perf_event")
int on_perf(void *ctx)
{
    __sync_fetch_and_add(&hits.perf_hits, 1);
    return 0;
}

SEC("iter/bpf_map")
int on_iter(struct bpf_iter__bpf_map *ctx)
{
    if (ctx->map)
        __sync_fetch_and_add(&hits.iter_hits, 1);
    return 0;
}

SEC("netfilter")
int on_nf(struct bpf_nf_ctx *ctx)
{
    __sync_fetch_and_add(&hits.nf_hits, 1);
    return 1; /* NF_ACCEPT */
}

char LICENSE[] SEC("license") = "GPL";
