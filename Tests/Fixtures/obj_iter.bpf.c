// object pin --attach: a task iterator; reading its pinned link runs it,
// which counts one hit per run for the reading process.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "obj_common.h"

OBJ_COUNTER(obj_iter_hits);

SEC("iter/task")
int obj_iter_task(struct bpf_iter__task *ctx)
{
    if (ctx->meta->seq_num == 0)
        obj_count(&obj_iter_hits);
    struct task_struct *task = ctx->task;
    if (task)
        BPF_SEQ_PRINTF(ctx->meta->seq, "%d\n", task->pid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
