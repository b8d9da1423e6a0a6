#!/bin/bash
# vmtest: kernel (runs inside the VMs too: what it checks depends on the kernel)
# Shadow mode drops nothing and counts what enforcement would drop: per
# identity, then host-wide; switching back to enforce drops again.
. "$(dirname "$0")/lib.sh"
require_root
setup_topology 198.18.20 2001:db8:20

bctl attach "${P}b" >/dev/null || exit 1
bctl identity add watched rate 500pps burst 50 action shadow >/dev/null
bctl prefix add 198.18.20.10 identity watched >/dev/null

# phase 1: the identity in shadow
recv_start "$TMPF.r1" --port 9000 --bind 198.18.20.1 --duration 10 --idle-ms 1000 || exit 1
send --dst 198.18.20.1 --port 9000 --src 198.18.20.10 --rate 1500 --duration 2 >"$TMPF.s1"
wait
sent=$(json "$TMPF.s1" "j['sent']")
span=$(json "$TMPF.s1" "j['elapsed_s']")
got=$(json "$TMPF.r1" "j['received']")
shadow=$(stat watched shadow_pkts)
expect=$(awk -v n="$sent" -v s="$span" 'BEGIN { printf "%.1f", n - (50 + 500 * s) }')
check "shadow identity: everything delivered ($got of $sent)" eq "$got" "$sent"
check "shadow identity: nothing dropped" eq "$(stat watched dropped_pkts)" 0
check "shadow identity: would-be drops counted within 2% ($shadow vs $expect)" within "$shadow" "$expect" 2

# phase 2: the identity enforces, but the host is in dry run
bctl identity set watched action enforce >/dev/null
bctl config set shadow on >/dev/null
check "status says shadow on" eq "$(bctl -j status | json - "j['shadow']")" True
recv_start "$TMPF.r2" --port 9000 --bind 198.18.20.1 --duration 10 --idle-ms 1000 || exit 1
send --dst 198.18.20.1 --port 9000 --src 198.18.20.10 --rate 1500 --duration 2 >"$TMPF.s2"
wait
sent=$(json "$TMPF.s2" "j['sent']")
got=$(json "$TMPF.r2" "j['received']")
shadow2=$(stat watched shadow_pkts)
check "host-wide shadow: everything delivered ($got of $sent)" eq "$got" "$sent"
check "host-wide shadow: nothing dropped" eq "$(stat watched dropped_pkts)" 0
check "host-wide shadow: would-be drops counted ($((shadow2 - shadow)) of $sent)" \
	le "$((sent / 2))" "$((shadow2 - shadow))"

# phase 3: enforcing again
bctl config set shadow off >/dev/null
recv_start "$TMPF.r3" --port 9000 --bind 198.18.20.1 --duration 10 --idle-ms 1000 || exit 1
send --dst 198.18.20.1 --port 9000 --src 198.18.20.10 --rate 1500 --duration 1 >"$TMPF.s3"
wait
sent=$(json "$TMPF.s3" "j['sent']")
got=$(json "$TMPF.r3" "j['received']")
dropped=$(stat watched dropped_pkts)
check "enforcing again: drops ($dropped)" le "$((sent / 2))" "$dropped"
check "enforcing again: delivered = sent - dropped ($got)" eq "$got" $((sent - dropped))
finish
