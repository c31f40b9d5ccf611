// object pin --attach: a raw tracepoint on sys_enter counting syscalls per process.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "obj_common.h"

OBJ_COUNTER(obj_rawtp_hits);

SEC("raw_tp/sys_enter")
int obj_rawtp_enter(void *ctx)
{
    obj_count(&obj_rawtp_hits);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
