#!/usr/bin/env bash
# The e2e suite against PostgreSQL: one PostgreSQL server for the whole run
# (scripts/with-postgres.sh), each test's data dir given a database of its own on it
# (tests/e2e/sfharness.py, SF_E2E_BACKEND=postgres). Each test server is two instances on that
# database behind an nginx (SF_E2E_INSTANCES, default 2; 1 = one process as on SQLite), their rate
# limits shared through one redis-server started here for the run. Runs the files named on the
# command line, or every tests/e2e/test_*.py but those that read or damage the SQLite file itself.
# Prints one line per file and fails when any file fails.
set -uo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -z "${SF_TEST_PG_URL:-}" ]; then
  exec "$here/scripts/with-postgres.sh" bash "$0" "$@"
fi
export SF_E2E_BACKEND=postgres
instances="${SF_E2E_INSTANCES:-2}"
# The SQLite file is what these test (they open it, damage it, fill its disk or read its WAL);
# the CLI and start-up tests run the binary on empty data dirs to check SQLite's own messages.
sqlite_only="test_audit test_cli test_crash test_damage test_disk_full test_hello_service test_idempotency_scope
  test_notifications test_payments_http test_ratelimit_redis test_verify test_verify_identity test_web_static"
# Tests that run several instances on one database of their own: ctest runs them as pg.<name>.
own_database="test_idempotency_instances test_limits_instances"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  for t in "$here"/tests/e2e/test_*.py; do
    n=$(basename "$t" .py)
    case " $(echo $sqlite_only $own_database) " in *" $n "*) continue ;; esac
    files+=("$t")
  done
fi
# These test one process itself, which nginx in front would hide: its own HTTP connection handling
# (timeouts, keep-alive, drain on SIGTERM, raw bytes on the socket), or a proxy of their own.
single_instance="test_connections test_http_conformance test_proxy"
# These promise, for a request right after another, what several instances give only a few
# milliseconds later or per instance (the README's status lists each; tests/pg/cluster.py checks
# the cross-instance behaviour with its own bounds):
#   test_sessions, test_catalog, test_mail, test_policies: a logout, a role change, a changed user
#     or product, an edited mail template reach the other instances' caches through PostgreSQL's
#     NOTIFY, 1-30 ms after the answer; these tests ask the next request to see them at once;
#   test_stream: a slow consumer behind nginx is absorbed by nginx's buffers longer than the test
#     waits (its per-user connection limit is shared in Redis: tests/e2e/test_limits_instances.py).
single_instance="$single_instance test_sessions test_catalog test_mail test_policies test_stream"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
failed=0
log="$(mktemp -d /tmp/sf-pg-e2e-XXXXXX)"
redis_pid=
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$log"
}
trap cleanup EXIT
if [ "$instances" -gt 1 ]; then
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --dir "$log" --save "" --appendonly no >"$log/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export SF_E2E_REDIS_URL="redis://127.0.0.1:$port"
fi
for t in "${files[@]}"; do
  n=$(basename "$t" .py)
  start=$(date +%s)
  per_file=$instances
  case " $(echo $single_instance) " in *" $n "*) per_file=1 ;; esac
  if SF_E2E_INSTANCES=$per_file "$py" "$t" >"$log/$n.log" 2>&1; then
    echo "pg.e2e: $n ok ($(( $(date +%s) - start )) s)"
  else
    echo "pg.e2e: $n FAILED ($(( $(date +%s) - start )) s):"
    tail -40 "$log/$n.log"
    failed=1
  fi
done
exit $failed
