"""Internal comments (POST /requests/{id}/comments {internal: true}, event
request.noted): only staff (workflows:read) write them, and they never reach
the requester by any path: the request's trail (GET .../events), the view,
full-text search (?q=), the live topic request:<id> (a real WebSocket
client), notifications. Staff see, search and receive them."""
import asyncio, json, time, unittest
from sfharness import Server, req, register, make_user, assert_problem, main
from test_workflows import publish

import websockets

FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]

FLOW = """\
name: Helpdesk ticket
type: note_ticket
initial: open
states:
  open: {}
  done: {final: true}
transitions:
  - {action: close, from: open, to: done, roles: [staff, admin]}
"""


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


class InternalComments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(FAST)
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.mgr = make_user(cls.srv, "approver")["access_token"]
        cls.cust = register(cls.srv)["access_token"]
        st, _, w = publish(cls.srv, cls.admin, FLOW)
        assert st == 201, w

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def open(self, title="Printer jammed"):
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "note_ticket", "title": title},
                       token=self.cust)
        self.assertEqual(st, 201, r)
        return r

    def comment(self, rid, body, token, **kw):
        return req(self.srv, "POST", "/api/v1/requests/%s/comments" % rid, dict(body=body, **kw), token=token)

    def trail(self, rid, token):
        st, _, b = req(self.srv, "GET", "/api/v1/requests/%s/events" % rid, token=token)
        self.assertEqual(st, 200, b)
        return b["data"]

    def search(self, q, token):
        st, _, b = req(self.srv, "GET", "/api/v1/requests?type=note_ticket&q=" + q, token=token)
        self.assertEqual(st, 200, b)
        return [r["id"] for r in b["data"]]

    def test_staff_note_is_hidden_from_the_requester(self):
        rid = self.open()["id"]
        st, _, r = self.comment(rid, "customer is a VIP zebracorn", self.staff, internal=True)
        self.assertEqual((st, r["version"]), (201, 2), r)
        st, _, r = self.comment(rid, "we are looking at it", self.staff, internal=False)
        self.assertEqual(st, 201, r)
        # staff (and admins, approvers: workflows:read) see the note as its own event type
        for token in (self.staff, self.admin, self.mgr):
            notes = [(e["type"], e["data"]["body"]) for e in self.trail(rid, token)
                     if e["type"] in ("request.noted", "request.commented")]
            self.assertEqual(notes, [("request.noted", "customer is a VIP zebracorn"),
                                     ("request.commented", "we are looking at it")])
        noted = [e for e in self.trail(rid, self.staff) if e["type"] == "request.noted"][0]
        self.assertEqual(noted["data"]["internal"], True)
        # the requester's trail and view hold no trace of it
        mine = self.trail(rid, self.cust)
        self.assertEqual([e["type"] for e in mine if e["type"] in ("request.noted", "request.commented")],
                         ["request.commented"])
        self.assertNotIn("zebracorn", json.dumps(mine))
        st, _, view = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.cust)
        self.assertEqual(st, 200)
        self.assertNotIn("zebracorn", json.dumps(view))
        # search: a note's words find the request for staff only
        self.assertEqual(self.search("zebracorn", self.staff), [rid])
        self.assertEqual(self.search("zebracorn", self.cust), [])
        self.assertEqual(self.search("zebracorn&created_by=me", self.cust), [])
        self.assertEqual(self.search("looking", self.cust), [rid])  # public comments still match
        self.assertEqual(self.search("printer%20zebracorn", self.cust), [])  # not half from the note
        self.assertEqual(self.search("printer%20zebracorn", self.staff), [rid])

    def test_only_staff_write_internal_comments(self):
        rid = self.open()["id"]
        st, h, b = self.comment(rid, "let me see the notes", self.cust, internal=True)
        assert_problem(self, st, h, b, 403)
        other = register(self.srv)["access_token"]
        st, h, b = self.comment(rid, "sneaky", other, internal=True)
        assert_problem(self, st, h, b, 403)
        # nothing changed
        st, _, r = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.staff)
        self.assertEqual(r["version"], 1, r)
        self.assertNotIn("request.noted", [e["type"] for e in self.trail(rid, self.staff)])
        # the requester's own comment is public (internal: false is the default)
        st, _, r = self.comment(rid, "any news?", self.cust, internal=False)
        self.assertEqual(st, 201, r)
        for body, field in (({"body": "x", "internal": "yes"}, "internal"), ({"body": "x", "internal": None}, "internal"),
                            ({"body": "x", "internal": 1}, "internal"), ({"internal": True}, "body"),
                            ({"body": "", "internal": True}, "body")):
            st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/comments" % rid, body, token=self.staff)
            assert_problem(self, st, h, b, 422, field=field)
        st, h, b = self.comment("srq_missing", "hello", self.staff, internal=True)
        assert_problem(self, st, h, b, 404)
        self.assertEqual(req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.staff)[2]["version"], 2)

    def test_requester_is_not_told(self):
        rid = self.open()["id"]

        def told():
            st, _, b = req(self.srv, "GET", "/api/v1/notifications?limit=200", token=self.cust)
            self.assertEqual(st, 200, b)
            return [n for n in b["data"] if (n.get("subject") or {}).get("id") == rid]

        self.assertEqual(self.comment(rid, "internal quokkafish remark", self.staff, internal=True)[0], 201)
        self.assertEqual(self.comment(rid, "public reply", self.staff)[0], 201)
        deadline = time.time() + 10
        while time.time() < deadline and not told():
            time.sleep(0.05)
        got = told()
        self.assertEqual([n["kind"] for n in got], ["request.commented"], got)  # the public one only
        self.assertNotIn("quokkafish", json.dumps(got))

    def test_live_topic_sends_notes_to_staff_only(self):
        rid = self.open()["id"]
        url = "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%%s" % self.srv.port

        async def sub(ws, topic, after=None):
            m = {"type": "subscribe", "topic": topic}
            if after is not None:
                m["after"] = after
            await ws.send(json.dumps(m))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

        async def events_until(ws, etype, timeout=10):
            seen = []
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                if m["type"] == "event":
                    seen.append(m)
                    if m["event"]["type"] == etype:
                        return seen

        async def go():
            async with websockets.connect(url % self.cust) as c, websockets.connect(url % self.staff) as s:
                self.assertEqual((await sub(c, "request:" + rid))["type"], "subscribed")
                self.assertEqual((await sub(s, "request:" + rid))["type"], "subscribed")
                # a topic key is not a topic: nobody subscribes to the staff key by name
                err = await sub(c, "request:%s:staff" % rid)
                self.assertEqual(err["problem"]["status"], 404, err)
                self.assertEqual(self.comment(rid, "secret narwhalfox", self.staff, internal=True)[0], 201)
                self.assertEqual(self.comment(rid, "public words", self.staff)[0], 201)
                got_s = await events_until(s, "request.commented")
                self.assertEqual([m["event"]["type"] for m in got_s], ["request.noted", "request.commented"])
                self.assertEqual(got_s[0]["topic"], "request:" + rid)
                self.assertEqual(got_s[0]["event"]["data"]["body"], "secret narwhalfox")
                got_c = await events_until(c, "request.commented")
                self.assertEqual([m["event"]["type"] for m in got_c], ["request.commented"])
                self.assertNotIn("narwhalfox", json.dumps(got_c))
            # catch-up from the start of the log holds no note for the requester either
            async with websockets.connect(url % self.cust) as c, websockets.connect(url % self.staff) as s:
                self.assertEqual((await sub(c, "request:" + rid, after=0))["type"], "subscribed")
                self.assertEqual((await sub(s, "request:" + rid, after=0))["type"], "subscribed")
                got_c = await events_until(c, "request.commented")
                self.assertNotIn("request.noted", [m["event"]["type"] for m in got_c])
                got_s = await events_until(s, "request.commented")
                self.assertIn("request.noted", [m["event"]["type"] for m in got_s])
        run(go())


if __name__ == "__main__":
    main()
