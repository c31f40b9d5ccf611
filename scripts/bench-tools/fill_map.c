/* Fills a pinned hash/array map with N entries (key i, value i*3) using
 * BPF_MAP_UPDATE_BATCH: the bench needs a 1M-entry map in well under a
 * second, which neither bpftool nor one process per update can give. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fill_map PINNED_MAP N\n");
        return 2;
    }
    int fd = bpf_obj_get(argv[1]);
    if (fd < 0) {
        fprintf(stderr, "fill_map: open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    unsigned int n = (unsigned int)strtoul(argv[2], NULL, 10);
    const unsigned int chunk = 65536;
    unsigned int *keys = calloc(chunk, sizeof(*keys));
    unsigned long long *vals = calloc(chunk, sizeof(*vals));
    if (!keys || !vals)
        return 1;
    for (unsigned int base = 0; base < n; base += chunk) {
        unsigned int cnt = n - base < chunk ? n - base : chunk;
        for (unsigned int i = 0; i < cnt; i++) {
            keys[i] = base + i;
            vals[i] = (unsigned long long)(base + i) * 3;
        }
        __u32 count = cnt;
        if (bpf_map_update_batch(fd, keys, vals, &count, NULL) < 0) {
            fprintf(stderr, "fill_map: update batch: %s\n", strerror(errno));
            return 1;
        }
    }
    return 0;
}
