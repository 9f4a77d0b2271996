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
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"  # bench_tmp, bench_serve, bench_user, free_port, register_users, seed_*, wrk_rate
bench_tmp ab

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
  bench_serve "$d/serviceflow" "$d" "$d" "$port" "$@"
  printf -v "PORT_$name" '%s' "$port"
  register_users "$port" ab 64 "$d/tokens" || { echo "ab: registering users failed ($name)" >&2; exit 1; }
  ((${AB_ORDERS:-1})) || { unset SERVICEFLOW_DATABASE_URL; return 0; }
  bench_user "$d/serviceflow" "$d" staff 2>/dev/null || { echo "ab: creating the staff user failed ($name)" >&2; exit 1; }
  seed_products "$port" staff@bench.local "bench staff password" 16 "$d/products" ||
    { echo "ab: seeding products failed ($name)" >&2; exit 1; }
  if ((${AB_TRANSITIONS:-0})); then
    bench_user "$d/serviceflow" "$d" admin 2>/dev/null || { echo "ab: creating the admin failed ($name)" >&2; exit 1; }
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
# rate NAME ROUND ROW SCRIPT PATH TAG OK BAD UNIT [NAME=VALUE...]: one 10 s run of bench/SCRIPT
# against NAME's PATH (wrk_rate in bench/lib.sh reads its line TAG), OK per second into RES as
# ROW; fails when BAD is not 0.
rate() {
  local name="$1" r="$2" row="$3" script="$4" path="$5" tag="$6" ok="$7" bad="$8" unit="$9" port_var="PORT_$1"
  shift 9
  wrk_rate "$script" "http://127.0.0.1:${!port_var}$path" "$tag" "$ok" "$bad" "$@"
  [[ "$WRK_BAD" == 0 ]] || { echo "ab: $name answered $WRK_BAD $row answers that were not ok ($WRK_LINE)" >&2; exit 1; }
  RES["${row}_${name}_$r"]="$WRK_RATE"
  echo "round $r $row $name: $WRK_RATE $unit"
}
# sides ROUND: the order of the two sides in a round. AB_ABBA=1 swaps it every other round (old new,
# new old, ...): on a shared PostgreSQL the side that runs second can pay for the first one's
# writes (checkpoints, autovacuum), which a fixed order books against one side.
sides() { if ((${AB_ABBA:-0} && $1 % 2 == 0)); then echo new old; else echo old new; fi; }
for ((r = 1; r <= ROUNDS && ${AB_PATCH:-1}; r++)); do
  for name in $(sides "$r"); do
    rate "$name" "$r" patch patch.lua /api/v1/users/me PATCH_RESULT ok non200 req/s SF_TOKENS_FILE="$TMP/$name/tokens"
  done
done
for ((r = 1; r <= ROUNDS && ${AB_READS:-1}; r++)); do
  for name in $(sides "$r"); do
    rate "$name" "$r" me patch.lua /api/v1/users/me PATCH_RESULT ok non200 req/s SF_TOKENS_FILE="$TMP/$name/tokens" \
      SF_METHOD=GET
  done
done
for ((r = 1; r <= ROUNDS && ${AB_ORDERS:-1}; r++)); do
  for name in $(sides "$r"); do
    rate "$name" "$r" orders order.lua /api/v1/orders ORDER_RESULT paid other "paid orders/s" \
      SF_TOKENS_FILE="$TMP/$name/tokens" SF_PRODUCTS="$(cat "$TMP/$name/products")"
  done
done
for ((r = 1; r <= ROUNDS && ${AB_TRANSITIONS:-0} && ${AB_ORDERS:-1}; r++)); do
  for name in $(sides "$r"); do
    rate "$name" "$r" transitions transition.lua / TRANSITION_RESULT ok non200 transitions/s \
      SF_PAIRS_FILE="$TMP/$name/pairs"
  done
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
