#!/usr/bin/env bash
# Builds the web app (web/) into <build dir>/web, beside the server binary
# that serves it (src/edge/web.c; docs/web.md). Called by `make build` after
# the server is built; does nothing when there is no web/package.json.
#   scripts/build-web.sh [build dir]     (default: build)
# npm ci runs only when web/node_modules is missing or package-lock.json is
# newer than the tree npm installed; `npm run build` then generates the
# OpenAPI types from the just-built binary (SF_BIN), type-checks, bundles
# (vite build --outDir ../build/web, as web/package.json says) and
# precompresses (web/scripts/precompress.mjs). It is skipped when nothing it
# reads changed since the last build: no file of web/ is newer than the stamp
# <build dir>/.web-stamp, and the binary's OpenAPI document is the same
# (its hash is the stamp's content). SF_WEB_FORCE=1 builds anyway.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$here/$build" ;; esac
web="$here/web"

[ -f "$web/package.json" ] || exit 0
if ! command -v npm >/dev/null 2>&1; then
  echo "build-web: npm not found: run scripts/install-deps.sh (Node.js 18 or later)" >&2
  exit 1
fi
if [ ! -x "$build/serviceflow" ]; then
  echo "build-web: $build/serviceflow not built: build the server first" >&2
  exit 1
fi

stamp="$build/.web-stamp"
api=$("$build/serviceflow" openapi | sha256sum | cut -d' ' -f1)
if [ "${SF_WEB_FORCE:-0}" != 1 ] && [ -f "$build/web/index.html" ] && [ -f "$stamp" ] &&
  [ "$(cat "$stamp")" = "$api" ] &&
  [ -z "$(find "$web" \( -path "$web/node_modules" -o -path "$web/src/api/schema.d.ts" \) -prune -o \
    -newer "$stamp" -print -quit)" ]; then
  exit 0 # up to date
fi

cd "$web"
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "build-web: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "build-web: npm run build"
SF_BIN="$build/serviceflow" npm run --silent build
echo "$api" >"$stamp"
