// Skeleton fixture: global variables of every kind (.rodata, .data, .bss,
// custom .data.* / .rodata.* sections, .kconfig) and of every type a
// skeleton maps to Swift: integers, bool, float/double, __int128, enums
// (unsigned, signed, 64-bit), structs, unions, nested and anonymous
// members, bitfields, arrays and arrays of arrays. A getpid() tracepoint
// (filtered by a .rodata tgid) moves values between sections so tests
// can see the live mappings.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum skel_color { SKEL_RED = 0, SKEL_GREEN = 1, SKEL_BLUE = 7 };
enum skel_delta { SKEL_NEG = -2, SKEL_ZERO = 0, SKEL_POS = 3 };
enum skel_big { SKEL_SMALL = 1, SKEL_BIG = 0x100000000ULL };

struct skel_point {
	__s32 x;
	__s32 y;
};

union skel_num {
	__u32 u;
	__s32 s;
	__u8 b[4];
};

struct skel_config {
	struct skel_point origin;
	struct skel_point path[3];
	union skel_num value;
	enum skel_color tint;
	__u8 enabled : 1, mode : 3;
	__s8 level : 4;
	char label[12];
	struct {
		__u16 lo, hi;
	} range;
	union {
		__u32 word;
		__u8 bytes[4];
	};
	bool on;
	void *ptr;
	double ratio;
};

/* A C type whose name is a Swift standard type. */
struct Array {
	int count;
};

const volatile __u32 filter_tgid = 0;
const volatile struct skel_config cfg = {
	.origin = { .x = 10, .y = -20 },
	.path = { { 1, 2 }, { 3, 4 }, { 5, 6 } },
	.value = { .u = 0x01020304 },
	.tint = SKEL_BLUE,
	.enabled = 1,
	.mode = 5,
	.level = -3,
	.label = "label",
	.range = { .lo = 100, .hi = 200 },
	.word = 0xaabbccdd,
	.on = true,
	.ratio = 0.5,
};
const char greeting[] = "hello";

__u32 increment = 1;
int matrix[2][3] = { { 1, 2, 3 }, { 4, 5, 6 } };
float ratio_f = 1.5f;
double ratio_d = 2.25;
__int128 wide = 1;
enum skel_big big_value = SKEL_BIG;
enum skel_delta delta = SKEL_NEG;
bool flag = true;
int in = 4;			/* a Swift keyword */
int self = 5;			/* a name no Swift member may have */
int _globals = 6;		/* the generated section's own member */
struct Array arr_struct = { .count = 2 };

__u64 total = 0;
__u32 kernel_seen = 0;
__s32 last_x = 0;
__s8 last_level = 0;
struct skel_config live_cfg;

__u32 custom_counter SEC(".data.custom") = 5;
const volatile __u64 custom_limit SEC(".rodata.custom") = 1000000;

static __u32 hidden_static = 3;	/* static: not in the skeleton */

extern int LINUX_KERNEL_VERSION __kconfig;

SEC("tracepoint/syscalls/sys_enter_getpid")
int bump(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != filter_tgid)
		return 0;
	total += increment;
	if (total > custom_limit)
		total = 0;
	custom_counter += 1;
	kernel_seen = LINUX_KERNEL_VERSION;
	last_x = cfg.origin.x;
	last_level = cfg.level;
	live_cfg.origin.x = cfg.origin.x + 1;
	live_cfg.value.u = cfg.value.u;
	live_cfg.mode = cfg.mode;
	hidden_static++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
