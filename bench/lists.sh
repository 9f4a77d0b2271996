#!/usr/bin/env bash
# List endpoints on an empty database and on one with 100k orders and 100k service requests
# (issue 11: a list must not slow down as its table grows; target p99 within 2x of the empty one).
# See bench/README.md, "List endpoints".
#
#   SERVICEFLOW_BIN        binary to measure (default: ../build/serviceflow relative to this script)
#   BENCH_LISTS_ROWS       orders and requests of other users in the big database (default 100000)
#   BENCH_LISTS_DURATION   wrk duration per endpoint and database (default 5s)
#   BENCH_LISTS_CONNS      wrk connections (default 16; wrk threads are always 2)
#   BENCH_KEEP_TMP=1       keep the temp dir (data dirs, logs, raw wrk output)
#
# Both databases hold the same page-sized set of the bench users' own rows (100 orders and 100
# requests of one customer, some requests assigned to a staff member or the staff role), so each
# endpoint returns the same page on both; the big one adds BENCH_LISTS_ROWS orders (with their
# payment and one line) and BENCH_LISTS_ROWS requests of 1000 other customers. The rows are
# inserted with SQL (sqlite3 CLI) into the schema `serviceflow migrate` made, with the server
# stopped; the request triggers fill the full-text index as the server's writes would. No events
# are written for them: the database serves reads, and `serviceflow verify` would flag the
# seeded rows as having no history.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${SERVICEFLOW_BIN:-$HERE/../build/serviceflow}"
[[ "$BIN" == /* ]] || BIN="$PWD/$BIN"
ROWS="${BENCH_LISTS_ROWS:-100000}"
DURATION="${BENCH_LISTS_DURATION:-5s}"
CONNS="${BENCH_LISTS_CONNS:-16}"
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"  # free_port

for tool in wrk curl sqlite3 timeout "$PY"; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' not found (scripts/install-deps.sh --bench)" >&2; exit 2; }
done
[[ -x "$BIN" ]] || { echo "bench: no executable at $BIN (set SERVICEFLOW_BIN or make build)" >&2; exit 2; }
[[ "$ROWS" =~ ^[0-9]+$ ]] || { echo "bench: BENCH_LISTS_ROWS must be a number" >&2; exit 2; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/sf-lists.XXXXXX")"
SERVER_PID=""
log() { printf '[lists %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
cleanup() {
  stop_server
  if [[ -n "${BENCH_KEEP_TMP:-}" ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# start_server DIR: serves DIR on a free port (sets PORT, SERVER_PID).
start_server() {
  PORT="$(free_port)"
  "$BIN" serve --data-dir "$1" --bind 127.0.0.1 --port "$PORT" --log-level warn \
    --argon2-memlimit-kib 8192 --argon2-opslimit 1 --rate-login-per-min 1000000 --rate-login-burst 1000000 \
    >>"$1/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 15))
  until curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null && ((SECONDS < deadline)) || { tail -n 20 "$1/server.log" >&2; die "server did not start"; }
    sleep 0.1
  done
}

api() {  # api METHOD PATH TOKEN [BODY [CONTENT-TYPE]]: prints the body; fails on >= 300
  curl -fsS -X "$1" "http://127.0.0.1:$PORT$2" ${3:+-H "Authorization: Bearer $3"} \
    ${4:+--data-binary "$4"} -H "Content-Type: ${5:-application/json}"
}
login() {  # login EMAIL PASSWORD: prints the access token
  api POST /api/v1/auth/login "" "{\"email\":\"$1\",\"password\":\"$2\"}" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

WORKFLOW='name: Ticket
type: ticket
initial: open
states: {open: {}, working: {}, done: {final: true}}
transitions:
  - {action: start, from: open, to: working, roles: [staff, admin]}
  - {action: finish, from: working, to: done, roles: [staff, admin]}'

# prepare NAME OTHER_ROWS: a data dir with the bench users and rows; sets TOKEN_<role>_<NAME>, CUSTOMER_<NAME>.
prepare() {
  local name="$1" others="$2" d="$TMP/$1" role
  mkdir -p "$d"
  "$BIN" migrate --data-dir "$d" >"$d/migrate.log" 2>&1 || die "migrate failed: $(cat "$d/migrate.log")"
  start_server "$d"
  for role in customer staff admin; do
    "$BIN" user create --data-dir "$d" --email "$role@lists.bench" --role "$role" --password "bench password 1" \
      --argon2-memlimit-kib 8192 --argon2-opslimit 1 >>"$d/users.log" 2>&1 || die "user create failed"
  done
  local admin; admin="$(login admin@lists.bench "bench password 1")"
  api POST /api/v1/workflows "$admin" "$WORKFLOW" application/yaml >/dev/null
  stop_server
  local t0=$(($(date +%s) * 1000 - 86400000))
  log "$name: seeding $others other orders and requests"
  sqlite3 "$d/serviceflow.db" <<SQL || die "seeding failed"
PRAGMA journal_mode=WAL;
BEGIN;
CREATE TEMP TABLE p AS SELECT
  (SELECT id FROM users WHERE email = 'customer@lists.bench') AS cust,
  (SELECT id FROM users WHERE email = 'staff@lists.bench') AS staff,
  (SELECT id FROM workflows WHERE type = 'ticket') AS wf, $t0 AS t0, $others AS n;
CREATE TEMP TABLE w(k INTEGER PRIMARY KEY, word TEXT);
INSERT INTO w VALUES(0, 'printer'), (1, 'laptop'), (2, 'badge'), (3, 'chair'), (4, 'vpn'), (5, 'monitor'),
  (6, 'mouse'), (7, 'keyboard'), (8, 'desk'), (9, 'phone');
-- i <= 100: the bench customer's own rows (on both databases); others spread over 1000 customers
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s, p WHERE i < 100 + p.n)
INSERT INTO orders(id, customer_id, status, saga_step, currency, total, card_last4, version, created_at, updated_at)
SELECT printf('ord_lb%09d', i), CASE WHEN i <= 100 THEN p.cust ELSE printf('usr_lb%04d', i % 1000) END,
  CASE i % 4 WHEN 0 THEN 'paid' WHEN 1 THEN 'pending' WHEN 2 THEN 'shipped' ELSE 'delivered' END,
  'done', 'EUR', 1999, '4242', 1, p.t0 + i * 7 % 86400000, p.t0 + i * 7 % 86400000 FROM s, p;
INSERT INTO payments(id, order_id, provider, status, amount, captured, currency, created_at, updated_at)
SELECT 'pay_' || substr(id, 5), id, 'sandbox', 'captured', total, total, currency, created_at, created_at
FROM orders WHERE id GLOB 'ord_lb*';
INSERT INTO order_lines(order_id, line, product_id, sku, name, unit_price, quantity)
SELECT id, 1, 'prd_lb', 'LB-1', 'Bench item', 1999, 1 FROM orders WHERE id GLOB 'ord_lb*';
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s, p WHERE i < 100 + p.n)
INSERT INTO service_requests(id, type, workflow_id, title, data, state, assignee_user, assignee_role, created_by,
  version, created_at, updated_at)
SELECT printf('srq_lb%09d', i), 'ticket', p.wf,
  printf('Request %d: the %s', i, (SELECT word FROM w WHERE k = i % 10)) || CASE WHEN i % 97 = 0 THEN ' sprocket' ELSE '' END,
  json_object('n', i, 'room', printf('R%d', i % 50)),
  CASE i % 3 WHEN 0 THEN 'open' WHEN 1 THEN 'working' ELSE 'done' END,
  CASE WHEN i % 10 = 0 THEN p.staff END, CASE WHEN i % 10 = 1 THEN 'staff' END,
  CASE WHEN i <= 100 THEN p.cust ELSE printf('usr_lb%04d', i % 1000) END,
  1, p.t0 + i * 7 % 86400000, p.t0 + i * 7 % 86400000 FROM s, p;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  start_server "$d"
  printf -v "PORT_$name" '%s' "$PORT"
  printf -v "PID_$name" '%s' "$SERVER_PID"
  printf -v "CUSTOMER_$name" '%s' "$(sqlite3 "$d/serviceflow.db" "SELECT id FROM users WHERE email = 'customer@lists.bench'")"
  for role in customer staff admin; do printf -v "TOKEN_${role}_$name" '%s' "$(login "$role@lists.bench" "bench password 1")"; done
  SERVER_PID=""  # kept running; stopped below
}

# name | who | path (CUSTOMER is replaced by the customer's id)
ENDPOINTS='orders (own)|customer|/api/v1/orders?limit=20
orders (all)|admin|/api/v1/orders?limit=20
orders ?status=paid|admin|/api/v1/orders?status=paid&limit=20
orders ?customer_id=|admin|/api/v1/orders?customer_id=CUSTOMER&limit=20
requests (own)|customer|/api/v1/requests?limit=20
requests (all)|admin|/api/v1/requests?limit=20
requests ?state=open|admin|/api/v1/requests?state=open&limit=20
requests ?assignee=me|staff|/api/v1/requests?assignee=me&limit=20
requests ?assignee=unassigned&type=|admin|/api/v1/requests?assignee=unassigned&type=ticket&limit=20
requests ?q= (1% match)|admin|/api/v1/requests?q=sprocket&limit=20
requests ?q= + own|customer|/api/v1/requests?q=printer&limit=20'

RESULTS="$TMP/results.tsv"
: >"$RESULTS"
bench_db() {  # bench_db NAME
  local name="$1" port_var="PORT_$1" cust_var="CUSTOMER_$1" label who path tok_var out
  while IFS='|' read -r label who path; do
    tok_var="TOKEN_${who}_$name"
    path="${path//CUSTOMER/${!cust_var}}"
    curl -fsS -o /dev/null -H "Authorization: Bearer ${!tok_var}" "http://127.0.0.1:${!port_var}$path" ||
      die "$label answers an error on $name"
    out="$TMP/wrk-$name-${label//[^a-z]/_}.txt"
    timeout -k 5 120 wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "Authorization: Bearer ${!tok_var}" \
      "http://127.0.0.1:${!port_var}$path" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
    ! grep -q "Non-2xx" "$out" || die "$label: non-2xx answers on $name: $(grep Non-2xx "$out")"
    awk -v n="$name" -v l="$label" '
      function ms(v,   x, u) { x = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        return u == "us" ? x / 1000 : u == "s" ? x * 1000 : x }
      /Requests\/sec:/ { rps = $2 } $1 == "99%" { p99 = ms($2) }
      END { printf "%s\t%s\t%s\t%s\n", n, l, rps, p99 }' "$out" >>"$RESULTS"
  done <<<"$ENDPOINTS"
}

log "binary $BIN; wrk -t2 -c$CONNS -d$DURATION --latency per endpoint; $(nproc) cores"
prepare empty 0
prepare big "$ROWS"
for db in empty big; do
  pid_var="PID_$db"
  log "measuring $db"
  bench_db "$db"
done
for db in empty big; do pid_var="PID_$db"; kill -TERM "${!pid_var}" 2>/dev/null || true; wait "${!pid_var}" 2>/dev/null || true; done

"$PY" - "$RESULTS" "$ROWS" <<'EOF'
import sys
rows, n = {}, sys.argv[2]
for line in open(sys.argv[1]):
    db, label, rps, p99 = line.rstrip("\n").split("\t")
    rows.setdefault(label, {})[db] = (float(rps), float(p99))
big = "%sk DB" % (int(n) // 1000) if int(n) >= 1000 else "%s DB" % n
print("%-36s %10s %9s %10s %9s %7s" % ("endpoint", "empty r/s", "p99 ms", big + " r/s", "p99 ms", "ratio"))
worst = 0
for label, r in rows.items():
    (er, ep), (br, bp) = r["empty"], r["big"]
    ratio = bp / ep if ep else float("inf")
    worst = max(worst, ratio)
    print("%-36s %10.0f %9.2f %10.0f %9.2f %6.2fx" % (label, er, ep, br, bp, ratio))
print("p99 ratio: worst %.2fx (target: within 2x)" % worst)
EOF
