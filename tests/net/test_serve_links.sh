#!/bin/bash
# Interfaces that appear after the controller started (a NIC whose driver
# loads late, a VLAN or bond made after boot): the policy names them, the
# first attach fails and says so, and the controller attaches as soon as
# the kernel announces the link, without a reload. An interface deleted
# and made again is attached again too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
setup_topology 198.18.81 2001:db8:81
LATE=${P}l0
LATE2=${P}m0 # appears while a command holds the state's lock
BUSY=${P}x0 # has another XDP program: burstgate will not replace it
POL=$TMPF.policy.yaml
write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b, $LATE, $BUSY, $LATE2]
controller:
  audit_log: $TMPF.audit.jsonl
identities:
  agent:
    rate: 10pps
    prefixes: [198.18.81.10]
YAML
attached() { bctl -j status | json - "sorted(a['interface'] for a in j['attached'])"; }
# another state's program on BUSY: foreign to this one
OTHER=${PIN}o
ip -n "$RX" link add "$BUSY" type veth peer name "${P}x1"
ip -n "$RX" link set "$BUSY" up
ip -n "$RX" link set "${P}x1" up
nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$OTHER" attach "$BUSY" >/dev/null || exit 1
trap 'rc=$?; nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$OTHER" teardown >/dev/null 2>&1; (exit $rc); cleanup' EXIT INT TERM

PORT=$((20000 + ($$ + 29) % 20000)) # in the test's own namespace
serve_start "$TMPF.log" --policy "$POL" --metrics "127.0.0.1:$PORT" || exit 1
check "the absent interface is named" grep -q "$LATE" "$TMPF.log"
check "says it will retry when the interface appears" \
	grep -q "will retry when an interface appears or is made again" "$TMPF.log"
check "the busy interface: refused, naming the other program" grep -q "$BUSY already runs XDP program" "$TMPF.log"
check "attached where it could: ${P}b only" eq "$(attached)" "['${P}b']"

ip -n "$RX" link add "$LATE" type veth peer name "${P}l1"
ip -n "$RX" link set "$LATE" up
ip -n "$RX" link set "${P}l1" up
check "attached once the interface appeared (no reload)" wait_log "$TMPF.log" "attached to $LATE in" 5
check "status shows both" eq "$(attached)" "['${P}b', '$LATE']"
check "no reload happened" eq "$(count_log "$TMPF.log" "applied \(")" 1

ip -n "$RX" link del "$LATE"
ip -n "$RX" link add "$LATE" type veth peer name "${P}l1"
ip -n "$RX" link set "$LATE" up
for i in $(seq 50); do
	[ "$(count_log "$TMPF.log" "attached to $LATE in")" -ge 2 ] && break
	sleep 0.1
done
check "deleted and made again: attached again" eq "$(count_log "$TMPF.log" "attached to $LATE in")" 2
check "the dead link's removal logged" wait_log "$TMPF.log" "removed link [0-9]*: its interface was deleted" 5
check "status shows both again (the deleted one's link removed)" eq "$(attached)" "['${P}b', '$LATE']"

# link events on the busy interface (and others) do not retry it, or log it again
for i in 1 2 3; do
	ip -n "$RX" link set "$BUSY" mtu $((1400 + i))
	ip -n "$RX" link set "$BUSY" down
	ip -n "$RX" link set "$BUSY" up
done
sleep 0.5
check "a failing interface is not retried at every link event (logged once)" \
	eq "$(count_log "$TMPF.log" "$BUSY already runs XDP program")" 1

# an interface appearing while a command holds the writer lock: the loop
# does not wait for it (metrics answer); attached once the lock is free
flock -o "$PIN" sh -c "touch '$TMPF.locked'; sleep 3" &
LOCKER=$!
for i in $(seq 50); do [ -e "$TMPF.locked" ] && break; sleep 0.1; done
ip -n "$RX" link add "$LATE2" type veth peer name "${P}m1"
ip -n "$RX" link set "$LATE2" up
sleep 0.5
check "lock held: the loop still answers (a metrics scrape)" \
	ip netns exec "$RX" curl -sS --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/metrics"
check "lock held: not attached yet" sh -c "! grep -q 'attached to $LATE2 in' '$TMPF.log'"
wait "$LOCKER"
check "lock free: attached at a tick, without a reload" wait_log "$TMPF.log" "attached to $LATE2 in" 5
serve_stop
finish
