// Robustness: a map whose pin name collides with another's once libbpf's
// '.' -> '_' sanitizing is applied: the object's .bss map is
// "rob_coll.bss" (libbpf keeps 8 characters of the object name "rob_collide"
// for internal maps), pinned as maps/rob_coll_bss, and this object also
// declares a map called rob_coll_bss. `object pin` must fail cleanly and
// leave nothing behind.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 rob_hits = 0;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} rob_coll_bss SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int rob_collide_count(void *ctx)
{
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&rob_coll_bss, &zero);
    if (v)
        __sync_fetch_and_add(v, 1);
    __sync_fetch_and_add(&rob_hits, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
