"""Workflow definitions over HTTP: publish YAML or JSON (admins only),
versions, reads, and bad definitions refused with every problem named and
nothing stored."""
import json, time, unittest
from sfharness import Server, req, register, make_user, assert_problem, main

PURCHASE = """\
name: Purchase request
type: purchase
initial: draft
states:
  draft: {}
  submitted:
    on_enter: [{assign: {role: approver}}]
  approved: {final: true}
  rejected: {final: true}
transitions:
  - {action: submit, from: draft, to: submitted, roles: [customer], guard: data.amount > 0}
  - {action: approve, from: submitted, to: approved, roles: [approver], guard: data.amount < 5000}
  - {action: reject, from: submitted, to: rejected, roles: [approver]}
timers:
  - {in: submitted, after: 48h, action: reject}
"""


def publish(srv, token, body, ctype="application/yaml"):
    raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    return req(srv, "POST", "/api/v1/workflows", raw=raw, token=token, headers={"Content-Type": ctype})


class Workflows(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.cust = register(cls.srv)["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_publish_versions_and_read(self):
        st, h, w1 = publish(self.srv, self.admin, PURCHASE.replace("type: purchase", "type: purchase_v"))
        self.assertEqual(st, 201, w1)
        self.assertEqual((w1["type"], w1["version"], w1["name"]), ("purchase_v", 1, "Purchase request"))
        self.assertEqual(h["location"], "/api/v1/workflows/purchase_v/versions/1")
        self.assertEqual(w1["definition"]["initial"], "draft")
        # JSON works too, and becomes version 2
        d = dict(w1["definition"], name="Purchase request, revised")
        st, _, w2 = publish(self.srv, self.admin, d, ctype="application/json")
        self.assertEqual((st, w2["version"]), (201, 2), w2)
        st, _, latest = req(self.srv, "GET", "/api/v1/workflows/purchase_v", token=self.staff)
        self.assertEqual((st, latest["version"], latest["name"]), (200, 2, "Purchase request, revised"))
        st, _, v1 = req(self.srv, "GET", "/api/v1/workflows/purchase_v/versions/1", token=self.staff)
        self.assertEqual((st, v1["version"], v1["source"]), (200, 1, PURCHASE.replace("type: purchase", "type: purchase_v")))
        self.assertEqual(v1["definition"], w1["definition"])
        st, _, lst = req(self.srv, "GET", "/api/v1/workflows", token=self.staff)
        mine = [w for w in lst["data"] if w["type"] == "purchase_v"]
        self.assertEqual([w["version"] for w in mine], [2])
        for path in ("/api/v1/workflows/nope", "/api/v1/workflows/purchase_v/versions/3",
                     "/api/v1/workflows/purchase_v/versions/x", "/api/v1/workflows/purchase_v/versions/0"):
            st, h, b = req(self.srv, "GET", path, token=self.staff)
            assert_problem(self, st, h, b, 404)
        st, _, ev = req(self.srv, "GET", "/api/v1/openapi.json")
        self.assertIn("/api/v1/workflows/{type}/versions/{version}", ev["paths"])

    def test_validate_checks_like_publish_and_stores_nothing(self):
        t = "purchase_check"
        good = PURCHASE.replace("type: purchase", "type: " + t)
        st, _, b = req(self.srv, "POST", "/api/v1/workflows/validate", raw=good.encode(), token=self.admin,
                       headers={"Content-Type": "application/yaml"})
        self.assertEqual((st, b), (200, {"valid": True, "type": t, "name": "Purchase request"}))
        bad = good.replace("to: approved", "to: limbo")
        st, h, b = req(self.srv, "POST", "/api/v1/workflows/validate", raw=bad.encode(), token=self.admin,
                       headers={"Content-Type": "application/yaml"})
        assert_problem(self, st, h, b, 422)
        self.assertIn("transitions[1].to", [e["field"] for e in b["errors"]])
        st, h, b = req(self.srv, "POST", "/api/v1/workflows/validate", raw=b"name: [", token=self.admin,
                       headers={"Content-Type": "application/yaml"})
        assert_problem(self, st, h, b, 400)
        self.assertRegex(b["detail"], r"^line \d+, column \d+: ")
        st, h, b = req(self.srv, "POST", "/api/v1/workflows/validate", raw=good.encode(), token=self.staff,
                       headers={"Content-Type": "application/yaml"})
        assert_problem(self, st, h, b, 403)
        st, h, b = req(self.srv, "GET", "/api/v1/workflows/" + t, token=self.admin)
        assert_problem(self, st, h, b, 404)  # nothing was published

    def test_only_admins_publish_and_customers_do_not_read(self):
        st, h, b = publish(self.srv, self.staff, PURCHASE)
        assert_problem(self, st, h, b, 403)
        st, h, b = publish(self.srv, None, PURCHASE)
        assert_problem(self, st, h, b, 401)
        st, h, b = req(self.srv, "GET", "/api/v1/workflows", token=self.cust)
        assert_problem(self, st, h, b, 403)

    def test_bad_definitions_name_the_place_and_store_nothing(self):
        t = "purchase_bad"
        good = PURCHASE.replace("type: purchase", "type: " + t)
        st, _, w = publish(self.srv, self.admin, good)
        self.assertEqual(st, 201, w)
        cases = [
            (good.replace("to: approved", "to: aproved"), 422, "transitions[1].to"),
            (good.replace("  rejected: {final: true}\n", "  rejected: {final: true}\n  limbo: {}\n"), 422, "states.limbo"),
            (good.replace("approved: {final: true}", "approved: {}").replace("rejected: {final: true}", "rejected: {}"),
             422, "states"),
            (good.replace("guard: data.amount > 0", "guard: data.amount >"), 422, "transitions[0].guard"),
            (good.replace("after: 48h", "after: soon"), 422, "timers[0].after"),
            (good.replace("roles: [customer]", "roles: [boss]"), 422, "transitions[0].roles"),
            (good + "approvals: []\n", 422, "approvals"),
            ("name: [unclosed\n", 400, None),
            ("a: &x 1\nb: *x\n", 400, None),
            ("", 400, None),
        ]
        for body, status, field in cases:
            with self.subTest(field=field, status=status):
                st, h, b = publish(self.srv, self.admin, body)
                assert_problem(self, st, h, b, status, field=field)
        st, h, b = publish(self.srv, self.admin, "{bad json", ctype="application/json")
        assert_problem(self, st, h, b, 400)
        st, _, latest = req(self.srv, "GET", "/api/v1/workflows/" + t, token=self.admin)
        self.assertEqual(latest["version"], 1)  # nothing stored by the failures

    def test_type_names_follow_the_documented_charset(self):
        st, h, w = publish(self.srv, self.admin, PURCHASE.replace("type: purchase", "type: my-type"))
        self.assertEqual((st, w.get("type")), (201, "my-type"), w)
        self.assertEqual(h["location"], "/api/v1/workflows/my-type/versions/1")
        st, _, got = req(self.srv, "GET", "/api/v1/workflows/my-type", token=self.staff)
        self.assertEqual((st, got["type"]), (200, "my-type"))
        for bad in ("My-Type", "-type", "1type", "type with spaces", "x" * 41):
            with self.subTest(type=bad):
                st, h, b = publish(self.srv, self.admin, PURCHASE.replace("type: purchase", "type: '%s'" % bad))
                assert_problem(self, st, h, b, 422, field="type")
                msg = [e["message"] for e in b["errors"] if e["field"] == "type"][0]
                self.assertNotIn("is required", msg)
                self.assertIn("'-'", msg)
        st, h, b = publish(self.srv, self.admin, PURCHASE.replace("type: purchase\n", ""))
        assert_problem(self, st, h, b, 422, field="type")
        self.assertIn("is required", [e["message"] for e in b["errors"] if e["field"] == "type"][0])
        # other names say what is allowed too; hyphens are for types only
        st, h, b = publish(self.srv, self.admin, PURCHASE.replace("action: reject", "action: re-ject"))
        assert_problem(self, st, h, b, 422, field="transitions[2].action")
        self.assertIn("'re-ject' is not allowed", b["errors"][0]["message"])

    def test_who_may_take_a_transition_is_validated(self):
        cases = [
            ("roles: [customer]", "roles: [customer], by: [requester, boss]", "transitions[0].by[1]"),
            ("roles: [customer]", "roles: [customer], by: [role:boss]", "transitions[0].by[0]"),
            ("roles: [customer]", "roles: [customer], by: []", "transitions[0].by"),
            ("roles: [customer]", "roles: [customer], by: requester", "transitions[0].by"),
        ]
        for old, new, field in cases:
            with self.subTest(field=field, new=new):
                st, h, b = publish(self.srv, self.admin, PURCHASE.replace(old, new))
                assert_problem(self, st, h, b, 422, field=field)
        ok = PURCHASE.replace("type: purchase", "type: purchase_by").replace(
            "roles: [customer]", "roles: [customer], by: [requester, assignee, role:admin]")
        st, _, w = publish(self.srv, self.admin, ok)
        self.assertEqual(st, 201, w)
        self.assertEqual(w["definition"]["transitions"][0]["by"], ["requester", "assignee", "role:admin"])

    def test_description_and_fields_are_validated(self):
        base = PURCHASE.replace("type: purchase", "type: purchase_fields")
        cases = [
            ("description: [1]\n", "description"),
            ("fields: {amount: number}\n", "fields"),
            ("fields: [{name: amount, type: money}]\n", "fields[0].type"),
            ("fields: [{name: Amount, type: number}]\n", "fields[0].name"),
            ("fields: [{name: a, type: number}, {name: a, type: string}]\n", "fields[1].name"),
            ("fields: [{name: a, type: number, required: yes}]\n", "fields[0].required"),
            ("fields: [{name: a, type: number, colour: red}]\n", "fields[0].colour"),
            ("fields: [{name: a, type: number, label: [x]}]\n", "fields[0].label"),
        ]
        for extra, field in cases:
            with self.subTest(field=field):
                st, h, b = publish(self.srv, self.admin, base + extra)
                assert_problem(self, st, h, b, 422, field=field)

    def test_the_catalog_of_request_types_is_open_to_everyone_signed_in(self):
        srv = Server()  # a database of its own: the catalog lists every type
        try:
            admin = make_user(srv, "admin")["access_token"]
            cust = register(srv)["access_token"]
            st, h, b = req(srv, "GET", "/api/v1/request-types", token=cust)
            self.assertEqual((st, b), (200, {"data": [], "next_cursor": None}))
            typed = PURCHASE.replace("type: purchase", "type: buy-things") + (
                "description: Ask for something to be bought\n"
                "fields:\n"
                "  - {name: amount, type: number, required: true, label: Amount}\n"
                "  - {name: reason, type: string}\n")
            for body in (typed, PURCHASE.replace("type: purchase", "type: a_plain"), typed.replace("Ask", "Please ask")):
                st, _, w = publish(srv, admin, body)
                self.assertEqual(st, 201, w)
            st, _, b = req(srv, "GET", "/api/v1/request-types", token=cust)
            self.assertEqual(st, 200, b)
            self.assertEqual(b["next_cursor"], None)
            self.assertEqual(b["data"], [
                {"type": "a_plain", "name": "Purchase request", "description": None, "version": 1, "fields": []},
                {"type": "buy-things", "name": "Purchase request", "description": "Please ask for something to be bought",
                 "version": 2, "fields": [{"name": "amount", "type": "number", "required": True, "label": "Amount"},
                                          {"name": "reason", "type": "string"}]}])
            st, _, p1 = req(srv, "GET", "/api/v1/request-types?limit=1", token=cust)
            self.assertEqual(([t["type"] for t in p1["data"]], p1["next_cursor"]), (["a_plain"], "a_plain"))
            st, _, p2 = req(srv, "GET", "/api/v1/request-types?limit=1&cursor=" + p1["next_cursor"], token=cust)
            self.assertEqual(([t["type"] for t in p2["data"]], p2["next_cursor"]), (["buy-things"], None))
            for q, field in (("?cursor=%20x", "cursor"), ("?limit=0", "limit")):
                st, h, b = req(srv, "GET", "/api/v1/request-types" + q, token=cust)
                assert_problem(self, st, h, b, 422, field=field)
            st, h, b = req(srv, "GET", "/api/v1/request-types")
            assert_problem(self, st, h, b, 401)
            # the fields are checked when a request is opened
            for data, field in (({}, "data.amount"), ({"amount": "ten"}, "data.amount"),
                                ({"amount": 5, "reason": 7}, "data.reason")):
                st, h, b = req(srv, "POST", "/api/v1/requests", {"type": "buy-things", "title": "t", "data": data},
                               token=cust)
                assert_problem(self, st, h, b, 422, field=field)
            st, _, r = req(srv, "POST", "/api/v1/requests", {"type": "buy-things", "title": "t",
                                                               "data": {"amount": 5, "extra": True}}, token=cust)
            self.assertEqual(st, 201, r)
            st, _, lst = req(srv, "GET", "/api/v1/requests", token=cust)
            self.assertEqual([x["id"] for x in lst["data"]], [r["id"]])  # nothing from the refusals
            st, _, doc = req(srv, "GET", "/api/v1/openapi.json")
            self.assertIn("get", doc["paths"]["/api/v1/request-types"])
        finally:
            srv.close()


if __name__ == "__main__":
    main()
