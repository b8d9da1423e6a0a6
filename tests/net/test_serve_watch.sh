#!/bin/bash
# How the controller follows its policy file where deployment tools put it:
# behind symlinks swapped atomically (a Kubernetes ConfigMap's "..data"),
# in a folder that is deleted and made again, and written slowly in place
# (never applied half-written). Userspace only: no traffic.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
setup_topology 198.18.82 2001:db8:82
D=$TMPF.d
# pol NAME RATE: a policy with one identity
pol() {
	printf 'version: 1\ncontroller:\n  audit_log: %s\nidentities:\n  %s:\n    rate: %s\n' \
		"$TMPF.audit.jsonl" "$1" "$2"
}
rate_of() { bctl -j identity show "$1" 2>/dev/null | json - "j['rate_pps']"; }
applied() { count_log "$TMPF.log" "applied \("; }
# wait_applied N: until N applies are logged (5 s)
wait_applied() {
	local i
	for i in $(seq 50); do
		[ "$(applied)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# write_slowly FILE NAME RATE: the policy `pol NAME RATE` written into FILE
# (made anew) the way a slow writer does: empty, then half, then whole,
# each stage held longer than the reload debounce
write_slowly() {
	exec 3>"$1"
	sleep 0.6 # the empty file must not be read
	printf 'version: 1\n' >&3
	sleep 0.6 # half a policy: valid YAML, no identities yet
	pol "$2" "$3" | tail -n +2 >&3
	exec 3>&-
}

echo "-- a ConfigMap: policy.yaml -> ..data/policy.yaml, ..data -> ..v1"
mkdir -p "$D/..v1" "$D/..v2"
pol cm 10pps >"$D/..v1/policy.yaml"
ln -s ..v1 "$D/..data"
ln -s ..data/policy.yaml "$D/policy.yaml"
PORT=$((20000 + ($$ + 23) % 20000)) # in the test's own namespace
serve_start "$TMPF.log" --policy "$D/policy.yaml" --metrics "127.0.0.1:$PORT" || exit 1
check "started with v1 (10 pps)" eq "$(rate_of cm)" 10
pol cm 20pps >"$D/..v2/policy.yaml"
ln -s ..v2 "$D/..data.tmp" && mv -T "$D/..data.tmp" "$D/..data"
check "..data swapped to v2: reloaded" wait_applied 2
check "... and v2 is in force (20 pps)" eq "$(rate_of cm)" 20

echo "-- a symlink to a file in another folder, edited there"
mkdir -p "$D/real"
pol cm 30pps >"$D/real/p.yaml"
ln -sfn real/p.yaml "$D/policy.yaml.tmp" && mv -T "$D/policy.yaml.tmp" "$D/policy.yaml"
check "repointed to real/p.yaml: reloaded" wait_applied 3
check "... 30 pps" eq "$(rate_of cm)" 30
pol cm 40pps >"$D/real/p.yaml.new" && mv "$D/real/p.yaml.new" "$D/real/p.yaml"
check "the real file replaced in its own folder: reloaded" wait_applied 4
check "... 40 pps" eq "$(rate_of cm)" 40
# written slowly behind the symlink: deleted, then made again bit by bit
n=$(applied)
rm "$D/real/p.yaml"
write_slowly "$D/real/p.yaml" cm 45pps
check "rewritten slowly behind the symlink: reloaded once complete" wait_applied $((n + 1))
check "... 45 pps, and cm never removed meanwhile" eq "$(rate_of cm):$(count_log "$TMPF.log" "identity cm removed")" "45:0"
check "... no reload refused meanwhile" eq "$(count_log "$TMPF.log" "reload refused")" 0

echo "-- written slowly in place: applied once complete, never half"
rm "$D/policy.yaml"
n=$(applied)
write_slowly "$D/policy.yaml" slow 50pps
check "complete: reloaded" wait_applied $((n + 1))
check "... with the whole policy (slow at 50 pps)" eq "$(rate_of slow)" 50
check "never applied while half-written (cm removed once, by the whole file)" \
	eq "$(count_log "$TMPF.log" "identity cm removed")" 1
check "no reload refused meanwhile" eq "$(count_log "$TMPF.log" "reload refused")" 0

echo "-- the folder deleted and made again"
n=$(applied)
rm -rf "$D"
check "the loss is logged" wait_log "$TMPF.log" "the folder is gone" 5
check "still enforcing the last policy" eq "$(rate_of slow)" 50
mkdir -p "$D"
pol back 60pps >"$D/policy.yaml.new" && mv "$D/policy.yaml.new" "$D/policy.yaml"
check "folder back: watched again" wait_log "$TMPF.log" "the folder is back" 5
check "... and the policy in it applied" wait_applied $((n + 1))
check "... 60 pps" eq "$(rate_of back)" 60

echo "-- a token file's folder deleted and made again"
T=$TMPF.tokdir
mkdir -p "$T"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/agent.tok"
echo >>"$T/agent.tok"
pol tok 70pps >"$D/policy.yaml.new"
printf '    token_files: [%s]\n' "$T/agent.tok" >>"$D/policy.yaml.new"
n=$(applied)
mv "$D/policy.yaml.new" "$D/policy.yaml"
check "a policy with a token file: applied" wait_applied $((n + 1))
check "... its token registered" eq "$(bctl -j token list | json - "len(j['tokens'])")" 1
rm -rf "$T"
check "the token folder's loss is logged" wait_log "$TMPF.log" "token file $T/agent.tok: its folder $T is gone" 5
check "... its token stays in force" eq "$(bctl -j token list | json - "len(j['tokens'])")" 1
n=$(applied)
mkdir -p "$T"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/agent.tok.new"
echo >>"$T/agent.tok.new"
mv "$T/agent.tok.new" "$T/agent.tok"
check "token folder back: watched again" wait_log "$TMPF.log" "token file $T/agent.tok: its folder is back" 5
check "... and the new token applied (rotated)" wait_log "$TMPF.log" "tokens: 1 added, 1 removed" 5
# an unrelated file written there later changes nothing (no reload)
n=$(applied)
echo x >"$T/unrelated"
sleep 0.5
check "an unrelated file in the folder: no reload" eq "$(applied)" "$n"

echo "-- a reload while a burstctl command holds the state's lock: deferred, not blocking"
flock -o "$PIN" sh -c "touch '$TMPF.locked'; sleep 4" &
LOCKER=$!
for i in $(seq 50); do [ -e "$TMPF.locked" ] && break; sleep 0.1; done
n=$(applied)
c0=$(count_log "$TMPF.log" "changed: reloading")
pol late 80pps >"$D/policy.yaml.new" && mv "$D/policy.yaml.new" "$D/policy.yaml"
check "deferred while the lock is held, saying by whom" wait_log "$TMPF.log" "reload deferred: the state is locked by pid [0-9]+" 3
# the loop must answer: a metrics scrape is served by the loop itself
check "... the controller still answers meanwhile (a metrics scrape)" \
	ip netns exec "$RX" curl -sS --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/metrics"
check "... nothing applied yet" eq "$(applied)" "$n"
wait "$LOCKER"
check "applied once the lock is free" wait_applied $((n + 1))
check "... 80 pps" eq "$(rate_of late)" 80
check "... the deferral logged once, not at every retry" eq "$(count_log "$TMPF.log" "reload deferred")" 1
check "... and one 'changed: reloading' line, not one per retry" eq $(($(count_log "$TMPF.log" "changed: reloading") - c0)) 1
serve_stop
rm -rf "$D" "$T"
finish
