// The C side of the events-per-second benchmark (scripts/bench): loads
// ringbuf_fill.bpf.o, and for each round fills the ring buffer with N
// records (N a multiple of 1000; untimed) and times libbpf's ring_buffer__poll handing them to a
// callback that reads each record. Prints the median and best rate of the
// rounds, in records per second: "median<TAB>best".
//   events_c OBJ N ROUNDS
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct event {
    uint32_t pid;
    uint32_t seq;
    uint64_t arg;
    char comm[16];
};

static uint64_t count, sum;

static int on_record(void *ctx, void *data, size_t size)
{
    const struct event *e = data;
    if (size != sizeof(*e))
        return -1;
    count++;
    sum += e->pid + e->arg;
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: events_c OBJ N ROUNDS\n");
        return 2;
    }
    uint32_t n = strtoul(argv[2], 0, 10);
    int rounds = atoi(argv[3]);
    struct bpf_object *obj = bpf_object__open_file(argv[1], 0);
    if (!obj || bpf_object__load(obj)) {
        fprintf(stderr, "events_c: cannot load %s\n", argv[1]);
        return 1;
    }
    int map = bpf_object__find_map_fd_by_name(obj, "events");
    int prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "fill"));
    struct ring_buffer *rb = ring_buffer__new(map, on_record, 0, 0);
    if (!rb) {
        fprintf(stderr, "events_c: ring_buffer__new failed\n");
        return 1;
    }
    double *rates = calloc(rounds, sizeof(double));
    char packet[64] = {0}, out[128];
    for (int r = 0; r < rounds; r++) {
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet),
                    .data_out = out, .data_size_out = sizeof(out), .repeat = n / 1000);
        if (bpf_prog_test_run_opts(prog, &opts)) {
            fprintf(stderr, "events_c: BPF_PROG_TEST_RUN of fill failed\n");
            return 1;
        }
        count = 0;
        double t0 = now();
        while (count < n) {
            int got = ring_buffer__poll(rb, 1000);
            if (got < 0) {
                fprintf(stderr, "events_c: ring_buffer__poll failed\n");
                return 1;
            }
            if (got == 0) {
                fprintf(stderr, "events_c: %llu of %u records arrived\n", (unsigned long long)count, n);
                return 1;
            }
        }
        rates[r] = n / (now() - t0);
    }
    qsort(rates, rounds, sizeof(double), cmp);
    printf("%.0f\t%.0f\n", rates[rounds / 2], rates[rounds - 1]);
    fprintf(stderr, "events_c: checksum %llu\n", (unsigned long long)sum);
    ring_buffer__free(rb);
    bpf_object__close(obj);
    return 0;
}
