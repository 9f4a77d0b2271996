# Shared by bench/run.sh and bench/ab.sh (sourced; uses $PY, default python3).
PY="${PY:-/usr/bin/python3}"

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
