#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Check a fleet run from the hosts' own counters (tests/net/test_fleet.sh).

  fleet_check.py SAMPLES PHASES R B HOSTS

SAMPLES: one line per round of reads: "t_first t_last passed_1 dropped_1 ...
passed_H dropped_H" (seconds, CLOCK_REALTIME; the counters of the global
identity on each host, read one host after the other between t_first and
t_last). PHASES: "name start end kind settle" lines; kind "excess" marks a
phase whose summed demand exceeds R throughout, settle the seconds it may
take to get there (the engine's learning after a restart, a share coming
back).

Two checks, each printed as "ok"/"FAIL" lines:
  bound        in every window between two rounds, what the fleet admitted
               is at most R*t + B + tolerance, t the longest the window can
               be (from the first read of one round to the last of the other)
  utilisation  over each excess phase, after its settle time, at least 90%
               of R*t, t the shortest the window can be
The tolerance: each host's share is rounded to at least 1 pps and 1 packet of
burst (HOSTS * (1 + t) packets), as docs/fleet.md states.
"""
import sys

def main():
    samples_f, phases_f, R, B, H = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    rounds = []
    for line in open(samples_f):
        v = line.split()
        if len(v) != 2 + 2 * H:
            continue
        t0, t1 = float(v[0]), float(v[1])
        passed = sum(int(v[2 + 2 * i]) for i in range(H))
        dropped = sum(int(v[3 + 2 * i]) for i in range(H))
        rounds.append((t0, t1, passed, dropped))
    phases = [l.split() for l in open(phases_f) if l.strip()]
    fails = 0
    worst = (-1e9, None)
    for k in range(len(rounds)):
        for m in range(k + 1, len(rounds)):
            t = rounds[m][1] - rounds[k][0]
            got = rounds[m][2] - rounds[k][2]
            allowed = R * t + B + H * (1 + t)
            if got - allowed > worst[0]:
                worst = (got - allowed, (k, m, got, allowed, t))
    if worst[1] is None:
        print("FAIL bound: no samples")
        return 1
    k, m, got, allowed, t = worst[1]
    where = [p[0] for p in phases if float(p[1]) <= rounds[m][1] and rounds[k][0] <= float(p[2])]
    t_start = rounds[k][0] - rounds[0][0]
    verdict = "ok  " if worst[0] <= 0 else "FAIL"
    fails += worst[0] > 0
    print(f"{verdict} bound: {len(rounds)} rounds, every window: worst {got} admitted in {t:.2f}s "
          f"against R*t+B+tolerance = {allowed:.0f} ({got / (R * t + B) * 100:.1f}% of R*t+B), "
          f"from {t_start:.1f}s (phases: {', '.join(where) or 'between phases'})")
    for name, start, end, kind, settle in phases:
        start, end, settle = float(start), float(end), float(settle)
        if kind != "excess":
            continue
        inside = [r for r in rounds if r[0] >= start + settle and r[1] <= end]
        if len(inside) < 2:
            print(f"FAIL utilisation {name}: not enough samples")
            fails += 1
            continue
        a, b = inside[0], inside[-1]
        t = b[0] - a[1]
        got = b[2] - a[2]
        demand = got + b[3] - a[3]
        u = got / (R * t)
        verdict = "ok  " if u >= 0.9 else "FAIL"
        fails += u < 0.9
        print(f"{verdict} utilisation {name}: {got} admitted in {t:.2f}s = {u * 100:.1f}% of R*t "
              f"(demand {demand / t:.0f}/s against R {R:.0f}/s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
