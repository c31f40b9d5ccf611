// Shared by the obj_* fixtures of the object pin tests: a per-process hit
// counter kept in a map pinned by name, so that it outlives the object's
// tree and a test can watch a program stop after `object unpin`.
#pragma once

#define OBJ_COUNTER(name) \
    struct { \
        __uint(type, BPF_MAP_TYPE_HASH); \
        __uint(max_entries, 4096); \
        __type(key, __u32); \
        __type(value, __u64); \
        __uint(pinning, LIBBPF_PIN_BY_NAME); \
    } name SEC(".maps")

static __always_inline void obj_count(void *map)
{
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    __u64 one = 1, *v = bpf_map_lookup_elem(map, &tgid);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(map, &tgid, &one, BPF_NOEXIST);
}
