"""SLAs with a business calendar, driven by the test clock of
serviceflow-testclock (POST /api/v1/_test/clock; SF_TEST_CLOCK_OFFSET_MS at
start): warnings and breaches fired by durable timers with their escalation
actions, the clock stopped while paused and outside working hours, holidays,
breaches that fell due while the server was down, malformed SLA
definitions, and the shipped examples/."""
import calendar, os, time, unittest
from sfharness import Server, TESTCLOCK_BIN, req, register, make_user, login, unique_email, assert_problem, main
from test_workflows import publish

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")
FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]


def example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


def utc_ms(s):
    """'2026-11-23T08:00:00' (UTC) -> ms since epoch"""
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%S")) * 1000


def clock_at(s):
    """The environment that starts a test-clock server at UTC instant s."""
    return {"SF_TEST_CLOCK_OFFSET_MS": str(utc_ms(s) - int(time.time() * 1000))}


class Clocked(unittest.TestCase):
    """A test-clock server starting at self.START (UTC), with an admin, a
    staff member and a customer whose tokens are renewed after each jump."""
    START = "2026-11-23T08:00:00"  # Monday 09:00 in Berlin

    def setUp(self):
        self.srv = Server(FAST, bin=TESTCLOCK_BIN, env=clock_at(self.START))
        email = unique_email("cust")
        self.users = {"admin": make_user(self.srv, "admin"), "staff": make_user(self.srv, "staff"),
                      "cust": register(self.srv, email=email)}
        self.users["cust"]["email"] = email
        self.tokens = {k: u["access_token"] for k, u in self.users.items()}

    def tearDown(self):
        self.srv.close()

    def token(self, who):
        return self.tokens[who]

    def relogin(self):
        """access tokens expire in simulated time too"""
        for k, u in self.users.items():
            st, _, t = login(self.srv, u["email"], u["password"])
            self.assertEqual(st, 200, t)
            self.tokens[k] = t["access_token"]

    def advance(self, seconds):
        self.relogin()
        st, _, b = req(self.srv, "POST", "/api/v1/_test/clock", {"advance_s": seconds}, token=self.token("admin"))
        self.assertEqual(st, 200, b)
        self.relogin()
        return b

    def get(self, rid):
        st, _, r = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.token("admin"))
        self.assertEqual(st, 200, r)
        return r

    def events(self, rid):
        st, _, b = req(self.srv, "GET", "/api/v1/requests/%s/events" % rid, token=self.token("admin"))
        self.assertEqual(st, 200, b)
        return b["data"]

    def wait_event(self, rid, etype, count=1, timeout=8):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [e for e in self.events(rid) if e["type"] == etype]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        self.fail("%s never recorded %d x %s: %s" % (rid, count, etype, [e["type"] for e in self.events(rid)]))

    def act(self, rid, action, who="staff"):
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": action},
                       token=self.token(who))
        self.assertEqual(st, 200, r)
        return r

    def target(self, r, name):
        return [t for t in r["sla"]["targets"] if t["name"] == name][0]


class IncidentSLA(Clocked):
    def open(self, priority):
        st, _, w = publish(self.srv, self.token("admin"), example("it_incident.yaml"))
        self.assertEqual(st, 201, w)
        st, _, r = req(self.srv, "POST", "/api/v1/requests",
                       {"type": "incident", "title": "printer on fire", "data": {"priority": priority}},
                       token=self.token("cust"))
        self.assertEqual(st, 201, r)
        return r

    def test_warning_breach_escalation_and_pause(self):
        r = self.open("P2")
        rid = r["id"]
        self.assertEqual(r["sla"]["calendar"], "Europe/Berlin")
        resp = self.target(r, "response")
        self.assertEqual((resp["within"], resp["status"]), ("2h", "running"))
        self.assertTrue(resp["due_at"].startswith("2026-11-23T10:00"), resp)  # 11:00 in Berlin
        res = self.target(r, "resolution")
        self.assertTrue(res["due_at"].startswith("2026-11-23T16:00"), res)  # 8 business hours: 17:00 Berlin
        self.assertEqual([e for e in self.events(rid) if e["type"].startswith("request.sla_")][0]["type"],
                         "request.sla_started")
        # 75% of the response time: a warning (no actions for it), not yet a breach
        self.advance(91 * 60)
        w = self.wait_event(rid, "request.sla_warning")
        self.assertEqual((w[0]["data"]["name"], w[0]["data"]["percent"]), ("response", 75))
        self.assertNotIn("request.sla_breached", [e["type"] for e in self.events(rid)])
        # past 2h: breached, escalated to P1 (set) with a notification
        self.advance(30 * 60)
        b = self.wait_event(rid, "request.sla_breached")
        self.assertEqual(b[0]["data"]["name"], "response")
        r = self.get(rid)
        self.assertEqual(r["data"]["priority"], "P1")
        self.assertEqual(self.target(r, "response")["status"], "breached")
        types = [e["type"] for e in self.events(rid)]
        self.assertEqual(types[types.index("request.sla_breached"):][:3],
                         ["request.sla_breached", "request.notified", "request.fields_set"])
        # work starts: response met (late); resolution keeps running
        r = self.act(rid, "start")
        self.assertEqual((self.target(r, "response")["status"], self.target(r, "response")["breached"]), ("met", True))
        before = self.target(r, "resolution")["elapsed_s"]
        # waiting on the customer stops the clock
        r = self.act(rid, "ask_customer")
        self.assertEqual(self.target(r, "resolution")["status"], "paused")
        self.assertNotIn("due_at", self.target(r, "resolution"))
        self.advance(3 * 3600)
        r = self.get(rid)
        self.assertLess(abs(self.target(r, "resolution")["elapsed_s"] - before), 30)
        r = self.act(rid, "customer_replied", who="cust")
        self.assertEqual(self.target(r, "resolution")["status"], "running")
        # now ~14:01 Berlin with ~2h01m used: 5h59m of business time left,
        # 3h59m today (to 18:00) and 2h tomorrow from 08:00 -> ~10:00 Berlin
        due = self.target(r, "resolution")["due_at"]
        self.assertTrue(due.startswith("2026-11-24T08:59") or due.startswith("2026-11-24T09:00"), due)
        # overnight the clock does not run: from 17:50 Berlin to 08:00 next day only 10 minutes count
        self.advance(3 * 3600 + 49 * 60)
        used = self.target(self.get(rid), "resolution")["elapsed_s"]
        self.advance(14 * 3600 + 10 * 60)
        later = self.get(rid)
        self.assertLess(abs(self.target(later, "resolution")["elapsed_s"] - used - 600), 30)
        self.assertEqual(self.target(later, "resolution")["status"], "running")
        w = self.wait_event(rid, "request.sla_warning", count=2)  # 75% of 8h = 6h used
        self.assertEqual(w[1]["data"]["name"], "resolution")
        # resolved in time
        r = self.act(rid, "resolve")
        self.assertEqual((self.target(r, "resolution")["status"], self.target(r, "resolution")["breached"]),
                         ("met", False))

    def test_list_rows_carry_the_sla_with_the_servers_clock(self):
        """a queue shows each row's SLA (GET /requests rows as the view has it), and as_of is the
        server's (test) clock, so a client counts down to due_at from the server's now"""
        rid = self.open("P2")["id"]
        view = self.get(rid)
        self.assertTrue(view["sla"]["as_of"].startswith("2026-11-23T08:0"), view["sla"])
        st, _, page = req(self.srv, "GET", "/api/v1/requests?type=incident", token=self.token("admin"))
        self.assertEqual(st, 200, page)
        row = [x for x in page["data"] if x["id"] == rid][0]
        self.assertEqual([(t["name"], t["status"], t.get("due_at")) for t in row["sla"]["targets"]],
                         [(t["name"], t["status"], t.get("due_at")) for t in view["sla"]["targets"]])
        self.assertTrue(row["sla"]["as_of"].startswith("2026-11-23T08:0"), row["sla"])
        self.advance(2 * 3600 + 60)
        self.wait_event(rid, "request.sla_breached")
        st, _, page = req(self.srv, "GET", "/api/v1/requests?type=incident&state=new", token=self.token("admin"))
        self.assertEqual(st, 200, page)
        row = [x for x in page["data"] if x["id"] == rid][0]
        self.assertEqual(self.target(row, "response")["status"], "breached")
        self.assertTrue(row["sla"]["as_of"].startswith("2026-11-23T10:0"), row["sla"])
        # a type without an SLA has no sla member in its rows
        st, _, w = publish(self.srv, self.token("admin"), example("purchase.yaml"))
        self.assertEqual(st, 201, w)
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "purchase", "title": "pens", "data": {"amount": 5}},
                       token=self.token("cust"))
        self.assertEqual(st, 201, r)
        st, _, page = req(self.srv, "GET", "/api/v1/requests?type=purchase", token=self.token("cust"))
        self.assertEqual(st, 200, page)
        self.assertNotIn("sla", page["data"][0])

    def test_breach_due_while_down_fires_after_restart(self):
        r = self.open("P1")  # response within 30 business minutes
        rid = r["id"]
        self.srv.stop()
        self.srv.env = clock_at("2026-11-23T09:00:00")  # an hour later
        self.srv.start()
        self.advance(0)
        b = self.wait_event(rid, "request.sla_breached")
        self.assertEqual(b[0]["data"]["name"], "response")
        r = self.get(rid)
        self.assertEqual(r["assignee"], {"role": "admin"})  # the P1 escalation reassigns
        # the 75% warning of the response was overtaken by its breach; the resolution one (3h) is not due
        self.assertEqual([e["data"]["name"] for e in self.events(rid) if e["type"] == "request.sla_warning"], [])


class Holidays(Clocked):
    START = "2026-12-24T08:00:00"  # Christmas Eve, 09:00 in Berlin: a holiday

    def test_clock_starts_after_holidays_and_weekend(self):
        st, _, w = publish(self.srv, self.token("admin"), example("it_incident.yaml"))
        self.assertEqual(st, 201, w)
        st, _, r = req(self.srv, "POST", "/api/v1/requests",
                       {"type": "incident", "title": "VPN down", "data": {"priority": "P1"}}, token=self.token("cust"))
        self.assertEqual(st, 201, r)
        resp = self.target(r, "response")
        # 24th and 25th are holidays, 26th-27th a weekend: Monday 28th 08:30 Berlin = 07:30Z
        self.assertTrue(resp["due_at"].startswith("2026-12-28T07:30"), resp)
        self.assertEqual(resp["elapsed_s"], 0)


class TwentyFourSeven(Clocked):
    FLOW = """\
name: Chat
type: chat
initial: open
states:
  open: {}
  answered: {final: true}
  abandoned: {final: true}
transitions:
  - {action: answer, from: open, to: answered}
  - {action: abandon, from: open, to: abandoned}
sla:
  warn_at: [50, 90]
  targets:
    - {name: answer, until: answered, within: 10m, on_warning: [{notify: {role: staff}}], on_breach: [{assign: {role: admin}}]}
"""

    def test_plain_time_warnings_in_order(self):
        st, _, w = publish(self.srv, self.token("admin"), self.FLOW)
        self.assertEqual(st, 201, w)
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "chat", "title": "hi"}, token=self.token("cust"))
        self.assertEqual(r["sla"]["calendar"], "24x7")
        rid = r["id"]
        st, _, gone = req(self.srv, "POST", "/api/v1/requests", {"type": "chat", "title": "bye"}, token=self.token("cust"))
        gone = self.act(gone["id"], "abandon", who="cust")  # closed unanswered: its clock stops
        self.assertEqual(self.target(gone, "answer")["status"], "stopped")
        self.advance(5 * 60)
        w = self.wait_event(rid, "request.sla_warning")
        self.assertEqual(w[0]["data"]["percent"], 50)
        self.advance(4 * 60)
        w = self.wait_event(rid, "request.sla_warning", count=2)
        self.assertEqual(w[1]["data"]["percent"], 90)
        self.advance(2 * 60)
        self.wait_event(rid, "request.sla_breached")
        r = self.get(rid)
        self.assertEqual((self.target(r, "answer")["status"], r["assignee"]), ("breached", {"role": "admin"}))
        self.assertEqual(self.target(r, "answer")["warnings"], [50, 90])
        gone = self.get(gone["id"])
        self.assertEqual((self.target(gone, "answer")["status"], self.target(gone, "answer")["breached"]),
                         ("stopped", False))
        self.assertFalse([e for e in self.events(gone["id"]) if e["type"].startswith("request.sla_w")
                          or e["type"] == "request.sla_breached"])


BAD_SLA = """\
name: Bad
type: bad
initial: a
states:
  a: {}
  done: {final: true}
transitions:
  - {action: finish, from: a, to: done}
sla:
  calendar: {timezone: ../../etc/passwd, days: [mon, funday], hours: "18:00-09:00", holidays: [2026-02-30]}
  pause_in: [nowhere]
  warn_at: [80, 50]
  targets:
    - {name: r, until: [limbo], within: forever, when: 'data.x ==', on_breach: [{launch: rockets}]}
"""


class SLADefinitions(unittest.TestCase):
    def test_bad_sla_is_named_and_examples_publish(self):
        srv = Server()
        try:
            admin = make_user(srv, "admin")["access_token"]
            st, h, b = publish(srv, admin, BAD_SLA)
            assert_problem(self, st, h, b, 422)
            fields = [e["field"] for e in b["errors"]]
            for f in ("sla.calendar.timezone", "sla.calendar.days[1]", "sla.calendar.hours", "sla.calendar.holidays[0]",
                      "sla.pause_in", "sla.warn_at", "sla.targets[0].until", "sla.targets[0].within",
                      "sla.targets[0].when", "sla.targets[0].on_breach[0]"):
                self.assertIn(f, fields, b)
            for name in ("purchase.yaml", "it_incident.yaml"):
                st, _, w = publish(srv, admin, example(name))
                self.assertEqual(st, 201, (name, w))
        finally:
            srv.close()


class PurchaseExample(unittest.TestCase):
    def test_manager_then_finance_over_1000(self):
        srv = Server(FAST)
        try:
            admin = make_user(srv, "admin")["access_token"]
            mgr = make_user(srv, "approver")["access_token"]
            fin = make_user(srv, "staff")["access_token"]
            cust = register(srv)["access_token"]
            st, _, w = publish(srv, admin, example("purchase.yaml"))
            self.assertEqual(st, 201, w)
            states = {}
            for amount in (500, 2000):
                st, _, r = req(srv, "POST", "/api/v1/requests",
                               {"type": "purchase", "title": "chairs", "data": {"amount": amount}}, token=cust)
                rid = r["id"]
                st, _, r = req(srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "submit"}, token=cust)
                self.assertEqual((st, r["state"]), (200, "review"), r)
                st, _, r = req(srv, "POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "approve"}, token=mgr)
                self.assertEqual(st, 200, r)
                states[amount] = [r["state"]]
                if r["state"] == "review":
                    self.assertEqual(r["approvals"]["pending"]["name"], "finance")
                    st, _, r = req(srv, "POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "approve"},
                                   token=fin)
                    states[amount].append(r["state"])
            self.assertEqual(states, {500: ["approved"], 2000: ["review", "approved"]})
        finally:
            srv.close()


if __name__ == "__main__":
    main()
