"""E-mail: messages rendered from templates and sent over SMTP to a real
server (Debian's python3-aiosmtpd on a loopback port), with a stable
Message-ID across retries, backoff while the server is down, dead letters
and their resend; the dev mailbox when no SMTP server is configured; the
admin API of templates (edit, reset, preview, 422 for a template that does
not parse, 403 for others than admins).

Messages are queued through POST /api/v1/_test/mail (serviceflow-testclock
only), which calls sf_mail_queue as a service would."""
import asyncio, email, email.policy, logging, os, shutil, ssl, subprocess, tempfile, threading, time, unittest
import warnings
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sfharness import Server, TESTCLOCK_BIN, req, make_user, free_port, assert_problem, main

# aiosmtpd warns that AUTH without TLS is unsafe: this one is a loopback test server
warnings.filterwarnings("ignore", message="Requiring AUTH")
logging.getLogger("mail.log").setLevel(logging.CRITICAL)

SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret-pass"
KINDS = ["request.notify", "approval.requested", "approval.decided", "sla.warning", "sla.breached",
         "request.commented", "request.assigned", "order.placed", "order.paid", "order.cancelled",
         "order.shipped", "order.delivered", "order.refunded", "stock.low", "account.verify_email",
         "account.password_reset", "account.password_changed"]


class Sink:
    """Records every message the SMTP server accepted; refuses recipients
    listed in `refuse` with 550."""

    def __init__(self):
        self.lock = threading.Lock()
        self.got = []  # (envelope from, rcpts, parsed message, raw bytes)
        self.refuse = set()
        self.hold = 0  # seconds to wait after taking a message, before its 250
        self.tls = []  # per message taken: did it come over TLS

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.got.append((envelope.mail_from, list(envelope.rcpt_tos), msg, envelope.content))
            self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        if self.hold:
            await asyncio.sleep(self.hold)
        return "250 2.0.0 queued"

    def by_message_id(self, mid):
        with self.lock:
            return [g for g in self.got if g[2]["Message-ID"] == mid]


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


class SmtpServer:
    """aiosmtpd on a fixed loopback port, started and stopped at will (the
    same port each time, so the service's smtp_url stays right)."""

    def __init__(self, port, sink, auth=False, **tls):
        self.port, self.sink, self.auth, self.tls, self.ctl = port, sink, auth, tls, None

    def start(self):
        kw = dict(authenticator=authenticate, auth_required=True, auth_require_tls=False) if self.auth else {}
        self.ctl = Controller(self.sink, hostname="127.0.0.1", port=self.port, **kw, **self.tls)
        self.ctl.start()

    def stop(self):
        if self.ctl:
            self.ctl.stop()
            self.ctl = None


def wait_for(fn, timeout=15, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def queue(srv, token, **body):
    st, h, b = req(srv, "POST", "/api/v1/_test/mail", body, token=token)
    assert st == 201, (st, b)
    return b


def message(srv, token, mid):
    st, _, b = req(srv, "GET", "/api/v1/mail/messages/" + mid, token=token)
    assert st == 200, (st, b)
    return b


def wait_status(srv, token, mid, status, timeout=15):
    return wait_for(lambda: (lambda m: m if m["status"] == status else None)(message(srv, token, mid)), timeout)


ORDER_VARS = {"order": {"id": "ord_42", "total": "12.50", "currency": "EUR"}}


class DevMailbox(unittest.TestCase):
    """No smtp_url (make run's default): messages are kept and readable."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(bin=TESTCLOCK_BIN, extra_args=["--app-url", "https://shop.example/"])
        cls.admin = make_user(cls.srv, "admin")["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_kept_and_listed(self):
        m = queue(self.srv, self.admin, id="dev-1", kind="order.paid", to="ann@example.com", to_name="Ann",
                  vars=ORDER_VARS)
        self.assertEqual(m["status"], "kept")
        self.assertEqual(m["message_id"], "<dev-1@shop.example>")
        self.assertIn("ord_42", m["subject"])
        self.assertIn("https://shop.example/orders/ord_42", m["text"])
        self.assertIn('href="https://shop.example/orders/ord_42"', m["html"])
        self.assertIn("12.50 EUR", m["text"])
        # the same id again: the first message stands
        again = queue(self.srv, self.admin, id="dev-1", kind="order.shipped", to="bob@example.com", vars={})
        self.assertEqual((again["kind"], again["to"]), ("order.paid", "ann@example.com"))
        st, _, b = req(self.srv, "GET", "/api/v1/mail/messages?status=kept", token=self.admin)
        self.assertEqual(st, 200, b)
        self.assertEqual([x["id"] for x in b["data"]].count("dev-1"), 1)
        self.assertNotIn("text", b["data"][0])  # bodies only on the message itself
        # one info line per kept message, for the developer
        line = wait_for(lambda: [l for l in self.srv.stderr().splitlines() if "dev mailbox" in l and "dev-1" in l])
        self.assertTrue(line and "order.paid" in line[0] and "ann@example.com" in line[0], line)
        # resend of a kept message: queued again, and kept again (still no SMTP server)
        st, h, b = req(self.srv, "POST", "/api/v1/mail/messages/dev-1/resend", token=self.admin)
        self.assertEqual((st, b["message_id"]), (200, "<dev-1@shop.example>"), b)
        self.assertTrue(wait_status(self.srv, self.admin, "dev-1", "kept"))
        self.assertTrue(wait_for(lambda: len([l for l in self.srv.stderr().splitlines()
                                              if "dev mailbox" in l and "dev-1" in l]) == 2))
        st, h, b = req(self.srv, "POST", "/api/v1/mail/messages/nope/resend", token=self.admin)
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "GET", "/api/v1/mail/messages/nope", token=self.admin)
        assert_problem(self, st, h, b, 404)

    def test_list_pages_and_filters(self):
        for i in range(5):
            queue(self.srv, self.admin, id="page-%d" % i, kind="stock.low", to="staff@example.com",
                  vars={"product": {"id": "p%d" % i, "name": "Widget"}, "stock": {"available": i}})
        seen, cursor = [], None
        while True:
            path = "/api/v1/mail/messages?limit=2" + ("&cursor=" + cursor if cursor else "")
            st, _, b = req(self.srv, "GET", path, token=self.admin)
            self.assertEqual(st, 200, b)
            seen += [x["id"] for x in b["data"]]
            cursor = b["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), len(set(seen)))
        self.assertTrue({"page-%d" % i for i in range(5)} <= set(seen))
        st, _, b = req(self.srv, "GET", "/api/v1/mail/messages?status=sent", token=self.admin)
        self.assertEqual((st, b["data"]), (200, []))
        st, h, b = req(self.srv, "GET", "/api/v1/mail/messages?status=lost", token=self.admin)
        assert_problem(self, st, h, b, 422, field="status")
        st, h, b = req(self.srv, "GET", "/api/v1/mail/messages?cursor=garbage", token=self.admin)
        assert_problem(self, st, h, b, 422, field="cursor")

    def test_send_route(self):
        st, _, m = req(self.srv, "POST", "/api/v1/mail/templates/account.verify_email/send",
                       {"to": "new@example.com", "vars": {"link": "https://shop.example/verify?t=1"}}, token=self.admin)
        self.assertEqual((st, m["kind"], m["status"]), (201, "account.verify_email", "kept"), m)
        self.assertIn("https://shop.example/verify?t=1", m["text"])
        st, h, b = req(self.srv, "POST", "/api/v1/mail/templates/nope/send", {"to": "a@b.c"}, token=self.admin)
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "POST", "/api/v1/mail/templates/order.paid/send", {"to": "nobody"}, token=self.admin)
        assert_problem(self, st, h, b, 422, field="to")

    def test_bad_queue_input(self):
        st, h, b = req(self.srv, "POST", "/api/v1/_test/mail", {"kind": "order.nope", "to": "a@b.c"},
                       token=self.admin)
        assert_problem(self, st, h, b, 422, field="kind")
        st, h, b = req(self.srv, "POST", "/api/v1/_test/mail", {"kind": "order.paid", "to": "a@b.c\r\nRCPT TO:<x@y>"},
                       token=self.admin)
        assert_problem(self, st, h, b, 422, field="to")

    def test_templates_api(self):
        st, _, b = req(self.srv, "GET", "/api/v1/mail/templates", token=self.admin)
        self.assertEqual(st, 200, b)
        self.assertEqual([t["kind"] for t in b["data"]], KINDS)
        st, h, cur = req(self.srv, "GET", "/api/v1/mail/templates/order.shipped", token=self.admin)
        self.assertEqual((st, cur["customized"], h.get("etag")), (200, False, '"%d"' % cur["version"]))
        v = cur["version"]
        # a template that does not parse: 422, nothing changes
        for bad in ({"subject": "Shipped {{order.id", "text": "t", "html": "h"},
                    {"subject": "s", "text": "{{#if x}}never closed", "html": "h"},
                    {"subject": "s", "text": "t", "html": "{{/if}}"}):
            st, h, b = req(self.srv, "PUT", "/api/v1/mail/templates/order.shipped", bad, token=self.admin)
            assert_problem(self, st, h, b, 422)
        st, h, b = req(self.srv, "PUT", "/api/v1/mail/templates/order.shipped", {"subject": "s"}, token=self.admin)
        assert_problem(self, st, h, b, 422)
        st, _, same = req(self.srv, "GET", "/api/v1/mail/templates/order.shipped", token=self.admin)
        self.assertEqual(same, cur)
        # an edit changes the next mail
        new = {"subject": "Parcel {{order.id}} left us", "text": "Track {{tracking}} at {{app.url}}",
               "html": "<p>Track <b>{{tracking}}</b></p>"}
        st, h, b = req(self.srv, "PUT", "/api/v1/mail/templates/order.shipped", new, token=self.admin,
                       headers={"If-Match": '"%d"' % (v + 5)})
        assert_problem(self, st, h, b, 412)
        st, h, b = req(self.srv, "PUT", "/api/v1/mail/templates/order.shipped", new, token=self.admin,
                       headers={"If-Match": '"%d"' % v})
        self.assertEqual((st, b["customized"], b["version"], h.get("etag")), (200, True, v + 1, '"%d"' % (v + 1)), b)
        m = queue(self.srv, self.admin, id="tpl-1", kind="order.shipped", to="c@example.com",
                  vars={"order": {"id": "o7"}, "tracking": "<TR-1>"})
        self.assertEqual(m["subject"], "Parcel o7 left us")
        self.assertEqual(m["text"], "Track <TR-1> at https://shop.example")
        self.assertEqual(m["html"], "<p>Track <b>&lt;TR-1&gt;</b></p>")
        # preview: the stored template, or a draft, with vars; nothing stored
        st, _, p = req(self.srv, "POST", "/api/v1/mail/templates/order.shipped/preview",
                       {"vars": {"order": {"id": "o8"}}}, token=self.admin)
        self.assertEqual((st, p["subject"]), (200, "Parcel o8 left us"))
        st, _, p = req(self.srv, "POST", "/api/v1/mail/templates/order.shipped/preview",
                       {"subject": "Draft {{x}}", "vars": {"x": 1}}, token=self.admin)
        self.assertEqual((st, p["subject"]), (200, "Draft 1"))
        st, h, b = req(self.srv, "POST", "/api/v1/mail/templates/order.shipped/preview", {"text": "{{oops"},
                       token=self.admin)
        assert_problem(self, st, h, b, 422, field="text")
        # DELETE: back to the default, and the next mail is the default again
        st, h, b = req(self.srv, "DELETE", "/api/v1/mail/templates/order.shipped", token=self.admin)
        self.assertEqual((st, b["customized"], b["subject"]), (200, False, cur["subject"]), b)
        self.assertEqual(b["version"], v + 2)
        m = queue(self.srv, self.admin, id="tpl-2", kind="order.shipped", to="c@example.com",
                  vars={"order": {"id": "o9"}, "tracking": "TR-2"})
        self.assertIn("o9", m["subject"])
        self.assertIn("TR-2", m["text"])
        self.assertIn("https://shop.example/orders/o9", m["text"])
        for method, path in (("GET", "/api/v1/mail/templates/nope"), ("PUT", "/api/v1/mail/templates/nope"),
                             ("DELETE", "/api/v1/mail/templates/nope")):
            st, h, b = req(self.srv, method, path, new if method == "PUT" else None, token=self.admin)
            assert_problem(self, st, h, b, 404)

    def test_only_admins(self):
        for role in ("staff", "customer", "approver"):
            tok = make_user(self.srv, role)["access_token"]
            for method, path, body in (("GET", "/api/v1/mail/templates", None),
                                       ("PUT", "/api/v1/mail/templates/order.paid",
                                        {"subject": "x", "text": "x", "html": "x"}),
                                       ("DELETE", "/api/v1/mail/templates/order.paid", None),
                                       ("GET", "/api/v1/mail/messages", None),
                                       ("POST", "/api/v1/mail/messages/x/resend", None)):
                st, h, b = req(self.srv, method, path, body, token=tok)
                assert_problem(self, st, h, b, 403)
        st, h, b = req(self.srv, "GET", "/api/v1/mail/messages")
        assert_problem(self, st, h, b, 401)
        st, _, t = req(self.srv, "GET", "/api/v1/mail/templates/order.paid", token=self.admin)
        self.assertFalse(t["customized"])


class Smtp(unittest.TestCase):
    """A real SMTP server (with AUTH) that is up, down, or refusing."""

    @classmethod
    def setUpClass(cls):
        cls.sink = Sink()
        cls.smtp_port = free_port()
        cls.smtp = SmtpServer(cls.smtp_port, cls.sink, auth=True)
        cls.smtp.start()
        cls.srv = Server(bin=TESTCLOCK_BIN, extra_args=[
            "--smtp-url", "smtp://127.0.0.1:%d" % cls.smtp_port, "--smtp-user", SMTP_USER,
            "--smtp-password", SMTP_PASSWORD, "--smtp-from", "Shöp Team <shop@mail.example>",
            "--app-url", "https://shop.example", "--app-name", "Shop",
            "--mail-backoff-ms", "50", "--mail-max-attempts", "12", "--smtp-timeout-ms", "3000"])
        cls.admin = make_user(cls.srv, "admin")["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.smtp.stop()

    def setUp(self):
        if not self.smtp.ctl:
            self.smtp.start()

    def test_delivered_with_headers_and_bodies(self):
        m = queue(self.srv, self.admin, id="ntf_paid_1", kind="order.paid", to="ann@example.com",
                  to_name="Ann Öberg", vars=ORDER_VARS)
        self.assertEqual((m["status"], m["message_id"]), ("pending", "<ntf_paid_1@mail.example>"))
        sent = wait_status(self.srv, self.admin, "ntf_paid_1", "sent")
        self.assertTrue(sent, message(self.srv, self.admin, "ntf_paid_1"))
        self.assertEqual(sent["attempts"], 1)
        self.assertIsNotNone(sent["sent_at"])
        got = self.sink.by_message_id("<ntf_paid_1@mail.example>")
        self.assertEqual(len(got), 1)
        env_from, rcpts, msg, raw = got[0]
        self.assertEqual((env_from, rcpts), ("shop@mail.example", ["ann@example.com"]))
        self.assertEqual(str(msg["Subject"]), "[Shop] Payment received for order ord_42")
        self.assertEqual(msg["From"].addresses[0].display_name, "Shöp Team")
        self.assertEqual(msg["From"].addresses[0].addr_spec, "shop@mail.example")
        self.assertEqual(msg["To"].addresses[0].display_name, "Ann Öberg")
        self.assertEqual(msg["X-ServiceFlow-Kind"], "order.paid")
        self.assertEqual(msg["MIME-Version"], "1.0")
        self.assertEqual(msg["Auto-Submitted"], "auto-generated")
        self.assertIsNotNone(msg["Date"])
        self.assertEqual(msg.get_content_type(), "multipart/alternative")
        parts = [p.get_content_type() for p in msg.iter_parts()]
        self.assertEqual(parts, ["text/plain", "text/html"])
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        self.assertIn("Hello Ann Öberg", text)
        self.assertIn("Total paid: 12.50 EUR", text)
        self.assertIn("https://shop.example/orders/ord_42", text)
        self.assertIn('href="https://shop.example/orders/ord_42"', html)
        self.assertEqual(text.replace("\r\n", "\n"), sent["text"])
        for line in raw.split(b"\r\n"):
            self.assertLessEqual(len(line), 998)

    def test_non_ascii_subject_and_escaped_html(self):
        vars = {"request": {"id": "req_9", "title": "Zugang für Jürgen <admin>", "type": "access"},
                "level": 2, "requester": {"name": "Jürgen"}}
        queue(self.srv, self.admin, id="appr-1", kind="approval.requested", to="boss@example.com", vars=vars)
        self.assertTrue(wait_status(self.srv, self.admin, "appr-1", "sent"))
        _, _, msg, raw = self.sink.by_message_id("<appr-1@mail.example>")[0]
        self.assertIn(b"=?UTF-8?B?", raw.split(b"\r\n\r\n")[0])  # RFC 2047 in the header block
        self.assertEqual(str(msg["Subject"]), "[Shop] Approval needed: Zugang für Jürgen <admin>")
        html = msg.get_body(("html",)).get_content()
        self.assertIn("Zugang für Jürgen &lt;admin&gt;", html)
        self.assertIn("https://shop.example/requests/req_9", html)
        self.assertIn("level 2", msg.get_body(("plain",)).get_content())
        # a line of a single dot (SMTP's end of data) and long lines arrive whole
        note = "first\n.\n..two dots\n" + "x" * 300
        queue(self.srv, self.admin, id="dots-1", kind="request.notify", to="boss@example.com",
              vars={"request": {"id": "req_1", "title": "T", "type": "it"}, "message": note})
        self.assertTrue(wait_status(self.srv, self.admin, "dots-1", "sent"))
        _, _, msg, raw = self.sink.by_message_id("<dots-1@mail.example>")[0]
        self.assertIn(note, msg.get_body(("plain",)).get_content().replace("\r\n", "\n"))

    def test_down_then_back_same_message_id(self):
        self.smtp.stop()
        queue(self.srv, self.admin, id="retry-1", kind="account.password_reset", to="dan@example.com",
              vars={"link": "https://shop.example/reset?token=abc", "expires_in": "1 hour"})
        failed = wait_for(lambda: (lambda m: m if m["attempts"] >= 2 else None)(
            message(self.srv, self.admin, "retry-1")))
        self.assertTrue(failed)
        self.assertEqual(failed["status"], "pending")
        self.assertTrue(failed["last_error"])
        self.assertIsNotNone(failed["next_attempt_at"])
        self.smtp.start()
        sent = wait_status(self.srv, self.admin, "retry-1", "sent", timeout=30)
        self.assertTrue(sent, message(self.srv, self.admin, "retry-1"))
        self.assertGreaterEqual(sent["attempts"], 3)
        got = self.sink.by_message_id("<retry-1@mail.example>")
        self.assertEqual(len(got), 1)
        self.assertIn("https://shop.example/reset?token=abc", got[0][2].get_body(("plain",)).get_content())

    def test_refused_recipient_is_dead_then_resent(self):
        self.sink.refuse.add("gone@example.com")
        queue(self.srv, self.admin, id="dead-1", kind="order.cancelled", to="gone@example.com",
              vars={"order": {"id": "o1"}, "reason": "out of stock"})
        dead = wait_status(self.srv, self.admin, "dead-1", "dead")
        self.assertTrue(dead, message(self.srv, self.admin, "dead-1"))
        self.assertEqual(dead["attempts"], 1)  # a 5xx refusal is final
        self.assertIn("550", dead["last_error"])
        self.sink.refuse.discard("gone@example.com")
        st, _, b = req(self.srv, "POST", "/api/v1/mail/messages/dead-1/resend", token=self.admin)
        self.assertEqual((st, b["status"], b["attempts"]), (200, "pending", 0), b)
        sent = wait_status(self.srv, self.admin, "dead-1", "sent")
        self.assertTrue(sent)
        self.assertEqual(sent["message_id"], dead["message_id"])
        got = self.sink.by_message_id("<dead-1@mail.example>")
        self.assertEqual(len(got), 1)
        self.assertIn("Reason: out of stock", got[0][2].get_body(("plain",)).get_content())


    def test_pending_across_a_restart(self):
        self.smtp.stop()
        queue(self.srv, self.admin, id="restart-1", kind="order.delivered", to="eve@example.com",
              vars={"order": {"id": "o5"}})
        self.srv.stop()
        self.smtp.start()
        self.srv.start()
        sent = wait_status(self.srv, self.admin, "restart-1", "sent")
        self.assertTrue(sent, message(self.srv, self.admin, "restart-1"))
        self.assertEqual(len(self.sink.by_message_id(sent["message_id"])), 1)


class DeadAfterMaxAttempts(unittest.TestCase):
    """SMTP down for every attempt: dead after mail_max_attempts; once the
    server is back, resend delivers it with the same Message-ID."""

    def test_dead_resend_and_restart(self):
        sink, port = Sink(), free_port()
        smtp = SmtpServer(port, sink)
        srv = Server(bin=TESTCLOCK_BIN, extra_args=["--smtp-url", "smtp://127.0.0.1:%d" % port, "--smtp-tls", "none",
                                                    "--mail-backoff-ms", "20", "--mail-max-attempts", "3"])
        try:
            admin = make_user(srv, "admin")["access_token"]
            queue(srv, admin, id="max-1", kind="sla.breached", to="ops@example.com",
                  vars={"request": {"id": "r1", "title": "Printer", "type": "it", "state": "open"}})
            dead = wait_status(srv, admin, "max-1", "dead")
            self.assertTrue(dead, message(srv, admin, "max-1"))
            self.assertEqual(dead["attempts"], 3)
            self.assertTrue(dead["last_error"])
            st, _, b = req(srv, "GET", "/api/v1/mail/messages?status=dead", token=admin)
            self.assertEqual([x["id"] for x in b["data"]], ["max-1"])
            smtp.start()
            st, _, b = req(srv, "POST", "/api/v1/mail/messages/max-1/resend", token=admin)
            self.assertEqual((st, b["status"]), (200, "pending"), b)
            sent = wait_status(srv, admin, "max-1", "sent")
            self.assertTrue(sent)
            self.assertEqual(len(sink.by_message_id(dead["message_id"])), 1)
            # sent -> resend again: the same Message-ID a second time
            st, _, b = req(srv, "POST", "/api/v1/mail/messages/max-1/resend", token=admin)
            self.assertEqual(st, 200, b)
            self.assertTrue(wait_for(lambda: len(sink.by_message_id(dead["message_id"])) == 2))
        finally:
            srv.close()
            smtp.stop()

class KilledWhileSending(unittest.TestCase):
    """kill -9 while the server waits for the SMTP server's 250: nothing
    recorded the outcome, so after the restart the message is sent again,
    byte for byte the same (same Message-ID, Date and boundary): at least
    once, and recognisable."""

    def test_kill9_in_flight(self):
        sink, port = Sink(), free_port()
        sink.hold = 5
        smtp = SmtpServer(port, sink)
        smtp.start()
        srv = Server(bin=TESTCLOCK_BIN, extra_args=["--smtp-url", "smtp://127.0.0.1:%d" % port, "--smtp-tls", "none",
                                                    "--smtp-timeout-ms", "20000"])
        try:
            admin = make_user(srv, "admin")["access_token"]
            m = queue(srv, admin, id="kill-1", kind="order.placed", to="gus@example.com", vars=ORDER_VARS)
            self.assertTrue(wait_for(lambda: len(sink.by_message_id(m["message_id"])) == 1))
            srv.kill9()
            sink.hold = 0
            srv.start()
            sent = wait_status(srv, admin, "kill-1", "sent")
            self.assertTrue(sent, message(srv, admin, "kill-1"))
            copies = sink.by_message_id(m["message_id"])
            self.assertEqual(len(copies), 2)
            self.assertEqual(copies[0][3], copies[1][3])
        finally:
            srv.close()
            smtp.stop()


class Tls(unittest.TestCase):
    """TLS to the SMTP server: STARTTLS (smtp_tls=required) and implicit
    TLS (smtps://), the server's certificate verified against smtp_ca_file;
    an unverifiable certificate, or a server without STARTTLS while TLS is
    required, gets no mail at all."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sf-mail-tls-")
        cls.cert, key = os.path.join(cls.dir, "cert.pem"), os.path.join(cls.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cls.cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
        cls.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cls.ctx.load_cert_chain(cls.cert, key)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def send_one(self, scheme, tls_args, server_args, expect):
        sink, port = Sink(), free_port()
        smtp = SmtpServer(port, sink, **tls_args)
        smtp.start()
        srv = Server(bin=TESTCLOCK_BIN, extra_args=["--smtp-url", "%s://127.0.0.1:%d" % (scheme, port),
                                                    "--mail-max-attempts", "1", *server_args])
        try:
            admin = make_user(srv, "admin")["access_token"]
            queue(srv, admin, id="tls-1", kind="account.password_changed", to="fay@example.com", vars={})
            m = wait_status(srv, admin, "tls-1", expect)
            self.assertTrue(m, message(srv, admin, "tls-1"))
            return m, sink
        finally:
            srv.close()
            smtp.stop()

    def test_starttls_verified(self):
        m, sink = self.send_one("smtp", dict(tls_context=self.ctx, require_starttls=True),
                                ["--smtp-tls", "required", "--smtp-ca-file", self.cert], "sent")
        self.assertEqual((len(sink.got), sink.tls), (1, [True]))

    def test_smtps_verified(self):
        m, sink = self.send_one("smtps", dict(ssl_context=self.ctx), ["--smtp-ca-file", self.cert], "sent")
        self.assertEqual((len(sink.got), sink.tls), (1, [True]))

    def test_untrusted_certificate_gets_nothing(self):
        m, sink = self.send_one("smtp", dict(tls_context=self.ctx, require_starttls=True),
                                ["--smtp-tls", "required"], "dead")
        self.assertTrue(m["last_error"])
        self.assertEqual(sink.got, [])

    def test_no_starttls_no_mail(self):
        m, sink = self.send_one("smtp", {}, ["--smtp-tls", "required"], "dead")
        self.assertTrue(m["last_error"])
        self.assertEqual(sink.got, [])


if __name__ == "__main__":
    main()
