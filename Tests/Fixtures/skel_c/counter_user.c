// A program written against bpftool's skeleton API for skel_counter.bpf.o
// (`bpftool gen skeleton skel_counter.bpf.o > skel_counter.skel.h`). The
// tests compile it unchanged against `bpfswift gen skeleton --lang c`
// output, link it with -lbpf and run it: it prints "ok" and exits 0 when
// every check holds.
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "skel_counter.skel.h"

struct call_key {
	__u32 tgid;
	__u16 kind;
	__u8 flags;
};

struct call_stats {
	__u64 count;
	__u64 last_ns;
	__s32 last_cpu;
};

#define CHECK(cond, ...)                                           \
	do {                                                       \
		if (!(cond)) {                                     \
			fprintf(stderr, "FAIL %s: ", #cond);       \
			fprintf(stderr, __VA_ARGS__);              \
			fprintf(stderr, "\n");                     \
			goto out;                                  \
		}                                                  \
	} while (0)

int main(void)
{
	struct skel_counter_bpf *skel;
	struct call_key key;
	struct call_stats st;
	const unsigned char *elf;
	size_t sz = 0;
	pid_t pid = getpid();
	__u64 hits;
	int i, err, ret = 1;

	elf = skel_counter_bpf__elf_bytes(&sz);
	if (sz < 4 || memcmp(elf, "\177ELF", 4) != 0) {
		fprintf(stderr, "FAIL elf_bytes: %zu bytes\n", sz);
		return 1;
	}

	skel = skel_counter_bpf__open();
	if (!skel) {
		perror("skel_counter_bpf__open");
		return 1;
	}
	skel->rodata->target_tgid = pid;
	skel->rodata->key_kind = 4;
	err = skel_counter_bpf__load(skel);
	CHECK(err == 0, "load: %d", err);
	CHECK(skel->rodata->target_tgid == (__u32)pid, "rodata after load: %u", skel->rodata->target_tgid);
	CHECK(bpf_program__fd(skel->progs.count_getpid) >= 0, "program fd");
	err = skel_counter_bpf__attach(skel);
	CHECK(err == 0, "attach: %d", err);
	CHECK(skel->links.count_getpid != NULL, "link");

	for (i = 0; i < 5; i++)
		getpid();
	hits = skel->bss->hits;
	CHECK(hits >= 5, "hits %llu", (unsigned long long)hits);

	memset(&key, 0, sizeof(key));
	key.tgid = pid;
	key.kind = 4;
	key.flags = 3;
	err = bpf_map__lookup_elem(skel->maps.calls, &key, sizeof(key), &st, sizeof(st), 0);
	CHECK(err == 0, "lookup: %d", err);
	CHECK(st.count == hits, "count %llu, hits %llu", (unsigned long long)st.count, (unsigned long long)hits);

	skel_counter_bpf__detach(skel);
	CHECK(skel->links.count_getpid == NULL, "link after detach");
	for (i = 0; i < 3; i++)
		getpid();
	CHECK(skel->bss->hits == hits, "hits %llu after detach", (unsigned long long)skel->bss->hits);

	printf("ok hits=%llu\n", (unsigned long long)hits);
	ret = 0;
out:
	skel_counter_bpf__destroy(skel);
	return ret;
}
