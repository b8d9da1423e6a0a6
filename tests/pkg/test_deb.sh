#!/bin/bash
# vmtest: kernel (also in make vmtest's 6.12 guest: removal tears down a live state)
# The Debian packages as a user gets them: `dpkg -i` of what `make deb`
# built (.output/deb), the installed burstctl and unit, a short attach /
# limit / detach with /usr/sbin/burstctl on a namespace topology, a program
# built against burstgate-dev, then remove (burstgate torn down) and purge:
# nothing the packages installed is left. Run by `tests/run-suites pkg`, on
# the host and in make vmtest's 6.12 guest, whose root file system is
# read-only: there dpkg works on a copy-on-write view (overlayfs, in a mount
# namespace of its own), and the host is never touched.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DEBS=${OUTPUT:-$ROOT/.output}/deb

if [ -n "${BG_PKG_OVERLAY:-}" ]; then
	# Re-run below in a mount namespace of its own: overlays over what dpkg writes.
	ov=$(mktemp -d /tmp/bgpkg-ov.XXXXXX)
	for d in /usr /etc /var; do
		mkdir -p "$ov$d/up" "$ov$d/work"
		mount -t overlay overlay -o "lowerdir=$d,upperdir=$ov$d/up,workdir=$ov$d/work" "$d" || {
			echo "FAIL: overlayfs over $d: cannot give dpkg a writable view"
			exit 1
		}
	done
	# man-db's trigger re-indexes every man page: minutes under emulation
	rm -f /var/lib/man-db/auto-update
	echo "(read-only root: dpkg works on an overlay in a private mount namespace)"
elif [ "$(id -u)" = 0 ] && ! touch /usr/.bg-rw-probe 2>/dev/null; then
	exec unshare -m --propagation private env BG_PKG_OVERLAY=1 bash "$0" "$@"
fi
rm -f /usr/.bg-rw-probe

. "$ROOT/tests/net/lib.sh"
require_root
command -v dpkg >/dev/null || skip "dpkg is not installed (not a Debian system)"
deb=$(ls "$DEBS"/burstgate_*.deb 2>/dev/null | tail -1)
dev=$(ls "$DEBS"/burstgate-dev_*.deb 2>/dev/null | tail -1)
[ -n "$deb" ] && [ -n "$dev" ] || { echo "FAIL: no packages in $DEBS: run make deb first"; exit 1; }
if [ -z "${BG_PKG_OVERLAY:-}" ] && dpkg -s burstgate >/dev/null 2>&1; then
	skip "a burstgate package is installed on this host: not replacing it (the VM run tests the package)"
fi
PKGS="burstgate burstgate-dev"
setup_topology 198.18.72 2001:db8:72
cleanup_pkg() {
	local rc=$?
	# (dpkg reads its whole database: slow in the VMs, so only if needed)
	[ -z "$(dpkg-query -W -f='${db:Status-Abbrev}' $PKGS 2>/dev/null)" ] || dpkg -P $PKGS >/dev/null 2>&1
	(exit $rc)
	cleanup
}
trap cleanup_pkg EXIT INT TERM
# The package's prerm tears down the default state (/sys/fs/bpf/burstgate)
# on removal. The test uses that folder only in a VM of make vmtest: on a
# shared host another burstgate may start using it at any time.
own_default=0
[ -n "${BURSTGATE_VM:-}" ] && [ ! -e /sys/fs/bpf/burstgate ] && own_default=1

t0=$(date +%s)
# 0. lintian, every tag down to pedantic (the overrides say why). On the
# host only: it is the same package in the VM, and slow there.
if [ -z "${BURSTGATE_VM:-}" ] && command -v lintian >/dev/null; then
	lintian -I --pedantic --fail-on error,warning,info,pedantic "$deb" "$dev" >"$TMPF.lint" 2>&1
	check "lintian: no tag but the explained overrides" test $? = 0
	grep -v "^running with root" "$TMPF.lint"
elif [ -z "${BURSTGATE_VM:-}" ]; then
	check "lintian is installed (make deps)" false
fi
# 1. Install.
dpkg -i "$deb" "$dev" >"$TMPF.i" 2>&1 || cat "$TMPF.i"
check "dpkg -i burstgate burstgate-dev" dpkg -s $PKGS
dpkg -L $PKGS | sort -u >"$TMPF.files"
BURSTCTL=/usr/sbin/burstctl
check "/usr/sbin/burstctl is installed" test -x $BURSTCTL
$BURSTCTL -V >"$TMPF.v"
check "burstctl version names the release" grep -Eq '^burstctl [0-9.]+ \(commit ' "$TMPF.v"
unit=/lib/systemd/system/burstgate.service
check "the unit runs /usr/sbin/burstctl" grep -q '^ExecStart=/usr/sbin/burstctl serve' $unit
check "...only once a policy exists" grep -q '^ConditionPathExists=/etc/burstgate/policy.yaml' $unit
dpkg-query -W -f='${Conffiles}\n' burstgate >"$TMPF.conf"
check "/etc/burstgate/serve.env is a conffile" grep -q '/etc/burstgate/serve.env' "$TMPF.conf"
check "the man page" test -f /usr/share/man/man8/burstctl.8.gz
check "the example policy is valid" $BURSTCTL policy check /usr/share/doc/burstgate/examples/policy.yaml
check "the bind client header and library" \
	test -f /usr/include/burstgate/bg_client.h -a -f /usr/lib/"$(gcc -print-multiarch)"/libburstgate_client.a

# 2. A program built against burstgate-dev, through pkg-config.
cat >"$TMPF.c" <<'EOF'
#include <bg_client.h>
#include <stdio.h>
int main(void) { struct bg_client_reply r; return bg_client_bind(-1, "t", 1, 0, NULL, &r) < 0 ? 0 : 1; }
EOF
check "a program compiles and links against burstgate-dev (pkg-config burstgate-client)" \
	gcc "$TMPF.c" -o "$TMPF.bin" $(pkg-config --cflags --libs burstgate-client)

# 3. Attach, limit, detach with the installed burstctl.
[ $own_default = 1 ] && PIN=/sys/fs/bpf/burstgate # the prerm's teardown is tested below
bctl attach "${P}b" >/dev/null
check "attach with the installed burstctl" eq "$(bctl -j status | json - "len(j['attached'])")" 1
bctl identity add agent rate 10pps burst 20 >/dev/null
bctl prefix add 198.18.72.10 identity agent >/dev/null
send --dst 198.18.72.1 --port 9000 --src 198.18.72.10 --count 100 >/dev/null
passed=$(stat agent passed_pkts)
check "the agent is held to its burst ($passed of 100 passed)" within "$passed" 21 10
if [ $own_default = 0 ]; then
	bctl detach "${P}b" >/dev/null
	check "detach" eq "$(bctl -j status | json - "len(j['attached'])")" 0
	bctl teardown >/dev/null
fi

# 4. Remove: the package's prerm tears burstgate down; then purge.
dpkg -r $PKGS >"$TMPF.r" 2>&1 || cat "$TMPF.r"
check "dpkg -r" eq "$(dpkg-query -W -f='${db:Status-Abbrev}' burstgate)" "rc "
if [ $own_default = 1 ]; then
	check "removal tore burstgate down: no state left" test ! -e /sys/fs/bpf/burstgate
	check "...and no XDP program on the interface" \
		eq "$(ip -n "$RX" -j link show dev "${P}b" | json - "j[0].get('xdp', {}).get('prog', {}).get('id', 0)")" 0
else
	echo "(the prerm's teardown of /sys/fs/bpf/burstgate is checked in make vmtest's 6.12 guest only)"
fi
check "after remove: burstctl is gone" test ! -e /usr/sbin/burstctl
check "...the conffile stays until purge" test -f /etc/burstgate/serve.env
dpkg -P $PKGS >"$TMPF.p" 2>&1 || cat "$TMPF.p"
check "dpkg -P" test -z "$(dpkg-query -W -f='${db:Status-Abbrev}' burstgate 2>/dev/null)"
left=0
while read -r f; do
	# A folder others share (/usr/share/doc, /etc, /lib) stays; anything of ours must not.
	if [ -d "$f" ]; then
		[ -z "$(ls -A "$f" 2>/dev/null)" ] && { echo "  left: empty folder $f"; left=$((left + 1)); }
	elif [ -e "$f" ] || [ -L "$f" ]; then
		echo "  left: $f"
		left=$((left + 1))
	fi
done <"$TMPF.files"
check "after purge: nothing of the $(wc -l <"$TMPF.files") paths the packages listed is left" eq "$left" 0
check "...not /etc/burstgate either" test ! -e /etc/burstgate
# 5. The /usr/local way: make install, then make uninstall takes it all
# back (into a DESTDIR, so the host stays as it is). Not in the VM, whose
# copy of the repository is read-only (and it is the same Makefile).
[ -n "${BURSTGATE_VM:-}" ] && { echo "(the whole test: $(($(date +%s) - t0)) s)"; finish; exit; }
d=$(mktemp -d /tmp/bgpkg-dest.XXXXXX)
make -C "$ROOT" --no-print-directory -s install DESTDIR="$d" >/dev/null 2>"$TMPF.mi"
check "make install puts burstctl under /usr/local" test -x "$d/usr/local/sbin/burstctl"
check "...and the unit, naming it" grep -q "^ExecStart=/usr/local/sbin/burstctl serve" "$d/etc/systemd/system/burstgate.service"
make -C "$ROOT" --no-print-directory -s uninstall DESTDIR="$d" >"$TMPF.mu" 2>&1 || cat "$TMPF.mu"
find "$d" ! -type d >"$TMPF.left"
check "make uninstall leaves only /etc/burstgate/serve.env (configuration)" \
	eq "$(sed "s|^$d||" "$TMPF.left")" /etc/burstgate/serve.env
rm -rf "$d"
echo "(the whole test: $(($(date +%s) - t0)) s)"
finish
