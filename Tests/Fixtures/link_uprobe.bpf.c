// User-space probes for link tests on libc's getsid(), which tests call
// on purpose and little else does: an uprobe and an uretprobe (perf_event
// links) and an uprobe.multi link. Each counts calls per process.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define COUNTER(name) \
    struct { \
        __uint(type, BPF_MAP_TYPE_HASH); \
        __uint(max_entries, 4096); \
        __type(key, __u32); \
        __type(value, __u64); \
    } name SEC(".maps")

COUNTER(uprobe_hits);
COUNTER(uretprobe_hits);
COUNTER(multi_hits);

static __always_inline void count(void *map)
{
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    __u64 one = 1, *v = bpf_map_lookup_elem(map, &tgid);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(map, &tgid, &one, BPF_NOEXIST);
}

SEC("uprobe/libc.so.6:getsid")
int BPF_UPROBE(link_uprobe)
{
    count(&uprobe_hits);
    return 0;
}

SEC("uretprobe/libc.so.6:getsid")
int BPF_URETPROBE(link_uretprobe)
{
    count(&uretprobe_hits);
    return 0;
}

SEC("uprobe.multi/libc.so.6:getsid")
int link_umulti(struct pt_regs *ctx)
{
    count(&multi_hits);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
