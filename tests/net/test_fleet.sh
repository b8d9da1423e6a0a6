#!/bin/bash
# Fleet mode end to end (docs/fleet.md): one global identity limited to R
# across three "hosts" on this machine. Each host is a namespace with its own
# burstgate state (pin folder), its own controller and its own veth, on
# which real traffic arrives from an agent namespace; a real redis-server,
# started here, runs in an engine namespace that every host reaches over a
# veth of its own (so one host can be cut off). Scenarios, in this order:
#   even       all three hosts over their share
#   one        all demand on host 1
#   moving     the demand moves from host 1 to host 2
#   quiet      a burst arrives on host 3, quiet until then
#   engine     Redis killed: leases held, then safe mode R/N; restarted: leases again
#   partition  host 2 cut off from Redis for 3 s (with its reconnection,
#              shorter than the member timeout: docs/fleet.md says why)
#   leaving    host 3's controller stops: its share returns to the others
# From the hosts' own counters, read every 100 ms: what the fleet admitted
# is at most R*t + B (+ the tolerance fleet_check.py states) in every
# window, and at least 90% of R*t over each phase whose summed demand
# exceeds R (after it settled). About 85 s.
. "$(dirname "$0")/lib.sh"
require_root
command -v redis-server >/dev/null || skip "redis-server is not installed (make deps installs it)"

H=3
R=1000
B=100
PORT=6379
E=${P}e # the engine's namespace
A=${P}a # the agents'
LOGS=()
CTL=()
REDIS=

pin() { echo "/sys/fs/bpf/${P}h$1"; }
hctl() { nsenter --net="/run/netns/${P}h$1" "$BURSTCTL" -d "$(pin "$1")" "${@:2}"; }

fleet_cleanup() {
	local rc=$? i
	[ -n "${SAMPLER:-}" ] && kill "$SAMPLER" 2>/dev/null
	for i in $(seq $H); do
		[ -n "${CTL[$i]:-}" ] && kill "${CTL[$i]}" 2>/dev/null
	done
	[ -n "$REDIS" ] && kill -9 "$REDIS" 2>/dev/null
	jobs -p | xargs -r kill 2>/dev/null
	wait 2>/dev/null
	for i in $(seq $H); do
		"$BURSTCTL" -d "$(pin "$i")" teardown >/dev/null 2>&1
		ip netns del "${P}h$i" 2>/dev/null
	done
	ip netns del "$E" 2>/dev/null
	ip netns del "$A" 2>/dev/null
	# FLEET_KEEP=DIR keeps the samples, phases and logs (to study a failure)
	[ -n "${FLEET_KEEP:-}" ] && [ -n "${TMPD:-}" ] && mkdir -p "$FLEET_KEEP" &&
		cp "$TMPD"/samples "$TMPD"/phases "$TMPD"/log* "$FLEET_KEEP"/ 2>/dev/null
	rm -rf "${TMPD:-/nonexistent}"
	exit $rc
}
trap fleet_cleanup EXIT INT TERM
TMPD=$(mktemp -d /tmp/${P}.XXXXXX)

# ---- topology: engine <-> host i <-> agents ----
ip netns add "$E"
ip netns add "$A"
ip -n "$E" link set lo up
ip -n "$A" link set lo up
for i in $(seq $H); do
	ns=${P}h$i
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "${P}e$i" netns "$E" type veth peer name "${P}h$i" netns "$ns"
	ip -n "$E" addr add "198.18.16$i.1/24" dev "${P}e$i"
	ip -n "$ns" addr add "198.18.16$i.2/24" dev "${P}h$i"
	ip -n "$E" link set "${P}e$i" up
	ip -n "$ns" link set "${P}h$i" up
	ip link add "${P}a$i" netns "$A" type veth peer name "${P}g$i" netns "$ns"
	ip -n "$A" addr add "198.18.17$i.10/24" dev "${P}a$i"
	ip -n "$ns" addr add "198.18.17$i.1/24" dev "${P}g$i"
	ip -n "$A" link set "${P}a$i" up
	ip -n "$ns" link set "${P}g$i" up
	ip -n "$A" neigh replace "198.18.17$i.1" dev "${P}a$i" nud permanent \
		lladdr "$(ip -n "$ns" -br link show "${P}g$i" | awk '{ print $3 }')"
done

redis_start() {
	nsenter --net="/run/netns/$E" redis-server --bind 0.0.0.0 --port $PORT --save '' \
		--appendonly no --protected-mode no --loglevel warning >>"$TMPD/redis.log" 2>&1 &
	REDIS=$!
	disown $REDIS # killed on purpose below: no "Killed" from the shell
	for _ in $(seq 50); do
		nsenter --net="/run/netns/$E" redis-cli -p $PORT ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	echo "redis-server did not start: $(cat "$TMPD/redis.log")"
	return 1
}
redis_start || exit 1

# ---- one policy per host: the same identity and limits, its own prefix and id ----
for i in $(seq $H); do
	cat >"$TMPD/pol$i.yaml" <<YAML
version: 1
host:
  interfaces: [${P}g$i]
controller:
  audit_log: $TMPD/audit$i.jsonl
fleet:
  engine: redis://198.18.16$i.1:$PORT
  host: host$i
  interval: 200ms
  lease: 800ms
  member_timeout: 5s
  hosts: $H
identities:
  agent:
    scope: global
    rate: ${R}pps
    burst: $B
    prefixes: [198.18.17$i.0/24]
YAML
done

ctl_start() {
	local i=$1
	nsenter --net="/run/netns/${P}h$i" "$BURSTCTL" -d "$(pin "$i")" serve \
		--policy "$TMPD/pol$i.yaml" --metrics 127.0.0.1:9100 2>>"$TMPD/log$i" &
	CTL[$i]=$!
}
for i in $(seq $H); do ctl_start "$i"; done
# until every host holds a lease (the engine's learning time included)
mode() { hctl "$1" -j fleet status | json - "j['identities'][0]['mode']"; }
wait_mode() { # wait_mode HOST MODE SECS
	local _
	for _ in $(seq $(($3 * 5))); do
		[ "$(mode "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
for i in $(seq $H); do
	wait_mode "$i" lease 15 || { echo "host $i got no lease: $(cat "$TMPD/log$i")"; exit 1; }
done

# ---- the counters of every host, every 100 ms, read in one process ----
passed_dropped() {
	hctl "$1" -j stats identity agent |
		sed -E 's/.*"passed_pkts":([0-9]+).*"dropped_pkts":([0-9]+).*/\1 \2/'
}
"$OUT/bg-fleet-sample" --identity agent --interval-ms 100 --duration 250 \
	$(for i in $(seq $H); do pin "$i"; done) >"$TMPD/samples" &
SAMPLER=$!

# send HOST PPS SECS: the agent's traffic to one host, in the background;
# stop_senders: all of it, now (a phase's traffic never leaks into the next)
SENDERS=()
send_bg() {
	ip netns exec "$A" "$TRAFFIC" send --dst "198.18.17$1.1" --port 9 --src "198.18.17$1.10" \
		--rate "$2" --duration "$3" >/dev/null 2>&1 &
	SENDERS+=($!)
}
stop_senders() {
	[ ${#SENDERS[@]} -gt 0 ] && kill "${SENDERS[@]}" 2>/dev/null
	wait "${SENDERS[@]}" 2>/dev/null
	SENDERS=()
}
# phase NAME KIND SECS SETTLE: mark a phase of SECS seconds from now, and
# wait it out; SETTLE: seconds before utilisation counts
phase() {
	local t0
	t0=$(date +%s.%N)
	sleep "$3"
	echo "$1 $t0 $(date +%s.%N) $2 $4" >>"$TMPD/phases"
}
admitted() { passed_dropped "$1" | cut -d' ' -f1; }

echo "  even: three hosts, 600 pps each (R = $R pps)"
for i in 1 2 3; do send_bg "$i" 600 30; done
before=($(for i in 1 2 3; do admitted "$i"; done))
phase even excess 6 2
after=($(for i in 1 2 3; do admitted "$i"; done))
stop_senders
check "fleet status identity: three hosts on a lease" \
	eq "$(hctl 1 -j fleet status identity agent | json - "sum(h['state'] == 'live' for h in j['hosts'])")" 3
check "status: the fleet line" eval "hctl 1 status | grep -q '^fleet  *host host1 at redis://198.18.161.1:$PORT: link up, 1 global (1 lease'"
check "top: the global identity's mode" \
	eq "$(hctl 1 -j top count 1 |
		json - "[x['fleet_mode'] for x in j['identities'] if x['identity'] == 'agent'][0]")" lease
# metric NAME: host 1's metric (its controller listens in its own namespace)
metric() {
	ip netns exec "${P}h1" curl -sS --max-time 5 http://127.0.0.1:9100/metrics |
		awk -v k="$1" '$1 == k { print $2 }'
}
check "metrics: engine up" eq "$(metric burstgate_fleet_engine_up)" 1
check "metrics: one identity on a lease" eq "$(metric 'burstgate_fleet_identities{mode="lease"}')" 1
total=$((after[0] + after[1] + after[2] - before[0] - before[1] - before[2]))
for i in 0 1 2; do
	d=$((after[i] - before[i]))
	check "even: host $((i + 1)) got a fair third ($d of $total)" within "$d" $((total / 3)) 25
done

echo "  one: host 1 at 2000 pps, the others quiet"
send_bg 1 2000 30
phase one excess 6 2
stop_senders

echo "  moving: host 1 at 2000 pps, then host 2"
send_bg 1 2000 3
sleep 3
send_bg 2 2000 30
phase moving excess 5 2

echo "  quiet: host 2 goes on, a burst of 1500 pps arrives on host 3"
sleep 1
b3=$(admitted 3)
send_bg 3 1500 30
sleep 2
a3=$(admitted 3)
check "quiet: host 3 not starved (admitted $((a3 - b3)) in 2 s, at least 30% of R)" \
	le $((2 * R * 30 / 100)) $((a3 - b3))
phase quiet excess 3 0
stop_senders

echo "  engine: Redis killed under load, then restarted"
for i in 1 2 3; do send_bg "$i" 600 60; done
sleep 2
kill -9 "$REDIS"
while kill -0 "$REDIS" 2>/dev/null; do sleep 0.05; done
REDIS=
t0=$(date +%s.%N)
sleep 1
m=$(mode 1)
check "engine down: host 1 holds its lease (mode held: $m)" eq "$m" held
wait_mode 1 safe 5
check "engine down: leases ended, safe mode (R/N)" eq "$(mode 1)" safe
held_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
check "engine down: the lease was kept until it ended, at least 1.2 s (it took $held_s s)" \
	le 1.2 "$held_s"
check "metrics: engine down" eq "$(metric burstgate_fleet_engine_up)" 0
check "metrics: the identity in safe mode" eq "$(metric 'burstgate_fleet_identities{mode="safe"}')" 1
check "metrics: sync errors counted" le 1 "$(metric burstgate_fleet_sync_errors_total)"
phase engine-down excess 3 0.5
for i in 1 2 3; do
	check "engine down: host $i logged it once" eq "$(grep -c 'unreachable' "$TMPD/log$i")" 1
	check "engine down: host $i logged safe mode once" eq "$(grep -c 'in safe mode' "$TMPD/log$i")" 1
done
redis_start || exit 1
for i in 1 2 3; do
	wait_mode "$i" lease 10
	check "engine back: host $i on a lease again" eq "$(mode "$i")" lease
done
phase engine-back excess 4 2
stop_senders

echo "  partition: host 2 cut off from Redis for 3 s"
for i in 1 2 3; do send_bg "$i" 600 60; done
sleep 1
ip -n "$E" link set "${P}e2" down
phase partition excess 3 0
check "partition: host 2 in safe mode" eq "$(mode 2)" safe
check "partition: host 1 kept its lease" eq "$(mode 1)" lease
ip -n "$E" link set "${P}e2" up
wait_mode 2 lease 10
check "partition healed: host 2 on a lease again" eq "$(mode 2)" lease
phase healed excess 3 1
stop_senders

echo "  leaving: host 3's controller stops; hosts 1 and 2 at 800 pps"
kill "${CTL[3]}"
wait "${CTL[3]}" 2>/dev/null
CTL[3]=
check "leaving: host 3 said so" grep -q "left the fleet" "$TMPD/log3"
for i in 1 2; do send_bg "$i" 800 60; done
sleep 6 # the member timeout (5 s): until then its safe share stays reserved
phase leaving excess 3 0
stop_senders

kill "$SAMPLER"
SAMPLER=
echo "  the fleet's admitted traffic, from the hosts' counters:"
"$PY" "$ROOT/tests/net/fleet_check.py" "$TMPD/samples" "$TMPD/phases" $R $B $H | sed 's/^/    /'
check "fleet bound and utilisation (fleet_check.py)" \
	"$PY" "$ROOT/tests/net/fleet_check.py" "$TMPD/samples" "$TMPD/phases" $R $B $H
check "leaving: host 3 forgotten by the engine after the member timeout" \
	eq "$(hctl 1 -j fleet status identity agent | json - "sorted(h['host'] for h in j['hosts'])")" "['host1', 'host2']"
finish
