#!/usr/bin/env bash
# Service Flow benchmark suite (`make bench`). See bench/README.md.
#
#   SERVICEFLOW_BIN       binary to measure (default: ../build/serviceflow relative to this script)
#   BENCH_DURATION        wrk duration per run, seconds with an "s" (default 10s)
#   BENCH_ROUNDS          runs per benchmark, medians are reported (default 3)
#   BENCH_CONNS           wrk connections (default 64; wrk threads are always 2)
#   BENCH_WRITE_USERS     users the PATCH load is spread over (default 64)
#   BENCH_ORDER_CONNS     wrk connections for order placement (default 64)
#   BENCH_ORDER_USERS     customers placing the orders (default 64)
#   BENCH_ORDER_PRODUCTS  products the orders spread over (default 16)
#   BENCH_NGINX_WORKERS   nginx worker_processes (default auto = one per core)
#   BENCH_KEEP_TMP=1      keep the temp dir (data dirs, logs, raw wrk output) for debugging
#
# Prints a table, writes it with the raw numbers to bench/results/latest.json. Exit status: 0 when
# every run completed without request errors (a missed target is reported, not fatal); 1 when a
# server fails to start, crashes or stalls, any request errors (non-200, socket errors, timeouts),
# or the post-run integrity checks fail.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${SERVICEFLOW_BIN:-$HERE/../build/serviceflow}"
[[ "$BIN" == /* ]] || BIN="$PWD/$BIN"
DURATION="${BENCH_DURATION:-10s}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNS="${BENCH_CONNS:-64}"
WRK_THREADS=2
WRITE_USERS="${BENCH_WRITE_USERS:-64}"
ORDER_CONNS="${BENCH_ORDER_CONNS:-64}"
ORDER_USERS="${BENCH_ORDER_USERS:-64}"
ORDER_PRODUCTS="${BENCH_ORDER_PRODUCTS:-16}"
NGINX_WORKERS="${BENCH_NGINX_WORKERS:-auto}"
RESULTS_DIR="$HERE/results"
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"  # free_port, register_users, seed_products

DUR_S="${DURATION%s}"
[[ "$DUR_S" =~ ^[0-9]+$ ]] || { echo "bench: BENCH_DURATION must look like 10s" >&2; exit 2; }
WRK_TIMEOUT=$((DUR_S + 30))   # hard bound on one wrk run

for tool in wrk nginx curl sqlite3 timeout "$PY"; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' not found (scripts/install-deps.sh --bench)" >&2; exit 2; }
done
[[ -x "$BIN" ]] || { echo "bench: no executable at $BIN (set SERVICEFLOW_BIN or make build)" >&2; exit 2; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/sf-bench.XXXXXX")"
RAW="$TMP/raw.tsv"        # one line per wrk run
META="$TMP/meta.tsv"      # key<TAB>value facts for the report
: >"$RAW"
: >"$META"
mkdir -p "$TMP/wrk" "$RESULTS_DIR"
STARTED_PIDS=()
STOP_RC=0

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# Stops one process we started: SIGTERM, up to $2 seconds, then SIGKILL. Sets STOP_RC to its exit
# status (not run in a subshell: only the parent shell can wait for its children).
stop_pid() {
  local pid="$1" grace="${2:-15}" rc=0 deadline
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still running ${grace}s after SIGTERM; threads (name, wchan, state, voluntary switches):"
      local t
      for t in /proc/"$pid"/task/*; do
        printf '  %s %s %s %s %s\n' "${t##*/}" "$(cat "$t/comm" 2>/dev/null)" "$(cat "$t/wchan" 2>/dev/null)" \
          "$(awk '{print $3}' "$t/stat" 2>/dev/null)" \
          "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status" 2>/dev/null)" >&2
      done
      log "sending SIGKILL to $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  STOP_RC=$rc
  local keep=() p
  for p in "${STARTED_PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  STARTED_PIDS=("${keep[@]}")
}

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then stop_pid "$pid" 10; fi
  done
  if [[ -n "${BENCH_KEEP_TMP:-}" ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Snapshot of the binary, so that a rebuild during the run cannot mix two versions.
cp "$BIN" "$TMP/serviceflow"
BIN_ORIG="$BIN"
BIN="$TMP/serviceflow"

die() { log "FATAL: $*"; exit 1; }

# wait_http URL PID: until URL answers 200, at most 15 s, failing early if PID dies.
wait_http() {
  local url="$1" pid="$2" deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# ---------------------------------------------------------------- nginx baseline
# worker_processes auto (= 2 here): nginx gets every core (the stronger baseline); serviceflow's
# default is cores - 1 HTTP threads plus its writer. Both share the 2 cores with wrk's 2 threads.
start_nginx() {
  local d="$TMP/nginx" temps="" m
  mkdir -p "$d"
  NGX_PORT="$(free_port)"
  local user_line=""
  [[ "$(id -u)" == 0 ]] && user_line="user $(id -un);"   # keep workers as the current user
  local v; v="$(nginx -V 2>&1)"
  for m in client_body proxy fastcgi uwsgi scgi; do
    if [[ "$v" == *"--http-${m/_/-}-temp-path"* || "$m" == client_body ]] &&
       [[ "$v" != *"--without-http_${m}_module"* ]]; then
      temps+="  ${m}_temp_path $d/${m}_temp;"$'\n'
    fi
  done
  cat >"$d/nginx.conf" <<EOF
$user_line
worker_processes $NGINX_WORKERS;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
$temps
  server {
    listen 127.0.0.1:$NGX_PORT;
    location / { return 200 "ok"; }
  }
}
EOF
  nginx -t -q -c "$d/nginx.conf" -p "$d/" -e "$d/error.log" >"$d/test.log" 2>&1 ||
    { cat "$d/test.log" "$d/error.log" >&2 2>/dev/null; die "nginx config test failed"; }
  nginx -c "$d/nginx.conf" -p "$d/" -e "$d/error.log" >"$d/stdout.log" 2>&1 &
  NGX_PID=$!
  STARTED_PIDS+=("$NGX_PID")
  wait_http "http://127.0.0.1:$NGX_PORT/" "$NGX_PID" ||
    { cat "$d/error.log" >&2 2>/dev/null; die "nginx did not start"; }
  log "nginx pid $NGX_PID on 127.0.0.1:$NGX_PORT (worker_processes $NGINX_WORKERS)"
}

# ---------------------------------------------------------------- serviceflow
# start_sf NAME [extra serve flags...]: sets SF_PID_<NAME>, SF_PORT_<NAME>, SF_DIR_<NAME>.
# The login/register rate limit is raised only so that the bench can register its users quickly;
# the per-IP and per-user limits are off by default and stay off.
start_sf() {
  local name="$1"; shift
  local d="$TMP/sf-$name" port pid
  mkdir -p "$d"
  port="$(free_port)"
  "$BIN" migrate --data-dir "$d" >"$d/migrate.log" 2>&1 ||
    { cat "$d/migrate.log" >&2; die "serviceflow migrate failed ($name)"; }
  "$BIN" serve --data-dir "$d" --bind 127.0.0.1 --port "$port" --log-level warn \
    --argon2-memlimit-kib 8192 --argon2-opslimit 1 \
    --rate-login-per-min 1000000 --rate-login-burst 1000000 "$@" \
    >"$d/stdout.log" 2>"$d/stderr.log" &
  pid=$!
  STARTED_PIDS+=("$pid")
  if ! wait_http "http://127.0.0.1:$port/healthz" "$pid"; then
    save_logs "$name" "$d"
    tail -n 50 "$d/stderr.log" >&2 || true
    die "serviceflow ($name) did not start on port $port"
  fi
  printf -v "SF_PID_$name" '%s' "$pid"
  printf -v "SF_PORT_$name" '%s' "$port"
  printf -v "SF_DIR_$name" '%s' "$d"
  log "serviceflow '$name' pid $pid on 127.0.0.1:$port ${*:-}"
}

save_logs() {  # keeps a server's logs after the temp dir is gone
  local name="$1" d="$2"
  cp "$d/stderr.log" "$RESULTS_DIR/server-$name-stderr.log" 2>/dev/null || true
  cp "$d/stdout.log" "$RESULTS_DIR/server-$name-stdout.log" 2>/dev/null || true
}

# check_alive NAME: the server must still run; otherwise report the crash with its stderr.
check_alive() {
  local name="$1" pid_var="SF_PID_$1" dir_var="SF_DIR_$1" rc=0
  local pid="${!pid_var}" d="${!dir_var}"
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || rc=$?
    save_logs "$name" "$d"
    log "serviceflow '$name' (pid $pid) DIED under load, exit status $rc; stderr tail:"
    tail -n 80 "$d/stderr.log" >&2 || true
    die "server crash; logs saved in $RESULTS_DIR/server-$name-*.log"
  fi
}

metric() {  # metric PORT NAME (unlabelled sample), 0 when absent
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v n="$2" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }'
}

# ---------------------------------------------------------------- wrk
# run_wrk BENCH ROUND URL [wrk args...]: appends a line to $RAW:
# bench round rps p99_ms non2xx sock_connect sock_read sock_write sock_timeout ok200 non200 dur_us statuses
run_wrk() {
  local bench="$1" round="$2" url="$3"; shift 3
  local out="$TMP/wrk/$bench-$round.txt" rc=0
  timeout -k 5 "$WRK_TIMEOUT" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" \
    >"$out" 2>"$out.err" || rc=$?
  if ((rc != 0)); then
    cat "$out" "$out.err" >&2
    die "wrk failed (exit $rc) for $bench round $round"
  fi
  local line
  line="$(awk -v b="$bench" -v r="$round" '
    function ms(v,   n, u) {
      n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") return n / 1000; if (u == "ms") return n; if (u == "s") return n * 1000
      if (u == "m") return n * 60000; return -1
    }
    /Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(",", ""); sc = $4; sr = $6; sw = $8; st = $10 }
    /^PATCH_RESULT|^ORDER_RESULT|^TRANSITION_RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); pr[kv[1]] = kv[2] } }
    END {
      if (rps == "" || p99 == "") { print "PARSE_ERROR"; exit }
      printf "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", b, r, rps, p99, non2xx,
        sc, sr, sw, st, (pr["ok"] != "" ? pr["ok"] : pr["paid"] != "" ? pr["paid"] : -1),
        (pr["non200"] != "" ? pr["non200"] : pr["other"] != "" ? pr["other"] : -1),
        (pr["duration_us"] == "" ? -1 : pr["duration_us"]), (pr["statuses"] == "" ? "-" : pr["statuses"])
    }' "$out")"
  [[ "$line" != PARSE_ERROR ]] || { cat "$out" "$out.err" >&2; die "cannot parse wrk output ($bench $round)"; }
  printf '%s\n' "$line" >>"$RAW"
  cp "$out" "$RESULTS_DIR/wrk/$bench-$round.txt" 2>/dev/null || true   # raw wrk output
  local f; IFS=$'\t' read -r -a f <<<"$line"
  log "$(printf '%-14s round %s: %10s req/s  p99 %8s ms  non2xx %s  sock c/r/w/t %s/%s/%s/%s%s' \
    "$bench" "$round" "${f[2]}" "${f[3]}" "${f[4]}" "${f[5]}" "${f[6]}" "${f[7]}" "${f[8]}" \
    "$([[ ${f[9]} != -1 ]] && echo "  200s ${f[9]} non200 ${f[10]} [${f[12]}]")")"
  if [[ -s "$out.err" ]]; then log "wrk stderr ($bench $round):"; head -n 5 "$out.err" >&2; fi
}

# ================================================================ main
rm -rf "$RESULTS_DIR/wrk" "$RESULTS_DIR"/server-*.log
mkdir -p "$RESULTS_DIR/wrk"
log "binary $BIN_ORIG; $(nproc) cores; wrk -t$WRK_THREADS -c$CONNS -d$DURATION --latency; $ROUNDS rounds"
meta binary "$BIN_ORIG"
meta binary_sha256 "$(sha256sum "$BIN" | cut -c1-16)"
meta git_rev "$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
meta git_dirty "$(git -C "$HERE/.." status --porcelain --untracked-files=no -- src 2>/dev/null | wc -l)"
meta binary_mtime "$(date -u -r "$BIN_ORIG" +%Y-%m-%dT%H:%M:%SZ)"
meta cores "$(nproc)"
meta loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta order_conns "$ORDER_CONNS"
meta order_products "$ORDER_PRODUCTS"
meta order_users "$ORDER_USERS"

# Guard evaluation (issue 4): a C program timing single evaluations in the Lua sandbox, 3 times.
GUARD_BENCH="$(dirname "$BIN_ORIG")/guard_bench"
[[ -x "$GUARD_BENCH" ]] || die "no guard_bench beside the binary ($GUARD_BENCH): make build"
for ((r = 1; r <= ROUNDS; r++)); do
  line="$("$GUARD_BENCH" 200000)" || die "guard_bench failed"
  log "guard round $r: $line"
  meta "guard_median_ns_$r" "$(sed -n 's/.*median_ns=\([0-9]*\).*/\1/p' <<<"$line")"
  meta "guard_p99_ns_$r" "$(sed -n 's/.*p99_ns=\([0-9]*\).*/\1/p' <<<"$line")"
done

# Workflow engine without HTTP (issue 4): transition commands straight into the writer from 64
# client threads on a real SQLite file; it interleaves its own rounds and prints medians.
ENGINE_BENCH="$(dirname "$BIN_ORIG")/transition_bench"
[[ -x "$ENGINE_BENCH" ]] || die "no transition_bench beside the binary ($ENGINE_BENCH): make build"
line="$("$ENGINE_BENCH" 5 64 "$ROUNDS" | grep '^TRANSITION_ENGINE')" || die "transition_bench failed"
log "engine: $line"
for k in plain actions pipelined single; do meta "engine_$k" "$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<" $line")"; done

start_nginx
start_sf main
sleep 1
meta idle_rss_mb "$(rss_mb "$SF_PID_main")"
log "idle RSS $(rss_mb "$SF_PID_main") MB"

register_users "$SF_PORT_main" reader 1 "$TMP/reader.tokens" || die "registering the reader failed"
TOKEN="$(head -n 1 "$TMP/reader.tokens")"

# The shop: a third server with a staff user, ORDER_PRODUCTS active products with plenty of stock
# and ORDER_USERS customers; its product reads run beside nginx, its orders after the PATCH runs.
start_sf shop
"$BIN" user create --data-dir "$SF_DIR_shop" --email staff@bench.local --role staff \
  --password "bench staff password" --argon2-memlimit-kib 8192 --argon2-opslimit 1 >/dev/null 2>&1 ||
  die "creating the bench staff user failed"
seed_products "$SF_PORT_shop" staff@bench.local "bench staff password" "$ORDER_PRODUCTS" "$TMP/products" ||
  die "seeding the shop failed"
PRODUCT="$(cut -d, -f1 "$TMP/products")"
register_users "$SF_PORT_shop" buyer "$ORDER_USERS" "$TMP/buyers.tokens" || die "registering buyers failed"
# Workflow transitions (issue 4): a self-looping workflow, one request per buyer (bench/lib.sh).
"$BIN" user create --data-dir "$SF_DIR_shop" --email admin@bench.local --role admin \
  --password "bench admin password" --argon2-memlimit-kib 8192 --argon2-opslimit 1 >/dev/null 2>&1 ||
  die "creating the bench admin failed"
seed_transitions "$SF_PORT_shop" admin@bench.local "bench admin password" "$TMP/buyers.tokens" "$TMP/pairs" ||
  die "preparing the workflow bench failed"

# Reads: interleaved nginx, healthz, me, nginx, ... so that drift hits all three alike.
for ((r = 1; r <= ROUNDS; r++)); do
  run_wrk nginx "$r" "http://127.0.0.1:$NGX_PORT/"
  kill -0 "$NGX_PID" 2>/dev/null || die "nginx died"
  run_wrk healthz "$r" "http://127.0.0.1:$SF_PORT_main/healthz"
  check_alive main
  run_wrk me "$r" "http://127.0.0.1:$SF_PORT_main/api/v1/users/me" -H "Authorization: Bearer $TOKEN"
  check_alive main
  run_wrk product "$r" "http://127.0.0.1:$SF_PORT_shop/api/v1/products/$PRODUCT"
  check_alive shop
done
meta product_cache_hit_ratio "$(metric "$SF_PORT_shop" 'sf_cache_hit_ratio{cache="products"}')"
meta rss_after_reads_mb "$(rss_mb "$SF_PID_main")"
stop_pid "$NGX_PID" 10

# Writes: the group-commit server ("main", defaults: writer_max_batch 1024, writer_sync full) and a
# second server that commits every command alone (--writer-max-batch 1); both synchronous=FULL.
# Same load, runs interleaved batched, single, batched, ...
start_sf single --writer-max-batch 1
register_users "$SF_PORT_main" writer "$WRITE_USERS" "$TMP/writers-main.tokens" || die "registering writers failed"
register_users "$SF_PORT_single" writer "$WRITE_USERS" "$TMP/writers-single.tokens" || die "registering writers failed"
sleep 1
meta idle_rss_single_mb "$(rss_mb "$SF_PID_single")"

for ((r = 1; r <= ROUNDS; r++)); do
  for name in main single; do
    port_var="SF_PORT_$name"; port="${!port_var}"
    s0="$(metric "$port" sf_writer_batch_size_sum)"; c0="$(metric "$port" sf_writer_batch_size_count)"
    f0="$(metric "$port" sf_writer_failed_commands_total)"
    bench=$([[ $name == main ]] && echo patch_batched || echo patch_single)
    SF_TOKENS_FILE="$TMP/writers-$name.tokens" \
      run_wrk "$bench" "$r" "http://127.0.0.1:$port/api/v1/users/me" -s "$HERE/patch.lua"
    check_alive "$name"
    s1="$(metric "$port" sf_writer_batch_size_sum)"; c1="$(metric "$port" sf_writer_batch_size_count)"
    f1="$(metric "$port" sf_writer_failed_commands_total)"
    meta "batch_mean_${bench}_$r" "$(awk -v a="$s0" -v b="$s1" -v c="$c0" -v d="$c1" \
      'BEGIN { printf "%.2f", ((d - c) > 0 ? (b - a) / (d - c) : 0) }')"
    meta "failed_commands_${bench}_$r" "$(awk -v a="$f0" -v b="$f1" 'BEGIN { print b - a }')"
    meta "wal_bytes_${bench}_$r" "$(stat -c %s "$TMP/sf-$name/serviceflow.db-wal" 2>/dev/null || echo 0)"
    meta "db_bytes_${bench}_$r" "$(stat -c %s "$TMP/sf-$name/serviceflow.db" 2>/dev/null || echo 0)"
  done
done
# Orders, two ways, interleaved:
# - orders: POST /api/v1/orders answered once the order is durably placed (201 "pending"); the saga
#   (authorize, capture, confirm) runs behind it. After wrk stops we wait until no saga is left
#   unfinished; the rate is paid orders in the database / (wrk time + that drain), so a saga that
#   falls behind lowers it. p99 is the placement latency.
# - orders_wait: the same with Prefer: wait=10, so each 201 with "status":"paid" is an order whose
#   whole saga committed before the answer; the rate counts only those.
SHOP_DB="$SF_DIR_shop/serviceflow.db"
shop_sql() { sqlite3 -readonly "$SHOP_DB" "$1" 2>/dev/null || echo -1; }
now_s() { date +%s.%N; }
for ((r = 1; r <= ROUNDS; r++)); do
  CONNS_SAVED="$CONNS"; CONNS="$ORDER_CONNS"
  p0="$(shop_sql "SELECT count(*) FROM orders WHERE status = 'paid'")"; t0="$(now_s)"
  SF_ORDER_WAIT=0 SF_TOKENS_FILE="$TMP/buyers.tokens" SF_PRODUCTS="$(cat "$TMP/products")" \
    run_wrk orders "$r" "http://127.0.0.1:$SF_PORT_shop/api/v1/orders" -s "$HERE/order.lua"
  t1="$(now_s)"
  for ((i = 0; i < 600; i++)); do
    [[ "$(shop_sql "SELECT count(*) FROM orders WHERE saga_step <> 'done'")" == 0 ]] && break
    sleep 0.05
  done
  t2="$(now_s)"
  p1="$(shop_sql "SELECT count(*) FROM orders WHERE status = 'paid'")"
  meta "orders_paid_$r" "$((p1 - p0))"
  meta "orders_drain_s_$r" "$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')"
  meta "orders_paid_per_s_$r" "$(awk -v n="$((p1 - p0))" -v a="$t0" -v b="$t2" 'BEGIN { printf "%.1f", n / (b - a) }')"
  check_alive shop
  SF_TOKENS_FILE="$TMP/buyers.tokens" SF_PRODUCTS="$(cat "$TMP/products")" \
    run_wrk orders_wait "$r" "http://127.0.0.1:$SF_PORT_shop/api/v1/orders" -s "$HERE/order.lua"
  CONNS="$CONNS_SAVED"
  check_alive shop
  SF_PAIRS_FILE="$TMP/pairs" run_wrk transitions "$r" "http://127.0.0.1:$SF_PORT_shop/" -s "$HERE/transition.lua"
  check_alive shop
done
meta rss_after_orders_mb "$(rss_mb "$SF_PID_shop")"
meta rss_after_writes_mb "$(rss_mb "$SF_PID_main")"
meta rss_after_writes_single_mb "$(rss_mb "$SF_PID_single")"
for name in main single; do
  port_var="SF_PORT_$name"
  curl -fsS --max-time 5 "http://127.0.0.1:${!port_var}/metrics" >"$TMP/metrics-$name.txt" || true
  # any 5xx the server counted itself (wrk only sees the ones it received)
  meta "http_5xx_$name" "$(awk '/^sf_http_requests_total\{/ && /status="5/ { s += $NF } END { print s + 0 }' \
    "$TMP/metrics-$name.txt")"
done

curl -fsS --max-time 5 "http://127.0.0.1:$SF_PORT_shop/metrics" >"$TMP/metrics-shop.txt" || true
meta http_5xx_shop "$(awk '/^sf_http_requests_total\{/ && /status="5/ { s += $NF } END { print s + 0 }' \
  "$TMP/metrics-shop.txt")"
stop_pid "$SF_PID_shop" 30
meta shutdown_rc_shop "$STOP_RC"
# Shop integrity: every acknowledged paid order is paid in the database, the sandbox ledger
# captured each exactly once, and verify (hash chain + order/stock folds) passes.
meta orders_paid_db "$(sqlite3 -readonly "$SF_DIR_shop/serviceflow.db" "SELECT count(*) FROM orders WHERE status='paid'" 2>&1)"
meta orders_not_settled_db "$(sqlite3 -readonly "$SF_DIR_shop/serviceflow.db" "SELECT count(*) FROM orders WHERE saga_step <> 'done'" 2>&1)"
meta ledger_captures "$(sqlite3 -readonly "$SF_DIR_shop/sandbox-payments.db" "SELECT count(*) FROM ops WHERE key LIKE '%:capture' AND outcome = 0" 2>&1)"
vrc=0
timeout 300 "$BIN" verify --data-dir "$SF_DIR_shop" >"$TMP/verify-shop.txt" 2>&1 || vrc=$?
meta verify_rc_shop "$vrc"
meta verify_out_shop "$(tr '\n\t' '  ' <"$TMP/verify-shop.txt" | cut -c1-300)"

# Graceful shutdown, then integrity: acknowledged writes are in the database, the projection
# caught up, and the hash chain verifies.
for name in main single; do
  pid_var="SF_PID_$name"; d="$TMP/sf-$name"
  t0=$SECONDS
  stop_pid "${!pid_var}" 30     # shutdown_timeout_s is 10, plus the final WAL checkpoint
  rc=$STOP_RC
  meta "shutdown_rc_$name" "$rc"
  meta "shutdown_s_$name" "$((SECONDS - t0))"
  [[ "$rc" == 0 ]] || { save_logs "$name" "$d"; log "serviceflow '$name' exited with status $rc on SIGTERM"; }
  meta "events_profile_updated_$name" \
    "$(sqlite3 -readonly "$d/serviceflow.db" "SELECT count(*) FROM events WHERE type='user.profile_updated'" 2>&1)"
  meta "projection_profile_updated_$name" \
    "$(sqlite3 -readonly "$d/serviceflow.db" "SELECT coalesce(max(count),0) FROM event_type_stats WHERE type='user.profile_updated'" 2>&1)"
  vrc=0
  timeout 120 "$BIN" verify --data-dir "$d" >"$TMP/verify-$name.txt" 2>&1 || vrc=$?
  meta "verify_rc_$name" "$vrc"
  meta "verify_out_$name" "$(tr '\n\t' '  ' <"$TMP/verify-$name.txt" | cut -c1-300)"
  if [[ -s "$d/stderr.log" ]]; then
    meta "stderr_lines_$name" "$(wc -l <"$d/stderr.log")"
    save_logs "$name" "$d"
  else
    meta "stderr_lines_$name" 0
  fi
done
meta loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
"$PY" - "$RAW" "$META" "$RESULTS_DIR/latest.json" "$DURATION" "$ROUNDS" "$CONNS" "$WRK_THREADS" \
  "$NGINX_WORKERS" "$WRITE_USERS" <<'EOF'
import json, statistics, sys, time
raw_path, meta_path, out_path, duration, rounds, conns, wthreads, ngx_workers, wusers = sys.argv[1:]
cols = ["bench", "round", "rps", "p99_ms", "non2xx", "sock_connect", "sock_read", "sock_write",
        "sock_timeout", "ok200", "non200", "duration_us", "statuses"]
runs = {}
for line in open(raw_path):
    f = line.rstrip("\n").split("\t")
    r = dict(zip(cols, f))
    for k in cols[1:12]:
        r[k] = float(r[k]) if "." in r[k] else int(r[k])
    if r["ok200"] >= 0 and r["duration_us"] > 0:      # committed writes/s = 200 responses/s
        r["committed_per_s"] = round(r["ok200"] / (r["duration_us"] / 1e6), 2)
    runs.setdefault(r["bench"], []).append(r)
meta = {}
for line in open(meta_path):
    k, _, v = line.rstrip("\n").partition("\t")
    try:
        meta[k] = float(v) if "." in v else int(v)
    except ValueError:
        meta[k] = v

def med(bench, key):
    return statistics.median(r[key] for r in runs[bench])

def errors(bench):
    e = 0
    for r in runs[bench]:
        e += r["non2xx"] + r["sock_connect"] + r["sock_read"] + r["sock_write"] + r["sock_timeout"]
        e += max(r["non200"], 0)
    return e

res = {}
for b in ("nginx", "healthz", "me", "product"):
    res[b] = {"rps": med(b, "rps"), "p99_ms": med(b, "p99_ms"), "errors": errors(b)}
R0 = range(1, int(rounds) + 1)
res["orders"] = {"rps": statistics.median(meta["orders_paid_per_s_%d" % i] for i in R0),
                 "p99_ms": med("orders", "p99_ms"), "errors": errors("orders"),
                 "acked_total": sum(r["ok200"] for r in runs["orders"]),
                 "paid_total": sum(meta["orders_paid_%d" % i] for i in R0),
                 "rounds": [meta["orders_paid_per_s_%d" % i] for i in R0],
                 "drain_s": [meta["orders_drain_s_%d" % i] for i in R0]}
res["transitions"] = {"rps": med("transitions", "committed_per_s"), "p99_ms": med("transitions", "p99_ms"),
                      "errors": errors("transitions")}
res["orders_wait"] = {"rps": med("orders_wait", "committed_per_s"), "p99_ms": med("orders_wait", "p99_ms"),
                      "errors": errors("orders_wait"), "paid_total": sum(r["ok200"] for r in runs["orders_wait"]),
                      "rounds": [r["committed_per_s"] for r in runs["orders_wait"]]}
for b in ("patch_batched", "patch_single"):
    res[b] = {"rps": med(b, "committed_per_s"), "p99_ms": med(b, "p99_ms"), "errors": errors(b),
              "non200": sum(max(r["non200"], 0) for r in runs[b]),
              "ok200_total": sum(r["ok200"] for r in runs[b]),
              "mean_batch": statistics.median(meta["batch_mean_%s_%d" % (b, i)] for i in range(1, int(rounds) + 1))}

n, h, me, pb, ps = (res[k] for k in ("nginx", "healthz", "me", "patch_batched", "patch_single"))
idle = meta["idle_rss_mb"]
me_ok = me["rps"] >= 0.5 * n["rps"] and me["p99_ms"] < 5
pr, od, ow = res["product"], res["orders"], res["orders_wait"]
guard_med = statistics.median(meta["guard_median_ns_%d" % i] for i in range(1, int(rounds) + 1))
guard_p99 = statistics.median(meta["guard_p99_ns_%d" % i] for i in range(1, int(rounds) + 1))
od_ok = od["rps"] >= 5000 and od["p99_ms"] < 50
rows = [
    # name, rps, p99, ratio, target, verdict
    ("nginx return 200 (baseline)", n["rps"], n["p99_ms"], "1.00", "", ""),
    ("GET /healthz", h["rps"], h["p99_ms"], "%.2f of nginx" % (h["rps"] / n["rps"]), "", ""),
    ("GET /api/v1/users/me (JWT+SQLite)", me["rps"], me["p99_ms"], "%.2f of nginx" % (me["rps"] / n["rps"]),
     ">= 0.50, p99 < 5ms", "PASS" if me_ok else "FAIL"),
    ("PATCH /users/me batched (FULL)", pb["rps"], pb["p99_ms"], "%.1f x" % (pb["rps"] / ps["rps"]),
     ">= 20000/s", "PASS" if pb["rps"] >= 20000 else "FAIL"),
    ("PATCH /users/me 1 commit/write", ps["rps"], ps["p99_ms"], "1.00", "", ""),
    ("GET /api/v1/products/{id} (cache hit)", pr["rps"], pr["p99_ms"], "%.2f of nginx" % (pr["rps"] / n["rps"]),
     ">= 0.50", "PASS" if pr["rps"] >= 0.5 * n["rps"] else "FAIL"),
    ("POST /orders -> paid (sandbox saga)", od["rps"], od["p99_ms"], "%.2f of PATCH" % (od["rps"] / pb["rps"]),
     ">= 5000/s, p99 < 50ms", "PASS" if od_ok else "FAIL"),
    ("same, Prefer: wait (answer = paid)", ow["rps"], ow["p99_ms"], "%.2f of PATCH" % (ow["rps"] / pb["rps"]), "", ""),
    ("POST /requests/{id}/transitions", res["transitions"]["rps"], res["transitions"]["p99_ms"],
     "%.2f of PATCH" % (res["transitions"]["rps"] / pb["rps"]), ">= 50000/s",
     "PASS" if res["transitions"]["rps"] >= 50000 else "FAIL"),
    ("engine transitions, no HTTP, 1 event", meta["engine_plain"], None,
     "%.1f x 1-commit" % (meta["engine_plain"] / meta["engine_single"]), ">= 50000/s",
     "PASS" if meta["engine_plain"] >= 50000 else "FAIL"),
    ("same, emit + set actions (3 events)", meta["engine_actions"], None,
     "%.1f x 1-commit" % (meta["engine_actions"] / meta["engine_single"]), "", ""),
    ("same, 1 event, writer_sync=pipelined", meta["engine_pipelined"], None,
     "%.1f x 1-commit" % (meta["engine_pipelined"] / meta["engine_single"]), "", ""),
    ("same, 1 commit per transition", meta["engine_single"], None, "1.00", "", ""),
    ("idle RSS", None, None, "", "< 30 MB", "PASS" if idle < 30 else "FAIL"),
    ("guard evaluation (Lua sandbox)", None, None, "", "median < 5us", "PASS" if guard_med < 5000 else "FAIL"),
]

def fms(v):
    return "" if v is None else ("%.0fus" % (v * 1000) if v < 1 else "%.2fms" % v if v < 10 else "%.1fms" % v)

lines = ["%-35s %12s %9s  %-14s %-20s %s" % ("benchmark", "rps(median)", "p99", "ratio", "target", "")]
for name, rps, p99, ratio, target, verdict in rows:
    rcol = ("%.0f ns" % guard_med if name.startswith("guard") else "%.1f MB" % idle) if rps is None else "%.0f" % rps
    lines.append("%-35s %12s %9s  %-14s %-20s %s" % (name, rcol, fms(p99), ratio, target, verdict))
lines.append("")
lines.append("guard evaluation: median %.0f ns, p99 %.0f ns (medians of %s runs of 200,000 timed evaluations)" % (
    guard_med, guard_p99, rounds))
lines.append("RSS: idle %.1f MB, after read load %.1f MB, after write load %.1f MB (1-commit server: idle %.1f, loaded %.1f)" % (
    idle, meta["rss_after_reads_mb"], meta["rss_after_writes_mb"], meta["idle_rss_single_mb"], meta["rss_after_writes_single_mb"]))
lines.append("writer mean batch size (sf_writer_batch_size sum/count, per run): batched %s -> median %.1f; 1-commit %s" % (
    "/".join("%.1f" % meta["batch_mean_patch_batched_%d" % i] for i in range(1, int(rounds) + 1)), pb["mean_batch"],
    "/".join("%.1f" % meta["batch_mean_patch_single_%d" % i] for i in range(1, int(rounds) + 1))))
R = range(1, int(rounds) + 1)
lines.append("after each PATCH run, WAL / db file MB: batched %s; 1-commit %s" % (
    ", ".join("%.0f/%.0f" % (meta["wal_bytes_patch_batched_%d" % i] / 1e6, meta["db_bytes_patch_batched_%d" % i] / 1e6) for i in R),
    ", ".join("%.0f/%.0f" % (meta["wal_bytes_patch_single_%d" % i] / 1e6, meta["db_bytes_patch_single_%d" % i] / 1e6) for i in R)))
lines.append("orders: paid per second per run %s, saga drain after wrk stopped %s s; with wait %s (c%s, %s products, %s customers); product cache hit ratio %s" % (
    "/".join("%.0f" % x for x in od["rounds"]), "/".join("%.2f" % x for x in od["drain_s"]),
    "/".join("%.0f" % x for x in ow["rounds"]), meta.get("order_conns", "?"), meta.get("order_products", "?"),
    meta.get("order_users", "?"), meta.get("product_cache_hit_ratio")))
lines.append("PATCH non-200 responses: batched %d, 1-commit %d (must be 0); 200s: batched %d, 1-commit %d" % (
    pb["non200"], ps["non200"], pb["ok200_total"], ps["ok200_total"]))

problems = []   # fatal: exit 1
warnings = []   # reported, exit status unaffected
for b, v in res.items():
    if v["errors"]:
        problems.append("%s: %d request errors (non-2xx/non-200, socket errors or timeouts)" % (b, v["errors"]))
for name, b in (("main", "patch_batched"), ("single", "patch_single")):
    ev = meta.get("events_profile_updated_%s" % name)
    pr = meta.get("projection_profile_updated_%s" % name)
    ok = res[b]["ok200_total"]
    slack = int(conns) * int(rounds)   # requests in flight when wrk stopped may commit unseen
    lines.append("integrity %-6s: %s profile_updated events for %d acknowledged PATCHes; projection %s; verify exit %s; shutdown exit %s in %ss; server 5xx %s; stderr lines %s" % (
        name, ev, ok, pr, meta.get("verify_rc_%s" % name), meta.get("shutdown_rc_%s" % name),
        meta.get("shutdown_s_%s" % name), meta.get("http_5xx_%s" % name), meta.get("stderr_lines_%s" % name)))
    if not isinstance(ev, int) or ev < ok:
        problems.append("%s: only %s profile_updated events for %d acknowledged PATCHes (lost writes?)" % (name, ev, ok))
    elif ev > ok + slack:
        problems.append("%s: %d more events than acknowledged PATCHes (> %d in flight)" % (name, ev - ok, slack))
    if pr != ev:
        problems.append("%s: event_type_stats projection %s != events %s after shutdown" % (name, pr, ev))
    if meta.get("verify_rc_%s" % name) != 0:
        problems.append("%s: serviceflow verify failed: %s" % (name, meta.get("verify_out_%s" % name)))
    if meta.get("shutdown_rc_%s" % name) != 0:
        warnings.append("%s: did not exit cleanly on SIGTERM (exit status %s after %ss; 137 = killed by the "
                        "bench after 30 s; shutdown_timeout_s is 10); measurements are unaffected" % (
                            name, meta.get("shutdown_rc_%s" % name), meta.get("shutdown_s_%s" % name)))
    if meta.get("http_5xx_%s" % name):
        problems.append("%s: server counted %s 5xx responses" % (name, meta.get("http_5xx_%s" % name)))
    if sum(meta.get("failed_commands_%s_%d" % (b, i), 0) for i in range(1, int(rounds) + 1)):
        problems.append("%s: writer failed commands during the PATCH runs" % name)
paid_db, ledger = meta.get("orders_paid_db"), meta.get("ledger_captures")
acked = od["acked_total"] + ow["paid_total"]
lines.append("integrity shop  : %d orders acknowledged (%d placed without wait, %d paid with wait); %s paid in the database; "
             "%s captures in the sandbox ledger; %s sagas unfinished; verify exit %s; shutdown exit %s; server 5xx %s" % (
                 acked, od["acked_total"], ow["paid_total"], paid_db, ledger, meta.get("orders_not_settled_db"),
                 meta.get("verify_rc_shop"), meta.get("shutdown_rc_shop"), meta.get("http_5xx_shop")))
if not isinstance(paid_db, int) or paid_db < acked:
    problems.append("shop: %s paid orders in the database for %d acknowledged (every bench order uses the success card)" % (
        paid_db, acked))
if paid_db != ledger:
    problems.append("shop: %s paid orders but %s captures in the payment ledger" % (paid_db, ledger))
if meta.get("verify_rc_shop") != 0:
    problems.append("shop: serviceflow verify failed: %s" % meta.get("verify_out_shop"))
if meta.get("http_5xx_shop"):
    problems.append("shop: server counted %s 5xx responses" % meta.get("http_5xx_shop"))
for b in ("patch_batched", "patch_single"):
    wal = max(meta["wal_bytes_%s_%d" % (b, i)] for i in R)
    if wal > 256e6:
        warnings.append("%s: WAL reached %.0f MB (db file %.0f MB): checkpoints are not keeping up or not running" % (
            b, wal / 1e6, max(meta["db_bytes_%s_%d" % (b, i)] for i in R) / 1e6))
lines.append("")
lines.append("wrk -t%s -c%s -d%s --latency; %s interleaved runs per row, medians; nginx worker_processes %s; %s cores; load avg %s -> %s" % (
    wthreads, conns, duration, rounds, ngx_workers, meta["cores"], meta["loadavg_start"], meta["loadavg_end"]))
lines.append("binary %s (git %s, %s modified tracked src files, built %s)" % (
    meta["binary"], meta["git_rev"], meta["git_dirty"], meta["binary_mtime"]))
if problems:
    lines.append("")
    lines.append("PROBLEMS (exit 1):")
    lines += ["  - " + p for p in problems]
if warnings:
    lines.append("")
    lines.append("WARNINGS:")
    lines += ["  - " + w for w in warnings]
table = "\n".join(lines)
print()
print(table)
out = {
    "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "config": {"duration": duration, "rounds": int(rounds), "connections": int(conns),
               "wrk_threads": int(wthreads), "nginx_worker_processes": ngx_workers,
               "write_users": int(wusers)},
    "table": table,
    "rows": [dict(zip(("benchmark", "rps_median", "p99_ms_median", "ratio", "target", "verdict"), r)) for r in rows],
    "medians": res,
    "runs": runs,
    "meta": meta,
    "problems": problems,
    "warnings": warnings,
    "ok": not problems,
}
with open(out_path, "w") as f:
    json.dump(out, f, indent=1)
print("\nwritten: %s" % out_path)
sys.exit(1 if problems else 0)
EOF
