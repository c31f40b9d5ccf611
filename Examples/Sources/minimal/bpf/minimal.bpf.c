// minimal: counts the write(2) calls of one process (the one that loads it).
// The process id comes in through .rodata; the count goes out through .bss.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile __u32 watched_pid = 0; // set from Swift before load
__u64 write_calls = 0;               // read from Swift while it runs

SEC("tracepoint/syscalls/sys_enter_write")
int count_writes(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;

	if (pid != watched_pid)
		return 0;
	__sync_fetch_and_add(&write_calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
