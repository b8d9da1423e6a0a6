#!/bin/bash
# A real Prometheus (Debian's) scraping `burstctl serve --metrics` every
# second while an agent sends 5x its limit: its HTTP API says the agent was
# admitted at its configured rate and dropped the rest, and knows the same
# identities as `burstctl stats`. promtool checks the exposition and the
# shipped alert rules (and their unit tests); the shipped Grafana dashboard
# is the generator's output, every query in it names metrics the exporter
# exports, and each one runs in this Prometheus.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
for t in prometheus promtool curl; do
	command -v $t >/dev/null || skip "$t is not installed (Debian packages prometheus, curl: make deps)"
done
DEPLOY=$ROOT/deploy
setup_topology 198.18.74 2001:db8:74
DEV=${P}b
TSDB=$(mktemp -d /tmp/${P}tsdb.XXXXXX)
PROM_PID=
cleanup_prom() {
	local rc=$?
	[ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null
	jobs -p | xargs -r kill 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TSDB"
	(exit $rc)
	cleanup
}
trap cleanup_prom EXIT INT TERM
rx() { ip netns exec "$RX" "$@"; }
port=$((20000 + $$ % 20000))
web=$((port + 1))
api() { rx curl -sf -G "http://127.0.0.1:$web/api/v1/$1" "${@:2}"; }

# The controller: a limited agent, one unlimited, a declared capacity and a
# bind socket (so the tuner's and the bind socket's series exist too).
POL=$TMPF.policy.yaml
write_policy "$POL" <<EOF
version: 1
host: { interfaces: [$DEV], capacity: { rate: 100kpps } }
identities:
  agent: { rate: 200pps, burst: 20, prefixes: [198.18.74.10/32] }
  steady: { rate: 10kpps, prefixes: [198.18.74.11/32] }
  idle: { rate: 5pps, burst_min: 5, burst_max: 50 }
EOF
serve_start "$TMPF.log" --policy "$POL" --metrics "127.0.0.1:$port" --bind-socket "$TMPF.sock" || exit 1

# 1. Prometheus scraping every second, with the shipped rules.
cat >"$TMPF.prom.yml" <<EOF
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: burstgate
    static_configs: [{ targets: ["127.0.0.1:$port"] }]
rule_files: ["$DEPLOY/prometheus/burstgate-rules.yml"]
EOF
# (ip netns exec execs it: its pid is prometheus's, which cleanup kills)
ip netns exec "$RX" prometheus --config.file="$TMPF.prom.yml" --storage.tsdb.path="$TSDB" \
	--web.listen-address="127.0.0.1:$web" --log.level=warn >"$TMPF.prom.log" 2>&1 &
PROM_PID=$!
for _ in $(seq 100); do
	rx curl -sf "http://127.0.0.1:$web/-/ready" >/dev/null 2>&1 && break
	sleep 0.1
done
check "prometheus is up" rx curl -sf "http://127.0.0.1:$web/-/ready"
for _ in $(seq 50); do
	[ "$(api query --data-urlencode 'query=up{job="burstgate"}' | json - "j['data']['result'][0]['value'][1] if j['data']['result'] else 0")" = 1 ] && break
	sleep 0.2
done
check "it scrapes the controller (up == 1)" \
	eq "$(api query --data-urlencode 'query=up{job="burstgate"}' | json - "j['data']['result'][0]['value'][1]")" 1

# 2. Under traffic: the agent at 1000 pps (5x its limit) for 10 s.
t0=$(date +%s)
send --dst 198.18.74.1 --port 9000 --src 198.18.74.10 --rate 1000 --duration 10 >"$TMPF.s" &
agent=$!
send --dst 198.18.74.1 --port 9000 --src 198.18.74.11 --rate 100 --duration 10 >/dev/null
wait $agent
sleep 2.5 # the last scrapes
mid=$((t0 + 8))
q() { api query --data-urlencode "query=$1" --data-urlencode "time=$mid" | json - "$2"; }
adm=$(q 'rate(burstgate_identity_packets_total{identity="agent",verdict="pass"}[6s])' "round(float(j['data']['result'][0]['value'][1]))")
drp=$(q 'rate(burstgate_identity_packets_total{identity="agent",verdict="drop"}[6s])' "round(float(j['data']['result'][0]['value'][1]))")
echo "Prometheus at t0+8 s: agent admitted $adm pps, dropped $drp pps (limit 200 pps, sent 1000 pps)"
check "rate(admitted) of the limited agent is its configured rate ($adm ~ 200 pps, 10 %)" within "$adm" 200 10
check "rate(dropped) is the rest ($drp ~ 800 pps, 10 %)" within "$drp" 800 10
steady=$(q 'rate(burstgate_identity_packets_total{identity="steady",verdict="pass"}[6s])' "round(float(j['data']['result'][0]['value'][1]))")
check "the unlimited identity at what it sent ($steady ~ 100 pps)" within "$steady" 100 10
ids=$(q 'count by (identity) (burstgate_identity_packets_total)' "sorted(r['metric']['identity'] for r in j['data']['result'])")
want=$(bctl -j stats | json - "sorted(i['identity'] for i in j['identities'])")
check "Prometheus knows exactly the identities of burstctl stats ($ids)" eq "$ids" "$want"
check "...and the limited one was flagged limited" \
	eq "$(q 'max_over_time(burstgate_identity_limited{identity="agent"}[8s])' "j['data']['result'][0]['value'][1]")" 1

# 3. promtool on what we export (after traffic and tuner steps: every
# series there is), and on what we ship.
rx curl -sf "http://127.0.0.1:$port/metrics" >"$TMPF.metrics"
promtool check metrics <"$TMPF.metrics" >"$TMPF.pc" 2>&1
check "promtool check metrics: no problem in the exposition" test $? = 0 -a ! -s "$TMPF.pc"
cat "$TMPF.pc"
check "promtool check rules: the shipped alert rules" promtool check rules "$DEPLOY/prometheus/burstgate-rules.yml"
check "promtool test rules: each alert fires when it should, not before" \
	promtool test rules "$DEPLOY/prometheus/burstgate-rules.test.yml"

# 4. The dashboard: the generator's output, and only metrics we export.
python3 "$DEPLOY/grafana/make_dashboard.py" "$TMPF.dash.json"
check "the dashboard JSON is what deploy/grafana/make_dashboard.py writes" \
	cmp -s "$TMPF.dash.json" "$DEPLOY/grafana/burstgate-dashboard.json"
/usr/bin/python3 "$ROOT/tests/tools/check_dashboard.py" "$DEPLOY/grafana/burstgate-dashboard.json" \
	"$TMPF.metrics" "$TMPF.queries" >"$TMPF.dc"
check "every dashboard query names metrics the exporter exports" test $? = 0
cat "$TMPF.dc"

# 5. The rules loaded, and every dashboard query runs.
check "the alert rules loaded, healthy" \
	eq "$(api rules | json - "[(g['name'], len(g['rules']), all(r['health'] == 'ok' for r in g['rules'])) for g in j['data']['groups']]")" "[('burstgate', 7, True)]"
nq=0 nbad=0
while IFS= read -r expr; do
	nq=$((nq + 1))
	if ! api query --data-urlencode "query=$expr" >/dev/null; then
		echo "  this dashboard query does not run: $expr"
		nbad=$((nbad + 1))
	fi
done <"$TMPF.queries"
check "all $nq dashboard queries run in Prometheus" eq "$nbad" 0
finish
