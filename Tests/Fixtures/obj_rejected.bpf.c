// SPDX-License-Identifier: GPL-2.0
// A program the verifier refuses: it reads through a pointer made from a
// random number. `object pin` must fail with one line that carries the
// verifier's reason and leave nothing behind. A second, valid program and a
// map show that nothing of what did load survives either. The prog_array
// with BTF-typed values makes libbpf warn "Retrying without BTF" first on
// kernels that refuse that BTF: the error must still name the real cause.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} rejected_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, int (void *));
} rejected_jumps SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int fine(void *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&rejected_counts, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
    bpf_tail_call(ctx, &rejected_jumps, 0);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int wild_read(void *ctx)
{
    int *p = (int *)(long)bpf_get_prandom_u32();
    return *p;
}

char LICENSE[] SEC("license") = "GPL";
