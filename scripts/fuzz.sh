#!/usr/bin/env bash
# Property-based API fuzzing with schemathesis against the served OpenAPI
# document. Fails on any server error, response that breaks its schema,
# undocumented status code or wrong content type.
#
#   scripts/fuzz.sh                       # default budget
#   FUZZ_MAX_EXAMPLES=20 FUZZ_MAX_TIME=60 scripts/fuzz.sh
#
# Installs schemathesis (pinned) into .tools/venv when missing, starts the
# server on a fresh SQLite database, registers a user and sends its token
# with every request.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.tools/venv
if [ ! -x "$venv/bin/schemathesis" ] || [ "$("$venv/bin/pip" show schemathesis 2>/dev/null | sed -n 's/^Version: //p')" != "$SCHEMATHESIS_VERSION" ]; then
    echo "fuzz: installing schemathesis $SCHEMATHESIS_VERSION into .tools/venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet --bin conduit
work=$(mktemp -d)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
CONDUIT_BIND=127.0.0.1:$port CONDUIT_DATA_DIR=$work/data CONDUIT_DATABASE_URL=sqlite://$work/data/conduit.db \
CONDUIT_LOG=${CONDUIT_LOG:-error} CONDUIT_RATE_LOGIN_PER_IP=0 CONDUIT_RATE_LOGIN_PER_ACCOUNT=0 \
CONDUIT_RATE_REGISTER_PER_IP=0 \
    "$root/target/debug/conduit" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$base/health/live" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done

token=$(curl -fsS -X POST "$base/api/users" -H 'Content-Type: application/json' \
    -d '{"user":{"username":"fuzzer","email":"fuzzer@example.com","password":"fuzzer-password"}}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["token"])')

status=0
"$venv/bin/schemathesis" run "$base/api-docs/openapi.json" \
    --url "$base" \
    --header "Authorization: Token $token" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,response_headers_conformance \
    --max-examples "${FUZZ_MAX_EXAMPLES:-40}" \
    --max-time "${FUZZ_MAX_TIME:-240}" \
    --request-timeout 10 \
    --workers 1 \
    --no-color \
    --suppress-health-check all || status=$?

if grep -q "panicked" "$work/server.log"; then
    echo "fuzz: the server panicked:" >&2
    grep -A3 "panicked" "$work/server.log" >&2
    status=1
fi
exit $status
