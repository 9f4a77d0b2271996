#!/usr/bin/env bash
# Runs a command beside a PostgreSQL server of its own: a fresh cluster in a
# temporary directory, listening on a free loopback port, stopped and removed
# when the command ends (whatever its outcome). The command sees
#   SF_TEST_PG_URL   postgres://sf@127.0.0.1:<port>/sf  (a database "sf" owned by "sf")
#   SF_TEST_PG_ADMIN postgres://postgres@127.0.0.1:<port>/postgres (superuser)
#   SF_TEST_PG_BIN   the server's bin directory (pg_ctl, pg_basebackup, psql, ...)
#   SF_TEST_PG_DATA  the cluster's data directory
# Usage: scripts/with-postgres.sh <command> [args...]
# Environment: PG_FSYNC=on to keep fsync (benchmarks); tests run with it off
# (a kill -9 of the server loses nothing either way: only an OS crash would).
# PostgreSQL refuses to run as root: as root the cluster is run by the
# "postgres" user the Debian package creates.
set -euo pipefail

bin=""
for v in 17 16 15; do
  if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then bin="/usr/lib/postgresql/$v/bin"; break; fi
done
if [ -z "$bin" ]; then
  echo "with-postgres: no PostgreSQL server found (scripts/install-deps.sh --test installs it)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/sf-pg.XXXXXX)
as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
data="$dir/data"

cleanup() {
  "${as[@]}" "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

"${as[@]}" "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
fsync="${PG_FSYNC:-off}"
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = $fsync
full_page_writes = $fsync
max_connections = 300
wal_level = replica
max_wal_senders = 5
EOF
echo "host replication all 127.0.0.1/32 trust" >>"$data/pg_hba.conf"
"${as[@]}" "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
"$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE sf LOGIN" -c "CREATE DATABASE sf OWNER sf" >/dev/null

export SF_TEST_PG_URL="postgres://sf@127.0.0.1:$port/sf"
export SF_TEST_PG_ADMIN="postgres://postgres@127.0.0.1:$port/postgres"
export SF_TEST_PG_BIN="$bin"
export SF_TEST_PG_DATA="$data"
set +e
"$@"
rc=$?
set -e
exit $rc
