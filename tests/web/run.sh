#!/usr/bin/env bash
# Runs the web suite (Playwright on Debian's Chromium against one test-clock
# server; docs/testing.md, "The web suite"). ctest's e2e.web runs it with no
# arguments; `make screenshots` with --screenshots. Other arguments go to
# `playwright test` (e.g. specs/shop.spec.ts, -g 'declined', --headed).
#
# It fails, saying why, when Chromium or the built app is missing: the suite
# is never skipped by accident. SF_SKIP_WEB=1 skips it on purpose (exit 77,
# which ctest reports as skipped, not passed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "${SF_SKIP_WEB:-}" = 1 ]; then
  echo "web suite: skipped (SF_SKIP_WEB=1)"
  exit 77
fi
chromium=${SF_CHROMIUM:-${CHROME_PATH:-/usr/bin/chromium}}
if [ ! -x "$chromium" ]; then
  echo "web suite: no Chromium at $chromium: install Debian's chromium (bash scripts/install-deps.sh --test)," >&2
  echo "           point SF_CHROMIUM at one, or set SF_SKIP_WEB=1 to skip the web suite" >&2
  exit 1
fi
export SF_CHROMIUM=$chromium
export SF_WEB_ROOT=${SF_WEB_ROOT:-$repo/build/web}
export SERVICEFLOW_TESTCLOCK_BIN=${SERVICEFLOW_TESTCLOCK_BIN:-$repo/build/serviceflow-testclock}
if [ -z "${SF_WEB_URL:-}" ]; then
  if [ ! -f "$SF_WEB_ROOT/index.html" ]; then
    echo "web suite: the web app is not built ($SF_WEB_ROOT/index.html missing): run make build" >&2
    exit 1
  fi
  if [ ! -x "$SERVICEFLOW_TESTCLOCK_BIN" ]; then
    echo "web suite: $SERVICEFLOW_TESTCLOCK_BIN missing: run make build" >&2
    exit 1
  fi
fi
command -v npm >/dev/null || { echo "web suite: npm missing (bash scripts/install-deps.sh --test)" >&2; exit 1; }

# Playwright must never fetch browsers of its own: Debian's Chromium is the one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$here"
# npm ci when node_modules is missing or older than the lock file
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = --screenshots ]; then
  shift
  export SF_WEB_SCREENSHOTS=1
  exec node_modules/.bin/playwright test --project=screenshots "$@"
fi
exec node_modules/.bin/playwright test "$@"
