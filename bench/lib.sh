# shellcheck shell=bash
# Shared by the bench scripts (sourced; uses $PY, default python3).
PY="${PY:-/usr/bin/python3}"

# ---- the temp dir and the processes a bench starts ----

BENCH_PIDS=() # what bench_cleanup stops: bench_serve's servers and what bench_track was given

# bench_tmp NAME: TMP = a new /tmp/sf-NAME-XXXXXX; at exit (or INT, TERM) every tracked process is
# stopped (SIGTERM, then waited for) and TMP removed.
bench_tmp() {
  TMP="$(mktemp -d "/tmp/sf-$1-XXXXXX")"
  trap bench_cleanup EXIT INT TERM
}
bench_cleanup() {
  local p
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
bench_track() { BENCH_PIDS+=("$1"); } # bench_track PID: bench_cleanup stops it
bench_stop() {                        # bench_stop PID: SIGTERM, wait for it, no longer tracked
  local p keep=()
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
}

# bench_serve BIN DATA_DIR LOG_DIR PORT [serve flags...]: BIN serves the (migrated) DATA_DIR on
# 127.0.0.1:PORT with the benches' settings (errors only in the log, cheap password hashing, no
# login rate limit) and the flags; its output appended to LOG_DIR/out.log and err.log. Sets
# BENCH_PID (tracked); returns once /healthz answers, or fails after 15 s showing err.log.
bench_serve() {
  local bin="$1" data="$2" logs="$3" port="$4"
  shift 4
  "$bin" serve --data-dir "$data" --bind 127.0.0.1 --port "$port" --log-level error \
    --argon2-memlimit-kib 8192 --argon2-opslimit 1 --rate-login-per-min 1000000 --rate-login-burst 1000000 \
    "$@" >>"$logs/out.log" 2>>"$logs/err.log" &
  BENCH_PID=$!
  bench_track "$BENCH_PID"
  for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "bench: $bin on port $port did not start:" >&2
  tail -20 "$logs/err.log" >&2
  return 1
}

# bench_user BIN DATA_DIR ROLE: the user ROLE@bench.local (role ROLE, password "bench ROLE
# password", cheap hashing) in DATA_DIR's database, as bench_login and the seed_* take them.
bench_user() {
  "$1" user create --data-dir "$2" --email "$3@bench.local" --role "$3" --password "bench $3 password" \
    --argon2-memlimit-kib 8192 --argon2-opslimit 1 >/dev/null
}
# bench_login PORT ROLE: prints the access token of bench_user's ROLE@bench.local.
bench_login() {
  curl -fs -H 'Content-Type: application/json' -d "{\"email\":\"$2@bench.local\",\"password\":\"bench $2 password\"}" \
    "http://127.0.0.1:$1/api/v1/auth/login" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# wrk_rate SCRIPT URL TAG OK BAD [NAME=VALUE...]: one `wrk $BENCH_WRK` run (default -t2 -c64 -d10s)
# of bench/SCRIPT against URL with those variables in its environment. SCRIPT prints one line
# "TAG ... OK=<n> BAD=<n> ... duration_us=<n>"; sets WRK_LINE to it, WRK_RATE to OK per second and
# WRK_BAD to BAD's count.
wrk_rate() {
  local script="$1" url="$2" tag="$3" ok_key="$4" bad_key="$5" ok us here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  shift 5
  # shellcheck disable=SC2086 # BENCH_WRK's flags are meant to split
  WRK_LINE="$(env "$@" wrk ${BENCH_WRK:--t2 -c64 -d10s} -s "$here/$script" "$url" | grep "^$tag")"
  ok="$(sed -n "s/.* $ok_key=\([0-9]*\).*/\1/p" <<<"$WRK_LINE")"
  # shellcheck disable=SC2034 # WRK_BAD and WRK_RATE are the caller's
  WRK_BAD="$(sed -n "s/.* $bad_key=\([0-9]*\).*/\1/p" <<<"$WRK_LINE")"
  us="$(sed -n 's/.*duration_us=\([0-9]*\).*/\1/p' <<<"$WRK_LINE")"
  # shellcheck disable=SC2034
  WRK_RATE="$("$PY" -c "print(round($ok / ($us / 1e6)))")"
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# register_users PORT PREFIX COUNT OUTFILE: one access token per line.
register_users() {
  "$PY" - "$@" <<'EOF'
import json, sys, urllib.request, urllib.error
port, prefix, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tokens = []
for i in range(count):
    body = json.dumps({"email": "%s-%d@bench.local" % (prefix, i),
                       "password": "bench password %d" % i, "name": "bench"}).encode()
    req = urllib.request.Request("http://127.0.0.1:%s/api/v1/auth/register" % port, data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            if r.status != 201:
                sys.exit("register: HTTP %d" % r.status)
            tokens.append(json.load(r)["access_token"])
    except urllib.error.HTTPError as e:
        sys.exit("register %s-%d: HTTP %d %s" % (prefix, i, e.code, e.read()[:300]))
with open(out, "w") as f:
    f.write("\n".join(tokens) + "\n")
EOF
}

# seed_products PORT STAFF_EMAIL STAFF_PASSWORD COUNT OUTFILE: COUNT active products with plenty of
# stock (10^8 units each), made by that staff user; their ids comma-separated into OUTFILE, as
# bench/order.lua takes them in SF_PRODUCTS.
seed_products() {
  "$PY" - "$@" <<'EOF'
import json, sys, urllib.request
port, email, password, count, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def call(method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    r = urllib.request.urlopen(urllib.request.Request(
        "http://127.0.0.1:%s%s" % (port, path), data=json.dumps(body).encode() if body is not None else None,
        headers=h, method=method), timeout=10)
    return json.load(r)
staff = call("POST", "/api/v1/auth/login", {"email": email, "password": password})["access_token"]
ids = []
for i in range(count):
    p = call("POST", "/api/v1/products", {"sku": "BENCH-%d" % i, "name": "Bench product %d" % i,
              "description": "a product for the benchmark", "price": 1000 + i, "currency": "EUR",
              "status": "active", "attributes": {"color": "blue", "size": i}}, staff)
    call("POST", "/api/v1/inventory/%s/adjustments" % p["id"], {"delta": 100000000, "reason": "bench"}, staff)
    ids.append(p["id"])
with open(out, "w") as f:
    f.write(",".join(ids))
EOF
}

# seed_transitions PORT ADMIN_EMAIL ADMIN_PASSWORD TOKENS_FILE PAIRS_FILE: the admin publishes a
# workflow whose state "open" loops on itself through action "touch" (role, guard and
# on_exit/on_enter actions included); each token of TOKENS_FILE (a customer) opens one request;
# "<token> <request id>" lines into PAIRS_FILE, as bench/transition.lua takes them.
seed_transitions() {
  "$PY" - "$@" <<'EOF'
import json, sys, urllib.request
port, email, password, tokens, out = sys.argv[1:6]
def call(method, path, body=None, token=None, ctype="application/json", raw=None):
    h = {"Content-Type": ctype}
    if token:
        h["Authorization"] = "Bearer " + token
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    r = urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), data=data,
                                                      headers=h, method=method), timeout=10)
    return json.load(r)
admin = call("POST", "/api/v1/auth/login", {"email": email, "password": password})["access_token"]
flow = """name: Bench loop
type: bench_loop
initial: open
states:
  open:
    on_exit: [{emit: bench.left}]
    on_enter: [{set: {touched: true}}]
  closed: {final: true}
transitions:
  - {action: touch, from: open, to: open, roles: [customer], guard: data.amount > 0 and data.amount < 1000}
  - {action: close, from: open, to: closed}
"""
call("POST", "/api/v1/workflows", token=admin, ctype="application/yaml", raw=flow.encode())
lines = []
for tok in open(tokens).read().split():
    r = call("POST", "/api/v1/requests", {"type": "bench_loop", "title": "bench", "data": {"amount": 10}}, tok)
    lines.append("%s %s" % (tok, r["id"]))
open(out, "w").write("\n".join(lines) + "\n")
EOF
}

# ---- the web app's measurements (bench/lighthouse.sh, bench/web_profile.sh) ----

# npm_ci_if_stale DIR: npm ci in DIR when its node_modules is missing or older than its lock file.
npm_ci_if_stale() {
  if [[ ! -f "$1/node_modules/.package-lock.json" || "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]]; then
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# web_bench_ready NAME BUILD: CHROMIUM = the browser to drive (SF_CHROMIUM, CHROME_PATH, else
# Debian's); exits naming NAME when it or BUILD/serviceflow is missing; installs the web suite's
# npm packages (tests/web) when stale, without browser downloads.
web_bench_ready() {
  CHROMIUM="${SF_CHROMIUM:-${CHROME_PATH:-/usr/bin/chromium}}"
  [[ -x "$CHROMIUM" ]] || { echo "$1: no Chromium at $CHROMIUM (scripts/install-deps.sh --test)" >&2; exit 1; }
  [[ -x "$2/serviceflow" ]] || { echo "$1: $2/serviceflow not built (make build)" >&2; exit 1; }
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
  npm_ci_if_stale "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/web"
}
