"""The event log for admins: GET /events pages the log newest first (all of it
or one stream), POST /events/verify runs serviceflow verify's checks over HTTP
and names a state row changed behind the server's back; both admin only."""
import os, sqlite3, unittest, urllib.parse
from sfharness import Server, req, register, make_user, assert_problem, main


class Audit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.cust = register(cls.srv)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def get(self, path, token=None):
        return req(self.srv, "GET", path, token=token or self.admin)

    def test_pages_newest_first_and_by_stream(self):
        st, _, first = self.get("/api/v1/events?limit=3")
        self.assertEqual(st, 200, first)
        pos = [e["position"] for e in first["data"]]
        self.assertEqual(pos, [first["head"], first["head"] - 1, first["head"] - 2])
        st, _, second = self.get("/api/v1/events?limit=3&cursor=" + first["next_cursor"])
        self.assertEqual([e["position"] for e in second["data"]], [p - 3 for p in pos if p > 3])
        # all the way down: every position once, the last page says so
        seen, cursor, head = [], None, None
        while True:
            st, _, page = self.get("/api/v1/events?limit=2" + ("&cursor=" + cursor if cursor else ""))
            head = head or page["head"]
            seen += [e["position"] for e in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, list(range(head, 0, -1)))
        stream = "user-" + self.cust["user"]["id"]
        st, _, mine = self.get("/api/v1/events?stream=" + stream)
        self.assertEqual(st, 200, mine)
        self.assertTrue(mine["data"])
        self.assertEqual({e["stream"] for e in mine["data"]}, {stream})
        self.assertEqual([e["version"] for e in mine["data"]], list(range(mine["head"], 0, -1)))
        st, _, none = self.get("/api/v1/events?stream=nothing-here")
        self.assertEqual((st, none["data"], none["head"], none["next_cursor"]), (200, [], 0, None))

    def test_type_filter_exact_prefix_list_and_pages(self):
        u = register(self.srv)
        req(self.srv, "POST", "/api/v1/auth/login", {"email": u["user"]["email"], "password": "nope-nope-1"})
        st, _, b = self.get("/api/v1/events?type=user.registered&limit=200")
        self.assertEqual(st, 200, b)
        self.assertTrue(b["data"])
        self.assertEqual({e["type"] for e in b["data"]}, {"user.registered"})
        pos = [e["position"] for e in b["data"]]
        self.assertEqual(pos, sorted(pos, reverse=True))
        self.assertEqual(b["head"], self.get("/api/v1/events?limit=1")[2]["head"])
        # a prefix ("user." or "user.*") is every type under it; a list is their union
        st, _, all_user = self.get("/api/v1/events?type=user.&limit=200")
        self.assertEqual(st, 200, all_user)
        types = {e["type"] for e in all_user["data"]}
        self.assertTrue({"user.registered", "user.login_failed"} <= types, types)
        self.assertTrue(all(t.startswith("user.") for t in types), types)
        self.assertEqual(self.get("/api/v1/events?type=user.*&limit=200")[2]["data"], all_user["data"])
        st, _, both = self.get("/api/v1/events?type=user.login_failed,user.registered&limit=200")
        self.assertEqual({e["type"] for e in both["data"]}, {"user.login_failed", "user.registered"})
        self.assertEqual([e["position"] for e in both["data"]],
                         [e["position"] for e in all_user["data"] if e["type"] in
                          ("user.login_failed", "user.registered")])
        # pages: every matching event once, newest first, the last page says so
        seen, cursor = [], None
        while True:
            st, _, page = self.get("/api/v1/events?type=user.&limit=2" + ("&cursor=" + cursor if cursor else ""))
            self.assertEqual(st, 200, page)
            self.assertLessEqual(len(page["data"]), 2)
            seen += [e["position"] for e in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, [e["position"] for e in all_user["data"]])
        # with a stream: that stream's events of the type, by version
        stream = "user-" + u["user"]["id"]
        st, _, mine = self.get("/api/v1/events?stream=%s&type=user.login_failed" % stream)
        self.assertEqual(st, 200, mine)
        self.assertEqual([(e["stream"], e["type"]) for e in mine["data"]], [(stream, "user.login_failed")])
        # nothing of that type (or prefix): an empty page
        for q in ("type=nothing.here", "type=zzz.", "type=user.registered&stream=nothing-here"):
            st, _, none = self.get("/api/v1/events?" + q)
            self.assertEqual((st, none["data"], none["next_cursor"]), (200, [], None), q)

    def test_bad_type_is_400_naming_it(self):
        for bad in ("", ",", "user.registered,", "User.registered", "user..x", ".user", "user.*.x", "a b",
                    "x" * 200, ",".join(["a.b"] * 17), "*", "user-registered"):
            st, h, b = self.get("/api/v1/events?type=" + urllib.parse.quote(bad))
            assert_problem(self, st, h, b, 400, field="type")

    def test_bad_input_and_other_roles(self):
        for q in ("cursor=x", "cursor=0", "cursor=-3", "limit=0", "limit=201", "typo=1"):
            st, h, b = self.get("/api/v1/events?" + q)
            assert_problem(self, st, h, b, 422)
        for tok in (self.staff, self.cust["access_token"]):
            st, h, b = self.get("/api/v1/events", token=tok)
            assert_problem(self, st, h, b, 403)
            st, h, b = req(self.srv, "POST", "/api/v1/events/verify", token=tok)
            assert_problem(self, st, h, b, 403)
        st, h, b = req(self.srv, "GET", "/api/v1/events")
        assert_problem(self, st, h, b, 401)

    def test_verify_is_clean_then_names_a_changed_row(self):
        st, _, r = req(self.srv, "POST", "/api/v1/events/verify", token=self.admin)
        self.assertEqual(st, 200, r)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["chain"], "intact")
        self.assertGreater(r["events"], 0)
        users = [c for c in r["checks"] if c["name"] == "users"][0]
        self.assertGreaterEqual(users["checked"], 3)
        db = sqlite3.connect(os.path.join(self.srv.data_dir, "serviceflow.db"))
        try:
            db.execute("UPDATE users SET role = 'admin' WHERE id = ?", (self.cust["user"]["id"],))
            db.commit()
            st, _, r = req(self.srv, "POST", "/api/v1/events/verify", token=self.admin)
            self.assertEqual(st, 200, r)
            self.assertFalse(r["ok"], r)
            users = [c for c in r["checks"] if c["name"] == "users"][0]
            self.assertEqual(users["mismatches"], 1, users)
            self.assertIn(self.cust["user"]["id"], users["details"][0])
        finally:
            db.execute("UPDATE users SET role = 'customer' WHERE id = ?", (self.cust["user"]["id"],))
            db.commit()
            db.close()


if __name__ == "__main__":
    main()
