"""Lists: every list refuses query parameters it does not read (422), and
GET /requests filters by assignee and full text (title, data values,
comments), alone and combined with state, type and the cursor."""
import json, os, unittest, urllib.parse
from sfharness import Server, req, register, make_user, assert_problem, main
from test_workflows import publish
from test_orders import setup_shop, place, OK, DECLINED

FLOW = """\
name: Ticket
type: ticket
initial: open
states:
  open: {}
  working: {}
  done: {final: true}
transitions:
  - {action: start, from: open, to: working, roles: [staff, admin]}
  - {action: finish, from: working, to: done, roles: [staff, admin]}
"""


class Lists(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        staff = make_user(cls.srv, "staff")
        cls.staff = staff["access_token"]
        st, _, me = req(cls.srv, "GET", "/api/v1/users/me", token=cls.staff)
        cls.staff_id = me["id"]
        cls.cust = register(cls.srv)["access_token"]
        st, _, w = publish(cls.srv, cls.admin, FLOW)
        assert st == 201, w

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def open(self, title, data=None, token=None):
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "ticket", "title": title, "data": data or {}},
                       token=token or self.cust)
        self.assertEqual(st, 201, r)
        return r["id"]

    def assign(self, rid, **who):
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/assignment" % rid, who, token=self.admin)
        self.assertEqual(st, 200, r)

    def ids(self, query, token=None):
        st, h, b = req(self.srv, "GET", "/api/v1/requests?" + urllib.parse.urlencode(query), token=token or self.admin)
        self.assertEqual(st, 200, b)
        return [r["id"] for r in b["data"]]

    def test_every_list_refuses_unknown_parameters(self):
        st, _, doc = req(self.srv, "GET", "/api/v1/openapi.json")
        # a list answers {data, next_cursor}; paged ones also document limit and cursor
        lists = [(p, op) for p, ops in doc["paths"].items() for m, op in ops.items()
                 if m == "get" and "next_cursor" in json.dumps(op["responses"].get("200", {}))]
        self.assertGreaterEqual(len(lists), 10, [p for p, _ in lists])
        for path, op in lists:
            url = path.replace("{", "x").replace("}", "x")
            with self.subTest(path=path):
                paged = any(x["name"] == "cursor" for x in op.get("parameters", []))
                st, h, b = req(self.srv, "GET", url + ("?limit=5&" if paged else "?") + "assigne=me", token=self.admin)
                assert_problem(self, st, h, b, 422, field="assigne")
                self.assertIn("422", op["responses"])
                # every documented parameter is one the list reads
                for p in op["parameters"]:
                    if p["in"] != "query":
                        continue
                    st, h, b = req(self.srv, "GET", url + "?" + p["name"] + "=1", token=self.admin)
                    self.assertFalse(st == 422 and p["name"] in [e["field"] for e in b.get("errors", [])]
                                     and "not a parameter" in json.dumps(b), (path, p["name"], b))

    def test_assignee_filters(self):
        mine, queue, free = self.open("printer jam"), self.open("vpn down"), self.open("new chair")
        self.assign(mine, user_id=self.staff_id)
        self.assign(queue, role="staff")
        self.assertEqual(self.ids({"assignee": "me"}, token=self.staff), [mine])
        self.assertEqual(self.ids({"assignee": self.staff_id}), [mine])
        self.assertIn(queue, self.ids({"assignee": "role:staff"}))
        self.assertNotIn(mine, self.ids({"assignee": "role:staff"}))
        unassigned = self.ids({"assignee": "unassigned", "type": "ticket"})
        self.assertIn(free, unassigned)
        self.assertNotIn(mine, unassigned)
        self.assertNotIn(queue, unassigned)
        self.assertEqual(self.ids({"assignee": "me", "state": "done"}, token=self.staff), [])
        self.assertEqual(self.ids({"assignee": "me", "state": "open", "type": "ticket"}, token=self.staff), [mine])
        for bad in ("you", "role:king", "usr_" + "x" * 60, ""):
            st, h, b = req(self.srv, "GET", "/api/v1/requests?assignee=" + bad, token=self.admin)
            assert_problem(self, st, h, b, 422, field="assignee")

    def test_created_by_me(self):
        """an agent sees every request, and with created_by=me only their own (the portal's "my requests")"""
        theirs = self.open("customer's ticket")
        own = self.open("agent's own ticket", token=self.staff)
        self.assertIn(theirs, self.ids({"type": "ticket"}, token=self.staff))
        self.assertEqual(self.ids({"created_by": "me"}, token=self.staff), [own])
        self.assertEqual(self.ids({"created_by": "me", "type": "ticket", "state": "open"}, token=self.staff), [own])
        self.assertNotIn(own, self.ids({"created_by": "me"}, token=self.cust))
        self.assertIn(theirs, self.ids({"created_by": "me"}, token=self.cust))
        for bad in ("you", "", self.staff_id):
            st, h, b = req(self.srv, "GET", "/api/v1/requests?created_by=" + bad, token=self.admin)
            assert_problem(self, st, h, b, 422, field="created_by")

    def test_full_text_over_title_data_and_comments(self):
        a = self.open("Broken keyboard", {"room": "Zanzibar"})
        b = self.open("Monitor flicker", {"room": "Quokka"})
        self.assertEqual(self.ids({"q": "keyboard"}), [a])
        self.assertEqual(self.ids({"q": "zanzi"}), [a])  # a prefix of a data value
        self.assertEqual(self.ids({"q": "quokka monitor"}), [b])
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/comments" % b, {"body": "swapped the HDMI cable"},
                       token=self.cust)
        self.assertEqual(st, 201, r)
        self.assertEqual(self.ids({"q": "hdmi"}), [b])
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % a,
                       {"action": "start", "comment": "ordered a Logitech"}, token=self.admin)
        self.assertEqual(st, 200, r)
        self.assertEqual(self.ids({"q": "logitech"}), [a])
        self.assertEqual(self.ids({"q": "logitech", "state": "working"}), [a])
        self.assertEqual(self.ids({"q": "logitech", "state": "open"}), [])
        self.assign(a, user_id=self.staff_id)
        self.assertEqual(self.ids({"q": "keyboard", "assignee": "me"}, token=self.staff), [a])
        self.assertEqual(self.ids({"q": "hdmi", "assignee": "me"}, token=self.staff), [])
        self.assertEqual(self.ids({"q": "keyboard"}, token=self.cust), [a])  # the customer's own
        other = register(self.srv)["access_token"]
        self.assertEqual(self.ids({"q": "keyboard"}, token=other), [])
        for bad in ("", "!!!", " ".join(["w"] * 17)):
            st, h, body = req(self.srv, "GET", "/api/v1/requests?q=" + urllib.parse.quote(bad), token=self.admin)
            assert_problem(self, st, h, body, 422, field="q")
        st, _, body = req(self.srv, "GET", '/api/v1/requests?q=%22AND%20OR(', token=self.admin)
        self.assertEqual(st, 200, body)  # FTS syntax in the text is only text

    def test_order_filters_alone_and_combined(self):
        staff, products = setup_shop(self.srv)
        a, b = register(self.srv), register(self.srv)
        for who, card in ((a, OK), (a, DECLINED), (b, OK), (a, OK)):
            st, _, o = place(self.srv, who["access_token"], [{"product_id": products[0]["id"], "quantity": 1}],
                             card=card, wait=10)
            self.assertEqual(st, 201, o)

        def ids(query, token):
            st, _, body = req(self.srv, "GET", "/api/v1/orders?" + urllib.parse.urlencode(query), token=token)
            self.assertEqual(st, 200, body)
            return [(o["id"], o["customer_id"], o["status"]) for o in body["data"]]
        mine = ids({}, a["access_token"])
        self.assertEqual(len(mine), 3)
        cust_a = mine[0][1]
        self.assertEqual(ids({"status": "paid"}, a["access_token"]), [o for o in mine if o[2] == "paid"])
        self.assertEqual(len([o for o in mine if o[2] == "paid"]), 2)
        self.assertEqual(ids({"customer_id": cust_a}, staff), mine)
        self.assertEqual(ids({"customer_id": cust_a, "status": "cancelled"}, staff), [o for o in mine if o[2] == "cancelled"])
        paid_all = ids({"status": "paid", "limit": 200}, staff)
        self.assertTrue(all(o[2] == "paid" for o in paid_all) and len(paid_all) >= 3)
        self.assertEqual(ids({"customer_id": cust_a}, b["access_token"]), ids({}, b["access_token"]))  # ignored for customers
        pages, cursor = [], None
        while True:
            q = {"customer_id": cust_a, "limit": 1, **({"cursor": cursor} if cursor else {})}
            st, _, body = req(self.srv, "GET", "/api/v1/orders?" + urllib.parse.urlencode(q), token=staff)
            pages += [o["id"] for o in body["data"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual(pages, [o[0] for o in mine])

    def test_users_by_role_with_q_and_pages(self):
        mark = "rolemark%d" % os.getpid()
        made = {}
        for i, role in enumerate(["approver", "staff", "approver", "customer", "approver"]):
            st, _, u = req(self.srv, "POST", "/api/v1/users", {"email": "%s-%d@example.com" % (mark, i),
                                                               "password": "role password 1", "role": role},
                           token=self.admin)
            self.assertEqual(st, 201, u)
            made.setdefault(role, []).append(u["id"])
        st, _, b = req(self.srv, "GET", "/api/v1/users?role=approver&q=" + mark, token=self.admin)
        self.assertEqual(st, 200, b)
        self.assertEqual([u["id"] for u in b["data"]], list(reversed(made["approver"])))
        st, _, b = req(self.srv, "GET", "/api/v1/users?role=approver&limit=200", token=self.admin)
        self.assertEqual({u["role"] for u in b["data"]}, {"approver"})
        self.assertTrue(set(made["approver"]) <= {u["id"] for u in b["data"]})
        # pages of role + q: each once, newest first
        got, cursor = [], None
        for _ in range(5):
            q = {"role": "approver", "q": mark, "limit": 2, **({"cursor": cursor} if cursor else {})}
            st, _, b = req(self.srv, "GET", "/api/v1/users?" + urllib.parse.urlencode(q), token=self.admin)
            self.assertEqual(st, 200, b)
            got += [u["id"] for u in b["data"]]
            cursor = b["next_cursor"]
            if not cursor:
                break
        self.assertEqual(got, list(reversed(made["approver"])))
        # pages of the role alone
        got, cursor = [], None
        for _ in range(50):
            q = {"role": "customer", "limit": 1, **({"cursor": cursor} if cursor else {})}
            st, _, b = req(self.srv, "GET", "/api/v1/users?" + urllib.parse.urlencode(q), token=self.admin)
            got += [u["id"] for u in b["data"]]
            cursor = b["next_cursor"]
            if not cursor:
                break
        self.assertIn(made["customer"][0], got)
        self.assertEqual(len(got), len(set(got)))
        for bad in ("boss", "", "Admin"):
            st, h, b = req(self.srv, "GET", "/api/v1/users?role=" + bad, token=self.admin)
            assert_problem(self, st, h, b, 422, field="role")
        st, h, b = req(self.srv, "GET", "/api/v1/users?role=admin", token=self.cust)
        assert_problem(self, st, h, b, 403)

    def test_pages_of_a_filtered_list(self):
        made = [self.open("paging sample %d" % i, {"tag": "pagingmark"}) for i in range(5)]
        got, cursor = [], None
        for _ in range(5):
            q = {"q": "pagingmark", "limit": 2, **({"cursor": cursor} if cursor else {})}
            st, _, b = req(self.srv, "GET", "/api/v1/requests?" + urllib.parse.urlencode(q), token=self.admin)
            self.assertEqual(st, 200, b)
            got += [r["id"] for r in b["data"]]
            cursor = b["next_cursor"]
            if not cursor:
                break
        self.assertEqual(got, list(reversed(made)))


if __name__ == "__main__":
    main()
