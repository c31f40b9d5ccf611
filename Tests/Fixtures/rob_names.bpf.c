// Robustness: names longer than the kernel keeps. The kernel truncates map
// and program names to 15 characters, so both by-name maps are
// "rob_long_shared" and both programs "rob_truncated_n" there; the tree
// and the by-name pins must keep them apart by their full names.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} rob_long_shared_map_one SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} rob_long_shared_map_two SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} rob_long_private_map_aaa SEC(".maps"), rob_long_private_map_bbb SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int rob_truncated_name_first(void *ctx)
{
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&rob_long_private_map_aaa, &zero);
    if (v)
        __sync_fetch_and_add(v, 1);
    __u64 one = 1;
    bpf_map_update_elem(&rob_long_shared_map_one, &zero, &one, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int rob_truncated_name_second(void *ctx)
{
    __u32 zero = 0, one = 1;
    __u64 *v = bpf_map_lookup_elem(&rob_long_private_map_bbb, &zero);
    if (v)
        __sync_fetch_and_add(v, 1);
    bpf_map_update_elem(&rob_long_shared_map_two, &zero, &one, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
