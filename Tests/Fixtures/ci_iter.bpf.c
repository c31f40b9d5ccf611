// The iterator that Tests/Fixtures/ci-script/bpftool-ci.sh pins with
// `iter pin` (which takes an object's first program): one line for the first task.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("iter/task")
int ci_iter_pin(struct bpf_iter__task *ctx)
{
    if (ctx->task && ctx->meta->seq_num == 0)
        BPF_SEQ_PRINTF(ctx->meta->seq, "iter pin: task iterator ran\n");
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
