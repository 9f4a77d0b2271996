#!/usr/bin/env bash
# Lighthouse figures of the web app (issue 14: performance >= 90, accessibility >= 95 on the
# storefront, a request detail and the approvals inbox; initial JS < 200 KB gzipped; first page
# interactive < 1 s on loopback):
#
#   bash bench/lighthouse.sh [BUILD_DIR = build]
#
# Starts a server the way the web suite does (tests/web/harness/server.ts: migrated, seeded with
# the demo users, catalog and service desk, serving BUILD_DIR/web) but with the production binary
# BUILD_DIR/serviceflow, and runs the web suite's `lighthouse` project (tests/web/extra/lighthouse.ts):
# Lighthouse 12 (bench/lighthouse/, its default mobile profile) on Debian's Chromium, signed in as
# the page's role where it needs one. Prints a table (page, performance, accessibility,
# best-practices, LCP, TBT, first page interactive) and the initial JavaScript gzipped; also
# written to bench/results/lighthouse.{txt,json}. Pages not built yet are reported as missing.
# Environment: SF_CHROMIUM (default /usr/bin/chromium), SF_LH_RUNS (first-interactive loads, 5).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BUILD="$(cd "${1:-$REPO/build}" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
web_bench_ready lighthouse "$BUILD"
[[ -f "$BUILD/web/index.html" ]] || { echo "lighthouse: $BUILD/web not built (make build)" >&2; exit 1; }
npm_ci_if_stale "$HERE/lighthouse"
mkdir -p "$HERE/results"
cd "$REPO/tests/web"
SF_WEB_LIGHTHOUSE=1 SF_CHROMIUM="$CHROMIUM" CHROME_PATH="$CHROMIUM" SF_WEB_ROOT="$BUILD/web" \
  SERVICEFLOW_TESTCLOCK_BIN="$BUILD/serviceflow" SF_LH_OUT="$HERE/results/lighthouse" \
  node_modules/.bin/playwright test --project=lighthouse --reporter=list
