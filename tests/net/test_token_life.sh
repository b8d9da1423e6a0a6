#!/bin/bash
# The life of an agent's token, end to end, with curl agents and a real HTTP
# server (docs/tokens.md, "Rotation" and "The audit trail"): `token rotate`
# keeps the old token working until its grace ends, then it falls back as an
# expired token; a token taken out of a policy's token file lives out the
# identity's token_grace the same way; every change is in the audit log by
# fingerprint, with who made it; and no byte of any token is anywhere in
# the pin folder's maps, the audit log or burstctl's output.
. "$(dirname "$0")/lib.sh"
require_root
command -v curl >/dev/null || skip "curl is not installed (make deps installs it)"
command -v bpftool >/dev/null || skip "bpftool is not installed (make deps installs it)"
setup_topology 198.18.60 2001:db8:60
SRV=198.18.60.1
URL=http://$SRV:8080/v1/models
export BURSTGATE_AUDIT_LOG=$TMPF.audit
GRACE=10 # seconds: long enough to use the old token within it, short to wait out

newtok() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }
umask 077
for t in old new fileold filenew; do
	newtok >"$TMPF.tok.$t"
	# curl reads the header from a file: no token on any command line
	printf 'Authorization: Bearer %s\n' "$(cat "$TMPF.tok.$t")" >"$TMPF.hdr.$t"
done

bctl attach "${P}b" >/dev/null || exit 1
bctl identity add agent rate 5kpps burst 1000 >/dev/null
bctl token add identity agent --token-file "$TMPF.tok.old" >"$TMPF.cli.add"

ip netns exec "$RX" "$PY" "$ROOT/tests/net/http_server.py" --bind "$SRV" --port 8080 --duration 120 \
	>"$TMPF.http" 2>"$TMPF.http.err" &
HTTPD=$!
for _ in $(seq 50); do
	grep -q listening "$TMPF.http.err" && break
	sleep 0.1
done
grep -q listening "$TMPF.http.err" || { echo "http server did not start: $(cat "$TMPF.http.err")"; exit 1; }

# req TOKEN N: N requests on one connection with that token's header; prints the 200s
req() {
	local urls=()
	for _ in $(seq "$2"); do urls+=("$URL"); done
	timeout 10 ip netns exec "$TX" curl --noproxy '*' -s --max-time 10 -H @"$TMPF.hdr.$1" \
		-o /dev/null -w '%{http_code}\n' "${urls[@]}" | grep -c '^200'
}
# sleep until GRACE (and a little) after a `date +%s.%N`
wait_grace() {
	sleep "$(awk -v t="$1" -v g=$GRACE -v now="$(date +%s.%N)" 'BEGIN { d = t + g + 0.3 - now; if (d < 0) d = 0; print d }')"
}
cnt() { bctl -j stats | json - "j['counters']['$1']['$2']"; }
fp_of() { bctl -j token show --token-file "$TMPF.tok.$1" | json - "j['fingerprint']"; }
# charged TOKEN N: N requests, all classified as the agent's ("http_token")
charged() {
	local h0 e0
	h0=$(cnt classify http_token)
	e0=$(cnt http expired_token)
	n=$(req "$1" "$2")
	T_DONE=$(date +%s.%N) # when the last request was answered
	check "$1: $2 requests answered" eq "$n" "$2"
	check "$1: charged to the agent ($(($(cnt classify http_token) - h0)) of $2)" \
		eq $(($(cnt classify http_token) - h0)) "$2"
	check "$1: none seen as expired" eq "$(cnt http expired_token)" "$e0"
}
# expired TOKEN N: N requests, all counted as carrying an expired token
expired() {
	local h0 e0
	h0=$(cnt classify http_token)
	e0=$(cnt http expired_token)
	check "$1: $2 requests still answered (default allows)" eq "$(req "$1" "$2")" "$2"
	check "$1: counted as expired ($(($(cnt http expired_token) - e0)) of $2)" \
		eq $(($(cnt http expired_token) - e0)) "$2"
	check "$1: not charged to the agent" eq "$(cnt classify http_token)" "$h0"
}

echo "-- token rotate: the old token works for its grace, then falls back as expired"
FP_OLD=$(fp_of old)
charged old 5
T0=$(date +%s.%N) # the grace ends after T0 + GRACE, and before T_ROT + GRACE
bctl token rotate identity agent grace ${GRACE}s --token-file "$TMPF.tok.new" >"$TMPF.cli.rot"
T_ROT=$(date +%s.%N)
FP_NEW=$(fp_of new)
check "rotate names the old token as retiring" grep -q "retiring   token $FP_OLD, expires in " "$TMPF.cli.rot"
bctl -j token list >"$TMPF.list"
check "token list: old is retiring, with an expiry" eq \
	"$(json "$TMPF.list" "[(t['retiring'], t['expires_at'] is not None) for t in j['tokens'] if t['fingerprint'] == '$FP_OLD']")" \
	"[(True, True)]"
check "token list: new is live, never expires" eq \
	"$(json "$TMPF.list" "[(t['retiring'], t['expires_at']) for t in j['tokens'] if t['fingerprint'] == '$FP_NEW']")" \
	"[(False, None)]"
charged old 5
gap=$(awk -v a="$T0" -v b="$T_DONE" 'BEGIN { printf "%.1f", b - a }')
check "(those old-token requests came within the grace: ${gap}s)" le "$gap" $((GRACE - 1))
charged new 5
wait_grace "$T_ROT"
expired old 3
charged new 3
bctl -j token gc >"$TMPF.cli.gc"
check "token gc removed the old token" eq "$(json "$TMPF.cli.gc" "j['tokens_removed']")" 1

echo "-- token_files with token_grace: a token taken out of its file lives out the grace"
bctl token del --token-file "$TMPF.tok.new" >"$TMPF.cli.del"
cp "$TMPF.tok.fileold" "$TMPF.agentfile"
cat >"$TMPF.pol.yaml" <<EOF
version: 1
host: { interfaces: [${P}b] }
controller: { audit_log: $TMPF.audit }
identities:
  agent: { rate: 5kpps, burst: 1000, token_files: [$TMPF.agentfile], token_grace: ${GRACE}s }
EOF
bctl policy apply "$TMPF.pol.yaml" >"$TMPF.cli.pol1" || { cat "$TMPF.cli.pol1"; exit 1; }
FP_FOLD=$(fp_of fileold)
charged fileold 3
cp "$TMPF.tok.filenew" "$TMPF.agentfile"
T0=$(date +%s.%N)
bctl policy apply "$TMPF.pol.yaml" >"$TMPF.cli.pol2"
T_ROT=$(date +%s.%N)
check "apply: the old token is retiring, not removed" \
	grep -q "token $FP_FOLD of agent: not in its token_files any more: works until" "$TMPF.cli.pol2"
check "apply: 1 in its token_grace" eq "$(bctl -j policy check "$TMPF.pol.yaml" | json - "j['token_changes']['retiring']")" 1
charged fileold 3
gap=$(awk -v a="$T0" -v b="$T_DONE" 'BEGIN { printf "%.1f", b - a }')
check "(those old-token requests came within the grace: ${gap}s)" le "$gap" $((GRACE - 1))
charged filenew 3
wait_grace "$T_ROT"
expired fileold 3
bctl policy apply "$TMPF.pol.yaml" >"$TMPF.cli.pol3"
check "the next apply removes it" grep -q "token $FP_FOLD removed from agent" "$TMPF.cli.pol3"

echo "-- the audit log: every change, by fingerprint, with who made it"
bctl -j audit >"$TMPF.aud"
"${PY}" -S -E "$ROOT/tests/tools/json_schema.py" "$ROOT/docs/json.md" check "audit log" "$TMPF.audit" >"$TMPF.why" &&
	ok=1 || ok=0
check "each line matches docs/json.md ($(head -c 200 "$TMPF.why"))" eq $ok 1
ev() { json "$TMPF.aud" "[r['event'] for r in j['records'] if r.get('fingerprint') == '$1']"; }
check "old: added, rotated out, expired" eq "$(ev "$FP_OLD")" "['token_add', 'token_expire']"
check "new: added by a rotate naming the old one" eq \
	"$(json "$TMPF.aud" "[(r['event'], [o['fingerprint'] for o in r.get('retiring_tokens', [])], r.get('grace_sec')) for r in j['records'] if r.get('fingerprint') == '$FP_NEW']")" \
	"[('token_rotate', ['$FP_OLD'], $GRACE), ('token_remove', [], None)]"
check "the rotate says who: uid, pid and the command" eq \
	"$(json "$TMPF.aud" "[(r['who']['uid'], r['who']['pid'] > 0, r['who']['command']) for r in j['records'] if r['event'] == 'token_rotate']")" \
	"[(0, True, 'burstctl token rotate identity agent grace ${GRACE}s --token-file $TMPF.tok.new')]"
check "the expiry says the grace was over" eq \
	"$(json "$TMPF.aud" "[(r['reason'], r['who']['command']) for r in j['records'] if r['event'] == 'token_expire']")" \
	"[('rotated out: grace over', 'burstctl token gc')]"
check "file token: added, retired, removed, each naming the policy" eq \
	"$(json "$TMPF.aud" "[(r['event'], r['policy']) for r in j['records'] if r.get('fingerprint') == '$FP_FOLD']")" \
	"[('token_add', '$TMPF.pol.yaml'), ('token_retire', '$TMPF.pol.yaml'), ('token_remove', '$TMPF.pol.yaml')]"
check "audit --fingerprint: that token's records only" eq \
	"$(bctl -j audit --fingerprint "$FP_FOLD" | json - "j['record_count']")" 3
check "audit --identity agent --event token_add --since 1h" eq \
	"$(bctl -j audit --identity agent --event token_add --since 1h | json - "j['record_count']")" 3
check "audit --since the future: nothing" eq "$(bctl -j audit --since 2099-01-01T00:00:00Z | json - "j['record_count']")" 0
bctl audit >"$TMPF.aud.txt"
check "audit (text) has a line per record" eq "$(($(wc -l <"$TMPF.aud.txt") - 1))" "$(json "$TMPF.aud" "j['record_count']")"

echo "-- no token anywhere: maps of the pin folder, audit log, output"
# every pinned map, keys and values as bytes, searched for every token's bytes
for m in "$PIN"/bg_*; do
	[ -f "$m" ] || continue
	bpftool -j map dump pinned "$m" 2>/dev/null
done >"$TMPF.dumps"
check "bpftool dumped the pinned maps ($(ls "$PIN" | wc -l) entries in the pin folder)" \
	test -s "$TMPF.dumps"
cat "$TMPF".cli.* "$TMPF.audit" "$TMPF.aud" "$TMPF.aud.txt" >"$TMPF.said"
"$PY" - "$TMPF.dumps" "$TMPF.said" "$TMPF".tok.* >"$TMPF.leak" <<'EOF'
import re, sys
dumps, said, toks = sys.argv[1], sys.argv[2], sys.argv[3:]
blob = bytearray()
# bpftool -j prints bytes as "0x41" strings: rebuild them as byte strings
for m in re.finditer(r'\[((?:"0x[0-9a-f]{2}",?)+)\]', open(dumps).read()):
    blob += bytes(int(b.strip('"'), 16) for b in m.group(1).split(",")) + b"\0"
text = open(said, "rb").read()
for t in toks:
    tok = open(t, "rb").read().strip()
    for where, data in (("a map", blob), ("output or audit log", text)):
        if tok in data or tok[:12] in data:
            print("token of %s found in %s" % (t, where))
EOF
check "no token (nor its first 12 bytes) in any map, the audit log or the output" \
	eq "$(cat "$TMPF.leak")" ""

kill -TERM $HTTPD 2>/dev/null
wait $HTTPD
finish
