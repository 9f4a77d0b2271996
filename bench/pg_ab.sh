#!/usr/bin/env bash
# Same-run A/B of two builds, both on PostgreSQL: bench/ab.sh with each side on a database of its
# own (sf_old, sf_new) in one PostgreSQL server (scripts/with-postgres.sh, fsync on, on the same
# cores). Rows as ab.sh: PATCH /users/me writes/s, GET /users/me, paid orders/s with Prefer: wait;
# AB_TRANSITIONS=1 adds transitions. The order of the sides swaps every other round (AB_ABBA=1:
# the second side on one server pays for the first one's writes); medians and new/old ratios.
#
#   bash bench/pg_ab.sh OLD_BUILD_DIR NEW_BUILD_DIR [rounds = 3]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${SF_TEST_PG_URL:-}" ]; then
  PG_FSYNC=on exec "$HERE/../scripts/with-postgres.sh" bash "$0" "$@"
fi
for db in sf_old sf_new; do
  "$SF_TEST_PG_BIN/psql" -qtA "$SF_TEST_PG_ADMIN" -c "CREATE DATABASE $db OWNER sf" >/dev/null
done
base="${SF_TEST_PG_URL%/*}"
echo "both sides on PostgreSQL $("$SF_TEST_PG_BIN/psql" -tAc 'SHOW server_version' "$SF_TEST_PG_URL"): old = $1, new = $2"
AB_ABBA="${AB_ABBA:-1}" AB_ENGINE=0 AB_OLD_DATABASE_URL="$base/sf_old" AB_NEW_DATABASE_URL="$base/sf_new" bash "$HERE/ab.sh" "$@"
