// A map whose `pinning` is neither LIBBPF_PIN_NONE nor LIBBPF_PIN_BY_NAME: opening must fail clearly.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, 2);
} obj_badpin SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int obj_badpin_count(void *ctx)
{
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&obj_badpin, &zero);
    if (v)
        __sync_fetch_and_add(v, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
