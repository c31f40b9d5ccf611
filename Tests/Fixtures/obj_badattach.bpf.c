// An attachable program whose attach fails (its tracepoint does not exist),
// after one that attaches fine: `object pin --attach` must roll both back.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("raw_tp/sys_enter")
int obj_ba_ok(void *ctx)
{
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_bpfswift_no_such_call")
int obj_ba_bad(void *ctx)
{
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
