#!/bin/bash
# vmtest: kernel (runs inside the VMs too: what it checks depends on the kernel)
# Multi-program mode: burstgate beside another real XDP program on one veth
# through libxdp's dispatcher. Both run, in priority order; each counts its
# own drops; the next program sees only what the one before passed;
# upgrades in place keep the buckets; detaching or tearing down burstgate
# leaves the other program running; a NIC with a program that is not a
# dispatcher is refused with a message. On a kernel where libxdp cannot run
# its dispatcher (this development host's 6.18), `attach mode multi` must
# fail saying why and what to do; the sharing checks are then SKIPPED (said
# loudly) and run in make vmtest, whose kernels must support the mode.
. "$(dirname "$0")/lib.sh"
require_root
PEER=$OUT/tests/peer_filter.bpf.o
[ -f "$PEER" ] || { echo "FAIL: $PEER missing: run make first"; exit 1; }
command -v xdp-loader >/dev/null || skip "xdp-loader is not installed (Debian package xdp-tools; make deps)"
setup_topology 198.18.70 2001:db8:70
DEV=${P}b
PEERPIN=/sys/fs/bpf/${P}peer

cleanup_multi() {
	local rc=$?
	rx xdp-loader unload --all "$DEV" >/dev/null 2>&1
	rm -rf "$PEERPIN"
	(exit $rc)
	cleanup
}
trap cleanup_multi EXIT INT TERM

rx() { nsenter --net="/run/netns/$RX" "$@"; }
# the other program: through libxdp, at priority 10 (a packet filter)
peer_load() { rx xdp-loader load "$@" -p "$PEERPIN" -P 10 "$DEV" "$PEER"; }
# The other program's own counters: "UDP-PASSED DROPPED" (one Python start:
# each costs about a second in the VMs).
peer() {
	bpftool -j map dump pinned "$PEERPIN/peer_counts" |
		json - "' '.join(str(sum(v['value'] for e in j if e['formatted']['key'] == k for v in e['formatted']['values'])) for k in (0, 1))"
}
# burstgate's: "PASSED DROPPED" of an identity
pd() { bctl -j stats identity "$1" | json - "'%d %d' % (j['identities'][0]['passed_pkts'], j['identities'][0]['dropped_pkts'])"; }
# fields of the first attachment in status
att() { bctl -j status | json - "' '.join(str(j['attached'][0][k]) for k in '$*'.split())"; }
nprogs() { rx xdp-loader status "$DEV" | grep -c ' => '; }
xdp_id() { rx ip -j link show dev "$DEV" | json - "j[0].get('xdp', {}).get('prog', {}).get('id', 0)"; }

# 0. Can libxdp run its dispatcher on this kernel? Asked of libxdp itself
# (xdp-loader), not of burstctl: with one program and a refused dispatcher
# it falls back to attaching the program alone.
LIBXDP_LOG_LEVEL=DEBUG peer_load -v >"$TMPF.probe" 2>&1
if ! rx xdp-loader status "$DEV" | grep -q xdp_dispatcher; then
	why=$(sed -n 's/.*Compatibility check for dispatcher program failed: //p' "$TMPF.probe")
	rx xdp-loader unload --all "$DEV" >/dev/null 2>&1
	echo "libxdp cannot run its dispatcher on $(uname -r): ${why:-see $TMPF.probe}"
	# The kernels of make vmtest are documented to support the mode.
	check "this is not a kernel that must support multi mode (make vmtest's)" \
		test -z "${BURSTGATE_VM:-}"
	# What a user of this kernel gets: a refusal that says why and what to do.
	bctl attach "$DEV" mode multi >"$TMPF.a" 2>"$TMPF.a.err"
	check "attach mode multi is refused" test $? != 0
	cat "$TMPF.a.err"
	check "...the message says why and what to do" \
		grep -q "this kernel refuses libxdp's dispatcher.*burstctl attach $DEV" "$TMPF.a.err"
	check "...and leaves no XDP program on $DEV" eq "$(xdp_id)" 0
	check "...and status lists nothing" eq "$(bctl -j status | json - "len(j['attached'])")" 0
	echo "!!! SKIP (sharing checks): libxdp's dispatcher cannot run on this kernel" \
		"($(uname -r): ${why:-refused}); checked instead that burstgate refuses mode multi" \
		"clearly. The sharing checks run in make vmtest (Debian 6.1 and 6.12)."
	finish
	exit
fi
rx xdp-loader unload --all "$DEV" >/dev/null 2>&1

# 1. Alone first.
bctl attach "$DEV" mode multi >/dev/null || exit 1
check "attached alone in multi mode, at the default priority 20" eq "$(att mode priority)" "multi 20"
bctl detach "$DEV" >/dev/null
check "detached: no XDP program left on $DEV" eq "$(xdp_id)" 0

# 2. The other program first, then burstgate with mode auto: it joins.
peer_load >/dev/null 2>"$TMPF.peer.err" || { cat "$TMPF.peer.err"; exit 1; }
bctl attach "$DEV" >"$TMPF.b" 2>"$TMPF.b.err"
check "attach (auto) on a NIC with a dispatcher joins it" grep -q "multi mode" "$TMPF.b"
check "...and says so" grep -q "already runs libxdp's dispatcher" "$TMPF.b.err"
check "two programs in the dispatcher" eq "$(nprogs)" 2
check "status: multi mode, 2 programs in the dispatcher" eq "$(att mode program_count)" "multi 2"

bctl identity add agent rate 10pps burst 100 >/dev/null
bctl identity add filtered rate 1pps burst 1 >/dev/null
bctl prefix add 198.18.70.10 identity agent >/dev/null
bctl prefix add 198.18.70.11 identity filtered >/dev/null

# The peer (priority 10) runs first: what it drops never reaches burstgate.
send --dst 198.18.70.1 --port 7777 --src 198.18.70.11 --count 50 >/dev/null
read -r pp pdr <<<"$(peer)"
check "the other program dropped all 50 to port 7777 ($pdr)" eq "$pdr" 50
check "...and burstgate never saw them (it runs after)" eq "$(pd filtered)" "0 0"
# What the peer passes goes on to burstgate, which limits it.
send --dst 198.18.70.1 --port 9000 --src 198.18.70.10 --count 300 >"$TMPF.s1"
read -r p1 d1 <<<"$(pd agent)"
check "burstgate held the agent to its burst ($p1 passed of 300)" within "$p1" 101 2
check "...and counted its own drops ($d1)" eq $((p1 + d1)) 300
read -r pp pdr <<<"$(peer)"
check "the other program passed all 300 on to burstgate" eq "$pp" 300

# 3. Upgrade in place: the program in the slot is swapped, state kept.
prog1=$(att prog_id)
read -r res prog2 <<<"$(bctl -j attach "$DEV" | json - "'%s %s' % (j['result'], j['prog_id'])")"
check "re-attach reports an update" eq "$res" updated
check "a new program runs ($prog1 -> $prog2)" test "$prog1" != "$prog2"
check "...and status shows it, still at priority 20" eq "$(att prog_id priority)" "$prog2 20"
check "counters kept across the update" eq "$(pd agent)" "$p1 $d1"
check "the other program is untouched" eq "$(nprogs)" 2
send --dst 198.18.70.1 --port 9000 --src 198.18.70.10 --count 100 >"$TMPF.s2"
read -r p2 _ <<<"$(pd agent)"
gap=$(awk -v a="$(json "$TMPF.s1" "j['last_ns']")" -v b="$(json "$TMPF.s2" "j['last_ns']")" \
	'BEGIN { printf "%d", (b - a) / 1e9 * 10 + 2 }')
check "bucket still drained after the update ($((p2 - p1)) <= $gap, not 100)" le $((p2 - p1)) "$gap"

# 4. burstgate first (priority 5): what it drops never reaches the peer.
bctl detach "$DEV" >/dev/null
check "detach leaves the other program running" eq "$(nprogs)" 1
send --dst 198.18.70.1 --port 7777 --src 198.18.70.12 --count 20 >/dev/null
read -r before pdr <<<"$(peer)"
check "...and it still drops ($pdr = 70)" eq "$pdr" 70
bctl attach "$DEV" mode multi priority 5 >/dev/null
check "attached again at priority 5" eq "$(att priority)" 5
read -r bp bd <<<"$(pd agent)"
# at most a full bucket (100) can pass: at least 200 of 300 are dropped
send --dst 198.18.70.1 --port 9000 --src 198.18.70.10 --count 300 >/dev/null
read -r ap ad <<<"$(pd agent)"
passed=$((ap - bp)) dropped=$((ad - bd))
read -r after _ <<<"$(peer)"
seen=$((after - before))
check "burstgate dropped at least 200 of 300 ($dropped)" le 199 "$dropped"
check "the peer saw exactly what burstgate passed ($seen = $passed)" eq "$seen" "$passed"

# 5. Teardown removes only what burstgate loaded.
bctl teardown >/dev/null
check "teardown leaves the other program running" eq "$(nprogs)" 1
send --dst 198.18.70.1 --port 7777 --src 198.18.70.12 --count 10 >/dev/null
read -r _ pdr <<<"$(peer)"
check "...and it still drops ($pdr = 80)" eq "$pdr" 80

# 6. A program that is not a dispatcher: refused, with what to do.
rx xdp-loader unload --all "$DEV" >/dev/null
rx env LIBXDP_SKIP_DISPATCHER=1 xdp-loader load -p "$PEERPIN" "$DEV" "$PEER" >/dev/null 2>&1
check "the other program alone, without a dispatcher" test "$(xdp_id)" != 0
bctl attach "$DEV" mode multi >/dev/null 2>"$TMPF.c.err"
check "attach mode multi is refused" test $? != 0
check "...saying it is not a libxdp dispatcher and what to do" \
	grep -q "not a libxdp dispatcher.*xdp-loader load" "$TMPF.c.err"
check "...and the other program still runs" test "$(xdp_id)" != 0
finish
