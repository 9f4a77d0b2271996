"""A fake external payment API for the e2e tests of the `http` payment provider
(wire protocol: docs/payments-http.md). Standard library only.

    python3 fakepay.py --port 9000 [--exit-on-eof]   prints "fakepay listening on 9000" when ready

Payment endpoints (POST, JSON, Idempotency-Key required):
    /v1/authorize {"amount","currency","card_number"} -> 201 {"status":"ok","authorization":"auth_…"}
    /v1/capture   {"amount","currency","authorization"}
    /v1/void      {"currency","authorization"?,"authorize_key"}
                  "authorize_key" is the Idempotency-Key the authorize was sent with: a
                  void without a known "authorization" voids what that key authorized,
                  and when it authorized nothing (never arrived, failed) the key is
                  closed: an authorize arriving later with it is declined. Either way
                  the answer is definite (200 voided, or 404 no such authorization).
    /v1/refund    {"amount","currency","authorization"}
Test cards as the built-in sandbox: 4242424242424242 ok, 4000000000000002 declined,
4000000000009995 insufficient funds, 4000000000000119 a 503 on the first two
attempts of a key, any other Luhn-valid number ok.

The ledger keeps the first definite answer of every Idempotency-Key and replays
it on a repeat, so a retried call never moves money twice. 5xx answers are not
recorded (the caller is meant to retry them).

Control endpoints for the tests:
    POST /control/mode {"mode":"ok"|"down"|"slow"|"error500", "delay_ms":800, "count":2}
        down      drops the connection without an answer
        error500  answers 500 without touching the ledger
        slow      does the work, then waits delay_ms before answering (a
                  client that timed out finds the result on its retry)
        count     (optional) how many payment requests the mode applies to
                  before it reverts to "ok"; 0 = until changed
        endpoint  (optional) the mode applies to that endpoint only, beside the
                  modes of the other endpoints; without it the mode applies to
                  every endpoint and clears the endpoint modes
    GET /control/stats -> {"calls": {endpoint: n}, "total_calls": n,
                           "keys": {key: {..., "traceparents": [header of each call]}},
                           "auths": {ref: {...}}, "totals": {"authorized","captured","voided","refunded"},
                           "mode": {...}, "endpoint_modes": {endpoint: {...}}}
"""
import argparse, json, secrets, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENDPOINTS = ("authorize", "capture", "void", "refund")


def luhn_ok(card):
    if not card.isdigit() or not 12 <= len(card) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(card)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.mode = {"mode": "ok", "delay_ms": 0, "count": 0}
        self.endpoint_modes = {}  # endpoint -> mode, before self.mode
        self.calls = {e: 0 for e in ENDPOINTS}
        self.keys = {}   # key -> {"endpoint", "calls", "status", "body"}
        self.auths = {}  # ref -> {"amount", "currency", "captured", "refunded", "voided"}

    def take_mode(self, endpoint=None):
        """The mode for the request that just arrived (and use up one of its count). A mode set for
        one endpoint ("endpoint": "capture") applies to it alone; the others keep theirs."""
        with self.lock:
            if endpoint in self.endpoint_modes:
                m = self.endpoint_modes[endpoint]
                out = dict(m)
                if m["count"] > 0:
                    m["count"] -= 1
                    if m["count"] == 0:
                        del self.endpoint_modes[endpoint]
                return out
            m = dict(self.mode)
            if self.mode["count"] > 0:
                self.mode["count"] -= 1
                if self.mode["count"] == 0:
                    self.mode = {"mode": "ok", "delay_ms": 0, "count": 0}
            return m

    def set_mode(self, mode):
        with self.lock:
            if mode.get("endpoint"):
                self.endpoint_modes[mode["endpoint"]] = mode
            else:
                self.mode, self.endpoint_modes = mode, {}

    def count(self, endpoint, key, traceparent=None):
        with self.lock:
            self.calls[endpoint] += 1
            k = self.keys.setdefault(key, {"endpoint": endpoint, "calls": 0, "status": None, "body": None,
                                           "traceparents": []})
            k["calls"] += 1
            k["traceparents"].append(traceparent)
            return k["calls"]

    def execute(self, endpoint, key, body, attempt):
        """Returns (status, answer). Holds the lock across check-and-apply, so two
        concurrent requests with one key still move money once."""
        with self.lock:
            k = self.keys[key]
            if k["endpoint"] != endpoint:
                return 422, {"status": "error", "message": "Idempotency-Key reused for another operation"}
            if k["status"] is not None:
                return k["status"], k["body"]
            status, answer = getattr(self, "_" + endpoint)(body, attempt)
            if status < 500:
                k["status"], k["body"] = status, answer
            return status, answer

    def _authorize(self, b, attempt):
        card, amount = b.get("card_number"), b.get("amount")
        if not isinstance(card, str) or not isinstance(amount, int) or not isinstance(b.get("currency"), str):
            return 400, {"status": "error", "message": "amount, currency and card_number are required"}
        if card == "4000000000000002":
            return 402, {"status": "declined", "message": "card declined"}
        if card == "4000000000009995":
            return 402, {"status": "insufficient_funds", "message": "insufficient funds"}
        if card == "4000000000000119" and attempt <= 2:
            return 503, {"status": "error", "message": "processing error, try again"}
        if not luhn_ok(card):
            return 402, {"status": "declined", "message": "invalid card number"}
        if amount <= 0:
            return 402, {"status": "declined", "message": "invalid amount"}
        ref = "auth_" + secrets.token_hex(10)
        self.auths[ref] = {"amount": amount, "currency": b["currency"], "captured": 0, "refunded": 0,
                           "voided": False}
        return 201, {"status": "ok", "authorization": ref}

    def _auth_of(self, b):
        ref = b.get("authorization")
        a = self.auths.get(ref) if isinstance(ref, str) else None
        return ref, a

    def _capture(self, b, attempt):
        ref, a = self._auth_of(b)
        amount = b.get("amount")
        if a is None or a["voided"]:
            return 404, {"status": "not_found", "message": "no such authorization"}
        if not isinstance(amount, int) or amount <= 0 or a["captured"] + amount > a["amount"]:
            return 402, {"status": "declined", "message": "amount exceeds the authorization"}
        a["captured"] += amount
        return 200, {"status": "ok", "authorization": ref}

    def _void(self, b, attempt):
        ref, a = self._auth_of(b)
        akey = b.get("authorize_key")
        if a is None and not b.get("authorization") and isinstance(akey, str):
            k = self.keys.get(akey)
            if k is not None and k["endpoint"] == "authorize" and k["status"] in (200, 201):
                ref = k["body"]["authorization"]
                a = self.auths.get(ref)
            elif k is None or k["status"] is None:
                # nothing authorized under that key (yet): close it, so that an authorize
                # still on its way cannot authorize after this answer said "nothing to void"
                k = self.keys.setdefault(akey, {"endpoint": "authorize", "calls": 0, "traceparents": []})
                k["status"], k["body"] = 402, {"status": "declined", "message": "voided before it was authorized"}
        if a is None:
            return 404, {"status": "not_found", "message": "no such authorization"}
        if a["captured"] > a["refunded"]:
            return 409, {"status": "declined", "message": "captured funds must be refunded, not voided"}
        a["voided"] = True
        return 200, {"status": "ok", "authorization": ref}

    def _refund(self, b, attempt):
        ref, a = self._auth_of(b)
        amount = b.get("amount")
        if a is None:
            return 404, {"status": "not_found", "message": "no such authorization"}
        if not isinstance(amount, int) or amount <= 0 or a["refunded"] + amount > a["captured"]:
            return 402, {"status": "declined", "message": "amount exceeds what was captured and not refunded"}
        a["refunded"] += amount
        return 200, {"status": "ok", "authorization": ref}

    def stats(self):
        with self.lock:
            auths = {r: dict(a) for r, a in self.auths.items()}
            keys = {k: {"endpoint": v["endpoint"], "calls": v["calls"], "status": v["status"],
                        "authorization": (v["body"] or {}).get("authorization"),
                        "traceparents": list(v["traceparents"])}
                    for k, v in self.keys.items()}
            return {
                "calls": dict(self.calls),
                "total_calls": sum(self.calls.values()),
                "keys": keys,
                "auths": auths,
                "totals": {
                    "authorized": sum(a["amount"] for a in auths.values()),
                    "captured": sum(a["captured"] for a in auths.values()),
                    "voided": sum(a["amount"] for a in auths.values() if a["voided"]),
                    "refunded": sum(a["refunded"] for a in auths.values()),
                },
                "mode": dict(self.mode),
                "endpoint_modes": {e: dict(m) for e, m in self.endpoint_modes.items()},
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API: the client pools connections
    ledger = None                  # set by serve()

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up (timeout) meanwhile

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def do_GET(self):
        if self.path == "/control/stats":
            return self.reply(200, self.ledger.stats())
        self.reply(404, {"status": "not_found"})

    def do_POST(self):
        body = self.read_json()
        if self.path == "/control/mode":
            mode = (body or {}).get("mode")
            if mode not in ("ok", "down", "slow", "error500"):
                return self.reply(400, {"status": "error", "message": "unknown mode"})
            self.ledger.set_mode({"mode": mode, "delay_ms": int(body.get("delay_ms") or 0),
                                  "count": int(body.get("count") or 0), "endpoint": body.get("endpoint")})
            return self.reply(200, {"status": "ok"})
        endpoint = self.path[len("/v1/"):] if self.path.startswith("/v1/") else None
        if endpoint not in ENDPOINTS:
            return self.reply(404, {"status": "not_found", "message": "no such endpoint"})
        key = self.headers.get("Idempotency-Key")
        if not key:
            return self.reply(400, {"status": "error", "message": "Idempotency-Key is required"})
        if body is None or self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return self.reply(400, {"status": "error", "message": "a JSON object body is required"})
        attempt = self.ledger.count(endpoint, key, self.headers.get("traceparent"))
        mode = self.ledger.take_mode(endpoint)
        if mode["mode"] == "down":
            # no answer at all: the connection just dies
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if mode["mode"] == "error500":
            return self.reply(500, {"status": "error", "message": "internal error"})
        status, answer = self.ledger.execute(endpoint, key, body, attempt)
        if mode["mode"] == "slow":
            time.sleep(mode["delay_ms"] / 1000.0)
        self.reply(status, answer)


def serve(host, port):
    Handler.ledger = Ledger()
    srv = ThreadingHTTPServer((host, port), Handler)
    srv.daemon_threads = True
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--exit-on-eof", action="store_true",
                    help="stop when stdin closes (the test that started us is gone)")
    args = ap.parse_args()
    srv = serve(args.host, args.port)
    if args.exit_on_eof:
        def watch():
            sys.stdin.read()
            srv.shutdown()
        threading.Thread(target=watch, daemon=True).start()
    print("fakepay listening on %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
