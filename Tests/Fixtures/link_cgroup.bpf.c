// A cgroup sysctl program for link tests: counts sysctl accesses made by
// processes of the cgroup it is attached to, and allows them.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} sysctl_hits SEC(".maps");

SEC("cgroup/sysctl")
int link_sysctl(struct bpf_sysctl *ctx)
{
    __u32 key = 0;
    __u64 *v = bpf_map_lookup_elem(&sysctl_hits, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
    return 1;
}

char LICENSE[] SEC("license") = "GPL";
