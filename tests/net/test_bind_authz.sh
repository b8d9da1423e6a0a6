#!/bin/bash
# The bind socket among several local users (issue 9, items 8 and 9). The
# socket is shared with a group; two of its members (uids 4241 and 4242,
# unprivileged) serve agents a and b. A binding may be replaced or removed
# only by the uid that made it, root, or a request carrying the
# connection's token; refusals are answered `forbidden`, counted, and
# logged at most 20 a second; who bound what survives a restart. And one
# member cannot take every slot: at most 16 connections per process and
# 64 per uid, while another member still binds. Cost: about 15 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"
require_root
command -v curl >/dev/null || skip "curl is not installed (make deps)"
command -v setpriv >/dev/null || skip "setpriv is not installed (util-linux)"
setup_topology 198.18.62 2001:db8:62
POL=$TMPF.policy.yaml
SOCK=$TMPF.sock
PORT=$((20000 + ($$ + 29) % 20000))
GID=65534 # the socket's group (nogroup): the two users are its members

newtok() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }
umask 077
newtok >"$TMPF.ta"
newtok >"$TMPF.tb"
TA=$(cat "$TMPF.ta") TB=$(cat "$TMPF.tb")
write_policy "$POL" <<YAML
version: 1
host:
  interfaces: [${P}b]
identities:
  agent-a: { rate: 100pps, token_files: ["$TMPF.ta"] }
  agent-b: { rate: 100pps, token_files: ["$TMPF.tb"] }
YAML
chmod 0711 "$(dirname "$SOCK")" 2>/dev/null
serve_start "$TMPF.log" --policy "$POL" --bind-socket "$SOCK" --bind-socket-group "$GID" \
	--metrics "127.0.0.1:$PORT" || exit 1

umask 022
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
# as UID: one request per line of stdin, one reply printed for each
as() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$GID" --clear-groups "$@"
}
ask() { as "$1" "$PY" "$TMPF.ask.py" "$SOCK"; }
ask_root() { "$PY" "$TMPF.ask.py" "$SOCK"; }
metric() {
	ip netns exec "$RX" curl -sS --max-time 5 "http://127.0.0.1:$PORT/metrics" |
		awk -v k="$1" '$1 == k { print $2 }'
}
# who the connection is bound to now (empty: not bound)
bound_to() {
	bctl -j bind list | json - "' '.join(e.get('identity', '?') for e in j['flows'] if e.get('sport') == 40000)"
}
A=198.18.62.10 B=198.18.62.1
K="tcp $A 40000 $B 9000"

echo "-- who may change a binding"
check "uid 4241 binds with a's token" grep -q '^OK agent-a ' <(echo "BIND $K $TA" | ask 4241)
echo "UNBIND $K" | ask 4242 >"$TMPF.r1"
check "uid 4242 may not unbind it: forbidden" grep -q "^ERR forbidden .*bound by uid 4241" "$TMPF.r1"
check "... still bound to a" eq "$(bound_to)" agent-a
check "uid 4242 may not rebind it with b's token" grep -q '^ERR forbidden ' <(echo "BIND $K $TB" | ask 4242)
check "... still bound to a" eq "$(bound_to)" agent-a
check "nor unbind it with another token" grep -q '^ERR forbidden ' <(echo "UNBIND $K $TB" | ask 4242)
check "the connection's token may unbind it" grep -qx 'OK' <(echo "UNBIND $K $TA" | ask 4242)
check "... gone" eq "$(bound_to)" ""
echo "BIND $K $TA" | ask 4241 >/dev/null
check "the same token may bind it again, from another uid" grep -q '^OK agent-a ' <(echo "BIND $K $TA" | ask 4242)
check "... which owns it now: 4241 may not unbind" grep -q '^ERR forbidden .*uid 4242' <(echo "UNBIND $K" | ask 4241)
check "the same uid may" grep -qx 'OK' <(echo "UNBIND $K" | ask 4242)
echo "BIND $K $TA" | ask 4241 >/dev/null
check "root may" grep -qx 'OK' <(echo "UNBIND $K" | ask_root)
check "a free connection may be bound by anyone" grep -q '^OK agent-b ' <(echo "BIND $K $TB" | ask 4242)

echo "-- refusals: logged (throttled) and counted"
for _ in $(seq 200); do echo "UNBIND $K"; done | ask 4241 >"$TMPF.r200"
check "200 refused" eq "$(grep -c '^ERR forbidden ' "$TMPF.r200")" 200
wait_log "$TMPF.log" "more refused requests not logged" 5
check "logged with whose it is" grep -q "bind: uid 4241: unbind tcp $A:40000 -> $B:9000 refused: .*bound by uid 4242" "$TMPF.log"
check "at most 20 a second in the log" le "$(count_log "$TMPF.log" 'bind: uid 4241: unbind .* refused')" 45
check "the rest summed up" grep -q "more refused requests not logged" "$TMPF.log"
check "metrics: forbidden counted" le 200 "$(metric 'burstgate_bind_errors_total{reason="forbidden"}')"
check "the tokens in no log line" sh -c "! grep -qF -e '$TA' -e '$TB' '$TMPF.log'"

echo "-- who bound what survives a restart"
serve_stop
serve_start "$TMPF.log2" --policy "$POL" --bind-socket "$SOCK" --bind-socket-group "$GID" \
	--metrics "127.0.0.1:$PORT" || exit 1
check "after a restart, 4241 still may not unbind 4242's binding" \
	grep -q '^ERR forbidden .*uid 4242' <(echo "UNBIND $K" | ask 4241)
check "... and 4242 still may" grep -qx 'OK' <(echo "UNBIND $K" | ask 4242)

echo "-- slots: per process and per user"
cat >"$TMPF.hold.py" <<'PY'
import os, socket, sys, time
path, nproc, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = [socket.socket(socket.AF_UNIX) for _ in range(nproc * per)]
for i in range(nproc):
    pid = os.fork()
    if pid == 0:  # the peer's pid is the connecting process's
        for s in conns[i * per:(i + 1) * per]:
            s.connect(path)
        os._exit(0)
    os.waitpid(pid, 0)
counts = {}
for s in conns:
    s.settimeout(10)
    try:
        s.sendall(b"UNBIND tcp 198.18.62.10 1 198.18.62.1 2\n")
    except OSError:
        pass  # refused and closed: its busy line is waiting
    r = s.makefile("rb").readline().decode().strip()
    key = r.split(" ")[1]
    if key == "busy":  # which cap its message names
        key += "-process" if "your process" in r else "-user" if "your user" in r else "-all"
    counts[key] = counts.get(key, 0) + 1
for k in sorted(counts):
    print(k, counts[k], flush=True)
print("holding", flush=True)
time.sleep(float(sys.argv[4]))
PY
as 4242 "$PY" "$TMPF.hold.py" "$SOCK" 1 40 0 >"$TMPF.pid40"
cat "$TMPF.pid40"
check "one process: 16 served" grep -qx "not-bound 16" "$TMPF.pid40"
check "... 24 told busy: too many from your process" grep -qx "busy-process 24" "$TMPF.pid40"
as 4242 "$PY" "$TMPF.hold.py" "$SOCK" 6 16 6 >"$TMPF.uid96" &
HOLD=$!
wait_log "$TMPF.uid96" "^holding" 15
cat "$TMPF.uid96"
check "one user, 6 processes: 64 served" grep -qx "not-bound 64" "$TMPF.uid96"
check "... 32 told busy: too many from your user" grep -qx "busy-user 32" "$TMPF.uid96"
check "meanwhile another member still binds" grep -q '^OK agent-a ' <(echo "BIND $K $TA" | ask 4241)
check "and root" grep -qx 'OK' <(echo "UNBIND $K" | ask_root)
check "metrics: open connections held to the per-user cap" le "$(metric burstgate_bind_connections)" 64
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
serve_stop
finish
