#!/usr/bin/env bash
# Notifications created per second: wrk places orders (bench/order.lua, no
# Prefer: wait) against the real binary on a temp data dir; every order makes
# order.placed and order.paid, and the durable subscriber "notifications" makes
# one in-app notification (and one kept e-mail, the dev mailbox) per event for
# the customer. After the load the script waits until the subscriber has
# caught up and prints one table: orders, notifications, e-mails, and
# notifications/s over the whole span (load + catch-up) and during the load.
#
#   BENCH_DURATION  wrk duration (default 10s)   BENCH_CONNS  connections (default 32)
#   BENCH_USERS     customers (default 32)       SERVICEFLOW_BIN  the binary (default build/serviceflow)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
BIN="${SERVICEFLOW_BIN:-$HERE/../build/serviceflow}"
DUR="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNS:-32}"
USERS="${BENCH_USERS:-32}"
for tool in wrk sqlite3 "$PY"; do command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }; done
TMP="$(mktemp -d /tmp/sf-notify-bench-XXXXXX)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

PORT="$(free_port)"
"$BIN" migrate --data-dir "$TMP" >/dev/null
"$BIN" serve --data-dir "$TMP" --bind 127.0.0.1 --port "$PORT" --log-level warn \
  --argon2-memlimit-kib 8192 --argon2-opslimit 1 --rate-login-per-min 1000000 --rate-login-burst 1000000 \
  >"$TMP/stdout.log" 2>"$TMP/stderr.log" &
PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
"$BIN" user create --data-dir "$TMP" --email staff@bench.local --role staff --password "bench staff password" \
  --argon2-memlimit-kib 8192 --argon2-opslimit 1 >/dev/null
seed_products "$PORT" staff@bench.local "bench staff password" 4 "$TMP/products"
register_users "$PORT" buyer "$USERS" "$TMP/buyers.tokens"

DB="$TMP/serviceflow.db"
q() { sqlite3 -cmd ".timeout 5000" "$DB" "$1"; }
N0="$(q "SELECT count(*) FROM notifications")"
T0="$(date +%s.%N)"
SF_TOKENS_FILE="$TMP/buyers.tokens" SF_PRODUCTS="$(cat "$TMP/products")" SF_ORDER_WAIT=0 \
  wrk -t2 -c"$CONNS" -d"$DUR" -s "$HERE/order.lua" "http://127.0.0.1:$PORT/api/v1/orders" >"$TMP/wrk.txt" 2>&1
T1="$(date +%s.%N)"
N1="$(q "SELECT count(*) FROM notifications")"
# caught up: every order.placed / order.paid has its notification, and the count stands still
prev=-1
while :; do
  ev="$(q "SELECT count(*) FROM events WHERE type IN ('order.placed', 'order.paid')")"
  n="$(q "SELECT count(*) FROM notifications")"
  if [ "$n" -ge "$ev" ] && [ "$n" = "$prev" ]; then break; fi
  prev="$n"
  sleep 0.5
done
T2="$(date +%s.%N)"
ORDERS="$(q "SELECT count(*) FROM events WHERE type = 'order.placed'")"
PAID="$(q "SELECT count(*) FROM events WHERE type = 'order.paid'")"
NTF="$(q "SELECT count(*) FROM notifications")"
MAIL="$(q "SELECT count(*) FROM mail_messages")"
"$PY" - "$T0" "$T1" "$T2" "$N0" "$N1" "$NTF" "$ORDERS" "$PAID" "$MAIL" "$CONNS" <<'PYEOF'
import sys
t0, t1, t2 = map(float, sys.argv[1:4])
n0, n1, ntf, orders, paid, mail, conns = map(int, sys.argv[4:11])
load, span = t1 - t0, t2 - t0
print("| conns | orders placed | orders/s | orders paid | notifications | e-mails kept | load s | catch-up s "
      "| notifications/s (load) | notifications/s (span) |")
print("|---|---|---|---|---|---|---|---|---|---|")
print("| %d | %d | %.0f | %d | %d | %d | %.1f | %.1f | %.0f | %.0f |" % (
    conns, orders, orders / load, paid, ntf - n0, mail, load, t2 - t1, (n1 - n0) / load, (ntf - n0) / span))
PYEOF
