#!/usr/bin/env python3
"""Writes BPF C for object number N of the "many objects" bench case: three
programs, its own .rodata with metadata and its own BTF (a struct type that
only this object has), as real machines have many small objects."""
import sys

i = int(sys.argv[1])
print('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>')
print('volatile const char bpf_metadata_app[] SEC(".rodata") = "obj%d";' % i)
print('volatile const int bpf_metadata_round SEC(".rodata") = %d;' % i)
print('struct s%d { int a; long b%d; };' % (i, i))
print('__u64 counter = 0; struct s%d keep%d;' % (i, i))
for p in range(3):
    print('SEC("raw_tracepoint/sys_enter") int o%d_p%d(void *ctx) '
          '{ __sync_fetch_and_add(&counter, %d); keep%d.a++; return 0; }' % (i, p, p + 1, i))
print('char LICENSE[] SEC("license") = "GPL";')
