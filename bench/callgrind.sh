#!/usr/bin/env bash
# Instructions per request of Conduit and of the ceiling server, counted by
# valgrind's callgrind: see bench/README.md ("Instruction counts").
#
#   bench/callgrind.sh [CONDUIT_BIN [CEILING_BIN]]
#       defaults: $CONDUIT_BIN or target/release/conduit,
#                 $CEILING_BIN or target/bench-ceiling/release/bench-ceiling
#   CALLGRIND_REQUESTS=1000     requests counted per scenario
#   CALLGRIND_DUMPS=DIR         keep the callgrind dumps in DIR (for callgrind_annotate)
#
# Unlike req/s, an instruction count repeats to within about 1% from one run
# to the next on a busy machine, so it shows what a code change costs per
# request. The binaries are not built here (make bench builds them first).
#
# Steps: start the ceiling under callgrind and count GET /; start Conduit
# under callgrind on a fresh SQLite database in a temporary directory (rate
# limits off, one worker, one malloc arena), seed a small fixed data set
# through the API (bench/seed.py: 5 users, 25 articles, tags, comments,
# follows, favorites; one thread, so ids and slugs are the same on every
# run), count each scenario with ../shared/tools/callgrind_per_request.py,
# print the table and write bench/results/<UTC timestamp>-callgrind.json.
set -euo pipefail

case ${1:-} in -h|--help) sed -n '2,21p' "$0"; exit 0 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/bench
conduit=$(realpath -m "${1:-${CONDUIT_BIN:-$root/target/release/conduit}}")
ceiling=$(realpath -m "${2:-${CEILING_BIN:-$root/target/bench-ceiling/release/bench-ceiling}}")
cd "$root"

requests=${CALLGRIND_REQUESTS:-1000}
counter=$root/../shared/tools/callgrind_per_request.py

# --- Tools and binaries --------------------------------------------------
fail() { echo "callgrind: $*" >&2; exit 1; }
[ -f "$counter" ] || fail "MISSING $counter (the per-request counter this script relies on)"
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null \
    || fail "valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)"
for binary in "$conduit" "$ceiling"; do
    [ -x "$binary" ] || fail "$binary is not an executable (build it first: make bench does)"
done

# --- Processes and cleanup -----------------------------------------------
work=$(mktemp -d)
dumps=${CALLGRIND_DUMPS:-$work/cg}
mkdir -p "$dumps"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts "$@" under callgrind in the background (valgrind runs the program in
# its own process, so server_pid is the server's pid) and waits until GET $url
# answers; everything starts slowly under valgrind. One malloc arena for all
# threads: with one per thread, whether a growing response buffer could be
# reallocated in place changed from run to run (S1 moved by 2-4%).
start_under_callgrind() {
    local url=$1
    shift
    GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.arena_max=1 \
        valgrind --tool=callgrind --callgrind-out-file="$dumps/cg.%p" "$@" >> "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 1200); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "callgrind: the server exited early:" >&2; cat "$work/server.log" >&2; exit 1
        fi
        sleep 0.1
    done
    fail "the server did not answer $url in 120s"
}

# count LABEL PORT PATH [TOKEN]: appends "LABEL<TAB>instructions" to the results.
count() {
    local label=$1 port=$2 path=$3 token=${4:-}
    echo "callgrind: $label ($requests requests)" >&2
    local n args=("$server_pid" "$port" "$requests" "$path")
    if [ -n "$token" ]; then args+=("$token"); fi
    n=$(CG_DIR=$dumps python3 "$counter" "${args[@]}" 2>> "$work/counter.log") || { cat "$work/counter.log" >&2; fail "counting $label failed"; }
    printf '%s\t%s\n' "$label" "$n" >> "$work/counts.tsv"
}

# --- The ceiling ---------------------------------------------------------
port=$(free_port)
start_under_callgrind "http://127.0.0.1:$port/" "$ceiling" "127.0.0.1:$port"
count "ceiling GET / (bench/ceiling)" "$port" /
stop_server

# --- Conduit on a fresh SQLite database with the small data set ----------
port=$(free_port)
base=http://127.0.0.1:$port
export CONDUIT_BIND=127.0.0.1:$port
export CONDUIT_DATA_DIR=$work/data
export CONDUIT_DATABASE_URL=sqlite://$work/data/conduit.db
export CONDUIT_LOG=warn
export CONDUIT_RATE_LOGIN_PER_IP=0 CONDUIT_RATE_LOGIN_PER_ACCOUNT=0 CONDUIT_RATE_REGISTER_PER_IP=0
# One worker: every request then runs on the same thread (with one per core
# the counter's connections alternate between workers).
export CONDUIT_WORKERS=1
echo "callgrind: conduit under callgrind at $base (seeding takes a minute)" >&2
start_under_callgrind "$base/health/ready" "$conduit"
python3 "$bench/seed.py" api "$base" "$work/seed.json" \
    --users 5 --articles-per-user 5 --follows 3 --favorites 5 --threads 1 --seed 42

seed() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['scenario'][sys.argv[2]])" "$work/seed.json" "$1"; }
token=$(seed feed_token)   # user 0, who follows 3 authors
count "S1 GET /api/articles" "$port" /api/articles
count "S3 GET /api/articles/:slug" "$port" "/api/articles/$(seed article_slug)"
count "S4 GET /api/articles/feed (auth)" "$port" /api/articles/feed "$token"
count "S5 GET /api/tags" "$port" /api/tags
count "S8 GET /api/profiles/:username" "$port" "/api/profiles/$(seed profile_username)"
count "GET /api/user (auth)" "$port" /api/user "$token"
stop_server

# --- Report --------------------------------------------------------------
result=$bench/results/$(date -u +%Y%m%dT%H%M%SZ)-callgrind.json
python3 - "$work/counts.tsv" "$result" "$conduit" "$ceiling" "$requests" <<'EOF'
import json, os, subprocess, sys
from datetime import datetime, timezone

counts_file, out, conduit, ceiling, requests = sys.argv[1:]
rows = [line.rstrip("\n").split("\t") for line in open(counts_file)]
counts = {label: int(n) for label, n in rows}
ceiling_label = rows[0][0]
base = counts[ceiling_label]
order = [label for label, _ in rows[1:]] + [ceiling_label]
print()
print(f"{'scenario':<36} {'instructions/request':>21} {'x ceiling':>10}")
print("-" * 69)
for label in order:
    if label == ceiling_label:
        print("-" * 69)
    print(f"{label:<36} {counts[label]:>21,} {counts[label] / base:>10.2f}")


def git(*args):
    done = subprocess.run(["git", *args], capture_output=True, text=True)
    return done.stdout.strip()


os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump({
        "meta": {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "git_commit": git("rev-parse", "HEAD"),
                 "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
                 "conduit_bin": conduit, "ceiling_bin": ceiling,
                 "requests_per_scenario": int(requests), "cores": os.cpu_count(),
                 "dataset": "seed.py api --users 5 --articles-per-user 5 --follows 3 "
                            "--favorites 5 --threads 1 --seed 42"},
        "instructions_per_request": {label: counts[label] for label in order},
        "ratio_to_ceiling": {label: round(counts[label] / base, 3) for label in order},
    }, f, indent=1)
print(f"results: {out}")
EOF
if [ -n "${CALLGRIND_DUMPS:-}" ]; then
    echo "callgrind: dumps kept in $dumps (callgrind_annotate --inclusive=yes FILE | head -60)" >&2
fi
