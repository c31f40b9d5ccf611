// object pin --attach: an uprobe whose section names its target (libc's
// getpgid, which the test calls on purpose), counting calls per process.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "obj_common.h"

OBJ_COUNTER(obj_uprobe_hits);

SEC("uprobe/libc.so.6:getpgid")
int BPF_UPROBE(obj_uprobe_getpgid)
{
    obj_count(&obj_uprobe_hits);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
