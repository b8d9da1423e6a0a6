#!/bin/bash
# burstctl as a user meets it: errors that name the bad argument and what
# is accepted, help at every level, JSON from every command, capacity
# limits, and teardown. Real state in a private pin folder, no traffic.
. "$(dirname "$0")/lib.sh"
require_root
trap cleanup EXIT INT TERM
TMPF=$(mktemp /tmp/${P}.XXXXXX)

b() { "$BURSTCTL" -d "$PIN" "$@"; }

# fails WHAT TEXT CMD...: CMD exits non-zero and says TEXT on stderr
fails() {
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

fails "reading absent state says how to create it" "burstctl setup" b stats
check "status works before any state exists" valid_json b -j status

b setup max-identities 4 max-prefixes 8 >/dev/null
check "setup made the state" test -e "$PIN/bg_id_cfg"
check "status: fill levels of identities, prefixes, tokens, flows" \
	eq "$(b -j status | json - "(j['identity_table'], j['prefix_tables']['max_per_map'], j['token_table']['used'], j['flow_table']['max'] > 0)")" \
	"({'used': 1, 'max': 4}, 8, 0, True)"
fails "capacity is fixed at creation" "already exists" b setup max-identities 8
check "setup again with no sizes keeps it" b setup

fails "unknown object" "unknown command \"frobnicate\"" b frobnicate
fails "unknown command names its object's help" "burstctl identity help" b identity frob
# a token typed where a command goes is never echoed (stderr ends up in logs)
b bind "Sk-s3cr3t.T0ken/value" 2>"$TMPF.tokcmd"
check "a token typed as a command: refused without echoing it" \
	sh -c "grep -q 'not shown' '$TMPF.tokcmd' && ! grep -q s3cr3t '$TMPF.tokcmd'"
fails "bad identity name" "not allowed" b identity add "bad name"
fails "unknown rate unit lists units" "(use pps, kpps, mpps)" b identity add a rate 10mbit
fails "bytes-rate needs a unit" "needs a unit" b identity add a bytes-rate 100
fails "keyword without value" "\"rate\" needs a value" b identity add a rate
fails "zero rate is refused with advice" "action block" b identity add a rate 0
fails "burst without rate" "needs a packet rate" b identity add a burst 10
fails "unknown action" "use enforce, shadow, allow or block" b identity add a action stop
fails "window too long" "19.5 hours" b identity add a rate 1pps burst 100000
fails "unknown keyword" "unknown argument \"speed\"" b identity add a speed 5

check "identity add" b identity add alpha rate 1kpps burst 100 bytes-rate 10mbit
check "identity add (defaults)" b identity add beta
b identity set beta rate 5pps action allow 2>"$TMPF.allow" >/dev/null
check "limits under action allow: warned (they are ignored)" grep -q "its action allow ignores its limits" "$TMPF.allow"
check "no controller: no word of one" sh -c "! grep -q controller '$TMPF.allow'"
b identity set beta rate unlimited action enforce >/dev/null
check "identity add (third fills the table)" b identity add gamma action block
fails "table full names the capacity" "identity table full (4 identities" b identity add delta
fails "duplicate identity" "already exists" b identity add alpha
fails "set needs a change" "nothing to change" b identity set alpha
fails "set on a missing identity" "does not exist" b identity set nobody rate 5
check "identity set" b identity set alpha rate 2kpps
check "set kept the burst" eq "$(b -j identity show alpha | json - "j['burst_pkts']")" 100
check "set kept the byte rate" eq "$(b -j identity show alpha | json - "j['rate_bits_per_sec']")" 10000000
fails "default cannot be deleted" "cannot be deleted" b identity del default

fails "prefix for a missing identity" "does not exist" b prefix add 10.0.0.0/8 identity nobody
fails "prefix with host bits" "did you mean 10.0.0.0/8" b prefix add 10.1.2.3/8 identity alpha
check "prefix add v4" b prefix add 10.0.0.0/8 identity alpha
check "prefix add v6" b prefix add 2001:db8::/32 identity beta
check "prefix add again, same identity: no-op" b prefix add 10.0.0.0/8 identity alpha
fails "prefix taken by another identity" "already maps to another identity" b prefix add 10.0.0.0/8 identity beta
fails "prefix del checks the identity" "belongs to another identity" b prefix del 10.0.0.0/8 identity beta
fails "prefix del of an absent prefix" "not configured" b prefix del 10.9.0.0/16
check "prefix add host v4" b prefix add 10.9.8.7 identity alpha
check "prefix add host v6" b prefix add 2001:db8::7/128 identity beta
fails "host prefix taken by another identity" "already maps to another identity" b prefix add 10.9.8.7/32 identity beta
check "host prefixes listed as /32 and /128" eq "$(b -j prefix list | json - "sorted(set(p['prefix'] for p in j['prefixes']) & {'10.9.8.7/32', '2001:db8::7/128'})")" "['10.9.8.7/32', '2001:db8::7/128']"
check "prefix del host v4" b prefix del 10.9.8.7/32 identity alpha
check "prefix list shows the rest" eq "$(b -j prefix list | json - "len(j['prefixes'])")" 3
check "identity del" b identity del beta
check "deleting an identity removed its prefixes (host ones too)" eq "$(b -j prefix list | json - "len(j['prefixes'])")" 1
check "the freed slot can be used" b identity add delta

fails "config set bad value" "use on or off" b config set shadow maybe
check "config set" b config set shadow on malformed drop
check "config show" eq "$(b -j config show | json - "(j['shadow'], j['malformed'])")" "(True, 'drop')"

fails "attach to a missing interface" "not found" b attach nosuchdev0
fails "attach mode" "use auto, native, skb or multi" b attach lo mode fast
check "detach where not attached: succeeds, says so" sh -c "'$BURSTCTL' -d '$PIN' detach lo | grep -q 'was not attached to lo: nothing to detach'"

for cmd in "identity list" "identity show alpha" "prefix list" "stats" "stats identity alpha" \
	"status" "config show" "version"; do
	# shellcheck disable=SC2086
	check "JSON from: $cmd" valid_json b -j $cmd
done
for obj in "" identity prefix config stats attach detach setup teardown; do
	# shellcheck disable=SC2086
	check "help: burstctl $obj help" b $obj help
done

check "teardown" b teardown
check "teardown removed the folder" test ! -e "$PIN"
check "teardown twice: succeeds, nothing to remove" sh -c "'$BURSTCTL' -d '$PIN' teardown | grep -q 'nothing to remove'"
finish
