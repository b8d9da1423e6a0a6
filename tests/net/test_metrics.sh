#!/bin/bash
# /metrics scraped by a real HTTP client (curl): Prometheus text format,
# the per-identity series agree with `burstctl stats`, the global counters
# and the controller's health are there, a refused reload shows, identity
# names are labels and the per-scrape cap holds. Agent tokens are counted
# (live, expired) and never appear.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
command -v curl >/dev/null || skip "curl is not installed (make deps)"
setup_topology 198.18.60 2001:db8:60
POL=$TMPF.policy.yaml
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT/metrics
scrape() { ip netns exec "$RX" curl -sS --max-time 5 "$@"; }
umask 077
head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' >"$TMPF.tok"
write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b]
  capacity: { rate: 100kpps }
controller:
  audit_log: $TMPF.audit.jsonl
  tune_interval: 200ms
identities:
  agent:
    rate: 200pps
    burst: 20
    prefixes: [198.18.60.10]
    token_files: ["$TMPF.tok"]
  "svc.a@b": { prefixes: [198.18.60.11] }
  extra1: {}
  extra2: {}
YAML
serve_start "$TMPF.log" --policy "$POL" --metrics "127.0.0.1:$PORT" --metrics-max-identities 3 || exit 1
send --dst 198.18.60.1 --port 9000 --src 198.18.60.10 --count 100 >/dev/null
send --dst 198.18.60.1 --port 9000 --src 198.18.60.11 --count 7 >/dev/null
sleep 0.6 # two tuner intervals: a utilisation to report

scrape -D "$TMPF.hdr" -o "$TMPF.m" "$URL"
check "HTTP 200" grep -q "^HTTP/1.1 200" "$TMPF.hdr"
check "content type is the Prometheus text format" grep -qi "^Content-Type: text/plain; version=0.0.4" "$TMPF.hdr"
val() { awk -v k="$1" '$1 == k { print $2 }' "$TMPF.m"; }
passed=$(stat agent passed_pkts)
dropped=$(stat agent dropped_pkts)
check "agent passed = stats ($passed)" eq "$(val 'burstgate_identity_packets_total{identity="agent",verdict="pass"}')" "$passed"
check "agent dropped = stats ($dropped)" eq "$(val 'burstgate_identity_packets_total{identity="agent",verdict="drop"}')" "$dropped"
check "agent configured rate" eq "$(val 'burstgate_identity_rate_limit_packets_per_second{identity="agent"}')" 200
check "agent burst" eq "$(val 'burstgate_identity_burst_packets{identity="agent"}')" 20
check "agent bucket fill is a ratio" grep -qE '^burstgate_identity_bucket_fill_ratio\{identity="agent",bucket="packets"\} (0|1)\.[0-9]+$' "$TMPF.m"
check "agent is limited" eq "$(val 'burstgate_identity_limited{identity="agent"}')" 1
check "names with . and @ are labels" eq "$(val 'burstgate_identity_packets_total{identity="svc.a@b",verdict="pass"}')" 7
check "cap: 3 identities one by one, the rest as _other" eq "$(val 'burstgate_metrics_identities_omitted')" 2
check "cap: extra2 is not a series" test "$(grep -c 'identity="extra2"' "$TMPF.m")" = 0
check "global parse counter" test "$(val 'burstgate_parse_packets_total{outcome="udp"}')" -ge 107
check "classification counter" test "$(val 'burstgate_classify_packets_total{source="prefix4"}')" -ge 107
check "controller up" eq "$(val burstgate_controller_up)" 1
check "last reload succeeded" eq "$(val burstgate_controller_last_reload_success)" 1
check "capacity in base units" eq "$(val burstgate_host_capacity_packets_per_second)" 100000
check "tuner utilisation present" grep -q "^burstgate_tuner_utilization_ratio " "$TMPF.m"
check "agent tokens counted: 1 live, 0 expired" \
	eq "$(val 'burstgate_tokens{state="live"}') $(val 'burstgate_tokens{state="expired"}')" "1 0"
check "the token itself appears nowhere" sh -c "! grep -qF -- '$(cat "$TMPF.tok")' '$TMPF.m'"
check "every sample is NAME{LABELS} VALUE under a TYPE, counters end in _total" "$PY" -c '
import re, sys
types, ok = {}, True
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    m = re.match(r"# TYPE (\S+) (counter|gauge)$", line)
    if m:
        types[m.group(1)] = m.group(2)
        ok &= m.group(2) != "counter" or m.group(1).endswith("_total")
        continue
    if line.startswith("#"):
        continue
    m = re.match(r"([a-z_]+)(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? [0-9.e+-]+$", line)
    ok &= bool(m) and m.group(1) in types
sys.exit(0 if ok and len(types) > 20 else 1)' "$TMPF.m"

# a refused reload shows in the health metrics
printf 'version: 1\nidentities: [\n' | write_policy "$POL"
wait_log "$TMPF.log" "reload refused" 5
scrape -o "$TMPF.m" "$URL"
check "refused reload counted" eq "$(val burstgate_controller_reload_errors_total)" 1
check "last reload failed" eq "$(val burstgate_controller_last_reload_success)" 0
code=$(scrape -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/other")
check "other paths: 404 ($code)" eq "$code" 404
finish
