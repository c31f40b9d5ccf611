// Iterator programs for link tests: tasks (whole system or one process)
// and cgroups. Each prints one line per item. (Map element iterators,
// whose links carry a map_id, do not load on the test kernel: EPERM.)
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("iter/task")
int link_iter_task(struct bpf_iter__task *ctx)
{
    struct task_struct *task = ctx->task;
    if (!task)
        return 0;
    BPF_SEQ_PRINTF(ctx->meta->seq, "task %d\n", task->pid);
    return 0;
}

SEC("iter/cgroup")
int link_iter_cgroup(struct bpf_iter__cgroup *ctx)
{
    struct cgroup *cgrp = ctx->cgroup;
    if (!cgrp)
        return 0;
    BPF_SEQ_PRINTF(ctx->meta->seq, "cgroup %llu\n", cgrp->kn->id);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
