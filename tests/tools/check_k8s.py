#!/usr/bin/python3
"""check_k8s.py MANIFEST.yaml OUTDIR

A schema check of Kubernetes manifests without a cluster, with Debian's
python3-kubernetes: each document is read into the client's model of its
kind (required fields and types checked by the models), then written back;
a key the model does not know (a typo, a field of another version) is
dropped on the way and shows up as a difference. Kubernetes API 1.22 (the
client's version in Debian 12): a field newer than that is reported too.

Also writes OUTDIR/policy.yaml (the ConfigMap's policy), OUTDIR/tokens/KEY
(the Secret's files) and OUTDIR/mounts.json (the DaemonSet's mounts, args,
probes) for the caller's cross-checks. Exit 1 with what is wrong."""
import json
import os
import sys

import yaml
from kubernetes import client

KINDS = {("v1", "Namespace"): "V1Namespace", ("v1", "ConfigMap"): "V1ConfigMap",
         ("v1", "Secret"): "V1Secret", ("apps/v1", "DaemonSet"): "V1DaemonSet",
         ("v1", "Service"): "V1Service"}


class Resp:  # what ApiClient.deserialize() reads
    def __init__(self, obj):
        self.data = json.dumps(obj)


def diff(a, b, path=""):
    """Keys (and values) of a that b lacks or changed."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k, v in a.items():
            if k not in b:
                out.append(f"{path}.{k}: not a field of this kind (Kubernetes API 1.22)")
            else:
                out += diff(v, b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
    elif a != b and not (isinstance(a, (int, float)) and a == b):
        out.append(f"{path}: {a!r} read as {b!r}")
    return out


api = client.ApiClient()
problems, docs = [], [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
outdir = sys.argv[2]
os.makedirs(os.path.join(outdir, "tokens"), exist_ok=True)
for d in docs:
    kind = (d.get("apiVersion"), d.get("kind"))
    name = f"{kind[1]} {d.get('metadata', {}).get('name')}"
    if kind not in KINDS:
        problems.append(f"{name}: kind {kind} not checked here")
        continue
    try:
        obj = api.deserialize(Resp(d), KINDS[kind])
    except (ValueError, TypeError) as e:
        problems.append(f"{name}: {e}")
        continue
    back = api.sanitize_for_serialization(obj)
    problems += [f"{name}: {p}" for p in diff(d, back)]
    if kind[1] == "ConfigMap":
        for k, v in d.get("data", {}).items():
            open(os.path.join(outdir, k), "w").write(v)
    if kind[1] == "Secret":
        for k, v in d.get("stringData", {}).items():
            open(os.path.join(outdir, "tokens", k), "w").write(v)
    if kind[1] == "DaemonSet":
        pod = d["spec"]["template"]
        c = pod["spec"]["containers"][0]
        vols = {v["name"]: v for v in pod["spec"]["volumes"]}
        json.dump({"args": c["args"], "hostNetwork": pod["spec"].get("hostNetwork"),
                   "annotations": pod["metadata"].get("annotations", {}),
                   "ports": c.get("ports", []), "liveness": c.get("livenessProbe"),
                   "readiness": c.get("readinessProbe"),
                   "mounts": {m["mountPath"]: vols[m["volumeName"] if "volumeName" in m else m["name"]]
                              for m in c.get("volumeMounts", [])}},
                  open(os.path.join(outdir, "mounts.json"), "w"))
for p in problems:
    print(p)
print(f"{len(docs)} documents, {len(problems)} problems")
sys.exit(1 if problems else 0)
