#!/usr/bin/env bash
# Installs every Debian package the build and the server need; with --test
# also what the tests need (the OpenAPI contract test and linter, clang-format, an SMTP
# server for the mail tests, the PostgreSQL, Redis and NATS servers the scale-out tests
# start in temporary directories), with
# --bench what the benchmarks need. Idempotent: only missing packages are
# installed. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3 libsodium-dev
  libjwt-dev liboath-dev libssl-dev libcurl4-openssl-dev libcmocka-dev liblua5.4-dev libyaml-dev
  libmimalloc-dev libpq-dev libhiredis-dev libnats-dev
  python3 curl procps jq tzdata
)
mode="${1:-}"
if [ "$mode" = "--bench" ]; then PKGS+=(wrk nginx-light); fi
if [ "$mode" = "--test" ]; then PKGS+=(python3-jsonschema clang-format python3-aiosmtpd openssl python3-websockets chromium postgresql redis-server nats-server nginx-light); fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm build the web app (web/, scripts/build-web.sh) and run the
# OpenAPI linter (Redocly CLI 1.34 needs Node >= 18.17: Debian bookworm's 18.20
# will do). A Node.js of 18 or later already on the machine (e.g. NodeSource's,
# which brings its own npm) is used as it is, never replaced.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 18 ] 2>/dev/null; then
  missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

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
if [ "$mode" = "--test" ] && [ ! -x "$here/tests/openapi/node_modules/.bin/redocly" ]; then
  (cd "$here/tests/openapi" && npm ci --no-audit --no-fund --loglevel=error)
fi
