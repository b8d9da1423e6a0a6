#!/bin/bash
# `burstctl top` in a real terminal (tmux) of 80x24: one screen, read as a
# user reads it: the header, identities sorted by rate with their pass and
# drop rates, the limited one marked, every line within the width and the
# title on top although there are more identities than rows; `d` sorts by
# drops; `q` quits.
. "$(dirname "$0")/lib.sh"
require_root
command -v tmux >/dev/null || skip "tmux is not installed (make deps)"
setup_topology 198.18.70 2001:db8:70
TM="tmux -L ${P}tmux"
trap 'rc=$?; $TM kill-server 2>/dev/null; (exit $rc); cleanup' EXIT INT TERM
cat >"$TMPF.policy.yaml" <<YAML
version: 1
host:
  interfaces: [${P}b]
controller:
  audit_log: $TMPF.audit.jsonl
identities:
  hot: { rate: 300pps, burst: 30, prefixes: [198.18.70.10] }
  warm: { action: allow, prefixes: [198.18.70.11] }
  idle: { rate: 10pps, prefixes: [198.18.70.12] }
  an-agent-with-a-rather-long-name: { rate: 5pps }
$(for i in $(seq -w 1 30); do echo "  zz-$i: { rate: 1pps }"; done)
YAML
bctl policy apply "$TMPF.policy.yaml" >/dev/null || exit 1

$TM new-session -d -s top -x 80 -y 24 \
	"nsenter --net=/run/netns/$RX $BURSTCTL -d $PIN top; sleep 30" || skip "tmux cannot start a session here"
send --dst 198.18.70.1 --port 9000 --src 198.18.70.10 --rate 1000 --duration 5 >/dev/null &
send --dst 198.18.70.1 --port 9000 --src 198.18.70.11 --rate 500 --duration 5 >/dev/null &
sleep 3.2
$TM capture-pane -p -t top >"$TMPF.screen1"
echo "--- screen 1"
grep -v '^$' "$TMPF.screen1"
row() { grep -E "^$1 " "$TMPF.screen1"; }
col() { row "$1" | awk -v c="$2" '{ print $c }'; }
# (the state's path comes last, and 80 columns may cut its end)
check "header names the state and the sort" grep -q "burstgate top - .* - 35 identities - sorted by rate - ${PIN:0:15}" "$TMPF.screen1"
check "the title is the first line (nothing scrolled)" grep -q "^burstgate top" <(head -1 "$TMPF.screen1")
check "every line fits 80 columns" test "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$TMPF.screen1")" -lt 80
check "the rest is counted: ... 16 more" grep -q "^\.\.\. 16 more" "$TMPF.screen1"
check "a long name is cut with ~" grep -qE "^an-agent-wi~ " "$TMPF.screen1"
check "column headings" grep -qE "^IDENTITY +ACTION +PASS/s +DROP/s +SHADOW/s +BITS/s +LIMIT +FILL +BURST +STATE" "$TMPF.screen1"
order=$(grep -E "^(hot|warm|idle|default) " "$TMPF.screen1" | awk '{ print $1 }' | tr '\n' ' ')
check "sorted by rate: hot, warm, then the idle ones ($order)" eq "$order" "hot warm default idle "
check "hot passes about its 300/s ($(col hot 3))" within "$(col hot 3)" 300 25
check "hot drops about 700/s ($(col hot 4))" within "$(col hot 4)" 700 25
check "warm passes about 500/s ($(col warm 3))" within "$(col warm 3)" 500 25
check "warm never drops" eq "$(col warm 4)" 0
check "hot is marked LIMITED" eq "$(col hot 10)" LIMITED
check "hot's limit shown" eq "$(col hot 7)" 300pps

$TM send-keys -t top d
sleep 0.5
$TM capture-pane -p -t top >"$TMPF.screen2"
check "d: sorted by drops, hot first" eq "$(grep -c 'sorted by drops' "$TMPF.screen2"):$(grep -E '^(hot|warm|idle|default) ' "$TMPF.screen2" | head -1 | awk '{ print $1 }')" "1:hot"
$TM send-keys -t top q
sleep 0.5
check "q: top exits (the shell's sleep is what is left)" test "$($TM list-panes -t top -F '#{pane_current_command}' 2>/dev/null)" = sleep
wait
finish
