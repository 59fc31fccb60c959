#!/usr/bin/env bash
# Load benchmark of Conduit: see bench/README.md.
#
#   bench/run.sh                 # SQLite in a temporary directory, default data set
#   bench/run.sh --postgres      # a new database on CONDUIT_TEST_POSTGRES_URL, dropped after
#   bench/run.sh --large         # plus BENCH_LARGE_ARTICLES (200000) bulk-inserted articles
#   CONDUIT_BIN=path/to/conduit CEILING_BIN=path/to/bench-ceiling bench/run.sh
#                                # measure given binaries instead of building them
#
# Steps: build Conduit (release) and the ceiling server unless given, install
# wrk (apt-get) when missing, start Conduit on a fresh database with the rate
# limits off, seed it through the API (bench/seed.py), restart it (after the
# bulk insert with --large), run the scenarios with wrk (bench/bench.py), with
# --postgres measure the pgbench reference, then measure the ceiling server
# with the same load and print/write the report.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/bench
# Given binaries (see the header), made absolute before the cd.
conduit=${CONDUIT_BIN:+$(realpath -m "$CONDUIT_BIN")}
ceiling=${CEILING_BIN:+$(realpath -m "$CEILING_BIN")}
cd "$root"

backend=sqlite
large=0
for arg in "$@"; do
    case $arg in
        --postgres) backend=postgres ;;
        --large) large=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "bench: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

# The knobs (see bench/README.md), exported for bench.py.
export BENCH_DURATION=${BENCH_DURATION:-10}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
export BENCH_WARMUP=${BENCH_WARMUP:-1}
export BENCH_BURST_CONNECTIONS=${BENCH_BURST_CONNECTIONS:-16}
large_articles=${BENCH_LARGE_ARTICLES:-200000}

# --- Tools ---------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    echo "bench: installing wrk (apt-get install wrk)" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    if ! { $sudo apt-get install -y wrk >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y wrk >&2; }; } \
        || ! command -v wrk >/dev/null; then
        echo "bench: FAILED to install wrk; install it (Debian/Ubuntu: apt-get install wrk) and rerun" >&2
        exit 1
    fi
fi
export WRK
WRK=$(command -v wrk)

if [ -z "$conduit" ]; then
    echo "bench: building conduit (release)" >&2
    cargo build --quiet --release --bin conduit
    conduit=$root/target/release/conduit
fi
if [ -z "$ceiling" ]; then
    echo "bench: building the ceiling server (release)" >&2
    cargo build --quiet --release --manifest-path "$bench/ceiling/Cargo.toml" \
        --target-dir "$root/target/bench-ceiling"
    ceiling=$root/target/bench-ceiling/release/bench-ceiling
fi
for binary in "$conduit" "$ceiling"; do
    [ -x "$binary" ] || { echo "bench: $binary is not an executable" >&2; exit 1; }
done
echo "bench: conduit $conduit, ceiling $ceiling" >&2

# --- Processes and cleanup -----------------------------------------------
work=$(mktemp -d)
server_pid=""
pg_admin=""
pg_database=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    if [ -n "$pg_database" ]; then
        psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts "$@" in the background (its pid in server_pid, its output in
# $work/server.log) and waits until GET $url answers.
start_server() {
    local url=$1
    shift
    "$@" >> "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "bench: the server exited early:" >&2; cat "$work/server.log" >&2; exit 1
        fi
        sleep 0.1
    done
    echo "bench: the server did not answer $url in 30s" >&2; exit 1
}

# --- Conduit on a fresh database -----------------------------------------
database_url=sqlite://$work/data/conduit.db
if [ "$backend" = postgres ]; then
    pg_admin=${CONDUIT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
    pg_database=conduit_bench_$(date +%s)_$$
    psql "$pg_admin" -qc "CREATE DATABASE $pg_database" >/dev/null
    database_url=${pg_admin%/*}/$pg_database
fi

port=$(free_port)
base=http://127.0.0.1:$port
export CONDUIT_BIND=127.0.0.1:$port
export CONDUIT_DATA_DIR=$work/data
export CONDUIT_DATABASE_URL=$database_url
export CONDUIT_LOG=warn
export CONDUIT_RATE_LOGIN_PER_IP=0 CONDUIT_RATE_LOGIN_PER_ACCOUNT=0 CONDUIT_RATE_REGISTER_PER_IP=0
echo "bench: conduit on $backend at $base" >&2
start_server "$base/health/ready" "$conduit"

# --- Data set ------------------------------------------------------------
python3 "$bench/seed.py" api "$base" "$work/seed.json"
# Restart, so that every run measures a server that did not do the seeding
# (its caches and peak RSS start from the same point with and without
# --large), and so that the bulk insert happens while nothing else writes.
stop_server
bulk_articles=0
bulk_seconds=0
if [ "$large" = 1 ]; then
    started=$(date +%s.%N)
    python3 "$bench/seed.py" bulk "$database_url" "$large_articles"
    bulk_seconds=$(python3 -c "import time; print(round(time.time() - $started, 1))")
    bulk_articles=$large_articles
fi
start_server "$base/health/ready" "$conduit"

# --- Measurements --------------------------------------------------------
python3 "$bench/bench.py" scenarios "$work/seed.json" --pid "$server_pid" --out "$work/conduit.json"
stop_server

pgbench_args=()
if [ "$backend" = postgres ]; then
    # The reference for S6, with Conduit stopped: see bench/README.md.
    python3 "$bench/bench.py" pgbench "$database_url" --out "$work/pgbench.json"
    pgbench_args=(--pgbench "$work/pgbench.json")
fi

ceiling_port=$(free_port)
start_server "http://127.0.0.1:$ceiling_port/" "$ceiling" "127.0.0.1:$ceiling_port"
python3 "$bench/bench.py" ceiling "http://127.0.0.1:$ceiling_port/" --pid "$server_pid" \
    --out "$work/ceiling.json"
stop_server

# --- Report --------------------------------------------------------------
suffix=$backend
[ "$large" = 1 ] && suffix=$suffix-large
result=$bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$suffix.json
python3 "$bench/bench.py" report "$work/conduit.json" "$work/ceiling.json" \
    --seed "$work/seed.json" --out "$result" "${pgbench_args[@]}" \
    --meta "backend=$backend" "bulk_articles=$bulk_articles" "bulk_seed_seconds=$bulk_seconds" \
    "conduit_bin=$conduit" "ceiling_bin=$ceiling"

# --- Job queue -----------------------------------------------------------
# Throughput and enqueue-to-start latency of the job queue on the same
# backend (crates/server/benches/jobs.rs: the real runner and database, its
# own fresh database). Skipped with BENCH_JOBS=0.
if [ "${BENCH_JOBS:-1}" != 0 ]; then
    echo "bench: job queue ($backend)" >&2
    if [ "$backend" = postgres ]; then
        cargo bench --quiet -p conduit-server --bench jobs -- --postgres "$pg_admin"
    else
        cargo bench --quiet -p conduit-server --bench jobs
    fi
fi
