// sockfilter: a socket filter that counts the packets its socket sees by IP
// protocol (IPv4's protocol, IPv6's next header) and lets none through to
// the socket: counting happens in the filter, nothing is queued.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} packets_by_protocol SEC(".maps");

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
	__u16 eth_proto;
	__u8 proto;
	__u32 key;
	__u64 *count;

	if (bpf_skb_load_bytes(skb, 12, &eth_proto, sizeof(eth_proto)) < 0)
		return 0;
	if (eth_proto == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &proto, 1) < 0)
			return 0;
	} else if (eth_proto == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct ipv6hdr, nexthdr), &proto, 1) < 0)
			return 0;
	} else {
		return 0;
	}
	key = proto;
	count = bpf_map_lookup_elem(&packets_by_protocol, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
