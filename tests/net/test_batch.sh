#!/bin/bash
# burstctl batch FILE: many identities and prefixes in one process, exactly
# as the same commands one by one would leave them; a bad line is named as
# FILE:LINE and stops the batch with the lines before it applied. Real state
# in a private pin folder, no traffic.
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

b setup max-identities 3000 max-prefixes 3000 >/dev/null

cat >"$TMPF.small" <<'EOF'
# provisioning two agents
identity add agent-1 rate 100pps burst 20

identity add "agent-2" rate 2kpps bytes-rate 10mbit action shadow
prefix add 198.51.100.0/24 identity agent-1
prefix add 2001:db8:7::/48 identity agent-2
prefix add 198.51.100.0/24 identity agent-1
identity set agent-1 burst 50
EOF
check "a small batch applies" b batch "$TMPF.small"
check "an empty batch applies 0 commands (JSON)" eq "$(b -j batch - </dev/null | json - "j['command_count']")" 0
check "identity with its limits" eq "$(b -j identity show agent-1 | json - "j['burst_pkts']")" 50
check "quoted name, action" eq "$(b -j identity show agent-2 | json - "j['action']")" shadow
check "IPv4 prefix maps to agent-1" eq "$(b -j prefix list identity agent-1 | json - "j['prefixes'][0]['prefix']")" 198.51.100.0/24
check "IPv6 prefix maps to agent-2" eq "$(b -j prefix list identity agent-2 | json - "j['prefixes'][0]['prefix']")" 2001:db8:7::/48

printf 'identity add agent-3\nprefix add 203.0.113.0/24 identity nobody\nidentity add agent-4\n' >"$TMPF.bad"
fails "unknown identity names FILE:LINE" "$TMPF.bad:2: stopped here; 1 commands before it" b batch "$TMPF.bad"
check "lines before the bad one stay applied" b identity show agent-3
fails "lines after the bad one do not run" "does not exist" b identity show agent-4
fails "a command that cannot be batched" "\"attach\" cannot be batched" sh -c "echo 'attach lo' | \"$BURSTCTL\" -d \"$PIN\" batch -"
fails "bad limits say what is accepted" "(use pps, kpps, mpps)" sh -c "echo 'identity add x rate 5mbit' | \"$BURSTCTL\" -d \"$PIN\" batch -"
fails "unterminated quote" "unterminated quote" sh -c "echo 'identity add \"x' | \"$BURSTCTL\" -d \"$PIN\" batch -"
fails "missing file" "open $TMPF.none" b batch "$TMPF.none"

# Deleting through a batch takes the identity's prefixes along.
printf 'prefix del 2001:db8:7::/48 identity agent-2\nidentity del agent-1\n' | b batch - >/dev/null
check "identity del in a batch" sh -c "! \"$BURSTCTL\" -d \"$PIN\" identity show agent-1 2>/dev/null"
check "its prefix went with it" eq "$(b -j prefix list | json - "len(j['prefixes'])")" 0

# Bulk: 2000 identities with a /32 each, the same as one command at a time.
awk 'BEGIN { for (i = 0; i < 2000; i++) {
	printf "identity add bulk%d rate 10pps burst 5\n", i
	printf "prefix add 198.18.%d.%d identity bulk%d\n", int(i / 256), i % 256, i } }' >"$TMPF.bulk"
check "2000 identities with prefixes" b batch "$TMPF.bulk"
check "all 2000 prefixes are there" eq "$(b -j prefix list | json - "len(j['prefixes'])")" 2000
check "the last one maps right" eq "$(b -j prefix list identity bulk1999 | json - "j['prefixes'][0]['prefix']")" 198.18.7.207/32
finish
