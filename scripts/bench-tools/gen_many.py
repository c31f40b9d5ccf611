#!/usr/bin/env python3
"""Writes a BPF C file with PROGS programs and MAPS maps sharing one .rodata
with metadata: the bench's "hundreds of programs" and "large object" loads."""
import sys

progs, maps = int(sys.argv[1]), int(sys.argv[2])
out = ['#include "vmlinux.h"', '#include <bpf/bpf_helpers.h>',
       'volatile const char bpf_metadata_bench[] SEC(".rodata") = "many";',
       'volatile const int bpf_metadata_round SEC(".rodata") = 7;',
       '__u64 counter = 0;']
for m in range(maps):
    out.append('struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); '
               '__type(key, __u32); __type(value, __u64); } bench_map_%d SEC(".maps");' % m)
for p in range(progs):
    body = '__sync_fetch_and_add(&counter, 1);'
    if maps:
        body += ' __u32 k = %d; bpf_map_lookup_elem(&bench_map_%d, &k);' % (p, p % maps)
    out.append('SEC("raw_tracepoint/sys_enter") int bench_prog_%d(void *ctx) { %s return 0; }' % (p, body))
out.append('char LICENSE[] SEC("license") = "GPL";')
print("\n".join(out))
