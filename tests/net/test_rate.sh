#!/bin/bash
# vmtest: kernel (runs inside the VMs too: what it checks depends on the kernel)
# Real traffic across namespaces: a limited identity is held to
# burst + rate * time within 2%, by packets (two source addresses sharing
# one identity) and by bytes; an unlimited IPv6 identity loses nothing.
. "$(dirname "$0")/lib.sh"
require_root
setup_topology 198.18.10 2001:db8:10

bctl attach "${P}b" >/dev/null || exit 1
check "veth takes native XDP (auto mode)" eq "$(bctl -j status | json - "j['attached'][0]['mode']")" native
bctl identity add agent rate 1000pps burst 100 >/dev/null
bctl prefix add 198.18.10.10/31 identity agent >/dev/null # .10 and .11
bctl identity add bulk bytes-rate 800kbit bytes-burst 10kb >/dev/null
bctl prefix add 198.18.10.12 identity bulk >/dev/null
bctl identity add free >/dev/null
bctl prefix add 2001:db8:10::/64 identity free >/dev/null

recv_start "$TMPF.r4" --port 9000 --bind 198.18.10.1 --duration 15 --idle-ms 1500 || exit 1
recv_start "$TMPF.r6" --port 9001 --bind 2001:db8:10::1 --duration 15 --idle-ms 1500 || exit 1
R4=$(jobs -p | sed -n 1p)
R6=$(jobs -p | sed -n 2p)

# 3x the agent's rate, 3x bulk's (500-byte frames: 458 B of payload), and
# 2000 pps of IPv6 for the unlimited identity, all at once for 3 s.
send --dst 198.18.10.1 --port 9000 --src 198.18.10.10,198.18.10.11 --rate 3000 --duration 3 >"$TMPF.agent" &
S1=$!
send --dst 198.18.10.1 --port 9000 --src 198.18.10.12 --rate 600 --size 458 --duration 3 >"$TMPF.bulk" &
S2=$!
send --dst 2001:db8:10::1 --port 9001 --src 2001:db8:10::13,2001:db8:10::14 --rate 2000 --duration 3 >"$TMPF.free" &
S3=$!
wait $S1 $S2 $S3
wait "$R4" "$R6"

echo "agent: $(cat "$TMPF.agent")"
echo "bulk:  $(cat "$TMPF.bulk")"
echo "free:  $(cat "$TMPF.free")"
echo "rx4:   $(cat "$TMPF.r4")"
echo "rx6:   $(cat "$TMPF.r6")"
bctl stats

sent=$(json "$TMPF.agent" "j['sent']")
span=$(json "$TMPF.agent" "j['elapsed_s']")
passed=$(stat agent passed_pkts)
dropped=$(stat agent dropped_pkts)
expect=$(awk -v s="$span" 'BEGIN { printf "%.1f", 100 + 1000 * s }')
got=$(json "$TMPF.r4" "j['by_source'].get('198.18.10.10',0) + j['by_source'].get('198.18.10.11',0)")
echo "agent: passed $passed, expected burst + rate * ${span}s = $expect"
check "agent held to burst + rate*time within 2% ($passed vs $expect)" within "$passed" "$expect" 2
check "agent: passed + dropped = sent ($passed + $dropped = $sent)" eq $((passed + dropped)) "$sent"
check "agent: what passed reached the socket ($got)" eq "$got" "$passed"

span=$(json "$TMPF.bulk" "j['elapsed_s']")
bytes=$(stat bulk passed_bytes)
expect=$(awk -v s="$span" 'BEGIN { printf "%.0f", 10240 + 100000 * s }')
check "bulk held to bytes-burst + bytes-rate*time within 2% ($bytes vs $expect B)" within "$bytes" "$expect" 2
check "bulk: frames were 500 bytes" eq $((bytes % 500)) 0

sent=$(json "$TMPF.free" "j['sent']")
got=$(json "$TMPF.r6" "j['received']")
check "unlimited IPv6 identity lost nothing ($got of $sent)" eq "$got" "$sent"
check "unlimited identity: no drops" eq "$(stat free dropped_pkts)" 0
c6=$(bctl -j stats | json - "j['counters']['classify']['prefix6']")
check "IPv6 packets classified by prefix ($c6)" le "$sent" "$c6"
finish
