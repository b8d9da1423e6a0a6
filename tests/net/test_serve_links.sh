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
POL=$TMPF.policy.yaml
write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b, $LATE]
controller:
  audit_log: $TMPF.audit.jsonl
identities:
  agent:
    rate: 10pps
    prefixes: [198.18.81.10]
YAML
attached() { bctl -j status | json - "sorted(a['ifname'] for a in j['attached'])"; }

serve_start "$TMPF.log" --policy "$POL" || exit 1
check "the absent interface is named" grep -q "$LATE" "$TMPF.log"
check "says it will retry when the interface appears" \
	grep -q "will retry when an interface appears or changes" "$TMPF.log"
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
check "status shows both again (the deleted one's link removed)" eq "$(attached)" "['${P}b', '$LATE']"
check "the dead link's removal logged" grep -q "removed link [0-9]*: its interface was deleted" "$TMPF.log"
serve_stop
finish
