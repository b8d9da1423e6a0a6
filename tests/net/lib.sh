# shellcheck shell=bash
# Shared by the network tests: a private topology, burstctl in it, checks.
#
# Each test gets two namespaces, tx and rx, joined by a veth pair; XDP runs
# on the rx end. Names carry a per-run prefix so tests never touch anything
# they did not create, and cleanup runs on every exit, failed or not.
# Traffic only flows between these two namespaces, and every sender stops
# by itself (bg-traffic's --count/--duration).
#
# burstctl runs through `nsenter --net`, not `ip netns exec`: the latter
# remounts /sys and would hide the bpffs where the state is pinned.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUTPUT:-$ROOT/.output}
BURSTCTL=$OUT/burstctl
TRAFFIC=$OUT/bg-traffic
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

P=${BG_NET_PREFIX:-bgt$$}
TX=${P}tx
RX=${P}rx
PIN=/sys/fs/bpf/${P}
# burstctl's token commands write to the audit log of the policy in force, else
# the system's: keep the tests' records to themselves (cleanup removes it)
export BURSTGATE_AUDIT_LOG=${BURSTGATE_AUDIT_LOG:-/tmp/${P}.cli-audit}
FAILS=0
CHECKS=0

skip() {
	echo "SKIP: $*"
	exit 77
}

require_root() {
	[ "$(id -u)" = 0 ] || skip "network tests need root (namespaces, XDP)"
	command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
	ip netns add "${P}probe" 2>/dev/null || skip "cannot create network namespaces here"
	ip netns del "${P}probe"
	[ -x "$BURSTCTL" ] && [ -x "$TRAFFIC" ] || {
		echo "FAIL: $BURSTCTL or $TRAFFIC missing: run make first"
		exit 1
	}
}

cleanup() {
	local rc=$?
	jobs -p | xargs -r kill 2>/dev/null
	wait 2>/dev/null
	"$BURSTCTL" -d "$PIN" teardown >/dev/null 2>&1
	ip netns del "$TX" 2>/dev/null
	ip netns del "$RX" 2>/dev/null
	rm -f "${TMPF:-/nonexistent}" "${TMPF:-/nonexistent}".* "/tmp/${P}.cli-audit"
	exit $rc
}

# setup_topology V4NET V6NET: tx gets .10-.19 (and ::10-::19), rx .1 and ::1
setup_topology() {
	local v4=$1 v6=$2 i
	trap cleanup EXIT INT TERM
	TMPF=$(mktemp /tmp/${P}.XXXXXX)
	ip netns add "$TX"
	ip netns add "$RX"
	ip link add "${P}a" type veth peer name "${P}b"
	ip link set "${P}a" netns "$TX"
	ip link set "${P}b" netns "$RX"
	ip -n "$RX" addr add "$v4.1/24" dev "${P}b"
	ip -n "$RX" addr add "$v6::1/64" dev "${P}b" nodad
	for i in $(seq 10 19); do
		ip -n "$TX" addr add "$v4.$i/24" dev "${P}a"
		ip -n "$TX" addr add "$v6::$i/64" dev "${P}a" nodad
	done
	for ns in "$TX" "$RX"; do
		ip -n "$ns" link set lo up
	done
	ip -n "$TX" link set "${P}a" up
	ip -n "$RX" link set "${P}b" up
	# Permanent neighbour entries: no packet of a measured burst may wait
	# in (or overflow) the ARP queue.
	local mac_a mac_b
	mac_a=$(ip -n "$TX" -br link show "${P}a" | awk '{ print $3 }')
	mac_b=$(ip -n "$RX" -br link show "${P}b" | awk '{ print $3 }')
	ip -n "$TX" neigh replace "$v4.1" lladdr "$mac_b" dev "${P}a" nud permanent
	ip -n "$TX" neigh replace "$v6::1" lladdr "$mac_b" dev "${P}a" nud permanent
	for i in $(seq 10 19); do
		ip -n "$RX" neigh replace "$v4.$i" lladdr "$mac_a" dev "${P}b" nud permanent
		ip -n "$RX" neigh replace "$v6::$i" lladdr "$mac_a" dev "${P}b" nud permanent
	done
}

# burstctl inside rx, on this test's own state
bctl() {
	nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$PIN" "$@"
}

# json FILE|- EXPR: evaluate a Python expression on the parsed JSON (as j).
# -S -E: no site import, no environment: 2.5x faster to start, which counts
# inside the test VMs, where a Python start costs well over a second.
json() {
	local src=$1 expr=$2
	if [ "$src" = - ]; then
		"$PY" -S -E -c "import json,sys; j=json.load(sys.stdin); print($expr)"
	else
		"$PY" -S -E -c "import json,sys; j=json.load(open(sys.argv[1])); print($expr)" "$src"
	fi
}

# schema COMMAND FILE: FILE holds what `burstctl -j COMMAND` printed, and
# it matches docs/json.md (prints what does not)
schema() {
	"$PY" -S -E "$ROOT/tests/tools/json_schema.py" "$ROOT/docs/json.md" check "$1" "$2"
}

# stat NAME FIELD: one counter of one identity
stat() {
	bctl -j stats identity "$1" | json - "j['identities'][0]['$2']"
}

# send ARGS...: bg-traffic send from tx; prints its JSON
send() {
	ip netns exec "$TX" "$TRAFFIC" send "$@"
}

# recv_start FILE ARGS...: a receiver in rx, in the background; waits until ready
recv_start() {
	local file=$1
	shift
	ip netns exec "$RX" "$TRAFFIC" recv "$@" >"$file" 2>"$file.err" &
	for _ in $(seq 50); do
		grep -q listening "$file.err" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "receiver did not start: $(cat "$file.err")"
	return 1
}

check() {
	local what=$1
	shift
	CHECKS=$((CHECKS + 1))
	if "$@" >/dev/null; then
		echo "  ok    $what"
	else
		echo "  FAIL  $what"
		FAILS=$((FAILS + 1))
	fi
}

# within A B PCT: |A - B| <= PCT% of B
within() {
	awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= b * p / 100) }'
}

le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
eq() { [ "$1" = "$2" ]; }

finish() {
	echo "  $((CHECKS - FAILS))/$CHECKS checks passed"
	[ "$FAILS" = 0 ]
}
