"""Notifications over HTTP against the real binary: who is told what (orders,
approvals, a workflow's notify action, comments and assignment, an SLA
warning, stock running low), once per event and recipient; preferences; the
inbox (cursor, unread, mark read, read all, another's notification 404); and
a kill -9 during a burst of orders, after which every triggering event has
exactly one notification per recipient."""
import os, threading, time, unittest
from sfharness import Server, TESTCLOCK_BIN, cli, req, register, make_user, assert_problem, main, unique_email, db_rows
from test_orders import setup_shop, place, OK, DECLINED
from test_workflows import publish

FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]

FLOW = """\
name: Purchase request
type: ntf_purchase
initial: draft
states:
  draft:
    on_exit: [{notify: {to: requester, message: "on its way"}}, {notify: {role: admin}}, {notify: {user: %s}}]
  review: {}
  approved: {final: true}
  rejected: {final: true}
transitions:
  - {action: submit, from: draft, to: review, roles: [customer, staff]}
  - {action: approve, from: review, to: approved, roles: [admin]}
  - {action: reject, from: review, to: rejected, roles: [admin]}
approvals:
  - in: review
    on_approved: approve
    on_rejected: reject
    levels:
      - {name: manager, role: approver}
"""

SLA_FLOW = """\
name: Ticket
type: ntf_ticket
initial: open
states:
  open:
    on_enter: [{assign: {user: %s}}]
  done: {final: true}
transitions:
  - {action: close, from: open, to: done}
sla:
  warn_at: [50]
  targets:
    - name: response
      until: [done]
      within: 1h
      on_warning: [{notify: {to: assignee}}, {notify: {role: admin}}]
"""


def me(srv, token):
    return req(srv, "GET", "/api/v1/users/me", token=token)[2]["id"]


def inbox(srv, token, query=""):
    st, _, b = req(srv, "GET", "/api/v1/notifications" + query, token=token)
    assert st == 200, b
    return b


def kinds(srv, token):
    return sorted(n["kind"] for n in inbox(srv, token, "?limit=200")["data"])


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()




class Notifications(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s = cls.srv = Server(FAST + ["--low-stock-threshold", "3"])
        cls.admin = make_user(s, "admin")["access_token"]
        cls.appr = make_user(s, "approver")["access_token"]
        cls.appr2 = make_user(s, "approver")["access_token"]
        cls.staff_user = make_user(s, "staff")
        cls.staff = cls.staff_user["access_token"]
        cls.cust = register(s)["access_token"]
        cls.ids = {k: me(s, getattr(cls, k)) for k in ("admin", "appr", "appr2", "staff", "cust")}
        cls.shop_staff, cls.products = setup_shop(s, stock=100)
        st, _, w = publish(s, cls.admin, FLOW % cls.ids["staff"])
        assert st == 201, w

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def mails(self, to):
        st, _, b = req(self.srv, "GET", "/api/v1/mail/messages?status=kept&limit=200", token=self.admin)
        self.assertEqual(st, 200, b)
        # the notifications' mails (registration also mails a verification link: account.*)
        return [m for m in b["data"] if m["to"] == to and not m["kind"].startswith("account.")]

    def test_order_placed_and_paid_tell_the_customer_once(self):
        email = unique_email("buyer")
        cust = register(self.srv, email=email, name="Ada Buyer")["access_token"]
        st, _, o = place(self.srv, cust, [{"product_id": self.products[0]["id"], "quantity": 1}], wait=10)
        self.assertEqual((st, o["status"]), (201, "paid"), o)
        got = wait_for(lambda: kinds(self.srv, cust) == ["order.paid", "order.placed"] and kinds(self.srv, cust))
        self.assertEqual(got, ["order.paid", "order.placed"])
        n = inbox(self.srv, cust)["data"]
        self.assertEqual(n[0]["kind"], "order.paid")  # newest first
        self.assertEqual(n[0]["subject"], {"type": "order", "id": o["id"]})
        self.assertEqual(n[0]["link"], "/api/v1/orders/" + o["id"])
        self.assertTrue(n[0]["title"])
        self.assertFalse(n[0]["read"])
        # the customer's stream carries notification.created for live clients
        uid = me(self.srv, cust)
        ev = db_rows(self.srv, "SELECT type, data FROM events WHERE stream = ?", "notifications-" + uid)
        self.assertEqual([t for t, _ in ev], ["notification.created"] * 2)
        self.assertIn(o["id"], n[0]["title"] + n[0]["body"])
        # the e-mails: one per notification, its id the notification's, kept in the dev mailbox
        mails = wait_for(lambda: len(self.mails(email)) == 2 and self.mails(email))
        self.assertEqual(sorted((m["id"], m["kind"]) for m in mails), sorted((x["id"], x["kind"]) for x in n))
        self.assertEqual(set(m["to_name"] for m in mails), {"Ada Buyer"})
        # nobody else was told
        self.assertEqual(db_rows(self.srv, "SELECT count(*) FROM notifications WHERE subject_id = ?", o["id"])[0][0],
                         2)
        # lifecycle and cancellation reach the customer too
        for step in ("fulfil", "ship", "deliver"):
            st, _, b = req(self.srv, "POST", "/api/v1/orders/%s/%s" % (o["id"], step), token=self.staff)
            self.assertEqual(st, 200, b)
        self.assertTrue(wait_for(lambda: "order.delivered" in kinds(self.srv, cust)), kinds(self.srv, cust))
        self.assertIn("order.shipped", kinds(self.srv, cust))
        # a declined card cancels the order: the customer learns why
        st, _, d = place(self.srv, cust, [{"product_id": self.products[0]["id"], "quantity": 1}], card=DECLINED,
                         wait=10)
        self.assertEqual(d["status"], "cancelled", d)
        got = wait_for(lambda: [n for n in inbox(self.srv, cust)["data"] if n["kind"] == "order.cancelled"])
        self.assertEqual(len(got), 1)
        self.assertIn("payment_declined", got[0]["body"])
        st, _, m = req(self.srv, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn('sf_notifications_created_total{kind="order.paid"}', m)

    def submit(self):
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "ntf_purchase", "title": "Laptop", "data": {}},
                       token=self.cust)
        self.assertEqual(st, 201, r)
        st, _, r2 = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"], {"action": "submit"},
                        token=self.cust)
        self.assertEqual(st, 200, r2)
        return r["id"]

    def of(self, token, subject, kind):
        return [n for n in inbox(self.srv, token, "?limit=200")["data"]
                if n["subject"]["id"] == subject and n["kind"] == kind]

    def test_workflow_notify_and_approvals(self):
        rid = self.submit()
        # notify action: requester (to: requester), role members (admin), a named user (staff)
        for who in ("cust", "admin", "staff"):
            got = wait_for(lambda: self.of(getattr(self, who), rid, "request.notify"))
            self.assertEqual(len(got), 1, who)
            self.assertEqual(got[0]["category"], "requests")
            self.assertIn("Laptop", got[0]["title"])
            if who == "cust":  # the action that names the requester carries a message
                self.assertIn("on its way", got[0]["body"])
        # the approval level's role: every approver, not the requester
        for who in ("appr", "appr2"):
            got = wait_for(lambda: self.of(getattr(self, who), rid, "approval.requested"))
            self.assertEqual(len(got), 1, who)
        self.assertEqual(self.of(self.cust, rid, "approval.requested"), [])
        # a delegation asks the delegate
        st, _, b = req(self.srv, "POST", "/api/v1/requests/%s/approvals/delegate" % rid, {"to": self.ids["staff"]},
                       token=self.appr2)
        self.assertEqual(st, 200, b)
        self.assertEqual(len(wait_for(lambda: self.of(self.staff, rid, "approval.requested"))), 1)
        st, _, b = req(self.srv, "POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "approve"},
                       token=self.appr)
        self.assertEqual(st, 200, b)
        got = wait_for(lambda: self.of(self.cust, rid, "approval.decided"))
        self.assertEqual(len(got), 1)
        self.assertEqual(self.of(self.appr, rid, "approval.decided"), [])  # not who decided

    def test_comments_and_assignment_reach_participants_not_the_actor(self):
        rid = self.submit()
        st, _, b = req(self.srv, "POST", "/api/v1/requests/%s/assignment" % rid, {"user_id": self.ids["staff"]},
                       token=self.admin)
        self.assertEqual(st, 200, b)
        self.assertEqual(len(wait_for(lambda: self.of(self.staff, rid, "request.assigned"))), 1)
        self.assertEqual(len(wait_for(lambda: self.of(self.cust, rid, "request.assigned"))), 1)
        self.assertEqual(self.of(self.admin, rid, "request.assigned"), [])
        st, _, b = req(self.srv, "POST", "/api/v1/requests/%s/comments" % rid, {"body": "any news?"},
                       token=self.cust)
        self.assertEqual(st, 201, b)
        self.assertEqual(len(wait_for(lambda: self.of(self.staff, rid, "request.commented"))), 1)
        self.assertEqual(self.of(self.cust, rid, "request.commented"), [])
        st, _, b = req(self.srv, "POST", "/api/v1/requests/%s/comments" % rid, {"body": "soon"}, token=self.staff)
        self.assertEqual(st, 201, b)
        # the requester, an earlier commenter, is told; the staff member who wrote it is not
        self.assertEqual(len(wait_for(lambda: self.of(self.cust, rid, "request.commented"))), 1)
        self.assertEqual(len(self.of(self.staff, rid, "request.commented")), 1)

    def test_preferences_off_means_no_notification(self):
        email = unique_email("quiet")
        cust = register(self.srv, email=email)["access_token"]
        st, _, p = req(self.srv, "GET", "/api/v1/notifications/preferences", token=cust)
        self.assertEqual(st, 200, p)
        self.assertEqual(p["orders"], {"in_app": True, "email": True})
        self.assertEqual(p["stock"], {"in_app": True, "email": False})
        st, _, p = req(self.srv, "PUT", "/api/v1/notifications/preferences", {"orders": {"in_app": False}},
                       token=cust)
        self.assertEqual((st, p["orders"]), (200, {"in_app": False, "email": True}), p)
        self.assertEqual(p["requests"], {"in_app": True, "email": True})  # the others stay
        for body, field in (({"account": {"email": False}}, "account"), ({"orders": {"sms": True}}, "orders.sms"),
                            ({"orders": {"email": "no"}}, "orders.email"), ({"orders": 1}, "orders")):
            st, h, b = req(self.srv, "PUT", "/api/v1/notifications/preferences", body, token=cust)
            assert_problem(self, st, h, b, 422, field=field)
        self.assertEqual(req(self.srv, "GET", "/api/v1/notifications/preferences", token=cust)[2], p)
        st, _, o = place(self.srv, cust, [{"product_id": self.products[1]["id"], "quantity": 1}], wait=10)
        self.assertEqual(o["status"], "paid", o)
        # e-mail stays on: the mails come, the inbox stays empty
        self.assertEqual(len(wait_for(lambda: len(self.mails(email)) == 2 and self.mails(email))), 2)
        self.assertEqual(inbox(self.srv, cust)["data"], [])
        st, _, p = req(self.srv, "PUT", "/api/v1/notifications/preferences", {"orders": {"email": False}},
                       token=cust)
        self.assertEqual(p["orders"], {"in_app": False, "email": False})
        st, _, o = place(self.srv, cust, [{"product_id": self.products[1]["id"], "quantity": 1}], wait=10)
        time.sleep(0.5)
        self.assertEqual(len(self.mails(email)), 2)
        self.assertEqual(inbox(self.srv, cust)["data"], [])

    def test_inbox_read_read_all_unread_and_others_404(self):
        cust = register(self.srv)["access_token"]
        for _ in range(3):
            st, _, o = place(self.srv, cust, [{"product_id": self.products[0]["id"], "quantity": 1}], wait=10)
            self.assertEqual(o["status"], "paid", o)
        wait_for(lambda: len(inbox(self.srv, cust)["data"]) == 6)
        st, _, c = req(self.srv, "GET", "/api/v1/notifications/unread-count", token=cust)
        self.assertEqual((st, c), (200, {"unread": 6}))
        page = inbox(self.srv, cust, "?limit=4")
        self.assertEqual(len(page["data"]), 4)
        rest = inbox(self.srv, cust, "?limit=4&cursor=" + page["next_cursor"])
        self.assertEqual(len(rest["data"]), 2)
        self.assertIsNone(rest["next_cursor"])
        ids = [n["id"] for n in page["data"] + rest["data"]]
        self.assertEqual(len(set(ids)), 6)
        st, _, n = req(self.srv, "POST", "/api/v1/notifications/%s/read" % ids[0], token=cust)
        self.assertEqual((st, n["read"], n["id"]), (200, True, ids[0]), n)
        self.assertEqual(req(self.srv, "GET", "/api/v1/notifications/unread-count", token=cust)[2], {"unread": 5})
        unread = inbox(self.srv, cust, "?unread=true")["data"]
        self.assertEqual(len(unread), 5)
        self.assertNotIn(ids[0], [x["id"] for x in unread])
        # another user's notification, or none at all: 404, nothing changes
        st, h, b = req(self.srv, "POST", "/api/v1/notifications/%s/read" % ids[1], token=self.staff)
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "POST", "/api/v1/notifications/ntf_nope/read", token=cust)
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "GET", "/api/v1/notifications?unread=maybe", token=cust)
        assert_problem(self, st, h, b, 422, field="unread")
        self.assertEqual(req(self.srv, "GET", "/api/v1/notifications/unread-count", token=cust)[2], {"unread": 5})
        st, _, b = req(self.srv, "POST", "/api/v1/notifications/read-all", token=cust)
        self.assertEqual((st, b), (200, {"marked": 5}))
        self.assertEqual(req(self.srv, "GET", "/api/v1/notifications/unread-count", token=cust)[2], {"unread": 0})
        st, _, b = req(self.srv, "POST", "/api/v1/notifications/read-all", token=cust)
        self.assertEqual((st, b), (200, {"marked": 0}))
        # the badge's events: notification.read {ids, unread}
        uid = me(self.srv, cust)
        reads = db_rows(self.srv, "SELECT data FROM events WHERE stream = ? AND type = 'notification.read'",
                        "notifications-" + uid)
        self.assertEqual(len(reads), 2)
        self.assertIn('"unread":0', reads[1][0].replace(" ", ""))
        st, h, b = req(self.srv, "GET", "/api/v1/notifications")
        assert_problem(self, st, h, b, 401)

    def test_stock_low_tells_staff_once_when_it_crosses(self):
        staff = self.shop_staff
        _, products = setup_shop(self.srv, stock=5, n=1)
        pid = products[0]["id"]
        cust = register(self.srv)["access_token"]

        def lows():
            return self.of(self.staff, pid, "stock.low")

        st, _, o = place(self.srv, cust, [{"product_id": pid, "quantity": 1}], wait=10)  # 4 left: not low
        time.sleep(0.3)
        self.assertEqual(lows(), [])
        for _ in range(2):  # 3, then 2: below 3 once
            st, _, o = place(self.srv, cust, [{"product_id": pid, "quantity": 1}], wait=10)
            self.assertEqual(o["status"], "paid", o)
        self.assertEqual(len(wait_for(lows)), 1)
        st, _, o = place(self.srv, cust, [{"product_id": pid, "quantity": 1}], wait=10)  # 1: still low
        time.sleep(0.3)
        self.assertEqual(len(lows()), 1)
        st, _, s = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid, {"delta": 10, "reason": "restock"},
                       token=staff)
        self.assertEqual(st, 200, s)
        st, _, s = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid, {"delta": -10, "reason": "loss"},
                       token=staff)
        self.assertEqual(st, 200, s)
        self.assertEqual(len(wait_for(lambda: len(lows()) == 2 and lows())), 2)
        self.assertEqual(self.of(cust, pid, "stock.low"), [])


class SLAWarning(unittest.TestCase):
    def test_warning_tells_the_assignee_and_the_role_once_the_breach_the_requester_too(self):
        srv = Server(FAST, bin=TESTCLOCK_BIN)
        try:
            admin = make_user(srv, "admin")
            staff = make_user(srv, "staff")
            sid = me(srv, staff["access_token"])
            st, _, w = publish(srv, admin["access_token"], SLA_FLOW % sid)
            self.assertEqual(st, 201, w)
            email = unique_email("sla")
            cust_user = register(srv, email=email)
            cust_user["email"] = email
            cust = cust_user["access_token"]
            st, _, r = req(srv, "POST", "/api/v1/requests", {"type": "ntf_ticket", "title": "printer", "data": {}},
                           token=cust)
            self.assertEqual(st, 201, r)
            st, _, b = req(srv, "POST", "/api/v1/_test/clock", {"advance_s": 31 * 60}, token=admin["access_token"])
            self.assertEqual(st, 200, b)
            # tokens expire in simulated time too
            from sfharness import login
            tok = {k: login(srv, u["email"], u["password"])[2]["access_token"] for k, u in
                   (("admin", admin), ("staff", staff), ("cust", cust_user))}

            def warned(who):
                return [n for n in inbox(srv, tok[who], "?limit=200")["data"] if n["kind"] == "sla.warning"]

            # the assignee: once, though both the warning and its notify action name them
            self.assertEqual(len(wait_for(lambda: warned("staff"))), 1)
            self.assertEqual(len(wait_for(lambda: warned("admin"))), 1)
            time.sleep(0.3)
            self.assertEqual(len(warned("staff")), 1)
            self.assertEqual(warned("staff")[0]["category"], "sla")
            self.assertIn("printer", warned("staff")[0]["title"])
            self.assertEqual([n for n in inbox(srv, tok["cust"])["data"] if n["kind"] == "sla.warning"], [])
            # the breach: the assignee and the requester
            st, _, b = req(srv, "POST", "/api/v1/_test/clock", {"advance_s": 30 * 60}, token=tok["admin"])
            self.assertEqual(st, 200, b)
            tok = {k: login(srv, u["email"], u["password"])[2]["access_token"] for k, u in
                   (("admin", admin), ("staff", staff), ("cust", cust_user))}
            for who in ("staff", "cust"):
                got = wait_for(lambda: [n for n in inbox(srv, tok[who])["data"] if n["kind"] == "sla.breached"])
                self.assertEqual(len(got), 1, who)
        finally:
            srv.close()


class KillDuringBurst(unittest.TestCase):
    def test_every_event_tells_each_recipient_exactly_once(self):
        srv = Server(FAST)
        try:
            staff, products = setup_shop(srv, stock=1000, n=2)
            buyers = [register(srv)["access_token"] for _ in range(6)]

            def buyer(i):
                for k in range(40):
                    try:
                        place(srv, buyers[i], [{"product_id": products[k % 2]["id"], "quantity": 1}], card=OK)
                    except OSError:
                        return

            threads = [threading.Thread(target=buyer, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            time.sleep(0.8)
            srv.kill9()
            for t in threads:
                t.join()
            srv.start()

            def settled():
                _, _, p = req(srv, "GET", "/api/v1/orders?status=pending", token=staff)
                return not p["data"]

            self.assertTrue(wait_for(settled, 30))
            time.sleep(1)
            q = ("SELECT e.type, count(*) FROM events e WHERE e.type IN ('order.placed', 'order.paid')"
                 " GROUP BY e.type ORDER BY e.type")
            events = dict(wait_for(lambda: db_rows(srv, q)))
            self.assertGreater(events.get("order.placed", 0), 5)

            def counts():
                return dict(db_rows(srv, "SELECT kind, count(*) FROM notifications WHERE kind IN"
                                         " ('order.placed', 'order.paid') GROUP BY kind"))

            got = wait_for(lambda: counts() == events and counts(), 20)
            self.assertEqual(got, events)
            # each order event once per recipient: no duplicate (position, user)
            dup = db_rows(srv, "SELECT count(*) FROM (SELECT position, user_id FROM notifications"
                               " GROUP BY position, user_id HAVING count(*) > 1) AS dups")
            self.assertEqual(dup[0][0], 0)
            created = db_rows(srv, "SELECT count(*) FROM events WHERE type = 'notification.created'")[0][0]
            self.assertEqual(created, db_rows(srv, "SELECT count(*) FROM notifications")[0][0])
            # a replay of the subscriber from position 0 makes nothing twice
            srv.stop()
            rc, out, err = cli("replay", "notifications", data_dir=srv.data_dir)
            self.assertEqual(rc, 0, err)
            self.assertEqual(counts(), events)
            self.assertEqual(db_rows(srv, "SELECT count(*) FROM events WHERE type = 'notification.created'")[0][0],
                             created)
        finally:
            srv.close()


if __name__ == "__main__":
    main()
