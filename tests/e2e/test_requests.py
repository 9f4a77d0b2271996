"""Service requests driven by a published workflow: creation pinned to a
version, transitions with state (409), role (403) and guard (409/422)
checks, on_enter/on_exit actions, visibility and the audit trail."""
import os, time, unittest
from sfharness import Server, req, register, make_user, assert_problem, main
from test_workflows import publish

FLOW = """\
name: Purchase request
type: purchase
initial: draft
states:
  draft:
    on_exit: [{emit: purchase.left_draft}]
  submitted:
    on_enter: [{assign: {role: approver}}, {set: {priority: normal}}]
  approved:
    final: true
    on_enter: [{emit: purchase.approved}, {webhook: {url: 'https://hooks.example/approved'}}]
  rejected: {final: true}
transitions:
  - {action: submit, from: draft, to: submitted, roles: [customer, staff], guard: data.amount > 0}
  - {action: approve, from: submitted, to: approved, roles: [approver, admin], guard: data.amount < 5000}
  - {action: reject, from: submitted, to: rejected, roles: [approver, admin]}
  - {action: spin, from: draft, to: rejected, roles: [admin], guard: 'return (function() while true do end end)()'}
"""


class Requests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.approver = make_user(cls.srv, "approver")["access_token"]
        cls.cust = register(cls.srv)["access_token"]
        st, _, w = publish(cls.srv, cls.admin, FLOW)
        assert st == 201, w
        cls.v1 = w

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def open(self, amount=100, token=None):
        st, h, r = req(self.srv, "POST", "/api/v1/requests",
                       {"type": "purchase", "title": "Laptop", "data": {"amount": amount}}, token=token or self.cust)
        self.assertEqual(st, 201, r)
        self.assertEqual(h["location"], "/api/v1/requests/" + r["id"])
        return r

    def act(self, rid, action, token, **kw):
        return req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, dict(action=action, **kw), token=token)

    def events(self, rid, token=None):
        st, _, b = req(self.srv, "GET", "/api/v1/requests/%s/events" % rid, token=token or self.cust)
        self.assertEqual(st, 200, b)
        return [e["type"] for e in b["data"]]

    def test_happy_path_with_actions_and_audit(self):
        r = self.open(1200)
        self.assertEqual((r["state"], r["final"], r["available_actions"]), ("draft", False, ["submit"]))
        self.assertEqual(r["workflow"], {"id": self.v1["id"], "version": 1})
        st, _, r = self.act(r["id"], "submit", self.cust, comment="please")
        self.assertEqual(st, 200, r)
        self.assertEqual((r["state"], r["assignee"], r["data"]["priority"]), ("submitted", {"role": "approver"}, "normal"))
        st, _, r = self.act(r["id"], "approve", self.approver)
        self.assertEqual((st, r["state"], r["final"], r["available_actions"]), (200, "approved", True, []))
        self.assertEqual(self.events(r["id"]),
                         ["request.created", "purchase.left_draft", "request.transitioned", "request.assigned",
                          "request.fields_set", "request.transitioned", "purchase.approved", "request.webhook_due"])

    def test_state_role_and_guard_checks(self):
        r = self.open(9000)
        rid = r["id"]
        st, h, b = self.act(rid, "approve", self.approver)
        assert_problem(self, st, h, b, 409, code="transition-not-allowed")
        st, h, b = self.act(rid, "launch", self.cust)
        assert_problem(self, st, h, b, 409, code="transition-not-allowed")
        st, _, r = self.act(rid, "submit", self.cust)
        self.assertEqual(st, 200, r)
        st, h, b = self.act(rid, "approve", self.cust)  # customers may not approve
        assert_problem(self, st, h, b, 403)
        st, h, b = self.act(rid, "approve", self.approver)  # guard: amount < 5000
        assert_problem(self, st, h, b, 409, code="guard-rejected")
        self.assertIn("data.amount < 5000", b["detail"])
        st, h, b = self.act(rid, "reject", self.approver, comment="too expensive", extra=1)
        assert_problem(self, st, h, b, 422, field="extra")
        st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "reject"},
                       token=self.approver, headers={"If-Match": '"1"'})
        assert_problem(self, st, h, b, 412)
        st, _, r = self.act(rid, "reject", self.approver, comment="too expensive")
        self.assertEqual((st, r["state"]), (200, "rejected"))
        # nothing was written by the refused attempts
        self.assertEqual(self.events(rid).count("request.transitioned"), 2)

    def test_by_names_who_may_move_the_request(self):
        flow = """\
name: Desk
type: desk_by
initial: open
states:
  open: {}
  working: {}
  done: {final: true}
  cancelled: {final: true}
transitions:
  - {action: take, from: open, to: working, roles: [staff], by: [assignee]}
  - {action: cancel, from: [open, working], to: cancelled, by: [requester]}
  - {action: finish, from: working, to: done, by: [assignee, role:admin]}
"""
        st, _, w = publish(self.srv, self.admin, flow)
        self.assertEqual(st, 201, w)
        mine, other = make_user(self.srv, "staff"), make_user(self.srv, "staff")["access_token"]
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "desk_by", "title": "Printer"}, token=self.cust)
        rid = r["id"]
        self.assertEqual(r["available_actions"], ["cancel"])
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=mine["access_token"])
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/assignment" % rid, {"user_id": me["id"]}, token=self.admin)
        self.assertEqual(st, 200, r)
        st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + rid, token=other)
        self.assertEqual(seen["available_actions"], [])  # staff, but neither requester nor assignee
        for action in ("take", "cancel"):
            st, h, b = self.act(rid, action, other)
            assert_problem(self, st, h, b, 403)
        st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + rid, token=mine["access_token"])
        self.assertEqual(seen["available_actions"], ["take"])
        st, _, r = self.act(rid, "take", mine["access_token"])
        self.assertEqual((st, r["state"], r["available_actions"]), (200, "working", ["finish"]))
        st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.admin)
        self.assertEqual(seen["available_actions"], ["finish"])  # role:admin; cancel is the requester's
        st, h, b = self.act(rid, "cancel", self.admin)
        assert_problem(self, st, h, b, 403)
        st, _, r = self.act(rid, "cancel", self.cust)
        self.assertEqual((st, r["state"]), (200, "cancelled"))

    def test_guard_that_never_ends_fails_cleanly(self):
        r = self.open(10)
        st, h, b = self.act(r["id"], "spin", self.admin)
        assert_problem(self, st, h, b, 422, code="guard-failed")
        self.assertIn("instruction budget exceeded", b["detail"])
        st, _, again = req(self.srv, "GET", "/api/v1/requests/" + r["id"], token=self.cust)
        self.assertEqual((again["state"], again["version"]), ("draft", 1))
        st, _, r2 = self.act(r["id"], "submit", self.cust)  # the writer's VM still works
        self.assertEqual((st, r2["state"]), (200, "submitted"))

    def test_requests_stay_on_their_version(self):
        r = self.open(50)
        st, _, w2 = publish(self.srv, self.admin, FLOW.replace("guard: data.amount > 0", "guard: data.amount > 100"))
        self.assertEqual((st, w2["version"]), (201, 2))
        st, _, r = self.act(r["id"], "submit", self.cust)  # version 1's guard: amount > 0
        self.assertEqual((st, r["state"], r["workflow"]["version"]), (200, "submitted", 1))
        n = self.open(50)
        self.assertEqual(n["workflow"]["version"], 2)
        st, h, b = self.act(n["id"], "submit", self.cust)
        assert_problem(self, st, h, b, 409, code="guard-rejected")

    def test_comments_and_assignment(self):
        r = self.open(10)
        rid = r["id"]
        st, _, c = req(self.srv, "POST", "/api/v1/requests/%s/comments" % rid, {"body": "any news?"}, token=self.cust)
        self.assertEqual((st, c["version"]), (201, 2), c)
        for body, field in (({}, "body"), ({"body": ""}, "body"), ({"body": "x", "y": 1}, "y")):
            st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/comments" % rid, body, token=self.cust)
            assert_problem(self, st, h, b, 422, field=field)
        st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/assignment" % rid, {"role": "staff"}, token=self.cust)
        assert_problem(self, st, h, b, 403)
        other = register(self.srv)
        other_id = req(self.srv, "GET", "/api/v1/users/me", token=other["access_token"])[2]["id"]
        for body, field in (({}, "user_id"), ({"role": "boss"}, "role"), ({"user_id": "usr_nobody"}, "user_id"),
                            ({"user_id": other_id, "role": "staff"}, "user_id")):
            st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/assignment" % rid, body, token=self.approver)
            assert_problem(self, st, h, b, 422, field=field)
        st, h, b = req(self.srv, "GET", "/api/v1/requests/" + rid, token=other["access_token"])
        assert_problem(self, st, h, b, 404)
        st, _, a = req(self.srv, "POST", "/api/v1/requests/%s/assignment" % rid, {"user_id": other_id}, token=self.approver)
        self.assertEqual((st, a["assignee"]), (200, {"user": other_id}), a)
        # the assignee now sees it, and may comment
        st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + rid, token=other["access_token"])
        self.assertEqual(st, 200)
        st, _, c2 = req(self.srv, "POST", "/api/v1/requests/%s/comments" % rid, {"body": "on it"},
                        token=other["access_token"])
        self.assertEqual(st, 201, c2)
        st, _, ev = req(self.srv, "GET", "/api/v1/requests/%s/events" % rid, token=self.cust)
        notes = [(e["type"], e["data"].get("body")) for e in ev["data"] if e["type"] in ("request.commented", "request.assigned")]
        self.assertEqual(notes, [("request.commented", "any news?"), ("request.assigned", None),
                                 ("request.commented", "on it")])

    def test_bad_input_and_visibility(self):
        for body, status, field in (({"type": "nope", "title": "x"}, 422, "type"),
                                    ({"type": "purchase"}, 422, "title"),
                                    ({"type": "purchase", "title": "x", "data": [1]}, 422, "data"),
                                    ({"type": "purchase", "title": "x", "oops": 1}, 422, "oops")):
            st, h, b = req(self.srv, "POST", "/api/v1/requests", body, token=self.cust)
            assert_problem(self, st, h, b, status, field=field)
        r = self.open(10)
        other = register(self.srv)["access_token"]
        for path in ("/api/v1/requests/" + r["id"], "/api/v1/requests/%s/events" % r["id"]):
            st, h, b = req(self.srv, "GET", path, token=other)
            assert_problem(self, st, h, b, 404)
        st, h, b = self.act(r["id"], "submit", other)
        assert_problem(self, st, h, b, 404)
        st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + r["id"], token=self.approver)
        self.assertEqual(st, 200)
        self.assertEqual(seen["available_actions"], [])  # approvers cannot submit
        st, h, b = req(self.srv, "GET", "/api/v1/requests/srq_missing", token=self.cust)
        assert_problem(self, st, h, b, 404)


ESCAPES = {
    "run": "os.execute('touch %s') == 0",
    "read": "io.open('/etc/passwd') ~= nil",
    "need": "require('os') ~= nil",
    "load": "nil ~= load('x = 1')",
    "dofile": "nil == dofile('/etc/passwd')",
    "spin": "(function() while true do end end)()",
    "grow": "#string.rep('x', 1 << 30) > 0",
    "fill": "(function() local t = {} for i = 1, 1e9 do t[i] = i end end)()",
    "meta": "getmetatable('').__index.rep ~= nil and debug.getinfo(1) ~= nil",
}


class GuardSandbox(unittest.TestCase):
    def test_escapes_fail_the_transition_and_nothing_else(self):
        marker = "/tmp/sf-guard-escape-%d" % os.getpid()
        flow = ("name: Sandbox\ntype: sandbox\ninitial: a\nstates:\n  a: {}\n  b: {final: true}\ntransitions:\n" +
                "".join("  - {action: %s, from: a, to: b, guard: \"%s\"}\n" % (a, g.replace("%s", marker))
                        for a, g in ESCAPES.items()) +
                "  - {action: fine, from: a, to: b, guard: 'data.n == 1'}\n")
        srv = Server()
        try:
            admin = make_user(srv, "admin")["access_token"]
            st, _, w = publish(srv, admin, flow)
            self.assertEqual(st, 201, w)
            st, _, r = req(srv, "POST", "/api/v1/requests", {"type": "sandbox", "title": "x", "data": {"n": 1}},
                           token=admin)
            rid = r["id"]
            for action in ESCAPES:
                t0 = time.time()
                st, h, b = req(srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": action}, token=admin)
                assert_problem(self, st, h, b, 422, code="guard-failed")
                self.assertLess(time.time() - t0, 5, action)
            self.assertFalse(os.path.exists(marker))
            st, _, r = req(srv, "GET", "/api/v1/requests/" + rid, token=admin)
            self.assertEqual((r["state"], r["version"]), ("a", 1))
            st, _, r = req(srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "fine"}, token=admin)
            self.assertEqual((st, r["state"]), (200, "b"))
        finally:
            srv.close()


class RequestList(unittest.TestCase):
    def test_own_or_all_with_cursor(self):
        srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        try:
            admin = make_user(srv, "admin")["access_token"]
            staff = make_user(srv, "staff")["access_token"]
            a, b = register(srv)["access_token"], register(srv)["access_token"]
            st, _, w = publish(srv, admin, FLOW)
            self.assertEqual(st, 201, w)
            mine = []
            for i in range(5):
                st, _, r = req(srv, "POST", "/api/v1/requests", {"type": "purchase", "title": "r%d" % i,
                                                                 "data": {"amount": 10}}, token=a)
                mine.append(r["id"])
                time.sleep(0.003)  # newest first is by creation time; ids within one millisecond are random
            req(srv, "POST", "/api/v1/requests", {"type": "purchase", "title": "other", "data": {"amount": 1}}, token=b)
            seen, cursor = [], None
            while True:
                st, _, page = req(srv, "GET", "/api/v1/requests?limit=2" + ("&cursor=" + cursor if cursor else ""), token=a)
                self.assertEqual(st, 200, page)
                seen += [r["id"] for r in page["data"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            self.assertEqual(seen, list(reversed(mine)))
            st, _, everything = req(srv, "GET", "/api/v1/requests?state=draft", token=staff)
            self.assertEqual(len(everything["data"]), 6)
            st, _, none = req(srv, "GET", "/api/v1/requests?state=approved", token=staff)
            self.assertEqual(none["data"], [])
            st, h, e = req(srv, "GET", "/api/v1/requests?cursor=junk", token=a)
            assert_problem(self, st, h, e, 422, field="cursor")
        finally:
            srv.close()


TIMED = """\
name: Ticket
type: ticket
initial: open
states:
  open: {}
  escalated:
    on_enter: [{assign: {role: staff}}]
  closed: {final: true}
transitions:
  - {action: escalate, from: open, to: escalated}
  - {action: close, from: [open, escalated], to: closed, roles: [staff, admin, customer]}
timers:
  - {in: open, after: 1s, action: escalate}
"""


class WorkflowTimers(unittest.TestCase):
    def wait_state(self, srv, token, rid, state, timeout=8):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, r = req(srv, "GET", "/api/v1/requests/" + rid, token=token)
            if r.get("state") == state:
                return r
            time.sleep(0.1)
        self.fail("request %s never reached %s (last %s)" % (rid, state, r))

    def test_timer_fires_survives_restart_and_respects_moves(self):
        srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        try:
            admin = make_user(srv, "admin")["access_token"]
            cust = register(srv)["access_token"]
            st, _, w = publish(srv, admin, TIMED)
            self.assertEqual(st, 201, w)
            new = lambda: req(srv, "POST", "/api/v1/requests", {"type": "ticket", "title": "t"}, token=cust)[2]
            fired = new()
            r = self.wait_state(srv, cust, fired["id"], "escalated")
            self.assertEqual(r["assignee"], {"role": "staff"})
            st, _, ev = req(srv, "GET", "/api/v1/requests/%s/events" % fired["id"], token=cust)
            types = [e["type"] for e in ev["data"]]
            self.assertEqual(types, ["request.created", "request.timer_fired", "request.transitioned", "request.assigned"])
            self.assertEqual(ev["data"][2]["data"]["by"], "system")
            # a comment (or any other change that is not a move) leaves the state's timer alone
            commented = new()
            st, _, c = req(srv, "POST", "/api/v1/requests/%s/comments" % commented["id"], {"body": "hi"}, token=cust)
            self.assertEqual(st, 201, c)
            self.wait_state(srv, cust, commented["id"], "escalated")
            # closed by hand before the timer: the timer finds it moved on
            moved = new()
            st, _, c = req(srv, "POST", "/api/v1/requests/%s/transitions" % moved["id"], {"action": "close"}, token=cust)
            self.assertEqual((st, c["state"]), (200, "closed"))
            # pending when the process dies: fires after the restart
            pending = new()
            srv.kill9()
            time.sleep(1.5)
            srv.start()
            self.wait_state(srv, cust, pending["id"], "escalated")
            st, _, again = req(srv, "GET", "/api/v1/requests/" + moved["id"], token=cust)
            self.assertEqual((again["state"], again["version"]), ("closed", 2))
        finally:
            srv.close()


if __name__ == "__main__":
    main()
