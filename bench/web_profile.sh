#!/usr/bin/env bash
# Where the web app's first load spends its time (tests/web/extra/profile.ts): for each Lighthouse
# page (or those of SF_PROF_PAGES=storefront,inbox), a cold load at full speed on loopback (the
# screen shown, first paint, long tasks, every request's start and end) and one at Lighthouse's 4x
# CPU slowdown under V8's sampling profiler (long tasks, the functions with the most self time,
# the .cpuprofile written to bench/results/web-profile/ for Chromium's DevTools):
#
#   bash bench/web_profile.sh [--names] [BUILD_DIR = build]
#
# --names profiles an unminified build of web/ (made into a temporary directory) so that the
# app's and Mantine's functions keep their names; React's own build is minified either way.
# A tool for finding work to cut; the figures are bench/lighthouse.sh's.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
names=0
[[ "${1:-}" == "--names" ]] && { names=1; shift; }
BUILD="$(cd "${1:-$REPO/build}" && pwd)"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
web_bench_ready web_profile "$BUILD"
ROOT="$BUILD/web"
if [[ $names == 1 ]]; then
  ROOT="$(mktemp -d /tmp/sf-web-names-XXXXXX)"
  trap 'rm -rf "$ROOT"' EXIT
  (cd "$REPO/web" && npx vite build --outDir "$ROOT" --emptyOutDir --minify false >/dev/null)
fi
[[ -f "$ROOT/index.html" ]] || { echo "web_profile: $ROOT not built (make build)" >&2; exit 1; }
cd "$REPO/tests/web"
SF_WEB_PROFILE=1 SF_CHROMIUM="$CHROMIUM" SF_WEB_ROOT="$ROOT" SERVICEFLOW_TESTCLOCK_BIN="$BUILD/serviceflow" \
  SF_PROF_OUT="$HERE/results/web-profile" node_modules/.bin/playwright test --project=profile --reporter=list
