"""The `http` payment provider against a fake external payment API (fakepay.py):
money moves once per idempotency key, declines map to the right failure
reasons, 5xx/timeouts are retried inside one saga step, a dead provider opens
the circuit breaker (new orders fail fast without a call), a half-open probe
closes it again, an authorization whose outcome the saga never learnt is voided
with the authorize's key once the provider answers again (never left to lapse),
void and refund retries are logged, refunds reach the provider's ledger, and a
bad provider configuration stops the server at startup."""
import http.client, json, os, re, shutil, subprocess, sys, tempfile, threading, time, unittest
from sfharness import BIN, FAST_HASH, HERE, Server, cli, free_port, req, register, main
from test_orders import DECLINED, FAST, NOFUNDS, OK, TRANSIENT, place, place_until_fault, setup_shop, stock_of

FAKEPAY = os.path.join(HERE, "fakepay.py")
COOLDOWN_S = 1.0


def http_args(port, threshold=3, retries=2):
    return ["--payment-provider", "http", "--payment-url", "http://127.0.0.1:%d" % port,
            "--payment-timeout-ms", "500", "--payment-retries", str(retries), "--payment-backoff-ms", "20",
            "--breaker-threshold", str(threshold), "--breaker-cooldown-ms", str(int(COOLDOWN_S * 1000))]


class FakePay:
    """fakepay.py in a subprocess, so that stopping it gives real connection refusals."""

    def __init__(self):
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        # stdin is a pipe fakepay watches: it exits with this process, even a killed one
        self.proc = subprocess.Popen([sys.executable, FAKEPAY, "--port", str(self.port), "--exit-on-eof"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            self.stop()
            raise RuntimeError("fakepay did not start: %r" % line)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc = None

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            out = json.loads(r.read())
            assert r.status == 200, (r.status, out)
            return out
        finally:
            c.close()

    def mode(self, mode, delay_ms=0, count=0, endpoint=None):
        self.call("POST", "/control/mode", {"mode": mode, "delay_ms": delay_ms, "count": count, "endpoint": endpoint})

    def stats(self):
        return self.call("GET", "/control/stats")


def metric(srv, name, **labels):
    """The value of one sample on /metrics, or None when it is absent."""
    st, _, text = req(srv, "GET", "/metrics")
    assert st == 200, text
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if not m:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(2))
    return None


def wait_for(pred, timeout):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def breaker_state(srv):
    return metric(srv, "sf_payment_breaker_state", provider="http")


def events(srv, token, oid):
    st, _, b = req(srv, "GET", "/api/v1/orders/%s/events" % oid, token=token)
    assert st == 200, b
    return b["data"]


class Base(unittest.TestCase):
    threshold, retries = 3, 2  # the breaker and the provider's own retries inside one saga step

    @classmethod
    def setUpClass(cls):
        cls.fp, cls.srv = FakePay(), None
        try:
            cls.srv = Server(FAST + http_args(cls.fp.port, cls.threshold, cls.retries))
            cls.staff, cls.products = setup_shop(cls.srv, stock=500)
            cls.cust = register(cls.srv)["access_token"]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            cls.srv.close()
        cls.fp.stop()

    def items(self, q=1, which=0):
        return [{"product_id": self.products[which]["id"], "quantity": q}]

    def types(self, oid):
        return [e["type"] for e in events(self.srv, self.cust, oid)]

    def poll(self, oid, done, timeout):
        """The order once done(order) holds, read every 0.2 s (no Prefer: wait)."""
        deadline = time.time() + timeout
        while True:
            st, _, o = req(self.srv, "GET", "/api/v1/orders/" + oid, token=self.cust)
            self.assertEqual(st, 200, o)
            if done(o) or time.time() > deadline:
                return o
            time.sleep(0.2)

    def retries_of(self, oid, step):
        return [e["data"] for e in events(self.srv, self.cust, oid)
                if e["type"] == "payment.retry_scheduled" and e["data"]["step"] == step]

    def assert_voided_at_provider(self, o):
        """Cancelled, settled, the authorization the provider made voided (never captured)."""
        self.assertEqual((o["status"], o["settled"], o["payment"]["status"], o["payment"]["captured"]),
                         ("cancelled", True, "voided", 0), o)
        s = self.fp.stats()
        ref = s["keys"][o["id"] + ":authorize"]["authorization"]
        self.assertEqual(s["auths"][ref], {"amount": o["total"], "currency": "EUR", "captured": 0,
                                           "refunded": 0, "voided": True})
        self.assertEqual(s["keys"][o["id"] + ":void"]["status"], 200)
        types = self.types(o["id"])
        self.assertEqual(types.count("payment.voided"), 1, types)
        self.assertEqual(types[-1], "payment.voided", types)
        self.assertNotIn("payment.captured", types)
        self.assertNotIn("payment.authorized", types)  # we never learnt it: voided by the authorize's key
        i = types.index("payment.failed")
        self.assertEqual(types[i:i + 3], ["payment.failed", "order.cancelled", "payment.void_pending"], types)
        return s

    def assert_paid_once(self, o):
        """The provider's ledger: one authorization of the total, captured once."""
        self.assertEqual((o["status"], o["payment"]["captured"]), ("paid", o["total"]), o)
        s = self.fp.stats()
        auth = s["keys"][o["id"] + ":authorize"]
        cap = s["keys"][o["id"] + ":capture"]
        self.assertEqual((auth["status"], cap["status"], cap["calls"]), (201, 200, 1), s["keys"])
        ref = auth["authorization"]
        self.assertEqual(s["auths"][ref], {"amount": o["total"], "currency": "EUR", "captured": o["total"],
                                           "refunded": 0, "voided": False})
        return s, ref


class HttpProvider(Base):
    def setUp(self):
        self.fp.mode("ok")
        self.assertEqual(breaker_state(self.srv), 0)

    def test_success_authorizes_and_captures_once(self):
        before = self.fp.stats()["totals"]
        st, h, o = place(self.srv, self.cust, self.items(2), wait=10)
        self.assertEqual(st, 201, o)
        self.assertEqual(h.get("preference-applied"), "wait")
        s, ref = self.assert_paid_once(o)
        self.assertEqual(s["keys"][o["id"] + ":authorize"]["calls"], 1)
        self.assertEqual(s["totals"]["authorized"] - before["authorized"], o["total"])
        self.assertEqual(s["totals"]["captured"] - before["captured"], o["total"])
        self.assertEqual(self.types(o["id"]), ["order.placed", "payment.authorized", "payment.captured", "order.paid"])
        self.assertGreaterEqual(metric(self.srv, "sf_payment_calls_total", provider="http", outcome="ok"), 2)

    def test_declined_and_insufficient_cancel_and_release_stock(self):
        pid = self.products[1]["id"]
        before = stock_of(self.srv, self.staff, pid)
        declined0 = metric(self.srv, "sf_payment_calls_total", provider="http", outcome="declined")
        for card, reason in ((DECLINED, "payment_declined"), (NOFUNDS, "insufficient_funds")):
            st, _, o = place(self.srv, self.cust, self.items(3, which=1), card=card, wait=10)
            self.assertEqual(st, 201, o)
            self.assertEqual((o["status"], o["failure_reason"], o["payment"]["status"]),
                             ("cancelled", reason, "failed"), o)
            self.assertEqual(self.types(o["id"]), ["order.placed", "payment.failed", "order.cancelled"])
            k = self.fp.stats()["keys"][o["id"] + ":authorize"]
            self.assertEqual((k["calls"], k["status"], k["authorization"]), (1, 402, None))
        after = stock_of(self.srv, self.staff, pid)
        self.assertEqual((after["on_hand"], after["reserved"]), (before["on_hand"], before["reserved"]))
        self.assertEqual(metric(self.srv, "sf_payment_calls_total", provider="http", outcome="declined"),
                         declined0 + 1)
        self.assertEqual(breaker_state(self.srv), 0)  # definite answers are not failures

    def test_5xx_then_heal_is_retried_and_captured_once(self):
        retries0 = metric(self.srv, "sf_payment_retries_total", provider="http")
        self.fp.mode("error500", count=2)  # two 500s, then the provider is healthy again
        st, _, o = place(self.srv, self.cust, self.items(1), wait=15)
        self.assertEqual(st, 201, o)
        s, _ = self.assert_paid_once(o)
        self.assertEqual(s["keys"][o["id"] + ":authorize"]["calls"], 3)
        # retried inside the provider call: the saga saw one success
        self.assertEqual(self.types(o["id"]), ["order.placed", "payment.authorized", "payment.captured", "order.paid"])
        self.assertGreaterEqual(metric(self.srv, "sf_payment_retries_total", provider="http"), retries0 + 2)
        self.assertEqual(breaker_state(self.srv), 0)
        # the provider's own transient test card (503 twice) heals the same way
        st, _, o = place(self.srv, self.cust, self.items(1), card=TRANSIENT, wait=15)
        s, _ = self.assert_paid_once(o)
        self.assertEqual(s["keys"][o["id"] + ":authorize"]["calls"], 3)

    def test_slow_answer_times_out_and_retry_finds_the_result(self):
        before = self.fp.stats()["totals"]
        self.fp.mode("slow", delay_ms=1500, count=1)  # the first call outlives the 500 ms timeout
        t0 = time.time()
        st, _, o = place(self.srv, self.cust, self.items(1), wait=15)
        self.assertGreaterEqual(time.time() - t0, 0.5)
        s, _ = self.assert_paid_once(o)
        # the provider did the work on the timed-out call; the retry got that result back
        self.assertEqual(s["keys"][o["id"] + ":authorize"]["calls"], 2)
        self.assertEqual(s["totals"]["authorized"] - before["authorized"], o["total"])
        self.assertEqual(s["totals"]["captured"] - before["captured"], o["total"])

    def test_authorize_answered_too_late_is_voided_once_the_provider_answers(self):
        """The provider authorizes, but its answers come too late and the circuit opens: the saga
        cannot know whether money is held. It cancels the order (the stock goes back at once) and
        voids with the authorize's key until the provider answers; only then is the order settled,
        and the provider shows the authorization voided, not left to lapse."""
        pid = self.products[0]["id"]
        before = stock_of(self.srv, self.staff, pid)
        self.fp.mode("slow", delay_ms=1500, count=3, endpoint="authorize")  # one saga attempt's three calls
        st, _, o = place(self.srv, self.cust, self.items(1))
        self.assertEqual(st, 201, o)
        o = self.poll(o["id"], lambda o: o["status"] != "pending", 20)
        self.assertEqual((o["status"], o["failure_reason"]), ("cancelled", "payment_unavailable"), o)
        after = stock_of(self.srv, self.staff, pid)
        self.assertEqual((after["on_hand"], after["reserved"]), (before["on_hand"], before["reserved"]))
        o = self.poll(o["id"], lambda o: o["settled"], 60)
        self.assert_voided_at_provider(o)
        self.assertEqual(o["failure_reason"], "payment_unavailable")
        self.assertEqual(breaker_state(self.srv), 0)  # the void's answer closed the circuit

    def test_capture_timing_out_is_retried_until_answered_never_voided(self):
        """The provider captures but every answer comes too late, past the saga's first five
        attempts (the breaker opens meanwhile): the money may have moved, so the saga keeps asking
        with the same key until the provider answers, and the order ends paid, captured once. It
        must not give up and void: the provider would refuse to void a captured authorization and
        the order would be cancelled with the money taken."""
        self.fp.mode("slow", delay_ms=1200, count=7, endpoint="capture")
        st, _, o = place(self.srv, self.cust, self.items(1), wait=1)
        self.assertEqual(st, 201, o)
        deadline = time.time() + 120
        while time.time() < deadline:
            st, _, o = req(self.srv, "GET", "/api/v1/orders/" + o["id"], token=self.cust)
            if o.get("settled"):
                break
            time.sleep(0.5)
        types = self.types(o["id"])
        self.assertNotIn("payment.voided", types)
        self.assertNotIn("order.cancelled", types)
        self.assertGreaterEqual(types.count("payment.retry_scheduled"), 4, types)
        self.assertEqual((o["status"], o["payment"]["captured"]), ("paid", o["total"]), (o, types))
        s = self.fp.stats()
        ref = s["keys"][o["id"] + ":authorize"]["authorization"]
        self.assertEqual(s["auths"][ref], {"amount": o["total"], "currency": "EUR", "captured": o["total"],
                                           "refunded": 0, "voided": False})

    def test_refunds_partial_and_full_reach_the_provider(self):
        st, _, o = place(self.srv, self.cust, self.items(2), wait=10)
        _, ref = self.assert_paid_once(o)
        oid, total = o["id"], o["total"]
        st, _, b = req(self.srv, "POST", "/api/v1/orders/%s/refunds" % oid, {"amount": 500},
                       token=self.staff, headers={"Prefer": "wait=10"})
        self.assertEqual(st, 200, b)
        self.assertEqual((b["payment"]["refunded"], b["payment"]["status"]), (500, "partially_refunded"), b)
        self.assertEqual(self.fp.stats()["auths"][ref]["refunded"], 500)
        st, _, b = req(self.srv, "POST", "/api/v1/orders/%s/refunds" % oid, token=self.staff,
                       headers={"Prefer": "wait=10"})
        self.assertEqual((st, b["status"], b["payment"]["refunded"]), (200, "refunded", total), b)
        s = self.fp.stats()
        self.assertEqual(s["auths"][ref], {"amount": total, "currency": "EUR", "captured": total,
                                           "refunded": total, "voided": False})
        refunds = {k: v for k, v in s["keys"].items() if k.startswith(oid + ":refund:")}
        self.assertEqual(sorted(v["calls"] for v in refunds.values()), [1, 1], refunds)


class Breaker(Base):
    def setUp(self):
        self.fp.mode("ok")
        self.assertEqual(breaker_state(self.srv), 0)

    def requests_total(self):
        return metric(self.srv, "sf_payment_requests_total", provider="http")

    def place_until(self, want, timeout=8):
        """Places orders (each waited for) until one ends `want`; returns it and the ones before."""
        deadline, failed = time.time() + timeout, []
        while time.time() < deadline:
            st, _, o = place(self.srv, self.cust, self.items(1), wait=10)
            self.assertEqual(st, 201, o)
            if o["status"] == want:
                return o, failed
            self.assertEqual((o["status"], o["failure_reason"]), ("cancelled", "payment_unavailable"), o)
            failed.append(o)
            time.sleep(0.1)
        self.fail("no order ended %s within %ss" % (want, timeout))

    def burst(self, n):
        """n orders placed at once (each waited for); returns them settled."""
        out, lock = [], threading.Lock()

        def one():
            st, _, o = place(self.srv, self.cust, self.items(1), wait=10)
            with lock:
                out.append(o)
        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(out), n)
        return out

    def recover(self):
        self.fp.mode("ok")
        o, _ = self.place_until("paid")
        self.assert_paid_once(o)
        self.assertEqual(breaker_state(self.srv), 0)

    def test_down_fails_fast_then_probe_closes_the_circuit(self):
        opened0 = metric(self.srv, "sf_payment_breaker_opened_total", provider="http")
        # 1. the provider drops every connection: three failed attempts open the circuit. Those
        # requests reached the provider, so the order is cancelled with a void pending (it is not
        # settled before the provider answers the void: step 4)
        self.fp.mode("down")
        st, _, a = place(self.srv, self.cust, self.items(1))
        a = self.poll(a["id"], lambda o: o["status"] != "pending", 15)
        self.assertEqual((a["status"], a["failure_reason"]), ("cancelled", "payment_unavailable"), a)
        self.assertGreaterEqual(self.fp.stats()["keys"][a["id"] + ":authorize"]["calls"], 3)
        self.assertIn("payment.retry_scheduled", self.types(a["id"]))
        self.assertIn("payment.void_pending", self.types(a["id"]))
        self.assertEqual(breaker_state(self.srv), 1)
        self.assertEqual(metric(self.srv, "sf_payment_breaker_opened_total", provider="http"), opened0 + 1)
        # 2. while open: cancelled at once, and the provider sees no call (order a's void retries
        # meanwhile, refused too, or a probe once the cooldown is over: left out of the counts)
        not_a = lambda s: sum(v["calls"] for k, v in s["keys"].items() if k != a["id"] + ":void")
        calls0 = not_a(self.fp.stats())
        unavailable0 = metric(self.srv, "sf_payment_calls_total", provider="http", outcome="unavailable")
        t0 = time.time()
        st, _, b = place(self.srv, self.cust, self.items(1), wait=10)
        self.assertLess(time.time() - t0, 1.0)
        self.assertEqual((b["status"], b["failure_reason"]), ("cancelled", "payment_unavailable"), b)
        self.assertEqual(self.types(b["id"]), ["order.placed", "payment.failed", "order.cancelled"])
        self.assertEqual(events(self.srv, self.cust, b["id"])[1]["data"]["outcome"], "provider_unavailable")
        self.assertEqual(not_a(self.fp.stats()), calls0)
        self.assertGreaterEqual(metric(self.srv, "sf_payment_calls_total", provider="http", outcome="unavailable"),
                                unavailable0 + 1)
        # 3. the provider process is gone (connection refused): after the cooldown
        # one probe goes out, fails, and the circuit opens again. Orders come in
        # bursts so that some may share a saga batch with the probe; however they
        # are batched, nothing but the probe is sent (tests/unit/pay_http_test.c
        # pins the one-batch case down).
        # (the probe may also be the pending void of order a: one probe all the same)
        self.fp.stop()
        requests0 = self.requests_total()
        opened1 = metric(self.srv, "sf_payment_breaker_opened_total", provider="http")
        deadline = time.time() + 8
        while self.requests_total() == requests0 and time.time() < deadline:
            for c in self.burst(6):
                self.assertEqual((c["status"], c["failure_reason"]), ("cancelled", "payment_unavailable"), c)
            time.sleep(0.1)
        self.assertEqual(self.requests_total(), requests0 + 1)  # exactly one probe, no retries of it
        self.assertTrue(wait_for(lambda: breaker_state(self.srv) == 1, 5))  # the probe may be a's void, not waited for
        self.assertTrue(wait_for(lambda: metric(self.srv, "sf_payment_breaker_opened_total", provider="http")
                                 == opened1 + 1, 5))
        # 4. the provider is back: orders fail fast until the cooldown ends, then
        # the probe succeeds, the circuit closes and orders are paid again
        self.fp.start()
        o, failed = self.place_until("paid")
        s, _ = self.assert_paid_once(o)
        # the probe's authorize and its capture, nothing else (but the void of order a, whenever it comes)
        other = {k: v for k, v in s["keys"].items() if k != a["id"] + ":void"}
        self.assertEqual(sum(v["calls"] for v in other.values()), 2, s["keys"])
        self.assertEqual(breaker_state(self.srv), 0)
        st, _, o2 = place(self.srv, self.cust, self.items(1), wait=10)
        self.assert_paid_once(o2)
        # order a: its void reached the (restarted) provider, which holds nothing for that key
        a = self.poll(a["id"], lambda o: o["settled"], 90)
        self.assertEqual((a["status"], a["settled"], a["payment"]["status"]), ("cancelled", True, "voided"), a)
        voided = [e for e in events(self.srv, self.cust, a["id"]) if e["type"] == "payment.voided"]
        self.assertEqual([e["data"]["outcome"] for e in voided], ["declined"], voided)
        self.assertEqual(self.fp.stats()["keys"][a["id"] + ":void"]["status"], 404)

    def test_slow_provider_times_out_and_opens_the_circuit(self):
        self.fp.mode("slow", delay_ms=1500)
        t0 = time.time()
        st, _, o = place(self.srv, self.cust, self.items(1))
        o = self.poll(o["id"], lambda o: o["status"] != "pending", 15)
        self.assertGreaterEqual(time.time() - t0, 1.5)  # three attempts of 500 ms each
        self.assertEqual((o["status"], o["failure_reason"]), ("cancelled", "payment_unavailable"), o)
        self.assertEqual(self.fp.stats()["keys"][o["id"] + ":authorize"]["calls"], 3)
        ev = events(self.srv, self.cust, o["id"])
        retry = [e for e in ev if e["type"] == "payment.retry_scheduled" and e["data"]["step"] == "authorize"]
        self.assertEqual(len(retry), 1, ev)
        self.assertIn("no answer within 500 ms", retry[0]["data"]["message"])
        self.assertIn("after 3 attempts", retry[0]["data"]["message"])
        self.assertEqual(breaker_state(self.srv), 1)
        self.recover()
        # the provider authorized on the first of those calls: voided once it answers again
        self.assert_voided_at_provider(self.poll(o["id"], lambda o: o["settled"], 60))


class UnknownAuthorization(Base):
    """The saga's own five authorize attempts, without the breaker in the way (it never opens
    here; one call per attempt): what it does when it gives up on an authorization whose outcome
    it never learnt, and how void and refund retries show in the order's events."""
    threshold, retries = 1000, 0

    def setUp(self):
        self.fp.mode("ok")

    def test_authorize_timing_out_five_times_is_voided(self):
        self.fp.mode("slow", delay_ms=1500, endpoint="authorize")  # authorized on the first call, always late
        st, _, o = place(self.srv, self.cust, self.items(1))
        self.assertEqual(st, 201, o)
        o = self.poll(o["id"], lambda o: o["settled"], 60)
        s = self.assert_voided_at_provider(o)
        self.assertEqual(o["failure_reason"], "payment_unavailable")
        self.assertEqual(s["keys"][o["id"] + ":authorize"]["calls"], 5)
        self.assertEqual(s["keys"][o["id"] + ":void"]["calls"], 1)
        self.assertEqual([r["attempt"] for r in self.retries_of(o["id"], "authorize")], [1, 2, 3, 4])
        failed = [e for e in events(self.srv, self.cust, o["id"]) if e["type"] == "payment.failed"]
        self.assertEqual(failed[0]["data"]["outcome"], "transient_error")
        rc, _, err = cli("verify", data_dir=self.srv.data_dir)  # the state rows follow from the events
        self.assertEqual(rc, 0, err)

    def test_void_failing_transiently_is_retried_and_voided_once(self):
        self.fp.mode("slow", delay_ms=1500, endpoint="authorize")
        self.fp.mode("error500", count=3, endpoint="void")
        st, _, o = place(self.srv, self.cust, self.items(1))
        o = self.poll(o["id"], lambda o: o["settled"], 60)
        s = self.assert_voided_at_provider(o)
        self.assertEqual(s["keys"][o["id"] + ":void"]["calls"], 4)  # one key: three 500s, then the answer
        retries = self.retries_of(o["id"], "void")
        self.assertEqual([r["attempt"] for r in retries], [1, 2, 3], retries)
        self.assertIn("HTTP 500", retries[0]["message"])

    def test_void_of_an_authorization_that_never_arrived_closes_its_key(self):
        """The authorize requests never reached the ledger (dropped connections): the void finds
        nothing under the key, says so definitively, and an authorize arriving late with that key
        is declined, so nothing can be authorized after the saga settled."""
        self.fp.mode("down", endpoint="authorize")
        st, _, o = place(self.srv, self.cust, self.items(1))
        o = self.poll(o["id"], lambda o: o["settled"], 60)
        self.assertEqual((o["status"], o["failure_reason"], o["payment"]["status"]),
                         ("cancelled", "payment_unavailable", "voided"), o)
        s = self.fp.stats()
        self.assertEqual((s["keys"][o["id"] + ":void"]["status"], s["keys"][o["id"] + ":authorize"]["status"]),
                         (404, 402), s["keys"])
        voided = [e for e in events(self.srv, self.cust, o["id"]) if e["type"] == "payment.voided"]
        self.assertEqual([e["data"]["outcome"] for e in voided], ["declined"])
        self.fp.mode("ok")
        c = http.client.HTTPConnection("127.0.0.1", self.fp.port, timeout=10)
        try:
            c.request("POST", "/v1/authorize", body=json.dumps({"amount": 100, "currency": "EUR",
                                                                 "card_number": OK}),
                      headers={"Content-Type": "application/json", "Idempotency-Key": o["id"] + ":authorize"})
            r = c.getresponse()
            self.assertEqual((r.status, json.loads(r.read())["status"]), (402, "declined"))
        finally:
            c.close()

    def test_refund_retries_are_logged(self):
        st, _, o = place(self.srv, self.cust, self.items(2), wait=10)
        self.assert_paid_once(o)
        self.fp.mode("error500", count=2, endpoint="refund")
        st, _, b = req(self.srv, "POST", "/api/v1/orders/%s/refunds" % o["id"], token=self.staff,
                       headers={"Prefer": "wait=15"})
        self.assertEqual((st, b["status"], b["payment"]["refunded"]), (200, "refunded", o["total"]), b)
        self.assertEqual([r["attempt"] for r in self.retries_of(o["id"], "refund")], [1, 2])


class Resumed(unittest.TestCase):
    """The process dies after the provider authorized and captured, before it recorded either, and
    comes back to a provider that fails for a while. Its resumed saga cannot tell what the dead run
    did, and a void cannot release a capture: it asks again with the same keys until the provider
    answers, and the order ends paid with the money taken once (never cancelled on a guess with the
    money taken, never voided)."""

    def test_resumed_authorize_is_asked_again_until_answered(self):
        fp, srv = FakePay(), None
        try:
            srv = Server(FAST + http_args(fp.port))
            staff, products = setup_shop(srv, stock=50, n=1)
            cust = register(srv)["access_token"]
            srv.stop()
            o = place_until_fault(self, srv, cust, products[0]["id"], "after_provider_capture")
            fp.mode("down", count=5)  # the first saga attempt's three calls, then two probes
            srv.start()
            deadline, o2 = time.time() + 90, None
            while time.time() < deadline:
                st, _, o2 = req(srv, "GET", "/api/v1/orders/" + o["id"], token=cust)
                if o2["settled"]:
                    break
                time.sleep(0.2)
            types = [e["type"] for e in events(srv, cust, o["id"])]
            self.assertEqual((o2["status"], o2["payment"]["captured"]), ("paid", o2["total"]), (o2, types))
            self.assertNotIn("order.cancelled", types)
            self.assertIn("payment.retry_scheduled", types)  # the provider did fail meanwhile
            s = fp.stats()
            ref = s["keys"][o["id"] + ":authorize"]["authorization"]
            self.assertEqual(s["auths"][ref], {"amount": o2["total"], "currency": "EUR", "captured": o2["total"],
                                               "refunded": 0, "voided": False})
            self.assertNotIn(o["id"] + ":void", s["keys"])
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertEqual(rc, 0, err)
        finally:
            if srv:
                srv.close()
            fp.stop()


class StartupConfig(unittest.TestCase):
    def serve_fails(self, *args):
        d = tempfile.mkdtemp(prefix="sf-e2e-")
        try:
            rc, _, err = cli("migrate", data_dir=d)
            self.assertEqual(rc, 0, err)
            p = subprocess.run([BIN, "serve", "--data-dir", d, "--port", str(free_port()), "--bind", "127.0.0.1",
                                *FAST_HASH, *args], capture_output=True, text=True, timeout=20)
            self.assertNotEqual(p.returncode, 0)
            return p.stderr
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_bad_provider_settings_stop_the_server(self):
        err = self.serve_fails("--payment-provider", "bogus")
        self.assertRegex(err, r"payment_provider: must be \"sandbox\" or \"http\"")
        err = self.serve_fails("--payment-provider", "http")
        self.assertRegex(err, r"payment_url: is required")
        err = self.serve_fails("--payment-provider", "http", "--payment-url", "ftp://127.0.0.1:1")
        self.assertRegex(err, r"payment_url: must start with http:// or https://")


if __name__ == "__main__":
    main()
