#!/bin/bash
# What deploy/ ships, checked without a cluster: the Kubernetes manifests
# against the API's models (Debian's python3-kubernetes, Kubernetes 1.22;
# tests/tools/check_k8s.py), and against burstgate itself: the ConfigMap's
# policy passes `burstctl policy check` with the Secret's token files where
# the DaemonSet mounts them, the controller's arguments are ones `burstctl
# serve` takes, the metrics port is the probes' and the scrape annotation's,
# bpffs is the node's. (No container runtime or cluster here: the image and
# a real rollout are untested; deploy/kubernetes/README.md says so.)
# The Prometheus rules and the Grafana dashboard: tests/net/test_prometheus.sh.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BURSTCTL=${OUTPUT:-$ROOT/.output}/burstctl
K8S=$ROOT/deploy/kubernetes/burstgate.yaml
FAILS=0 CHECKS=0
check() {
	local what=$1
	shift
	CHECKS=$((CHECKS + 1))
	if "$@" >/dev/null; then echo "  ok    $what"; else echo "  FAIL  $what"; FAILS=$((FAILS + 1)); fi
}
/usr/bin/python3 -c 'import kubernetes' 2>/dev/null ||
	{ echo "SKIP: python3-kubernetes is not installed (Debian package; make deps)"; exit 77; }
[ -x "$BURSTCTL" ] || { echo "FAIL: $BURSTCTL missing: run make first"; exit 1; }
T=$(mktemp -d /tmp/bgdeploy.XXXXXX)
trap 'rm -rf "$T"' EXIT

/usr/bin/python3 "$ROOT/tests/tools/check_k8s.py" "$K8S" "$T" >"$T/check.out"
check "the manifests read as their kinds, every field known (Kubernetes API 1.22)" test $? = 0
cat "$T/check.out"
m() { /usr/bin/python3 -c "import json,sys; j=json.load(open('$T/mounts.json')); print($1)"; }

# The policy, with the token files where the Secret is mounted.
check "the DaemonSet mounts the ConfigMap where --policy looks" \
	test "$(m "[k for k, v in j['mounts'].items() if 'configMap' in v][0] + '/policy.yaml'")" = \
	"$(m "j['args'][j['args'].index('--policy') + 1]")"
tokdir=$(m "[k for k, v in j['mounts'].items() if 'secret' in v][0]")
sed "s|$tokdir/|$T/tokens/|g" "$T/policy.yaml" >"$T/policy.local.yaml"
check "every token file of the policy is a key of the Secret under its mount ($tokdir)" \
	test -z "$(grep -o "$tokdir/[^],]*" "$T/policy.yaml" | while read -r f; do [ -f "$T/tokens/${f#"$tokdir"/}" ] || echo "$f"; done)"
chmod 600 "$T"/tokens/*
"$BURSTCTL" policy check "$T/policy.local.yaml" >"$T/pc.out" 2>&1
check "the ConfigMap's policy passes burstctl policy check" test $? = 0
cat "$T/pc.out" | grep -v "^ " | head -5

# The controller's command line and its metrics.
args=$(m "' '.join(j['args'])")
check "the arguments are serve's ($args)" test "$(m "j['args'][0]")" = serve
for opt in $(m "' '.join(a for a in j['args'] if a.startswith('--'))"); do
	check "...serve takes $opt" grep -q -- "$opt" <("$BURSTCTL" serve help 2>&1)
done
port=$(m "j['args'][j['args'].index('--metrics') + 1].rsplit(':', 1)[1]")
check "the metrics port ($port) is the container's port \"metrics\"" \
	test "$(m "[p['containerPort'] for p in j['ports'] if p['name'] == 'metrics'][0]")" = "$port"
check "...the liveness and readiness probes read /metrics there" \
	test "$(m "(j['liveness']['httpGet']['path'], j['liveness']['httpGet']['port'], j['readiness']['httpGet']['path'])")" = "('/metrics', 'metrics', '/metrics')"
check "...and the scrape annotation names it" test "$(m "j['annotations']['prometheus.io/port']")" = "$port"
check "host network (the NIC is the node's)" test "$(m "j['hostNetwork']")" = True
check "bpffs is the node's (/sys/fs/bpf, hostPath)" \
	test "$(m "j['mounts']['/sys/fs/bpf']['hostPath']['path']")" = /sys/fs/bpf
echo "  $((CHECKS - FAILS))/$CHECKS checks passed"
[ $FAILS = 0 ]
