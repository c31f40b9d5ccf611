// Fault injection and kill tests: names used by no other fixture, so a test
// can look for leftovers by name: a by-name map, .bss, and an attachable
// tracepoint program.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "obj_common.h"

OBJ_COUNTER(obj_fault_hits);

__u64 obj_fault_total = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int obj_fault_prog(void *ctx)
{
    __sync_fetch_and_add(&obj_fault_total, 1);
    obj_count(&obj_fault_hits);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
