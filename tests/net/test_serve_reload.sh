#!/bin/bash
# The controller under traffic: reloads (file change and SIGHUP) keep the
# buckets and counters of identities that stay, drop nothing of an
# unchanged identity, add and remove the rest; a bad policy changes
# nothing; every change is logged and audited; a second controller on the
# same state is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
setup_topology 198.18.40 2001:db8:40
POL=$TMPF.policy.yaml
AUDIT=$TMPF.audit.jsonl

policy() { # policy AGENT_RATE EXTRA_IDENTITY
	write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b]
controller:
  audit_log: $AUDIT
identities:
  steady:
    rate: 3000pps
    burst: 300
    prefixes: [198.18.40.10]
  agent:
    rate: $1
    burst: 50
    prefixes: [198.18.40.11]
$2
YAML
}

policy 500pps "  gone: { action: block, prefixes: [198.18.40.12] }"
serve_start "$TMPF.log" --policy "$POL" || exit 1
check "controller attached where the policy says" \
	eq "$(bctl -j status | json - "j['attached'][0]['interface']")" "${P}b"
check "gone exists before the reload" bctl identity show gone

# A second controller on the same state is refused, and says who runs it.
nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$PIN" serve --policy "$POL" 2>"$TMPF.second"
rc=$?
check "second controller refused (rc $rc)" test "$rc" != 0
check "refusal names the running one" grep -q "another controller (pid $SERVE_PID) already serves" "$TMPF.second"

recv_start "$TMPF.r" --port 9000 --bind 198.18.40.1 --duration 20 --idle-ms 2000 || exit 1
R=$!
# steady: 1000 pps, a third of its limit: nothing may drop, reloads or not
send --dst 198.18.40.1 --port 9000 --src 198.18.40.10 --rate 1000 --duration 5 >"$TMPF.steady" &
S1=$!
# agent: 1500 pps against 500 pps, then against 1000 pps
send --dst 198.18.40.1 --port 9000 --src 198.18.40.11 --rate 1500 --duration 5 >"$TMPF.agent" &
S2=$!
sleep 1.5
# reload 1: the file changes (agent's rate, gone removed, newbie added)
policy 1000pps "  newbie: { rate: 100pps, prefixes: [198.18.40.13] }"
wait_log "$TMPF.log" "changed: reloading" 5
wait_log "$TMPF.log" "identity agent: rate 500pps -> 1kpps" 5
passed_mid=$(stat steady passed_pkts)
sleep 1
# reload 2: SIGHUP, same file: nothing to change
kill -HUP "$SERVE_PID"
wait_log "$TMPF.log" "applied \(SIGHUP\): 0 changes" 5
# reload 3: a bad file: refused, the state stays
before=$(bctl -j identity list)
printf 'version: 1\nidentities:\n  agent:\n    rate: 10 mbit\n' | write_policy "$POL"
wait_log "$TMPF.log" "reload refused" 5
after=$(bctl -j identity list)
wait $S1 $S2
wait "$R"

cat "$TMPF.log"
sent=$(json "$TMPF.steady" "j['sent']")
got=$(json "$TMPF.r" "j['by_source'].get('198.18.40.10',0)")
check "steady: every packet delivered across three reloads ($got of $sent)" eq "$got" "$sent"
check "steady: no drop" eq "$(stat steady dropped_pkts)" 0
check "steady: counter kept across reloads (counts all $sent)" eq "$(stat steady passed_pkts)" "$sent"
check "steady: counter was counting before the reload ($passed_mid)" le 1000 "$passed_mid"
asent=$(json "$TMPF.agent" "j['sent']")
check "agent: counters kept (passed + dropped = all $asent sent)" \
	eq $(($(stat agent passed_pkts) + $(stat agent dropped_pkts))) "$asent"
check "agent: new rate in force" eq "$(bctl -j identity show agent | json - "j['rate_pps']")" 1000
check "gone: removed" eq "$(bctl -j identity list | json - "'gone' in [i['identity'] for i in j['identities']]")" False
check "newbie: added with its prefix" eq "$(bctl -j prefix list identity newbie | json - "j['prefixes'][0]['prefix']")" 198.18.40.13/32
check "bad policy changed nothing" eq "$before" "$after"
check "log: one line per change (gone removed)" grep -q "identity gone removed" "$TMPF.log"
check "log: bad file named with line and column" grep -q "reload refused.*:4:11: rate \"10 mbit\"" "$TMPF.log"
check "audit: one line per apply or refusal (4)" eq "$(wc -l <"$AUDIT")" 4
check "audit: lines are JSON with who/when/what" \
	eq "$("$PY" -c '
import json,sys
v=[json.loads(l) for l in open(sys.argv[1])]
print(",".join(x["who"]["via"]+":"+x["result"] for x in v), all("time" in x for x in v))' "$AUDIT")" \
	"start:applied,file-change:applied,SIGHUP:applied,file-change:refused True"
check "audit: SIGHUP sender recorded" \
	eq "$(sed -n 3p "$AUDIT" | json - "j['who']['pid']")" "$$"
check "audit: each line matches docs/json.md" schema "audit log" "$AUDIT"

# Changes by hand under a controller: made, and warned that its next reload reverts them
for cmd in "identity set agent rate 900pps" "identity add handmade" "prefix add 198.18.40.99 identity handmade" \
	"prefix del 198.18.40.99" "identity del handmade" "config set malformed pass"; do
	# shellcheck disable=SC2086
	bctl $cmd >/dev/null 2>"$TMPF.hand.err"
	check "under a controller, \`$cmd\` warns: its next reload reverts it" \
		grep -q "a controller (\`burstctl serve\`, pid [0-9]*) manages this state from its policy file: its next reload reverts this change" "$TMPF.hand.err"
done
bctl identity set agent rate 1kpps >/dev/null 2>&1

# Stopping leaves enforcement running; the program stays attached.
serve_stop
check "stopped: log says enforcement continues" grep -q "enforcement continues" "$TMPF.log"
check "stopped: still attached" eq "$(bctl -j status | json - "len(j['attached'])")" 1
finish
