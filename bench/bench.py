#!/usr/bin/env python3
"""Runs the load-benchmark scenarios with oha and reports the results.

Python 3 standard library only. bench/run.sh starts and stops the servers and
calls the three sub-commands in turn:

  bench.py scenarios SEED.json --pid PID --out conduit.json
      S1..S9 against the seeded Conduit at SEED.json's base_url, then the
      server's peak RSS (VmHWM of PID).
  bench.py ceiling URL --out ceiling.json
      The same load against the ceiling server (GET URL).
  bench.py report conduit.json ceiling.json --out RESULT.json [--meta k=v ...]
      Prints the table and writes everything, with metadata, to RESULT.json.

Every measurement is one oha run of --duration seconds at --connections
keep-alive connections, preceded by a discarded warm-up run of --warmup
seconds. Figures taken from oha's JSON output:
  req/s    responses received (any status) / wall time of the run
  p50, p99 latency percentiles over all responses, in ms
  non-2xx  responses with a status outside 200-299, plus connection errors
           (the requests oha aborts when the time is up are not errors; they
           are recorded separately as aborted_at_deadline)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone

# oha's name for the in-flight requests it cuts off when -z runs out.
DEADLINE_ERROR = "aborted due to deadline"


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value else default


# --------------------------------------------------------------------------
# Running oha
# --------------------------------------------------------------------------


class Oha:
    def __init__(self, binary: str, duration: float, connections: int, warmup: float):
        self.binary = binary
        self.duration = duration
        self.connections = connections
        self.warmup = warmup

    def command(self, url: str, duration: float, connections: int, method="GET",
                token: str | None = None, body: dict | None = None) -> list[str]:
        cmd = [self.binary, "--no-tui", "--output-format", "json",
               "-z", f"{duration}s", "-c", str(connections), "-m", method]
        if token:
            cmd += ["-H", f"Authorization: Token {token}"]
        if body is not None:
            cmd += ["-T", "application/json", "-d", json.dumps(body)]
        return cmd + [url]

    def run(self, url: str, duration: float | None = None, connections: int | None = None,
            **request) -> dict:
        """One oha run; returns its parsed JSON output."""
        cmd = self.command(url, duration or self.duration,
                           connections or self.connections, **request)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    def measure(self, url: str, **request) -> dict:
        """A warm-up run (discarded) and then the measured run, summarised."""
        if self.warmup > 0:
            self.run(url, duration=self.warmup, **request)
        return summarise(self.run(url, **request))


def summarise(report: dict) -> dict:
    """The figures we keep from one oha JSON report."""
    statuses = {int(code): count for code, count in report["statusCodeDistribution"].items()}
    errors = dict(report.get("errorDistribution", {}))
    aborted = errors.pop(DEADLINE_ERROR, 0)
    responses = sum(statuses.values())
    wall = report["summary"]["total"]
    percentiles = report["latencyPercentiles"]

    def ms(key: str) -> float | None:
        value = percentiles.get(key)
        return None if value is None else round(value * 1000, 3)

    return {
        "rps": round(responses / wall, 1) if wall else 0.0,
        "p50_ms": ms("p50"),
        "p99_ms": ms("p99"),
        "non_2xx": sum(n for code, n in statuses.items() if not 200 <= code < 300)
        + sum(errors.values()),
        "responses": responses,
        "wall_seconds": round(wall, 3),
        "status_codes": {str(code): n for code, n in sorted(statuses.items())},
        "errors": errors,
        "aborted_at_deadline": aborted,
        "latency_ms": {k: round(v * 1000, 3) for k, v in percentiles.items() if v is not None},
    }


# --------------------------------------------------------------------------
# The scenarios
# --------------------------------------------------------------------------


def scenarios(seed: dict, base: str) -> list[dict]:
    """S1..S8: (id, label, url, request options). S9 is special (below)."""
    s = seed["scenario"]
    login = {"user": {"email": s["login_email"], "password": s["login_password"]}}
    return [
        {"id": "S1", "label": "GET /api/articles", "url": f"{base}/api/articles"},
        {"id": "S2", "label": "GET /api/articles?tag=tag-03",
         "url": f"{base}/api/articles?tag=tag-03"},
        {"id": "S3", "label": "GET /api/articles/:slug",
         "url": f"{base}/api/articles/{s['article_slug']}"},
        {"id": "S4", "label": "GET /api/articles/feed (auth)",
         "url": f"{base}/api/articles/feed", "token": s["feed_token"]},
        {"id": "S5", "label": "GET /api/tags", "url": f"{base}/api/tags"},
        {"id": "S6", "label": "POST /api/articles/:slug/comments",
         "url": f"{base}/api/articles/{s['comment_slug']}/comments", "method": "POST",
         "token": s["comment_token"], "body": {"comment": {"body": "A benchmark comment."}}},
        {"id": "S7", "label": "POST /api/users/login", "url": f"{base}/api/users/login",
         "method": "POST", "body": login},
        {"id": "S8", "label": "GET /api/profiles/:username",
         "url": f"{base}/api/profiles/{s['profile_username']}"},
    ]


REQUEST_KEYS = ("method", "token", "body")


def run_scenarios(args) -> None:
    with open(args.seed) as f:
        seed = json.load(f)
    base = seed["base_url"].rstrip("/")
    oha = Oha(args.oha, args.duration, args.connections, args.warmup)
    results = []
    for scenario in scenarios(seed, base):
        request = {k: scenario[k] for k in REQUEST_KEYS if k in scenario}
        print(f"bench: {scenario['id']} {scenario['label']}", file=sys.stderr)
        results.append({"id": scenario["id"], "label": scenario["label"],
                        **oha.measure(scenario["url"], **request),
                        "peak_rss_mb_after": memory_mb(args.pid)["VmHWM"]})

    # S9: S1's reads while a login burst (S7 at --burst-connections) runs for
    # longer than the whole measurement (warm-up included) on both sides.
    print("bench: S9 GET /api/articles during a login burst", file=sys.stderr)
    s7 = next(s for s in scenarios(seed, base) if s["id"] == "S7")
    burst_seconds = oha.warmup + oha.duration + 3
    burst = subprocess.Popen(
        oha.command(s7["url"], burst_seconds, args.burst_connections,
                    method="POST", body=s7["body"]),
        stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)  # let the burst reach full speed
        reads = oha.measure(f"{base}/api/articles")
        burst_out, _ = burst.communicate(timeout=burst_seconds + 30)
    finally:
        if burst.poll() is None:
            burst.kill()
            burst.wait()
    memory = memory_mb(args.pid)
    results.append({"id": "S9", "label": "GET /api/articles during login burst",
                    **reads, "peak_rss_mb_after": memory["VmHWM"],
                    "login_burst": summarise(json.loads(burst_out))})

    out = {"scenarios": results, "peak_rss_mb": memory["VmHWM"],
           "rss_mb_at_end": memory["VmRSS"], "burst_connections": args.burst_connections}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


def memory_mb(pid: int) -> dict:
    """The process's peak (VmHWM) and current (VmRSS) resident set, in MB."""
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    return {key: round(int(status[key].split()[0]) / 1024, 1)  # kB -> MB
            for key in ("VmHWM", "VmRSS")}


def run_ceiling(args) -> None:
    oha = Oha(args.oha, args.duration, args.connections, args.warmup)
    print(f"bench: ceiling GET {args.url}", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(oha.measure(args.url), f, indent=1)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def oha_version(binary: str) -> str:
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(result: dict) -> None:
    ceiling = result["ceiling"]["rps"]
    print()
    print(f"{'scenario':<44} {'req/s':>9} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    print("-" * 89)
    for s in result["scenarios"]:
        print(f"{s['id'] + ' ' + s['label']:<44} {s['rps']:>9.1f} {s['ratio']:>7.4f} "
              f"{fmt(s['p50_ms'], 2):>8} {fmt(s['p99_ms'], 2):>8} {s['non_2xx']:>8}")
    print("-" * 89)
    c = result["ceiling"]
    print(f"{'ceiling GET / (bench/ceiling)':<44} {ceiling:>9.1f} {1:>7.4f} "
          f"{fmt(c['p50_ms'], 2):>8} {fmt(c['p99_ms'], 2):>8} {c['non_2xx']:>8}")
    burst = next((s.get("login_burst") for s in result["scenarios"] if s["id"] == "S9"), None)
    if burst:
        print(f"S9's login burst ({result['meta']['burst_connections']} connections): "
              f"{burst['rps']:.1f} req/s, p50 {fmt(burst['p50_ms'], 2)} ms, "
              f"p99 {fmt(burst['p99_ms'], 2)} ms, non-2xx {burst['non_2xx']}")
    steps = ", ".join(f"{s['id']} {s['peak_rss_mb_after']:.0f}" for s in result["scenarios"]
                      if "peak_rss_mb_after" in s)
    print(f"peak RSS of conduit: {result['peak_rss_mb']:.1f} MB (peak in MB after each "
          f"scenario: {steps})")
    m = result["meta"]
    print(f"{m['backend']}, {m['dataset']['articles']} articles, {m['duration_s']:g}s x "
          f"{m['connections']} connections per scenario, {m['cores']} cores, "
          f"commit {m['git_commit'][:10]}{' (dirty)' if m['git_dirty'] else ''}")


def run_report(args) -> None:
    with open(args.conduit) as f:
        conduit = json.load(f)
    with open(args.ceiling) as f:
        ceiling = json.load(f)
    with open(args.seed) as f:
        seed = json.load(f)
    meta = dict(kv.split("=", 1) for kv in args.meta)
    dataset = dict(seed["counts"])
    bulk = int(meta.pop("bulk_articles", "0") or 0)
    dataset["bulk_articles"] = bulk
    dataset["articles"] = dataset["articles"] + bulk
    dataset["api_seed_seconds"] = seed.get("seed_seconds")
    if "bulk_seed_seconds" in meta:
        dataset["bulk_seed_seconds"] = float(meta.pop("bulk_seed_seconds"))
    meta.update({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "cores": os.cpu_count(),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "oha": oha_version(args.oha),
        "dataset": dataset,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "burst_connections": conduit.get("burst_connections"),
    })
    for s in conduit["scenarios"]:
        s["ratio"] = round(s["rps"] / ceiling["rps"], 4) if ceiling["rps"] else 0.0
    result = {"meta": meta, "scenarios": conduit["scenarios"], "ceiling": ceiling,
              "peak_rss_mb": conduit["peak_rss_mb"], "rss_mb_at_end": conduit["rss_mb_at_end"]}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print_table(result)
    print(f"results: {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oha", default=os.environ.get("OHA", "oha"))
    parser.add_argument("--duration", type=float, default=env_number("BENCH_DURATION", 10))
    parser.add_argument("--connections", type=int,
                        default=int(env_number("BENCH_CONNECTIONS", 32)))
    parser.add_argument("--warmup", type=float, default=env_number("BENCH_WARMUP", 1))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scenarios")
    p.add_argument("seed")
    p.add_argument("--pid", required=True, type=int)
    p.add_argument("--out", required=True)
    p.add_argument("--burst-connections", type=int,
                   default=int(env_number("BENCH_BURST_CONNECTIONS", 16)))
    p = sub.add_parser("ceiling")
    p.add_argument("url")
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("conduit")
    p.add_argument("ceiling")
    p.add_argument("--seed", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--meta", nargs="*", default=[], help="key=value pairs")
    args = parser.parse_args()
    {"scenarios": run_scenarios, "ceiling": run_ceiling, "report": run_report}[args.command](args)


if __name__ == "__main__":
    main()
