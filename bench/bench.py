#!/usr/bin/env python3
"""Runs the load-benchmark scenarios with wrk and reports the results.

Python 3 standard library only. bench/run.sh starts and stops the servers and
calls the sub-commands in turn:

  bench.py scenarios SEED.json --pid PID --out conduit.json
      S1..S9 against the seeded Conduit at SEED.json's base_url, then the
      server's peak RSS (VmHWM of PID).
  bench.py pgbench DATABASE_URL --out pgbench.json
      (--postgres only) The reference for S6: pgbench inserting one row per
      transaction into a scratch table of the bench database.
  bench.py ceiling URL --pid PID --out ceiling.json
      The same load against the ceiling server (GET URL).
  bench.py report conduit.json ceiling.json --out RESULT.json [--pgbench F] [--meta k=v ...]
      Prints the table and writes everything, with metadata, to RESULT.json.

Every measurement is one wrk run (bench/wrk.lua builds the request and
prints the figures) of --duration seconds at --connections keep-alive
connections on --threads threads, preceded by a discarded warm-up run of
--warmup seconds. Figures:
  req/s    responses received (any status) / wall time of the run
  p50, p99 latency percentiles over all responses, in ms
  non-2xx  responses with a status of 400 or more (what wrk reports as
           "Non-2xx or 3xx responses"), plus socket errors (connect, read,
           write, timeout)
  CPU us   CPU time of the server process (utime + stime of /proc/PID/stat,
           all its threads) over the measured run, divided by the responses
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_SCRIPT = os.path.join(HERE, "wrk.lua")
WRK_MARKER = "wrk-json: "
# Clock ticks per second of /proc/PID/stat's utime and stime (getconf CLK_TCK).
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value else default


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads, alive or gone), in s."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # Fields after "(comm)", which may itself hold spaces: state is field 3,
    # utime field 14, stime field 15.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --------------------------------------------------------------------------
# Running wrk
# --------------------------------------------------------------------------


class Wrk:
    def __init__(self, binary: str, duration: float, connections: int, warmup: float,
                 threads: int):
        self.binary = binary
        self.duration = duration
        self.connections = connections
        self.warmup = warmup
        self.threads = threads

    def command(self, url: str, duration: float, connections: int) -> list[str]:
        if duration != int(duration):
            sys.exit(f"bench: wrk runs for whole seconds, not {duration}")
        return [self.binary, "-t", str(min(self.threads, connections)),
                "-c", str(connections), "-d", f"{int(duration)}s", "--timeout", "10s",
                "-s", WRK_SCRIPT, url]

    @staticmethod
    def environment(method="GET", token: str | None = None,
                    body: dict | None = None) -> dict:
        """The request, for bench/wrk.lua."""
        env = dict(os.environ, WRK_METHOD=method)
        env["WRK_TOKEN"] = token or ""
        env["WRK_BODY"] = "" if body is None else json.dumps(body)
        return env

    def start(self, url: str, duration: float | None = None,
              connections: int | None = None, **request) -> subprocess.Popen:
        """Starts one wrk run in the background; read it with `result`."""
        cmd = self.command(url, duration or self.duration, connections or self.connections)
        return subprocess.Popen(cmd, env=self.environment(**request),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def result(process: subprocess.Popen, timeout: float | None = None) -> dict:
        """Waits for a wrk run; returns what bench/wrk.lua printed."""
        out, err = process.communicate(timeout=timeout)
        if process.returncode != 0:
            sys.exit(f"bench: wrk failed ({process.returncode}): {err.strip()}")
        for line in out.splitlines():
            if line.startswith(WRK_MARKER):
                return json.loads(line[len(WRK_MARKER):])
        sys.exit(f"bench: no figures in wrk's output:\n{out}{err}")

    def run(self, url: str, duration: float | None = None, connections: int | None = None,
            **request) -> dict:
        return self.result(self.start(url, duration, connections, **request))

    def measure(self, url: str, pid: int, **request) -> dict:
        """A warm-up run (discarded), then the measured run with the server's
        CPU time around it, summarised."""
        if self.warmup > 0:
            self.run(url, duration=self.warmup, **request)
        before = cpu_seconds(pid)
        report = self.run(url, **request)
        return summarise(report, cpu_seconds(pid) - before)


def summarise(report: dict, server_cpu: float | None = None) -> dict:
    """The figures we keep from one wrk run (and the server's CPU seconds)."""
    responses = report["requests"]
    wall = report["duration_us"] / 1e6
    errors = report["errors"]
    latency = report["latency_us"]

    def ms(key: str) -> float | None:
        value = latency.get(key)
        return None if value is None or not responses else round(value / 1000, 3)

    out = {
        "rps": round(responses / wall, 1) if wall else 0.0,
        "p50_ms": ms("p50"),
        "p99_ms": ms("p99"),
        "non_2xx": sum(errors.values()),
        "responses": responses,
        "wall_seconds": round(wall, 3),
        "errors": errors,
        "latency_ms": {k: ms(k) for k in latency},
    }
    if server_cpu is not None:
        out["server_cpu_seconds"] = round(server_cpu, 2)
        out["cpu_us_per_request"] = round(server_cpu * 1e6 / responses, 1) if responses else None
    return out


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
    wrk = Wrk(args.wrk, args.duration, args.connections, args.warmup, args.threads)
    results = []
    for scenario in scenarios(seed, base):
        request = {k: scenario[k] for k in REQUEST_KEYS if k in scenario}
        print(f"bench: {scenario['id']} {scenario['label']}", file=sys.stderr)
        results.append({"id": scenario["id"], "label": scenario["label"],
                        **wrk.measure(scenario["url"], args.pid, **request),
                        "peak_rss_mb_after": memory_mb(args.pid)["VmHWM"]})

    # S9: S1's reads while a login burst (S7 at --burst-connections) runs for
    # longer than the whole measurement (warm-up included) on both sides. The
    # server's CPU time over the reads includes the burst's hashing.
    print("bench: S9 GET /api/articles during a login burst", file=sys.stderr)
    s7 = next(s for s in scenarios(seed, base) if s["id"] == "S7")
    burst_seconds = int(wrk.warmup + wrk.duration + 3)
    burst = wrk.start(s7["url"], burst_seconds, args.burst_connections,
                      method="POST", body=s7["body"])
    try:
        time.sleep(1)  # let the burst reach full speed
        reads = wrk.measure(f"{base}/api/articles", args.pid)
        burst_report = wrk.result(burst, timeout=burst_seconds + 30)
    finally:
        if burst.poll() is None:
            burst.kill()
            burst.wait()
    memory = memory_mb(args.pid)
    results.append({"id": "S9", "label": "GET /api/articles during login burst",
                    **reads, "peak_rss_mb_after": memory["VmHWM"],
                    "login_burst": summarise(burst_report)})

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
    wrk = Wrk(args.wrk, args.duration, args.connections, args.warmup, args.threads)
    print(f"bench: ceiling GET {args.url}", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(wrk.measure(args.url, args.pid), f, indent=1)


# The pgbench reference of --postgres: one single-row insert per transaction
# into a scratch table of the bench database (dropped with it), at the same
# connections as the scenarios. S6 commits one comment per request, so its
# req/s over this tps says how close it gets to PostgreSQL's own commit rate.
PGBENCH_TABLE = ("CREATE TABLE bench_pgbench (id bigserial PRIMARY KEY, body text NOT NULL, "
                 "created_at timestamptz NOT NULL DEFAULT now())")
PGBENCH_SCRIPT = "INSERT INTO bench_pgbench (body) VALUES ('A benchmark comment.');\n"


def run_pgbench(args) -> None:
    print("bench: pgbench reference (single-row inserts)", file=sys.stderr)
    subprocess.run(["psql", args.database_url, "-q", "-v", "ON_ERROR_STOP=1",
                    "-c", PGBENCH_TABLE], check=True, stdout=subprocess.DEVNULL)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    try:
        cmd = ["pgbench", "-n", "-c", str(args.clients), "-j", str(args.jobs),
               "-T", str(args.seconds), "-f", script.name, args.database_url]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    finally:
        os.unlink(script.name)
    match = re.search(r"^tps = ([0-9.]+)", done.stdout, re.MULTILINE)
    if not match:
        sys.exit(f"bench: no tps in pgbench's output:\n{done.stdout}{done.stderr}")
    shown = " ".join(cmd[:-2] + ["<insert.sql>"])
    with open(args.out, "w") as f:
        json.dump({"tps": round(float(match.group(1)), 1), "command": shown,
                   "script": PGBENCH_SCRIPT.strip(), "output": done.stdout}, f, indent=1)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def wrk_version(binary: str) -> str:
    """First line of `wrk --version` (which exits with status 1)."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True)
    except OSError:
        return ""
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(result: dict) -> None:
    ceiling = result["ceiling"]["rps"]
    header = (f"{'scenario':<44} {'req/s':>9} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'non-2xx':>8} {'CPU us/req':>10}")
    print()
    print(header)
    print("-" * len(header))
    for s in result["scenarios"]:
        print(f"{s['id'] + ' ' + s['label']:<44} {s['rps']:>9.1f} {s['ratio']:>7.4f} "
              f"{fmt(s['p50_ms'], 2):>8} {fmt(s['p99_ms'], 2):>8} {s['non_2xx']:>8} "
              f"{fmt(s.get('cpu_us_per_request')):>10}")
    print("-" * len(header))
    c = result["ceiling"]
    print(f"{'ceiling GET / (bench/ceiling)':<44} {ceiling:>9.1f} {1:>7.4f} "
          f"{fmt(c['p50_ms'], 2):>8} {fmt(c['p99_ms'], 2):>8} {c['non_2xx']:>8} "
          f"{fmt(c.get('cpu_us_per_request')):>10}")
    burst = next((s.get("login_burst") for s in result["scenarios"] if s["id"] == "S9"), None)
    if burst:
        print(f"S9's login burst ({result['meta']['burst_connections']} connections): "
              f"{burst['rps']:.1f} req/s, p50 {fmt(burst['p50_ms'], 2)} ms, "
              f"p99 {fmt(burst['p99_ms'], 2)} ms, non-2xx {burst['non_2xx']} "
              f"(S9's CPU us/req includes the burst's hashing)")
    pg = result.get("pgbench")
    if pg:
        s6 = next((s for s in result["scenarios"] if s["id"] == "S6"), None)
        line = f"pgbench reference ({pg['command']}: one-row INSERT): {pg['tps']:.1f} tps"
        if s6 and pg["tps"]:
            line += f"; S6 = {s6['rps'] / pg['tps']:.3f} of it"
        print(line)
    steps = ", ".join(f"{s['id']} {s['peak_rss_mb_after']:.0f}" for s in result["scenarios"]
                      if "peak_rss_mb_after" in s)
    print(f"peak RSS of conduit: {result['peak_rss_mb']:.1f} MB (peak in MB after each "
          f"scenario: {steps})")
    m = result["meta"]
    print(f"{m['backend']}, {m['dataset']['articles']} articles, {m['duration_s']:g}s x "
          f"{m['connections']} connections per scenario ({m['wrk']}, {m['wrk_threads']} "
          f"threads), {m['cores']} cores, commit {m['git_commit'][:10]}"
          f"{' (dirty)' if m['git_dirty'] else ''}")


def run_report(args) -> None:
    with open(args.conduit) as f:
        conduit = json.load(f)
    with open(args.ceiling) as f:
        ceiling = json.load(f)
    with open(args.seed) as f:
        seed = json.load(f)
    pgbench = None
    if args.pgbench:
        with open(args.pgbench) as f:
            pgbench = json.load(f)
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
        "wrk": wrk_version(args.wrk),
        "wrk_threads": args.threads,
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
    if pgbench:
        s6 = next((s for s in conduit["scenarios"] if s["id"] == "S6"), None)
        if s6 and pgbench["tps"]:
            pgbench["s6_ratio"] = round(s6["rps"] / pgbench["tps"], 4)
        result["pgbench"] = pgbench
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print_table(result)
    print(f"results: {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wrk", default=os.environ.get("WRK", "wrk"))
    parser.add_argument("--duration", type=float, default=env_number("BENCH_DURATION", 10))
    parser.add_argument("--connections", type=int,
                        default=int(env_number("BENCH_CONNECTIONS", 32)))
    parser.add_argument("--warmup", type=float, default=env_number("BENCH_WARMUP", 1))
    parser.add_argument("--threads", type=int,
                        default=int(env_number("BENCH_WRK_THREADS", os.cpu_count() or 1)))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scenarios")
    p.add_argument("seed")
    p.add_argument("--pid", required=True, type=int)
    p.add_argument("--out", required=True)
    p.add_argument("--burst-connections", type=int,
                   default=int(env_number("BENCH_BURST_CONNECTIONS", 16)))
    p = sub.add_parser("pgbench")
    p.add_argument("database_url")
    p.add_argument("--out", required=True)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seconds", type=int, default=8)
    p = sub.add_parser("ceiling")
    p.add_argument("url")
    p.add_argument("--pid", required=True, type=int)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("conduit")
    p.add_argument("ceiling")
    p.add_argument("--seed", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pgbench", help="pgbench.json of --postgres")
    p.add_argument("--meta", nargs="*", default=[], help="key=value pairs")
    args = parser.parse_args()
    {"scenarios": run_scenarios, "pgbench": run_pgbench, "ceiling": run_ceiling,
     "report": run_report}[args.command](args)


if __name__ == "__main__":
    main()
