#!/usr/bin/env bash
# PostgreSQL mode against SQLite mode, same build, same run: bench/ab.sh with the "new" side on a
# PostgreSQL server of its own (scripts/with-postgres.sh, fsync on, on the same cores), the "old"
# side on SQLite in its data dir. Rows: PATCH /users/me (durable writes), GET /users/me, paid
# orders with Prefer: wait, workflow transitions over HTTP; ratios are PostgreSQL / SQLite. Then bench/pgbench.sh's anchor
# (PostgreSQL's own commits on this machine) is run on its own.
#
#   bash bench/pg.sh [BUILD_DIR = build] [rounds = 3]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${1:-build}"
ROUNDS="${2:-3}"
if [ -z "${SF_TEST_PG_URL:-}" ]; then
  PG_FSYNC=on exec "$HERE/../scripts/with-postgres.sh" bash "$0" "$@"
fi
echo "old = SQLite (data dir), new = PostgreSQL $("$SF_TEST_PG_BIN/psql" -tAc 'SHOW server_version' "$SF_TEST_PG_URL")"
AB_ENGINE=0 AB_TRANSITIONS=1 AB_NEW_DATABASE_URL="$SF_TEST_PG_URL" bash "$HERE/ab.sh" "$BUILD" "$BUILD" "$ROUNDS"
