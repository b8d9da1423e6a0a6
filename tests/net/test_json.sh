#!/bin/bash
# burstctl's one grammar and one JSON, as docs/json.md promises them: every
# command's -j output checked against the schema on that page; errors as
# {"error": ...} on stdout with the documented exit status (the same as in
# text mode); help, -h and --help at every level and position; detach and
# teardown of what is already gone succeed. Real state in a private pin
# folder and one veth (attach, bind); no traffic.
. "$(dirname "$0")/lib.sh"
require_root
setup_topology 10.77.1 fd77:1
SCHEMA=$ROOT/docs/json.md
VALIDATE=("$PY" -S -E "$ROOT/tests/tools/json_schema.py" "$SCHEMA")
COVERED=" "

ok() { echo "  ok    $1"; CHECKS=$((CHECKS + 1)); }
bad() { echo "  FAIL  $1"; FAILS=$((FAILS + 1)); CHECKS=$((CHECKS + 1)); }

# js CMD ARGS...: `burstctl -j ARGS` exits 0 and prints what the schema of CMD says
js() {
	local cmd=$1 rc
	shift
	bctl -j "$@" >"$TMPF.out" 2>"$TMPF.err" </dev/null
	rc=$?
	if [ $rc != 0 ]; then
		bad "$cmd: \`$*\` exited $rc: $(head -c 300 "$TMPF.err" "$TMPF.out")"
	elif "${VALIDATE[@]}" check "$cmd" "$TMPF.out" >"$TMPF.why"; then
		ok "$cmd: \`$*\` matches docs/json.md"
	else
		bad "$cmd: \`$*\`: $(cat "$TMPF.why")"
	fi
	COVERED+="$cmd "
}

# fails RC ARGS...: exits RC; under -j the answer is {"error": ...} alone
# on stdout, and the text mode says the same on stderr with the same status
fails() {
	local want=$1 rc rc_text
	shift
	bctl -j "$@" >"$TMPF.out" 2>"$TMPF.err" </dev/null
	rc=$?
	bctl "$@" >/dev/null 2>"$TMPF.txt" </dev/null
	rc_text=$?
	if [ "$rc" != "$want" ] || [ "$rc_text" != "$want" ]; then
		bad "\`$*\`: exit $rc (text: $rc_text), want $want"
	elif ! "${VALIDATE[@]}" check version "$TMPF.out" >"$TMPF.why" ||
		! grep -q '^{"error":' "$TMPF.out"; then
		bad "\`$*\`: not {\"error\": ...}: $(cat "$TMPF.out" "$TMPF.why")"
	elif ! grep -qF "$(json "$TMPF.out" "j['error'][:40]")" "$TMPF.txt"; then
		bad "\`$*\`: text mode says something else: $(cat "$TMPF.txt")"
	else
		ok "\`$*\` exits $want with $(head -c 90 "$TMPF.out")"
	fi
}

check "the schema page obeys its own naming rules" "${VALIDATE[@]}" lint

echo "# no state yet"
js status status
js teardown teardown
check "teardown without a state: result absent" eq "$(json "$TMPF.out" "j['result']")" absent
fails 2 stats

echo "# objects"
js setup setup max-identities 8
js setup setup
check "setup again: kept" eq "$(json "$TMPF.out" "j['result']")" kept
js "identity add" identity add alpha rate 1kpps burst 100 bytes-rate 10mbit
js "identity add" identity add beta
js "identity set" identity set beta action shadow
js "identity show" identity show alpha
js "prefix add" prefix add 10.77.1.0/28 identity alpha
js "prefix add" prefix add 10.77.1.0/28 identity alpha
check "prefix add again: unchanged" eq "$(json "$TMPF.out" "j['result']")" unchanged
js "prefix add" prefix add fd77:1::10 identity beta
js "prefix list" prefix list
js "identity list" identity list
check "identity list: the prefixes of each identity" \
	eq "$(json "$TMPF.out" "[i['prefixes'] for i in j['identities']]")" \
	"[[], ['10.77.1.0/28'], ['fd77:1::10/128']]"
echo tok-json-test-1 >"$TMPF.tok1"
chmod 600 "$TMPF.tok1"
js "token add" token add identity alpha ttl 1h --token-file "$TMPF.tok1"
fp=$(json "$TMPF.out" "j['fingerprint']")
echo tok-json-test-2 | bctl token add identity beta >/dev/null
js "token show" token show "$fp"
js "token list" token list
js "token list" token list identity beta
js "token config" token config
js "token config" token config http-idle 2m
js "config show" config show
js "config set" config set malformed pass
js "bind add" bind add proto tcp src 10.77.1.10 sport 40000 dst 10.77.1.1 dport 80 --token-file "$TMPF.tok1"
js "bind list" bind list
js "bind del" bind del proto tcp src 10.77.1.10 sport 40000 dst 10.77.1.1 dport 80
js "token gc" token gc
printf 'tok-json-test-3\n' >"$TMPF.tok3"
js "token rotate" token rotate identity beta grace 1m --token-file "$TMPF.tok3"
js audit audit
js audit audit --identity beta --event token_rotate --since 1h
check "audit: the rotate is one record" eq "$(json "$TMPF.out" "j['record_count']")" 1
"${VALIDATE[@]}" check "audit log" "$BURSTGATE_AUDIT_LOG" >"$TMPF.why" &&
	ok "token commands' audit log: each line matches docs/json.md" || bad "audit log: $(cat "$TMPF.why")"
js stats stats
js stats stats identity alpha
js top top count 1 interval 1
printf 'identity add gamma rate 5pps\nprefix add 10.77.1.32/28 identity gamma\n' >"$TMPF.batch"
js batch batch "$TMPF.batch"
js "attach" attach "${P}b" mode skb
js "attach" attach "${P}b" mode skb
check "attach again: the program swapped in place" eq "$(json "$TMPF.out" "j['result']")" updated
js status status
js "policy dump" policy dump
json "$TMPF.out" "json.dumps(j['policy'])" >"$TMPF.dump.json"
js "policy check" policy check "$TMPF.dump.json"
bctl policy dump >"$TMPF.dump.yaml"
check "the JSON dump is a policy: it plans what the YAML dump plans" \
	eq "$(json "$TMPF.out" "j['changes']")" "$(bctl -j policy check "$TMPF.dump.yaml" | json - "j['changes']")"
cat >"$TMPF.pol.yaml" <<EOF
version: 1
host:
  interfaces: [${P}b]
controller:
  audit_log: $TMPF.audit
default: { action: allow }
identities:
  alpha: { rate: 1kpps, burst: 100, prefixes: [10.77.1.0/28], token_files: [$TMPF.tok1] }
  delta: { rate: 50pps, action: shadow }
EOF
js "policy check" policy check "$TMPF.pol.yaml"
js "policy apply" policy apply "$TMPF.pol.yaml"
"${VALIDATE[@]}" check "audit log" "$TMPF.audit" >"$TMPF.why" &&
	ok "audit log: each line matches docs/json.md" || bad "audit log: $(cat "$TMPF.why")"
COVERED+="audit log "
# fleet mode (docs/fleet.md): no engine needed to show this host's side
sed "s|^identities:|fleet: { engine: \"unix:$TMPF.nosock\", host: json-test }\nidentities:\n  epsilon: { rate: 100pps, scope: global }|" \
	"$TMPF.pol.yaml" >"$TMPF.fleet.yaml"
js "policy apply" policy apply "$TMPF.fleet.yaml"
js fleet fleet status
js status status
check "status: the fleet, one global identity in safe mode" \
	eq "$(json "$TMPF.out" "j['fleet']['modes']['safe']")" 1
js "token del" token del "$fp"
js "identity del" identity del delta
js "prefix del" prefix del 10.77.1.0/28
js detach detach "${P}b"
js detach detach "${P}b"
check "detach again: not_attached, and still success" eq "$(json "$TMPF.out" "j['result']")" not_attached
js version version

echo "# errors: {\"error\"} and the documented exit status"
fails 22 identity add x rate 5x
fails 22 identity frobnicate
fails 22 token add identity alpha ttl 0s
fails 2 identity show nobody
fails 2 prefix del 10.99.0.0/16
fails 2 detach "${P}nosuch"
fails 17 identity add alpha
fails 17 setup max-identities 16
for n in 3 4 5 6 7 8; do bctl identity add "fill$n" >/dev/null; done
fails 28 identity add onemore
fails 1 attach lo mode native
fails 22 -d /tmp/"${P}notbpf" setup
mkdir -p "$PIN/events"
# flock holds the event reader's lock as `burstctl events` would
# flock(1) holds the event reader's lock, as a running `burstctl events` would
flock -n "$PIN/events" nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$PIN" -j teardown >"$TMPF.out" 2>&1
rc=$?
if [ $rc = 16 ] && grep -q '^{"error":' "$TMPF.out"; then
	ok "teardown while the state is held: exit 16 (busy), {\"error\"}"
else
	bad "teardown while held: exit $rc: $(cat "$TMPF.out")"
fi
"$BURSTCTL" -j -x >"$TMPF.out" 2>/dev/null
rc=$?
check "an unknown option under -j: exit 22, {\"error\"}" \
	sh -c "[ $rc = 22 ] && grep -q '^{\"error\":\"unknown option' '$TMPF.out'"

echo "# help everywhere"
# help_ok [-j] ARGS...: `burstctl ARGS` prints usage and exits 0 (-j: also
# `burstctl -j ARGS` prints {"help": "Usage: ..."})
help_ok() {
	local out rc j=0
	[ "$1" = -j ] && j=1 && shift
	out=$("$BURSTCTL" "$@" 2>&1)
	rc=$?
	[ $rc = 0 ] && [[ "$out" == Usage:* ]] || { bad "\`burstctl $*\`: exit $rc, $(echo "$out" | head -2)"; return; }
	if [ $j = 1 ] && ! "$BURSTCTL" -j "$@" 2>/dev/null | grep -q '^{"help":"Usage: '; then
		bad "\`burstctl -j $*\`: not {\"help\": ...}"
		return
	fi
	HELPS=$((HELPS + 1))
}
HELPS=0 FAILS0=$FAILS
forms=(help --help -h)
# the objects and their commands, as `burstctl help` lists them; every
# object with each form, each command with one (in turn) and after an argument
"$BURSTCTL" help | awk '/^Objects and commands:/ { on = 1; next } /^$/ { on = 0 } on' >"$TMPF.objs"
n=0
while read -r obj second _; do
	help_ok -j "$obj" help
	help_ok "$obj" --help
	help_ok "$obj" -h
	if [[ "$second" =~ ^[a-z]+(\|[a-z]+)+$ ]]; then
		for c in ${second//|/ }; do
			n=$((n + 1))
			help_ok -j "$obj" "$c" "${forms[n % 3]}"
			help_ok "$obj" "$c" some-name --help
		done
	else
		help_ok "$obj" some-arg -h
	fi
done <"$TMPF.objs"
for h in help --help -h; do help_ok "$h"; done
[ "$FAILS" = "$FAILS0" ] && ok "help, --help and -h at every level and position ($HELPS forms)"
check "\`identity add help\` is help, not an identity named help" \
	eq "$(bctl identity list | grep -c ' help ')" 0

echo "# every command has a schema, and was checked here"
"${VALIDATE[@]}" commands >"$TMPF.cmds"
missing=""
while read -r obj second _; do
	if [[ "$second" =~ ^[a-z]+(\|[a-z]+)+$ ]]; then
		for c in ${second//|/ }; do
			grep -qx "$obj $c" "$TMPF.cmds" || missing+=" '$obj $c'"
		done
	else
		grep -qx "$obj" "$TMPF.cmds" || missing+=" '$obj'"
	fi
done <"$TMPF.objs"
# serve and bind serve are daemons: they print logs, not an answer
missing=${missing//\'serve\'/}
missing=${missing//\'bind serve\'/}
check "every command of \`burstctl help\` has a schema in docs/json.md (missing:${missing:- none})" \
	eq "${missing// /}" ""
notrun=""
for c in $(tr ' ' '_' <"$TMPF.cmds"); do
	# events: checked where there is traffic to make events (test_policy_cli)
	[[ "$COVERED" == *" ${c//_/ } "* ]] || [ "$c" = events ] || notrun+=" $c"
done
check "every schema was checked against real output (not run:${notrun:- none})" eq "$notrun" ""

js teardown teardown
check "teardown removed the state" test ! -e "$PIN"
finish
