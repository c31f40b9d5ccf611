// A 16 MiB .bss of structs (as the kernel selftests' test_skeleton has):
// the bench dumps it, BTF-formatted, and records peak memory.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct rec { __u32 a; __u16 b; char name[10]; };
struct rec big[16 * 1024 * 1024 / sizeof(struct rec)];
SEC("raw_tracepoint/sys_enter") int touch(void *ctx) { big[5].a++; return 0; }
char LICENSE[] SEC("license") = "GPL";
