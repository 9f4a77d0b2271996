#!/usr/bin/env bash
# The real-time stream's figures against the real binary (bench/stream_bench.c is the client):
#
#   bash bench/stream.sh BUILD_DIR [rounds = 3]
#
# 1. Idle subscribers: STREAM_IDLE_N (default 20,000, cut to what the file-descriptor limit
#    lets one process hold) WebSocket connections, each subscribed to a product's stock, held
#    STREAM_HOLD_S (30) seconds through heartbeats; the server's RSS before, every 5,000, after.
#    (Where the hard RLIMIT_NOFILE is 20,000, as on the 2-core machine of bench/README.md, that is
#    19,500: both the server and the client need a descriptor per connection.)
# 2. Fan-out: 1,000 subscribers of one topic (stock:<product>), 200 stock adjustments a second
#    for 10 s (200,000 messages/s to deliver); latency from each event's append to its arrival;
#    the CPU the server and the client used meanwhile.
# 3. The writer beside it: PATCH /users/me writes/s (bench/patch.lua, wrk -t2 -c64 -d10s) alone,
#    then during a fan-out run, alternating `rounds` times; medians and the ratio.
# Needs wrk (scripts/install-deps.sh --bench).
set -euo pipefail
BUILD="${1:?build dir}"
ROUNDS="${2:-3}"
HERE="$(cd "$(dirname "$0")" && pwd)"
command -v wrk >/dev/null || { echo "stream: wrk not found (scripts/install-deps.sh --bench)" >&2; exit 1; }
[[ -x "$BUILD/stream_bench" ]] || { echo "stream: $BUILD/stream_bench not built" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh" # bench_tmp, bench_serve, bench_user, bench_login, free_port, register_users, seed_products, wrk_rate
bench_tmp stream

# One process holds every connection on each side: both need that many descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT="$(ulimit -n)"
IDLE_N="${STREAM_IDLE_N:-20000}"
# the server also holds its database, log, listening and wake-up descriptors
if ((IDLE_N > FD_LIMIT - 500)); then
  echo "stream: the descriptor limit here is $FD_LIMIT (hard); idle connections cut from $IDLE_N to $((FD_LIMIT - 500))"
  IDLE_N=$((FD_LIMIT - 500))
fi

PORT="$(free_port)"
D="$TMP/data"
mkdir -p "$D"
"$BUILD/serviceflow" migrate --data-dir "$D" >/dev/null
bench_serve "$BUILD/serviceflow" "$D" "$TMP" "$PORT" \
  --max-connections "$(((IDLE_N > 1100 ? IDLE_N : 1100) + 200))" --stream-max-per-user 100000
PID=$BENCH_PID
register_users "$PORT" st 64 "$TMP/tokens"
bench_user "$BUILD/serviceflow" "$D" staff
seed_products "$PORT" staff@bench.local "bench staff password" 1 "$TMP/products"
PRODUCT="$(cat "$TMP/products")"
STAFF="$(bench_login "$PORT" staff)"

echo "== idle subscribers"
"$BUILD/stream_bench" idle "$PORT" "$TMP/tokens" "$IDLE_N" "stock:$PRODUCT" "$PID" "${STREAM_HOLD_S:-30}" |
  tee "$TMP/idle"
sleep 3 # the idle connections' closes settle before the timed runs

declare -A RES
patch_rate() { # patch_rate KEY: one 10 s run of patch.lua, writes/s into RES[KEY]
  wrk_rate patch.lua "http://127.0.0.1:$PORT/api/v1/users/me" PATCH_RESULT ok non200 SF_TOKENS_FILE="$TMP/tokens"
  RES["$1"]="$WRK_RATE"
}
echo "== fan-out alone"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system CPU, in 1/100 s
S0="$(ticks "$PID")"
TIMEFORMAT='%U %S'
{ time "$BUILD/stream_bench" fanout "$PORT" "$TMP/tokens" 1000 "stock:$PRODUCT" "$STAFF" "$PRODUCT" 200 10 \
  >"$TMP/fanout_alone"; } 2>"$TMP/client_cpu"
cat "$TMP/fanout_alone"
echo "server_cpu_s=$(python3 -c "print(($(ticks "$PID") - $S0) / 100)") client_cpu_s=$(awk '{print $1 + $2}' "$TMP/client_cpu")" |
  tee "$TMP/cpu"
for ((r = 1; r <= ROUNDS; r++)); do
  patch_rate "plain_$r"
  echo "round $r: writes/s without subscribers ${RES["plain_$r"]}"
  nice -n "${STREAM_CLIENT_NICE:-0}" "$BUILD/stream_bench" fanout "$PORT" "$TMP/tokens" 1000 "stock:$PRODUCT" "$STAFF" "$PRODUCT" 200 14 \
    >"$TMP/fanout_$r" &
  FAN=$!
  sleep 3 # subscribed and receiving before the writes start
  patch_rate "fan_$r"
  wait "$FAN" || echo "round $r: the fan-out run lost messages (see below)"
  cat "$TMP/fanout_$r"
  echo "round $r: writes/s during the fan-out ${RES["fan_$r"]}"
done

python3 - "$ROUNDS" "$TMP" "$(for k in "${!RES[@]}"; do echo "$k=${RES[$k]}"; done)" <<'EOF'
import re, statistics, sys
rounds, tmp = int(sys.argv[1]), sys.argv[2]
res = dict(kv.split("=") for kv in sys.argv[3].split())
def kv(path, tag):
    for line in open(path):
        if line.startswith(tag):
            return dict(p.split("=") for p in line.split()[1:])
    return {}
idle = kv(tmp + "/idle", "STREAM_IDLE")
print()
print("%-52s %12s" % ("idle WebSocket subscribers", ""))
print("%-52s %12s" % ("  connections held (open after the hold)", "%s (%s)" % (idle.get("conns"), idle.get("open_after_hold"))))
print("%-52s %12s" % ("  server RSS before / after, MB", "%.0f / %.0f" % (int(idle["rss0_kb"]) / 1024, int(idle["rss_kb"]) / 1024)))
print("%-52s %12s" % ("  RSS per 1,000 connections, KB", idle.get("kb_per_1000")))
a = kv(tmp + "/fanout_alone", "STREAM_FANOUT")
print("%-52s %12s" % ("fan-out 1,000 subscribers x 200 events/s, alone", ""))
for k, label in (("msgs_per_s", "messages/s delivered"), ("p50_ms", "append-to-client p50, ms"),
                 ("p99_ms", "append-to-client p99, ms"), ("max_ms", "append-to-client max, ms"),
                 ("received", "received / expected")):
    v = a.get(k) if k != "received" else "%s / %s" % (a.get("received"), a.get("expected"))
    print("%-52s %12s" % ("  " + label, v))
runs = [kv("%s/fanout_%d" % (tmp, r), "STREAM_FANOUT") for r in range(1, rounds + 1)]
p99 = statistics.median(float(x["p99_ms"]) for x in runs if x)
cpu = dict(p.split("=") for p in open(tmp + "/cpu").read().split())
secs = 10.0  # the driver's seconds; the run's own tail is a little longer
print("%-52s %12s" % ("  server / client CPU, cores (over the 10 s)", "%.2f / %.2f" % (float(cpu["server_cpu_s"]) / secs, float(cpu["client_cpu_s"]) / secs)))
print("%-52s %12.1f" % ("  p99 ms during the PATCH load (median of rounds)", p99))
plain = statistics.median(float(res["plain_%d" % r]) for r in range(1, rounds + 1))
fan = statistics.median(float(res["fan_%d" % r]) for r in range(1, rounds + 1))
print("%-52s %12.0f" % ("PATCH writes/s without subscribers (median)", plain))
print("%-52s %12.0f" % ("PATCH writes/s during the fan-out (median)", fan))
print("%-52s %12.2f" % ("  ratio with / without", fan / plain))
EOF
