#!/bin/bash
# The docs match the program: every C example compiles, every policy
# example is a valid policy, every JSON example matches docs/json.md, the
# man page lists exactly the commands of `burstctl help` and every file of
# a fresh state, and README, man page and burstctl agree on the minimum
# kernel and on what `status` prints. Root for the state; no traffic.
. "$(dirname "$0")/lib.sh"
require_root
trap cleanup EXIT INT TERM
TMPF=$(mktemp /tmp/${P}.XXXXXX)
MAN=$ROOT/docs/burstctl.8
DOCS=("$ROOT/README.md" "$ROOT"/docs/*.md)
b() { "$BURSTCTL" -d "$PIN" "$@"; }

# blocks LANG FILE...: each ```LANG block of the files, as FILE:LINE then its lines, NUL between
blocks() {
	local lang=$1
	shift
	awk -v lang="$lang" '
		$0 ~ "^```" lang "$" { on = 1; printf "%s:%d\n", FILENAME, FNR + 1; next }
		on && /^```/ { on = 0; printf "%c", 0; next }
		on { print }' "$@"
}

echo "# C examples compile (against the headers they use, -Wall -Werror)"
n=0
compile_c() { # compile_c WHERE: the snippet on stdin, in a function with fd and token
	local where=$1 src=$TMPF.c.$n.c
	{
		printf '#include <stdio.h>\n#include <string.h>\n#include "bg_client.h"\n'
		printf 'void example(int fd, const char *token, size_t token_len);\n'
		printf 'void example(int fd, const char *token, size_t token_len)\n{\n#line 1 "%s"\n' "$where"
		cat
		printf '\n}\n'
	} >"$src"
	check "C example at $where compiles" \
		gcc -std=gnu11 -Wall -Wextra -Werror -I"$ROOT/client" -c "$src" -o "$TMPF.c.$n.o"
	n=$((n + 1))
}
# the usage comment at the top of client/bg_client.h: its lines " *<tab>code"
compile_c client/bg_client.h < <(sed -n '1,/\*\//p' "$ROOT/client/bg_client.h" | sed -n 's/^ \*\t//p')
while IFS= read -r -d '' blk; do
	compile_c "${blk%%$'\n'*}" <<<"${blk#*$'\n'}"
done < <(blocks c "${DOCS[@]}")
check "there were C examples to compile ($n)" le 2 "$n"
gcc -std=gnu11 -Wall -Wextra -Werror -I"$ROOT/client" -c "$ROOT/examples/bind_server.c" -o "$TMPF.bs.o"
check "examples/bind_server --help: usage, exit 0" sh -c "'$OUT/examples/bind_server' --help | grep -q '^usage: bind_server'"

echo "# policy examples are valid policies"
# What only this machine lacks is made for them: the token files they name
# (one token each, 0600) and the bind socket group (root's group instead).
n=0
while IFS= read -r -d '' blk; do
	where=${blk%%$'\n'*}
	y=$TMPF.pol.$n.yaml
	body=${blk#*$'\n'}
	grep -q '^version:' <<<"$body" || body=$'version: 1\n'"$body" # a fragment
	sed -e "s|/etc/burstgate/tokens/|$TMPF.tokens-|g" \
		-e 's/bind_socket_group: [A-Za-z_][A-Za-z0-9_-]*/bind_socket_group: 0/' <<<"$body" >"$y"
	for f in $(grep -o "$TMPF.tokens-[A-Za-z0-9._-]*" "$y"); do
		echo "doc-example-token-$n" >"$f" && chmod 600 "$f"
	done
	b policy check "$y" >"$TMPF.out" 2>&1
	check "policy example at $where: valid ($(tail -1 "$TMPF.out" | cut -c1-80))" \
		grep -q ": valid:" "$TMPF.out"
	n=$((n + 1))
done < <(blocks yaml "${DOCS[@]}")
check "there were policy examples ($n)" le 3 "$n"
check "examples/policy.yaml: valid" b policy check "$ROOT/examples/policy.yaml"

echo "# JSON examples match docs/json.md"
# README: a `# burstctl -j CMD ...` line, then its answer
awk '/^# burstctl (-j|-p) / { cmd = $0; sub(/^# burstctl -[jp] /, "", cmd); next }
	cmd != "" && /^[{]/ { print cmd "\t" $0 } { cmd = "" }' "$ROOT/README.md" >"$TMPF.rj"
n=0
while IFS=$'\t' read -r cmd doc; do
	# the schema's name: the command words before its arguments
	key=$("$PY" -S -E "$ROOT/tests/tools/json_schema.py" "$ROOT/docs/json.md" commands |
		while read -r c; do [[ " $cmd " == " $c "* ]] && echo "$c"; done | awk '{ print length, $0 }' | sort -rn | head -1 | cut -d' ' -f2-)
	echo "$doc" >"$TMPF.j.$n"
	check "README: the answer of \`burstctl -j $cmd\` matches \`$key\`" schema "$key" "$TMPF.j.$n"
	n=$((n + 1))
done <"$TMPF.rj"
check "there were JSON answers in the README ($n)" le 1 "$n"
# docs/controller.md: the audit log line (split over lines for reading; "..." elided)
blocks json "$ROOT/docs/controller.md" | tr -d '\0' | tail -n +2 | tr -d '\n' |
	sed 's/, \.\.\.//g' >"$TMPF.audit"
check "controller.md: the audit log example matches AuditRecord" schema "audit log" "$TMPF.audit"

echo "# the man page's commands are burstctl's"
"$BURSTCTL" help | awk '/^Objects and commands:/ { on = 1; next } /^$/ { on = 0 } on' |
	while read -r obj second _; do
		if [[ "$second" =~ ^[a-z]+(\|[a-z]+)+$ ]]; then
			for c in ${second//|/ }; do echo "$obj $c"; done
		else
			echo "$obj"
		fi
	done | sort -u >"$TMPF.help"
grep '^\.SS ' "$MAN" | sed 's/\\f[BIRP]//g; s/\\-/-/g; s/^\.SS //' | while read -r obj second _; do
	if grep -q "^$obj [a-z]" "$TMPF.help" && [ -n "$second" ]; then
		echo "$obj $second"
	else
		echo "$obj"
	fi
done | sort -u >"$TMPF.man"
check "every command of \`burstctl help\` has a section in burstctl(8) (missing: $(comm -23 "$TMPF.help" "$TMPF.man" | tr '\n' ',' | sed 's/,$//'))" \
	eq "$(comm -23 "$TMPF.help" "$TMPF.man")" ""
check "every command in burstctl(8) is in \`burstctl help\` (extra: $(comm -13 "$TMPF.help" "$TMPF.man" | tr '\n' ',' | sed 's/,$//'))" \
	eq "$(comm -13 "$TMPF.help" "$TMPF.man")" ""

echo "# FILES lists every file of a fresh state"
b setup >/dev/null
missing=""
for f in "$PIN"/*; do
	name=$(basename "$f")
	[ -d "$f" ] && name="$name/"
	sed -n '/^\.SH FILES/,/^\.SH /p' "$MAN" | grep -qF -- "${name%/}" || missing+=" $name"
done
check "burstctl(8) FILES names every pinned map and folder (missing:${missing:- none})" eq "$missing" ""

echo "# one minimum kernel, and the status the README shows"
min=$(sed -n 's/^#define BG_KERNEL_MIN "\(.*\)"/\1/p' "$ROOT/user/bg_state.h")
check "README says the minimum is Linux $min" grep -q "minimum is Linux $min\b" "$ROOT/README.md"
check "burstctl(8) says Linux $min or later" grep -q "Linux $min or later" "$MAN"
others=$(grep -ohE "(minimum is Linux|Linux) [0-9]+\.[0-9]+ or later|minimum is Linux [0-9]+\.[0-9]+" \
	"$ROOT/README.md" "$MAN" | grep -v " $min" || true)
check "no other minimum anywhere (${others:-none})" eq "$others" ""
b status >"$TMPF.status"
sed -n '/^# burstctl status$/,/^# /p' "$ROOT/README.md" | sed '1d;$d' >"$TMPF.rstatus"
check "README's status example has the lines status prints, in order" \
	eq "$(awk '{ print $1 }' "$TMPF.rstatus" | tr '\n' ' ')" "$(awk '{ print $1 }' "$TMPF.status" | tr '\n' ' ')"
check "README's status example lists the features status probes" \
	eq "$(grep '^features' "$TMPF.rstatus" | grep -oE '[a-z_]+=' | tr '\n' ' ')" \
	"$(grep '^features' "$TMPF.status" | grep -oE '[a-z_]+=' | tr '\n' ' ')"
check "status of a folder not on a bpffs says so (not 'setup creates it')" sh -c \
	"'$BURSTCTL' -d /tmp/$P-notbpf status | grep -q 'is not on a bpf filesystem'"
finish
