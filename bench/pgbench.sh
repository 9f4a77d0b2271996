#!/usr/bin/env bash
# The PostgreSQL anchor of the scale-out figures: what PostgreSQL itself commits on this machine,
# measured with its own pgbench, so the server's PostgreSQL mode can be read against it.
#
#   bash bench/pgbench.sh [rounds = 3] [seconds = 10]
#
# A PostgreSQL cluster of its own (scripts/with-postgres.sh, fsync ON as in production) takes,
# with 64 clients on 2 pgbench threads:
#   single   one INSERT of a 200-byte row per transaction (a durable commit per insert)
#   batch100 100 such INSERTs per transaction (what group commit does with 100 commands)
# Prints medians of rows/s and each row's ratio against `single` of the same run.
# Needs PostgreSQL (scripts/install-deps.sh --test).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROUNDS="${1:-3}"
SECS="${2:-10}"

if [ -z "${SF_TEST_PG_URL:-}" ]; then
  PG_FSYNC=on exec "$HERE/../scripts/with-postgres.sh" bash "$0" "$@"
fi

TMP="$(mktemp -d /tmp/sf-pgbench-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
PSQL=("$SF_TEST_PG_BIN/psql" -q -v ON_ERROR_STOP=1 "$SF_TEST_PG_URL")
"${PSQL[@]}" -c "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, data text NOT NULL)"

echo "INSERT INTO bench_rows(data) VALUES (repeat('x', 200));" >"$TMP/single.sql"
{
  echo "BEGIN;"
  for _ in $(seq 100); do echo "INSERT INTO bench_rows(data) VALUES (repeat('x', 200));"; done
  echo "COMMIT;"
} >"$TMP/batch100.sql"

run() {  # run SCRIPT ROWS_PER_TX -> rows/s
  local out tps
  out=$("$SF_TEST_PG_BIN/pgbench" -n -c 64 -j 2 -T "$SECS" -f "$TMP/$1.sql" "$SF_TEST_PG_URL" 2>&1)
  tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  [ -n "$tps" ] || { echo "$out" >&2; exit 1; }
  awk -v t="$tps" -v n="$2" 'BEGIN { printf "%.0f", t * n }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: >"$TMP/single.txt"
: >"$TMP/batch100.txt"
for r in $(seq "$ROUNDS"); do
  run single 1 >>"$TMP/single.txt"; echo >>"$TMP/single.txt"
  run batch100 100 >>"$TMP/batch100.txt"; echo >>"$TMP/batch100.txt"
  "${PSQL[@]}" -c "TRUNCATE bench_rows"
  echo "round $r: single $(tail -1 "$TMP/single.txt") rows/s, batch100 $(tail -1 "$TMP/batch100.txt") rows/s" >&2
done
s=$(grep . "$TMP/single.txt" | median)
b=$(grep . "$TMP/batch100.txt" | median)
printf '\nPostgreSQL %s, 64 clients, %s s x %s rounds, fsync on (load average %s)\n\n' \
  "$("${PSQL[@]}" -tAc 'SHOW server_version')" "$SECS" "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| %-30s | %12s | %6s |\n' "pgbench" "rows/s" "ratio"
printf '|%s|%s|%s|\n' "--------------------------------" "--------------" "--------"
printf '| %-30s | %12.0f | %6.2f |\n' "1 insert per commit" "$s" 1
printf '| %-30s | %12.0f | %6.2f |\n' "100 inserts per commit" "$b" "$(awk -v a="$b" -v c="$s" 'BEGIN { print a / c }')"
