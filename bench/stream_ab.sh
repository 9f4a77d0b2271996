#!/usr/bin/env bash
# Same-run A/B of the fan-out (bench/stream.sh's part 2 and 3) for two builds, on a machine whose
# absolute numbers drift by tens of percent between minutes:
#
#   bash bench/stream_ab.sh OLD_BUILD_DIR NEW_BUILD_DIR [rounds = 3]
#
# Both servers run at once (each with 64 users and one product); each round, for old then new:
#   1. the fan-out alone: 1,000 WebSocket subscribers of stock:<product>, 200 stock adjustments a
#      second for 10 s (200,000 messages/s); p99 append-to-client, the server's CPU seconds (from
#      /proc, user + system) and per delivered message;
#   2. PATCH /users/me writes/s (bench/patch.lua, wrk -t2 -c64 -d10s) without subscribers;
#   3. the same PATCH load during a fan-out run (started 3 s before it), and that run's p99.
# Prints medians and new/old ratios; the writer's ratio (with / without subscribers) per side.
# Each build dir holds `serviceflow` and `stream_bench`. AB_OLD_ARGS / AB_NEW_ARGS: extra `serve`
# flags per side (the same build twice with two settings). STREAM_CLIENT_NICE: the subscribers'
# client's nice value (0). Needs wrk (scripts/install-deps.sh --bench).
set -euo pipefail
OLD="${1:?old build dir}"
NEW="${2:?new build dir}"
ROUNDS="${3:-3}"
HERE="$(cd "$(dirname "$0")" && pwd)"
command -v wrk >/dev/null || { echo "stream_ab: wrk not found (scripts/install-deps.sh --bench)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh" # bench_tmp, bench_serve, bench_user, bench_login, free_port, register_users, seed_products, wrk_rate
bench_tmp stream-ab
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

declare -A PORT SPID PRODUCT STAFF
start() { # start NAME BUILD_DIR [serve flags...]
  local name="$1" dir="$2" d="$TMP/$1" port
  shift 2
  mkdir -p "$d/data"
  cp "$dir/serviceflow" "$dir/stream_bench" "$d/"
  port="$(free_port)"
  "$d/serviceflow" migrate --data-dir "$d/data" >/dev/null
  bench_serve "$d/serviceflow" "$d/data" "$d" "$port" --max-connections 1300 --stream-max-per-user 100000 "$@"
  SPID[$name]=$BENCH_PID
  PORT[$name]="$port"
  register_users "$port" st 64 "$d/tokens"
  bench_user "$d/serviceflow" "$d/data" staff
  seed_products "$port" staff@bench.local "bench staff password" 1 "$d/products"
  PRODUCT[$name]="$(cat "$d/products")"
  STAFF[$name]="$(bench_login "$port" staff)"
}
# shellcheck disable=SC2086 # the flags are meant to split
start old "$OLD" ${AB_OLD_ARGS:-}
# shellcheck disable=SC2086
start new "$NEW" ${AB_NEW_ARGS:-}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system CPU, in 1/100 s
fanout() {                                            # fanout NAME SECONDS OUT
  nice -n "${STREAM_CLIENT_NICE:-0}" "$TMP/$1/stream_bench" fanout "${PORT[$1]}" "$TMP/$1/tokens" 1000 \
    "stock:${PRODUCT[$1]}" "${STAFF[$1]}" "${PRODUCT[$1]}" 200 "$2" >"$3"
}
patch_rate() { # patch_rate NAME OUT: one 10 s run of patch.lua, writes/s into OUT
  wrk_rate patch.lua "http://127.0.0.1:${PORT[$1]}/api/v1/users/me" PATCH_RESULT ok non200 SF_TOKENS_FILE="$TMP/$1/tokens"
  echo "$WRK_RATE" >"$2"
}
for ((r = 1; r <= ROUNDS; r++)); do
  for name in old new; do
    o="$TMP/$name/r$r"
    s0="$(ticks "${SPID[$name]}")"
    fanout "$name" 10 "$o.alone" || echo "round $r $name: the fan-out alone lost messages"
    echo "$(($(ticks "${SPID[$name]}") - s0))" >"$o.cpu"
    sleep 2
    patch_rate "$name" "$o.plain"
    fanout "$name" 14 "$o.fan" &
    fan=$!
    sleep 3 # subscribed and receiving before the writes start
    patch_rate "$name" "$o.during"
    wait "$fan" || echo "round $r $name: the fan-out under load lost messages"
    echo "round $r $name: alone $(grep -o 'p99_ms=[0-9.]*' "$o.alone") cpu $(cat "$o.cpu")cs;" \
      "writes/s $(cat "$o.plain") without, $(cat "$o.during") during ($(grep -o 'p99_ms=[0-9.]*' "$o.fan"))"
    sleep 2
  done
done

python3 - "$ROUNDS" "$TMP" <<'EOF'
import statistics, sys
rounds, tmp = int(sys.argv[1]), sys.argv[2]
def kv(path):
    try:
        for line in open(path):
            if line.startswith("STREAM_FANOUT"):
                return dict(p.split("=") for p in line.split()[1:])
    except OSError:
        pass
    return {}
def rows(name):
    out = {"p99": [], "p50": [], "recv": [], "cpu": [], "us_msg": [], "plain": [], "during": [], "ratio": [], "p99_load": []}
    for r in range(1, rounds + 1):
        o = "%s/%s/r%d" % (tmp, name, r)
        a, f = kv(o + ".alone"), kv(o + ".fan")
        cpu = int(open(o + ".cpu").read()) / 100
        plain, during = float(open(o + ".plain").read()), float(open(o + ".during").read())
        out["p99"].append(float(a.get("p99_ms", "nan")))
        out["p50"].append(float(a.get("p50_ms", "nan")))
        out["recv"].append(int(a.get("received", 0)))
        out["cpu"].append(cpu)
        out["us_msg"].append(cpu * 1e6 / max(1, int(a.get("received", 0))))
        out["plain"].append(plain)
        out["during"].append(during)
        out["ratio"].append(during / plain)
        out["p99_load"].append(float(f.get("p99_ms", "nan")))
    return {k: statistics.median(v) for k, v in out.items()}
o, n = rows("old"), rows("new")
print("%-58s %10s %10s %8s" % ("median of %d rounds" % rounds, "old", "new", "new/old"))
for k, label, fmt in (("recv", "fan-out alone: messages received (of 2,000,000)", "%10.0f"),
                      ("p50", "fan-out alone: append-to-client p50, ms", "%10.1f"),
                      ("p99", "fan-out alone: append-to-client p99, ms", "%10.1f"),
                      ("cpu", "fan-out alone: server CPU, s (of 10 s)", "%10.2f"),
                      ("us_msg", "fan-out alone: server CPU per delivered message, us", "%10.2f"),
                      ("plain", "PATCH writes/s without subscribers", "%10.0f"),
                      ("during", "PATCH writes/s during the fan-out", "%10.0f"),
                      ("ratio", "  writer ratio during / without (median of rounds)", "%10.2f"),
                      ("p99_load", "fan-out p99 during the PATCH load, ms", "%10.1f")):
    print("%-58s " % label + fmt % o[k] + " " + fmt % n[k] + " %8.2f" % (n[k] / o[k] if o[k] else float("nan")))
EOF
