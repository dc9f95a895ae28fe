#!/usr/bin/env bash
# Benchmarks on PostgreSQL: a fresh database, the release server, then `benches/load.rs`
# (sync throughput, analytics timings) and a full CSV export while the server's memory is
# sampled. Prints a Markdown table; the latest figures are kept in benches/RESULTS.md.
# Usage: scripts/bench.sh   (BENCH_CLIENTS, BENCH_SALES, BENCH_EXPORT_CLIENTS, BENCH_CONCURRENCY,
#   BENCH_ONLY=imports|reads|analytics|sync, BENCH_IMPORT_WORKERS, BENCH_IMPORT_BATCH, BENCH_READ_CONCURRENCY,
#   BENCH_READ_SECONDS)
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
port=${BENCH_PORT:-18090}
cargo build --release --bin clientbase
cargo bench --bench load --no-run

db=clientbase_bench_$$
dburl="${PG%/*}/$db"
data=$(mktemp -d)
psql "$PG" -qc "CREATE DATABASE $db"
DATABASE_URL="$dburl" CLIENTBASE_BIND=127.0.0.1:$port CLIENTBASE_DATA_DIR=$data \
  CLIENTBASE_ADMIN_EMAIL=bench@example.ru CLIENTBASE_ADMIN_PASSWORD=bench-password-1 \
  CLIENTBASE_DB_POOL_SIZE=${BENCH_POOL:-8} CLIENTBASE_MAX_BODY_BYTES=16777216 CLIENTBASE_IMPORT_MAX_BYTES=104857600 CLIENTBASE_IMPORT_WORKERS=${BENCH_IMPORT_WORKERS:-2} CLIENTBASE_IMPORT_BATCH=${BENCH_IMPORT_BATCH:-1000} RUST_LOG=warn \
  CLIENTBASE_RATE_LIMIT_DEFAULT=off CLIENTBASE_RATE_LIMIT_BULK=off CLIENTBASE_RATE_LIMIT_TOKEN=off \
  "${CARGO_TARGET_DIR:-target}/release/clientbase" serve >"$data/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.2; done
token=$(curl -sf "http://127.0.0.1:$port/api/v1/auth/token" -d grant_type=password \
  -d username=bench@example.ru -d password=bench-password-1 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; PostgreSQL $(psql "$PG" -Atc 'SHOW server_version')"
# The same fixed piece of work timed on every run: the machine's speed varies between hours,
# and this says how fast it was during these figures.
python3 -c 'import time; t = time.process_time(); sum(range(30_000_000)); print(f"Speed reference: 30M-step sum in Python, {time.process_time() - t:.2f} s CPU")'

# `BENCH_ONLY=sync`: `/sync/clients` with one batch of 1000 in flight beside PostgreSQL's own
# multi-row `INSERT … ON CONFLICT` of rows of the same shape, batches of 1000 one after the
# other, into a table with 5 indexes (primary key, external id, name, channel, updated_at).
if [ "${BENCH_ONLY:-}" = sync ]; then
  n=${BENCH_CLIENTS:-100000}
  rate=$(BENCH_BASE="http://127.0.0.1:$port" BENCH_TOKEN=$token BENCH_ONLY=reads BENCH_CONCURRENCY=1 BENCH_CLIENTS=$n \
    cargo bench -q --bench load 2>/dev/null | awk -F'|' '/sync\/clients/ {print $3}' | grep -o '^ *[0-9]*' | tr -d ' ')
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
  printf '| `/sync/clients`, %s new clients, 1 batch of 1000 in flight | %s rows/s | raw `INSERT … ON CONFLICT`, 5 indexes, batches of 1000: %.0f rows/s | ratio %.2f (goal ≥ 0.5) |\n' \
    "$n" "$rate" "$base" "$(echo "$rate / $base" | bc -l)"
  exit 0
fi

BENCH_BASE="http://127.0.0.1:$port" BENCH_TOKEN=$token BENCH_SERVER_PID=$server BENCH_DATABASE_URL="$dburl" \
  cargo bench --bench load
[ "${BENCH_ONLY:-}" = analytics ] && exit 0

# The point read beside PostgreSQL's own: `pgbench -S` (one primary-key SELECT a transaction)
# at the same concurrency, in the same run, on a pgbench base of its own.
if [ "${BENCH_ONLY:-}" != imports ]; then
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
c=${BENCH_READ_CONCURRENCY:-16}
secs=${BENCH_READ_SECONDS:-10}
read -r lo hi < <(psql "$dburl" -AtF' ' -c "SELECT min(id), max(id) FROM clients WHERE deleted_at IS NULL")
cat >"$data/read.lua" <<LUA
math.randomseed(2026)
request = function()
  return wrk.format("GET", "/api/v1/clients/" .. math.random($lo, $hi), {["Authorization"] = "Bearer $token"})
end
LUA
wrk -t2 -c"$c" -d"${secs}s" --latency -s "$data/read.lua" "http://127.0.0.1:$port" >"$data/wrk.txt"
rps=$(awk '/^Requests\/sec/ {print $2}' "$data/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$data/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $5}' "$data/wrk.txt")
pgb=clientbase_pgbench_$$
psql "$PG" -qc "CREATE DATABASE $pgb"
pgbench -i -q -s 10 "${PG%/*}/$pgb" >/dev/null 2>&1
tps=$(pgbench -S -n -c "$c" -j 2 -T "$secs" "${PG%/*}/$pgb" 2>/dev/null | awk '/^tps/ {print $3; exit}')
psql "$PG" -qc "DROP DATABASE $pgb"
printf '| authenticated `GET /clients/{id}`, c=%s, ids %s–%s | %.0f rps, p99 %s%s | `pgbench -S`, c=%s: %.0f tps | ratio %.2f |\n' \
  "$c" "$lo" "$hi" "$rps" "$p99" "${non2xx:+, $non2xx not 200}" "$c" "$tps" "$(echo "$rps / $tps" | bc -l)"
fi
[ "${BENCH_ONLY:-}" = reads ] && exit 0

# The exports, with the server's resident memory sampled every 100 ms.
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
rows=$(psql "$dburl" -Atc "SELECT COUNT(*) FROM clients WHERE deleted_at IS NULL")
for format in csv xlsx; do
  before=$(rss)
  samples="$data/rss-$format"
  ( while kill -0 "$server" 2>/dev/null; do rss >>"$samples"; sleep 0.1; done ) &
  sampler=$!
  start=$(date +%s.%N)
  bytes=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/clients/export?format=$format" | wc -c)
  end=$(date +%s.%N)
  kill $sampler 2>/dev/null || true
  peak=$(sort -n "$samples" | tail -1)
  printf '| `GET /clients/export?format=%s`, %s clients | %.1f s, %d MiB streamed; server memory %d MiB before, %d MiB at most during the export |\n' \
    "$format" "$rows" "$(echo "$end - $start" | bc)" $((bytes / 1048576)) $((before / 1024)) $((peak / 1024))
done
