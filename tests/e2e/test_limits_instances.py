"""Limits a service or the streams keep, shared by two instances through one Redis
(docs/scale-out.md): two serviceflow processes on one PostgreSQL database (the same users), each
with redis_url naming one real redis-server started here on a free loopback port in a temp dir.
  - the per-address budget of account e-mails: the (n+1)th request for one address is refused by
    the other instance too;
  - the per-user limit of open streams: the (max+1)th stream of a user is refused on the other
    instance too (SSE and WebSocket); a closed stream frees its place for both; the streams of an
    instance killed with -9 free their places by themselves a few heartbeats later.

PostgreSQL is a real server of the test's own (scripts/with-postgres.sh): run alone, the file
starts one around itself; ctest runs it as pg.limits_instances."""
import asyncio, os, sys, time, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.environ.get("SF_TEST_PG_URL"):
    script = os.path.join(HERE, "..", "..", "scripts", "with-postgres.sh")
    os.execvp("bash", ["bash", script, sys.executable, os.path.abspath(__file__), *sys.argv[1:]])
os.environ["SF_E2E_BACKEND"] = "postgres"  # sfharness gives each data dir a database on that server

from sfharness import Server, assert_problem, main, register, req, unique_email
from test_idempotency_instances import second_instance
from test_ratelimit_redis import RedisServer
from test_stream import SSE

import websockets

MAILS = 2  # account_mails_per_hour
STREAMS = 2  # stream_max_per_user
HEARTBEAT_S = 1  # a place expires after 3 heartbeats (3 s) unless refreshed


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


class SharedLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        args = ["--redis-url", cls.redis.url, "--redis-prefix", "sf-lim-%d:" % os.getpid(), "--redis-timeout-ms",
                "1000", "--rate-login-per-min", "100000", "--rate-login-burst", "100000", "--account-mails-per-hour",
                str(MAILS), "--stream-max-per-user", str(STREAMS), "--stream-heartbeat-s", str(HEARTBEAT_S)]
        cls.a = cls.b = None
        try:
            cls.a = Server(args)
            cls.b = second_instance(cls.a, args)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in (cls.b, cls.a):
            if s:
                s.close()
        cls.redis.close()

    def test_1_account_mails_per_address(self):
        for email in (register(self.a)["user"]["email"], unique_email("nobody")):
            got = [req(srv, "POST", "/api/v1/auth/password-reset", {"email": email})
                   for srv in [self.a] * MAILS + [self.b]]
            self.assertEqual([g[0] for g in got], [202] * MAILS + [429], [g[2] for g in got])
            assert_problem(self, *got[-1], 429, code="rate-limited")
            self.assertTrue(got[-1][1].get("retry-after"))
            # and the other way round: the budget is one, whichever instance is asked
            st, h, b = req(self.a, "POST", "/api/v1/auth/password-reset", {"email": email})
            self.assertEqual(st, 429, b)
        # another address has a budget of its own
        st, _, b = req(self.b, "POST", "/api/v1/auth/password-reset", {"email": unique_email("other")})
        self.assertEqual(st, 202, b)

    def ws_status(self, srv, token):
        async def go():
            url = "ws://127.0.0.1:%d/api/v1/stream/ws?access_token=%s" % (srv.port, token)
            try:
                ws = await websockets.connect(url)
            except websockets.InvalidStatusCode as e:
                return e.status_code
            await ws.close()
            return 101
        return run(go())

    def sse_status(self, srv, token):
        """The status of an SSE stream opened on srv for token, closed again."""
        s = SSE(srv, token, "notifications")
        s.close()
        return s.status

    def open_when_free(self, srv, token, seconds):
        """An SSE stream on srv once the user has a free place, within seconds; the last try."""
        deadline = time.time() + seconds
        while True:
            s = SSE(srv, token, "notifications")
            if s.status == 200 or time.time() > deadline:
                return s
            s.close()
            time.sleep(0.2)

    def test_2_streams_per_user(self):
        cust = register(self.a)["access_token"]
        held = [SSE(self.a, cust, "notifications") for _ in range(STREAMS)]
        self.assertEqual([h.status for h in held], [200] * STREAMS)
        extra = SSE(self.b, cust, "notifications")  # the other instance counts the first one's
        self.assertEqual(extra.status, 429, getattr(extra, "body", None))
        self.assertEqual(extra.body["type"].rsplit("/", 1)[-1], "too-many-streams")
        extra.close()
        self.assertEqual(self.ws_status(self.b, cust), 429)
        self.assertEqual(self.ws_status(self.a, cust), 429)
        # another user is not concerned
        self.assertEqual(self.ws_status(self.b, register(self.b)["access_token"]), 101)
        held.pop().close()  # the server notices the closed stream at its next heartbeat write
        again = self.open_when_free(self.b, cust, 10)
        self.assertEqual(again.status, 200)
        held.append(again)
        self.assertEqual(self.sse_status(self.a, cust), 429)
        for h in held:
            h.close()

    def test_3_killed_instance_frees_its_places(self):
        cust = register(self.a)["access_token"]
        held = [SSE(self.b, cust, "notifications") for _ in range(STREAMS)]
        self.assertEqual([h.status for h in held], [200] * STREAMS)
        self.assertEqual(self.sse_status(self.a, cust), 429)
        # refreshed once a heartbeat: still held well past the expiry of 3 heartbeats
        time.sleep(4 * HEARTBEAT_S)
        self.assertEqual(self.sse_status(self.a, cust), 429)
        self.b.kill9()
        t0 = time.monotonic()
        s = self.open_when_free(self.a, cust, 15)
        self.assertEqual(s.status, 200, "the dead instance's places were never freed")
        self.assertLess(time.monotonic() - t0, 3 * HEARTBEAT_S + 5)
        s.close()
        for h in held:
            h.close()


if __name__ == "__main__":
    main()
