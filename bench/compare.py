#!/usr/bin/env python3
"""Prints two benchmark results side by side with the change in %.

  bench/compare.py bench/results/A.json bench/results/B.json

Change is (B - A) / A. For req/s and ratio higher is better; for latencies,
the server's CPU time per request and RSS lower is better. Compare runs with the same backend, data set, duration
and connections on the same machine (the header shows them); the ratio column
(req/s over the ceiling server's, measured in the same run) is the figure
least affected by a busier or quieter machine.
"""

from __future__ import annotations

import json
import sys


def change(a, b) -> str:
    if a is None or b is None:
        return "-"
    if a == 0:
        return "=" if b == 0 else "new"
    return f"{(b - a) / a * 100:+.1f}%"


def num(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs = []
    for path in sys.argv[1:]:
        with open(path) as f:
            runs.append(json.load(f))
    a, b = runs

    for name, run, path in (("A", a, sys.argv[1]), ("B", b, sys.argv[2])):
        m = run["meta"]
        print(f"{name}: {path}\n   {m['date']} commit {m['git_commit'][:10]}"
              f"{' (dirty)' if m.get('git_dirty') else ''}, {m['backend']}, "
              f"{m['dataset']['articles']} articles, {m['duration_s']:g}s x "
              f"{m['connections']} conn, {m['cores']} cores")
    for key in ("backend", "duration_s", "connections", "cores", "wrk"):
        if a["meta"].get(key) != b["meta"].get(key):
            print(f"warning: the runs differ in {key}: "
                  f"{a['meta'].get(key)} vs {b['meta'].get(key)}")
    if a["meta"]["dataset"]["articles"] != b["meta"]["dataset"]["articles"]:
        print("warning: the runs have different data sets")

    print()
    header = (f"{'scenario':<40} {'req/s A':>9} {'req/s B':>9} {'change':>8} "
              f"{'ratio A':>7} {'ratio B':>7} {'p50 A':>7} {'p50 B':>7} {'change':>8} "
              f"{'p99 A':>7} {'p99 B':>7} {'change':>8} {'CPU us A':>8} {'CPU us B':>8} "
              f"{'change':>8} {'non2xx A/B':>11}")
    print(header)
    print("-" * len(header))
    by_id = {s["id"]: s for s in b["scenarios"]}
    for sa in a["scenarios"]:
        sb = by_id.get(sa["id"])
        if sb is None:
            continue
        print(f"{sa['id'] + ' ' + sa['label']:<40.40} {sa['rps']:>9.1f} {sb['rps']:>9.1f} "
              f"{change(sa['rps'], sb['rps']):>8} {sa['ratio']:>7.4f} {sb['ratio']:>7.4f} "
              f"{num(sa['p50_ms'], 2):>7} {num(sb['p50_ms'], 2):>7} "
              f"{change(sa['p50_ms'], sb['p50_ms']):>8} "
              f"{num(sa['p99_ms'], 2):>7} {num(sb['p99_ms'], 2):>7} "
              f"{change(sa['p99_ms'], sb['p99_ms']):>8} "
              f"{num(sa.get('cpu_us_per_request'), 1):>8} {num(sb.get('cpu_us_per_request'), 1):>8} "
              f"{change(sa.get('cpu_us_per_request'), sb.get('cpu_us_per_request')):>8} "
              f"{str(sa['non_2xx']) + '/' + str(sb['non_2xx']):>11}")
    print("-" * len(header))
    ca, cb = a["ceiling"]["rps"], b["ceiling"]["rps"]
    print(f"{'ceiling req/s':<40} {ca:>9.1f} {cb:>9.1f} {change(ca, cb):>8}")
    ua, ub = a["ceiling"].get("cpu_us_per_request"), b["ceiling"].get("cpu_us_per_request")
    print(f"{'ceiling CPU us/request':<40} {num(ua, 1):>9} {num(ub, 1):>9} {change(ua, ub):>8}")
    pa, pb = (run.get("pgbench", {}).get("tps") for run in (a, b))
    if pa or pb:
        print(f"{'pgbench reference tps':<40} {num(pa, 1):>9} {num(pb, 1):>9} {change(pa, pb):>8}")
    ra, rb = a["peak_rss_mb"], b["peak_rss_mb"]
    print(f"{'peak RSS MB':<40} {ra:>9.1f} {rb:>9.1f} {change(ra, rb):>8}")


if __name__ == "__main__":
    main()
