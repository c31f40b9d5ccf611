// A small tracing object used by many tests: a tracepoint program that
// counts getpid() calls of one tgid into .bss and a hash map, metadata in
// .rodata, and a raw_tracepoint program.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

volatile const char bpf_metadata_commit[] SEC(".rodata") = "abc123";
volatile const int bpf_metadata_build SEC(".rodata") = 42;

const volatile int target_tgid = 0;

__u64 hits = 0;
__u64 raw_hits = 0;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} hit_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_enter(void *ctx)
{
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (target_tgid && tgid != target_tgid)
        return 0;
    __sync_fetch_and_add(&hits, 1);
    __u64 one = 1, *v = bpf_map_lookup_elem(&hit_map, &tgid);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&hit_map, &tgid, &one, BPF_NOEXIST);
    return 0;
}

SEC("raw_tracepoint/sys_enter")
int count_raw(void *ctx)
{
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (target_tgid && tgid != target_tgid)
        return 0;
    __sync_fetch_and_add(&raw_hits, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
