#!/usr/bin/env bash
# E-mails/s the server sends to a local SMTP server (issue 13's figure):
# bench/mail_bench.py does the work and prints a table. Needs a build
# (build/serviceflow) and python3-aiosmtpd (scripts/install-deps.sh --test).
# Knobs (environment): MAIL_N messages per run (2000), MAIL_CLIENTS threads
# queueing over HTTP (8), MAIL_CONCURRENCY list of mail_concurrency values
# (1,4,16), MAIL_SINKS (minimal,aiosmtpd).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib.sh"
export SERVICEFLOW_BIN="${SERVICEFLOW_BIN:-$here/../build/serviceflow}"
[ -x "$SERVICEFLOW_BIN" ] || { echo "build first: $SERVICEFLOW_BIN is missing" >&2; exit 1; }
exec "$PY" "$here/mail_bench.py"
