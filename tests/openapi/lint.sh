#!/usr/bin/env bash
# Lints the OpenAPI document the binary generates (`serviceflow openapi`, the
# same text GET /api/v1/openapi.json serves) with Redocly CLI and the rules in
# redocly.yaml. Usage: lint.sh [path/to/serviceflow]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${SERVICEFLOW_BIN:-$here/../../build/serviceflow}}
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
[ -x "$here/node_modules/.bin/redocly" ] || (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" openapi >"$tmp/openapi.json"
cd "$here"
node_modules/.bin/redocly lint --config redocly.yaml "$tmp/openapi.json"
