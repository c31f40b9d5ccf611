// Tracing programs for link tests, one per link kind that libbpf attaches
// from the section name alone: raw_tracepoint, a tracepoint (a perf_event
// link) and tp_btf. Each counts calls per process (tgid) in its own map, so
// that a test sees only its own process's effect.
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

COUNTER(raw_hits);
COUNTER(tp_hits);
COUNTER(btf_hits);

static __always_inline void count(void *map)
{
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    __u64 one = 1, *v = bpf_map_lookup_elem(map, &tgid);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(map, &tgid, &one, BPF_NOEXIST);
}

SEC("raw_tracepoint/sys_enter")
int link_raw(void *ctx)
{
    count(&raw_hits);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int link_tp(void *ctx)
{
    count(&tp_hits);
    return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(link_btf, struct pt_regs *regs, long id)
{
    count(&btf_hits);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
