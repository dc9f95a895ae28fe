#!/usr/bin/env bash
# Fuzzes the running server against its own /openapi.json with an administrator's token:
# no 5xx, every status, content type, header and body as the contract says, and every request
# the contract calls valid accepted (the rules no schema keyword states are in
# schemathesis_hooks.py). NUL is refused in every string, so none is generated. One worker:
# the Python AST module of CPython 3.11.7 is not thread-safe (gh-106905) and breaks hypothesis.
# Usage: scripts/schemathesis.sh [path to the clientbase binary]   (DATABASE_URL optional)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/debug/clientbase}
venv=${SCHEMATHESIS_VENV:-.venv/schemathesis}
port=${SCHEMATHESIS_PORT:-18099}
examples=${SCHEMATHESIS_MAX_EXAMPLES:-25}

if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis==4.32.5'
fi

work=$(mktemp -d)
password=schemathesis-admin-pw
# With SCHEMATHESIS_PG=<admin url> the server runs on a fresh PostgreSQL database, dropped after.
pg_db=""
if [ -n "${SCHEMATHESIS_PG:-}" ]; then
  pg_db=clientbase_schemathesis_$$
  psql "$SCHEMATHESIS_PG" -qc "CREATE DATABASE $pg_db"
  export DATABASE_URL="${SCHEMATHESIS_PG%/*}/$pg_db"
fi
export CLIENTBASE_BIND=127.0.0.1:$port CLIENTBASE_DATA_DIR=$work CLIENTBASE_ADMIN_EMAIL=admin@example.ru \
  CLIENTBASE_ADMIN_PASSWORD=$password CLIENTBASE_LOG_FORMAT=json RUST_LOG=warn \
  CLIENTBASE_RATE_LIMIT_DEFAULT=off CLIENTBASE_RATE_LIMIT_BULK=off CLIENTBASE_RATE_LIMIT_TOKEN=off
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
  if [ -n "$pg_db" ]; then psql "$SCHEMATHESIS_PG" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)"; fi
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.2
done
token=$(curl -sf "http://127.0.0.1:$port/api/v1/auth/token" \
  -d grant_type=password -d username=admin@example.ru -d password=$password |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

status=0
SCHEMATHESIS_HOOKS=scripts/schemathesis_hooks.py "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance \
  --generation-allow-x00 false \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$examples" --seed 42 --no-color --workers 1 \
  --suppress-health-check all || status=$?
# Internal errors are logged with their cause; there must be none.
if grep -q '"message":"internal error"' "$work/server.log"; then
  echo "the server logged internal errors:" >&2
  grep '"message":"internal error"' "$work/server.log" | head -20 >&2
  status=1
fi
exit $status
