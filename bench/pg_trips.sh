#!/usr/bin/env bash
# Round trips of the writer per command on PostgreSQL: one server on a PostgreSQL of its own
# (scripts/with-postgres.sh), one user, then N sequential PATCH /users/me and N sequential orders
# with Prefer: wait (one client: every batch holds one command, so nothing is shared between
# commands). Counts, on the server's writer connection, the client's sends (strace of sendto: one
# per round trip, libpq flushes once per PQexec or pipeline sync) and the statements PostgreSQL
# ran (log_statement = all, that connection's lines). Also PostgreSQL's own round trip on this
# machine (pgbench -c1 "SELECT 1").
#
#   bash bench/pg_trips.sh [BUILD_DIR = build] [N = 40]
# Needs strace. PG_TRIPS_ROWS ("patch order") picks the rows, PG_TRIPS_STRACE=0 leaves out the
# traced pass (CPU only). PG_TRIPS_KEEP=1 keeps the trace and the statement log in the printed temp dir.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-build}"
N="${2:-40}"
if [ -z "${SF_TEST_PG_URL:-}" ]; then
  exec "$HERE/../scripts/with-postgres.sh" bash "$0" "$@"
fi
command -v strace >/dev/null || { echo "pg_trips: strace not found" >&2; exit 1; }
TMP="$(mktemp -d /tmp/sf-trips-XXXXXX)"
SRV=""
cleanup() {
  if [ -n "$SRV" ]; then kill "$SRV" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if ((${PG_TRIPS_KEEP:-0})); then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
PGLOG="$(dirname "$SF_TEST_PG_DATA")/server.log"
psql_admin() { "$SF_TEST_PG_BIN/psql" -qtA "$SF_TEST_PG_ADMIN" -c "$1"; }

cp "$BUILD/serviceflow" "$TMP/serviceflow"
export SERVICEFLOW_DATABASE_URL="$SF_TEST_PG_URL"
"$TMP/serviceflow" migrate --data-dir "$TMP" >/dev/null
port="$(free_port)"
"$TMP/serviceflow" serve --data-dir "$TMP" --bind 127.0.0.1 --port "$port" --log-level error \
  --argon2-memlimit-kib 8192 --argon2-opslimit 1 >"$TMP/out.log" 2>"$TMP/err.log" &
SRV=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
register_users "$port" trips 1 "$TMP/tokens"
"$TMP/serviceflow" user create --data-dir "$TMP" --email staff@bench.local --role staff \
  --password "bench staff password" --argon2-memlimit-kib 8192 --argon2-opslimit 1 >/dev/null 2>&1
seed_products "$port" staff@bench.local "bench staff password" 1 "$TMP/products"
TOKEN="$(head -1 "$TMP/tokens")"
PRODUCT="$(cat "$TMP/products")"

patch_once() {
  curl -fs -o /dev/null -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"trips-$1\"}" "http://127.0.0.1:$port/api/v1/users/me"
}
order_once() {
  curl -fs -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H 'Prefer: wait=10' \
    -d "{\"items\":[{\"product_id\":\"$PRODUCT\",\"quantity\":1}],\"payment\":{\"card_number\":\"4242424242424242\"}}" \
    "http://127.0.0.1:$port/api/v1/orders" | grep -q '"paid"' || { echo "pg_trips: order not paid" >&2; exit 1; }
}
for i in 1 2 3 4 5; do patch_once "w$i"; order_once; done # statements prepared, caches warm

# The writer's backend: the connection that took the write lock last.
psql_admin "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
psql_admin "ALTER SYSTEM SET log_line_prefix = '%p '" >/dev/null
psql_admin "SELECT pg_reload_conf()" >/dev/null
sleep 0.5

# measure NAME FN: N sequential calls of FN under strace; prints sends per call per thread.
measure() {
  local name="$1" fn="$2" from t0 t1
  from="$(wc -l <"$PGLOG")"
  strace -f -qq -e trace=sendto -o "$TMP/$name.strace" -p "$SRV" &
  local st=$!
  sleep 1
  t0="$(date +%s%N)"
  for i in $(seq "$N"); do "$fn" "$name$i"; done
  t1="$(date +%s%N)"
  sleep 1.5 # the saga's last steps and the dispatch after the answer
  kill "$st"; wait "$st" 2>/dev/null || true
  tail -n +"$((from + 1))" "$PGLOG" >"$TMP/$name.pglog"
  "$PY" - "$name" "$N" "$TMP/$name.strace" "$TMP/$name.pglog" "$(((t1 - t0) / 1000))" <<'EOF'
import collections, re, sys
name, n, trace, pglog, us = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
sends = collections.Counter()
text = collections.defaultdict(str)
for line in open(trace, errors="replace"):
    m = re.match(r"(\d+)\s+sendto\(\d+, \"(.*?)\"(?:\.\.\.)?, \d+,", line)
    if m:
        sends[m.group(1)] += 1
        text[m.group(1)] += m.group(2)[:200]
writer = [t for t in sends if "sf_cmd" in text[t]]
stmts = collections.Counter()
pids = collections.Counter()
lines = [l for l in open(pglog, errors="replace") if " LOG:  " in l]
for l in lines:
    pids[l.split()[0]] += 1
wpid = next((l.split()[0] for l in lines if "SAVEPOINT sf_cmd" in l), None)
for l in lines:
    if l.split()[0] != wpid:
        continue
    m = re.search(r"LOG:  (?:execute \S+|statement): (.*)", l)
    if m:
        stmts[" ".join(m.group(1).split()[:4])[:70]] += 1
print("%s: %d sequential calls, %.2f ms each" % (name, n, us / 1000 / n))
for t in sorted(sends, key=lambda t: -sends[t]):
    print("  thread %s%s: %.2f sends per call" % (t, " (writer)" if t in writer else "", sends[t] / n))
print("  writer backend %s: %.2f statements per call; per call:" % (wpid, sum(stmts.values()) / n))
for s, c in stmts.most_common():
    print("    %6.2f  %s" % (c / n, s))
EOF
}
# cpu_ms: CPU time (user + system, ms) so far of the server and of PostgreSQL's processes.
cpu_ms() {
  "$PY" - "$SRV" "$(head -1 "$SF_TEST_PG_DATA/postmaster.pid")" <<'PYEOF'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
def stat(pid):
    try:
        return open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        return None
def ms(pid):
    f = stat(pid)
    return (int(f[11]) + int(f[12])) * 1000 // hz if f else 0
pg = [p for p in os.listdir("/proc") if p.isdigit() and (stat(p) or [0, 0])[1] == sys.argv[2]]
print(ms(sys.argv[1]), sum(ms(p) for p in pg + [sys.argv[2]]))
PYEOF
}
# measure_cpu NAME FN: N sequential calls without strace; CPU ms per call of the server and of
# PostgreSQL (less sensitive than rates to what else runs on the machine).
measure_cpu() {
  local a b
  a="$(cpu_ms)"
  for i in $(seq "$N"); do "$2" "cpu$1$i"; done
  sleep 1.5
  b="$(cpu_ms)"
  "$PY" -c 'import sys; a, b, n = sys.argv[1].split(), sys.argv[2].split(), int(sys.argv[3]); print("%s: CPU per call: server %.2f ms, PostgreSQL %.2f ms" % (sys.argv[4], (int(b[0]) - int(a[0])) / n, (int(b[1]) - int(a[1])) / n))' "$a" "$b" "$N" "$1"
}
for row in ${PG_TRIPS_ROWS:-patch order}; do measure_cpu "$row" "${row}_once"; done
if ((${PG_TRIPS_STRACE:-1})); then
  for row in ${PG_TRIPS_ROWS:-patch order}; do measure "$row" "${row}_once"; done
fi
echo "PostgreSQL's round trip here (pgbench -c1, SELECT 1, simple protocol):"
echo "SELECT 1" >"$TMP/one.sql"
"$SF_TEST_PG_BIN/pgbench" -n -c1 -T3 -f "$TMP/one.sql" "$SF_TEST_PG_URL" 2>/dev/null | grep -E "latency average"
