#!/usr/bin/env python3
"""Writes burstgate-dashboard.json (the file Grafana imports) from the
panel list below: one place to read what each panel shows. Run it after a
change; tests/net/test_prometheus.sh checks that every query of the JSON
names metrics the exporter really exports."""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'


def target(expr, legend, ref="A", instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        t.update({"instant": True, "range": False, "format": "table"})
    return t


def panel(pid, title, kind, x, y, w, h, targets, unit=None, desc=None, **extra):
    p = {"id": pid, "title": title, "type": kind, "datasource": DS,
         "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
         "fieldConfig": {"defaults": {}, "overrides": []}, "options": {}}
    if unit:
        p["fieldConfig"]["defaults"]["unit"] = unit
    if desc:
        p["description"] = desc
    p.update(extra)
    return p


RATE = "$__rate_interval"
panels = [
    panel(1, "Admitted packets/s by identity", "timeseries", 0, 0, 12, 8,
          [target(f'sum by (identity) (rate(burstgate_identity_packets_total{{{SEL},verdict="pass"}}[{RATE}]))', "{{identity}}")],
          unit="pps", desc="Packets each identity's buckets let through (shadow included)."),
    panel(2, "Dropped packets/s by identity", "timeseries", 12, 0, 12, 8,
          [target(f'sum by (identity) (rate(burstgate_identity_packets_total{{{SEL},verdict="drop"}}[{RATE}]))', "{{identity}}"),
           target(f'sum by (identity) (rate(burstgate_identity_shadow_drop_packets_total{{{SEL}}}[{RATE}]))', "{{identity}} (shadow: not dropped)", "B")],
          unit="pps", desc="Over the limit: dropped (enforce) or only counted (shadow)."),
    panel(3, "Admitted bytes/s by identity", "timeseries", 0, 8, 12, 8,
          [target(f'sum by (identity) (rate(burstgate_identity_bytes_total{{{SEL},verdict="pass"}}[{RATE}]))', "{{identity}}")],
          unit="Bps"),
    panel(4, "Top limited identities (drops/s, 5 min)", "bargauge", 12, 8, 12, 8,
          [target(f'topk(10, sum by (identity) (rate(burstgate_identity_packets_total{{{SEL},verdict="drop"}}[5m])) > 0)', "{{identity}}", instant=True)],
          unit="pps", options={"orientation": "horizontal", "displayMode": "gradient",
                               "reduceOptions": {"calcs": ["lastNotNull"], "values": True}}),
    panel(5, "Identities limited now", "table", 0, 16, 8, 8,
          [target(f'burstgate_identity_limited{{{SEL}}} == 1', "{{identity}}", instant=True)],
          desc="In a limited episode (burstctl events says when each began)."),
    panel(6, "Bucket fill", "timeseries", 8, 16, 8, 8,
          [target(f'burstgate_identity_bucket_fill_ratio{{{SEL},bucket="packets"}}', "{{identity}}")],
          unit="percentunit", desc="Tokens left in each limited identity's packet bucket."),
    panel(7, "Tuned bursts", "timeseries", 16, 16, 8, 8,
          [target(f'burstgate_identity_burst_packets{{{SEL}}}', "{{identity}}"),
           target(f'sum by (direction) (increase(burstgate_tuner_adjustments_total{{{SEL}}}[5m]))', "adjustments {{direction}} / 5 min", "B")],
          desc="Bursts in force (the tuner's for tuned identities) and how often it moved them."),
    panel(8, "Host load against declared capacity", "timeseries", 0, 24, 8, 8,
          [target(f'burstgate_tuner_utilization_ratio{{{SEL}}}', "utilisation"),
           target(f'burstgate_tuner_demand_ratio{{{SEL}}}', "demand (with the tuned identities' drops)", "B")],
          unit="percentunit"),
    panel(9, "Table fill", "bargauge", 8, 24, 8, 8,
          [target(f'burstgate_identities{{{SEL}}} / burstgate_identities_capacity{{{SEL}}}', "identities {{instance}}", instant=True),
           target(f'sum by (instance) (burstgate_flow_entries{{{SEL}}}) / sum by (instance) (burstgate_flow_entries_capacity{{{SEL}}})', "flows {{instance}}", "B", instant=True),
           target(f'sum by (instance) (burstgate_tokens{{{SEL}}}) / sum by (instance) (burstgate_tokens_capacity{{{SEL}}})', "tokens {{instance}}", "C", instant=True)],
          unit="percentunit", options={"orientation": "horizontal", "displayMode": "gradient",
                                       "reduceOptions": {"calcs": ["lastNotNull"], "values": False}}),
    panel(10, "Controller", "stat", 16, 24, 8, 8,
          [target(f'burstgate_controller_up{{{SEL}}}', "up {{instance}}"),
           target(f'increase(burstgate_controller_reload_errors_total{{{SEL}}}[1h])', "reloads refused, 1 h", "B"),
           target(f'burstgate_controller_last_reload_success{{{SEL}}}', "last reload applied", "C")]),
    panel(11, "Builds and attached programs", "table", 0, 32, 12, 6,
          [target(f'burstgate_build_info{{{SEL}}}', "", instant=True)],
          desc="version and commit of each burstctl, prog_tag of the XDP program attached (empty: attached nowhere)."),
    panel(12, "Packets by parse outcome", "timeseries", 12, 32, 12, 6,
          [target(f'sum by (outcome) (rate(burstgate_parse_packets_total{{{SEL}}}[{RATE}]))', "{{outcome}}")],
          unit="pps"),
]

dashboard = {
    "title": "burstgate",
    "uid": "burstgate",
    "description": "Per-identity burst shaping at the NIC: admitted and dropped traffic per agent identity, limited identities, tuner, table fill (deploy/grafana, docs/monitoring.md).",
    "tags": ["burstgate", "xdp"],
    "schemaVersion": 37,
    "version": 1,
    "editable": True,
    "time": {"from": "now-1h", "to": "now"},
    "refresh": "30s",
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0},
        {"name": "instance", "label": "Host", "type": "query", "datasource": DS,
         "definition": "label_values(burstgate_build_info, instance)",
         "query": {"query": "label_values(burstgate_build_info, instance)", "refId": "instance"},
         "multi": True, "includeAll": True, "allValue": ".*", "refresh": 2, "current": {}, "hide": 0},
    ]},
    "panels": panels,
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "burstgate-dashboard.json")
if len(sys.argv) > 1:
    out = sys.argv[1]  # the test compares a fresh one with the file
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
