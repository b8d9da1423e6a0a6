#!/bin/bash
# vmtest: kernel (runs inside the VMs too: what it checks depends on the kernel)
# The policy and controller commands as a user meets them: errors with
# FILE:LINE:COLUMN, a refused apply that changes nothing, check's dry run,
# dump round-trips, help and JSON everywhere, the parts waiting for agent
# tokens said out loud, and `burstctl events` following a real episode.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
setup_topology 198.18.90 2001:db8:90
b() { bctl "$@"; }

fails() { # fails WHAT TEXT CMD...: CMD exits non-zero and says TEXT on stderr
	local what=$1 text=$2 rc
	shift 2
	"$@" >"$TMPF.out" 2>"$TMPF.err"
	rc=$?
	if [ $rc != 0 ] && grep -qF -- "$text" "$TMPF.err"; then
		echo "  ok    $what"
	else
		echo "  FAIL  $what (rc $rc): $(cat "$TMPF.err")"
		FAILS=$((FAILS + 1))
	fi
	CHECKS=$((CHECKS + 1))
}
valid_json() { "$@" | "$PY" -c 'import json,sys; json.load(sys.stdin)'; }

cat >"$TMPF.good.yaml" <<YAML
version: 1
controller:
  audit_log: $TMPF.audit.jsonl
default: { action: enforce, rate: 5kpps }
identities:
  agent: { rate: 100pps, burst: 10, prefixes: [198.18.90.10, '2001:db8:90::10'] }
  tuned: { rate: 1kpps, burst_min: 5, burst_max: 500, bytes_rate: 8mbit, prefixes: [198.18.90.11] }
YAML
: >"$TMPF.token"
cat >"$TMPF.tok.yaml" <<YAML
version: 1
host: { http_token_header: X-Agent-Token }
controller: { audit_log: $TMPF.audit.jsonl }
identities:
  agent: { token_files: ["$TMPF.token"] }
YAML
printf 'version: 1\nidentities:\n  agent:\n    rate: 100pps\n    burst: ten\n' >"$TMPF.bad.yaml"

fails "check: bad file named FILE:LINE:COL" "$TMPF.bad.yaml:5:12: burst \"ten\": not a number" \
	b policy check "$TMPF.bad.yaml"
check "check: good file" b policy check "$TMPF.good.yaml"
check "check: JSON" valid_json b -j policy check "$TMPF.good.yaml"
check "check says what waits for agent tokens (issue 3)" \
	eq "$(b -j policy check "$TMPF.tok.yaml" | json - "len([n for n in j['notes'] if 'issue 3' in n])")" 2
b policy apply "$TMPF.good.yaml" >/dev/null
check "check against the state: 0 changes" eq "$(b -j policy check "$TMPF.good.yaml" | json - "j['would_change']")" 0
before=$(b -j identity list)
fails "apply of a bad file is refused" "burst \"ten\"" b policy apply "$TMPF.bad.yaml"
check "a refused apply changed nothing" eq "$before" "$(b -j identity list)"
check "refusal audited" grep -q '"result":"refused"' "$TMPF.audit.jsonl"
check "default identity took the policy's limits" eq "$(b -j identity show default | json - "(j['action'], j['rate_pps'])")" "('enforce', 5000)"
b policy dump >"$TMPF.dump.yaml"
check "dump is a valid policy" b policy check "$TMPF.dump.yaml"
check "dump applied: 0 changes" eq "$(b -j policy apply "$TMPF.dump.yaml" | json - "j['changes_total']")" 0
check "dump keeps the tuner bounds" grep -q "burst_max: 500" "$TMPF.dump.yaml"
check "apply: JSON" valid_json b -j policy apply "$TMPF.good.yaml"

fails "serve without a policy" "missing --policy FILE" b serve
fails "serve --bind-socket: waits for agent tokens, said clearly" "issue 3" \
	b serve --policy "$TMPF.good.yaml" --bind-socket /run/x.sock
fails "serve with a bad policy: nothing started" ":5:12:" b serve --policy "$TMPF.bad.yaml"
fails "serve --metrics with a bad address" "expected ADDR:PORT" \
	b serve --policy "$TMPF.good.yaml" --metrics nowhere
fails "top: bad sort" "use rate or drops" b top sort speed
fails "events: bad count" "expected a whole number" b events count x
for obj in policy serve top events; do
	check "help: burstctl $obj help" b $obj help
done
check "top: JSON frames" eq "$(b -j top count 1 | json - "sorted(i['identity'] for i in j['identities'])")" \
	"['agent', 'default', 'tuned']"

# `burstctl events` follows one episode: limited, then cleared (quiet)
b attach "${P}b" >/dev/null
b -j events count 2 duration 15 >"$TMPF.events" 2>"$TMPF.events.err" &
EV=$!
sleep 0.5
fails "a second event reader is refused" "a ring has one reader" b events count 1
send --dst 198.18.90.1 --port 9000 --src 198.18.90.10 --count 200 >/dev/null
wait "$EV"
cat "$TMPF.events"
check "events: limited, then cleared after going quiet" \
	eq "$("$PY" -c '
import json,sys
v=[json.loads(l) for l in open(sys.argv[1])]
print([(e["identity"], e["event"]) for e in v], v[1].get("reason"), v[1]["limited_for_s"] >= 1)' "$TMPF.events")" \
	"[('agent', 'limited'), ('agent', 'cleared')] quiet True"
finish
