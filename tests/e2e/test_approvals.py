"""Approval chains over HTTP: sequential levels by role or named users,
quorum any / all / n, conditional levels, rejection, delegation, the inbox
(GET /approvals?assignee=me), cancellation when the request leaves the
state, and bad definitions and decisions refused without changes."""
import time, unittest
from sfharness import Server, req, register, make_user, assert_problem, main
from test_workflows import publish

FLOW = """\
name: Purchase request
type: purchase
initial: draft
states:
  draft: {}
  review: {}
  approved: {final: true}
  rejected: {final: true}
  withdrawn: {final: true}
transitions:
  - {action: submit, from: draft, to: review, roles: [customer, staff]}
  - {action: approve, from: review, to: approved, roles: [admin]}
  - {action: reject, from: review, to: rejected, roles: [admin]}
  - {action: withdraw, from: review, to: withdrawn, roles: [customer]}
approvals:
  - in: review
    on_approved: approve
    on_rejected: reject
    levels:
      - {name: manager, role: approver}
      - {name: finance, users: [%s, %s], quorum: all, when: data.amount > 1000}
      - {name: board, role: approver, quorum: 2, when: data.amount > 100000}
"""


def me(srv, token):
    return req(srv, "GET", "/api/v1/users/me", token=token)[2]["id"]


class Approvals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        s = cls.srv
        cls.admin = make_user(s, "admin")["access_token"]
        cls.mgr = make_user(s, "approver")["access_token"]
        cls.mgr2 = make_user(s, "approver")["access_token"]
        cls.f1 = make_user(s, "staff")["access_token"]
        cls.f2 = make_user(s, "staff")["access_token"]
        cls.f3 = register(s)["access_token"]  # a customer, made an approver only by delegation
        cls.cust = register(s)["access_token"]
        cls.ids = {k: me(s, getattr(cls, k)) for k in ("mgr", "mgr2", "f1", "f2", "f3", "cust")}
        st, _, w = publish(s, cls.admin, FLOW % (cls.ids["f1"], cls.ids["f2"]))
        assert st == 201, w

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def submit(self, amount):
        st, _, r = req(self.srv, "POST", "/api/v1/requests",
                       {"type": "purchase", "title": "Laptop", "data": {"amount": amount}}, token=self.cust)
        self.assertEqual(st, 201, r)
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"], {"action": "submit"},
                       token=self.cust)
        self.assertEqual((st, r["state"]), (200, "review"), r)
        return r

    def decide(self, rid, token, decision, **kw):
        return req(self.srv, "POST", "/api/v1/requests/%s/approvals" % rid, dict(decision=decision, **kw), token=token)

    def inbox(self, token):
        st, _, b = req(self.srv, "GET", "/api/v1/approvals?assignee=me", token=token)
        self.assertEqual(st, 200, b)
        return [(t["request"]["id"], t["name"]) for t in b["data"]]

    def events(self, rid):
        st, _, b = req(self.srv, "GET", "/api/v1/requests/%s/events" % rid, token=self.cust)
        self.assertEqual(st, 200, b)
        return [e["type"] for e in b["data"]]

    def test_small_amount_needs_the_manager_only(self):
        r = self.submit(500)
        rid = r["id"]
        self.assertEqual(r["approvals"]["pending"], {"level": 0, "name": "manager", "quorum": "any", "needed": 1,
                                                     "approved": 0})
        self.assertIn((rid, "manager"), self.inbox(self.mgr))
        self.assertIn((rid, "manager"), self.inbox(self.mgr2))
        self.assertNotIn(rid, [i for i, _ in self.inbox(self.f1)])
        st, h, b = self.decide(rid, self.cust, "approve")  # the requester is no approver
        assert_problem(self, st, h, b, 403, code="not-an-approver")
        st, _, r = self.decide(rid, self.mgr, "approve", comment="ok")
        self.assertEqual((st, r["state"]), (200, "approved"), r)
        self.assertIsNone(r["approvals"]["pending"])
        types = self.events(rid)
        self.assertEqual(types[types.index("request.approval_decided"):],
                         ["request.approval_decided", "request.approval_level_approved",
                          "request.approval_level_skipped", "request.approval_level_skipped",
                          "request.approval_completed", "request.transitioned"])
        # the other manager's inbox no longer has it
        self.assertNotIn(rid, [i for i, _ in self.inbox(self.mgr2)])
        st, h, b = self.decide(rid, self.mgr2, "approve")
        assert_problem(self, st, h, b, 409, code="no-pending-approval")

    def test_large_amount_needs_all_of_finance_and_delegation(self):
        r = self.submit(2500)
        rid = r["id"]
        st, _, r = self.decide(rid, self.mgr2, "approve")
        self.assertEqual((st, r["state"]), (200, "review"))
        self.assertEqual(r["approvals"]["pending"]["name"], "finance")
        self.assertEqual(r["approvals"]["pending"]["needed"], 2)
        st, h, b = self.decide(rid, self.mgr, "approve")  # the manager level is over
        assert_problem(self, st, h, b, 403, code="not-an-approver")
        self.assertIn((rid, "finance"), self.inbox(self.f1))
        st, _, r = self.decide(rid, self.f1, "approve")
        self.assertEqual((st, r["state"], r["approvals"]["pending"]["approved"]), (200, "review", 1))
        st, h, b = self.decide(rid, self.f1, "approve")  # one vote each
        assert_problem(self, st, h, b, 403)
        self.assertNotIn(rid, [i for i, _ in self.inbox(self.f1)])
        # f2 hands the vote to f3 (a customer, who then sees the request)
        st, h, b = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.f3)
        assert_problem(self, st, h, b, 404)
        for body, status, field in (({"to": self.ids["f2"]}, 422, "to"), ({"to": "usr_nobody"}, 422, "to"),
                                    ({"to": self.ids["f1"]}, 409, None), ({}, 422, "to")):
            st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/approvals/delegate" % rid, body, token=self.f2)
            assert_problem(self, st, h, b, status, field=field)
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/approvals/delegate" % rid,
                       {"to": self.ids["f3"], "comment": "on leave"}, token=self.f2)
        self.assertEqual(st, 200, r)
        self.assertNotIn(rid, [i for i, _ in self.inbox(self.f2)])
        self.assertIn((rid, "finance"), self.inbox(self.f3))
        st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.f3)
        self.assertEqual(st, 200)
        delegated = [t for t in seen["approvals"]["tasks"] if t.get("delegated_from")]
        self.assertEqual([(t["assignee"], t["delegated_from"]) for t in delegated],
                         [({"user": self.ids["f3"]}, self.ids["f2"])])
        st, h, b = self.decide(rid, self.f2, "approve")  # gave the vote away
        assert_problem(self, st, h, b, 403)
        st, _, r = self.decide(rid, self.f3, "approve")
        self.assertEqual((st, r["state"]), (200, "approved"), r)
        decided = [(t["name"], t["decision"]) for t in r["approvals"]["tasks"]]
        self.assertEqual(decided, [("manager", "closed"), ("manager", "approved"), ("finance", "approved"),
                                   ("finance", "delegated"), ("finance", "approved")])

    def test_nobody_approves_their_own_request(self):
        # f1 asks: the finance level (all of f1, f2) needs f2 only; f1 never gets its own task
        st, _, r = req(self.srv, "POST", "/api/v1/requests",
                       {"type": "purchase", "title": "Desk", "data": {"amount": 3000}}, token=self.f1)
        rid = r["id"]
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "submit"}, token=self.f1)
        self.assertEqual((st, r["state"]), (200, "review"), r)
        st, _, r = self.decide(rid, self.mgr, "approve")
        self.assertEqual((r["approvals"]["pending"]["name"], r["approvals"]["pending"]["needed"]), ("finance", 1))
        self.assertNotIn(rid, [i for i, _ in self.inbox(self.f1)])
        st, h, b = self.decide(rid, self.f1, "approve")
        assert_problem(self, st, h, b, 403)
        st, _, r = self.decide(rid, self.f2, "approve")
        self.assertEqual((st, r["state"]), (200, "approved"), r)

    def test_a_delegate_decides_but_does_not_move_the_request(self):
        # f3, a customer like the requester, gets f2's finance vote: they may read the request and
        # decide that vote, but withdraw (roles [customer], default by) is the requester's
        r = self.submit(2500)
        rid = r["id"]
        self.decide(rid, self.mgr, "approve")
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/approvals/delegate" % rid, {"to": self.ids["f3"]},
                       token=self.f2)
        self.assertEqual(st, 200, r)
        st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "withdraw"}, token=self.f3)
        assert_problem(self, st, h, b, 403, code="forbidden")
        self.assertIn("requester", b["detail"])
        st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.f3)
        self.assertEqual((st, seen["available_actions"]), (200, []))
        for token in (self.mgr, self.f1):  # approvers of the chain: no actions either
            st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + rid, token=token)
            self.assertEqual((st, seen["available_actions"]), (200, []))
        st, _, mine = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.cust)
        self.assertEqual((mine["state"], mine["version"], mine["available_actions"]), ("review", r["version"], ["withdraw"]))
        st, _, r = self.decide(rid, self.f3, "approve")  # the vote itself is theirs
        self.assertEqual((st, r["approvals"]["pending"]["approved"]), (200, 1), r)

    def test_the_completing_decision_answers_the_chain_it_ended(self):
        r = self.submit(500)
        rid = r["id"]
        self.assertEqual((r["approvals"]["status"], r["approvals"]["state"]), ("pending", "review"))
        self.assertIsNone(r["approvals"]["ended_at"])
        st, _, r = self.decide(rid, self.mgr, "approve", comment="fine")
        self.assertEqual((st, r["state"]), (200, "approved"), r)
        ap = r["approvals"]
        self.assertEqual((ap["status"], ap["state"], ap["pending"]), ("approved", "review", None), ap)
        self.assertTrue(ap["ended_at"].endswith("Z"))
        mine = [t for t in ap["tasks"] if t.get("decided_by") == self.ids["mgr"]]
        self.assertEqual([(t["decision"], t["comment"]) for t in mine], [("approved", "fine")])
        st, _, seen = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.cust)
        self.assertEqual(seen["approvals"], ap)
        r = self.submit(700)
        st, _, r = self.decide(r["id"], self.mgr2, "reject", comment="no")
        self.assertEqual((r["state"], r["approvals"]["status"]), ("rejected", "rejected"), r)
        r = self.submit(800)
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"], {"action": "withdraw"},
                       token=self.cust)
        self.assertEqual((r["state"], r["approvals"]["status"]), ("withdrawn", "cancelled"), r)

    def test_a_chain_with_no_level_to_decide_is_shown_too(self):
        st, _, w = publish(self.srv, self.admin, AUTO)
        self.assertEqual(st, 201, w)
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "auto_chain", "title": "t", "data": {"amount": 5000}},
                       token=self.cust)
        rid = r["id"]
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "submit"}, token=self.cust)
        first = r["approvals"]["chain"]
        st, _, r = self.decide(rid, self.mgr, "reject")
        self.assertEqual((r["state"], r["approvals"]["status"], r["approvals"]["chain"]), ("draft", "rejected", first))
        # the amount drops under the level's threshold: submitted again, no level applies, approved at once
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "shrink"}, token=self.cust)
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "submit"}, token=self.cust)
        self.assertEqual(r["state"], "done", r)
        ap = r["approvals"]
        self.assertIsNotNone(ap)
        self.assertGreater(ap["chain"], first)  # not the rejected chain's tasks
        self.assertEqual((ap["status"], ap["state"], ap["tasks"], ap["pending"]), ("approved", "review", [], None))

    def test_delegation_refusals(self):
        r = self.submit(10)
        rid = r["id"]
        # to the requester, or to someone of the level's role (they have a vote of their own)
        for to in (self.ids["cust"], self.ids["mgr2"]):
            st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/approvals/delegate" % rid, {"to": to}, token=self.mgr)
            assert_problem(self, st, h, b, 409)
        st, _, now = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.cust)
        self.assertEqual(now["version"], r["version"])

    def test_rejection_ends_the_chain(self):
        r = self.submit(5000)
        rid = r["id"]
        self.decide(rid, self.mgr, "approve")
        st, _, r = self.decide(rid, self.f2, "reject", comment="over budget")
        self.assertEqual((st, r["state"]), (200, "rejected"), r)
        self.assertNotIn(rid, [i for i, _ in self.inbox(self.f1)])
        st, h, b = self.decide(rid, self.f1, "approve")
        assert_problem(self, st, h, b, 409, code="no-pending-approval")
        types = self.events(rid)
        self.assertEqual(types[-3:], ["request.approval_decided", "request.approval_completed", "request.transitioned"])
        tr = req(self.srv, "GET", "/api/v1/requests/%s/events" % rid, token=self.cust)[2]["data"][-1]["data"]
        self.assertEqual((tr["action"], tr["by"]), ("reject", "system"))

    def test_n_of_role_quorum(self):
        r = self.submit(200000)
        rid = r["id"]
        self.decide(rid, self.mgr, "approve")
        self.decide(rid, self.f1, "approve")
        st, _, r = self.decide(rid, self.f2, "approve")
        self.assertEqual(r["approvals"]["pending"], {"level": 2, "name": "board", "quorum": 2, "needed": 2,
                                                     "approved": 0})
        st, _, r = self.decide(rid, self.mgr, "approve")
        self.assertEqual((r["state"], r["approvals"]["pending"]["approved"]), ("review", 1))
        st, h, b = self.decide(rid, self.mgr, "approve")  # the same approver cannot count twice
        assert_problem(self, st, h, b, 403)
        self.assertNotIn(rid, [i for i, _ in self.inbox(self.mgr)])
        st, _, r = self.decide(rid, self.mgr2, "approve")
        self.assertEqual(r["state"], "approved")

    def test_leaving_the_state_cancels_pending_tasks(self):
        r = self.submit(50)
        rid = r["id"]
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "withdraw"},
                       token=self.cust)
        self.assertEqual((st, r["state"]), (200, "withdrawn"))
        self.assertEqual({t["decision"] for t in r["approvals"]["tasks"]}, {"cancelled"})
        self.assertNotIn(rid, [i for i, _ in self.inbox(self.mgr)])
        self.assertIn("request.approval_cancelled", self.events(rid))

    def test_bad_decisions_change_nothing(self):
        r = self.submit(50)
        rid = r["id"]
        for body, field in (({"decision": "maybe"}, "decision"), ({}, "decision"),
                            ({"decision": "approve", "x": 1}, "x")):
            st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/approvals" % rid, body, token=self.mgr)
            assert_problem(self, st, h, b, 422, field=field)
        st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "approve"},
                       token=self.mgr, headers={"If-Match": '"1"'})
        assert_problem(self, st, h, b, 412)
        stranger = register(self.srv)["access_token"]
        st, h, b = self.decide(rid, stranger, "approve")
        assert_problem(self, st, h, b, 404)
        st, h, b = self.decide("srq_missing", self.mgr, "approve")
        assert_problem(self, st, h, b, 404)
        st, _, now = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.cust)
        self.assertEqual((now["version"], now["approvals"]["pending"]["approved"]), (r["version"], 0))
        st, h, b = req(self.srv, "GET", "/api/v1/approvals?assignee=someone", token=self.mgr)
        assert_problem(self, st, h, b, 422, field="assignee")

    def test_inbox_pages(self):
        ids = []
        for _ in range(3):
            ids.append(self.submit(10)["id"])
            time.sleep(0.003)  # newest first is by time; ids within one millisecond are random
        seen, cursor = [], None
        while True:
            st, _, page = req(self.srv, "GET", "/api/v1/approvals?assignee=me&limit=2" +
                              ("&cursor=" + cursor if cursor else ""), token=self.mgr2)
            self.assertEqual(st, 200, page)
            seen += [t["request"]["id"] for t in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(seen[:3], list(reversed(ids)))


AUTO = """\
name: Auto chain
type: auto_chain
initial: draft
states:
  draft: {}
  small:
    on_enter: [{set: {amount: 10}}]
  review: {}
  done: {final: true}
transitions:
  - {action: submit, from: [draft, small], to: review}
  - {action: shrink, from: draft, to: small}
  - {action: approve, from: review, to: done, roles: [admin]}
  - {action: reject, from: review, to: draft, roles: [admin]}
approvals:
  - in: review
    on_approved: approve
    on_rejected: reject
    levels:
      - {name: big, role: approver, when: data.amount > 1000}
"""


BAD = """\
name: Bad
type: bad
initial: a
states:
  a: {}
  b: {}
  done: {final: true}
transitions:
  - {action: go, from: a, to: b}
  - {action: finish, from: b, to: done}
approvals:
  - in: b
    on_approved: finish
    on_rejected: go
    levels:
      - {name: one, role: approver, quorum: all}
      - {name: two, users: [usr_a], quorum: 3}
      - {name: three, role: boss, when: 'data.x >'}
      - {name: one, users: [usr_a, usr_a]}
  - in: nowhere
    on_approved: finish
    on_rejected: finish
    levels: []
"""


class ApprovalDefinitions(unittest.TestCase):
    def test_bad_chains_are_named(self):
        srv = Server()
        try:
            admin = make_user(srv, "admin")["access_token"]
            st, h, b = publish(srv, admin, BAD)
            assert_problem(self, st, h, b, 422)
            fields = [e["field"] for e in b["errors"]]
            for f in ("approvals[0].on_rejected", "approvals[0].levels[0].quorum", "approvals[0].levels[1].quorum",
                      "approvals[0].levels[2].role", "approvals[0].levels[2].when", "approvals[0].levels[3].name",
                      "approvals[0].levels[3].users", "approvals[1].in", "approvals[1].levels"):
                self.assertIn(f, fields, b)
            st, _, lst = req(srv, "GET", "/api/v1/workflows", token=admin)
            self.assertEqual(lst["data"], [])
        finally:
            srv.close()


if __name__ == "__main__":
    main()
