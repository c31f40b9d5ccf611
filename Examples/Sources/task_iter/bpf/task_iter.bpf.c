// task_iter: a BPF iterator over every task; reading the iterator runs the
// program once per task, and what it prints is what the reader reads.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("iter/task")
int list_processes(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (task == NULL) // the end of the walk
		return 0;
	if (task->pid != task->tgid) // threads other than the main one
		return 0;
	BPF_SEQ_PRINTF(seq, "%-8d %-8d %-5d %s\n", task->tgid, task->real_parent->tgid,
		       task->cred->uid.val, task->comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
