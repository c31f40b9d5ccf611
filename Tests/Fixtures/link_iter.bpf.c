// Iterator programs for link tests: tasks (whole system or one process),
// the elements of a map, and cgroups. Each prints one line per item.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 3);
    __type(key, __u32);
    __type(value, __u64);
} iter_data SEC(".maps");

SEC("iter/task")
int link_iter_task(struct bpf_iter__task *ctx)
{
    struct task_struct *task = ctx->task;
    if (!task)
        return 0;
    BPF_SEQ_PRINTF(ctx->meta->seq, "task %d\n", task->pid);
    return 0;
}

SEC("iter/bpf_map_elem")
int link_iter_map(struct bpf_iter__bpf_map_elem *ctx)
{
    __u32 *key = ctx->key;
    __u64 *value = ctx->value;
    if (!key || !value)
        return 0;
    BPF_SEQ_PRINTF(ctx->meta->seq, "elem %u %llu\n", *key, *value);
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
