// A program whose name is longer than the kernel's 15 characters (the
// full name comes from BTF func_info), with a little metadata of its own.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

volatile const char bpf_metadata_commit[] SEC(".rodata") = "long0001";
volatile const __u32 bpf_metadata_version SEC(".rodata") = 3;

SEC("socket")
int meta_long_program_name_here(void *ctx)
{
    return 0;
}

SEC("raw_tracepoint/sys_enter")
int meta_raw(void *ctx)
{
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
