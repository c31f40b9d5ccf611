// Layout fixture for generated Swift types: C layouts that Swift stored
// properties cannot all express one to one (unions, bitfields, nested
// anonymous structs and unions, packed structs, over-aligned members,
// multi-dimensional arrays, flexible array members, 64-bit enums, bools,
// tail padding). GenTypesTests compiles the skeleton of this object and
// checks MemoryLayout size, stride, alignment and every member offset
// against BTF. The types are kept in BTF by unused global pointers: the
// program below never uses them.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum lay_small : __u8 { LAY_S0 = 0, LAY_S1 = 200 };
enum lay_big64 { LAY_B0 = 0, LAY_B1 = 0x123456789aULL };
enum lay_neg64 { LAY_N0 = -1, LAY_N1 = 0x7fffffffffffULL };

struct lay_tail {
	__u64 a;
	__u8 b;		/* 7 bytes of tail padding */
};

struct lay_pad {
	__u8 c;
	__u32 i;	/* 3 bytes of padding before */
	__u16 s;
	__u64 l;	/* 6 bytes of padding before */
	bool flag;
	char name[5];
	__u16 last;
};

union lay_union {
	__u64 u64;
	__u32 pair[2];
	char text[11];	/* the union is 16 bytes: 11 rounded up to 8 */
	struct {
		__u16 lo;
		__u16 hi;
	} halves;
};

struct lay_bits {
	__u32 a : 3;
	__u32 b : 13;
	__s32 c : 7;
	__u8 d;
	__u64 e : 40;
	__u64 f : 24;
	bool g : 1;
	enum lay_small h : 4;
	__u32 tail;
};

struct lay_only_bits {
	__u32 x : 3;
};

struct lay_nested {
	__u32 kind;
	union {
		__u32 num;
		__u8 bytes[4];
		struct {
			__u16 x, y;
		};
	};
	struct {
		__u64 when;
		union {
			__s64 delta;
			double ratio;
		} v;
	} inner;
	struct {
		__u8 z;
	};
};

struct __attribute__((packed)) lay_packed {
	__u8 tag;
	__u32 value;	/* offset 1 */
	__u64 big;	/* offset 5 */
	__u16 port;	/* offset 13 */
};

struct __attribute__((packed)) lay_packed_aligned {
	__u32 a;
	__u32 b;
	__u8 c;		/* 9 bytes, alignment 1: a and b cannot be stored UInt32s */
};

struct lay_inner_packed {
	__u8 head;
	struct lay_packed p;	/* offset 1 */
	__u16 after;
};

struct lay_aligned {
	__u8 a;
	__u32 b __attribute__((aligned(16)));	/* offset 16 */
	__u8 c;
};

struct __attribute__((aligned(16))) lay_overaligned {
	__u32 v;
};

struct lay_holds_overaligned {
	__u8 a;
	struct lay_overaligned o;	/* offset 16 */
	__u64 b;
};

struct lay_matrix {
	__u16 grid[3][5];
	__s32 cube[2][2][3];
	bool flags[2][3];
	struct lay_tail rows[2];
	unsigned char raw[4];
};

struct lay_flex {
	__u32 len;
	__u64 data[];	/* offset 8, no bytes */
};

struct lay_flex_char {
	__u16 n;
	char text[];
};

struct lay_enums {
	enum lay_small s;
	enum lay_big64 b;
	enum lay_neg64 n;
	__int128 wide;
	float f;
	double d;
};

struct lay_empty {
};

struct lay_with_empty {
	__u32 a;
	struct lay_empty e;
	__u32 b;
};

struct lay_tail *unused_lay_tail __attribute__((unused));
struct lay_pad *unused_lay_pad __attribute__((unused));
union lay_union *unused_lay_union __attribute__((unused));
struct lay_bits *unused_lay_bits __attribute__((unused));
struct lay_only_bits *unused_lay_only_bits __attribute__((unused));
struct lay_nested *unused_lay_nested __attribute__((unused));
struct lay_packed_aligned *unused_lay_packed_aligned __attribute__((unused));
struct lay_inner_packed *unused_lay_inner_packed __attribute__((unused));
struct lay_aligned *unused_lay_aligned __attribute__((unused));
struct lay_holds_overaligned *unused_lay_holds_overaligned __attribute__((unused));
struct lay_matrix *unused_lay_matrix __attribute__((unused));
struct lay_flex *unused_lay_flex __attribute__((unused));
struct lay_flex_char *unused_lay_flex_char __attribute__((unused));
struct lay_enums *unused_lay_enums __attribute__((unused));
struct lay_with_empty *unused_lay_with_empty __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct lay_pad);
	__type(value, struct lay_bits);
} lay_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int lay_prog(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
