"""The stock:<product> topic's derived changes, with real clients (python3-websockets, SSE
through http.client): an order's hold, sale and release and a reservation's hold and
release reach a stock subscriber as stock.held / stock.sold / stock.released carrying
only the change of the numbers GET /api/v1/inventory/{id} shows -- never the customer,
the order, amounts or a reservation's owner. Resume (WebSocket `after`, SSE
Last-Event-ID) reproduces exactly the messages live delivery gave; an SSE stream that
follows the order and the stock gets both the event and the change under one id; a
customer still gets 404 for an inactive product."""
import asyncio, json, time, unittest
from sfharness import Server, req, register, main
from test_orders import setup_shop, place, OK, DECLINED, CAPTURE_FAILS
from test_stream import ARGS, SSE, run

import websockets

DERIVED_KEYS = {"id", "position", "type", "derived", "data", "at"}
DELTA = {"stock.held": (0, 1, -1), "stock.sold": (-1, -1, 0), "stock.released": (0, -1, 1)}


class StockStream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(ARGS)
        cls.staff, _ = setup_shop(cls.srv, n=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def product(self, stock=50, status="active"):
        """A product of its own per test: its topic sees only that test's moves."""
        st, _, p = req(self.srv, "POST", "/api/v1/products",
                       {"sku": "S-%d" % time.time_ns(), "name": "Stocked", "price": 700, "currency": "EUR",
                        "status": "active"}, token=self.staff)
        self.assertEqual(st, 201, p)
        st, _, s = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % p["id"],
                       {"delta": stock, "reason": "initial"}, token=self.staff)
        self.assertEqual(st, 200, s)
        if status != "active":
            st, _, p = req(self.srv, "PATCH", "/api/v1/products/" + p["id"], {"status": status}, token=self.staff,
                           headers={"If-Match": '"%d"' % p["version"]} if "version" in p else None)
            self.assertEqual(st, 200, p)
        return p["id"]

    def stock(self, pid):
        return req(self.srv, "GET", "/api/v1/inventory/" + pid, token=self.staff)[2]

    def ws_url(self, token):
        return "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (self.srv.port, token)

    async def recv(self, ws, timeout=10):
        return json.loads(await asyncio.wait_for(ws.recv(), timeout))

    async def subscribe(self, ws, topic, after=None):
        m = {"type": "subscribe", "topic": topic}
        if after is not None:
            m["after"] = after
        await ws.send(json.dumps(m))
        return await self.recv(ws)

    async def events(self, ws, n, timeout=10):
        out = []
        while len(out) < n:
            m = await self.recv(ws, timeout)
            if m["type"] == "event":
                out.append(m)
        return out

    async def nothing_more(self, ws, secs=0.8):
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), secs)

    def check_change(self, ev, pid, kind, q, secrets):
        """A derived change: its shape, its numbers, and nothing of the customer or order."""
        self.assertEqual(set(ev), DERIVED_KEYS, ev)
        self.assertIs(ev["derived"], True)
        self.assertEqual(ev["type"], kind)
        self.assertTrue(ev["id"].startswith("evt_"), ev)
        on_hand, reserved, available = (d * q for d in DELTA[kind])
        self.assertEqual(ev["data"], {"product_id": pid, "quantity": q,
                                      "delta": {"on_hand": on_hand, "reserved": reserved, "available": available}})
        text = json.dumps(ev)
        for s in secrets:
            self.assertNotIn(s, text)

    def customer(self):
        u = register(self.srv)
        return u["access_token"], [u["user"]["id"], u["user"]["email"]]

    # ---- an order's hold, sale and release ----

    def test_order_hold_sale_release_ws(self):
        pid = self.product()
        other = self.product()
        watcher, _ = self.customer()
        buyer, secrets = self.customer()
        before = self.stock(pid)

        async def go():
            async with websockets.connect(self.ws_url(watcher)) as ws:
                sub = await self.subscribe(ws, "stock:" + pid)
                self.assertEqual(sub["type"], "subscribed", sub)
                # paid: held then sold (an item of another product is not this topic's)
                st, _, o = place(self.srv, buyer, [{"product_id": pid, "quantity": 2},
                                                   {"product_id": other, "quantity": 5}], card=OK, wait=10)
                self.assertEqual((st, o["status"]), (201, "paid"), o)
                paid = await self.events(ws, 2)
                # declined: held then released; a failed capture: the same
                st, _, d = place(self.srv, buyer, [{"product_id": pid, "quantity": 3}], card=DECLINED, wait=10)
                self.assertEqual((st, d["status"]), (201, "cancelled"), d)
                declined = await self.events(ws, 2)
                st, _, c = place(self.srv, buyer, [{"product_id": pid, "quantity": 1}], card=CAPTURE_FAILS, wait=10)
                self.assertEqual((st, c["status"]), (201, "cancelled"), c)
                failed = await self.events(ws, 2)
                await self.nothing_more(ws)
                return sub, paid, declined, failed, [o, d, c]
        sub, paid, declined, failed, orders = run(go())
        secrets += [o["id"] for o in orders]  # amounts and cards: the data is asserted whole below
        for m, (kind, q) in zip(paid + declined + failed,
                                [("stock.held", 2), ("stock.sold", 2), ("stock.held", 3), ("stock.released", 3),
                                 ("stock.held", 1), ("stock.released", 1)]):
            self.assertEqual(m["topic"], "stock:" + pid)
            self.check_change(m["event"], pid, kind, q, secrets)
        pos = [m["event"]["position"] for m in paid + declined + failed]
        self.assertEqual(pos, sorted(set(pos)))
        self.assertGreater(pos[0], sub["position"])
        # the changes add up to what the GET shows now
        after = self.stock(pid)
        for k in ("on_hand", "reserved", "available"):
            self.assertEqual(after[k] - before[k], sum(m["event"]["data"]["delta"][k] for m in paid + declined + failed), k)
        self.assertEqual((after["on_hand"], after["reserved"]), (before["on_hand"] - 2, 0))

    # ---- reservations ----

    def test_reservation_hold_release_and_expiry(self):
        pid = self.product()
        watcher, _ = self.customer()
        owner, secrets = self.customer()

        async def go():
            async with websockets.connect(self.ws_url(watcher)) as ws:
                await self.subscribe(ws, "stock:" + pid)
                st, _, r = req(self.srv, "POST", "/api/v1/reservations",
                               {"items": [{"product_id": pid, "quantity": 4}]}, token=owner)
                self.assertEqual(st, 201, r)
                st, _, r2 = req(self.srv, "DELETE", "/api/v1/reservations/" + r["id"], token=owner)
                self.assertEqual(st, 200, r2)
                released = await self.events(ws, 2)
                st, _, e = req(self.srv, "POST", "/api/v1/reservations",
                               {"items": [{"product_id": pid, "quantity": 1}], "ttl_seconds": 1}, token=owner)
                self.assertEqual(st, 201, e)
                expired = await self.events(ws, 2, timeout=15)  # the expiry timer releases it
                return released, expired, [r["id"], e["id"]]
        released, expired, rids = run(go())
        for m, (kind, q) in zip(released + expired, [("stock.held", 4), ("stock.released", 4),
                                                     ("stock.held", 1), ("stock.released", 1)]):
            self.check_change(m["event"], pid, kind, q, secrets + rids)
        self.assertEqual(self.stock(pid)["reserved"], 0)

    # ---- resume: the same derived messages ----

    def test_resume_reproduces_the_live_messages(self):
        pid = self.product()
        watcher, _ = self.customer()
        buyer, _ = self.customer()

        async def live():
            async with websockets.connect(self.ws_url(watcher)) as ws:
                sub = await self.subscribe(ws, "stock:" + pid)
                place(self.srv, buyer, [{"product_id": pid, "quantity": 2}], card=OK, wait=10)
                place(self.srv, buyer, [{"product_id": pid, "quantity": 1}], card=DECLINED, wait=10)
                req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid, {"delta": 3, "reason": "count"},
                    token=self.staff)
                return sub["position"], await self.events(ws, 5)
        start, seen = run(live())
        self.assertEqual([m["event"]["type"] for m in seen],
                         ["stock.held", "stock.sold", "stock.held", "stock.released", "stock.adjusted"])
        self.assertEqual(seen[-1]["event"]["stream"], "stock-" + pid)  # an adjustment goes as it is

        # WebSocket: after the subscription's start, then after the second message
        async def again(after, n):
            async with websockets.connect(self.ws_url(watcher)) as ws:
                await self.subscribe(ws, "stock:" + pid, after=after)
                got = await self.events(ws, n)
                await self.nothing_more(ws)
                return got
        self.assertEqual(run(again(start, 5)), seen)
        mid = seen[1]["event"]["position"]
        self.assertEqual(run(again(mid, 3)), seen[2:])

        # SSE: Last-Event-ID gives the same objects, id = position, event = the change's type
        s = SSE(self.srv, watcher, "stock:" + pid, last_id=start)
        evs = s.events(5)
        s.close()
        self.assertEqual([e["data"] for e in evs], [m["event"] for m in seen])
        self.assertEqual([int(e["id"]) for e in evs], [m["event"]["position"] for m in seen])
        self.assertEqual([e["event"] for e in evs], [m["event"]["type"] for m in seen])
        s = SSE(self.srv, watcher, "stock:" + pid, after=mid, header_token=False)
        self.assertEqual([e["data"] for e in s.events(3)], [m["event"] for m in seen[2:]])
        s.close()

    def test_sse_live_and_one_id_for_event_and_change(self):
        pid = self.product()
        buyer, secrets = self.customer()
        # the buyer follows the stock live; then its own order and the stock on one stream
        s = SSE(self.srv, buyer, "stock:" + pid)
        self.assertEqual(s.status, 200)
        st, _, o = place(self.srv, buyer, [{"product_id": pid, "quantity": 2}], card=DECLINED, wait=10)
        self.assertEqual(st, 201, o)
        evs = s.events(2)
        s.close()
        self.assertEqual([e["event"] for e in evs], ["stock.held", "stock.released"])
        for e in evs:
            self.check_change(e["data"], pid, e["event"], 2, secrets + [o["id"]])
        held = int(evs[0]["id"])
        s = SSE(self.srv, buyer, "order:%s,stock:%s" % (o["id"], pid), last_id=held - 1)
        got = s.events(3)
        s.close()
        by_id = {}
        for e in got:
            by_id.setdefault(int(e["id"]), []).append(e["event"])
        self.assertEqual(sorted(by_id[held]), ["order.placed", "stock.held"])  # one id, the event and the change
        # resuming after that id gives neither again
        s = SSE(self.srv, buyer, "order:%s,stock:%s" % (o["id"], pid), last_id=held)
        nxt = s.events(1)
        s.close()
        self.assertGreater(int(nxt[0]["id"]), held)

    # ---- authorization as before ----

    def test_inactive_product_is_404_for_customers(self):
        pid = self.product(status="archived")
        cust, _ = self.customer()
        st, _, _ = req(self.srv, "GET", "/api/v1/inventory/" + pid, token=cust)
        s = SSE(self.srv, cust, "stock:" + pid)
        self.assertEqual((s.status, st), (404, 404), s.body)
        s.close()

        async def go():
            async with websockets.connect(self.ws_url(cust)) as ws:
                err = await self.subscribe(ws, "stock:" + pid)
                self.assertEqual((err["type"], err["problem"]["status"]), ("error", 404), err)
            async with websockets.connect(self.ws_url(self.staff)) as ws:  # inventory:write sees it
                self.assertEqual((await self.subscribe(ws, "stock:" + pid))["type"], "subscribed")
        run(go())

    # ---- crash: the log gives the same changes after a kill -9 ----

    def test_zz_kill9_then_resume_gives_the_same_changes(self):
        pid = self.product()
        watcher, _ = self.customer()
        buyer, _ = self.customer()
        s = SSE(self.srv, watcher, "stock:" + pid)
        place(self.srv, buyer, [{"product_id": pid, "quantity": 1}], card=OK, wait=10)
        seen = s.events(2)
        self.assertEqual([e["event"] for e in seen], ["stock.held", "stock.sold"])
        self.srv.kill9()
        self.assertIsNone(s.next(timeout=5))
        s.close()
        self.srv.start()
        s = SSE(self.srv, watcher, "stock:" + pid, last_id=int(seen[0]["id"]) - 1)
        again = s.events(2)
        s.close()
        self.assertEqual([(e["id"], e["event"], e["data"]) for e in again],
                         [(e["id"], e["event"], e["data"]) for e in seen])


if __name__ == "__main__":
    main()
