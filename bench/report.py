#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Turn bench/run's raw JSON into REPORT.md and its PNG charts (gnuplot).

    bench/report.py RESULTS_DIR REPORT.md

Every figure compared is a ratio of two numbers taken in the same round of
the same run; absolute times and rates are printed for orientation only.
"""
import json
import os
import statistics
import subprocess
import sys

RES, REPORT = sys.argv[1], sys.argv[2]
OUTDIR = os.path.dirname(os.path.abspath(REPORT))


def load(name):
    path = os.path.join(RES, name)
    return json.load(open(path)) if os.path.exists(path) else None


def quart(v):
    """median, 25th and 75th percentile, min, max"""
    v = sorted(v)
    if len(v) == 1:
        return v[0], v[0], v[0], v[0], v[0]
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[1], q[0], q[2], v[0], v[-1]


def fmt_ratio(v, digits=2):
    m, lo, hi, _, _ = quart(v)
    return f"{m:.{digits}f}", f"{lo:.{digits}f}–{hi:.{digits}f}"


def met(ok):
    if ok is None:
        return "**not resolved** by this method (within the refill bound)"
    return "**met**" if ok else "**missed**"


machine = load("machine.json") or {}
micro = load("micro.json")
scale = load("scale.json")
control = load("control.json")
macro = {}
for f in sorted(os.listdir(RES)):
    if f.startswith("macro_") and f.endswith(".json"):
        j = json.load(open(os.path.join(RES, f)))
        macro[j["sources"]] = j
acc = {p: load(f"accuracy_{p}.json") for p in ("burstgate", "nft_meter", "nft_dynset", "ipt_hashlimit")}
acc_fb = {p: load(f"accuracy_burst_{p}.json") for p in acc}

PEER_LABEL = {
    "burstgate": "burstgate (XDP)",
    "xdp_drop": "XDP_DROP (ceiling)",
    "nft_meter": "nftables netdev ingress `meter`",
    "nft_dynset": "nftables prerouting dynamic set + `limit`",
    "ipt_hashlimit": "iptables `hashlimit` (xt_hashlimit, legacy)",
}

goals = []  # (goal, target, measured, met)
# Maps whose size does not grow with the identities or prefixes (scale).
FIXED_MAPS = {"bg_global", "bg_counters", "bg_events", "bg_ctl", "bg_tokens", "bg_flows", "bg_tok_cfg",
              "bg_secret"}
sections = []
charts = []


def gnuplot(name, script):
    png = os.path.join(OUTDIR, name)
    full = f'set terminal pngcairo noenhanced size 900,540 font ",11"\nset output "{png}"\n' + script
    try:
        subprocess.run(["gnuplot"], input=full, text=True, check=True, capture_output=True)
        charts.append(name)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report: gnuplot {name}: {e}", file=sys.stderr)


def datafile(name, rows):
    path = os.path.join(RES, name)
    with open(path, "w") as f:
        for r in rows:
            f.write(" ".join(str(x) for x in r) + "\n")
    return path


# ---- micro ----
CLS_LABEL = {"prefix4": "IPv4 prefix", "prefix6": "IPv6 prefix", "default": "default", "stale": "stale",
             "bind": "bound flow", "http": "HTTP token", "flow": "learnt flow", "none": "none"}
if micro:
    drop = micro["xdp_drop_ns"]
    rows = ["| path | ratio to XDP_DROP, median | IQR | min–max | ns/packet, median (for orientation) | verdict | classified as |",
            "|---|---|---|---|---|---|---|"]
    bars = []
    med = {}
    for p in micro["paths"]:
        r = [a / b for a, b in zip(p["ns"], drop)]
        m, lo, hi, mn, mx = quart(r)
        med[p["key"]] = m
        label = p["label"]
        if "scanned_bytes" in p:
            label += f" (token ends at byte {p['scanned_bytes']} of a {p['request_bytes']}-byte request)"
        rows.append(f"| {label} | **{m:.2f}×** | {lo:.2f}–{hi:.2f} | {mn:.2f}–{mx:.2f} | "
                    f"{statistics.median(p['ns']):.0f} | {p['verdict']}{'' if p['verdict_ok'] else ' (UNEXPECTED)'} | "
                    f"{CLS_LABEL.get(p['classified'], p['classified'])}{'' if p['classified_ok'] else ' (UNEXPECTED)'} |")
        bars.append((p["key"], m, lo, hi))
        if p["key"] == "prefix_conform":
            goals.append(("Micro: prefix-classified enforce path vs XDP_DROP, /24 prefix (LPM trie)", "≤ 3×",
                          f"{m:.2f}× (IQR {lo:.2f}–{hi:.2f})", m <= 3))
        if p["key"] == "host_conform":
            goals.append(("Micro: prefix-classified enforce path vs XDP_DROP, /32 prefix (host hash)", "≤ 3×",
                          f"{m:.2f}× (IQR {lo:.2f}–{hi:.2f})", m <= 3))
    rows.append(f"| bare `XDP_DROP` (the reference) | 1 | | | {statistics.median(drop):.0f} | drop | |")
    notes = []
    paths = {p["key"]: p for p in micro["paths"]}
    late, early = paths.get("http_token"), paths.get("http_token_early")
    if late and early and late["scanned_bytes"] != early["scanned_bytes"]:
        nb = late["scanned_bytes"] - early["scanned_bytes"]
        per_byte = [(a - b) / nb / d for a, b, d in zip(late["ns"], early["ns"], drop)]
        pm, plo, phi, _, _ = quart(per_byte)
        ns_byte = statistics.median([(a - b) / nb for a, b in zip(late["ns"], early["ns"])])
        notes.append(f"The two HTTP rows differ only in where the token's header sits, so their difference "
                     f"is the scan through the other headers: each byte the scan passes before it reaches "
                     f"the token's header costs **{pm:.2f}×** (IQR {plo:.2f}–{phi:.2f}) an `XDP_DROP` run, "
                     f"about {ns_byte:.1f} ns. With the header right after the request line, a request still "
                     f"costs {med['http_token_early']:.0f}×.")
    if "host_conform" in med and "host_conform_tok" in med:
        notes.append(f"Registering a first token turns on the flow and token stages for every TCP and UDP "
                     f"packet: the same /32 path costs {med['host_conform_tok']:.2f}× instead of "
                     f"{med['host_conform']:.2f}× on a host with tokens.")
    sections.append("## Micro: cost per packet (BPF_PROG_TEST_RUN)\n\n"
                    f"{micro['rounds']} rounds × {micro['repeat']:,} runs per path, paths in shuffled order "
                    "within each round, one discarded warm-up round. Each path's time is divided by the bare "
                    "`XDP_DROP` program's time in the same round; the table gives the median and spread of "
                    "those per-round ratios. The kernel reports whole nanoseconds per run, so XDP_DROP's "
                    "figure is quantised to about ±1.5 %. The paths run on two states: one with identities "
                    "and prefixes only, and the same with one agent token registered (through the library, "
                    "as `burstctl token add` does) and one connection bound with it (as the bind API does); "
                    "the token paths are TCP segments of the agent's connections, the others UDP. "
                    "“Classified as” is the classification counter one more run of the frame added to, "
                    "read after the rounds.\n\n" + "\n".join(rows) + "\n\n" +
                    "".join(n + "\n\n" for n in notes) + "![micro](chart_micro.png)\n")
    d = datafile("micro.dat", [(i, k, m, lo, hi) for i, (k, m, lo, hi) in enumerate(bars)])
    gnuplot("chart_micro.png", f"""
set title "Micro: cost per packet relative to a bare XDP_DROP program (median, IQR)"
set ylabel "ratio to XDP_DROP (log scale)"
set logscale y
set yrange [1:*]
set grid ytics
set style fill solid 0.6
set boxwidth 0.6
set xtics rotate by -30
set bmargin 6
set key top left
plot "{d}" using 1:3:xtic(2) with boxes title "burstgate path", \\
     "" using 1:3:4:5 with yerrorbars lc rgb "black" pt 0 title "IQR", \\
     3 with lines dt 2 lw 2 title "goal: prefix enforce ≤ 3×"
""")

# ---- macro ----
if macro:
    parts = []
    chart_rows = []
    for n in sorted(macro):
        j = macro[n]
        pps = {p["name"]: p["pps"] for p in j["peers"]}
        bg = pps["burstgate"]
        rows = ["| limiter | throughput, median (Mpps, for orientation) | per source (pps; the limit is 1) | burstgate ÷ this, median | IQR | dropped during run |",
                "|---|---|---|---|---|---|"]
        crow = [n]
        for name in ("burstgate", "xdp_drop", "nft_meter", "nft_dynset", "ipt_hashlimit"):
            if name not in pps:
                continue
            r = [a / b for a, b in zip(bg, pps[name]) if b > 0]
            m, lo, hi, _, _ = quart(r)
            dropped = j.get("dropped_total", {}).get(name)
            rows.append(f"| {PEER_LABEL[name]} | {statistics.median(pps[name]) / 1e6:.2f} | "
                        f"{statistics.median(pps[name]) / n:,.0f} | "
                        f"{'—' if name == 'burstgate' else f'**{m:.2f}**'} | "
                        f"{'' if name == 'burstgate' else f'{lo:.2f}–{hi:.2f}'} | "
                        f"{'' if dropped is None else f'{dropped:,}'} |")
            if name != "burstgate":
                crow += [m, lo, hi]
            if n == 4096 and name == "xdp_drop":
                goals.append(("Macro, 4096 sources: burstgate ÷ XDP_DROP", "≥ 0.6",
                              f"{m:.2f} (IQR {lo:.2f}–{hi:.2f})", m >= 0.6))
            if n == 4096 and name == "nft_meter":
                goals.append(("Macro, 4096 sources: burstgate ÷ nftables meter", "≥ 5",
                              f"{m:.2f} (IQR {lo:.2f}–{hi:.2f})", m >= 5))
        chart_rows.append(crow)
        parts.append(f"### {n} sources\n\n{j['rounds']} rounds × {len(pps)} slices of {j['slice_ms']} ms "
                     f"(after {j['settle_ms']} ms to settle); the generator offered "
                     f"{j['generator_pps'] / 1e6:.1f} Mpps on average.\n\n" + "\n".join(rows) + "\n")
    sections.append("## Macro: drop throughput under one flood, limiters switched in slices\n\n"
                    "Receiver throughput (frames the receiving veth's NAPI took per second) while each "
                    "limiter is the active one. Every source is limited to "
                    "1 packet/s with a burst of 1 by every limiter, so while each source offers tens of packets "
                    "per second or more nearly the whole flood is dropped; where a limiter's throughput "
                    "divided by the number of sources comes near 1 pps, much of it is admitted and goes up "
                    "the stack, and that row measures the stack more than the limiter. "
                    "Ratios are burstgate's throughput in a round over the other limiter's in the same "
                    "round; the table gives their median and interquartile range.\n\n" + "\n".join(parts) +
                    "\n![macro](chart_macro.png)\n")
    d = datafile("macro.dat", chart_rows)
    gnuplot("chart_macro.png", f"""
set title "Macro: burstgate throughput ÷ other limiter (median, IQR)"
set xlabel "sources (each its own identity / meter entry)"
set ylabel "ratio"
set logscale x 2
set logscale y
set key bottom left box opaque
set grid
plot "{d}" using 1:2:3:4 with yerrorlines title "÷ XDP_DROP", \\
     "" using 1:5:6:7 with yerrorlines title "÷ nft meter (ingress)", \\
     "" using 1:8:9:10 with yerrorlines title "÷ nft dyn. set (prerouting)", \\
     "" using 1:11:12:13 with yerrorlines title "÷ iptables hashlimit", \\
     0.6 with lines dt 2 lc rgb "black" title "goal ÷ XDP_DROP ≥ 0.6", \\
     5 with lines dt 3 lc rgb "black" title "goal ÷ nft meter ≥ 5"
""")

# ---- accuracy ----
if any(acc.values()):
    rows = ["| limiter | expected per source (burst + rate × time) | admitted per source, mean | worst error | first burst admitted (configured) | refill during the burst |",
            "|---|---|---|---|---|---|"]
    worst_all = {}
    for name, j in acc.items():
        if not j:
            continue
        # Expected per source over the window the receiver saw it admitted in
        # (first to last admitted datagram), so the sender's start-up does not count.
        exps = [j["burst"] + j["rate_pps"] * w for w in j["window_s"]]
        exp = statistics.mean(exps)
        errs = [(a - e) / e * 100 for a, e in zip(j["admitted"], exps)]
        worst = max(errs, key=abs)
        fbj = acc_fb.get(name) or j  # the low-rate first-burst run, if there was one
        refill = fbj["rate_pps"] * fbj["first_burst_s"]
        fb = fbj["first"]
        fb_ok = all(abs(f - fbj["burst"]) <= 1 + refill for f in fb)
        worst_all[name] = (worst, fb_ok)
        rows.append(f"| {PEER_LABEL[name]} | {exp:,.0f} | {statistics.mean(j['admitted']):,.1f} | "
                    f"**{worst:+.2f} %** | {min(fb)}–{max(fb)} ({j['burst']}) | {refill:.1f} |")
    if "burstgate" in worst_all:
        w, fb_ok = worst_all["burstgate"]
        goals.append(("Accuracy: burstgate admitted vs rate × time + burst", "within 1 %",
                      f"{w:+.2f} % worst of {acc['burstgate']['sources']} identities", abs(w) <= 1))
        a = acc_fb.get("burstgate") or acc["burstgate"]
        refill = a["rate_pps"] * a["first_burst_s"]
        v = (f"{min(a['first'])}–{max(a['first'])} admitted of a {a['burst']}-packet burst at "
             f"{a['rate_pps']:.0f} pps; the burst took {a['first_burst_s'] * 1000:.0f} ms to send, in "
             f"which {refill:.2f} more may correctly pass")
        goals.append(("Accuracy: burstgate first burst", "within 1 packet of the burst", v,
                      None if refill > 1 and fb_ok else all(abs(f - a["burst"]) <= 1 for f in a["first"])))
    j = next(v for v in acc.values() if v)
    sections.append("## Accuracy: 10× overload from two CPUs\n\n"
                    f"{j['sources']} sources, each limited to {j['rate_pps']:.0f} packets/s with a burst of "
                    f"{j['burst']}, one limiter installed at a time with fresh state. First a back-to-back "
                    f"burst of {j['first_burst_sent_per_source']} packets per source from one CPU (full "
                    f"buckets); then, once the buckets have refilled, {j['overload']:.0f}× the rate for "
                    f"{j['span_s']:.1f} s, half from each "
                    "CPU; the receiving veth has two queues and NAPI in softirq on the sending CPU, so the "
                    "limiter runs on both CPUs at once. Admitted = datagrams that reached a UDP socket "
                    "behind the limiter. Expected = burst + rate × the time from the first to the last "
                    "datagram of that source admitted in the overload phase (kernel receive timestamps), "
                    "so the generator's start-up does not count. Error = (admitted − expected) ÷ expected, worst source shown. "
                    "The first burst is checked in a separate run of each limiter configured with the same "
                    "burst but a rate of "
                    f"{(acc_fb.get('burstgate') or j)['rate_pps']:.0f} packets/s, so that almost nothing refills "
                    "while the burst is sent (refill column: rate × the sender's duration of the burst, an "
                    "upper bound on what may correctly pass beyond the burst). Admitting up to that "
"much beyond the burst is correct.\n\n" + "\n".join(rows) + "\n")

# ---- scale ----
if scale:
    base = scale["rotate_drop_ns"]
    sizes = scale["sizes"]
    ten = next((s for s in sizes if s["identities"] == min(x["identities"] for x in sizes)), None)
    rows = ["| identities | cost ÷ baseline, median | IQR | burstgate's own cost ÷ its cost at "
            f"{ten['identities']}, median | IQR | one hot source: cost ÷ cost at {ten['identities']} | "
            "kernel memory (maps' memlock) | bytes per identity (maps sized by N) | populate (library) |",
            "|---|---|---|---|---|---|---|---|---|"]
    crow = []
    for s in sizes:
        r = [a / b for a, b in zip(s["ns"], base)]
        own = [(a - b) / (t - b) for a, b, t in zip(s["ns"], base, ten["ns"])]
        m, lo, hi, _, _ = quart(r)
        om, olo, ohi, _, _ = quart(own)
        sized = sum(v for k, v in s["memlock"].items() if k not in FIXED_MAPS)
        per_id = sized / s["identities"]
        hot = [a / b for a, b in zip(s["hot_ns"], ten["hot_ns"])]
        hm, hlo, hhi, _, _ = quart(hot)
        rows.append(f"| {s['identities']:,} | {m:.2f} | {lo:.2f}–{hi:.2f} | **{om:.2f}** | {olo:.2f}–{ohi:.2f} | "
                    f"{hm:.2f} | {s['memlock_total'] / 2**20:.1f} MiB | {per_id:,.0f} | {s['populate_s']:.1f} s |")
        crow.append((s["identities"], om, olo, ohi, per_id, hm))
        if s["identities"] == 1000000:
            goals.append(("Scale: cost at 1M identities ÷ cost at 10", "≤ 1.3",
                          f"{om:.2f} (IQR {olo:.2f}–{ohi:.2f}) with sources spread over all identities; "
                          f"{hm:.2f} with one hot source", om <= 1.3))
    big = max(sizes, key=lambda s: s["identities"])
    maps = ", ".join(f"{k} {v / big['identities']:.0f}" for k, v in big["memlock"].items()
                     if v and k not in FIXED_MAPS)
    fixed = sum(v for k, v in big["memlock"].items() if k in FIXED_MAPS)
    fixed_maps = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in big["memlock"].items()
                           if k in FIXED_MAPS and v >= 2**19)
    sections.append("## Scale: cost and memory per identity\n\n"
                    f"N identities, each enforcing a (conforming) packet bucket and owning one /32 prefix "
                    "(so every prefix is in the host hash, `bg_host4`, and the LPM trie is empty and never "
                    "looked in). A driver program gives each run a pseudo-random source among the N (so "
                    "lookups spread over every identity, as a real population would, rather than hitting one "
                    "hot entry), then tail-calls burstgate; the baseline is the same driver tail-calling "
                    f"`XDP_DROP`. {scale['rounds']} rounds × {scale['repeat']:,} runs, shuffled. "
                    "“Own cost” subtracts the baseline from both sides. The hot-source column times "
                    "burstgate alone on one repeated source: what N costs when everything is in cache. "
                    "Tokens are not part of this table: the token registry and the flow table have a fixed "
                    "capacity of 65,536 entries each, and the token path's cost is dominated by the request "
                    "scan (see *Micro*), not by a lookup that grows with N. Memory is the maps' `memlock` "
                    "as the kernel accounts it (fdinfo), for a state sized exactly for N. Bytes per identity "
                    "count the maps sized by the identities and prefixes; at "
                    f"{big['identities']:,} identities, by map: {maps}. The maps of a fixed size add "
                    f"{fixed / 2**20:.1f} MiB whatever N ({fixed_maps}, and a few small ones); the total "
                    "column includes them.\n\n"
                    + "\n".join(rows) + "\n\n![scale](chart_scale.png)\n")
    d = datafile("scale.dat", crow)
    gnuplot("chart_scale.png", f"""
set title "Scale: burstgate's cost per packet and kernel memory vs identities"
set xlabel "identities (one /32 prefix each)"
set ylabel "own cost ÷ own cost at {ten['identities']} identities"
set y2label "bytes of kernel memory per identity (maps sized by N)"
set logscale x 10
set logscale y
set logscale y2
set ytics nomirror
set y2tics
set key top left
set grid
plot "{d}" using 1:2:3:4 axes x1y1 with yerrorlines lw 2 title "cost (median, IQR)", \\
     "" using 1:6 axes x1y1 with linespoints lw 2 title "cost, one hot source", \\
     "" using 1:5 axes x1y2 with linespoints dt 2 title "memory per identity", \\
     1.3 axes x1y1 with lines dt 3 lc rgb "black" title "goal: cost at 1M ≤ 1.3"
""")

if control:
    def cp_row(how, n, key):
        cpu = control.get(key + "_cpu_s")
        return (f"| {how} | {n:,} | {control[key + '_s']:.2f} | "
                f"{'-' if cpu is None else f'{cpu:.2f}'} | {n / control[key + '_s']:,.0f} |")
    rows = ["| how | identities (each + one prefix) | seconds | CPU seconds | identities per second |",
            "|---|---|---|---|---|",
            cp_row("`burstctl batch FILE` (one process, one state open)", control["batch_identities"], "batch")]
    if "policy_s" in control:
        rows += [cp_row("`burstctl policy apply FILE` (creates the state; the same identities as YAML)",
                        control["policy_identities"], "policy"),
                 cp_row("`burstctl policy apply FILE` again (0 changes: read, compare)",
                        control["policy_identities"], "policy_again")]
    if "replace_s" in control:
        rows.append(cp_row("`burstctl policy apply FILE` replacing every identity by another one on "
                           "its prefix (all removed, all added, every prefix moved)",
                           control["policy_identities"], "replace"))
    rows.append(cp_row("one `burstctl identity add` + `prefix add` per identity",
                       control["single_identities"], "single"))
    load_note = (f" The machine's load average was {control['load_average']:.1f} when the section started: "
            "under load, CPU seconds (user + system of the commands) say more than wall time."
            if "load_average" in control else "")
    sections.append("## Control plane: creating identities with prefixes\n\n"
                    "Wall time of `burstctl`, one run each, on a fresh state (so the numbers are "
                    "absolute times and only roughly comparable between runs)." + load_note +
                    " `bench/run control` (`make bench-control`) runs this section alone.\n\n" +
                    "\n".join(rows) +
                    "\n\nOne command per identity does not scale linearly: `identity add` prints the identity "
                    "with its prefixes, which lists every prefix (host hashes and tries), so the n-th add "
                    "costs O(n).\n")

# ---- fleet mode ----
fleet = load("fleet.json")
if fleet:
    R = fleet["rate_pps"]
    rows = ["| hosts | scheme | sync interval | worst 1 s window | worst 10 s window | utilisation | engine calls/s |",
            "|---|---|---|---|---|---|---|"]
    for r in fleet["runs"]:
        ivl = f"{r['interval_ms']} ms" if r["interval_ms"] else "-"
        name = {"fleet": "burstgate fleet", "static": "static R/N", "shared": "shared counter"}[r["scheme"]]
        rows.append(f"| {r['hosts']} | {name} | {ivl} | {r['worst_1s'] * 100:.1f}% | {r['worst_10s'] * 100:.1f}% | "
                    f"{r['utilisation'] * 100:.1f}% | {r['engine_calls_per_sec']:,.0f} |")
    cost = fleet["lease_script_cost"]
    # the script's time per call grows with the hosts on the key: measured at a few
    # sizes, straight lines between them (and beyond the last two)
    pts = sorted((c["hosts_on_key"], c["redis_usec_per_call"]) for c in cost)

    def usec(hosts):
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            if hosts <= x1 or (x1, y1) == pts[-1]:
                return y0 + (y1 - y0) * (hosts - x0) / (x1 - x0)
        return pts[-1][1]
    b = (pts[-1][1] - pts[-2][1]) / (pts[-1][0] - pts[-2][0])
    byts = statistics.mean(c["bytes_in_per_call"] + c["bytes_out_per_call"] for c in cost)
    crow = ["| hosts on the key | Redis µs per call | client calls/s (pipelined, one connection) | bytes per call (both ways) |",
            "|---|---|---|---|"]
    crow += [f"| {c['hosts_on_key']} | {c['redis_usec_per_call']:.1f} | {c['client_calls_per_sec']:,.0f} | "
             f"{c['bytes_in_per_call'] + c['bytes_out_per_call']:.0f} |" for c in cost]
    sc = fleet["shared_counter_cost"]
    ids, T = 100000, 0.5
    cores_at = {}
    srow = ["| hosts | identities active per host | calls/s to Redis | Redis CPU (cores, single-threaded shards) | per host per interval | whole fleet |",
            "|---|---|---|---|---|---|"]
    for hosts in (10, 100, 1000):
        calls = hosts * ids / T
        cores = calls * usec(hosts) / 1e6
        cores_at[hosts] = cores
        srow.append(f"| {hosts} | {ids:,} | {calls:,.0f} | {cores:,.0f} | {ids * byts / 1e6:.1f} MB | "
                    f"{calls * byts * 8 / 1e9:.1f} Gbit/s |")
    sections.append(
        "## Fleet mode: one limit across hosts (docs/fleet.md)\n\n"
        f"`bench/run fleet` (`make bench-fleet`), `bg-fleet-bench`: the lease script in a real `redis-server` "
        f"on a virtual clock, {fleet['duration_s']:.0f} s per run, R = {R} pps, B = {fleet['burst_pkts']} packets; each "
        "host a GCRA bucket as the XDP program meters, fed by a demand of 2 R that cycles every 10 s through "
        "even / all on one host / moving every 2 s / random 500 ms on-off bursts. Side by side on the same demand: "
        "**static R/N** (no coordination) and a **shared counter** (one bucket for all, one engine call per packet: "
        "the ideal, the reference of utilisation). Worst window: the most admitted in any window over R·t + B "
        "(100% = the bound).\n\n" + "\n".join(rows) +
        "\n\nEvery scheme holds the bound; what separates them is utilisation. The fleet's shares follow demand "
        "within about three intervals, so it beats a static split by more the shorter the interval and the more "
        "the demand stays put; demand that jumps faster than that (the on-off bursts) is served no better than by "
        "a static split. The shared counter is exact and fully used, at one engine round trip per packet "
        f"({sc['redis_usec_per_call']:.1f} µs of Redis each: {1e6 / sc['redis_usec_per_call']:,.0f} packets/s per "
        "Redis core for the whole fleet) and that round trip in every packet's path, which XDP cannot wait for.\n\n"
        "### What a sync costs\n\n" + "\n".join(crow) +
        f"\n\nThe script reads every host's record of the identity, so its time grows with the hosts that hold "
        f"it (about {b:.1f} µs more per host, at the larger sizes). Sizing from these numbers, on paper, with every identity active on "
        "every host (an idle one costs a call per lease, half as many at the default lease of 4 intervals), "
        "at the default interval of 500 ms:\n\n" + "\n".join(srow) +
        "\n\nA call per identity per host per interval, and a script that reads all hosts, make the engine's "
        f"work grow as hosts² per identity: {cores_at[10]:,.0f} Redis cores for 10 hosts × 100k identities "
        "active on every host, out of reach beyond. What fits one Redis core at 500 ms: about "
        f"{0.5e6 / (10 * usec(10)):,.0f} identities active on all of 10 hosts, "
        f"{0.5e6 / (3 * usec(3)):,.0f} on 3, {0.5e6 / (100 * usec(100)):,.0f} on 100. Fleet mode as built is for fleets of a few to tens of hosts "
        "and identities that are global because they matter (hundreds to thousands), not for every identity of a "
        "large fleet; beyond that the script needs aggregates it updates per call instead of reading every "
        "host (docs/fleet.md, Cost).\n")

# ---- assemble ----
m = machine
goal_rows = ["| goal | target | measured | |", "|---|---|---|---|"]
goal_rows += [f"| {g} | {t} | {v} | {met(ok)} |" for g, t, v, ok in goals]
head = f"""# burstgate benchmarks

Regenerated by `make bench` ({m.get('mode', '?')} run). Raw numbers: [`results/`](results/).
Benchmarks report; they never pass or fail on a time.

| | |
|---|---|
| date | {m.get('date_utc', '?')} |
| machine | {m.get('cpu', '?')}, {m.get('cpus', '?')} CPUs, {m.get('mem_gib', '?')} GiB; load at start {m.get('load_at_start', '?')} (other work shares this machine) |
| kernel | {m.get('kernel', '?')} ({m.get('kernel_version', '')}) |
| system | {m.get('os', '?')}; {m.get('clang', '')}; libbpf {m.get('libbpf', '?')} |
| peers | {m.get('nft', '?')}; {m.get('iptables', '?')} (Debian's default `iptables` is {m.get('iptables_default', '?')}) |
| burstgate | {m.get('burstgate', '?')} |

The CPU speed of this machine drifts by tens of percent between runs and even
within one, so every comparison below is a ratio of two measurements taken in
the same round of the same run; absolute times and rates are printed only for
orientation and must not be compared across runs.

## Goals (from issue 6)

{chr(10).join(goal_rows)}

`tc ... action police` could not be a peer: this kernel is built without it
(`{m.get('tc_police_config', '?')}`; probing it on a throwaway veth in a private
namespace: `{m.get('tc_police_probe', '?')}`). Nor is `matchall`, `flower`,
`basic` or `gact` built in; only `u32` and `bpf` classifiers exist.
"""

method = """## Method

- **Micro**: the real `bg_xdp` object, loaded with its maps in two private
  pin folders (the second with an agent token and a bound connection),
  driven by `BPF_PROG_TEST_RUN` with one frame repeated in-kernel; a bare
  `XDP_DROP` program is timed in every round as the reference.
- **Macro**: namespaces *tx* and *rx* joined by a veth pair (two queues each
  way, GRO on at *rx*). The generator is the project's own (`bench/bg_bench.bpf.c`
  `bb_gen`): `BPF_PROG_RUN` in live-frames mode (`BPF_F_TEST_XDP_LIVE_FRAMES`,
  2^20 frames per call) on CPU 0 in *tx*, rewriting the IPv4 source (and the
  header checksum) over N rotating sources and transmitting with `XDP_TX`
  into the veth. The receiver's NAPI is threaded and pinned to CPU 1, so the
  receiver's cost is measured apart from the sender's. All peers are
  installed at once in *rx*: burstgate (N identities, one /32 each, via
  `burstctl batch`), an nftables netdev-ingress `meter`, an nftables
  prerouting dynamic set with `limit`, and iptables (legacy) `hashlimit`,
  each limiting every source to 1 packet/s, burst 1. One XDP link on the
  receiver is switched (`BPF_LINK_UPDATE`) between burstgate, a bare
  `XDP_DROP`, and a tiny pass program that rewrites the UDP destination port
  to the one the active netfilter peer matches (the generator's frames have
  no UDP checksum, so nothing else changes). Slices are shuffled in every
  round; the first round is a discarded warm-up. Throughput is read from the
  receiver's `rx_queue_0_xdp_packets` (ethtool), so it counts every frame the
  receiver took, whatever the limiter did with it. Admitted packets go up
  the stack to a port with no socket; the ICMP replies die in a blackhole
  route. At the end, each peer's own drop counter must be non-zero (shown).
- **Accuracy**: same topology, NAPI in softirq (each CPU runs the limiter on
  what it sent); one limiter at a time, fresh state; admitted packets counted
  by a UDP socket behind the limiter. burstgate is attached with `burstctl
  attach`, as a user would.
- **Scale**: see the section. **Control plane**: wall time of `burstctl`.
"""

proposals = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "PROPOSALS.md")).read() \
    if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "PROPOSALS.md")) else ""

with open(REPORT, "w") as f:
    f.write(head + "\n" + "\n".join(sections) + "\n" + method +
            ("\n" + proposals if proposals else ""))
print(f"report: wrote {REPORT} and {len(charts)} charts", file=sys.stderr)
