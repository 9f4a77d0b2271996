#!/usr/bin/env python3
"""Seeds the service desk of a running demo server through its public API, the
same calls the README's quickstart shows: publishes examples/purchase.yaml and
examples/it_incident.yaml, then opens a few requests in different states
(a draft, requests waiting for the approver and for finance, an approved one,
incidents new, assigned, in progress and resolved).

    scripts/seed_desk.py [--url http://127.0.0.1:8080] [--wait SECONDS]

Needs the demo users of `serviceflow seed`. Idempotent: a type already
published is not published again, and requests are only opened when the demo
customer has none. Standard library only."""
import argparse, json, os, sys, time, urllib.error, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "examples")


class Api:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def call(self, method, path, body=None, token=None, content_type="application/json"):
        data = None
        headers = {}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if token:
            headers["Authorization"] = "Bearer " + token
        rq = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(rq, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def ok(self, method, path, body=None, token=None, **kw):
        st, b = self.call(method, path, body, token, **kw)
        if st >= 300:
            raise SystemExit("seed_desk: %s %s -> %d %s" % (method, path, st, b))
        return b

    def login(self, who):
        b = self.ok("POST", "/api/v1/auth/login",
                    {"email": who + "@serviceflow.local", "password": who + "-password-1"})
        return b["access_token"]


def wait_ready(api, seconds):
    deadline = time.time() + seconds
    while True:
        try:
            st, _ = api.call("GET", "/readyz")
            if st == 200:
                return
        except OSError:
            pass
        if time.time() > deadline:
            raise SystemExit("seed_desk: the server at %s did not become ready" % api.url)
        time.sleep(0.2)


def publish(api, admin, type_, file):
    st, _ = api.call("GET", "/api/v1/workflows/" + type_, token=admin)
    if st == 200:
        return False
    with open(os.path.join(EXAMPLES, file), "rb") as f:
        api.ok("POST", "/api/v1/workflows", f.read(), admin, content_type="application/yaml")
    return True


def open_request(api, token, type_, title, data):
    return api.ok("POST", "/api/v1/requests", {"type": type_, "title": title, "data": data}, token)["id"]


def move(api, token, rid, action, comment=""):
    api.ok("POST", "/api/v1/requests/%s/transitions" % rid, {"action": action, "comment": comment}, token)


def decide(api, token, rid, decision, comment):
    api.ok("POST", "/api/v1/requests/%s/approvals" % rid, {"decision": decision, "comment": comment}, token)


def assign(api, token, rid, user_id):
    api.ok("POST", "/api/v1/requests/%s/assignment" % rid, {"user_id": user_id}, token)


def seed_requests(api, customer, staff, approver, staff_id):
    # purchases: a draft, one waiting for the approver, one approved, one at finance
    open_request(api, customer, "purchase", "New laptop for the design team",
                 {"amount": 1800, "category": "hardware", "justification": "The current one cannot run the design tools"})
    rid = open_request(api, customer, "purchase", "Catering for the team offsite",
                       {"amount": 420, "category": "services", "needed_by": "2027-01-15"})
    move(api, customer, rid, "submit", "For the offsite on Friday")
    rid = open_request(api, customer, "purchase", "Second monitor", {"amount": 240, "category": "hardware"})
    move(api, customer, rid, "submit")
    decide(api, approver, rid, "approve", "Fine by me")
    rid = open_request(api, customer, "purchase", "Conference tickets (3 people)",
                       {"amount": 2600, "category": "travel",
                        "justification": "Three talks on the service desk we are building"})
    move(api, customer, rid, "submit", "Early-bird price ends this month")
    decide(api, approver, rid, "approve", "Worth it; finance to confirm")
    # incidents: new, assigned, in progress, resolved
    open_request(api, customer, "incident", "Printer on floor 2 jams",
                 {"priority": "P4", "service": "Printing", "description": "Paper jams on every second page"})
    rid = open_request(api, customer, "incident", "VPN drops every hour", {"priority": "P2", "service": "VPN"})
    assign(api, staff, rid, staff_id)
    rid = open_request(api, customer, "incident", "Cannot open shared calendar", {"priority": "P3"})
    assign(api, staff, rid, staff_id)
    move(api, staff, rid, "start", "Looking into it")
    rid = open_request(api, customer, "incident", "Checkout page returns 500", {"priority": "P1"})
    move(api, staff, rid, "start")
    move(api, staff, rid, "resolve", "Rolled back the faulty release")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--wait", type=float, default=30, help="seconds to wait for /readyz")
    a = ap.parse_args()
    api = Api(a.url)
    wait_ready(api, a.wait)
    admin, customer = api.login("admin"), api.login("customer")
    staff, approver = api.login("staff"), api.login("approver")
    published = [t for t, f in (("purchase", "purchase.yaml"), ("incident", "it_incident.yaml"))
                 if publish(api, admin, t, f)]
    if published:
        print("seed: published workflows %s" % ", ".join(published))
    if api.ok("GET", "/api/v1/requests?limit=1", token=customer)["data"]:
        print("seed: the demo customer has service requests, none added")
        return
    staff_id = api.ok("GET", "/api/v1/users/me", token=staff)["id"]
    seed_requests(api, customer, staff, approver, staff_id)
    print("seed: opened 8 demo service requests (purchases and incidents in several states)")


if __name__ == "__main__":
    main()
