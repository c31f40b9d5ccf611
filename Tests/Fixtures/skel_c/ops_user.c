// A program written against bpftool's skeleton API for skel_ops.bpf.o
// (struct_ops): swaps a program into a slot of the shadow type, loads,
// registers the congestion control with __attach and unregisters it with
// __destroy. Built against `bpfswift gen skeleton --lang c` output, whose
// __attach registers struct_ops maps itself where libbpf (< 1.5) does not.
// Prints "ok" and exits 0 when every check holds.
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "skel_ops.skel.h"

static int registered(const char *name)
{
	char buf[4096], *tok, *save = NULL;
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (strcmp(tok, name) == 0)
			return 1;
	return 0;
}

int main(void)
{
	struct skel_ops_bpf *skel;
	int err;

	skel = skel_ops_bpf__open();
	if (!skel) {
		perror("skel_ops_bpf__open");
		return 1;
	}
	if (skel->struct_ops.skel_cc->undo_cwnd != skel->progs.skel_undo_cwnd) {
		fprintf(stderr, "FAIL shadow slot undo_cwnd\n");
		goto fail;
	}
	skel->struct_ops.skel_cc->undo_cwnd = skel->progs.skel_undo_cwnd_alt;
	err = skel_ops_bpf__load(skel);
	if (err) {
		fprintf(stderr, "FAIL load: %d\n", err);
		goto fail;
	}
	if (bpf_program__fd(skel->progs.skel_undo_cwnd_alt) < 0) {
		fprintf(stderr, "FAIL the program put in the slot was not loaded\n");
		goto fail;
	}
	err = skel_ops_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "FAIL attach: %d\n", err);
		goto fail;
	}
	if (!skel->links.skel_cc || skel->links.skel_cc_opt) {
		fprintf(stderr, "FAIL links: skel_cc %p, skel_cc_opt %p\n",
			(void *)skel->links.skel_cc, (void *)skel->links.skel_cc_opt);
		goto fail;
	}
	if (registered("bpfsw_skel") != 1) {
		fprintf(stderr, "FAIL bpfsw_skel is not registered\n");
		goto fail;
	}
	skel_ops_bpf__destroy(skel);
	if (registered("bpfsw_skel") != 0) {
		fprintf(stderr, "FAIL bpfsw_skel is still registered after destroy\n");
		return 1;
	}
	printf("ok\n");
	return 0;
fail:
	skel_ops_bpf__destroy(skel);
	return 1;
}
