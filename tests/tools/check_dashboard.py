#!/usr/bin/python3
"""check_dashboard.py DASHBOARD.json EXPOSITION.txt OUT.txt

Every query of a Grafana dashboard (panel targets and template variables)
must name at least one metric, and every metric it names must be one the
exporter really exports (its "# TYPE" lines in EXPOSITION). Writes the
queries, one per line and with Grafana's variables filled in, to OUT.txt
(for the caller to run through a real Prometheus). Exit 1 with what is
wrong."""
import json
import re
import sys

dash = json.load(open(sys.argv[1]))
exported = set(re.findall(r"^# TYPE (\S+) ", open(sys.argv[2]).read(), re.M))
queries = []
for p in dash["panels"]:
    for t in p.get("targets", []):
        queries.append((f"panel {p['id']} \"{p['title']}\"", t["expr"]))
for v in dash.get("templating", {}).get("list", []):
    q = v.get("query")
    if isinstance(q, dict):
        queries.append((f"variable {v['name']}", q["query"]))
bad = []
for where, expr in queries:
    names = set(re.findall(r"\bburstgate_[a-z0-9_]+", expr))
    if not names:
        bad.append(f"{where}: names no burstgate metric: {expr}")
    for n in sorted(names - exported):
        bad.append(f"{where}: {n} is not exported")
for b in bad:
    print(b)
with open(sys.argv[3], "w") as out:
    for _, expr in queries:
        if expr.startswith("label_values("):
            continue  # Grafana's own function, not PromQL
        expr = expr.replace("$__rate_interval", "1m").replace('"$instance"', '".*"')
        out.write(expr + "\n")
print(f"{len(queries)} queries, {len(exported)} metrics exported, {len(bad)} problems")
sys.exit(1 if bad else 0)
