#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need.
# Idempotent: only missing packages are installed. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3 libsodium-dev
  libjwt-dev liboath-dev libssl-dev libcurl4-openssl-dev libcmocka-dev liblua5.4-dev libyaml-dev
  libmimalloc-dev
  python3 python3-jsonschema curl procps jq tzdata
)
if [ "${1:-}" = "--bench" ]; then PKGS+=(wrk nginx-light); fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the OpenAPI linter; the machine's own Node.js (>= 20) is
# used when there is one, Debian's otherwise.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages of the tests, from their committed lock files
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$here/tests/openapi/node_modules/.bin/redocly" ]; then
  (cd "$here/tests/openapi" && npm ci --no-audit --no-fund --loglevel=error)
fi
