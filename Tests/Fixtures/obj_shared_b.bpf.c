// By-name pinning, object B: declares the same "obj_shared" map as
// obj_shared_a and reuses A's pin.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} obj_shared SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int obj_b_count(void *ctx)
{
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&obj_shared, &zero);
    if (v)
        __sync_fetch_and_add(v, 2);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
