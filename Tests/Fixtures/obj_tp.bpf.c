// object pin --attach: a syscall tracepoint (attached through a perf_event
// link) counting getppid() per process, plus an XDP program that libbpf
// cannot attach from its section name alone (loaded and pinned, not attached).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "obj_common.h"

OBJ_COUNTER(obj_tp_hits);

SEC("tracepoint/syscalls/sys_enter_getppid")
int obj_tp_getppid(void *ctx)
{
    obj_count(&obj_tp_hits);
    return 0;
}

SEC("xdp")
int obj_tp_xdp(struct xdp_md *ctx)
{
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
