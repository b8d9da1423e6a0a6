#!/bin/bash
# Agent tokens under the controller: the policy's token_files, applied by
# `burstctl serve`, classify curl's requests against a real HTTP server, one
# agent held to its rate while another on the same address is untouched.
# Editing a token file reloads the policy; the token taken out of it falls
# back to the default identity at once, and so does one added by hand to an
# identity whose tokens the policy owns. A token added by hand with a ttl
# to an identity without token_files is garbage-collected by the daemon and
# logged by fingerprint. The policy's bind socket is served root-only. No
# token appears in the log, the audit log or the metrics.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
command -v curl >/dev/null || skip "curl is not installed (make deps installs it)"
setup_topology 198.18.47 2001:db8:47
SRV=198.18.47.1
URL=http://$SRV:8080/v1/models
POL=$TMPF.policy.yaml
PORT=$((20000 + ($$ + 7) % 20000))

newtok() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }
umask 077
for a in slow gone fast temp hand; do
	newtok >"$TMPF.tok.$a"
	# curl reads the header from a file: no token on any command line
	printf 'Authorization: Bearer %s\nX-Agent: %s\n' "$(cat "$TMPF.tok.$a")" "$a" >"$TMPF.hdr.$a"
done
{
	cat "$TMPF.tok.slow"
	echo "# revoked soon:"
	cat "$TMPF.tok.gone"
} >"$TMPF.slow.list"
cp "$TMPF.tok.fast" "$TMPF.fast.list"

write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b]
controller:
  audit_log: $TMPF.audit.jsonl
  tune_interval: 200ms
  bind_socket: $TMPF.sock
default: { action: allow }
identities:
  slow: { rate: 20pps, burst: 10, token_files: ["$TMPF.slow.list"] }
  fast: { rate: 5kpps, burst: 1000, token_files: ["$TMPF.fast.list"] }
  temp: { rate: 1kpps }
YAML
serve_start "$TMPF.log" --policy "$POL" --metrics "127.0.0.1:$PORT" || exit 1
fp() { bctl -j token show --token-file "$TMPF.tok.$1" | json - "j['fingerprint']"; }
fp_slow=$(fp slow)
fp_gone=$(fp gone)
check "serve loaded the token files: slow 2, fast 1" \
	eq "$(bctl -j token list | json - "sorted(t['identity'] for t in j['tokens'])")" "['fast', 'slow', 'slow']"
check "log: each token added by fingerprint, file and line" \
	grep -q "token $fp_gone added -> slow ($TMPF.slow.list line 3)" "$TMPF.log"
check "the policy's bind socket is served, root-only" \
	eq "$(command stat -c '%a %U' "$TMPF.sock")" "600 root"

# by hand: a 1 s token for temp (no token_files: kept), one for fast (owned: warned)
fp_temp=$(bctl -j token add identity temp ttl 1s --token-file "$TMPF.tok.temp" | json - "j['fingerprint']")
bctl token add identity fast --token-file "$TMPF.tok.hand" >/dev/null 2>"$TMPF.hand.err"
fp_hand=$(fp hand)
check "token add to an identity the policy owns: warned" \
	grep -q "the next policy apply or reload removes this token" "$TMPF.hand.err"

ip netns exec "$RX" "$PY" "$ROOT/tests/net/http_server.py" --bind "$SRV" --port 8080 --duration 120 \
	>"$TMPF.http" 2>"$TMPF.http.err" &
HTTPD=$!
for _ in $(seq 50); do
	grep -q listening "$TMPF.http.err" && break
	sleep 0.1
done
grep -q listening "$TMPF.http.err" || { echo "http server did not start: $(cat "$TMPF.http.err")"; exit 1; }

# agent NAME SECONDS N: one curl, N requests on one connection, stopped after SECONDS
agent() {
	local name=$1 max=$2 n=$3 urls=()
	for _ in $(seq "$n"); do urls+=("$URL"); done
	timeout "$max" ip netns exec "$TX" curl --noproxy '*' -s --max-time "$max" \
		-H @"$TMPF.hdr.$name" -o /dev/null -w '%{http_code}\n' "${urls[@]}"
}
ok200() { grep -c '^200' "$1"; }
cnt() { bctl -j stats | json - "j['counters']['$1']['$2']"; }

echo "-- slow over its limit, fast untouched, one source address"
s0=$(stat slow passed_pkts)
t0=$(date +%s.%N)
agent slow 2.5 200 >"$TMPF.slow" &
S=$!
agent fast 20 60 >"$TMPF.fast" &
F=$!
wait $S
t1=$(date +%s.%N)
s1=$(stat slow passed_pkts)
wait $F
span=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
bound=$(awk -v s="$span" 'BEGIN { printf "%d", 10 + 20 * s + 1 }')
echo "slow: $(ok200 "$TMPF.slow") of 200 answered in ${span}s; fast: $(ok200 "$TMPF.fast") of 60"
check "slow held to burst + rate * time ($((s1 - s0)) <= $bound packets)" le $((s1 - s0)) "$bound"
check "... and not starved: at least 40% of that" le "$((bound * 4 / 10))" $((s1 - s0))
check "slow was dropped ($(stat slow dropped_pkts) packets)" le 1 "$(stat slow dropped_pkts)"
check "fast: all 60 answered, no drops" eq "$(ok200 "$TMPF.fast") $(stat fast dropped_pkts)" "60 0"

echo "-- the daemon garbage-collects the expired hand-added token"
check "gc logged temp's token by fingerprint" \
	wait_log "$TMPF.log" "gc: token $fp_temp of identity temp expired: removed" 5
check "... and it is gone from the registry" \
	eq "$(bctl -j token list | json - "'$fp_temp' in [t['fingerprint'] for t in j['tokens']]")" False

echo "-- a token taken out of its file: reloaded, falls back to default"
cat "$TMPF.tok.slow" >"$TMPF.slow.new" && mv "$TMPF.slow.new" "$TMPF.slow.list"
check "the token file's change reloads the policy" \
	wait_log "$TMPF.log" "token file $TMPF.slow.list changed: reloading" 5
check "log: the removed token by fingerprint" \
	wait_log "$TMPF.log" "token $fp_gone removed from slow \(not in the identity's token_files\)" 5
check "log: the hand-added token of fast removed too" \
	grep -q "token $fp_hand removed from fast (not in the identity's token_files)" "$TMPF.log"
check "slow keeps its other token" grep -q "tokens: 0 added, 2 removed, 0 moved, 2 unchanged" "$TMPF.log"
sleep 0.5 # the slow agent's last segments (its reset) have arrived
s0=$(stat slow passed_pkts)
d0=$(stat default passed_pkts)
u0=$(cnt http unknown_token)
agent gone 10 3 >"$TMPF.gone"
check "the removed token's requests answered (default allows)" eq "$(ok200 "$TMPF.gone")" 3
check "... counted as unknown tokens" eq $(($(cnt http unknown_token) - u0)) 3
check "... metered as default ($(($(stat default passed_pkts) - d0)) packets)" le 6 $(($(stat default passed_pkts) - d0))
check "... and not charged to slow" eq "$(stat slow passed_pkts)" "$s0"

echo "-- a bad token file is refused with its position; fixing it reloads"
before=$(bctl -j token list)
printf 'half of a s3cr3t\n' >"$TMPF.slow.new" && mv "$TMPF.slow.new" "$TMPF.slow.list"
check "refused: the policy's entry, the file's line, not the token" wait_log "$TMPF.log" \
	"reload refused, still enforcing the previous policy: $POL:10:49: token file $TMPF.slow.list: line 1: after the token \\(byte 5\\) comes something other than expires=TIME" 5
check "... the tokens in force stay" eq "$(bctl -j token list)" "$before"
check "... and the token is not in the log" sh -c "! grep -q 's3cr3t' '$TMPF.log'"
cat "$TMPF.tok.slow" >"$TMPF.slow.new" && mv "$TMPF.slow.new" "$TMPF.slow.list"
check "fixed: reloaded, nothing to change" \
	wait_log "$TMPF.log" "applied \(file-change\): 0 changes.*tokens: 0 added, 0 removed, 0 moved, 2 unchanged" 5

echo "-- metrics"
ip netns exec "$RX" curl -sS --max-time 5 -o "$TMPF.m" "http://127.0.0.1:$PORT/metrics"
val() { awk -v k="$1" '$1 == k { print $2 }' "$TMPF.m"; }
check "tokens live: 2 (one per file)" eq "$(val 'burstgate_tokens{state="live"}')" 2
check "the refused reload counted" eq "$(val burstgate_controller_reload_errors_total)" 1
check "gc counted the expired token" eq "$(val burstgate_gc_tokens_removed_total)" 1
check "flows learnt from HTTP requests" le 1 "$(val 'burstgate_flow_entries{source="http"}')"

kill -TERM $HTTPD 2>/dev/null
wait $HTTPD
serve_stop
check "socket removed when the controller stops" test ! -e "$TMPF.sock"
for a in slow gone fast temp hand; do
	check "token of $a in no log, audit or metrics" \
		sh -c "! grep -qF -- '$(cat "$TMPF.tok.$a")' '$TMPF.log' '$TMPF.audit.jsonl' '$TMPF.m'"
done
finish
