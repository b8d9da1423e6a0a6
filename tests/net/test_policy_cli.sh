#!/bin/bash
# The policy and controller commands as a user meets them: errors with
# FILE:LINE:COLUMN, a refused apply that changes nothing, check's dry run,
# dump round-trips (token files and header included), help and JSON
# everywhere, token files checked with positions and never echoed, and
# `burstctl events` following a real episode.
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
valid_json() { "$@" | "$PY" -S -E -c 'import json,sys; json.load(sys.stdin)'; }

cat >"$TMPF.good.yaml" <<YAML
version: 1
controller:
  audit_log: $TMPF.audit.jsonl
default: { action: enforce, rate: 5kpps }
identities:
  agent: { rate: 100pps, burst: 10, prefixes: [198.18.90.10, '2001:db8:90::10'] }
  tuned: { rate: 1kpps, burst_min: 5, burst_max: 500, bytes_rate: 8mbit, prefixes: [198.18.90.11] }
YAML
umask 077
printf 's3cr3t-cli-1\n# rotated in next week:\ns3cr3t-cli-2\n' >"$TMPF.token"
printf '# nothing yet\n' >"$TMPF.empty"
printf 'good-one\nbad s3cr3t-cli\n' >"$TMPF.spacey"
tokpolicy() { # tokpolicy FILE: agent's token file
	cat <<YAML
version: 1
host: { http_token_header: X-Agent-Token, http_token_scheme: none }
controller: { audit_log: $TMPF.audit.jsonl }
identities:
  agent: { rate: 100pps, burst: 10, prefixes: [198.18.90.10, '2001:db8:90::10'], token_files: ["$1"] }
  tuned: { rate: 1kpps, burst_min: 5, burst_max: 500, bytes_rate: 8mbit, prefixes: [198.18.90.11] }
YAML
}
tokpolicy "$TMPF.token" >"$TMPF.tok.yaml"
tokpolicy "$TMPF.empty" >"$TMPF.tokempty.yaml"
tokpolicy "$TMPF.spacey" >"$TMPF.tokbad.yaml"
printf 'version: 1\nidentities:\n  agent:\n    rate: 100pps\n    burst: ten\n' >"$TMPF.bad.yaml"

fails "check: bad file named FILE:LINE:COL" "$TMPF.bad.yaml:5:12: burst \"ten\": not a number" \
	b policy check "$TMPF.bad.yaml"
check "check: good file" b policy check "$TMPF.good.yaml"
check "check: JSON" valid_json b -j policy check "$TMPF.good.yaml"
check "check reads the token files: 2 tokens in 1 file" \
	eq "$(b -j policy check "$TMPF.tok.yaml" | json - "(j['token_count'], j['token_file_count'])")" "(2, 1)"
fails "check: a token file without a token, at the policy's entry" \
	"tokempty.yaml:5:96: token file $TMPF.empty: holds no token" b policy check "$TMPF.tokempty.yaml"
fails "check: a bad token, by line and byte, never echoed" \
	"token file $TMPF.spacey: line 2: after the token (byte 4) comes something other than expires=TIME (10 bytes, not shown" b policy check "$TMPF.tokbad.yaml"
check "... the token is not in the message" sh -c "! grep -q s3cr3t '$TMPF.err'"
b policy apply "$TMPF.good.yaml" >/dev/null
check "check against the state: 0 changes" eq "$(b -j policy check "$TMPF.good.yaml" | json - "j['change_count']")" 0
before=$(b -j identity list)
fails "apply of a bad file is refused" "burst \"ten\"" b policy apply "$TMPF.bad.yaml"
check "a refused apply changed nothing" eq "$before" "$(b -j identity list)"
check "refusal audited" grep -q '"result":"refused"' "$TMPF.audit.jsonl"
# a refused apply creates no state, not even the one it made for itself
NEWPIN=/sys/fs/bpf/${P}_new
cat >"$TMPF.big.yaml" <<YAML
version: 1
host: { max_identities: 3 }
controller: { audit_log: $TMPF.audit.jsonl }
identities:
  a: { rate: 1pps }
  b: { rate: 1pps }
  c: { rate: 1pps }
YAML
fails "apply too large for the state it creates: refused" "holds at most 3" \
	"$BURSTCTL" -d "$NEWPIN" policy apply "$TMPF.big.yaml"
check "... and no state is left behind" test ! -e "$NEWPIN"
sed 's/^  c: .*/  c: { rate: 1pps, token_files: [\/nonexistent\/bg-tokens] }/; s/max_identities: 3/max_identities: 8/' \
	"$TMPF.big.yaml" >"$TMPF.notok.yaml"
fails "apply with a missing token file, no state yet: refused" "/nonexistent/bg-tokens" \
	"$BURSTCTL" -d "$NEWPIN" policy apply "$TMPF.notok.yaml"
check "... and no state is left behind" test ! -e "$NEWPIN"
"$BURSTCTL" -d "$NEWPIN" teardown >/dev/null 2>&1
check "default identity took the policy's limits" eq "$(b -j identity show default | json - "(j['action'], j['rate_pps'])")" "('enforce', 5000)"
b policy dump >"$TMPF.dump.yaml"
check "dump is a valid policy" b policy check "$TMPF.dump.yaml"
check "dump applied: 0 changes" eq "$(b -j policy apply "$TMPF.dump.yaml" | json - "j['change_count']")" 0
check "dump keeps the tuner bounds" grep -q "burst_max: 500" "$TMPF.dump.yaml"

# tokens: apply, check shows fingerprints, dump round-trips with the token files
before=$(b -j token list)
fails "apply of a bad token file is refused" "line 2: after the token (byte 4)" b policy apply "$TMPF.tokbad.yaml"
check "... and changed nothing" eq "$before" "$(b -j token list)"
check "check: would add 2 tokens" eq "$(b -j policy check "$TMPF.tok.yaml" | json - "j['token_changes']['added']")" 2
b -j policy apply "$TMPF.tok.yaml" >"$TMPF.apply.json"
fps=$(b -j token list | json - "' '.join(sorted(t['fingerprint'] for t in j['tokens'] if t['identity'] == 'agent'))")
check "apply: 2 tokens for agent" eq "$(echo "$fps" | wc -w)" 2
check "apply: each token added by fingerprint, with its file and line" eq \
	"$(json "$TMPF.apply.json" "' '.join(sorted(c['change'].split()[1] for c in j['changes'] if c['kind'] == 'token_added'))")" "$fps"
check "apply: no token in the output or the audit log" sh -c "! grep -q s3cr3t '$TMPF.apply.json' '$TMPF.audit.jsonl'"
check "apply: the header is in force" eq "$(b -j token config | json - "(j['header'], j['scheme'])")" "('x-agent-token', None)"
b policy dump >"$TMPF.dump2.yaml"
check "dump: the token file recorded at apply" grep -qF "token_files: [\"$TMPF.token\"]" "$TMPF.dump2.yaml"
check "dump: the header as the policy spelt it" grep -q "http_token_header: X-Agent-Token" "$TMPF.dump2.yaml"
check "dump: no token in it" sh -c "! grep -q s3cr3t '$TMPF.dump2.yaml'"
check "dump round-trips: check against the state, 0 changes" \
	eq "$(b -j policy check "$TMPF.dump2.yaml" | json - "(j['change_count'], j['token_changes']['unchanged'])")" "(0, 2)"
check "dump round-trips: apply, 0 changes" eq "$(b -j policy apply "$TMPF.dump2.yaml" | json - "j['change_count']")" 0
b policy apply "$TMPF.good.yaml" >"$TMPF.back.txt"
check "token_files dropped: the tokens go, said by fingerprint" \
	eq "$(grep -c "removed from agent (the identity's token_files are no longer given)" "$TMPF.back.txt")" 2
check "... and the header is the default again" eq "$(b -j token config | json - "j['header']")" authorization
check "apply: JSON" valid_json b -j policy apply "$TMPF.good.yaml"

# token files: a line may end in expires=TIME; a line past it is not registered
later=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
evenlater=$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)
printf 's3cr3t-exp-1 expires=%s\ns3cr3t-exp-2\ns3cr3t-exp-3 expires=2001-01-01T00:00:00Z\n' "$later" >"$TMPF.exptok"
tokpolicy "$TMPF.exptok" >"$TMPF.exptok.yaml"
b -j policy apply "$TMPF.exptok.yaml" >"$TMPF.exptok.json"
check "token file expiry: the dated token expires then, the other never" \
	eq "$(b -j token list | json - "sorted(str(t['expires_at']) for t in j['tokens'] if t['identity'] == 'agent')")" \
	"['$later', 'None']"
check "token file expiry: the line already past it is not registered, and said so" \
	grep -q "1 token past its expires= not registered ($TMPF.exptok line 3)" "$TMPF.exptok.json"
sed -i "s/expires=$later/expires=$evenlater/" "$TMPF.exptok"
check "token file expiry: a new expiry is a change, said as such" \
	eq "$(b -j policy apply "$TMPF.exptok.yaml" | json - "[c['change'].split(': ', 1)[1] for c in j['changes']]")" \
	"['expires $evenlater ($TMPF.exptok line 1)']"
check "token file expiry: ... and in force" \
	eq "$(b -j token list | json - "sorted(str(t['expires_at']) for t in j['tokens'] if t['identity'] == 'agent')")" \
	"['$evenlater', 'None']"
soon=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%SZ)
printf 's3cr3t-exp-4 expires=%s\n' "$soon" >"$TMPF.exptok"
b policy apply "$TMPF.exptok.yaml" >/dev/null
check "token file expiry: live before its time" \
	eq "$(b -j token list identity agent | json - "[t['expired'] for t in j['tokens']]")" "[False]"
sleep 5
check "token file expiry: dead after it, in the data plane's clock (no reload)" \
	eq "$(b -j token list identity agent | json - "[t['expired'] for t in j['tokens']]")" "[True]"
b policy apply "$TMPF.good.yaml" >/dev/null

# host.on_token_expired: block brings its identity; in the plan, the state, the dump
sed 's/^version: 1$/version: 1\nhost: { on_token_expired: block }/' "$TMPF.good.yaml" >"$TMPF.exp.yaml"
check "on_token_expired: check plans the identity and the host change" \
	eq "$(b -j policy check "$TMPF.exp.yaml" | json - "sorted(c['kind'] for c in j['changes'])")" \
	"['host_changed', 'identity_added']"
b policy apply "$TMPF.exp.yaml" >/dev/null
check "on_token_expired: in force (token config)" \
	eq "$(b -j token config | json - "j['on_token_expired']")" expired-tokens
check "on_token_expired: its identity blocks" eq "$(b -j identity show expired-tokens | json - "j['action']")" block
b policy dump >"$TMPF.dump3.yaml"
check "on_token_expired: dumped" grep -qE "on_token_expired: \"?expired-tokens" "$TMPF.dump3.yaml"
check "on_token_expired: the dump applies with 0 changes" \
	eq "$(b -j policy apply "$TMPF.dump3.yaml" | json - "j['change_count']")" 0
check "on_token_expired: gone with the policy's line" \
	eq "$(b policy apply "$TMPF.good.yaml" >/dev/null; b -j token config | json - "j['on_token_expired']")" default

fails "serve without a policy" "missing --policy FILE" b serve
fails "serve --bind-socket: an absolute path" "must be an absolute path" \
	b serve --policy "$TMPF.good.yaml" --bind-socket x.sock
fails "serve --bind-socket-group alone" "needs --bind-socket PATH" \
	b serve --policy "$TMPF.good.yaml" --bind-socket-group root
fails "serve with a bad policy: nothing started" ":5:12:" b serve --policy "$TMPF.bad.yaml"
fails "serve --metrics with a bad address" "expected ADDR:PORT" \
	b serve --policy "$TMPF.good.yaml" --metrics nowhere
# under systemd every line carries its syslog priority, the library's errors too
cat >"$TMPF.notok.yaml" <<YAML
version: 1
identities:
  a:
    rate: 10pps
    token_files: [$TMPF.missing-tokens]
YAML
fails "serve under journald: the error at priority 3 (err)" "<3>serve: $TMPF.notok.yaml:5:19: token file \"$TMPF.missing-tokens\": No such file" \
	env JOURNAL_STREAM=1:1 "$BURSTCTL" -d "$PIN" serve --policy "$TMPF.notok.yaml"
fails "top: bad sort" "use rate or drops" b top sort speed
fails "events: bad count" "expected a whole number" b events count x
for obj in policy serve top events; do
	check "help: burstctl $obj help" b $obj help
done
check "help: burstctl serve --help, as a daemon's users type it" sh -c "'$BURSTCTL' serve --help | grep -q 'Usage: burstctl serve --policy FILE'"
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
print([(e["identity"], e["event"]) for e in v], v[1].get("reason"), v[1]["limited_for_sec"] >= 1)' "$TMPF.events")" \
	"[('agent', 'limited'), ('agent', 'cleared')] quiet True"
check "events: each line matches docs/json.md" schema events "$TMPF.events"

# nobody reads the ring: an episode's "limited" waits there. A new reader is
# live: it does not show it, and says so; since replays it.
send --dst 198.18.90.1 --port 9000 --src 198.18.90.10 --count 200 >/dev/null
b events duration 2 >"$TMPF.ev.live" 2>"$TMPF.ev.live.err"
check "events: live by default: the older event is not shown" sh -c "! grep -q ' limited ' '$TMPF.ev.live'"
check "events: ... and it says so" grep -q "1 event from before this started not shown" "$TMPF.ev.live.err"
send --dst 198.18.90.1 --port 9000 --src 198.18.90.10 --count 200 >/dev/null
sleep 1
b -j events since 1m count 1 duration 5 >"$TMPF.ev.since"
check "events since 1m: replays the event from before it started" \
	eq "$(json "$TMPF.ev.since" "(j['identity'], j['event'])")" "('agent', 'limited')"
finish
