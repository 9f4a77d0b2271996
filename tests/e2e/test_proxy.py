"""Behind a real load balancer: Debian's nginx with deploy/nginx/proxy.conf (the directives the
docs tell users to include) in front of the server. The API, WebSocket and Server-Sent Events
pass through it, events are not held back by its buffering, and with trusted_proxies the server
tells the clients behind it apart."""
import asyncio, http.client, json, time, unittest
import sfharness as h
from nginxharness import Nginx
from test_orders import setup_shop, place
from test_stream import SSE, run

import websockets


class ThroughNginx(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.Server(["--trusted-proxies", "127.0.0.1", "--rate-login-per-min", "100000",
                            "--rate-login-burst", "100000", "--stream-heartbeat-s", "1"])
        cls.lb = Nginx([cls.srv.port])
        cls.staff, cls.products = setup_shop(cls.srv)

    @classmethod
    def tearDownClass(cls):
        cls.lb.close()
        cls.srv.close()

    def paid_order(self, token):
        st, _, o = place(self.lb, token, [{"product_id": self.products[0]["id"], "quantity": 1}], wait=5)
        self.assertEqual((st, o.get("status")), (201, "paid"), o)
        return o["id"]

    def test_the_api_answers_through_nginx(self):
        cust = h.register(self.lb)["access_token"]
        st, hd, me = h.req(self.lb, "GET", "/api/v1/users/me", token=cust)
        self.assertEqual(st, 200, me)
        self.assertTrue(hd.get("X-Request-Id"))
        st, hd, b = h.req(self.lb, "GET", "/api/v1/users/me")
        h.assert_problem(self, st, hd, b, 401)

    def test_websocket_through_nginx_catches_up_then_goes_live(self):
        cust = h.register(self.lb)["access_token"]
        oid = self.paid_order(cust)

        async def go():
            url = "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (self.lb.port, cust)
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"type": "subscribe", "topic": "order:" + oid, "after": 0}))
                sub = json.loads(await asyncio.wait_for(ws.recv(), 10))
                self.assertEqual(sub["type"], "subscribed", sub)
                got = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(4)]
                self.assertEqual(got[-1]["event"]["type"], "order.paid")
                st, _, b = h.req(self.lb, "POST", "/api/v1/orders/%s/fulfil" % oid, token=self.staff)
                self.assertEqual(st, 200, b)
                live = json.loads(await asyncio.wait_for(ws.recv(), 10))
                self.assertEqual(live["event"]["type"], "order.fulfilled")
        run(go())

    def test_sse_through_nginx_is_not_buffered(self):
        cust = h.register(self.lb)["access_token"]
        oid = self.paid_order(cust)
        sse = SSE(self.lb, cust, "order:" + oid, after=0)
        try:
            self.assertEqual(sse.status, 200)
            self.assertEqual(len(sse.events(4)), 4)  # the order's history so far
            t0 = time.monotonic()
            st, _, b = h.req(self.lb, "POST", "/api/v1/orders/%s/fulfil" % oid, token=self.staff)
            self.assertEqual(st, 200, b)
            ev = sse.events(1, timeout=5)
            self.assertEqual(ev[0]["event"], "order.fulfilled")
            self.assertLess(time.monotonic() - t0, 2, "the event waited in the proxy's buffer")
        finally:
            sse.close()


class ClientsBehindNginx(unittest.TestCase):
    def test_per_client_limits_see_the_clients_not_the_proxy(self):
        srv = h.Server(["--trusted-proxies", "127.0.0.1", "--rate-ip-rps", "1", "--rate-ip-burst", "3"])
        lb = Nginx([srv.port])

        def get(client_ip):
            c = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=10, source_address=(client_ip, 0))
            try:
                return h.req(lb, "GET", "/api/v1/users/me", conn=c)[0]
            finally:
                c.close()

        try:
            got = [get("127.0.0.2") for _ in range(8)]
            self.assertEqual(got[0], 401)
            self.assertEqual(got[-1], 429, got)
            self.assertEqual(get("127.0.0.3"), 401)  # another client has its own budget
        finally:
            lb.close()
            srv.close()


if __name__ == "__main__":
    h.main()
