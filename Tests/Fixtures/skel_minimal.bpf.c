// Shaped like libbpf-bootstrap's minimal.bpf.c, an object the size tests
// hold to: no vmlinux.h, one tracepoint program, a .bss global set from
// user space, a bpf_printk string in .rodata; plus a .bss counter, so that
// the skeleton run test sees the program run.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

int my_pid = 0;
long hits = 0;

SEC("tp/syscalls/sys_enter_write")
int handle_tp(void *ctx)
{
	int pid = bpf_get_current_pid_tgid() >> 32;

	if (pid != my_pid)
		return 0;

	__sync_fetch_and_add(&hits, 1);
	bpf_printk("BPF triggered from PID %d.\n", pid);

	return 0;
}
