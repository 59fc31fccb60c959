#!/usr/bin/env bash
# Runs the official RealWorld Postman collection against a fresh Conduit.
#
#   scripts/conformance.sh               # SQLite, in a temporary directory
#   scripts/conformance.sh --postgres    # a new database on CONDUIT_TEST_POSTGRES_URL,
#                                        # dropped afterwards (needs psql)
#
# Builds the server, starts it on a free port with its own database, installs
# newman (pinned) under .tools/ when missing, runs the collection with no
# delay between requests, and fails on any failed request or assertion.
set -euo pipefail

NEWMAN_VERSION=6.2.2
root=$(cd "$(dirname "$0")/.." && pwd)
# The official collection, vendored unchanged (MIT, see tests/conformance/LICENSE).
collection=$root/tests/conformance/Conduit.postman_collection.json

tools=$root/.tools
newman=$tools/node_modules/.bin/newman
if [ ! -x "$newman" ] || [ "$("$newman" --version)" != "$NEWMAN_VERSION" ]; then
    echo "conformance: installing newman $NEWMAN_VERSION into .tools/" >&2
    npm install --silent --no-audit --no-fund --prefix "$tools" "newman@$NEWMAN_VERSION" >&2
fi

cargo build --quiet --bin conduit
binary=$root/target/debug/conduit

work=$(mktemp -d)
server_pid=""
pg_admin=""
pg_database=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    [ -n "$pg_database" ] && psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

database_url=sqlite://$work/data/conduit.db
if [ "${1:-}" = "--postgres" ]; then
    pg_admin=${CONDUIT_TEST_POSTGRES_URL:?--postgres needs CONDUIT_TEST_POSTGRES_URL, e.g. postgres://postgres@127.0.0.1:5432/test}
    pg_database=conduit_conformance_$(date +%s)_$$
    psql "$pg_admin" -qc "CREATE DATABASE $pg_database" >/dev/null
    database_url=${pg_admin%/*}/$pg_database
fi
echo "conformance: database ${database_url%%://*}" >&2

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export CONDUIT_BIND=127.0.0.1:$port
export CONDUIT_DATA_DIR=$work/data
export CONDUIT_DATABASE_URL=$database_url
export CONDUIT_LOG=${CONDUIT_LOG:-warn}
"$binary" > "$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/api/tags" 2>/dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "conformance: the server exited early:" >&2; cat "$work/server.log" >&2; exit 1
    fi
    sleep 0.1
done

suffix=$(date +%s%N)
"$newman" run "$collection" \
    --timeout-request 10000 \
    --global-var "APIURL=http://127.0.0.1:$port/api" \
    --global-var "USERNAME=user$suffix" \
    --global-var "EMAIL=user$suffix@example.com" \
    --global-var "PASSWORD=password$suffix" \
    --reporters cli
