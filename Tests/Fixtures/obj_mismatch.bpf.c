// By-name pinning that cannot reuse: "obj_shared" has max_entries 2 here,
// 1 in obj_shared_a/b, so pinning this after them must fail and change nothing.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} obj_shared SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} obj_mismatch_new SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int obj_mismatch_count(void *ctx)
{
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&obj_shared, &zero);
    if (v)
        __sync_fetch_and_add(v, 1);
    __u32 *w = bpf_map_lookup_elem(&obj_mismatch_new, &zero);
    if (w)
        __sync_fetch_and_add(w, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
