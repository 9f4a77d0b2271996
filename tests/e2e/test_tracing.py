"""W3C trace context: which traceparents are accepted (the W3C rules; anything
else starts a new trace), the trace id in the request log, and the trace
carried on to the payment provider (the http provider against fakepay.py).
Webhook deliveries carrying the trace: test_webhooks.py."""
import json, re, time, unittest
from sfharness import Server, req, register, main
from test_orders import FAST, OK, place, setup_shop
from test_payments_http import FakePay, http_args

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
VALID = "00-%s-%s-01" % (TRACE, SPAN)
FORMAT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")


def parts(tp):
    m = FORMAT.match(tp or "")
    assert m, tp
    assert m.group(1) != "0" * 32 and m.group(2) != "0" * 16, tp
    return m.group(1), m.group(2)


class Accepted(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--access-log", "1"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def trace_of(self, sent):
        st, h, _ = req(self.srv, "GET", "/healthz", headers={"traceparent": sent} if sent is not None else {})
        self.assertEqual(st, 200)
        return parts(h["traceparent"]), h["x-request-id"]

    def test_valid_traceparents_keep_the_trace(self):
        for sent in (VALID, "00-%s-%s-00" % (TRACE, SPAN),
                     "01-%s-%s-01-future-field" % (TRACE, SPAN),  # a later version: its first fields count
                     "cc-%s-%s-09" % (TRACE, SPAN)):
            (trace, span), _ = self.trace_of(sent)
            self.assertEqual(trace, TRACE, sent)
            self.assertNotEqual(span, SPAN, sent)  # our own span

    def test_sampled_flag_is_carried_on(self):
        st, h, _ = req(self.srv, "GET", "/healthz", headers={"traceparent": "00-%s-%s-00" % (TRACE, SPAN)})
        self.assertTrue(h["traceparent"].endswith("-00"))
        st, h, _ = req(self.srv, "GET", "/healthz", headers={"traceparent": "00-%s-%s-03" % (TRACE, SPAN)})
        self.assertTrue(h["traceparent"].endswith("-01"))  # unknown flag bits are not passed on

    def test_invalid_traceparents_start_a_new_trace(self):
        for sent in ("garbage", "", VALID.upper(), "ff-%s-%s-01" % (TRACE, SPAN),
                     "00-%s-%s-01" % ("0" * 32, SPAN), "00-%s-%s-01" % (TRACE, "0" * 16),
                     VALID + "-extra",  # version 00 is exactly 55 characters
                     "01-%s-%s-01x" % (TRACE, SPAN),  # a later version: a dash must follow
                     VALID[:-1], "00_%s-%s-01" % (TRACE, SPAN), "00-%s-%s-0g" % (TRACE, SPAN)):
            (trace, _), _ = self.trace_of(sent)
            self.assertNotEqual(trace, TRACE, sent)

    def test_request_log_carries_the_trace_id(self):
        _, rid = self.trace_of(VALID)
        (new_trace, _), rid2 = self.trace_of("garbage")
        deadline = time.time() + 5
        found = {}
        while time.time() < deadline and len(found) < 2:
            for line in self.srv.stderr().splitlines():
                if '"msg":"request"' in line:
                    j = json.loads(line)
                    if j.get("request_id") in (rid, rid2):
                        found[j["request_id"]] = j.get("trace_id")
            time.sleep(0.05)
        self.assertEqual(found, {rid: TRACE, rid2: new_trace})


class PaymentCalls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fp, cls.srv = FakePay(), None
        try:
            cls.srv = Server(FAST + http_args(cls.fp.port))
            cls.staff, cls.products = setup_shop(cls.srv, stock=50)
            cls.cust = register(cls.srv)["access_token"]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            cls.srv.close()
        cls.fp.stop()

    def test_provider_calls_continue_the_trace_of_the_request(self):
        items = [{"product_id": self.products[0]["id"], "quantity": 1}]
        st, h, o = req(self.srv, "POST", "/api/v1/orders", {"items": items, "payment": {"card_number": OK}},
                       token=self.cust, headers={"Prefer": "wait=10", "traceparent": VALID})
        self.assertEqual((st, o["status"]), (201, "paid"), o)
        _, our_span = parts(h["traceparent"])
        keys = self.fp.stats()["keys"]
        sent = keys[o["id"] + ":authorize"]["traceparents"] + keys[o["id"] + ":capture"]["traceparents"]
        self.assertEqual(len(sent), 2, keys)
        spans = set()
        for tp in sent:
            trace, span = parts(tp)
            self.assertEqual(trace, TRACE)
            self.assertNotIn(span, (SPAN, our_span))
            spans.add(span)
        self.assertEqual(len(spans), 2)  # a span per call
        # a refund asked for later, in another trace, continues that one
        other = "00-%s-%s-01" % ("a" * 32, "b" * 16)
        st, _, b = req(self.srv, "POST", "/api/v1/orders/%s/refunds" % o["id"], {"amount": 1},
                       token=self.staff, headers={"Prefer": "wait=10", "traceparent": other})
        self.assertEqual(st, 200, b)
        refunds = [v for k, v in self.fp.stats()["keys"].items() if k.startswith(o["id"] + ":refund")]
        self.assertEqual(len(refunds), 1)
        self.assertEqual(parts(refunds[0]["traceparents"][0])[0], "a" * 32)

    def test_an_order_without_a_caller_trace_still_sends_one_trace(self):
        st, h, o = place(self.srv, self.cust, [{"product_id": self.products[0]["id"], "quantity": 1}], wait=10)
        self.assertEqual(st, 201, o)
        ours, _ = parts(h["traceparent"])  # the trace the server started for the request
        keys = self.fp.stats()["keys"]
        for k in (":authorize", ":capture"):
            self.assertEqual(parts(keys[o["id"] + k]["traceparents"][0])[0], ours)


if __name__ == "__main__":
    main()
