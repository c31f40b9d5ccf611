// Event producers for the ring buffer and perf buffer readers: on every
// getpgid() whose argument is `want_arg` (a value the test picks, not a
// real pid, so parallel tests and other processes never match), one
// `struct event` goes to the ring buffer `events`, one to the perf event
// array `pb`, and, when the argument's low bit is set, one more to the
// second ring buffer `events2`. With `big` set, the records of `events` are
// 8 bytes longer than `struct event`, to test size mismatches.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct event {
    __u32 pid;
    __u32 seq;
    __u64 arg;
    char comm[16];
};

// Keeps struct event in BTF (it is otherwise only a local type).
struct event *unused_event __attribute__((unused));

const volatile __u64 want_arg = 0;
const volatile __u32 big = 0;
__u32 seq = 0;
// Written only from user space (the concurrency tests' global).
__u64 marker = 0;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024);
} events2 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} pb SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

// Not written by the program: the per-CPU map the library's map tests use.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 512);
    __type(key, __u32);
    __type(value, __u64);
} pcounts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpgid")
int produce(struct trace_event_raw_sys_enter *ctx)
{
    __u64 arg = ctx->args[0];
    if (want_arg == 0 || (arg & ~1ULL) != want_arg)
        return 0;
    struct event e = {};
    e.pid = bpf_get_current_pid_tgid() >> 32;
    e.seq = __sync_fetch_and_add(&seq, 1);
    e.arg = arg;
    bpf_get_current_comm(e.comm, sizeof(e.comm));
    if (big) {
        char *p = bpf_ringbuf_reserve(&events, sizeof(e) + 8, 0);
        if (p) {
            __builtin_memcpy(p, &e, sizeof(e));
            bpf_ringbuf_submit(p, 0);
        }
    } else {
        bpf_ringbuf_output(&events, &e, sizeof(e), 0);
    }
    if (arg & 1)
        bpf_ringbuf_output(&events2, &e, sizeof(e), 0);
    bpf_perf_event_output(ctx, &pb, BPF_F_CURRENT_CPU, &e, sizeof(e));
    __u32 k = e.seq % 1024;
    __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&counts, &k, &one, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
