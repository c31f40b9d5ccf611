#!/usr/bin/env bash
# A CI job's BPF checks, written for bpftool: generate vmlinux.h, load an
# object with pinned maps and autoattach, inspect and dump its programs,
# test-run one, fill and dump a map, attach programs to interfaces of a
# fresh network namespace and to fresh cgroups, pin an iterator, list links.
# It runs unchanged with BPFTOOL=bpfswift (CIScriptTests runs it with both
# and compares what they print).
#
#   BPFTOOL   the tool (default: bpftool)
#   CI_TAG    a name unique to this run: the bpffs dir, netns and cgroup
#   CI_OBJ    the object (default: ../build/ci_demo.bpf.o)
#   CI_ITER   an object whose first program is an iterator (default: ../build/ci_iter.bpf.o)
#
# Everything it makes (pins under /sys/fs/bpf/$CI_TAG, the netns, the
# cgroups, temporary files) is removed on exit, failed or not.
set -euo pipefail
exec 2>&1

here=$(cd "$(dirname "$0")" && pwd)
BPFTOOL=${BPFTOOL:-bpftool}
TAG=${CI_TAG:-bpfci$$}
OBJ=${CI_OBJ:-$here/../build/ci_demo.bpf.o}
ITER=${CI_ITER:-$here/../build/ci_iter.bpf.o}
PIN=/sys/fs/bpf/$TAG
NS=$TAG
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CG=$CGROOT/$TAG
WORK=$(mktemp -d)

cleanup() {
    set +e
    if [ -e "/run/netns/$NS" ]; then ip netns delete "$NS"; fi
    if [ -d "$CG/child" ]; then rmdir "$CG/child"; fi
    if [ -d "$CG" ]; then rmdir "$CG"; fi
    rm -rf "$PIN" "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
innet() { nsenter --net="/run/netns/$NS" "$@"; }
# A command that must fail: its stdout is kept (with -j: {"error": ...}),
# its message on stderr is not; success fails the job.
fails() { if "$@" 2>/dev/null; then echo "unexpected success: $*"; exit 1; fi; echo "(failed as expected)"; }

step "vmlinux.h from the kernel's BTF"
$BPFTOOL btf dump file /sys/kernel/btf/vmlinux format c > "$WORK/vmlinux.h"
sha256sum < "$WORK/vmlinux.h" | cut -d' ' -f1
grep -c '^struct .* {$' "$WORK/vmlinux.h"
$BPFTOOL btf dump file /sys/kernel/btf/vmlinux format raw | sha256sum | cut -d' ' -f1

step "the object's BTF"
$BPFTOOL btf dump file "$OBJ" format raw | tail -n 25
$BPFTOOL btf dump file "$OBJ" format c | grep -c '^'
$BPFTOOL -j btf dump file "$OBJ" | jq '.types | length'

step "load: loadall with pinmaps and autoattach, load of the first program"
mkdir -p "$PIN/progs"
$BPFTOOL prog loadall "$OBJ" "$PIN/progs" pinmaps "$PIN/maps" autoattach
ls "$PIN/progs" "$PIN/maps"
$BPFTOOL prog load "$OBJ" "$PIN/first"
$BPFTOOL -j prog show pinned "$PIN/first" | jq -r .name

step "prog show"
for p in ci_xdp ci_tc ci_cg_skb; do
    $BPFTOOL prog show pinned "$PIN/progs/$p"
    $BPFTOOL -j prog show pinned "$PIN/progs/$p"
done
$BPFTOOL -p prog show name ci_xdp
$BPFTOOL prog show name ci_xdp | grep -c 'name ci_xdp'

step "prog dump xlated"
P=$PIN/progs/ci_xdp
$BPFTOOL prog dump xlated pinned "$P"
$BPFTOOL prog dump xlated pinned "$PIN/progs/ci_cg_skb" opcodes linum
$BPFTOOL -j prog dump xlated pinned "$P"
$BPFTOOL -j prog dump xlated pinned "$P" opcodes linum | jq -c '.[0]'
$BPFTOOL prog dump xlated pinned "$P" visual
$BPFTOOL prog dump xlated pinned "$P" visual linum opcodes | grep -c 'line:'
$BPFTOOL prog dump xlated name ci_xdp | grep -c '^ *0: '
$BPFTOOL -j prog dump xlated name ci_xdp | jq -c '[.[] | {name, tag, n: (.insns | length)}]'
$BPFTOOL prog dump xlated pinned "$P" file "$WORK/xlated.bin"
[ "$(stat -c %s "$WORK/xlated.bin")" = "$($BPFTOOL -j prog show pinned "$P" | jq .bytes_xlated)" ]
echo "the file has bytes_xlated bytes"
# bpftool without a disassembler refuses every jited dump, file included:
fails $BPFTOOL prog dump jited pinned "$P"
fails $BPFTOOL prog dump xlated name ci_xdp visual
fails $BPFTOOL -j prog dump xlated pinned "$P" visual

step "prog run with data in and out"
printf 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/' > "$WORK/pkt"
$BPFTOOL prog run pinned "$P" data_in "$WORK/pkt" data_out "$WORK/out" repeat 5 | sed 's/duration (average): [0-9]*ns/duration (average): Tns/'
od -An -tx1 "$WORK/out" | head -n 2
$BPFTOOL -j prog run pinned "$P" data_in "$WORK/pkt" data_out - | jq -c '{retval, data_out: .data_out[0:4]}'

step "maps"
M=$PIN/maps/ci_counts
$BPFTOOL map show pinned "$M"
$BPFTOOL map update pinned "$M" key 3 0 0 0 value 7 0 0 0 0 0 0 0
$BPFTOOL map update pinned "$M" key hex 01 00 00 00 value hex 2a 00 00 00 00 00 00 00
$BPFTOOL map lookup pinned "$M" key 3 0 0 0
$BPFTOOL map dump pinned "$M"
$BPFTOOL -j map dump pinned "$M"
$BPFTOOL map getnext pinned "$M" key 0 0 0 0
fails $BPFTOOL map update pinned "$M" key 9 0 0 0 value 1 0 0 0 0 0 0 0
$BPFTOOL btf dump map pinned "$M"

step "prog attach to a sockmap"
$BPFTOOL prog attach pinned "$PIN/progs/ci_sk_msg" sk_msg_verdict pinned "$PIN/maps/ci_socks"
$BPFTOOL prog detach pinned "$PIN/progs/ci_sk_msg" sk_msg_verdict pinned "$PIN/maps/ci_socks"
fails $BPFTOOL prog detach pinned "$PIN/progs/ci_sk_msg" sk_msg_verdict pinned "$PIN/maps/ci_socks"

step "net: XDP in its modes, tcx and tc in a fresh netns"
ip netns add "$NS"
innet ip link add veth0 type veth peer name veth1
innet ip link add veth2 type veth peer name veth3
for d in lo veth0 veth1 veth2 veth3; do innet ip link set "$d" up; done
innet $BPFTOOL net attach xdpgeneric pinned "$P" dev veth0
innet $BPFTOOL net attach xdpdrv pinned "$P" dev veth1
fails innet $BPFTOOL net attach xdpgeneric pinned "$P" dev veth0
innet $BPFTOOL net attach xdpgeneric pinned "$P" dev veth0 overwrite
fails innet $BPFTOOL net attach xdpoffload pinned "$P" dev veth2
innet $BPFTOOL net attach xdp pinned "$P" dev veth2
innet $BPFTOOL net attach tcx_ingress pinned "$PIN/progs/ci_tc" dev veth0
innet $BPFTOOL net attach tcx_egress pinned "$PIN/progs/ci_tc" dev veth1
innet tc qdisc add dev veth2 clsact
innet tc filter add dev veth2 ingress bpf direct-action object-pinned "$PIN/progs/ci_tc"
innet $BPFTOOL net show
innet $BPFTOOL -j net show
innet $BPFTOOL net show dev veth1
innet ip -d link show veth1 | grep -o 'xdp[a-z]*' | head -n 1
innet $BPFTOOL net detach xdpgeneric dev veth0
innet $BPFTOOL net detach xdpdrv dev veth1
innet $BPFTOOL net detach xdp dev veth2
innet $BPFTOOL net detach tcx_ingress dev veth0
innet $BPFTOOL net detach tcx_egress dev veth1
fails innet $BPFTOOL net detach tcx_egress dev veth1
innet tc qdisc del dev veth2 clsact
innet $BPFTOOL net show
innet $BPFTOOL -j net show dev veth0

step "cgroup: attach, show, tree, detach on fresh cgroups"
mkdir "$CG" "$CG/child"
$BPFTOOL cgroup attach "$CG" ingress pinned "$PIN/progs/ci_cg_skb" multi
$BPFTOOL cgroup attach "$CG" cgroup_inet_sock_create pinned "$PIN/progs/ci_cg_sock"
$BPFTOOL cgroup attach "$CG/child" cgroup_inet_ingress pinned "$PIN/progs/ci_cg_skb" override
$BPFTOOL cgroup show "$CG"
$BPFTOOL -j cgroup show "$CG"
$BPFTOOL cgroup show "$CG/child" effective
$BPFTOOL cgroup tree "$CG"
$BPFTOOL -j cgroup tree "$CG" effective
$BPFTOOL cgroup detach "$CG/child" cgroup_inet_ingress pinned "$PIN/progs/ci_cg_skb"
$BPFTOOL cgroup detach "$CG" ingress pinned "$PIN/progs/ci_cg_skb"
$BPFTOOL cgroup detach "$CG" sock_create pinned "$PIN/progs/ci_cg_sock"
fails $BPFTOOL cgroup detach "$CG" sock_create pinned "$PIN/progs/ci_cg_sock"
$BPFTOOL cgroup tree "$CG"

step "iterators and links"
cat "$PIN/progs/ci_iter"
$BPFTOOL iter pin "$ITER" "$PIN/iter"
cat "$PIN/iter"
# bpftool 7.5 exits 255 after printing a link it was asked for by id or pin.
$BPFTOOL link show pinned "$PIN/progs/ci_getppid" || true
$BPFTOOL -j link show pinned "$PIN/progs/ci_iter" || true
$BPFTOOL link show pinned "$PIN/iter" || true

step "perf"
$BPFTOOL perf show > /dev/null
$BPFTOOL -j perf show | jq -r type

step "btf of the loaded programs"
BTF=$($BPFTOOL -j prog show pinned "$P" | jq .btf_id)
$BPFTOOL btf show id "$BTF"
$BPFTOOL -j btf show id "$BTF"
$BPFTOOL btf dump id "$BTF" | tail -n 5
$BPFTOOL btf dump prog pinned "$P" format c | grep -c '^'
$BPFTOOL -j btf dump prog pinned "$P" | jq '.types | length'

step "feature probe"
$BPFTOOL feature probe kernel | grep -c 'is available'
$BPFTOOL -j feature probe kernel | jq -c '.program_types | keys'
$BPFTOOL -j feature probe kernel | jq -c '.map_types.have_ringbuf_map_type, .misc.have_bounded_loops'
$BPFTOOL feature probe macros prefix CI_ | grep -c '^#define CI_'

step "done"
