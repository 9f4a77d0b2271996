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
