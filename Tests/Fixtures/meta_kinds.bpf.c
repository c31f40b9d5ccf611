// Program metadata of every kind a variable can have (bpftool prints
// these under "metadata"): integers of each size and signedness, bool,
// char, strings, other arrays, enums, structs and unions (nested, with
// bitfields), typedefs and modifiers. Two programs share the .rodata.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum meta_color { META_RED = 1, META_GREEN = 2, META_NEG = -3 };
enum meta_small : unsigned char { META_SMALL_A = 1, META_SMALL_B = 100, META_SMALL_HIGH = 200 };
enum meta_wide { META_WIDE_A = 0x100000000ULL, META_WIDE_B = 5 };
typedef unsigned int meta_u32_t;
typedef meta_u32_t meta_id_t;
typedef char meta_label_t[8];

struct meta_inner {
    short a;
    unsigned char b[3];
    const volatile char tag[6];
};

union meta_either {
    int i;
    char c[4];
};

struct meta_pair {
    int x;
    struct meta_inner in;
    union meta_either u;
    unsigned int flag : 3, mode : 5;
    int neg : 4;
    unsigned long long wide : 40;
    struct {
        char anon_ch;
        __u16 anon_u16;
    };
    enum meta_color color;
};

typedef struct meta_pair meta_pair_t;

volatile const char bpf_metadata_str[] SEC(".rodata") = "hello world";
volatile const char bpf_metadata_quote[] SEC(".rodata") = "say \"hi\" \\ back";
volatile const char bpf_metadata_empty[8] SEC(".rodata") = "";
volatile const char bpf_metadata_full[3] SEC(".rodata") = { 'a', 'b', 'c' };
volatile const char bpf_metadata_binary[4] SEC(".rodata") = { 1, 2, 0, 0 };
volatile const __s8 bpf_metadata_s8 SEC(".rodata") = -8;
volatile const __u8 bpf_metadata_u8 SEC(".rodata") = 200;
volatile const __s16 bpf_metadata_s16 SEC(".rodata") = -1600;
volatile const __u16 bpf_metadata_u16 SEC(".rodata") = 60000;
volatile const __s32 bpf_metadata_s32 SEC(".rodata") = -320000;
volatile const __u32 bpf_metadata_u32 SEC(".rodata") = 4000000000u;
volatile const __s64 bpf_metadata_s64 SEC(".rodata") = -6400000000000ll;
volatile const __u64 bpf_metadata_u64 SEC(".rodata") = 18446744073709551615ull;
volatile const unsigned __int128 bpf_metadata_u128 SEC(".rodata") = ((unsigned __int128)1 << 64) | 5;
volatile const signed char bpf_metadata_schar SEC(".rodata") = -1;
volatile const unsigned char bpf_metadata_uchar SEC(".rodata") = 255;
volatile const char bpf_metadata_ch SEC(".rodata") = 'x';
volatile const char bpf_metadata_ch_ctl SEC(".rodata") = '\n';
volatile const bool bpf_metadata_yes SEC(".rodata") = true;
volatile const bool bpf_metadata_no SEC(".rodata") = false;
volatile const int bpf_metadata_ints[4] SEC(".rodata") = { 1, -2, 3, -4 };
volatile const __u8 bpf_metadata_bytes[4] SEC(".rodata") = { 0xde, 0xad, 0xbe, 0xef };
volatile const char bpf_metadata_names[2][4] SEC(".rodata") = { "ab", "cd" };
volatile const int bpf_metadata_grid[2][3] SEC(".rodata") = { { 1, 2, 3 }, { 4, 5, 6 } };
volatile const enum meta_color bpf_metadata_color SEC(".rodata") = META_GREEN;
volatile const enum meta_color bpf_metadata_color_neg SEC(".rodata") = META_NEG;
volatile const enum meta_color bpf_metadata_color_other SEC(".rodata") = (enum meta_color)7;
volatile const enum meta_small bpf_metadata_small SEC(".rodata") = META_SMALL_B;
volatile const enum meta_small bpf_metadata_small_high SEC(".rodata") = META_SMALL_HIGH;
volatile const enum meta_wide bpf_metadata_wide SEC(".rodata") = META_WIDE_A;
volatile const enum meta_wide bpf_metadata_wide_other SEC(".rodata") = (enum meta_wide)0xffffffffffffffffULL;
volatile const meta_id_t bpf_metadata_typedef SEC(".rodata") = 77;
volatile const meta_label_t bpf_metadata_label SEC(".rodata") = "lbl";
volatile const meta_pair_t bpf_metadata_pair SEC(".rodata") = {
    .x = -1,
    .in = { .a = -300, .b = { 1, 2, 3 }, .tag = "inner" },
    .u = { .c = { 'a', 'b', 'c', 0 } },
    .flag = 5,
    .mode = 17,
    .neg = -2,
    .wide = 0xabcdef1234ull,
    .anon_ch = 'q',
    .anon_u16 = 65535,
    .color = META_RED,
};
volatile const union meta_either bpf_metadata_union SEC(".rodata") = { .i = 0x41424344 };
volatile const struct meta_pair bpf_metadata_pairs[2] SEC(".rodata") = { { .x = 1 }, { .x = 2, .flag = 7 } };
__u64 *const volatile bpf_metadata_nullptr SEC(".rodata") = 0;
volatile const int not_metadata SEC(".rodata") = 9;

SEC("socket")
int meta_sock(void *ctx)
{
    return not_metadata;
}

SEC("xdp")
int meta_xdp(struct xdp_md *ctx)
{
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
