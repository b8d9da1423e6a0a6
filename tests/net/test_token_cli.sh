#!/bin/bash
# burstctl token and bind as a user meets them: tokens only from standard
# input or a file, never echoed back (not in output, JSON, errors or the
# maps), fingerprints instead, expiry, gc, the header config, bind errors,
# help and JSON everywhere. Real state in a private pin folder, no traffic.
. "$(dirname "$0")/lib.sh"
require_root
trap cleanup EXIT INT TERM
TMPF=$(mktemp /tmp/${P}.XXXXXX)
OUTS=$TMPF.all # every output and error of burstctl, searched for tokens at the end

b() {
	local rc
	"$BURSTCTL" -d "$PIN" "$@" >"$TMPF.bo" 2>"$TMPF.be"
	rc=$?
	cat "$TMPF.bo" "$TMPF.be" >>"$OUTS"
	cat "$TMPF.be" >&2
	cat "$TMPF.bo"
	return $rc
}

fails() {
	local what=$1 text=$2 rc
	shift 2
	"$@" >"$TMPF.out" 2>"$TMPF.err"
	rc=$?
	cat "$TMPF.out" "$TMPF.err" >>"$OUTS"
	if [ $rc != 0 ] && grep -qF -- "$text" "$TMPF.err"; then
		echo "  ok    $what"
	else
		echo "  FAIL  $what (rc $rc): $(cat "$TMPF.err")"
		FAILS=$((FAILS + 1))
	fi
	CHECKS=$((CHECKS + 1))
}
valid_json() { "$@" | "$PY" -S -E -c 'import json,sys; json.load(sys.stdin)'; }
newtok() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }

T1=$(newtok)
T2=$(newtok)
T3=$(newtok)
umask 077
printf '%s\n' "$T1" >"$TMPF.t1"
printf '%s\r\n' "$T2" >"$TMPF.t2" # a CRLF file works too
printf '%s\n' "$T3" >"$TMPF.t3"

b setup >/dev/null
b identity add agent-a rate 100pps >/dev/null
b identity add agent-b >/dev/null

fails "a token on the command line is refused, and not echoed" "never from the command line" \
	b token add identity agent-a "$T1"
check "... nor shown in the refusal" sh -c "! grep -qF -- '$T1' '$TMPF.err'"
fails "token add needs an identity" "missing \"identity NAME\"" b token add --token-file "$TMPF.t1"
fails "token add for a missing identity" "does not exist" b token add identity nobody --token-file "$TMPF.t1"
fails "ttl and expires together" "not both" b token add identity agent-a ttl 5m expires 2030-01-01T00:00:00Z
fails "bad ttl" "90s, 15m, 1h30m, 7d" b token add identity agent-a ttl 5 --token-file "$TMPF.t1" ttl 5x
fails "expires in the past" "not in the future" b token add identity agent-a expires 2001-01-01T00:00:00Z --token-file "$TMPF.t1"
fails "expires not RFC 3339" "RFC 3339" b token add identity agent-a expires tomorrow --token-file "$TMPF.t1"
fails "empty standard input" "no token on standard input" b token add identity agent-a </dev/null
fails "a token with a space" "byte 4 of 7 is whitespace" sh -c "printf 'abc def\n' | \"$BURSTCTL\" -d \"$PIN\" token add identity agent-a"
fails "two lines" "a second line" sh -c "printf 'abc\ndef\n' | \"$BURSTCTL\" -d \"$PIN\" token add identity agent-a"
fails "too long" "longer than the 512 bytes" sh -c "head -c 600 /dev/zero | tr '\\\\0' x | \"$BURSTCTL\" -d \"$PIN\" token add identity agent-a"
fails "a missing token file" "No such file" b token add identity agent-a --token-file "$TMPF.nope"

check "token add from a file" b token add identity agent-a --token-file "$TMPF.t1"
check "token add from standard input, with a ttl" sh -c "\"$BURSTCTL\" -d \"$PIN\" -j token add identity agent-b ttl 1h <'$TMPF.t2' >'$TMPF.add2'"
cat "$TMPF.add2" >>"$OUTS"
FP2=$(json "$TMPF.add2" "j['fingerprint']")
check "add reports a 12-digit fingerprint ($FP2)" "$PY" -c "import sys,re; sys.exit(not re.fullmatch('[0-9a-f]{12}', '$FP2'))"
check "add reports the expiry in about an hour" "$PY" -c "import sys; sys.exit(not 3590 <= $(json "$TMPF.add2" "j['expires_in_sec']") <= 3600)"
fails "the same token twice, even for another identity" "already registered" b token add identity agent-b --token-file "$TMPF.t1"
check "rotation: a second token for one identity" b token add identity agent-a --token-file "$TMPF.t3"

chmod 644 "$TMPF.t3"
"$BURSTCTL" -d "$PIN" token show --token-file "$TMPF.t3" >/dev/null 2>"$TMPF.err"
check "a token file others can read is warned about" grep -q "readable by group or others" "$TMPF.err"
chmod 600 "$TMPF.t3"

b -j token list >"$TMPF.list"
check "list has three tokens" eq "$(json "$TMPF.list" "len(j['tokens'])")" 3
check "list says whose, when created and expiring" eq "$(json "$TMPF.list" "sorted(j['tokens'][0].keys())")" \
	"['created_at', 'expired', 'expires_at', 'expires_in_sec', 'fingerprint', 'identity', 'identity_id', 'retiring']"
check "list by identity" eq "$(b -j token list identity agent-a | json - "len(j['tokens'])")" 2
check "show by fingerprint" eq "$(b -j token show "$FP2" | json - "j['identity']")" agent-b
check "show by token (standard input)" eq "$(b -j token show <"$TMPF.t1" | json - "j['identity']")" agent-a
fails "show of an unregistered token" "not registered" sh -c "printf 'nope\n' | \"$BURSTCTL\" -d \"$PIN\" token show"
fails "show of an unknown fingerprint" "no token has fingerprint" b token show 000000000000
fails "something that is not a fingerprint is not echoed" "not shown" b token show "$T1"
check "text list shows no token" sh -c "\"$BURSTCTL\" -d \"$PIN\" token list | grep -q agent-a"

# expiry and gc
printf '%s\n' "$(newtok)" >"$TMPF.t4"
check "a token with a 1 s ttl" b token add identity agent-b ttl 1s --token-file "$TMPF.t4"
sleep 1.5
check "past its ttl it lists as expired" eq "$(b -j token show --token-file "$TMPF.t4" | json - "j['expired']")" True
check "gc removes exactly the expired token" eq "$(b -j token gc | json - "j['tokens_removed']")" 1
fails "after gc it is gone" "not registered" b token show --token-file "$TMPF.t4"

# deletion
check "del by fingerprint" b token del "$FP2"
fails "del twice" "no token has fingerprint" b token del "$FP2"
check "del by token file" b token del --token-file "$TMPF.t3"
check "one token left" eq "$(b -j token list | json - "len(j['tokens'])")" 1
check "deleting an identity deletes its tokens" b identity del agent-a
check "no tokens left" eq "$(b -j token list | json - "len(j['tokens'])")" 0

# header config
check "config shows the default header" eq "$(b -j token config | json - "(j['header'], j['scheme'], j['http'])")" "('authorization', 'bearer', True)"
check "config: a custom header without scheme" b token config header X-Api-Key scheme none
check "config kept it" eq "$(b -j token config | json - "(j['header'], j['scheme'])")" "('x-api-key', None)"
fails "config: a bad header name" "cannot appear in a header name" b token config header "X Api"
fails "config: a bad idle" "not a duration" b token config http-idle soon
check "config: timeouts" b token config http-idle 2m bind-idle 1h
check "config: timeouts kept" eq "$(b -j token config | json - "(j['http_idle_sec'], j['bind_idle_sec'])")" "(120, 3600)"
check "config: back to the default" b token config header Authorization scheme Bearer

# bind from the command line: errors
printf '%s\n' "$(newtok)" >"$TMPF.t5"
b token add identity agent-b --token-file "$TMPF.t5" >/dev/null
fails "bind: missing keyword" "missing \"dport\"" b bind add proto tcp src 10.0.0.1 sport 1 dst 10.0.0.2 --token-file "$TMPF.t5"
fails "bind: mixed families" "src is IPv4 and dst IPv6" b bind add proto tcp src 10.0.0.1 sport 1 dst 2001:db8::1 dport 2 --token-file "$TMPF.t5"
fails "bind: unknown token" "unknown token" sh -c "printf 'nope\n' | \"$BURSTCTL\" -d \"$PIN\" bind add proto tcp src 10.0.0.1 sport 1 dst 10.0.0.2 dport 2"
fails "bind: a stray argument is not echoed" "unexpected argument" b bind add proto tcp src 10.0.0.1 sport 1 dst 10.0.0.2 dport 2 "$T1"
check "bind add" b bind add proto tcp src 10.0.0.1 sport 1000 dst 10.0.0.2 dport 443 idle 5m --token-file "$TMPF.t5"
b -j bind list >"$TMPF.bl"
check "bind list shows it, bound to agent-b" eq "$(json "$TMPF.bl" "[(e['source'], e['identity'], e['sport'], e['idle_timeout_sec']) for e in j['flows']]")" "[('bind', 'agent-b', 1000, 300)]"
check "bind del" b bind del proto tcp src 10.0.0.1 sport 1000 dst 10.0.0.2 dport 443
fails "bind del twice" "not in the flow table" b bind del proto tcp src 10.0.0.1 sport 1000 dst 10.0.0.2 dport 443
fails "bind serve: bad group" "no such group" b bind serve socket "$TMPF.sock" group no-such-group-bg

for cmd in "token list" "token config" "token gc" "bind list" "stats"; do
	# shellcheck disable=SC2086
	check "JSON from: $cmd" valid_json b -j $cmd
done
for obj in token bind; do
	check "help: burstctl $obj help" b $obj help
done
check "stats has the http and flow counters" eq "$(b -j stats | json - "sorted(j['counters']['http'].keys()) + sorted(j['counters']['flow'].keys())")" \
	"['bad_value', 'expired_token', 'no_header', 'oversized', 'requests', 'truncated', 'unknown_token', 'expired', 'syn_reset']"

# Not a single token in anything burstctl said, nor in any map.
for t in "$T1" "$T2" "$T3" "$(cat "$TMPF.t4")" "$(cat "$TMPF.t5")"; do
	check "token ${t:0:4}... never in burstctl's output" sh -c "! grep -qF -- '$t' '$OUTS'"
	check "token ${t:0:4}... in no map" sh -c "! bpftool map dump pinned '$PIN/bg_tokens' | grep -qF -- '$t' && ! bpftool map dump pinned '$PIN/bg_flows' | grep -qF -- '$t'"
done
check "the maps are root-only" eq "$(command stat -c %a "$PIN")" 700
finish
