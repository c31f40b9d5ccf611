// Generator fixture for names from hostile object files: every name below
// is a 64-byte placeholder that tests and the fuzz harness's `gen` target
// overwrite in the compiled object (string tables, BTF, section names) with
// names holding newlines, quotes, backslashes, `*/`, `}}` and invalid UTF-8,
// then check that the generated Swift and C parse with exactly the
// declarations this object gives with the placeholders. Placeholder i is
// "HOSTILEi_" followed by 'Q's up to 64 bytes.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define Q55 QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ
#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define MAP_NAME XCAT(HOSTILE0_, Q55)
#define PROG_NAME XCAT(HOSTILE1_, Q55)
#define GLOBAL_NAME XCAT(HOSTILE2_, Q55)
#define TYPE_NAME XCAT(HOSTILE3_, Q55)
#define MEMBER_NAME XCAT(HOSTILE4_, Q55)
#define ENUM_NAME XCAT(HOSTILE5_, Q55)
#define ENUMERATOR_NAME XCAT(HOSTILE6_, Q55)
#define SECVAR_NAME XCAT(HOSTILE7_, Q55)
#define STR(x) #x
#define XSTR(x) STR(x)

enum ENUM_NAME { ENUMERATOR_NAME = 1, hostile_other = 2 };

struct TYPE_NAME {
	__u64 MEMBER_NAME;
	enum ENUM_NAME kind;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct TYPE_NAME);
} MAP_NAME SEC(".maps");

__u64 GLOBAL_NAME = 0;
int SECVAR_NAME SEC(".data." XSTR(XCAT(HOSTILE8_, Q55))) = 1;

SEC("tracepoint/syscalls/sys_enter_getpid")
int PROG_NAME(void *ctx)
{
	__u32 k = 0;
	struct TYPE_NAME *v = bpf_map_lookup_elem(&MAP_NAME, &k);

	if (v)
		v->MEMBER_NAME++;
	GLOBAL_NAME++;
	SECVAR_NAME++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
