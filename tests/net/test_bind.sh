#!/bin/bash
# vmtest: kernel (runs inside the VMs too: what it checks depends on the kernel)
# Binding, the path for TLS: examples/bind_server (TCP whose payload
# burstgate cannot read) authenticates each agent by the token on its first
# line and binds the connection through the client library and the bind
# socket of `burstctl bind serve`. Two agents upload from one source
# address: the capped one is held to its byte rate, the other untouched.
# Then `burstctl bind add` from a script binds a UDP flow.
. "$(dirname "$0")/lib.sh"
require_root
EXAMPLE=$OUT/examples/bind_server
[ -x "$EXAMPLE" ] || { echo "FAIL: $EXAMPLE missing: run make first"; exit 1; }
setup_topology 198.18.21 2001:db8:21
SRV=198.18.21.1

newtok() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }
umask 077
for a in capped roomy udp; do newtok >"$TMPF.tok.$a"; done
newtok >"$TMPF.tok.nobody"

bctl attach "${P}b" >/dev/null || exit 1
bctl identity add capped bytes-rate 800kbit bytes-burst 16kb >/dev/null # 100 kB/s
bctl identity add roomy >/dev/null
bctl identity add udpcap rate 100pps burst 20 >/dev/null
bctl token add identity capped --token-file "$TMPF.tok.capped" >/dev/null
bctl token add identity roomy --token-file "$TMPF.tok.roomy" >/dev/null
bctl token add identity udpcap --token-file "$TMPF.tok.udp" >/dev/null

echo "-- the bind socket"
SOCK=$TMPF.sock
nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$PIN" bind serve socket "$SOCK" 2>"$TMPF.serve" &
for _ in $(seq 50); do
	[ -S "$SOCK" ] && break
	sleep 0.1
done
check "bind serve listens" test -S "$SOCK"
check "the socket is root-only (0600)" eq "$(command stat -c '%a %U' "$SOCK")" "600 root"

echo "-- two agents upload from one address through the example server"
ip netns exec "$RX" "$EXAMPLE" --listen "$SRV" --port 9100 --socket "$SOCK" --duration 40 --max-conns 3 \
	>"$TMPF.srv" 2>"$TMPF.srv.err" &
SERVER=$!
for _ in $(seq 50); do
	grep -q listening "$TMPF.srv.err" && break
	sleep 0.1
done
agent() { ip netns exec "$TX" "$PY" "$ROOT/tests/net/tcp_agent.py" --connect "$SRV" --port 9100 "$@"; }

# an unknown token is refused by the server, with burstgate's reason
agent --token-file "$TMPF.tok.nobody" --seconds 1 >"$TMPF.nobody"
check "unknown token refused" grep -q '"reply": "ERR burstgate: unknown token' "$TMPF.nobody"

c0=$(stat capped passed_bytes)
t0=$(date +%s.%N)
agent --token-file "$TMPF.tok.capped" --seconds 3 >"$TMPF.capped" &
A=$!
agent --token-file "$TMPF.tok.roomy" --seconds 3 >"$TMPF.roomy" &
B=$!
# watch the flow table while they run: both connections must show up bound
: >"$TMPF.binds"
while kill -0 $A 2>/dev/null || kill -0 $B 2>/dev/null; do
	bctl -j bind list | json - "'\n'.join('%s %s %s' % (e['source'], e['identity'], e['src']) for e in j['flows'])" >>"$TMPF.binds"
	sleep 0.3
done
wait $A $B
sleep 0.5 # in-flight segments
t1=$(date +%s.%N)
c1=$(stat capped passed_bytes)
wait $SERVER
echo "capped: $(cat "$TMPF.capped")"
echo "roomy:  $(cat "$TMPF.roomy")"
echo "server: $(tr '\n' ' ' <"$TMPF.srv")"
sed 's/^/  bind serve: /' "$TMPF.serve"

check "capped agent accepted as capped" grep -q '"reply": "OK capped"' "$TMPF.capped"
check "roomy agent accepted as roomy" grep -q '"reply": "OK roomy"' "$TMPF.roomy"
check "both connections were bound while they ran" eq \
	"$(grep '^bind ' "$TMPF.binds" | sort -u | tr '\n' ' ')" "bind capped 198.18.21.10 bind roomy 198.18.21.10 "
got_c=$("$PY" -S -E -c "import json,sys; print(sum(json.loads(l)['bytes'] for l in open(sys.argv[1]) if json.loads(l)['identity'] == 'capped'))" "$TMPF.srv")
got_r=$("$PY" -S -E -c "import json,sys; print(sum(json.loads(l)['bytes'] for l in open(sys.argv[1]) if json.loads(l)['identity'] == 'roomy'))" "$TMPF.srv")
span=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
bound=$(awk -v s="$span" 'BEGIN { printf "%d", 16384 + 100000 * s }')
check "capped held to bytes-burst + bytes-rate * time ($((c1 - c0)) <= $bound frame bytes in ${span}s)" le $((c1 - c0)) "$bound"
check "what the server received fits in that ($got_c <= $((c1 - c0)))" le "$got_c" $((c1 - c0))
check "capped got through at all ($got_c bytes)" le 16384 "$got_c"
check "capped was dropped ($(stat capped dropped_pkts) packets)" le 1 "$(stat capped dropped_pkts)"
check "roomy, same address, untouched: no drops" eq "$(stat roomy dropped_pkts)" 0
check "roomy moved 10x more ($got_r vs $got_c bytes)" le $((got_c * 10)) "$got_r"
check "classified as bound connections ($(bctl -j stats | json - "j['counters']['classify']['bind']"))" \
	le 100 "$(bctl -j stats | json - "j['counters']['classify']['bind']")"
check "the bind server logged both, without tokens" eq "$(grep -c 'bound tcp 198.18.21.10' "$TMPF.serve")" 2
for a in capped roomy nobody; do
	check "token of $a not in the bind server's log" sh -c "! grep -qF -- '$(cat "$TMPF.tok.$a")' '$TMPF.serve'"
done

echo "-- burstctl bind add, for scripts: a UDP flow"
recv_start "$TMPF.r" --port 9000 --bind "$SRV" --duration 10 --idle-ms 1000 || exit 1
R=$!
bctl bind add proto udp src 198.18.21.12 sport 40000 dst "$SRV" dport 9000 <"$TMPF.tok.udp" >/dev/null
check "bind add: listed" eq "$(bctl -j bind list | json - "[e['identity'] for e in j['flows'] if e['sport'] == 40000]")" "['udpcap']"
d0=$(stat default passed_pkts)
send --dst "$SRV" --port 9000 --src 198.18.21.12 --sport 40000 --rate 500 --duration 2 >"$TMPF.s1" &
S1=$!
send --dst "$SRV" --port 9000 --src 198.18.21.12 --sport 40001 --rate 200 --duration 2 >"$TMPF.s2" &
S2=$!
wait $S1 $S2
wait $R
span=$(json "$TMPF.s1" "j['elapsed_s']")
p=$(stat udpcap passed_pkts)
expect=$(awk -v s="$span" 'BEGIN { printf "%.0f", 20 + 100 * s }')
check "bound UDP flow held to burst + rate * time within 5% ($p vs $expect)" within "$p" "$expect" 5
sent2=$(json "$TMPF.s2" "j['sent']")
check "the same address on another port is not bound (default got $sent2)" le "$sent2" $(($(stat default passed_pkts) - d0))
check "bind del" bctl bind del proto udp src 198.18.21.12 sport 40000 dst "$SRV" dport 9000
check "bind del: gone" eq "$(bctl -j bind list | json - "len([e for e in j['flows'] if e['sport'] == 40000])")" 0
finish
