// uprobe: each call of a C library function taking a string and returning
// an int (atoi by default), with its argument and its return value. The
// entry probe keeps the argument per thread; the return probe sends both.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define ARG_LEN 32

struct call {
	__u32 pid;
	__s32 result;
	char arg[ARG_LEN];
};

// Calls in progress, by thread.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct call);
} in_progress SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} calls SEC(".maps");

SEC("uprobe")
int BPF_UPROBE(on_call, const char *arg)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call c = { .pid = id >> 32 };

	bpf_probe_read_user_str(c.arg, sizeof(c.arg), arg);
	bpf_map_update_elem(&in_progress, &id, &c, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(on_return, int result)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&in_progress, &id);
	struct call *e;

	if (!c)
		return 0;
	e = bpf_ringbuf_reserve(&calls, sizeof(*e), 0);
	if (e) {
		*e = *c;
		e->result = result;
		bpf_ringbuf_submit(e, 0);
	}
	bpf_map_delete_elem(&in_progress, &id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
