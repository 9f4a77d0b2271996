"""Webhooks of service requests: a workflow's {webhook: {url}} action is
POSTed to a receiver, signed (HMAC-SHA256), retried with backoff, given up
as dead after webhook_max_attempts, and delivered after a restart when it
was still pending (or in flight) when the server stopped."""
import hashlib, hmac, json, os, re, stat, tempfile, threading, time, unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from sfharness import Server, req, register, make_user, free_port, main, WEBHOOK_ALLOW
from test_workflows import publish

SECRET = "e2e-webhook-secret-0123456789abcdef"
RATE = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000", *WEBHOOK_ALLOW]

TWO_HOOKS = """\
name: Hooked
type: {type}
initial: draft
states:
  draft:
    on_exit: [{{webhook: {{url: '{url}/left-draft'}}}}]
  approved:
    final: true
    on_enter: [{{set: {{stage: done}}}}, {{webhook: {{url: '{url}/approved'}}}}]
transitions:
  - {{action: approve, from: draft, to: approved}}
"""

ON_CREATE = """\
name: Opened
type: {type}
initial: open
states:
  open:
    on_enter: [{{webhook: {{url: '{url}/opened'}}}}]
  closed: {{final: true}}
transitions:
  - {{action: close, from: open, to: closed}}
"""

CHAINED = """\
name: Chained
type: {type}
initial: draft
states:
  draft: {{}}
  review:
    on_enter: [{{webhook: {{url: '{url}/review'}}}}]
  approved:
    final: true
    on_enter: [{{webhook: {{url: '{url}/approved'}}}}]
transitions:
  - {{action: submit, from: draft, to: review}}
  - {{action: approve, from: review, to: approved, roles: [admin]}}
approvals:
  - in: review
    on_approved: approve
    on_rejected: approve
    levels:
      - {{name: boss, role: approver, when: data.n > 100}}
"""

PINGPONG = """\
name: Ping-pong
type: {type}
initial: waiting
states:
  waiting:
    on_enter: [{{webhook: {{url: '{url}/waiting'}}}}]
  working:
    on_enter: [{{webhook: {{url: '{url}/working'}}}}]
  done: {{final: true}}
transitions:
  - {{action: work, from: waiting, to: working}}
  - {{action: pause, from: working, to: waiting}}
  - {{action: finish, from: working, to: done}}
"""


class Receiver:
    """A tiny webhook receiver on a loopback port. It records every POST and
    answers `fail_status` to the first `fail_first` of them; with `hang_first`
    the first call waits until release() before answering."""

    def __init__(self, port=0, fail_first=0, fail_status=500, hang_first=False):
        self.calls = []
        self.fail_first, self.fail_status = fail_first, fail_status
        self.hang = threading.Event() if hang_first else None
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.calls.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                        "body": body, "at": time.time()})
                    n = len(outer.calls)
                if outer.hang is not None and n == 1:
                    outer.hang.wait(10)
                status = outer.fail_status if n <= outer.fail_first else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender is gone (killed mid-call)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def release(self):
        if self.hang is not None:
            self.hang.set()

    def wait_calls(self, n, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.calls) >= n:
                    return list(self.calls)
            time.sleep(0.02)
        raise AssertionError("receiver got %d calls, expected %d" % (len(self.calls), n))

    def close(self):
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()


def signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def write_config(lines):
    fd, path = tempfile.mkstemp(prefix="sf-hooks-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("# e2e webhooks\n" + "".join("%s = %s\n" % kv for kv in lines.items()))
    return path


class Base(unittest.TestCase):
    srv = None

    def open(self, type_, token=None):
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": type_, "title": "hook me", "data": {"n": 1}},
                       token=token or self.cust)
        self.assertEqual(st, 201, r)
        return r

    def flow(self, template, type_, url):
        st, _, w = publish(self.srv, self.admin, template.format(type=type_, url=url))
        self.assertEqual(st, 201, w)

    def events(self, rid):
        st, _, b = req(self.srv, "GET", "/api/v1/requests/%s/events" % rid, token=self.cust)
        self.assertEqual(st, 200, b)
        return b["data"]

    def wait_events(self, rid, etype, n=1, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            evs = self.events(rid)
            if len([e for e in evs if e["type"] == etype]) >= n:
                return evs
            time.sleep(0.05)
        self.fail("request %s: fewer than %d %s events: %s" % (rid, n, etype, [e["type"] for e in evs]))

    def deliveries(self, rid):
        st, _, b = req(self.srv, "GET", "/api/v1/requests/%s/webhooks" % rid, token=self.admin)
        self.assertEqual(st, 200, b)
        return b["data"]


class Webhooks(Base):
    @classmethod
    def setUpClass(cls):
        cls.config = write_config({"webhook_secret": '"%s"' % SECRET, "webhook_backoff_ms": 100,
                                   "webhook_max_attempts": 3, "webhook_timeout_ms": 2000})
        cls.srv = Server(["--config", cls.config, *RATE])
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.cust = register(cls.srv)["access_token"]
        cls.cust_id = req(cls.srv, "GET", "/api/v1/users/me", token=cls.cust)[2]["id"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        os.unlink(cls.config)

    def test_signed_post_exactly_once_per_action(self):
        rcv = Receiver()
        try:
            self.flow(TWO_HOOKS, "hook_once", rcv.url)
            r = self.open("hook_once")
            st, _, moved = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"], {"action": "approve"},
                               token=self.cust)
            self.assertEqual((st, moved["state"]), (200, "approved"), moved)
            evs = self.wait_events(r["id"], "request.webhook_delivered", 2)
            time.sleep(0.5)  # nothing more arrives
            calls = rcv.wait_calls(2)
            self.assertEqual(len(calls), 2, [c["path"] for c in calls])
            due = [e for e in evs if e["type"] == "request.webhook_due"]
            by_path = {c["path"]: c for c in calls}
            self.assertEqual(set(by_path), {"/left-draft", "/approved"})
            bodies = {path: json.loads(c["body"])["request"] for path, c in by_path.items()}
            # each body is the request when its action ran: leaving draft, and just after entering approved
            self.assertEqual([(bodies[p]["state"], bodies[p]["data"], bodies[p]["version"]) for p in ("/left-draft", "/approved")],
                             [("draft", {"n": 1}, 1), ("approved", {"n": 1, "stage": "done"}, 2)])
            self.assertEqual(moved["version"], 2)
            for c in calls:
                h, body = c["headers"], c["body"]
                self.assertEqual(h["content-type"], "application/json")
                self.assertEqual(h["x-serviceflow-signature"], signature(SECRET, body))
                self.assertEqual(h["x-serviceflow-attempt"], "1")
                doc = json.loads(body)
                self.assertEqual(doc["id"], h["x-serviceflow-event"])
                self.assertEqual(doc["type"], "request.webhook_due")
                self.assertIn(doc["id"], [e["id"] for e in due])
                self.assertTrue(doc["occurred_at"].endswith("Z"), doc)
                self.assertEqual(doc["webhook"], {"url": rcv.url + c["path"]})
                rq = doc["request"]
                self.assertEqual((rq["id"], rq["type"], rq["title"], rq["state"]),
                                 (r["id"], "hook_once", "hook me", doc["trigger"]["state"]))
                self.assertEqual(rq["workflow"], {"id": r["workflow"]["id"], "version": 1})
            transition = {"action": "approve", "from": "draft", "to": "approved", "by": self.cust_id}
            self.assertEqual(json.loads(by_path["/left-draft"]["body"])["trigger"],
                             {"state": "draft", "on": "on_exit", "transition": transition})
            self.assertEqual(json.loads(by_path["/approved"]["body"])["trigger"],
                             {"state": "approved", "on": "on_enter", "transition": transition})
            delivered = [e["data"] for e in evs if e["type"] == "request.webhook_delivered"]
            self.assertEqual(sorted(d["event_id"] for d in delivered), sorted(e["id"] for e in due))
            for d in delivered:
                self.assertEqual((d["status_code"], d["attempts"]), (200, 1), d)
                self.assertTrue(d["url"].startswith(rcv.url), d)
            self.assertNotIn("request.webhook_failed", [e["type"] for e in evs])
            log = self.deliveries(r["id"])
            self.assertEqual([(d["status"], d["attempts"], d["next_attempt_at"]) for d in log],
                             [("delivered", 1, None)] * 2)
            # the delivery log is for staff; customers see the events
            st, _, _ = req(self.srv, "GET", "/api/v1/requests/%s/webhooks" % r["id"], token=self.cust)
            self.assertEqual(st, 403)
            st, _, metrics = req(self.srv, "GET", "/metrics")
            self.assertIn('sf_webhook_deliveries_total{outcome="delivered"}', metrics)
        finally:
            rcv.close()

    def test_body_is_the_request_when_the_action_ran(self):
        # entering review sends a webhook, and its chain (no level applies) moves the request on to
        # approved within the same command: the review body still shows review
        rcv = Receiver()
        try:
            self.flow(CHAINED, "hook_snap", rcv.url)
            r = self.open("hook_snap")
            st, _, moved = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"], {"action": "submit"},
                               token=self.cust)
            self.assertEqual((st, moved["state"]), (200, "approved"), moved)
            calls = {c["path"]: json.loads(c["body"]) for c in rcv.wait_calls(2)}
            for path, state in (("/review", "review"), ("/approved", "approved")):
                doc = calls[path]
                self.assertEqual((doc["trigger"]["state"], doc["request"]["state"]), (state, state), doc)
            self.assertLess(calls["/review"]["request"]["version"], calls["/approved"]["request"]["version"])
            self.assertEqual(calls["/approved"]["request"]["version"], moved["version"])
        finally:
            rcv.close()

    def test_bodies_under_quick_transitions_match_their_trigger(self):
        # the receiver holds the first call while the request moves on; no body may show a later state
        rcv = Receiver(hang_first=True)
        try:
            self.flow(PINGPONG, "hook_pingpong", rcv.url)
            r = self.open("hook_pingpong")
            version = r["version"]
            for i in range(10):
                st, _, moved = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"],
                                   {"action": "work" if i % 2 == 0 else "pause"}, token=self.cust)
                self.assertEqual(st, 200, moved)
            rcv.wait_calls(1)
            rcv.release()
            calls = rcv.wait_calls(11)  # opened, then ten moves
            for c in calls:
                doc = json.loads(c["body"])
                self.assertEqual(doc["request"]["state"], doc["trigger"]["state"], doc)
                self.assertEqual(doc["request"]["state"], c["path"].strip("/"))
            self.assertEqual(sorted(json.loads(c["body"])["request"]["version"] for c in calls),
                             list(range(version, version + 11)))
        finally:
            rcv.close()

    def test_failing_twice_then_delivered_on_the_third_attempt(self):
        rcv = Receiver(fail_first=2)
        try:
            self.flow(ON_CREATE, "hook_retry", rcv.url)
            r = self.open("hook_retry")
            evs = self.wait_events(r["id"], "request.webhook_delivered")
            calls = rcv.wait_calls(3)
            self.assertEqual(len(calls), 3)
            self.assertEqual(len({c["headers"]["x-serviceflow-event"] for c in calls}), 1)
            self.assertEqual([c["headers"]["x-serviceflow-attempt"] for c in calls], ["1", "2", "3"])
            self.assertEqual(len({c["body"] for c in calls}), 1)  # the same document every time
            # backoff 100 ms, then 200 ms
            self.assertGreaterEqual(calls[1]["at"] - calls[0]["at"], 0.08)
            self.assertGreaterEqual(calls[2]["at"] - calls[1]["at"], 0.18)
            doc = json.loads(calls[0]["body"])
            self.assertEqual(doc["trigger"], {"state": "open", "on": "on_enter", "transition": None})
            delivered = [e["data"] for e in evs if e["type"] == "request.webhook_delivered"]
            self.assertEqual(len(delivered), 1)
            self.assertEqual((delivered[0]["attempts"], delivered[0]["status_code"], delivered[0]["event_id"]),
                             (3, 200, doc["id"]))
            self.assertNotIn("request.webhook_failed", [e["type"] for e in evs])
            [log] = self.deliveries(r["id"])
            self.assertEqual((log["status"], log["attempts"], log["last_error"]), ("delivered", 3, "HTTP 500"))
        finally:
            rcv.close()

    def test_delivery_carries_the_trace_of_the_request_that_caused_it(self):
        trace, span = "5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7"
        rcv = Receiver(fail_first=1)
        try:
            self.flow(ON_CREATE, "hook_trace", rcv.url)
            st, h, r = req(self.srv, "POST", "/api/v1/requests", {"type": "hook_trace", "title": "t", "data": {}},
                           token=self.cust, headers={"traceparent": "00-%s-%s-01" % (trace, span)})
            self.assertEqual(st, 201, r)
            ours = h["traceparent"].split("-")[2]
            calls = rcv.wait_calls(2)
            self.assertEqual(len(calls), 2)
            spans = set()
            for c in calls:  # both attempts: the caller's trace, a span of their own
                m = re.match(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$", c["headers"].get("traceparent", ""))
                self.assertTrue(m, c["headers"])
                self.assertEqual(m.group(1), trace)
                self.assertNotIn(m.group(2), (span, ours, "0" * 16))
                spans.add(m.group(2))
            self.assertEqual(len(spans), 2)
        finally:
            rcv.close()

    def test_receiver_down_for_good_goes_dead(self):
        url = "http://127.0.0.1:%d" % free_port()  # nothing listens there
        self.flow(ON_CREATE, "hook_dead", url)
        r = self.open("hook_dead")
        evs = self.wait_events(r["id"], "request.webhook_failed")
        [failed] = [e["data"] for e in evs if e["type"] == "request.webhook_failed"]
        due = [e for e in evs if e["type"] == "request.webhook_due"]
        self.assertEqual((failed["attempts"], failed["url"], failed["event_id"]), (3, url + "/opened", due[0]["id"]))
        self.assertTrue(failed["error"], failed)
        self.assertNotIn("request.webhook_delivered", [e["type"] for e in evs])
        [log] = self.deliveries(r["id"])
        self.assertEqual((log["status"], log["attempts"], log["next_attempt_at"]), ("dead", 3, None))
        # dead is final: no more attempts, no more events
        time.sleep(0.5)
        self.assertEqual(len(self.events(r["id"])), len(evs))

    def test_non_2xx_answers_are_failures(self):
        rcv = Receiver(fail_first=100, fail_status=404)
        try:
            self.flow(ON_CREATE, "hook_404", rcv.url)
            r = self.open("hook_404")
            evs = self.wait_events(r["id"], "request.webhook_failed")
            [failed] = [e["data"] for e in evs if e["type"] == "request.webhook_failed"]
            self.assertEqual((failed["attempts"], failed["error"]), (3, "HTTP 404"))
            self.assertEqual(len(rcv.calls), 3)
        finally:
            rcv.close()


class WebhookRestarts(Base):
    """No webhook_secret configured: the key is generated into
    data_dir/webhook.key and receivers use its text."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--webhook-backoff-ms", "200", "--webhook-max-attempts", "100",
                          "--webhook-timeout-ms", "5000", *RATE])
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.cust = register(cls.srv)["access_token"]
        path = os.path.join(cls.srv.data_dir, "webhook.key")
        cls.key_mode = stat.S_IMODE(os.stat(path).st_mode)
        with open(path) as f:
            cls.secret = f.read().strip()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_generated_key_file(self):
        self.assertEqual(self.key_mode, 0o600)
        self.assertGreaterEqual(len(self.secret), 32)

    def test_pending_delivery_is_sent_after_a_restart(self):
        port = free_port()
        self.flow(ON_CREATE, "hook_restart", "http://127.0.0.1:%d" % port)
        r = self.open("hook_restart")
        deadline = time.time() + 10
        while time.time() < deadline:  # at least one attempt failed and was recorded
            log = self.deliveries(r["id"])
            if log and log[0]["attempts"] >= 1:
                break
            time.sleep(0.05)
        self.assertEqual(log[0]["status"], "pending", log)
        self.assertEqual(self.srv.stop(), 0)
        rcv = Receiver(port=port)
        try:
            self.srv.start()
            evs = self.wait_events(r["id"], "request.webhook_delivered")
            [call] = rcv.wait_calls(1)
            self.assertEqual(call["headers"]["x-serviceflow-signature"], signature(self.secret, call["body"]))
            [d] = [e["data"] for e in evs if e["type"] == "request.webhook_delivered"]
            self.assertGreaterEqual(d["attempts"], 2)
            self.assertEqual(d["event_id"], call["headers"]["x-serviceflow-event"])
            time.sleep(0.3)
            self.assertEqual(len(rcv.calls), 1)
        finally:
            rcv.close()

    def test_attempt_in_flight_at_a_crash_is_sent_again(self):
        rcv = Receiver(hang_first=True)
        try:
            self.flow(ON_CREATE, "hook_crash", rcv.url)
            r = self.open("hook_crash")
            rcv.wait_calls(1)
            self.srv.kill9()  # while the receiver holds the first POST
            rcv.release()
            self.srv.start()
            evs = self.wait_events(r["id"], "request.webhook_delivered")
            calls = rcv.wait_calls(2)
            # at least once: the same event again, for the receiver to dedupe on
            self.assertEqual(calls[0]["headers"]["x-serviceflow-event"], calls[1]["headers"]["x-serviceflow-event"])
            self.assertEqual(calls[0]["body"], calls[1]["body"])
            delivered = [e["data"] for e in evs if e["type"] == "request.webhook_delivered"]
            self.assertEqual(len(delivered), 1)
            self.assertEqual(delivered[0]["attempts"], 1)  # the attempt cut short was never recorded
        finally:
            rcv.close()


if __name__ == "__main__":
    main()
