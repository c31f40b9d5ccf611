// The bundled example for scripts/demo: counts program executions per
// command name. Pinned with `bpfswift object pin --attach`, it keeps
// counting after bpfswift exits, until `bpfswift object unpin`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

// Metadata: bpftool and `bpfswift prog show --metadata` print these.
volatile const char bpf_metadata_app[] SEC(".rodata") = "execcount";
volatile const char bpf_metadata_version[] SEC(".rodata") = "1.0";

struct comm {
    char name[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct comm);
    __type(value, __u64);
} exec_count SEC(".maps");

__u64 total_execs = 0;

SEC("tracepoint/sched/sched_process_exec")
int count_exec(void *ctx)
{
    struct comm key = {};
    __u64 one = 1, *v;

    bpf_get_current_comm(key.name, sizeof(key.name));
    v = bpf_map_lookup_elem(&exec_count, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&exec_count, &key, &one, BPF_NOEXIST);
    __sync_fetch_and_add(&total_execs, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
