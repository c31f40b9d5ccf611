// Programs without metadata: a .rodata without bpf_metadata_ variables and
// a non-GPL program with no .rodata at all.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

volatile const int meta_none_limit SEC(".rodata") = 4;

SEC("socket")
int meta_none_sock(void *ctx)
{
    return meta_none_limit;
}

SEC("tc")
int meta_none_tc(struct __sk_buff *skb)
{
    return 0;
}

char LICENSE[] SEC("license") = "Proprietary";
