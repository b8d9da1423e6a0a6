#!/bin/bash
# make demo: burstgate on a built-in default, in about 10 seconds.
#
# Two network namespaces joined by a veth pair stand in for agents and an
# API host. burstgate is attached on the host side with four identities,
# four senders run for 10 s, and the table shows what passed and what was
# dropped for each. Everything is private to this run (its own namespaces,
# its own pin folder, never the host's real state) and removed at the end.
set -u
. "$(dirname "$0")/../tests/net/lib.sh"
P=bgdemo$$
TX=${P}tx RX=${P}rx PIN=/sys/fs/bpf/${P}
DURATION=${DEMO_SECONDS:-10}

[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces, XDP)"; exit 1; }
echo "== topology: namespaces $TX (agents) and $RX (API host), veth ${P}a <-> ${P}b"
setup_topology 198.18.77 2001:db8:77

echo "== burstgate on ${P}b, with a policy for three agents and unknown traffic"
run() { echo "\$ burstctl $*"; bctl "$@" >/dev/null || exit 1; }
run attach "${P}b"
run identity add steady rate 200pps burst 20
run prefix add 198.18.77.10 identity steady
run identity add bursty rate 50pps burst 300
run prefix add 198.18.77.11 identity bursty
run identity add abusive rate 100pps burst 50
run prefix add 198.18.77.12 identity abusive
run identity set default rate 500pps burst 100 action enforce
echo

echo "== ${DURATION}s of traffic:"
echo "   steady   150 pps, evenly                  (limit 200 pps, burst 20)"
echo "   bursty   bursts of 250, every 5 s         (limit 50 pps, burst 300)"
echo "   abusive  2000 pps                         (limit 100 pps, burst 50)"
echo "   unknown  300 pps from an address no prefix names (default: 500 pps)"
recv_start "$TMPF.recv" --port 8000 --bind 198.18.77.1 --duration $((DURATION + 5)) --idle-ms 1500 || exit 1
RECV=$!
send --dst 198.18.77.1 --port 8000 --src 198.18.77.10 --rate 150 --duration "$DURATION" >"$TMPF.steady" &
send --dst 198.18.77.1 --port 8000 --src 198.18.77.11 --burst 250 --every-ms 5000 --duration "$DURATION" >"$TMPF.bursty" &
send --dst 198.18.77.1 --port 8000 --src 198.18.77.12 --rate 2000 --duration "$DURATION" >"$TMPF.abusive" &
send --dst 198.18.77.1 --port 8000 --src 198.18.77.13 --rate 300 --duration "$DURATION" >"$TMPF.unknown" &
for _ in $(seq "$DURATION"); do
	sleep 1
	printf '.'
done
wait $(jobs -p | grep -v "^$RECV\$") 2>/dev/null
wait "$RECV"
echo

echo "== what happened (sent by the agents, counted by burstgate, received by the host)"
printf '%-9s %-9s %8s %8s %8s %9s  %s\n' AGENT IDENTITY SENT PASSED DROPPED RECEIVED VERDICT
for a in steady:steady:198.18.77.10 bursty:bursty:198.18.77.11 \
	abusive:abusive:198.18.77.12 unknown:default:198.18.77.13; do
	IFS=: read -r agent id addr <<<"$a"
	sent=$(json "$TMPF.$agent" "j['sent']")
	passed=$(stat "$id" passed_pkts)
	dropped=$(stat "$id" dropped_pkts)
	got=$(json "$TMPF.recv" "j['by_source'].get('$addr', 0)")
	if [ "$dropped" = 0 ]; then verdict="all passed"
	else verdict="held to its limit: $((100 * dropped / sent))% dropped"; fi
	printf '%-9s %-9s %8s %8s %8s %9s  %s\n' "$agent" "$id" "$sent" "$passed" "$dropped" "$got" "$verdict"
done
echo
echo "\$ burstctl stats"
bctl stats
echo
echo "== cleaning up (namespaces, veth, pinned state)"
