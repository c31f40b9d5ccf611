// `prog dump xlated name NAME` with several programs of one name: the
// test loads this object a few times. No other test uses the name.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int dump_multi(struct xdp_md *ctx)
{
    // An uncommon comparison: no other program has these instructions (and tag).
    return ctx->ingress_ifindex == 0x5d0b17 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
