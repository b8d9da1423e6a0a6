#!/bin/bash
# A policy of 100,000 identities, each with a prefix: applied with batch
# map operations, then applied again (nothing to do), then changed by 1%.
# Checks what a user would (every identity and prefix there, unchanged
# identities untouched); the times are measured and printed, never judged.
. "$(dirname "$0")/lib.sh"
require_root
trap cleanup EXIT INT TERM
TMPF=$(mktemp /tmp/${P}.XXXXXX)
N=${BG_SCALE_IDS:-100000}
b() { "$BURSTCTL" -d "$PIN" "$@"; }

# gen FILE SHIFT: N identities; those below SHIFT are renamed and re-rated
gen() {
	"$PY" - "$1" "$N" "$2" "$TMPF.audit.jsonl" <<'PY'
import sys
path, n, shift, audit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "w") as f:
    f.write("version: 1\nhost:\n  max_identities: %d\n  max_prefixes: %d\n" % (n + 1024, n + 1024))
    f.write("controller:\n  audit_log: %s\nidentities:\n" % audit)
    for i in range(n):
        name = ("new%06d" if i < shift // 2 else "a%06d") % i
        rate = 2000 if shift // 2 <= i < shift else 1000
        f.write("  %s: { rate: %dpps, prefixes: [10.%d.%d.%d] }\n"
                % (name, rate, i >> 16 & 255, i >> 8 & 255, i & 255))
PY
}
# timed LABEL CMD...: run, print the wall time
timed() {
	local label=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$@" >"$TMPF.out" 2>"$TMPF.err" || { echo "  $label failed: $(tail -3 "$TMPF.err")"; return 1; }
	t1=$(date +%s.%N)
	awk -v l="$label" -v a="$t0" -v b="$t1" 'BEGIN { printf "  TIME  %-48s %6.2f s\n", l, b - a }' >&2
}

gen "$TMPF.p1.yaml" 0
gen "$TMPF.p2.yaml" $((N / 50)) # 1% renamed (removed + added), 1% re-rated
echo "  policy: $N identities, $N prefixes, $(du -h "$TMPF.p1.yaml" | cut -f1)"
check "check validates it" timed "policy check ($N identities, no state)" b policy check "$TMPF.p1.yaml"
check "first apply" timed "policy apply (create state, add $N)" b policy apply "$TMPF.p1.yaml"
check "all identities there" eq "$(b -j status | json - "j['identity_table']['used']")" $((N + 1))
check "all prefixes there" eq "$(b -j status | json - "j['prefix_tables']['ipv4']")" "$N"
check "a prefix points at its identity" eq "$(b -j prefix list identity a012345 | json - "j['prefixes'][0]['prefix']")" 10.0.48.57/32
check "again: nothing to do" timed "policy apply (same policy: 0 changes)" b policy apply "$TMPF.p1.yaml"
check "again: 0 changes" eq "$(b -j policy apply "$TMPF.p1.yaml" | json - "j['change_count']")" 0
id_before=$(b -j identity show a099999 | json - "j['identity_id']")
check "1% changed" timed "policy apply (1% renamed, 1% re-rated)" b policy apply "$TMPF.p2.yaml"
out=$(b -j policy apply "$TMPF.p1.yaml")
# back: 1% added, 1% removed, 1% re-rated, their 1% of prefixes moved
check "and back: 4% of changes, the rest untouched ($(echo "$out" | json - "j['change_count']"))" \
	eq "$(echo "$out" | json - "(j['change_count'], j['identities_unchanged'])")" "($((N / 25)), $((N - N / 50 + 1)))"
check "untouched identity kept its slot" eq "$(b -j identity show a099999 | json - "j['identity_id']")" "$id_before"
check "dump of $N round-trips" timed "policy dump ($N identities)" b policy dump
cp "$TMPF.out" "$TMPF.dump.yaml"
check "the dump applied: 0 changes" eq "$(b -j policy apply "$TMPF.dump.yaml" | json - "j['change_count']")" 0
finish
