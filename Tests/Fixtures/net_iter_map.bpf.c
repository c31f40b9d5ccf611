// iter pin ... map MAP: a bpf_map_elem iterator printing "KEY VALUE" for
// each element of the (u32 -> u64) array map it is pinned over.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("iter/bpf_map_elem")
int net_iter_elems(struct bpf_iter__bpf_map_elem *ctx)
{
    __u32 *key = ctx->key;
    __u64 *value = ctx->value;
    if (key && value)
        BPF_SEQ_PRINTF(ctx->meta->seq, "%u %llu\n", *key, *value);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
