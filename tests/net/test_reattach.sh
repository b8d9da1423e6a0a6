#!/bin/bash
# vmtest: kernel (runs inside the VMs too: what it checks depends on the kernel)
# Re-attaching (an upgrade in place, or detach and attach in another mode)
# keeps the buckets and the counters: a drained bucket stays drained.
. "$(dirname "$0")/lib.sh"
require_root
setup_topology 198.18.30 2001:db8:30

bctl attach "${P}b" >/dev/null || exit 1
bctl identity add agent rate 10pps burst 200 >/dev/null
bctl prefix add 198.18.30.10 identity agent >/dev/null
prog1=$(bctl -j status | json - "j['attached'][0]['prog_id']")

# drain: 300 back to back, 200 may pass (plus what refills meanwhile)
send --dst 198.18.30.1 --port 9000 --src 198.18.30.10 --count 300 >"$TMPF.s1"
p1=$(stat agent passed_pkts)
check "first burst: 200 pass ($p1)" within "$p1" 201 1

# upgrade in place: the program is replaced under the link
out=$(bctl -j attach "${P}b")
prog2=$(echo "$out" | json - "j['prog_id']")
check "re-attach reports an update" eq "$(echo "$out" | json - "j['result']")" updated
check "a new program is running ($prog1 -> $prog2)" test "$prog1" != "$prog2"
check "counters kept across the update" eq "$(stat agent passed_pkts)" "$p1"
send --dst 198.18.30.1 --port 9000 --src 198.18.30.10 --count 100 >"$TMPF.s2"
p2=$(stat agent passed_pkts)
gap=$(awk -v a="$(json "$TMPF.s1" "j['last_ns']")" -v b="$(json "$TMPF.s2" "j['last_ns']")" \
	'BEGIN { printf "%d", (b - a) / 1e9 * 10 + 2 }')
echo "after update: $((p2 - p1)) passed; refill since the drain allows at most $gap"
check "bucket still drained after the update ($((p2 - p1)) <= $gap, not 100)" le $((p2 - p1)) "$gap"

# detach, then attach in generic mode: a new link, same maps
bctl detach "${P}b" >/dev/null
check "detached: status lists nothing" eq "$(bctl -j status | json - "len(j['attached'])")" 0
bctl attach "${P}b" mode skb >/dev/null
check "attached in skb mode" eq "$(bctl -j status | json - "j['attached'][0]['mode']")" skb
send --dst 198.18.30.1 --port 9000 --src 198.18.30.10 --count 100 >"$TMPF.s3"
p3=$(stat agent passed_pkts)
gap=$(awk -v a="$(json "$TMPF.s2" "j['last_ns']")" -v b="$(json "$TMPF.s3" "j['last_ns']")" \
	'BEGIN { printf "%d", (b - a) / 1e9 * 10 + 2 }')
check "bucket still drained after detach/attach ($((p3 - p2)) <= $gap)" le $((p3 - p2)) "$gap"
sent=$(($(json "$TMPF.s1" "j['sent']") + $(json "$TMPF.s2" "j['sent']") + $(json "$TMPF.s3" "j['sent']")))
check "passed + dropped = everything sent, across all attachments" \
	eq $(($(stat agent passed_pkts) + $(stat agent dropped_pkts))) "$sent"
# A mode the driver lacks: refused, and the old attachment stays (a bridge
# has generic XDP only).
ip -n "$RX" link add "${P}br" type bridge
ip -n "$RX" link set "${P}br" up
bctl attach "${P}br" mode skb >/dev/null
bctl attach "${P}br" mode native >"$TMPF.mode.out" 2>"$TMPF.mode.err"
check "native on a bridge is refused" test $? != 0
check "...and says the old attachment stays" grep -q "kept burstgate attached in skb mode" "$TMPF.mode.err"
check "...and it does" eq "$(bctl -j status | json - "[a['mode'] for a in j['attached'] if a['interface'] == '${P}br']")" "['skb']"
finish
