"""Real-time streams with real clients: WebSocket through Debian's python3-websockets
(and a raw socket where the library would hide frames), SSE through http.client and
curl -N. Subscribe and receive, authorization per topic (the GET's status), resume
without gap or duplicate, a slow consumer cut without slowing anyone, role change and
logout ending subscriptions, heartbeats and idle timeout, the per-user limit, the
Origin check, the token kept out of the access log, and a kill -9 then resume."""
import asyncio, base64, http.client, json, os, signal, socket, struct, subprocess, threading, time, unittest
from sfharness import Server, req, register, make_user, main
from test_orders import setup_shop, place
from test_workflows import publish

import websockets

ORIGIN = "http://app.example"
ARGS = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000", "--access-log", "1",
        "--stream-heartbeat-s", "1", "--stream-idle-timeout-s", "30", "--stream-queue-max", "32",
        "--stream-max-per-user", "4", "--cors-origins", ORIGIN]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


class SSE:
    """One SSE answer read line by line (http.client decodes the chunks)."""

    def __init__(self, srv, token, topics, last_id=None, after=None, origin=None, header_token=True):
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        h = {"Accept": "text/event-stream"}
        path = "/api/v1/stream?topics=" + topics
        if header_token:
            h["Authorization"] = "Bearer " + token
        else:
            path += "&access_token=" + token
        if last_id is not None:
            h["Last-Event-ID"] = str(last_id)
        if after is not None:
            path += "&after=%d" % after
        if origin:
            h["Origin"] = origin
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        if self.status != 200:
            self.body = json.loads(self.resp.read() or b"{}")

    def next(self, timeout=10):
        """The next message: {"id", "event", "data", "comments"}; None at the end."""
        self.conn.sock.settimeout(timeout)
        msg = {"comments": []}
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if set(msg) - {"comments"}:
                    return msg
                continue
            if line.startswith(":"):
                msg["comments"].append(line)
                if "keep-alive" in line:
                    return msg
                continue
            k, _, v = line.partition(": ")
            msg[k] = json.loads(v) if k == "data" else v

    def events(self, n, timeout=10):
        out = []
        while len(out) < n:
            m = self.next(timeout)
            if m is None:
                break
            if "event" in m and "id" in m and m["event"] not in ("reset",):
                out.append(m)
        return out

    def close(self):
        self.conn.close()


class Stream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(ARGS)
        cls.staff, cls.products = setup_shop(cls.srv)
        cls.admin = make_user(cls.srv, "admin")["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def ws_url(self, token=None):
        u = "ws://127.0.0.1:%d/api/v1/stream/ws" % self.srv.port
        return u + ("?access_token=" + token if token else "")

    def new_order(self, token):
        st, _, o = place(self.srv, token, [{"product_id": self.products[0]["id"], "quantity": 1}], wait=5)
        self.assertEqual(st, 201, o)
        self.assertEqual(o["status"], "paid", o)
        return o["id"]

    def staff_step(self, oid, step):
        st, _, b = req(self.srv, "POST", "/api/v1/orders/%s/%s" % (oid, step), token=self.staff)
        self.assertEqual(st, 200, b)

    def stream_positions(self, stream):
        """The positions of a stream's events in the log."""
        out, cursor = set(), None
        while True:
            path = "/api/v1/events?stream=%s&limit=200" % stream + ("&cursor=" + cursor if cursor else "")
            st, _, b = req(self.srv, "GET", path, token=self.admin)
            assert st == 200, b
            out |= {e["position"] for e in b["data"]}
            cursor = b.get("next_cursor")
            if not cursor:
                return out

    async def recv(self, ws, timeout=10):
        return json.loads(await asyncio.wait_for(ws.recv(), timeout))

    async def subscribe(self, ws, topic, after=None):
        m = {"type": "subscribe", "topic": topic}
        if after is not None:
            m["after"] = after
        await ws.send(json.dumps(m))
        return await self.recv(ws)

    # ---- subscribe, receive, authorization ----

    def test_ws_catch_up_then_live(self):
        cust = register(self.srv)["access_token"]
        oid = self.new_order(cust)

        async def go():
            async with websockets.connect(self.ws_url(cust)) as ws:
                sub = await self.subscribe(ws, "order:" + oid, after=0)
                self.assertEqual(sub["type"], "subscribed", sub)
                got = [await self.recv(ws) for _ in range(4)]
                self.assertEqual([m["event"]["type"] for m in got],
                                 ["order.placed", "payment.authorized", "payment.captured", "order.paid"])
                for m in got:
                    self.assertEqual(m["topic"], "order:" + oid)
                    self.assertEqual(m["event"]["stream"], "order-" + oid)
                    self.assertEqual(set(m["event"]), {"id", "position", "type", "stream", "data", "at"})
                positions = [m["event"]["position"] for m in got]
                self.assertEqual(positions, sorted(set(positions)))  # in log order, each once
                if len(self.srv.instances) == 1:
                    # one process: the payment was committed before the subscription, so all four
                    # came from the log up to the head it named. Several instances: the head is
                    # the one this instance had heard of, and the rest came live (docs/realtime.md)
                    self.assertLessEqual(got[-1]["event"]["position"], sub["position"])
                self.staff_step(oid, "fulfil")
                live = await self.recv(ws)
                self.assertEqual(live["event"]["type"], "order.fulfilled")
                self.assertGreater(live["event"]["position"], got[-1]["event"]["position"])
                # the same GET the client would make afterwards sees the same state
                st, _, o = req(self.srv, "GET", "/api/v1/orders/" + oid, token=cust)
                self.assertEqual(o["status"], "fulfilled")
        run(go())

    def test_authorization_is_the_gets(self):
        cust = register(self.srv)["access_token"]
        other = register(self.srv)["access_token"]
        oid = self.new_order(cust)
        st, _, _ = req(self.srv, "GET", "/api/v1/orders/" + oid, token=other)
        self.assertEqual(st, 404)

        async def go():
            async with websockets.connect(self.ws_url(other)) as ws:
                err = await self.subscribe(ws, "order:" + oid)
                self.assertEqual(err["type"], "error")
                self.assertEqual(err["problem"]["status"], st)  # the GET's 404, not a 403
                err = await self.subscribe(ws, "order:ord_nope")
                self.assertEqual(err["problem"]["status"], 404)
                err = await self.subscribe(ws, "queue:it")  # staff only
                self.assertEqual(err["problem"]["status"], 403)
                err = await self.subscribe(ws, "nosuch:1")
                self.assertEqual(err["problem"]["status"], 422)
                await ws.send("{not json")
                err = await self.recv(ws)
                self.assertEqual(err["problem"]["status"], 400)
                # the socket stays: a good subscribe still works
                oid2 = self.new_order(other)
                ok = await self.subscribe(ws, "order:" + oid2)
                self.assertEqual(ok["type"], "subscribed")
                dup = await self.subscribe(ws, "order:" + oid2)
                self.assertEqual(dup["problem"]["status"], 409)
                await ws.send(json.dumps({"type": "unsubscribe", "topic": "order:" + oid2}))
                self.assertEqual((await self.recv(ws))["type"], "unsubscribed")
            async with websockets.connect(self.ws_url(self.staff)) as ws:  # orders:read
                self.assertEqual((await self.subscribe(ws, "order:" + oid))["type"], "subscribed")
        run(go())
        s = SSE(self.srv, other, "order:" + oid)
        self.assertEqual(s.status, 404, s.body)
        s.close()
        s = SSE(self.srv, other, "stock:" + self.products[0]["id"])  # any signed-in user may GET stock
        self.assertEqual(s.status, 200)
        s.close()
        # no token: 401, as every route
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        c.request("GET", "/api/v1/stream?topics=order:" + oid)
        self.assertEqual(c.getresponse().status, 401)
        c.close()

    # ---- resume ----

    def test_resume_without_gap_or_duplicate(self):
        cust = register(self.srv)["access_token"]
        oid = self.new_order(cust)

        async def first():
            async with websockets.connect(self.ws_url(cust)) as ws:
                await self.subscribe(ws, "order:" + oid, after=0)
                return [await self.recv(ws) for _ in range(4)]
        seen = run(first())
        last = seen[-1]["event"]["position"]
        self.staff_step(oid, "fulfil")  # while nobody listens
        self.staff_step(oid, "ship")

        async def again():
            async with websockets.connect(self.ws_url(cust)) as ws:
                await self.subscribe(ws, "order:" + oid, after=last)
                missed = [await self.recv(ws) for _ in range(2)]
                self.staff_step(oid, "deliver")
                live = await self.recv(ws)
                with self.assertRaises(asyncio.TimeoutError):  # nothing twice
                    await asyncio.wait_for(ws.recv(), 1.0)
                return missed + [live]
        got = run(again())
        self.assertEqual([m["event"]["type"] for m in got], ["order.fulfilled", "order.shipped", "order.delivered"])
        pos = [m["event"]["position"] for m in got]
        self.assertEqual(pos, sorted(set(pos)))
        self.assertGreater(pos[0], last)

        # SSE: Last-Event-ID from the middle gives exactly the rest, in order
        s = SSE(self.srv, cust, "order:" + oid, last_id=last)
        evs = s.events(3)
        s.close()
        self.assertEqual([e["event"] for e in evs], ["order.fulfilled", "order.shipped", "order.delivered"])
        self.assertEqual([int(e["id"]) for e in evs], pos)
        # ?after= is the same for clients that cannot send the header; the token as a query parameter
        s = SSE(self.srv, cust, "order:" + oid, after=pos[1], header_token=False)
        evs = s.events(1)
        s.close()
        self.assertEqual([int(e["id"]) for e in evs], pos[2:])

    def test_curl_sees_events(self):
        cust = register(self.srv)["access_token"]
        oid = self.new_order(cust)
        p = subprocess.Popen(["curl", "-sN", "--max-time", "4", "-H", "Authorization: Bearer " + cust,
                              "-H", "Last-Event-ID: 0", "%s/api/v1/stream?topics=order:%s" % (self.srv.url, oid)],
                             stdout=subprocess.PIPE)
        out = p.communicate(timeout=10)[0].decode()
        self.assertIn("event: order.placed\n", out)
        self.assertIn("event: order.paid\n", out)
        self.assertIn(": keep-alive", out)  # heartbeat every second here

    # ---- slow consumers ----

    def test_slow_consumer_is_cut_others_keep_receiving(self):
        pid = self.products[1]["id"]
        cust = register(self.srv)["access_token"]
        watcher = register(self.srv)["access_token"]
        sse_user = register(self.srv)["access_token"]
        n = 600
        results = {}

        async def reader():
            try:
                await read_all()
            finally:
                results["reader_done"] = True  # sf-stream handed every event to every subscriber by now

        async def read_all():
            async with websockets.connect(self.ws_url(watcher)) as ws:
                await self.subscribe(ws, "stock:" + pid)
                results["reader_ready"] = True
                got, seen = 0, set()
                while got < n:
                    try:
                        m = await self.recv(ws, 30)
                    except asyncio.TimeoutError:
                        logged = self.stream_positions("stock-" + pid)
                        raise AssertionError("the reader waited 30 s after %d events; not received: %s; %r"
                                             % (got, sorted(logged - seen), results))
                    if m["type"] == "event":
                        got += 1
                        seen.add(m["event"]["position"])
                results["reader"] = got

        async def slow():
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", self.srv.port))
            ws = await websockets.connect(self.ws_url(cust), sock=sock, max_queue=1, read_limit=1024,
                                          ping_interval=None)
            await self.subscribe(ws, "stock:" + pid)
            results["slow_ready"] = True
            while "reader_done" not in results:
                await asyncio.sleep(0.1)  # reads nothing meanwhile
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 20)
            except websockets.ConnectionClosed as e:
                results["slow_code"] = e.code
                results["slow_reason"] = e.reason

        def slow_sse():
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
            conn.connect()
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn.request("GET", "/api/v1/stream?topics=stock:" + pid, headers={"Authorization": "Bearer " + sse_user})
            try:
                resp = conn.getresponse()
                results["sse_status"] = resp.status
            finally:
                results["sse_ready"] = True  # the writes start, and the reader says what it saw
            while "reader_done" not in results:
                time.sleep(0.1)  # reads nothing meanwhile
            text = b""
            try:
                while True:
                    chunk = resp.read1(65536)
                    if not chunk:
                        break
                    text += chunk
            except (OSError, http.client.HTTPException):
                pass
            results["sse_tail"] = text[-300:].decode(errors="replace")
            conn.close()

        def writes():
            while not {"reader_ready", "slow_ready", "sse_ready"} <= results.keys():
                time.sleep(0.05)
            t0 = time.time()
            for i in range(n):
                st, _, b = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid,
                               {"delta": 1, "reason": "restock " + "x" * 190}, token=self.staff)
                if st != 200:
                    results["write_error"] = "write %d: %s %s" % (i, st, b)
                    break
            results["write_s"] = time.time() - t0
            results["writes_done"] = True

        async def go():
            w = threading.Thread(target=writes)
            e = threading.Thread(target=slow_sse)
            w.start()
            e.start()
            await asyncio.gather(reader(), slow())
            w.join()
            e.join()
        run(go())
        self.assertNotIn("write_error", results)
        self.assertEqual(results["sse_status"], 200)
        self.assertEqual(results["reader"], n)
        self.assertGreaterEqual(len(self.stream_positions("stock-" + pid)), n)
        self.assertEqual(results["slow_code"], 4008, results)
        self.assertIn("resume", results["slow_reason"])
        self.assertIn("event: overflow\ndata: {\"code\":4008", results["sse_tail"])
        _, _, metrics = req(self.srv, "GET", "/metrics")
        text = metrics if isinstance(metrics, str) else json.dumps(metrics)
        self.assertRegex(text, r"sf_stream_slow_closes_total [1-9]")

    # ---- revocation ----

    def test_role_change_and_logout_end_subscriptions(self):
        cust = register(self.srv)["access_token"]
        oid = self.new_order(cust)
        clerk = make_user(self.srv, "staff")
        uid = clerk["user"]["id"]
        r = register(self.srv)
        own = self.new_order(r["access_token"])

        async def go():
            async with websockets.connect(self.ws_url(clerk["access_token"])) as ws:
                self.assertEqual((await self.subscribe(ws, "order:" + oid))["type"], "subscribed")
                st, _, u = req(self.srv, "PATCH", "/api/v1/users/" + uid, {"role": "customer"}, token=self.admin)
                self.assertEqual(st, 200, u)
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                self.assertEqual(cm.exception.code, 4403)
            async with websockets.connect(self.ws_url(r["access_token"])) as ws:
                self.assertEqual((await self.subscribe(ws, "order:" + own))["type"], "subscribed")
                st, _, b = req(self.srv, "POST", "/api/v1/auth/logout", {"refresh_token": r["refresh_token"]})
                self.assertIn(st, (200, 204), b)
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                self.assertEqual(cm.exception.code, 4401)
        run(go())

    def test_disabled_user_sse_gets_revoked(self):
        r = register(self.srv)
        own = self.new_order(r["access_token"])
        s = SSE(self.srv, r["access_token"], "order:" + own)
        self.assertEqual(s.status, 200)
        st, _, u = req(self.srv, "PATCH", "/api/v1/users/" + r["user"]["id"], {"status": "disabled"},
                       token=self.admin)
        self.assertEqual(st, 200, u)
        ends = []
        while True:
            m = s.next()
            if m is None:
                break
            if m.get("event"):
                ends.append(m)
        s.close()
        self.assertEqual(ends[-1]["event"], "revoked")
        self.assertEqual(ends[-1]["data"]["code"], 4401)

    # ---- heartbeats, idle, limits, origin ----

    def raw_ws(self, token, srv):
        """A WebSocket handshake on a plain socket, to see every frame."""
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /api/v1/stream/ws?access_token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                   % (token, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        self.assertIn(b" 101 ", head.split(b"\r\n")[0])
        return s

    def frame(self, s):
        def exact(n):
            b = b""
            while len(b) < n:
                chunk = s.recv(n - len(b))
                if not chunk:
                    raise EOFError
                b += chunk
            return b
        b0, b1 = exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", exact(8))[0]
        self.assertFalse(b1 & 0x80)  # server frames are not masked
        return b0 & 0x0F, exact(n)

    def test_heartbeat_then_idle_timeout(self):
        srv = Server(ARGS + ["--stream-idle-timeout-s", "2"])
        self.addCleanup(srv.close)
        cust = register(srv)["access_token"]
        s = self.raw_ws(cust, srv)
        op, _ = self.frame(s)
        self.assertEqual(op, 0x9)  # a ping within the heartbeat
        t0 = time.time()
        while True:  # we never answer: closed after the idle timeout
            op, payload = self.frame(s)
            if op == 0x8:
                break
        self.assertEqual(struct.unpack(">H", payload[:2])[0], 1001)
        self.assertLess(time.time() - t0, 6)
        s.close()

    def test_busy_stream_still_pings_and_is_not_idle(self):
        """Events flowing to a peer are no keep-alive from it: it still gets its pings, and a peer
        that answers them is not closed for idle however busy its stream."""
        srv = Server(ARGS + ["--stream-idle-timeout-s", "2"])
        self.addCleanup(srv.close)
        staff, products = setup_shop(srv, n=1)
        pid = products[0]["id"]
        cust = register(srv)["access_token"]
        stop = threading.Event()

        def adjust():  # an event every 0.25 s, more often than the heartbeat
            while not stop.is_set():
                st, _, b = req(srv, "POST", "/api/v1/inventory/%s/adjustments" % pid, {"delta": 1, "reason": "busy"},
                               token=staff)
                assert st == 200, b
                time.sleep(0.25)

        async def go():
            url = "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (srv.port, cust)
            async with websockets.connect(url, ping_interval=None) as ws:  # answers pings, sends none
                await self.subscribe(ws, "stock:" + pid)
                w = threading.Thread(target=adjust)
                w.start()
                try:
                    t0, events = time.time(), 0
                    while time.time() - t0 < 6:  # three idle timeouts
                        m = await self.recv(ws, 5)
                        events += m["type"] == "event"
                    return events, ws.close_code  # a close on the way would have ended recv

                finally:
                    stop.set()
                    w.join()
        events, code = run(go())  # an idle close ends recv with ConnectionClosed
        self.assertGreater(events, 10)
        self.assertIsNone(code)

    def test_late_tick_pings_before_closing_for_idle(self):
        """A server that ran late (here stopped for longer than the idle timeout) pings before it
        closes a peer for idle: the peer gets its heartbeat to answer."""
        srv = Server(ARGS + ["--stream-idle-timeout-s", "2"])
        self.addCleanup(srv.close)
        cust = register(srv)["access_token"]
        s = self.raw_ws(cust, srv)
        s.sendall(b"\x89\x80" + os.urandom(4))  # a ping of our own: its pong proves sf-stream holds the socket
        self.assertEqual(self.frame(s)[0], 0xA)
        srv.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(3.5)
        finally:
            srv.proc.send_signal(signal.SIGCONT)
        op, _ = self.frame(s)
        self.assertEqual(op, 0x9)
        t0 = time.time()
        while True:
            op, payload = self.frame(s)
            if op == 0x8:
                break
        self.assertEqual(struct.unpack(">H", payload[:2])[0], 1001)
        self.assertGreaterEqual(time.time() - t0, 0.5, "a heartbeat to answer the ping")
        s.close()

    def test_reset_when_too_far_behind_and_token_expiry(self):
        srv = Server(ARGS + ["--stream-resume-max", "2", "--access-ttl-s", "10"])
        self.addCleanup(srv.close)
        staff, products = setup_shop(srv, n=1)
        r = register(srv)
        cust, t0 = r["access_token"], time.time()
        st, _, o = place(srv, cust, [{"product_id": products[0]["id"], "quantity": 1}], wait=5)
        self.assertEqual(o["status"], "paid", o)

        async def go():
            url = "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (srv.port, cust)
            async with websockets.connect(url) as ws:
                sub = await self.subscribe(ws, "order:" + o["id"], after=0)  # 4 events back, 2 allowed
                reset = await self.recv(ws)
                self.assertEqual(reset, {"type": "reset", "topic": "order:" + o["id"], "position": sub["position"]})
                st, _, b = req(srv, "POST", "/api/v1/orders/%s/fulfil" % o["id"], token=staff)
                self.assertEqual(st, 200, b)
                live = await self.recv(ws)
                self.assertEqual(live["event"]["type"], "order.fulfilled")
                with self.assertRaises(websockets.ConnectionClosed) as cm:  # the access token expires
                    while True:
                        await asyncio.wait_for(ws.recv(), 20)
                self.assertEqual(cm.exception.code, 4401)
                self.assertGreaterEqual(time.time() - t0, 9)
        run(go())

    def test_per_user_limit(self):
        cust = register(self.srv)["access_token"]
        oid = self.new_order(cust)
        held = [SSE(self.srv, cust, "order:" + oid) for _ in range(4)]
        self.assertEqual([h.status for h in held], [200] * 4)
        extra = SSE(self.srv, cust, "order:" + oid)
        self.assertEqual(extra.status, 429)
        self.assertEqual(extra.body["status"], 429)

        async def ws_refused():
            with self.assertRaises(websockets.InvalidStatusCode) as cm:
                await websockets.connect(self.ws_url(cust))
            return cm.exception.status_code
        self.assertEqual(run(ws_refused()), 429)
        held.pop().close()
        for _ in range(50):  # the server notices the closed stream at its next heartbeat write
            again = SSE(self.srv, cust, "order:" + oid)
            if again.status == 200:
                break
            again.close()
            time.sleep(0.2)
        self.assertEqual(again.status, 200)
        for h in held + [again, extra]:
            h.close()

    def test_origin_check(self):
        cust = register(self.srv)["access_token"]

        async def status(origin):
            try:
                ws = await websockets.connect(self.ws_url(cust), origin=origin)
            except websockets.InvalidStatusCode as e:
                return e.status_code
            await ws.close()
            return 101
        self.assertEqual(run(status("http://evil.example")), 403)
        self.assertEqual(run(status(ORIGIN)), 101)
        self.assertEqual(run(status("http://127.0.0.1:%d" % self.srv.port)), 101)  # its own pages
        s = SSE(self.srv, cust, "stock:" + self.products[0]["id"], origin="http://evil.example")
        self.assertEqual(s.status, 403)
        s.close()

    def test_token_never_in_the_access_log(self):
        cust = register(self.srv)["access_token"]
        s = SSE(self.srv, cust, "stock:" + self.products[0]["id"], header_token=False)
        self.assertEqual(s.status, 200)
        s.close()

        async def ws_once():
            async with websockets.connect(self.ws_url(cust)) as ws:
                await self.subscribe(ws, "stock:" + self.products[0]["id"])
        run(ws_once())
        time.sleep(0.5)
        log = self.srv.stderr()
        self.assertIn("/api/v1/stream", log)
        self.assertNotIn(cust, log)
        self.assertNotIn(cust[-20:], log)

    # ---- crash ----

    def test_zz_kill9_then_resume(self):
        cust = register(self.srv)["access_token"]
        oid = self.new_order(cust)
        s = SSE(self.srv, cust, "order:" + oid, last_id=0)
        seen = s.events(4)
        last = int(seen[-1]["id"])
        self.srv.kill9()
        self.assertIsNone(s.next(timeout=5))  # the stream ends with the process
        s.close()
        self.srv.start()
        self.staff_step(oid, "fulfil")
        s = SSE(self.srv, cust, "order:" + oid, last_id=last)
        evs = s.events(1)
        self.staff_step(oid, "ship")
        evs += s.events(1)
        s.close()
        self.assertEqual([e["event"] for e in evs], ["order.fulfilled", "order.shipped"])
        self.assertGreater(int(evs[0]["id"]), last)


FLOW = """\
name: Purchase request
type: purchase
initial: draft
states:
  draft: {}
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


class RequestTopics(unittest.TestCase):
    """request:<id>, queue:<type>[:<state>] and approvals, each with its GET's rules."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(ARGS)
        s = cls.srv
        cls.admin = make_user(s, "admin")["access_token"]
        cls.mgr = make_user(s, "approver")["access_token"]
        cls.staff = make_user(s, "staff")["access_token"]
        cls.cust = register(s)["access_token"]
        cls.other = register(s)["access_token"]
        st, _, w = publish(s, cls.admin, FLOW)
        assert st == 201, w

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def url(self, token):
        return "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (self.srv.port, token)

    def new_request(self):
        st, _, r = req(self.srv, "POST", "/api/v1/requests", {"type": "purchase", "title": "Laptop",
                                                               "data": {"amount": 10}}, token=self.cust)
        self.assertEqual(st, 201, r)
        return r["id"]

    def submit(self, rid):
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % rid, {"action": "submit"},
                       token=self.cust)
        self.assertEqual((st, r["state"]), (200, "review"), r)

    async def sub(self, ws, topic, after=None):
        m = {"type": "subscribe", "topic": topic}
        if after is not None:
            m["after"] = after
        await ws.send(json.dumps(m))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))

    async def until(self, ws, etype, timeout=10):
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if m["type"] == "event" and m["event"]["type"] == etype:
                return m

    def test_request_queue_and_approvals(self):
        rid = self.new_request()
        st, _, _ = req(self.srv, "GET", "/api/v1/requests/" + rid, token=self.other)

        async def go():
            async with websockets.connect(self.url(self.other)) as o, \
                    websockets.connect(self.url(self.cust)) as c, \
                    websockets.connect(self.url(self.mgr)) as m, \
                    websockets.connect(self.url(self.staff)) as q:
                err = await self.sub(o, "request:" + rid)
                self.assertEqual(err["problem"]["status"], st)  # the GET's 404
                err = await self.sub(o, "queue:purchase")
                self.assertEqual(err["problem"]["status"], 403)  # staff only
                self.assertEqual((await self.sub(c, "request:" + rid, after=0))["type"], "subscribed")
                created = await self.until(c, "request.created")
                self.assertEqual(created["event"]["stream"], "request-" + rid)
                self.assertEqual((await self.sub(m, "approvals"))["type"], "subscribed")
                self.assertEqual((await self.sub(q, "queue:purchase:review"))["type"], "subscribed")
                self.submit(rid)
                moved = await self.until(c, "request.transitioned")
                self.assertEqual(moved["topic"], "request:" + rid)
                asked = await self.until(m, "request.approval_requested")
                self.assertEqual(asked["topic"], "approvals")
                self.assertEqual(asked["event"]["stream"], "request-" + rid)
                queued = await self.until(q, "request.approval_requested")
                self.assertEqual(queued["topic"], "queue:purchase:review")
                st2, _, r = req(self.srv, "POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "approve"},
                                token=self.mgr)
                self.assertEqual(st2, 200, r)
                await self.until(m, "request.approval_decided")
                await self.until(c, "request.approval_completed")
        run(go())


class SlowIsTheSocket(unittest.TestCase):
    """A reader whose socket takes everything is not cut because the server's own stream thread is
    late (here: writes coalesced every 300 ms, 30 messages allowed, 200 events meanwhile)."""

    def test_a_reader_that_keeps_up_is_not_cut_while_the_stream_thread_waits(self):
        srv = Server(["--stream-coalesce-ms", "300", "--stream-queue-max", "30", "--rate-login-per-min", "100000",
                      "--rate-login-burst", "100000"])
        try:
            staff, products = setup_shop(srv)
            pid = products[0]["id"]
            watcher = register(srv)["access_token"]
            n = 200
            url = "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (srv.port, watcher)

            async def go():
                async with websockets.connect(url) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "topic": "stock:" + pid}))
                    self.assertEqual(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"], "subscribed")
                    loop = asyncio.get_running_loop()

                    def writes():  # one request at a time, as fast as the server answers
                        for _ in range(n):
                            st, _, b = req(srv, "POST", "/api/v1/inventory/%s/adjustments" % pid,
                                           {"delta": 1, "reason": "restock"}, token=staff)
                            assert st == 200, b
                    w = loop.run_in_executor(None, writes)
                    got = 0
                    while got < n:
                        m = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        got += m["type"] == "event"
                    await w
                    return got
            self.assertEqual(run(go()), n)
        finally:
            srv.close()


if __name__ == "__main__":
    main()
