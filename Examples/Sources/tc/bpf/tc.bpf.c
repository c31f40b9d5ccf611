// tc: counts the packets and bytes arriving on an interface, from tcx
// ingress, by EtherType; every packet goes on (TCX_NEXT).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// TCX_NEXT (continue with the next program, then the stack) comes from
// vmlinux.h: enum tcx_action_base.

struct traffic {
	__u64 packets;
	__u64 bytes;
};

// By EtherType in host order (0x0800 IPv4, 0x86DD IPv6, 0x0806 ARP).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct traffic);
} ingress SEC(".maps");

SEC("tcx/ingress")
int count_ingress(struct __sk_buff *skb)
{
	__u32 key = bpf_ntohs(skb->protocol);
	struct traffic *t = bpf_map_lookup_elem(&ingress, &key);

	if (!t) {
		struct traffic first = {};
		bpf_map_update_elem(&ingress, &key, &first, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&ingress, &key);
		if (!t)
			return TCX_NEXT;
	}
	__sync_fetch_and_add(&t->packets, 1);
	__sync_fetch_and_add(&t->bytes, skb->len);
	return TCX_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
