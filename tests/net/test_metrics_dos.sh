#!/bin/bash
# The metrics endpoint cannot be wedged by a local user (issue 9, item 7):
# an unprivileged process holds 300 connections that never finish a
# request (150 idle, 150 trickling a header a byte a second, spread over
# ten loopback addresses, each closed one opened again). Scrapes must
# still succeed within a bounded time: from another address at once (the
# per-address limit), from the abuser's own address too (the oldest
# connection without a request makes room), and after the abuser is gone.
# Cost: about 25 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
command -v curl >/dev/null || skip "curl is not installed (make deps)"
command -v setpriv >/dev/null || skip "setpriv is not installed (util-linux)"
setup_topology 198.18.61 2001:db8:61
POL=$TMPF.policy.yaml
PORT=$((20000 + $$ % 20000))
write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b]
controller:
  tune_interval: 200ms
identities:
  agent: { rate: 1000pps, burst: 100, prefixes: [198.18.61.10] }
YAML
serve_start "$TMPF.log" --policy "$POL" --metrics ":$PORT" || exit 1

# scrape_within NS ADDR SECS: a whole scrape, retried until SECS have passed
scrape_within() {
	local ns=$1 addr=$2 secs=$3 t0=$SECONDS
	while [ $((SECONDS - t0)) -lt "$secs" ]; do
		ip netns exec "$ns" curl -sS --max-time 3 -o "$TMPF.m" "http://$addr:$PORT/metrics" 2>/dev/null &&
			grep -q '^burstgate_controller_up 1' "$TMPF.m" && return 0
		sleep 0.2
	done
	return 1
}
check "scrape before the abuse" scrape_within "$TX" 198.18.61.1 5

srcs=$(seq -s, -f '127.0.0.%g' 1 10)
nsenter --net="/run/netns/$RX" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$PY" "$ROOT/tests/net/slow_clients.py" 127.0.0.1 "$PORT" --idle 150 --slow 150 \
	--sources "$srcs" --hold 20 >"$TMPF.abuse" 2>&1 &
ABUSER=$!
wait_log "$TMPF.abuse" "^connected" 10
sleep 2 # the endpoint has taken what it takes
echo "abuser: $(head -1 "$TMPF.abuse")"
check "a scrape from another address within 5 s, under abuse" scrape_within "$TX" 198.18.61.1 5
check "a scrape from the abuser's own address within 10 s, under abuse" \
	scrape_within "$RX" 127.0.0.1 10
check "the scrape says connections were evicted to make room" \
	awk '$1 == "burstgate_metrics_http_evicted_total" && $2 > 0 { ok = 1 } END { exit !ok }' "$TMPF.m"
check "the controller still runs" kill -0 "$SERVE_PID"
kill "$ABUSER" 2>/dev/null
wait "$ABUSER" 2>/dev/null
check "a scrape after the abuse within 5 s" scrape_within "$TX" 198.18.61.1 5
finish
