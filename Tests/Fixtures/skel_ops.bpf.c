// Skeleton fixture: struct_ops maps. A local, trimmed definition of
// tcp_congestion_ops (libbpf matches "___skel" to the kernel type by name
// and copies members by name), so the shadow type does not depend on the
// kernel's vmlinux.h. skel_cc is created by default; skel_cc_opt
// ("?.struct_ops.link") only when enabled. No vmlinux.h: struct sock stays
// a forward declaration, which keeps the object's BTF (and the embedded
// object) small.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

struct tcp_congestion_ops___skel {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	__u32 flags;
	char name[16];
};

__u64 ssthresh_calls = 0;

SEC("struct_ops")
__u32 BPF_PROG(skel_ssthresh, struct sock *sk)
{
	__sync_fetch_and_add(&ssthresh_calls, 1);
	return 10;
}

SEC("struct_ops")
void BPF_PROG(skel_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(skel_undo_cwnd, struct sock *sk)
{
	return 10;
}

SEC("struct_ops")
__u32 BPF_PROG(skel_undo_cwnd_alt, struct sock *sk)
{
	return 12;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops___skel skel_cc = {
	.ssthresh = (void *)skel_ssthresh,
	.cong_avoid = (void *)skel_cong_avoid,
	.undo_cwnd = (void *)skel_undo_cwnd,
	.name = "bpfsw_skel",
};

SEC("?.struct_ops.link")
struct tcp_congestion_ops___skel skel_cc_opt = {
	.ssthresh = (void *)skel_ssthresh,
	.cong_avoid = (void *)skel_cong_avoid,
	.undo_cwnd = (void *)skel_undo_cwnd_alt,
	.name = "bpfsw_skel_opt",
};

char LICENSE[] SEC("license") = "GPL";
