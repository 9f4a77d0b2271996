#!/usr/bin/env bash
# GET /users/me req/s with the per-IP and per-user limits in Redis (redis_url set) against the same
# limits in process (redis_url empty), same run, rounds interleaved: wrk -t2 -c64, the limits set so
# high that nothing is refused (every request pays two limiter takes: per IP and per user). Prints
# each round, the medians and their ratio. A redis-server of its own (free loopback port, temp dir,
# no persistence) is started and killed at the end.
#   bench/ratelimit_redis.sh [build dir] [old build dir]   (env: ROUNDS=3 DURATION=5s CONNS=64; SF_FLAGS:
#   more serve flags for both servers, e.g. "--threads 4")
# With an old build dir, a third server of that build (limits in the same Redis, its own prefix)
# joins the interleaved rounds: the same-run figures of a change to the Redis path.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-$HERE/../build}"
BIN="$BUILD/serviceflow"
OLD_BIN="${2:+$2/serviceflow}"
ROUNDS="${ROUNDS:-3}" DURATION="${DURATION:-5s}" CONNS="${CONNS:-64}"
source "$HERE/lib.sh"
TMP="$(mktemp -d /tmp/sf-bench-rl-XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT

RPORT="$(free_port)"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP" --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)

# start NAME [flags]: a server on its own data dir; its port in PORT_<NAME>
start() {
  local name="$1" port d="$TMP/$1"
  shift
  port="$(free_port)"
  mkdir -p "$d"
  "${SERVER_BIN:-$BIN}" migrate --data-dir "$d" >"$d/migrate.log" 2>&1
  "${SERVER_BIN:-$BIN}" serve --data-dir "$d" --bind 127.0.0.1 --port "$port" --log-level warn \
    --argon2-memlimit-kib 8192 --argon2-opslimit 1 --rate-login-per-min 1000000 --rate-login-burst 1000000 \
    --rate-ip-rps 10000000 --rate-ip-burst 10000000 --rate-user-rps 10000000 --rate-user-burst 10000000 ${SF_FLAGS:-} "$@" \
    >"$d/server.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  printf -v "PORT_$name" '%s' "$port"
}
start local
start redis --redis-url "redis://127.0.0.1:$RPORT" --redis-prefix "bench:"
register_users "$PORT_local" rl-local 1 "$TMP/local.tok"
register_users "$PORT_redis" rl-redis 1 "$TMP/redis.tok"
if [ -n "$OLD_BIN" ]; then
  SERVER_BIN="$OLD_BIN" start old --redis-url "redis://127.0.0.1:$RPORT" --redis-prefix "bench-old:"
  register_users "$PORT_old" rl-old 1 "$TMP/old.tok"
fi

rps() { # rps NAME: one wrk run's req/s
  local port_var="PORT_$1"
  wrk -t2 -c"$CONNS" -d"$DURATION" -H "Authorization: Bearer $(head -1 "$TMP/$1.tok")" \
    "http://127.0.0.1:${!port_var}/api/v1/users/me" | awk '/^Requests\/sec/ {print $2}'
}
LOCAL=() REDIS=() OLD=()
for r in $(seq "$ROUNDS"); do
  LOCAL+=("$(rps local)")
  REDIS+=("$(rps redis)")
  [ -n "$OLD_BIN" ] && OLD+=("$(rps old)")
  echo "round $r: local ${LOCAL[-1]} req/s, redis ${REDIS[-1]} req/s${OLD_BIN:+, old build in redis ${OLD[-1]} req/s}"
done
"$PY" - "${LOCAL[*]}" "${REDIS[*]}" "${OLD[*]:-}" <<'EOF'
import statistics, sys
local = statistics.median(float(x) for x in sys.argv[1].split())
redis = statistics.median(float(x) for x in sys.argv[2].split())
print("GET /users/me, limits in process: %.0f req/s; limits in Redis: %.0f req/s; ratio %.2f" %
      (local, redis, redis / local))
if sys.argv[3].strip():
    old = statistics.median(float(x) for x in sys.argv[3].split())
    print("old build, limits in Redis: %.0f req/s; ratio %.2f to in process; new/old %.2f" %
          (old, old / local, redis / old))
EOF
# Takes Redis did not answer in time (redis_timeout_ms) were decided locally: say how many.
curl -s "http://127.0.0.1:$PORT_redis/metrics" | grep -E '^sf_ratelimit_redis_(errors|unavailable)_total' |
  sed 's/^/redis instance: /'
