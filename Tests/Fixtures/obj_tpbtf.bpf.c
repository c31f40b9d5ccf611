// object pin --attach: a BTF-typed tracepoint (tp_btf) on sys_enter counting syscalls per process.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "obj_common.h"

OBJ_COUNTER(obj_tpbtf_hits);

SEC("tp_btf/sys_enter")
int BPF_PROG(obj_tpbtf_enter, struct pt_regs *regs, long id)
{
    obj_count(&obj_tpbtf_hits);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
