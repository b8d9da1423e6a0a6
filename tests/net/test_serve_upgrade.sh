#!/bin/bash
# The controller at start: another build's program attached (the variant's)
# is swapped for this build's in place, logged, buckets and counters kept;
# `controller: upgrade_program: false` leaves it, saying so; and without a
# policy the controller only exports a state configured by hand: it changes
# nothing (not the program, not an identity no policy names), and serves
# its metrics.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
VARIANT=$OUT/tests/burstctl-variant
[ -x "$VARIANT" ] || { echo "FAIL: $VARIANT missing: run make first"; exit 1; }
command -v curl >/dev/null || skip "curl is not installed (make deps)"
setup_topology 198.18.73 2001:db8:73
DEV=${P}b
vctl() { nsenter --net="/run/netns/$RX" "$VARIANT" -d "$PIN" "$@"; }
# "PROG_ID THIS_BUILD" of the attachment
prog() { bctl -j status 2>/dev/null | json - "'%s %s' % (j['attached'][0]['prog_id'], j['attached'][0]['this_build'])"; }
pd() { bctl -j stats identity "$1" | json - "'%d %d' % (j['identities'][0]['passed_pkts'], j['identities'][0]['dropped_pkts'])"; }
POL=$TMPF.policy.yaml
policy() { # policy [CONTROLLER-LINES]
	write_policy "$POL" <<EOF
version: 1
host: { interfaces: [$DEV] }
controller: { ${1:-} }
identities:
  agent: { rate: 10pps, burst: 100, prefixes: [198.18.73.10/32] }
EOF
}

# Another build attached it and metered: a drained bucket, counters.
vctl attach "$DEV" >/dev/null || exit 1
policy
bctl policy apply "$POL" >/dev/null
send --dst 198.18.73.1 --port 9000 --src 198.18.73.10 --count 300 >"$TMPF.s1"
read -r p1 d1 <<<"$(pd agent)"
read -r old mine <<<"$(prog)"
check "the variant's program runs: not this build's" eq "$mine" False

# 1. The controller upgrades it at start.
serve_start "$TMPF.log1" --policy "$POL" || exit 1
check "serve logged the upgrade in place" \
	grep -q "upgraded the program on $DEV in place (native mode): program $old (tag [0-9a-f]*) -> [0-9]* (tag [0-9a-f]*, burstctl .*, commit .*); buckets and counters kept" "$TMPF.log1"
read -r new mine <<<"$(prog)"
check "this build's program runs now ($old -> $new)" eq "$mine" True
check "counters kept" eq "$(pd agent)" "$p1 $d1"
send --dst 198.18.73.1 --port 9000 --src 198.18.73.10 --count 100 >"$TMPF.s2"
read -r p2 _ <<<"$(pd agent)"
gap=$(awk -v a="$(json "$TMPF.s1" "j['last_ns']")" -v b="$(json "$TMPF.s2" "j['last_ns']")" \
	'BEGIN { printf "%d", (b - a) / 1e9 * 10 + 2 }')
check "bucket still drained ($((p2 - p1)) <= $gap, not 100)" le $((p2 - p1)) "$gap"
serve_stop

# 2. upgrade_program: false: left as it is, and said.
vctl attach "$DEV" >/dev/null
read -r old _ <<<"$(prog)"
policy "upgrade_program: false"
serve_start "$TMPF.log2" --policy "$POL" || exit 1
check "upgrade_program: false: not upgraded, and said why" \
	grep -q "$DEV runs program $old (tag [0-9a-f]*), not this build's (tag [0-9a-f]*): not upgraded (controller.upgrade_program: false)" "$TMPF.log2"
check "...the variant's program still runs" eq "$(prog)" "$old False"
bctl policy dump >"$TMPF.dump"
check "policy dump keeps the setting" grep -q "upgrade_program: false" "$TMPF.dump"
serve_stop

# 3. No policy: an exporter of what is there. An identity no policy names
# stays, the program stays, and the metrics come.
bctl identity add by-hand rate 5pps >/dev/null
# every identity's limits and counters (tokens refill with time: left out;
# so do default's counters: the peer's IPv6 neighbour and MLD packets land there)
snapshot() { bctl -j stats | json - "[{k: v for k, v in i.items() if not k.endswith('_tokens') and not (i['identity'] == 'default' and k[-5:] in ('_pkts', 'bytes'))} for i in j['identities']]"; }
snapshot >"$TMPF.before"
port=$((20000 + $$ % 20000))
nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$PIN" serve --metrics "127.0.0.1:$port" 2>"$TMPF.log3" &
SERVE_PID=$!
wait_log "$TMPF.log3" "ready" 15 || { echo "exporter did not start: $(cat "$TMPF.log3")"; exit 1; }
check "the exporter says it changes nothing" grep -q "no policy: the state is served as it is" "$TMPF.log3"
check "...not even another build's program, saying so" \
	grep -q "not upgraded (no policy: the exporter changes nothing)" "$TMPF.log3"
check "...which still runs" eq "$(prog)" "$old False"
snapshot >"$TMPF.after"
check "...and no identity or counter changed" cmp -s "$TMPF.before" "$TMPF.after"
ip netns exec "$RX" curl -sf "http://127.0.0.1:$port/metrics" >"$TMPF.metrics"
check "metrics: the identity made by hand" grep -q 'burstgate_identity_packets_total{identity="by-hand",verdict="pass"} 0' "$TMPF.metrics"
check "metrics: an exporter (burstgate_controller_policy 0)" grep -q '^burstgate_controller_policy 0$' "$TMPF.metrics"
check "metrics: no reload series without a policy" test "$(grep -c reload "$TMPF.metrics")" = 0
check "metrics: build_info names the attached program" \
	grep -q "^burstgate_build_info{.*prog_tag=\"$(bpftool -j prog show id "$old" | json - "j['tag']")\"} 1$" "$TMPF.metrics"
kill -HUP "$SERVE_PID"
check "SIGHUP: nothing to reload" wait_log "$TMPF.log3" "no policy to reload" 5
serve_stop
check "the exporter stopped cleanly and changed nothing" eq "$(bctl -j identity list | json - "len(j['identities'])")" 3

# 4. Nothing to export: said.
nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "${PIN}-none" serve --metrics "127.0.0.1:$port" 2>"$TMPF.log4"
check "no state: refused, saying what to do" grep -q "no burstgate state at ${PIN}-none to export" "$TMPF.log4"
finish
