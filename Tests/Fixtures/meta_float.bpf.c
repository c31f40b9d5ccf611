// Floating-point metadata: bpftool cannot format BTF floats; bpfswift
// prints the number. Used offline (BTFDumper tests).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

volatile const float bpf_metadata_ratio SEC(".rodata") = 1.5f;
volatile const double bpf_metadata_scale SEC(".rodata") = -0.25;

SEC("socket")
int meta_float_sock(void *ctx)
{
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
