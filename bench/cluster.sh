#!/usr/bin/env bash
# 1, 2 and 3 serviceflow instances on ONE PostgreSQL database behind nginx (deploy/nginx/proxy.conf),
# in one run: PATCH /users/me (durable writes/s), GET /users/me (req/s), orders paid/s with
# `Prefer: wait=10` (bench/patch.lua, bench/order.lua; wrk -t2 -c64 against nginx), medians of N
# rounds and the ratios against 1 instance.
#
#   bash bench/cluster.sh [BUILD_DIR = build] [rounds = 3]
#
# HONEST CAVEAT: on this 2-core machine the instances, PostgreSQL (fsync on), nginx and wrk all
# share the same two cores. More instances cannot add CPU here; what the ratios show is the cost
# or gain of spreading the same work over more processes (more writer connections contending for
# the PostgreSQL write lock, more readers), not what N machines would give. See bench/README.md
# for the sizing model (the event-append serialization caps writes whatever the instance count).
#
# Set-up: PostgreSQL of its own (scripts/with-postgres.sh, PG_FSYNC=on), one database; instance 1
# starts first and so holds the "background" lease (saga, projections, timers) in every row;
# instances 2 and 3 are started for the rows that use them and stopped (SIGTERM) for those that do
# not, so an N-instance row has exactly N processes. Each instance has a data dir of its own with
# the first one's key files copied. One nginx per row (worker_processes auto, keepalive 64 to the
# instances) proxies to the first N instances; every row, the 1-instance one too, goes through
# nginx. Within a round the rows alternate 1, 2, 3 so drift hits all of them. 64 users and 16
# products with plenty of stock are made once. Knobs: CLUSTER_DURATION (8s), CLUSTER_CONNS (64).
# About 5 minutes for 3 rounds (7 on a machine busy with other work). Needs wrk and nginx
# (scripts/install-deps.sh --bench).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-build}"
ROUNDS="${2:-3}"
if [ -z "${SF_TEST_PG_URL:-}" ]; then
  PG_FSYNC=on exec "$HERE/../scripts/with-postgres.sh" bash "$0" "$@"
fi
DUR="${CLUSTER_DURATION:-8s}"
CONNS="${CLUSTER_CONNS:-64}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v wrk >/dev/null || { echo "cluster: wrk not found (scripts/install-deps.sh --bench)" >&2; exit 1; }
[ -x "$NGINX" ] || { echo "cluster: nginx not found (scripts/install-deps.sh --bench)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"  # bench_tmp, bench_serve, bench_stop, bench_user, free_port, register_users, seed_products, wrk_rate
bench_tmp cluster
chmod 777 "$TMP"  # as root, nginx's workers run as nobody and write their temp files here
declare -A PID PORT
LB_PID=""
cp "$BUILD/serviceflow" "$TMP/serviceflow"  # a rebuild during the run cannot mix two versions
export SERVICEFLOW_DATABASE_URL="$SF_TEST_PG_URL"

start_instance() {  # start_instance I: instance I on its port, waits for /healthz
  local i="$1" d="$TMP/i$1"
  bench_serve "$TMP/serviceflow" "$d" "$d" "${PORT[$i]}" --trusted-proxies 127.0.0.1 ||
    { echo "cluster: instance $i did not start" >&2; exit 1; }
  PID[$i]=$BENCH_PID
}
stop_instance() {  # stop_instance I: SIGTERM, then wait for the process
  local i="$1"
  [ -n "${PID[$i]:-}" ] || return 0
  bench_stop "${PID[$i]}"
  unset "PID[$i]"
}
run_instances() {  # run_instances N: exactly instances 1..N running
  local i
  for i in 1 2 3; do
    if ((i <= $1)); then [ -n "${PID[$i]:-}" ] || start_instance "$i"; else stop_instance "$i"; fi
  done
}
start_lb() {  # start_lb N: nginx in front of instances 1..N (stops the previous one)
  local n="$1" i servers="" d="$TMP/nginx$1"
  if [ -n "$LB_PID" ]; then bench_stop "$LB_PID"; LB_PID=""; fi
  for ((i = 1; i <= n; i++)); do servers+="        server 127.0.0.1:${PORT[$i]};"$'\n'; done
  mkdir -p "$d"
  chmod 777 "$d"
  cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    map \$http_upgrade \$sf_connection {
        default upgrade;
        ''      '';
    }
    upstream serviceflow {
$servers        keepalive 64;
    }
    server {
        listen 127.0.0.1:$LB_PORT;
        location / {
            proxy_pass http://serviceflow;
            include $HERE/../deploy/nginx/proxy.conf;
        }
    }
}
EOF
  "$NGINX" -c "$d/nginx.conf" -p "$d" 2>"$d/stderr" &
  LB_PID=$!
  bench_track "$LB_PID"
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$LB_PORT/healthz" >/dev/null && return 0; sleep 0.05; done
  echo "cluster: nginx did not start:" >&2
  cat "$d/stderr" "$d/error.log" >&2 2>/dev/null || true
  exit 1
}

LB_PORT="$(free_port)"
for i in 1 2 3; do
  PORT[$i]="$(free_port)"
  mkdir -p "$TMP/i$i"
done
"$TMP/serviceflow" migrate --data-dir "$TMP/i1" >/dev/null
for i in 2 3; do  # the same keys on every instance (or set jwt_secret and webhook_secret)
  for k in jwt.key webhook.key seal.keys; do [ -f "$TMP/i1/$k" ] && cp -p "$TMP/i1/$k" "$TMP/i$i/"; done
done
start_instance 1  # first: the lease holder for the whole run
held="$(curl -fs "http://127.0.0.1:${PORT[1]}/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["checks"].get("lease","n/a"))' || true)"
register_users "${PORT[1]}" cl 64 "$TMP/tokens" || { echo "cluster: registering users failed" >&2; exit 1; }
bench_user "$TMP/serviceflow" "$TMP/i1" staff
seed_products "${PORT[1]}" staff@bench.local "bench staff password" 16 "$TMP/products" ||
  { echo "cluster: seeding products failed" >&2; exit 1; }
echo "PostgreSQL $("$SF_TEST_PG_BIN/psql" -tAc 'SHOW server_version' "$SF_TEST_PG_URL"), fsync on;" \
  "instance 1's lease: $held; wrk -t2 -c$CONNS -d$DUR through nginx; $(nproc) cores shared by everything"

declare -A RES
BENCH_WRK="-t2 -c$CONNS -d$DUR"  # wrk_rate's wrk flags
# one_run KIND N ROUND: one wrk run of KIND (patch | me | orders) against nginx over N instances.
one_run() {
  local kind="$1" n="$2" r="$3"
  if [[ $kind == orders ]]; then
    wrk_rate order.lua "http://127.0.0.1:$LB_PORT/api/v1/orders" ORDER_RESULT paid other \
      SF_TOKENS_FILE="$TMP/tokens" SF_PRODUCTS="$(cat "$TMP/products")"
  else
    wrk_rate patch.lua "http://127.0.0.1:$LB_PORT/api/v1/users/me" PATCH_RESULT ok non200 \
      SF_TOKENS_FILE="$TMP/tokens" SF_METHOD="$([[ $kind == me ]] && echo GET || echo PATCH)"
  fi
  [[ "$WRK_BAD" == 0 ]] || { echo "cluster: $n instance(s), $kind: $WRK_BAD answers not ok ($WRK_LINE)" >&2; exit 1; }
  RES["${kind}_${n}_$r"]="$WRK_RATE"
  echo "round $r, $n instance(s), $kind: ${RES["${kind}_${n}_$r"]}/s"
}
for ((r = 1; r <= ROUNDS; r++)); do
  for n in 1 2 3; do
    run_instances "$n"
    start_lb "$n"
    for kind in patch me orders; do one_run "$kind" "$n" "$r"; done
  done
done
python3 - "$ROUNDS" "$(for k in "${!RES[@]}"; do echo "$k=${RES[$k]}"; done)" <<'EOF'
import statistics, sys
rounds = int(sys.argv[1])
res = dict(kv.split("=") for kv in sys.argv[2].split())
print("%-36s %9s %9s %9s %6s %6s" % ("median of %d rounds" % rounds, "1 inst", "2 inst", "3 inst", "2/1", "3/1"))
for kind, label in (("patch", "PATCH /users/me writes/s"), ("me", "GET /users/me req/s"),
                    ("orders", "orders paid/s (Prefer: wait)")):
    m = [statistics.median(float(res["%s_%d_%d" % (kind, n, r)]) for r in range(1, rounds + 1)) for n in (1, 2, 3)]
    print("%-36s %9.0f %9.0f %9.0f %6.2f %6.2f" % (label, m[0], m[1], m[2], m[1] / m[0], m[2] / m[0]))
EOF
