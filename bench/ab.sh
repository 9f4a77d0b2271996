#!/usr/bin/env bash
# Same-run A/B of two builds on the durable-write load: which change made the difference, on a
# machine whose absolute numbers drift by tens of percent between hours.
#
#   bash bench/ab.sh OLD_BUILD_DIR NEW_BUILD_DIR [rounds = 3]
#
# Each build dir must hold `serviceflow` (and, for the engine rows, `transition_bench`). Both
# servers run at once on loopback in a temp dir, with 64 registered users each; the PATCH load
# (bench/patch.lua, wrk -t2 -c64 -d10s) alternates old, new, old, new ... so drift hits both.
# Then GET /users/me with the same 64 users' tokens round-robin (SF_METHOD=GET), alternating the
# same way (AB_READS=0 skips it). Then orders with `Prefer: wait=10` (bench/order.lua, wrk -t2 -c64
# -d10s; the same 64 users buy 16 products with plenty of stock, seeded by a staff user as
# bench/run.sh seeds its shop): paid orders/s, each a whole saga (authorize, capture) committed
# before its answer, the orders_wait row of bench/run.sh, alternating the same way (AB_ORDERS=0
# skips it and the seeding; AB_TRANSITIONS=1 adds a row of workflow transitions over HTTP,
# bench/transition.lua). Then the engine bench of each build (`transition_bench 5 64 1`),
# alternating the same way.
# Prints medians and new/old ratios. Needs wrk (scripts/install-deps.sh --bench).
# AB_OLD_ARGS / AB_NEW_ARGS: extra `serve` flags per side (e.g. AB_NEW_ARGS="--writer-sync full"
# with the same build on both sides); AB_PATCH=0, AB_ENGINE=0 skip the PATCH and engine rows;
# AB_OLD_DATABASE_URL / AB_NEW_DATABASE_URL run that side on another database (bench/pg.sh);
# AB_ABBA=1 swaps the order of the sides every other round (bench/pg_ab.sh sets it).
set -euo pipefail
OLD="${1:?old build dir}"
NEW="${2:?new build dir}"
ROUNDS="${3:-3}"
HERE="$(cd "$(dirname "$0")" && pwd)"
command -v wrk >/dev/null || { echo "ab: wrk not found (scripts/install-deps.sh --bench)" >&2; exit 1; }
TMP="$(mktemp -d /tmp/sf-ab-XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"  # free_port, register_users, seed_products

start() {  # start NAME BUILD_DIR [serve flags...] -> sets PORT_NAME
  local name="$1" dir="$2" d="$TMP/$1" port
  shift 2
  mkdir -p "$d"
  cp "$dir/serviceflow" "$d/serviceflow"
  port="$(free_port)"
  # AB_OLD_DATABASE_URL / AB_NEW_DATABASE_URL: that side's database (e.g. PostgreSQL: bench/pg.sh)
  local url_var="AB_${name^^}_DATABASE_URL"
  export SERVICEFLOW_DATABASE_URL="${!url_var:-}"
  "$d/serviceflow" migrate --data-dir "$d" >/dev/null
  "$d/serviceflow" serve --data-dir "$d" --bind 127.0.0.1 --port "$port" --log-level error \
    --argon2-memlimit-kib 8192 --argon2-opslimit 1 --rate-login-per-min 1000000 \
    --rate-login-burst 1000000 "$@" >"$d/out.log" 2>"$d/err.log" &
  PIDS+=("$!")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  printf -v "PORT_$name" '%s' "$port"
  register_users "$port" ab 64 "$d/tokens" || { echo "ab: registering users failed ($name)" >&2; exit 1; }
  ((${AB_ORDERS:-1})) || { unset SERVICEFLOW_DATABASE_URL; return 0; }
  "$d/serviceflow" user create --data-dir "$d" --email staff@bench.local --role staff \
    --password "bench staff password" --argon2-memlimit-kib 8192 --argon2-opslimit 1 >/dev/null 2>&1 ||
    { echo "ab: creating the staff user failed ($name)" >&2; exit 1; }
  seed_products "$port" staff@bench.local "bench staff password" 16 "$d/products" ||
    { echo "ab: seeding products failed ($name)" >&2; exit 1; }
  if ((${AB_TRANSITIONS:-0})); then
    "$d/serviceflow" user create --data-dir "$d" --email admin@bench.local --role admin \
      --password "bench admin password" --argon2-memlimit-kib 8192 --argon2-opslimit 1 >/dev/null 2>&1 ||
      { echo "ab: creating the admin failed ($name)" >&2; exit 1; }
    seed_transitions "$port" admin@bench.local "bench admin password" "$d/tokens" "$d/pairs" ||
      { echo "ab: preparing the workflow failed ($name)" >&2; exit 1; }
  fi
  unset SERVICEFLOW_DATABASE_URL
}

# shellcheck disable=SC2086 # the flags are meant to split
start old "$OLD" ${AB_OLD_ARGS:-}
# shellcheck disable=SC2086
start new "$NEW" ${AB_NEW_ARGS:-}
declare -A RES
# wrk_rate NAME BENCH ROUND [env...]: one 10 s run of patch.lua against NAME, rate into RES.
wrk_rate() {
  local name="$1" bench="$2" r="$3" port_var="PORT_$1" line ok bad us rps
  shift 3
  line="$(env SF_TOKENS_FILE="$TMP/$name/tokens" "$@" wrk -t2 -c64 -d10s -s "$HERE/patch.lua" \
    "http://127.0.0.1:${!port_var}/api/v1/users/me" | grep '^PATCH_RESULT')"
  ok="$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$line")"
  bad="$(sed -n 's/.*non200=\([0-9]*\).*/\1/p' <<<"$line")"
  us="$(sed -n 's/.*duration_us=\([0-9]*\).*/\1/p' <<<"$line")"
  [[ "$bad" == 0 ]] || { echo "ab: $name answered $bad non-200s" >&2; exit 1; }
  rps="$(python3 -c "print(round($ok / ($us / 1e6)))")"
  RES["${bench}_${name}_$r"]="$rps"
  echo "round $r $bench $name: $rps req/s"
}
# order_rate NAME ROUND: one 10 s run of order.lua (Prefer: wait=10) against NAME, paid orders/s into RES.
order_rate() {
  local name="$1" r="$2" port_var="PORT_$1" line paid other us rps
  line="$(SF_TOKENS_FILE="$TMP/$name/tokens" SF_PRODUCTS="$(cat "$TMP/$name/products")" \
    wrk -t2 -c64 -d10s -s "$HERE/order.lua" "http://127.0.0.1:${!port_var}/api/v1/orders" | grep '^ORDER_RESULT')"
  paid="$(sed -n 's/.*paid=\([0-9]*\).*/\1/p' <<<"$line")"
  other="$(sed -n 's/.*other=\([0-9]*\).*/\1/p' <<<"$line")"
  us="$(sed -n 's/.*duration_us=\([0-9]*\).*/\1/p' <<<"$line")"
  [[ "$other" == 0 ]] || { echo "ab: $name answered $other orders that were not paid ($line)" >&2; exit 1; }
  rps="$(python3 -c "print(round($paid / ($us / 1e6)))")"
  RES["orders_${name}_$r"]="$rps"
  echo "round $r orders $name: $rps paid orders/s"
}
# transition_rate NAME ROUND: one 10 s run of transition.lua against NAME, transitions/s into RES.
transition_rate() {
  local name="$1" r="$2" port_var="PORT_$1" line ok bad us rps
  line="$(SF_PAIRS_FILE="$TMP/$name/pairs" wrk -t2 -c64 -d10s -s "$HERE/transition.lua" \
    "http://127.0.0.1:${!port_var}/" | grep '^TRANSITION_RESULT')"
  ok="$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$line")"
  bad="$(sed -n 's/.*non200=\([0-9]*\).*/\1/p' <<<"$line")"
  us="$(sed -n 's/.*duration_us=\([0-9]*\).*/\1/p' <<<"$line")"
  [[ "$bad" == 0 ]] || { echo "ab: $name answered $bad transitions that were not 200 ($line)" >&2; exit 1; }
  rps="$(python3 -c "print(round($ok / ($us / 1e6)))")"
  RES["transitions_${name}_$r"]="$rps"
  echo "round $r transitions $name: $rps transitions/s"
}
# sides ROUND: the order of the two sides in a round. AB_ABBA=1 swaps it every other round (old new,
# new old, ...): on a shared PostgreSQL the side that runs second can pay for the first one's
# writes (checkpoints, autovacuum), which a fixed order books against one side.
sides() { if ((${AB_ABBA:-0} && $1 % 2 == 0)); then echo new old; else echo old new; fi; }
for ((r = 1; r <= ROUNDS && ${AB_PATCH:-1}; r++)); do
  for name in $(sides "$r"); do wrk_rate "$name" patch "$r"; done
done
for ((r = 1; r <= ROUNDS && ${AB_READS:-1}; r++)); do
  for name in $(sides "$r"); do wrk_rate "$name" me "$r" SF_METHOD=GET; done
done
for ((r = 1; r <= ROUNDS && ${AB_ORDERS:-1}; r++)); do
  for name in $(sides "$r"); do order_rate "$name" "$r"; done
done
for ((r = 1; r <= ROUNDS && ${AB_TRANSITIONS:-0} && ${AB_ORDERS:-1}; r++)); do
  for name in $(sides "$r"); do transition_rate "$name" "$r"; done
done
for ((r = 1; r <= ROUNDS && ${AB_ENGINE:-1}; r++)); do
  for name in old new; do
    dir_var=$([[ $name == old ]] && echo "$OLD" || echo "$NEW")
    [[ -x "$dir_var/transition_bench" ]] || continue
    line="$("$dir_var/transition_bench" 5 64 1 2>/dev/null | grep '^TRANSITION_ENGINE')"
    RES["engine_${name}_$r"]="$(sed -n 's/.*plain=\([0-9]*\).*/\1/p' <<<"$line")"
    echo "round $r engine $name: ${RES["engine_${name}_$r"]} transitions/s"
  done
done
python3 - "$ROUNDS" "$(for k in "${!RES[@]}"; do echo "$k=${RES[$k]}"; done)" <<'EOF'
import statistics, sys
rounds = int(sys.argv[1])
res = dict(kv.split("=") for kv in sys.argv[2].split())
print("%-34s %10s %10s %8s" % ("median of %d rounds" % rounds, "old", "new", "new/old"))
for b, unit in (("patch", "PATCH /users/me writes/s (-c64)"), ("orders", "orders paid/s, Prefer: wait (-c64)"),
                ("me", "GET /users/me req/s (-c64)"), ("transitions", "POST transitions/s (-c64)"),
                ("engine", "engine transitions/s (64 clients)")):
    o = [float(res[k]) for k in res if k.startswith(b + "_old_")]
    n = [float(res[k]) for k in res if k.startswith(b + "_new_")]
    if o and n:
        mo, mn = statistics.median(o), statistics.median(n)
        print("%-34s %10.0f %10.0f %8.2f" % (unit, mo, mn, mn / mo))
EOF
