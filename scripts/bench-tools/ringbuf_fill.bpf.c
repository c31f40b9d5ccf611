// The producer of the events-per-second benchmark (scripts/bench-events):
// each run of `fill` (BPF_PROG_TEST_RUN of a tc program on a dummy packet,
// `repeat` times) submits CHUNK records of `struct event` (32 bytes, the
// record of Tests/Fixtures/lib_events.bpf.c) to the ring buffer `events`,
// in a bpf_loop. Records go without a wakeup except each run's last, so
// the producer costs the consumer nothing; a full buffer stops the loop
// and counts the records that did not fit in `dropped`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
    __u32 pid;
    __u32 seq;
    __u64 arg;
    char comm[16];
};

#define CHUNK 1000

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024 * 1024);
} events SEC(".maps");

__u64 dropped = 0;
__u64 produced = 0;

static long one(__u32 i, void *ctx)
{
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        dropped += CHUNK - i;
        return 1;
    }
    produced++;
    e->pid = i;
    e->seq = i ^ 0x5a5a;
    e->arg = (__u64)i * 3;
    __builtin_memcpy(e->comm, "bench-producer\0", 16);
    bpf_ringbuf_submit(e, i + 1 == CHUNK ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
    return 0;
}

SEC("tc")
int fill(struct __sk_buff *skb)
{
    bpf_loop(CHUNK, one, 0, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
