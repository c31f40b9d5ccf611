// Skeleton fixture: counts getpid() calls of one process (a .rodata tgid
// the skeleton sets before load) into .bss, into a hash map with a struct
// key (with padding, which a typed key must zero) and a per-CPU array.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct call_key {
	__u32 tgid;
	__u16 kind;
	__u8 flags;
	/* one byte of padding */
};

struct call_stats {
	__u64 count;
	__u64 last_ns;
	__s32 last_cpu;
	/* four bytes of padding */
};

const volatile __u32 target_tgid = 0;
const volatile __u16 key_kind = 1;

__u64 hits = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct call_key);
	__type(value, struct call_stats);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, 4);
	__uint(value_size, 8);
} untyped SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct call_key key = {};
	struct call_stats *st;
	__u32 zero = 0;
	__u64 *pc;

	if (tgid != target_tgid)
		return 0;
	__sync_fetch_and_add(&hits, 1);

	key.tgid = tgid;
	key.kind = key_kind;
	key.flags = 3;
	st = bpf_map_lookup_elem(&calls, &key);
	if (st) {
		__sync_fetch_and_add(&st->count, 1);
		st->last_ns = bpf_ktime_get_ns();
		st->last_cpu = bpf_get_smp_processor_id();
	} else {
		struct call_stats init = {
			.count = 1,
			.last_ns = bpf_ktime_get_ns(),
			.last_cpu = bpf_get_smp_processor_id(),
		};
		bpf_map_update_elem(&calls, &key, &init, BPF_NOEXIST);
	}
	pc = bpf_map_lookup_elem(&percpu_hits, &zero);
	if (pc)
		*pc += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
