"""The desk's server-side filters: GET /requests?sla= (the most urgent SLA
status of each request, stored with every change and moved by the SLA timer
on the test clock), with other filters and cursor pages; GET /users?q= (a
prefix of the address or the name, case-insensitive), with cursor pages; bad
values get 422 naming the parameter."""
import unittest, urllib.parse
from sfharness import Server, req, register, make_user, assert_problem, main, unique_email
from test_sla import Clocked, example
from test_workflows import publish

FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]


class SlaFilter(Clocked):
    def open(self, priority, title="incident"):
        st, _, r = req(self.srv, "POST", "/api/v1/requests",
                       {"type": "incident", "title": title, "data": {"priority": priority}}, token=self.token("cust"))
        self.assertEqual(st, 201, r)
        return r["id"]

    def ids(self, query, who="staff"):
        st, _, page = req(self.srv, "GET", "/api/v1/requests?" + query, token=self.token(who))
        self.assertEqual(st, 200, page)
        return [r["id"] for r in page["data"]]

    def all_pages(self, query, who="staff"):
        out, cursor = [], None
        for _ in range(20):
            q = query + "&limit=1" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
            st, _, page = req(self.srv, "GET", "/api/v1/requests?" + q, token=self.token(who))
            self.assertEqual(st, 200, page)
            out += [r["id"] for r in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                return out
        self.fail("no end of pages")

    def test_sla_status_filter(self):
        st, _, w = publish(self.srv, self.token("admin"), example("it_incident.yaml"))
        self.assertEqual(st, 201, w)
        st, _, w = publish(self.srv, self.token("admin"), example("purchase.yaml"))
        self.assertEqual(st, 201, w)
        p1 = self.open("P1", "database down")  # response 30m
        running = [self.open("P2", "printer %d" % i) for i in range(3)]  # response 2h
        paused = self.open("P2", "waiting")
        self.act(paused, "start")
        self.act(paused, "ask_customer")  # response met, resolution paused
        met = self.open("P2", "done")
        self.act(met, "resolve")
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "purchase", "title": "pens", "data": {"amount": 5}},
                       token=self.token("cust"))
        self.assertEqual(st, 201, r)
        plain = r["id"]
        self.assertEqual(self.ids("sla=running"), [*reversed(running), p1])
        self.assertEqual(self.ids("sla=paused"), [paused])
        self.assertEqual(self.ids("sla=met"), [met])
        self.assertEqual(self.ids("sla=none"), [plain])
        self.assertEqual(self.ids("sla=warning") + self.ids("sla=breached"), [])
        # 75% of P1's 30 minutes: a warning; then past it: breached (the SLA timer records both)
        self.advance(25 * 60)
        self.wait_event(p1, "request.sla_warning")
        self.assertEqual(self.ids("sla=warning"), [p1])
        self.assertEqual(self.ids("sla=running"), list(reversed(running)))
        self.advance(10 * 60)
        self.wait_event(p1, "request.sla_breached")
        self.assertEqual(self.ids("sla=breached"), [p1])
        self.assertEqual(self.ids("sla=warning"), [])
        # the rows' own SLA view agrees with the filter
        st, _, page = req(self.srv, "GET", "/api/v1/requests?sla=breached", token=self.token("staff"))
        self.assertIn("breached", [t["status"] for t in page["data"][0]["sla"]["targets"]])
        # with the other filters, and a page at a time (newest first, no gap, no duplicate)
        self.assertEqual(self.all_pages("sla=running"), list(reversed(running)))
        self.assertEqual(self.all_pages("sla=running&type=incident&state=new"), list(reversed(running)))
        self.assertEqual(self.ids("sla=running&q=printer"), list(reversed(running)))
        self.assertEqual(self.ids("sla=running&assignee=role:staff"), list(reversed(running)))
        self.assertEqual(self.ids("sla=running&state=waiting_on_customer"), [])
        # a customer filters their own requests
        self.assertEqual(self.all_pages("sla=running", who="cust"), list(reversed(running)))
        self.assertEqual(self.ids("sla=breached&created_by=me", who="admin"), [])
        # moving on changes it: the breached P1 resolved is met
        self.act(p1, "resolve")
        self.assertEqual(self.ids("sla=breached"), [])
        self.assertEqual(self.ids("sla=met"), [met, p1])  # met late is met (as the view says)
        for bad in ("late", "", "BREACHED"):
            st, h, b = req(self.srv, "GET", "/api/v1/requests?sla=" + bad, token=self.token("staff"))
            assert_problem(self, st, h, b, 422, field="sla")


class UserSearch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(FAST)
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.cust = register(cls.srv)["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def find(self, q, token=None, extra=""):
        st, _, b = req(self.srv, "GET", "/api/v1/users?q=%s%s" % (urllib.parse.quote(q), extra),
                       token=token or self.admin)
        self.assertEqual(st, 200, b)
        return b

    def emails(self, q, token=None):
        return sorted(u["email"] for u in self.find(q, token)["data"])

    def test_prefix_of_email_or_name(self):
        a = unique_email("zorblat")
        b = unique_email("quill")
        register(self.srv, email=a, name="Xanthippe Moor")
        register(self.srv, email=b, name="Zorblatt Queen")
        self.assertEqual(self.emails("zorblat"), sorted([a, b]))  # a's address, b's name
        self.assertEqual(self.emails("ZORBLAT"), sorted([a, b]))  # case-insensitive
        self.assertEqual(self.emails("xanthippe m"), [a])
        self.assertEqual(self.emails(b[:len("quill") + 3]), [b])
        self.assertEqual(self.emails("moor"), [])  # a prefix, not any word
        self.assertEqual(self.emails("nobody-here-at-all"), [])
        self.assertEqual(self.emails("zorblat", token=self.staff), sorted([a, b]))  # users:read

    def test_pages_and_bad_input(self):
        made = [unique_email("pagey") for _ in range(3)]
        for e in made:
            register(self.srv, email=e, name="Pagey")
        got, cursor = [], None
        for _ in range(10):
            b = self.find("pagey", extra="&limit=1" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else ""))
            got += [u["email"] for u in b["data"]]
            cursor = b["next_cursor"]
            if not cursor:
                break
        self.assertEqual(got, list(reversed(made)))  # newest first, each once
        for bad in ("", "x" * 101):
            st, h, body = req(self.srv, "GET", "/api/v1/users?q=" + bad, token=self.admin)
            assert_problem(self, st, h, body, 422, field="q")
        st, h, body = req(self.srv, "GET", "/api/v1/users?q=pagey", token=self.cust)
        assert_problem(self, st, h, body, 403)


if __name__ == "__main__":
    main()
