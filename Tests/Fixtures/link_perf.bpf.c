// A perf_event program for link tests: counts the samples of the perf
// event its link holds (a software cpu-clock event of the test thread).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} perf_hits SEC(".maps");

SEC("perf_event")
int link_perf(struct bpf_perf_event_data *ctx)
{
    __u32 key = 0;
    __u64 *v = bpf_map_lookup_elem(&perf_hits, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
