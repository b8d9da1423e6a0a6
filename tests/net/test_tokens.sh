#!/bin/bash
# vmtest: kernel (runs inside the VMs too: what it checks depends on the kernel)
# Agent tokens end to end: curl with different tokens against a real HTTP
# server (Python's http.server, keep-alive) in the other namespace, through
# one connection and through many. Two agents share one source address:
# the one over its limit is held to its rate, the other is untouched. An
# expired or unknown token falls back to the default identity.
. "$(dirname "$0")/lib.sh"
require_root
command -v curl >/dev/null || skip "curl is not installed (make deps installs it)"
setup_topology 198.18.20 2001:db8:20
SRV=198.18.20.1
URL=http://$SRV:8080/v1/models

newtok() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }
umask 077
for a in slow fast late; do
	newtok >"$TMPF.tok.$a"
	# curl reads the header from a file: no token on any command line
	printf 'Authorization: Bearer %s\nX-Agent: %s\n' "$(cat "$TMPF.tok.$a")" "$a" >"$TMPF.hdr.$a"
done
printf 'Authorization: Bearer %s\nX-Agent: mallory\n' "$(newtok)" >"$TMPF.hdr.mallory"

bctl attach "${P}b" >/dev/null || exit 1
bctl identity add slow rate 20pps burst 10 >/dev/null
bctl identity add fast rate 5kpps burst 1000 >/dev/null
bctl token add identity slow --token-file "$TMPF.tok.slow" >/dev/null
bctl token add identity fast <"$TMPF.tok.fast" >/dev/null
bctl token add identity fast ttl 2s --token-file "$TMPF.tok.late" >/dev/null
bctl -j token list >"$TMPF.list"
check "three tokens registered" eq "$(json "$TMPF.list" "len(j['tokens'])")" 3

ip netns exec "$RX" "$PY" "$ROOT/tests/net/http_server.py" --bind "$SRV" --port 8080 --duration 240 \
	>"$TMPF.http" 2>"$TMPF.http.err" &
HTTPD=$!
for _ in $(seq 50); do
	grep -q listening "$TMPF.http.err" && break
	sleep 0.1
done
grep -q listening "$TMPF.http.err" || { echo "http server did not start: $(cat "$TMPF.http.err")"; exit 1; }

# agent NAME SECONDS N: one curl, N requests on one connection, stopped
# after SECONDS whatever is left; prints "CODE CONNECTS" per request
agent() {
	local name=$1 max=$2 n=$3 urls=()
	for _ in $(seq "$n"); do urls+=("$URL"); done
	timeout "$max" ip netns exec "$TX" curl --noproxy '*' -s --max-time "$max" \
		-H @"$TMPF.hdr.$name" -o /dev/null -w '%{http_code} %{num_connects}\n' "${urls[@]}"
}
ok200() { grep -c '^200 ' "$1"; }
conns() { awk '{ s += $2 } END { print s + 0 }' "$1"; }
cnt() { bctl -j stats | json - "j['counters']['$1']['$2']"; }

echo "-- one connection, many requests"
h0=$(cnt classify http_token)
agent fast 20 40 >"$TMPF.one"
check "40 requests answered" eq "$(ok200 "$TMPF.one")" 40
check "over a single connection" eq "$(conns "$TMPF.one")" 1
h1=$(cnt classify http_token)
check "each request classified by its token ($((h1 - h0)))" eq $((h1 - h0)) 40
check "the connection's other segments followed (flow $(cnt classify flow))" le 40 "$(cnt classify flow)"
fp=$(stat fast passed_pkts)
check "fast was charged for them ($fp packets)" le 80 "$fp"

echo "-- many connections"
: >"$TMPF.many"
for _ in $(seq 20); do agent fast 10 1 >>"$TMPF.many"; done
check "20 requests answered" eq "$(ok200 "$TMPF.many")" 20
check "over 20 connections" eq "$(conns "$TMPF.many")" 20
h2=$(cnt classify http_token)
check "each classified by its token ($((h2 - h1)))" eq $((h2 - h1)) 20
check "fast has no drops" eq "$(stat fast dropped_pkts)" 0

echo "-- two agents, one address: slow over its limit, fast untouched"
s0=$(stat slow passed_pkts)
(
	date +%s.%N >"$TMPF.t0"
	agent slow 5 300 >"$TMPF.slow"
	date +%s.%N >"$TMPF.t1"
) &
S=$!
agent fast 30 300 >"$TMPF.fast" &
F=$!
wait $S
s1=$(stat slow passed_pkts)
wait $F
span=$(awk -v a="$(cat "$TMPF.t0")" -v b="$(cat "$TMPF.t1")" 'BEGIN { printf "%.2f", b - a }')
bound=$(awk -v s="$span" 'BEGIN { printf "%d", 10 + 20 * s + 1 }')
echo "slow: $(ok200 "$TMPF.slow") of 300 requests answered in ${span}s; fast: $(ok200 "$TMPF.fast") of 300"
check "slow held to burst + rate * time ($((s1 - s0)) <= $bound packets)" le $((s1 - s0)) "$bound"
check "... and not starved: at least 40% of that" le "$((bound * 4 / 10))" $((s1 - s0))
check "slow was dropped ($(stat slow dropped_pkts) packets)" le 1 "$(stat slow dropped_pkts)"
check "slow did not finish (held back)" le "$(ok200 "$TMPF.slow")" 299
check "fast: all 300 answered" eq "$(ok200 "$TMPF.fast")" 300
check "fast: no drops, same source address" eq "$(stat fast dropped_pkts)" 0

echo "-- expired and unknown tokens fall back to the default identity"
sleep 1.5 # the 2 s ttl of "late" has passed
f0=$(stat fast passed_pkts)
d0=$(stat default passed_pkts)
e0=$(cnt http expired_token)
u0=$(cnt http unknown_token)
agent late 10 3 >"$TMPF.late"
agent mallory 10 3 >"$TMPF.mallory"
check "requests with the expired token still answered (default allows)" eq "$(ok200 "$TMPF.late")" 3
check "... counted as expired ($(($(cnt http expired_token) - e0)))" eq $(($(cnt http expired_token) - e0)) 3
check "... and not charged to fast" eq "$(stat fast passed_pkts)" "$f0"
check "unknown token counted ($(($(cnt http unknown_token) - u0)))" eq $(($(cnt http unknown_token) - u0)) 3
check "both metered as default ($(($(stat default passed_pkts) - d0)) packets)" le 6 $(($(stat default passed_pkts) - d0))
check "token list shows it expired" eq "$(bctl -j token list | json - "sorted(e['expired'] for e in j['tokens'])")" "[False, False, True]"

echo "-- only ingress is metered: a response is not limited by the agent's rate"
# slow: 20 pps, burst 10. A 1 MiB answer takes the server's packets, not
# slow's: only the few requests and ACKs slow sends are metered.
ip netns exec "$TX" curl --noproxy '*' -s --max-time 20 -H @"$TMPF.hdr.slow" -o "$TMPF.big" \
	-w '%{http_code} %{size_download} %{time_total}\n' "$URL?bytes=1048576" >"$TMPF.bigw"
read -r code size secs <"$TMPF.bigw"
check "slow downloads 1 MiB in full at 20 pps (in ${secs}s)" eq "$code $size" "200 1048576"

echo "-- on-token-expired block: expired and unknown tokens are dropped"
bctl token config on-token-expired block >/dev/null
check "block made its identity (action block)" eq "$(bctl -j identity show expired-tokens | json - "j['action']")" block
agent late 2 1 >"$TMPF.late2"
agent mallory 2 1 >"$TMPF.mallory2"
check "the expired token's request is not answered" eq "$(ok200 "$TMPF.late2")" 0
check "nor the unknown token's" eq "$(ok200 "$TMPF.mallory2")" 0
x1=$(stat expired-tokens dropped_pkts)
check "both dropped as expired-tokens ($x1 packets)" le 2 "$x1"
bctl token gc >/dev/null # the expired token is gone: now it is unknown, still blocked
agent late 2 1 >"$TMPF.late3"
check "after token gc it is still dropped" eq "$(ok200 "$TMPF.late3")" 0
check "... as expired-tokens" le $((x1 + 1)) "$(stat expired-tokens dropped_pkts)"
check "a live token is untouched" eq "$(agent fast 10 1 | cut -d' ' -f1)" 200
bctl token config on-token-expired default >/dev/null
check "back to default: answered again" eq "$(agent mallory 10 1 | cut -d' ' -f1)" 200

echo "-- a custom header"
bctl token config header X-Api-Key scheme none >/dev/null
printf 'X-Api-Key: %s\nX-Agent: fast\n' "$(cat "$TMPF.tok.fast")" >"$TMPF.hdr.key"
f0=$(stat fast passed_pkts)
ip netns exec "$TX" curl --noproxy '*' -s --max-time 10 -H @"$TMPF.hdr.key" -o /dev/null -w '%{http_code}\n' "$URL" >"$TMPF.key"
check "X-Api-Key request answered" eq "$(cat "$TMPF.key")" 200
check "X-Api-Key request charged to fast" le $((f0 + 1)) "$(stat fast passed_pkts)"
bctl token config header Authorization scheme bearer >/dev/null

kill -TERM $HTTPD 2>/dev/null # (a slow machine may have seen it stop already)
wait $HTTPD
echo "server: $(cat "$TMPF.http")"
check "the server saw fast's 360+ requests" le 361 "$(json "$TMPF.http" "j['requests'].get('fast', 0)")"
bctl stats
finish
