// Maps of many types, with BTF, for the map command tests. Loaded with
// `bpftool prog loadall map_types.bpf.o DIR pinmaps MAPDIR`; the program
// only exists so that the object loads (it touches a few maps so that
// prog_array owner fields get set).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct flow_key {
    __u32 saddr;
    __u32 daddr;
    __u16 sport;
    __u16 dport;
    __u8 proto;
    __u8 pad[3];
};

enum flow_state { FLOW_NEW = 1, FLOW_OPEN = 2, FLOW_CLOSED = 3 };

struct flow_val {
    __u64 packets;
    __u64 bytes;
    enum flow_state state;
    char label[8];
    __s32 delta;
    __u32 flag_a : 1;
    __u32 flag_b : 3;
    __u32 level : 4;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 32);
    __type(key, struct flow_key);
    __type(value, struct flow_val);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} pcpu_arr SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, struct flow_val);
} pcpu_hash SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16);
    __type(key, __u64);
    __type(value, __u32);
} lru SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_QUEUE);
    __uint(max_entries, 8);
    __type(value, __u32);
} fifo SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_STACK);
    __uint(max_entries, 8);
    __type(value, __u64);
} lifo SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

struct inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 4);
    __type(key, __u32);
    __array(values, struct inner);
} outer_arr SEC(".maps") = {
    .values = { [1] = &inner_a, [3] = &inner_b },
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __uint(max_entries, 4);
    __type(key, __u32);
    __array(values, struct inner);
} outer_hash SEC(".maps");

int tail_target(void *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __array(values, int (void *));
} jumps SEC(".maps") = {
    .values = { [2] = (void *)&tail_target },
};

SEC("raw_tracepoint/sys_enter")
int tail_target(void *ctx)
{
    return 0;
}

SEC("raw_tracepoint/sys_enter")
int entry(void *ctx)
{
    __u32 k = 0;
    __u64 *c = bpf_map_lookup_elem(&counts, &k);
    if (c)
        __sync_fetch_and_add(c, 0);
    bpf_tail_call(ctx, &jumps, 2);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
