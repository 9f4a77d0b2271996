"""Webhook subscriptions ("webhooks for everything", issue 13): an admin
subscribes a URL to event-type patterns; every matching event is POSTed to a
real receiver on loopback, signed with the subscription's own secret; a
receiver that fails is retried with backoff and jitter, given up as dead,
and sent again on request; private destinations are refused unless the
allow-list permits them (at subscribe time and at connect time); secrets are
shown once and stored sealed; a kill -9 loses no delivery."""
import hashlib, hmac, json, os, threading, time, unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from sfharness import Server, req, register, make_user, free_port, main, WEBHOOK_ALLOW, db_rows
from test_orders import setup_shop, place, OK

RATE = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]
FAST_RETRY = ["--webhook-backoff-ms", "100", "--webhook-max-attempts", "3", "--webhook-timeout-ms", "2000"]


class Receiver:
    """Records every POST; answers `status` (a settable attribute, e.g. 500 while
    "down"); with `hang` set the next call waits until it is cleared."""

    def __init__(self, port=0, status=200):
        self.calls, self.status, self.lock = [], status, threading.Lock()
        self.hang = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.calls.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                        "body": body, "at": time.time()})
                    status, hang = outer.status, outer.hang
                if hang is not None:
                    hang.wait(10)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def snapshot(self):
        with self.lock:
            return list(self.calls)

    def wait_for(self, pred, timeout=15, what="calls"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            calls = self.snapshot()
            if pred(calls):
                return calls
            time.sleep(0.03)
        raise AssertionError("receiver: no %s in time; got %r" % (what, [c["headers"].get("x-serviceflow-event-type")
                                                                         for c in self.snapshot()]))

    def close(self):
        if self.hang is not None:
            self.hang.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def types_of(calls):
    return [c["headers"]["x-serviceflow-event-type"] for c in calls]


def signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Base(unittest.TestCase):
    extra = []

    @classmethod
    def setUpClass(cls):
        cls.srv = Server([*RATE, *FAST_RETRY, *cls.extra])
        cls.admin = make_user(cls.srv, "admin")["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def subscribe(self, url, events, expect=201, **kw):
        st, h, b = req(self.srv, "POST", "/api/v1/webhooks", {"url": url, "events": events, **kw}, token=self.admin)
        self.assertEqual(st, expect, b)
        return b

    def deliveries(self, sid, status=None):
        q = "?status=" + status if status else ""
        st, _, b = req(self.srv, "GET", "/api/v1/webhooks/%s/deliveries%s" % (sid, q), token=self.admin)
        self.assertEqual(st, 200, b)
        return b["data"]

    def wait_log(self, sid, pred, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self.deliveries(sid)
            if pred(log):
                return log
            time.sleep(0.05)
        raise AssertionError("delivery log: %r" % self.deliveries(sid))

    def product(self, staff, name="P"):
        st, _, p = req(self.srv, "POST", "/api/v1/products",
                       {"sku": "W-%d" % time.time_ns(), "name": name, "price": 100, "currency": "EUR",
                        "status": "active"}, token=staff)
        self.assertEqual(st, 201, p)
        return p


class Subscriptions(Base):
    extra = WEBHOOK_ALLOW

    def test_order_events_arrive_signed_with_the_subscriptions_secret(self):
        rcv = Receiver()
        try:
            sub = self.subscribe(rcv.url, ["order.*"], description="shop")
            self.assertTrue(sub["secret"].startswith("whsec_"), sub)
            self.assertEqual((sub["events"], sub["active"], sub["description"]), (["order.*"], True, "shop"))
            staff, products = setup_shop(self.srv, n=1)
            cust = register(self.srv)["access_token"]
            st, _, o = place(self.srv, cust, [{"product_id": products[0]["id"], "quantity": 1}], OK, wait=10)
            self.assertEqual((st, o["status"]), (201, "paid"), o)
            calls = rcv.wait_for(lambda cs: "order.paid" in types_of(cs), what="order.paid")
            self.assertIn("order.placed", types_of(calls))
            for c in calls:
                h, body = c["headers"], c["body"]
                self.assertTrue(h["x-serviceflow-event-type"].startswith("order."), h)  # stock/product not sent
                self.assertEqual(h["x-serviceflow-signature"], signature(sub["secret"], body))
                doc = json.loads(body)
                self.assertEqual(doc["subscription_id"], sub["id"])
                self.assertEqual(h["x-serviceflow-delivery"], doc["id"])
                self.assertEqual(h["x-serviceflow-event"], doc["event"]["id"])
                self.assertEqual(doc["event"]["type"], h["x-serviceflow-event-type"])
                self.assertEqual(doc["event"]["stream"], "order-" + o["id"])
                self.assertIsInstance(doc["event"]["position"], int)
                self.assertIn("at", doc["event"])
                self.assertIsInstance(doc["event"]["data"], dict)
                self.assertLess(abs(int(h["x-serviceflow-timestamp"]) - time.time()), 60)
                self.assertEqual(h["x-serviceflow-attempt"], "1")
            log = self.wait_log(sub["id"], lambda l: len(l) >= len(calls) and all(d["status"] == "delivered"
                                                                                   for d in l))
            self.assertEqual({d["id"] for d in log}, {json.loads(c["body"])["id"] for c in calls})
            self.assertTrue(all(d["last_status_code"] == 200 and d["attempts"] == 1 for d in log), log)
            self.assertEqual(self.deliveries(sub["id"], "dead"), [])
        finally:
            rcv.close()

    def test_patterns_and_only_events_after_the_subscription(self):
        rcv_all, rcv_prod, rcv_none = Receiver(), Receiver(), Receiver()
        try:
            staff = make_user(self.srv, "staff")["access_token"]
            before = self.product(staff, "before")
            s_all = self.subscribe(rcv_all.url, ["*"])
            s_prod = self.subscribe(rcv_prod.url, ["product.*", "nothing.here"])
            self.subscribe(rcv_none.url, ["product", "products.*", "*.nope"])
            p = self.product(staff, "after")
            rcv_prod.wait_for(lambda cs: len(cs) >= 1)
            calls = rcv_all.wait_for(lambda cs: "product.created" in types_of(cs))
            time.sleep(0.5)
            for rcv in (rcv_all, rcv_prod):
                created = [json.loads(c["body"]) for c in rcv.snapshot()
                           if c["headers"]["x-serviceflow-event-type"] == "product.created"]
                self.assertEqual([d["event"]["stream"] for d in created], ["product-" + p["id"]])  # not `before`
            self.assertEqual(rcv_none.snapshot(), [])
            self.assertIn("webhook.subscription_created", types_of(calls))  # its own kind is an event too
            self.assertNotIn(before["id"], json.dumps([json.loads(c["body"]) for c in rcv_all.snapshot()]))
            self.assertTrue(all(t.startswith("product.") for t in types_of(rcv_prod.snapshot())))
        finally:
            for r in (rcv_all, rcv_prod, rcv_none):
                r.close()

    def test_receiver_down_is_retried_with_jitter_then_delivered(self):
        rcv = Receiver(status=500)
        try:
            staff = make_user(self.srv, "staff")["access_token"]
            sub = self.subscribe(rcv.url, ["product.created"])
            self.product(staff)
            calls = rcv.wait_for(lambda cs: len(cs) >= 2)
            rcv.status = 200  # back up
            calls = rcv.wait_for(lambda cs: len(cs) >= 3)
            self.assertEqual([c["headers"]["x-serviceflow-attempt"] for c in calls], ["1", "2", "3"])
            self.assertEqual(len({c["headers"]["x-serviceflow-delivery"] for c in calls}), 1)
            self.assertEqual(len({c["body"] for c in calls}), 1)
            # backoff 100 ms then 200 ms, each plus up to as much again of jitter
            g1, g2 = calls[1]["at"] - calls[0]["at"], calls[2]["at"] - calls[1]["at"]
            self.assertGreaterEqual(g1, 0.08)
            self.assertGreaterEqual(g2, 0.18)
            self.assertLess(g1, 2.0)
            [d] = self.wait_log(sub["id"], lambda l: l and l[0]["status"] == "delivered")
            self.assertEqual((d["attempts"], d["last_status_code"], d["last_error"]), (3, 200, "HTTP 500"))
        finally:
            rcv.close()

    def test_dead_after_max_attempts_then_resend_delivers_under_the_same_id(self):
        rcv = Receiver(status=503)
        try:
            staff = make_user(self.srv, "staff")["access_token"]
            sub = self.subscribe(rcv.url, ["product.created"])
            self.product(staff)
            [d] = self.wait_log(sub["id"], lambda l: l and l[0]["status"] == "dead")
            self.assertEqual((d["attempts"], d["last_status_code"], d["next_attempt_at"]), (3, 503, None))
            self.assertEqual(len(rcv.snapshot()), 3)
            self.assertEqual([x["id"] for x in self.deliveries(sub["id"], "dead")], [d["id"]])
            self.assertEqual(self.deliveries(sub["id"], "pending"), [])
            rcv.status = 200
            st, _, b = req(self.srv, "POST", "/api/v1/webhooks/deliveries/%s/resend" % d["id"], token=self.admin)
            self.assertEqual((st, b["status"]), (202, "pending"), b)
            calls = rcv.wait_for(lambda cs: len(cs) >= 4)
            self.assertEqual(calls[3]["headers"]["x-serviceflow-delivery"], d["id"])
            self.assertEqual(calls[3]["headers"]["x-serviceflow-attempt"], "1")  # a new attempt sequence
            self.assertEqual(calls[3]["body"], calls[0]["body"])
            [d2] = self.wait_log(sub["id"], lambda l: l[0]["status"] == "delivered")
            self.assertEqual((d2["id"], d2["attempts"], d2["last_status_code"]), (d["id"], 1, 200))
            # delivered can be sent again too; unknown ids are 404
            st, _, _ = req(self.srv, "POST", "/api/v1/webhooks/deliveries/%s/resend" % d["id"], token=self.admin)
            self.assertEqual(st, 202)
            rcv.wait_for(lambda cs: len(cs) >= 5)
            st, _, b = req(self.srv, "POST", "/api/v1/webhooks/deliveries/whs_nope/resend", token=self.admin)
            self.assertEqual(st, 404, b)
        finally:
            rcv.close()

    def test_resend_of_a_dead_workflow_webhook(self):
        from test_workflows import publish
        rcv = Receiver(status=500)
        try:
            yaml = ("name: Resent\ntype: resent\ninitial: open\nstates:\n  open:\n"
                    "    on_enter: [{webhook: {url: '%s'}}]\n  closed: {final: true}\n"
                    "transitions:\n  - {action: close, from: open, to: closed}\n" % rcv.url)
            st, _, b = publish(self.srv, self.admin, yaml)
            self.assertEqual(st, 201, b)
            cust = register(self.srv)["access_token"]
            st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "resent", "title": "t", "data": {}},
                           token=cust)
            self.assertEqual(st, 201, r)
            path = "/api/v1/requests/%s/webhooks" % r["id"]
            deadline = time.time() + 15
            while time.time() < deadline:
                log = req(self.srv, "GET", path, token=self.admin)[2]["data"]
                if log and log[0]["status"] == "dead":
                    break
                time.sleep(0.05)
            [d] = log
            self.assertEqual((d["status"], d["attempts"], d["last_status_code"]), ("dead", 3, 500), d)
            rcv.status = 200
            st, _, b = req(self.srv, "POST", "/api/v1/webhooks/deliveries/%s/resend" % d["id"], token=self.admin)
            self.assertEqual(st, 202, b)
            calls = rcv.wait_for(lambda cs: len(cs) >= 4)
            self.assertEqual(len({c["headers"]["x-serviceflow-event"] for c in calls}), 1)
            self.assertEqual({c["headers"]["x-serviceflow-delivery"] for c in calls}, {d["id"]})
            self.assertEqual(calls[3]["body"], calls[0]["body"])
            deadline = time.time() + 10
            while time.time() < deadline:
                [d2] = req(self.srv, "GET", path, token=self.admin)[2]["data"]
                if d2["status"] == "delivered":
                    break
                time.sleep(0.05)
            self.assertEqual((d2["status"], d2["attempts"], d2["last_status_code"]), ("delivered", 1, 200), d2)
            evs = req(self.srv, "GET", "/api/v1/requests/%s/events" % r["id"], token=self.admin)[2]["data"]
            types = [e["type"] for e in evs]
            self.assertIn("request.webhook_failed", types)
            self.assertIn("request.webhook_delivered", types)
        finally:
            rcv.close()

    def test_resend_of_a_pending_delivery_is_409(self):
        rcv = Receiver()
        rcv.hang = threading.Event()
        try:
            staff = make_user(self.srv, "staff")["access_token"]
            sub = self.subscribe(rcv.url, ["product.created"])
            self.product(staff)
            rcv.wait_for(lambda cs: len(cs) >= 1)
            [d] = self.deliveries(sub["id"], "pending")
            st, h, b = req(self.srv, "POST", "/api/v1/webhooks/deliveries/%s/resend" % d["id"], token=self.admin)
            self.assertEqual(st, 409, b)
            self.assertEqual(h["content-type"], "application/problem+json")
            rcv.hang.set()
            self.wait_log(sub["id"], lambda l: l[0]["status"] == "delivered")
        finally:
            rcv.close()

    def test_patch_if_match_deactivate_and_delete(self):
        rcv, rcv2 = Receiver(), Receiver()
        try:
            staff = make_user(self.srv, "staff")["access_token"]
            sub = self.subscribe(rcv.url, ["product.created"])
            path = "/api/v1/webhooks/" + sub["id"]
            st, h, b = req(self.srv, "PATCH", path, {"url": rcv2.url, "events": ["product.*"]}, token=self.admin,
                           headers={"If-Match": '"1"'})
            self.assertEqual((st, b["version"], b["url"], b["events"]), (200, 2, rcv2.url, ["product.*"]), b)
            self.assertNotIn("secret", b)
            self.assertEqual(h["etag"], '"2"')
            st, _, b = req(self.srv, "PATCH", path, {"description": "x"}, token=self.admin, headers={"If-Match": '"1"'})
            self.assertEqual(st, 412, b)
            for bad in ({"url": "ftp://x/"}, {"events": []}, {"events": ["order.$"]}, {"active": "yes"},
                        {"url": "http://127.0.0.1:1/"} if False else {"events": [""]}):
                st, h, b = req(self.srv, "PATCH", path, bad, token=self.admin)
                self.assertEqual(st, 422, (bad, b))
                self.assertEqual(h["content-type"], "application/problem+json")
            st, _, b = req(self.srv, "GET", path, token=self.admin)
            self.assertEqual((b["version"], b["url"], b["events"]), (2, rcv2.url, ["product.*"]))
            self.product(staff)
            rcv2.wait_for(lambda cs: len(cs) >= 1)
            self.assertEqual(rcv.snapshot(), [])
            st, _, b = req(self.srv, "PATCH", path, {"active": False}, token=self.admin)
            self.assertEqual((st, b["active"]), (200, False))
            n = len(rcv2.snapshot())
            self.product(staff)
            time.sleep(0.7)
            self.assertEqual(len(rcv2.snapshot()), n)
            st, _, _ = req(self.srv, "DELETE", path, token=self.admin)
            self.assertEqual(st, 204)
            for p in (path, path + "/deliveries"):
                st, _, b = req(self.srv, "GET", p, token=self.admin)
                self.assertEqual(st, 404, b)
            st, _, _ = req(self.srv, "DELETE", path, token=self.admin)
            self.assertEqual(st, 404)
        finally:
            rcv.close()
            rcv2.close()

    def test_bad_input_is_422_and_creates_nothing(self):
        _, _, before = req(self.srv, "GET", "/api/v1/webhooks?limit=200", token=self.admin)
        for body in ({"url": "ftp://x.example/", "events": ["*"]}, {"url": "/relative", "events": ["*"]},
                     {"url": "http://", "events": ["*"]}, {"url": "http://ok.example/", "events": []},
                     {"url": "http://ok.example/", "events": ["order.*", "bad pattern"]},
                     {"url": "http://ok.example/", "events": "order.*"}, {"url": "http://ok.example/"},
                     {"url": "http://ok.example/", "events": ["*"], "secret": "mine"}):
            st, h, b = req(self.srv, "POST", "/api/v1/webhooks", body, token=self.admin)
            self.assertIn(st, (400, 422), (body, b))
            self.assertEqual(h["content-type"], "application/problem+json")
        _, _, after = req(self.srv, "GET", "/api/v1/webhooks?limit=200", token=self.admin)
        self.assertEqual(before["data"], after["data"])

    def test_secrets_are_shown_once_stored_sealed_and_rotate(self):
        rcv = Receiver()
        try:
            staff = make_user(self.srv, "staff")["access_token"]
            sub = self.subscribe(rcv.url, ["product.created"])
            st, _, lst = req(self.srv, "GET", "/api/v1/webhooks", token=self.admin)
            self.assertEqual(st, 200)
            self.assertIn(sub["id"], [s["id"] for s in lst["data"]])
            self.assertNotIn("secret", json.dumps(lst))
            self.assertNotIn(sub["secret"], json.dumps(lst))
            st, _, one = req(self.srv, "GET", "/api/v1/webhooks/" + sub["id"], token=self.admin)
            self.assertNotIn("secret", one)
            [(stored,)] = db_rows(self.srv, "SELECT secret FROM webhook_subscriptions WHERE id = ?", sub["id"])
            evs = db_rows(self.srv, "SELECT data FROM events WHERE stream = ?", "webhook-" + sub["id"])
            self.assertTrue(stored.startswith("v1."), stored)
            self.assertNotIn(sub["secret"], stored)
            self.assertNotIn(sub["secret"], json.dumps(evs))
            st, _, rot = req(self.srv, "POST", "/api/v1/webhooks/%s/secret" % sub["id"], token=self.admin)
            self.assertEqual(st, 200, rot)
            self.assertNotEqual(rot["secret"], sub["secret"])
            self.product(staff)
            [c] = rcv.wait_for(lambda cs: len(cs) >= 1)
            self.assertEqual(c["headers"]["x-serviceflow-signature"], signature(rot["secret"], c["body"]))
        finally:
            rcv.close()

    def test_only_admins(self):
        cust = register(self.srv)["access_token"]
        staff = make_user(self.srv, "staff")["access_token"]
        for tok in (cust, staff):
            for method, path, body in (("GET", "/api/v1/webhooks", None),
                                       ("POST", "/api/v1/webhooks", {"url": "http://x.example/", "events": ["*"]}),
                                       ("GET", "/api/v1/webhooks/whk_x", None),
                                       ("PATCH", "/api/v1/webhooks/whk_x", {"active": False}),
                                       ("DELETE", "/api/v1/webhooks/whk_x", None),
                                       ("POST", "/api/v1/webhooks/whk_x/secret", None),
                                       ("GET", "/api/v1/webhooks/whk_x/deliveries", None),
                                       ("POST", "/api/v1/webhooks/deliveries/whs_x/resend", None)):
                st, _, b = req(self.srv, method, path, body, token=tok)
                self.assertEqual(st, 403, (method, path, b))
        st, _, _ = req(self.srv, "GET", "/api/v1/webhooks")
        self.assertEqual(st, 401)


class Guard(Base):
    """No allow-list: private and loopback destinations are refused."""

    def test_private_destinations_are_refused_at_subscribe_time(self):
        for url in ("http://127.0.0.1:%d/x" % free_port(), "http://localhost:8080/", "http://10.1.2.3/",
                    "http://192.168.0.10/", "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data",
                    "http://100.64.0.1/", "http://0.0.0.0/", "http://[::1]/", "http://[fd00::1]/",
                    "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
                    "http://224.0.0.1/", "http://2130706433/", "http://0x7f.1/"):
            st, h, b = req(self.srv, "POST", "/api/v1/webhooks", {"url": url, "events": ["*"]}, token=self.admin)
            self.assertEqual(st, 422, (url, b))
            self.assertEqual([e["field"] for e in b["errors"]], ["url"], b)
        _, _, lst = req(self.srv, "GET", "/api/v1/webhooks", token=self.admin)
        self.assertEqual(lst["data"], [])
        # public addresses pass (nothing is sent: no event matches)
        b = self.subscribe("http://93.184.215.14/hook", ["no.such.event"])
        st, _, b2 = req(self.srv, "PATCH", "/api/v1/webhooks/" + b["id"], {"url": "http://127.0.0.1/"},
                        token=self.admin)
        self.assertEqual(st, 422, b2)
        req(self.srv, "DELETE", "/api/v1/webhooks/" + b["id"], token=self.admin)

    def test_workflow_webhooks_are_refused_at_connect_time(self):
        from test_workflows import publish
        rcv = Receiver()
        try:
            yaml = ("name: Guarded\ntype: guarded\ninitial: open\nstates:\n  open:\n"
                    "    on_enter: [{webhook: {url: '%s'}}]\n  closed: {final: true}\n"
                    "transitions:\n  - {action: close, from: open, to: closed}\n" % rcv.url)
            st, _, b = publish(self.srv, self.admin, yaml)
            self.assertEqual(st, 201, b)
            cust = register(self.srv)["access_token"]
            st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "guarded", "title": "t", "data": {}},
                           token=cust)
            self.assertEqual(st, 201, r)
            deadline = time.time() + 15
            while time.time() < deadline:
                _, _, log = req(self.srv, "GET", "/api/v1/requests/%s/webhooks" % r["id"], token=self.admin)
                if log["data"] and log["data"][0]["status"] == "dead":
                    break
                time.sleep(0.05)
            [d] = log["data"]
            self.assertEqual(d["status"], "dead", d)
            self.assertIn("destination refused: 127.0.0.1 is a loopback address", d["last_error"])
            self.assertEqual(rcv.snapshot(), [])  # never connected
        finally:
            rcv.close()


class Crash(Base):
    extra = [*WEBHOOK_ALLOW, "--webhook-backoff-ms", "200", "--webhook-max-attempts", "100"]

    def test_kill9_during_deliveries_loses_none(self):
        rcv = Receiver()
        try:
            sub = self.subscribe(rcv.url, ["order.*"])
            staff, products = setup_shop(self.srv, stock=1000, n=1)
            cust = register(self.srv)["access_token"]
            rcv.hang = threading.Event()  # the first call hangs: deliveries are in flight and queued
            for _ in range(8):
                st, _, o = place(self.srv, cust, [{"product_id": products[0]["id"], "quantity": 1}], OK, wait=10)
                self.assertEqual(st, 201, o)
            rcv.wait_for(lambda cs: len(cs) >= 1)
            self.srv.kill9()
            rcv.hang.set()
            rcv.hang = None
            self.srv.start()
            log = self.wait_log(sub["id"], lambda l: len(l) >= 16 and all(d["status"] == "delivered" for d in l),
                                timeout=30)
            seen = {}
            for c in rcv.snapshot():
                seen.setdefault(c["headers"]["x-serviceflow-delivery"], set()).add(c["body"])
            self.assertEqual(set(seen), {d["id"] for d in log})  # every delivery arrived, under its id
            self.assertTrue(all(len(bodies) == 1 for bodies in seen.values()))  # the same bytes each time
            self.assertGreater(len(rcv.snapshot()), len(seen))  # the calls cut by the kill were sent again
            self.assertGreaterEqual(len([d for d in log if d["event_type"] == "order.paid"]), 8)
        finally:
            rcv.close()


class LiveLog(Base):
    """The delivery log live (topic webhook_deliveries:<id>): each recorded
    attempt is an event of the subscription's stream, sent to the topic's
    subscribers with the fields GET .../deliveries then shows; authorization
    is that GET's; the attempts' own events are never fanned out."""
    extra = WEBHOOK_ALLOW

    def test_sse_and_websocket_see_each_attempt_as_the_get_shows_it(self):
        import asyncio
        import websockets
        from test_stream import SSE
        rcv, rcv_all = Receiver(status=500), Receiver()
        try:
            staff = make_user(self.srv, "staff")["access_token"]
            sub = self.subscribe(rcv.url, ["product.created"])
            s_all = self.subscribe(rcv_all.url, ["*"])  # would see the attempts' events were they fanned out
            topic = "webhook_deliveries:" + sub["id"]
            sse = SSE(self.srv, self.admin, topic)
            self.assertEqual(sse.status, 200, getattr(sse, "body", None))
            url = "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (self.srv.port, self.admin)

            async def ws_first_two():
                async with websockets.connect(url) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "topic": topic}))
                    ok = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    self.assertEqual(ok["type"], "subscribed", ok)
                    self.product(staff)
                    return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]

            got_ws = asyncio.run(ws_first_two())
            self.assertEqual([m["topic"] for m in got_ws], [topic] * 2)
            self.assertEqual([m["event"]["type"] for m in got_ws], ["webhook.delivery_attempted"] * 2)
            self.assertEqual([(m["event"]["data"]["status"], m["event"]["data"]["attempts"]) for m in got_ws],
                             [("pending", 1), ("pending", 2)])
            rcv.status = 200
            got = sse.events(3, timeout=15)
            sse.close()
            self.assertEqual([m["event"] for m in got], ["webhook.delivery_attempted"] * 3)
            data = [m["data"]["data"] for m in got]
            self.assertEqual([(d["status"], d["attempts"]) for d in data], [("pending", 1), ("pending", 2),
                                                                           ("delivered", 3)])
            self.assertIsNotNone(data[0]["next_attempt_at"])
            [row] = self.wait_log(sub["id"], lambda l: l and l[0]["status"] == "delivered")
            last = data[-1]
            for k in ("event_id", "event_type", "status", "attempts", "last_status_code", "next_attempt_at"):
                self.assertEqual(last[k], row[k], k)
            self.assertEqual((last["delivery_id"], last["subscription_id"]), (row["id"], sub["id"]))
            self.assertEqual([d["error"] for d in data], ["HTTP 500", "HTTP 500", None])  # each attempt's own
            # resume from the first message's position: the rest, no gap, no duplicate
            again = SSE(self.srv, self.admin, topic, last_id=got[0]["id"])
            self.assertEqual([m["id"] for m in again.events(2)], [m["id"] for m in got[1:]])
            again.close()
            # the log keeps them (the stream of the subscription), findable by type
            st, _, b = req(self.srv, "GET", "/api/v1/events?type=webhook.delivery_attempted&stream=webhook-" +
                           sub["id"], token=self.admin)
            self.assertEqual(st, 200, b)
            self.assertEqual([e["data"]["attempts"] for e in b["data"]], [3, 2, 1])
            time.sleep(0.3)
            self.assertNotIn("webhook.delivery_attempted", types_of(rcv_all.snapshot()))
            self.assertIn("product.created", types_of(rcv_all.snapshot()))
        finally:
            rcv.close()
            rcv_all.close()

    def test_authorization_is_the_deliveries_gets(self):
        import asyncio
        import websockets
        from test_stream import SSE
        rcv = Receiver()
        try:
            sub = self.subscribe(rcv.url, ["product.created"])
            staff = make_user(self.srv, "staff")["access_token"]
            cust = register(self.srv)["access_token"]
            for tok in (staff, cust):
                st, _, _ = req(self.srv, "GET", "/api/v1/webhooks/%s/deliveries" % sub["id"], token=tok)
                s = SSE(self.srv, tok, "webhook_deliveries:" + sub["id"])
                self.assertEqual((s.status, st), (403, 403), s.body)
                s.close()
            st, _, _ = req(self.srv, "GET", "/api/v1/webhooks/whk_nope/deliveries", token=self.admin)
            s = SSE(self.srv, self.admin, "webhook_deliveries:whk_nope")
            self.assertEqual((s.status, st), (404, 404), s.body)
            s.close()

            async def ws_codes():
                url = "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (self.srv.port, staff)
                async with websockets.connect(url) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "topic": "webhook_deliveries:" + sub["id"]}))
                    return json.loads(await asyncio.wait_for(ws.recv(), 10))

            err = asyncio.run(ws_codes())
            self.assertEqual((err["type"], err["problem"]["status"]), ("error", 403), err)
        finally:
            rcv.close()


if __name__ == "__main__":
    main()
