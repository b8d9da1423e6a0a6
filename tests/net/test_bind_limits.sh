#!/bin/bash
# The bind socket under abuse, and its manners with secrets. A malformed
# request may carry the token in any field (a field left out shifts it into
# the next one): it is refused without the token in the reply, in the log of
# `burstctl serve` or of `burstctl bind serve`, or in the stderr of
# `burstctl bind add`. The controller turns away connections past its limit
# (answered busy), closes a connection whose line is too long, and counts
# both in its metrics; the connections it holds meanwhile are served.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
command -v curl >/dev/null || skip "curl is not installed (make deps installs it)"
setup_topology 198.18.49 2001:db8:49
POL=$TMPF.policy.yaml
SOCK=$TMPF.sock
PORT=$((20000 + ($$ + 17) % 20000))
LIMIT=256 # BIND_CONNS_MAX in user/serve/bind.c

newtok() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }
umask 077
newtok >"$TMPF.tok"
SECRET=$(cat "$TMPF.tok")
write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b]
identities:
  agent: { token_files: ["$TMPF.tok"] }
YAML
serve_start "$TMPF.log" --policy "$POL" --bind-socket "$SOCK" --metrics "127.0.0.1:$PORT" || exit 1

# ask SOCK: one request per line of stdin, one reply line printed for each
cat >"$TMPF.ask.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rb")
for line in sys.stdin.buffer:
    s.sendall(line)
    print(f.readline().decode().rstrip("\n"), flush=True)
PY
ask() { "$PY" "$TMPF.ask.py" "$1"; }
metric() {
	ip netns exec "$RX" curl -sS --max-time 5 "http://127.0.0.1:$PORT/metrics" |
		awk -v k="$1" '$1 == k { print $2 }'
}

# The token in each field in turn, and shifted by a missing field.
A=198.18.49.10 B=198.18.49.1
cat >"$TMPF.bad" <<EOF
BIND $SECRET $A 40000 $B 443 $SECRET
BIND tcp $SECRET 40000 $B 443 x
BIND tcp $A $SECRET $B 443 x
BIND tcp $A 40000 $SECRET 443 x
BIND tcp $A 40000 $B $SECRET x
BIND tcp $A 40000 $B 443 x $SECRET
BIND tcp $A $B 443 $SECRET 30
UNBIND tcp $A 40000 $B $SECRET
$SECRET
EOF
NBAD=$(wc -l <"$TMPF.bad")

echo "-- the controller: malformed requests carrying the token"
ask "$SOCK" <"$TMPF.bad" >"$TMPF.bad.replies"
check "each refused as a bad request ($NBAD)" eq "$(grep -c '^ERR bad-request ' "$TMPF.bad.replies")" "$NBAD"
check "the replies name the field: proto, src, sport, dst, dport, idle" eq \
	"$(grep -o '^ERR bad-request [a-z]*' "$TMPF.bad.replies" | awk '{ print $3 }' | sort -u | tr '\n' ' ')" \
	"dport dst idle proto sport src unknown "
check "the token in no reply" sh -c "! grep -qF -- '$SECRET' '$TMPF.bad.replies'"
wait_log "$TMPF.log" "bad request: unknown request" 5
check "each logged ($NBAD lines)" eq "$(count_log "$TMPF.log" 'bind: uid 0: bad request: ')" "$NBAD"
echo "BIND tcp $A 40000 $B 443 $SECRET" | ask "$SOCK" >"$TMPF.ok"
check "the same token binds when in its place" grep -q '^OK agent [0-9a-f]\{12\}$' "$TMPF.ok"
wait_log "$TMPF.log" "bind: uid 0: bound tcp $A:40000" 5
check "the token in no line of serve's log" sh -c "! grep -qF -- '$SECRET' '$TMPF.log'"

echo "-- burstctl bind add with the token where a value goes"
i=0
for args in "proto $SECRET src $A sport 1 dst $B dport 2" "proto tcp src $SECRET sport 1 dst $B dport 2" \
	"proto tcp src $A sport $SECRET dst $B dport 2" "proto tcp src $A sport 1 dst $SECRET dport 2" \
	"proto tcp src $A sport 1 dst $B dport $SECRET" "proto tcp src $A sport 1 dst $B dport 2 idle $SECRET"; do
	i=$((i + 1))
	# shellcheck disable=SC2086 # the words of $args are the arguments
	bctl bind add $args <"$TMPF.tok" >/dev/null 2>"$TMPF.add.$i" && echo "bind add $i: accepted"
done
cat "$TMPF".add.* >"$TMPF.add"
check "bind add: 6 refusals, each naming its field" eq \
	"$(grep -o 'bind add: [a-z]* ([0-9]* bytes)' "$TMPF.add" | awk '{ print $3 }' | sort | tr '\n' ' ')" \
	"dport dst idle proto sport src "
check "bind add: the token in no message" sh -c "! grep -qF -- '$SECRET' '$TMPF.add'"

echo "-- burstctl bind serve: the same requests"
SOCK2=$TMPF.sock2
nsenter --net="/run/netns/$RX" "$BURSTCTL" -d "$PIN" bind serve socket "$SOCK2" 2>"$TMPF.serve2" &
BS=$!
for _ in $(seq 50); do
	[ -S "$SOCK2" ] && break
	sleep 0.1
done
ask "$SOCK2" <"$TMPF.bad" >"$TMPF.bad.replies2"
kill $BS
wait $BS 2>/dev/null
check "bind serve: each refused as a bad request" eq "$(grep -c '^ERR bad-request ' "$TMPF.bad.replies2")" "$NBAD"
check "bind serve: each logged" eq "$(grep -c 'bind: uid 0: bad request: ' "$TMPF.serve2")" "$NBAD"
check "bind serve: the token in no reply or log line" \
	sh -c "! grep -qF -- '$SECRET' '$TMPF.bad.replies2' '$TMPF.serve2'"

echo "-- a line longer than 1024 bytes"
"$PY" - "$SOCK" >"$TMPF.long" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"BIND " + b"x" * 2000)  # no end of line
data = b""
while True:
    got = s.recv(4096)
    if not got:
        break
    data += got
print(data.decode().rstrip("\n"))
print("closed")
PY
check "answered bad-request" grep -q '^ERR bad-request line longer than 1024 bytes$' "$TMPF.long"
check "and closed" grep -q '^closed$' "$TMPF.long"

echo "-- the connection limit ($LIMIT)"
for _ in $(seq 50); do
	[ "$(metric burstgate_bind_connections)" = 0 ] && break
	sleep 0.1
done
check "no connection left open before" eq "$(metric burstgate_bind_connections)" 0
"$PY" - "$SOCK" "$LIMIT" "$A" "$B" >"$TMPF.cap" <<'PY'
import os, socket, sys
path, limit, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
PER_PID = 16  # BIND_CONNS_PER_PID: each group connected by a child of its own
conns = [socket.socket(socket.AF_UNIX) for _ in range(limit + 4)]  # 4 past the limit
for i in range(0, len(conns), PER_PID):
    pid = os.fork()
    if pid == 0:  # the peer's pid is the connecting process's
        for s in conns[i:i + PER_PID]:
            s.connect(path)  # blocking: waits while the listen backlog is full
        os._exit(0)
    os.waitpid(pid, 0)
for s in conns:
    s.settimeout(10)
req = ("UNBIND tcp %s 1 %s 2\n" % (a, b)).encode()
replies = {}
for s in conns:
    try:
        s.sendall(req)
    except OSError:
        pass  # refused and closed: its busy line is waiting
    line = s.makefile("rb").readline().decode().split(" ")[:2]
    key = " ".join(line).strip()
    replies[key] = replies.get(key, 0) + 1
for k in sorted(replies):
    print(k, replies[k])
for s in conns:
    s.close()
PY
cat "$TMPF.cap"
check "$LIMIT connections held and served" grep -qx "ERR not-bound $LIMIT" "$TMPF.cap"
check "4 past the limit answered busy" grep -qx "ERR busy 4" "$TMPF.cap"
check "nothing else" eq "$(wc -l <"$TMPF.cap")" 2
echo "UNBIND tcp $A 1 $B 2" | ask "$SOCK" >"$TMPF.after"
check "served again once they are closed" grep -q '^ERR not-bound ' "$TMPF.after"

echo "-- counted and logged"
ip netns exec "$RX" curl -sS --max-time 5 -o "$TMPF.m" "http://127.0.0.1:$PORT/metrics"
val() { awk -v k="$1" '$1 == k { print $2 }' "$TMPF.m"; }
check "metrics: the limit" eq "$(val burstgate_bind_connections_limit)" "$LIMIT"
check "metrics: 4 connections refused" eq "$(val burstgate_bind_connections_refused_total)" 4
check "metrics: ... as busy replies" eq "$(val 'burstgate_bind_errors_total{reason="busy"}')" 4
check "metrics: 1 closed for a line too long" eq \
	"$(val 'burstgate_bind_connections_closed_total{reason="oversize"}')" 1
check "metrics: the token in no series" sh -c "! grep -qF -- '$SECRET' '$TMPF.m'"
# (summed at most once a second: 4 in one line, or split across a second)
for i in $(seq 50); do
	n=$(grep -oE "bind socket: [0-9]+ connections? refused \(busy\)" "$TMPF.log" |
		awk '{ s += $3 } END { print s + 0 }')
	[ "$n" -ge 4 ] && break
	sleep 0.1
done
check "log: the 4 refusals summed, not one line each ($n in $(count_log "$TMPF.log" 'connections? refused \(busy\)') lines)" \
	sh -c "[ '$n' -eq 4 ] && [ $(count_log "$TMPF.log" 'connections? refused \(busy\)') -le 2 ]"
serve_stop
check "the token in no line of serve's log, to the end" sh -c "! grep -qF -- '$SECRET' '$TMPF.log'"
finish
