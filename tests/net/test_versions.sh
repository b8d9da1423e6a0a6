#!/bin/bash
# Which build runs: `burstctl version` and `status` name this build (release,
# commit) and the tag of the attached program, and say when the attached
# program is not the one this burstctl carries (another build attached it:
# burstctl-variant, whose program has other instructions), until an
# upgrade in place makes it so.
. "$(dirname "$0")/lib.sh"
require_root
VARIANT=$OUT/tests/burstctl-variant
[ -x "$VARIANT" ] || { echo "FAIL: $VARIANT missing: run make first"; exit 1; }
setup_topology 198.18.71 2001:db8:71
DEV=${P}b
vctl() { nsenter --net="/run/netns/$RX" "$VARIANT" -d "$PIN" "$@"; }
bpftool_tag() { bpftool -j prog show id "$1" | json - "j['tag']"; }

# The build: release and commit, without loading anything.
bctl -V >"$TMPF.v"
check "-V names the release and commit" grep -Eq '^burstctl [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]{12}(-dirty)?\)$' "$TMPF.v"
commit=$(sed -n 's/.*(commit \([0-9a-f]*\).*/\1/p' "$TMPF.v")
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	check "...a commit of this repository ($commit)" git -C "$ROOT" cat-file -e "$commit^{commit}"
fi

# Another build attaches: status names the program and says it is not ours.
vctl attach "$DEV" >/dev/null || exit 1
prog=$(bctl -j status | json - "j['attached'][0]['prog_id']")
bctl -j status >"$TMPF.s" 2>"$TMPF.s.err"
check "status: the attached program's tag is the kernel's" \
	eq "$(json "$TMPF.s" "j['attached'][0]['prog_tag']")" "$(bpftool_tag "$prog")"
check "status: it is not this build's program" eq "$(json "$TMPF.s" "j['attached'][0]['this_build']")" False
check "...and says what to do" grep -q "not the one this burstctl carries.*burstctl attach $DEV. upgrades it" "$TMPF.s.err"
bctl -j version >"$TMPF.ver" 2>/dev/null
vtag=$(json "$TMPF.ver" "j['prog_tag']")
check "version: this build's program tag differs from the attached one" \
	test "$vtag" != "$(bpftool_tag "$prog")"
check "version: the attached program is named, not this build's" \
	eq "$(json "$TMPF.ver" "[(a['interface'], a['this_build']) for a in j['attached']]")" "[('$DEV', False)]"

# The upgrade in place: now it is.
bctl attach "$DEV" >/dev/null
bctl -j status >"$TMPF.s2" 2>"$TMPF.s2.err"
prog2=$(json "$TMPF.s2" "j['attached'][0]['prog_id']")
check "after the upgrade: this build's program ($prog -> $prog2)" \
	eq "$(json "$TMPF.s2" "j['attached'][0]['this_build']")" True
check "...its tag is the one version names" eq "$(bpftool_tag "$prog2")" "$vtag"
check "...and status warns no more" test ! -s "$TMPF.s2.err"
bctl status >"$TMPF.st"
check "status text says so" grep -q "tag $vtag: this build" "$TMPF.st"
finish
