// One small program of each program type that loads without an attach
// target on this kernel, to check the type names `prog show` prints. They
// all share a .rodata with metadata.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

volatile const char bpf_metadata_suite[] SEC(".rodata") = "types";

SEC("socket") int t_socket(void *ctx) { return 0; }
SEC("xdp") int t_xdp(struct xdp_md *ctx) { return XDP_PASS; }
SEC("tc") int t_tc(struct __sk_buff *skb) { return 0; }
SEC("action") int t_action(struct __sk_buff *skb) { return 0; }
SEC("cgroup_skb/ingress") int t_cgroup_skb(struct __sk_buff *skb) { return 1; }
SEC("cgroup/sock_create") int t_cgroup_sock(struct bpf_sock *sk) { return 1; }
SEC("cgroup/connect4") int t_cgroup_addr(struct bpf_sock_addr *ctx) { return 1; }
SEC("cgroup/dev") int t_cgroup_dev(struct bpf_cgroup_dev_ctx *ctx) { return 1; }
SEC("cgroup/sysctl") int t_cgroup_sysctl(struct bpf_sysctl *ctx) { return 1; }
SEC("cgroup/getsockopt") int t_cgroup_sockopt(struct bpf_sockopt *ctx) { return 1; }
SEC("lwt_in") int t_lwt_in(struct __sk_buff *skb) { return 0; }
SEC("lwt_out") int t_lwt_out(struct __sk_buff *skb) { return 0; }
SEC("lwt_xmit") int t_lwt_xmit(struct __sk_buff *skb) { return 0; }
SEC("sockops") int t_sockops(struct bpf_sock_ops *ctx) { return 1; }
SEC("sk_skb") int t_sk_skb(struct __sk_buff *skb) { return 0; }
SEC("sk_msg") int t_sk_msg(struct sk_msg_md *msg) { return 1; }
SEC("flow_dissector") int t_flow_dissector(struct __sk_buff *skb) { return 0; }
SEC("sk_reuseport") int t_sk_reuseport(struct sk_reuseport_md *ctx) { return 1; }
SEC("sk_lookup") int t_sk_lookup(struct bpf_sk_lookup *ctx) { return 1; }
SEC("perf_event") int t_perf_event(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_enter_getpid") int t_tracepoint(void *ctx) { return 0; }
SEC("raw_tracepoint/sys_enter") int t_raw_tracepoint(void *ctx) { return 0; }
SEC("tp_btf/sys_enter") int t_tp_btf(void *ctx) { return 0; }
SEC("syscall") int t_syscall(void *ctx) { return 0; }
SEC("netfilter") int t_netfilter(struct bpf_nf_ctx *ctx) { return 1; }

char LICENSE[] SEC("license") = "GPL";
