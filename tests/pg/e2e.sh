#!/usr/bin/env bash
# The e2e suite against PostgreSQL: one PostgreSQL server for the whole run
# (scripts/with-postgres.sh), each test's data dir given a database of its own on it
# (tests/e2e/sfharness.py, SF_E2E_BACKEND=postgres). Runs the files named on the command line,
# or every tests/e2e/test_*.py but those that read or damage the SQLite file itself.
# Prints one line per file and fails when any file fails.
set -uo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -z "${SF_TEST_PG_URL:-}" ]; then
  exec "$here/scripts/with-postgres.sh" bash "$0" "$@"
fi
export SF_E2E_BACKEND=postgres
# The SQLite file is what these test (they open it, damage it, fill its disk or read its WAL);
# the CLI and start-up tests run the binary on empty data dirs to check SQLite's own messages.
sqlite_only="test_audit test_cli test_crash test_damage test_disk_full test_hello_service test_idempotency_scope
  test_notifications test_payments_http test_ratelimit_redis test_verify test_verify_identity test_web_static"
# Tests that run several instances on one database of their own: ctest runs them as pg.<name>.
own_database="test_idempotency_instances"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  for t in "$here"/tests/e2e/test_*.py; do
    n=$(basename "$t" .py)
    case " $(echo $sqlite_only $own_database) " in *" $n "*) continue ;; esac
    files+=("$t")
  done
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
failed=0
log="$(mktemp -d /tmp/sf-pg-e2e-XXXXXX)"
for t in "${files[@]}"; do
  n=$(basename "$t" .py)
  start=$(date +%s)
  if "$py" "$t" >"$log/$n.log" 2>&1; then
    echo "pg.e2e: $n ok ($(( $(date +%s) - start )) s)"
  else
    echo "pg.e2e: $n FAILED ($(( $(date +%s) - start )) s):"
    tail -40 "$log/$n.log"
    failed=1
  fi
done
rm -rf "$log"
exit $failed
