// Skeleton fixture the generators must refuse: a map named `bss` next to
// the object's .bss section, which a skeleton would also call `maps.bss`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bss SEC(".maps");

__u32 counter = 0;

SEC("tracepoint/syscalls/sys_enter_getpid")
int clash(void *ctx)
{
	__u32 k = 0;

	counter++;
	bpf_map_lookup_elem(&bss, &k);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
