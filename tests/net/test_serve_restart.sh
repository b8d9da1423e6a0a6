#!/bin/bash
# vmtest: kernel (runs inside the VMs too: what it checks depends on the kernel)
# SIGKILL the controller: enforcement goes on from the pinned program and
# maps; started again, it adopts the state without resetting anything (a
# drained bucket stays drained, counters go on). Limited/cleared events
# are logged, at most one each per episode, never one per dropped packet.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
setup_topology 198.18.50 2001:db8:50
POL=$TMPF.policy.yaml
write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b]
controller:
  audit_log: $TMPF.audit.jsonl
identities:
  agent:
    rate: 10pps
    burst: 200
    prefixes: [198.18.50.10]
YAML

serve_start "$TMPF.log1" --policy "$POL" || exit 1
# `burstctl events` while the controller reads the ring: it follows the feed
bctl -j events count 1 duration 20 >"$TMPF.ev1" 2>"$TMPF.ev1.err" &
EV1=$!
check "events: a follower while serve runs is accepted" wait_log "$TMPF.log1" "events: pid [0-9]+ follows the events" 5
# drain the bucket: 300 back to back, about 200 pass
send --dst 198.18.50.1 --port 9000 --src 198.18.50.10 --count 300 >"$TMPF.s1"
p1=$(stat agent passed_pkts)
check "first burst: the bucket's 200 pass ($p1)" within "$p1" 201 1
wait_log "$TMPF.log1" "event: identity agent limited" 5
check "event logged: agent limited" grep -q "event: identity agent limited" "$TMPF.log1"
wait "$EV1"
check "events: the follower got it too (exit $?)" grep -q '"identity":"agent","event":"limited","action":"enforce"' "$TMPF.ev1"

kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=
check "after SIGKILL: still attached" eq "$(bctl -j status | json - "len(j['attached'])")" 1
# enforcement without a controller: the drained bucket still refuses
send --dst 198.18.50.1 --port 9000 --src 198.18.50.10 --count 100 >"$TMPF.s2"
p2=$(stat agent passed_pkts)
gap=$(awk -v a="$(json "$TMPF.s1" "j['last_ns']")" -v b="$(json "$TMPF.s2" "j['last_ns']")" \
	'BEGIN { printf "%d", (b - a) / 1e9 * 10 + 2 }')
check "no controller: still enforcing ($((p2 - p1)) of 100 passed, refill allows $gap)" le $((p2 - p1)) "$gap"

serve_start "$TMPF.log2" --policy "$POL" || exit 1
check "restart: adopted without change" grep -q "applied (start): 0 changes, 2 identities unchanged" "$TMPF.log2"
check "restart: counters not reset" le "$p2" "$(stat agent passed_pkts)"
send --dst 198.18.50.1 --port 9000 --src 198.18.50.10 --count 100 >"$TMPF.s3"
p3=$(stat agent passed_pkts)
gap=$(awk -v a="$(json "$TMPF.s2" "j['last_ns']")" -v b="$(json "$TMPF.s3" "j['last_ns']")" \
	'BEGIN { printf "%d", (b - a) / 1e9 * 10 + 2 }')
check "restart: bucket still drained ($((p3 - p2)) passed, refill allows $gap, not 100)" le $((p3 - p2)) "$gap"
sent=$(($(json "$TMPF.s1" "j['sent']") + $(json "$TMPF.s2" "j['sent']") + $(json "$TMPF.s3" "j['sent']")))
check "passed + dropped = all sent, across the kill and restart" \
	eq $(($(stat agent passed_pkts) + $(stat agent dropped_pkts))) "$sent"
# quiet now: the episode ends within about a second, one event
wait_log "$TMPF.log2" "event: identity agent no longer limited" 5
check "event logged: agent no longer limited" grep -q "no longer limited" "$TMPF.log2"
drops=$(stat agent dropped_pkts)
nev=$(($(count_log "$TMPF.log1" "event:") + $(count_log "$TMPF.log2" "event:")))
# Three bursts (before the kill, without a controller, after the restart):
# on a slow machine each may be an episode of its own, so at most six
# events (limited + cleared each), and in any case one per many drops.
check "events are per episode, not per drop ($nev events for $drops drops)" le "$nev" 6
check "far fewer events than drops ($nev for $drops)" le $((nev * 20)) "$drops"
# (the state named with a trailing slash: the same state, the same feed)
nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$PIN/" events duration 30 >"$TMPF.ev2" 2>"$TMPF.ev2.err" &
EV2=$!
check "events: a second follower (state given as $PIN/)" wait_log "$TMPF.log2" "events: pid [0-9]+ follows the events" 5
# tearing down under a running controller is refused: nothing removed
bctl teardown 2>"$TMPF.td" && td=0 || td=$?
check "teardown refused while serve runs (exit $td)" test "$td" -ne 0
check "teardown says serve runs, with its pid" grep -q "burstctl serve\` (pid $SERVE_PID) is running" "$TMPF.td"
check "refused teardown left the state: still attached" eq "$(bctl -j status | json - "len(j['attached'])")" 1
check "refused teardown left the counters" le "$p3" "$(stat agent passed_pkts)"
cat "$TMPF.log2"
serve_stop
wait "$EV2"
ev2=$?
check "events: the controller stopping ends the follower with an error (exit $ev2)" test "$ev2" -ne 0
check "... saying so" grep -q "the controller stopped" "$TMPF.ev2.err"
check "teardown once serve stopped" bctl teardown
check "teardown removed the pin folder" test ! -e "$PIN"
finish
