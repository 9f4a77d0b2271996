"""Rate limits shared across instances in Redis (redis_url): two serviceflow
processes (separate data dirs: the limit is shared through Redis, not the
database) against one real redis-server started here on a free loopback port
in a temp dir, without persistence, and killed at the end. Requests
alternated between the two meet 429 after one shared burst, not two; with
Redis killed, redis_fail = open serves with each instance's own limits and
redis_fail = closed answers 503; after a restart both share again."""
import os, shutil, signal, socket, subprocess, tempfile, time, unittest
from sfharness import BIN, Server, cli, free_port, req, assert_problem, main

BURST = 10


class RedisServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sf-redis-")
        self.port = free_port()
        self.proc = None
        self.start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self):
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def limited(srv):
    """One request under the per-IP limit (GET /users/me without a token: 401
    when allowed, 429 when limited, 503 when fail-closed without Redis)."""
    return req(srv, "GET", "/api/v1/users/me")


def metric(srv, name):
    st, _, text = req(srv, "GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


class SharedLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        common = ["--redis-url", cls.redis.url, "--redis-prefix", "sf-e2e-%d:" % os.getpid(),
                  "--redis-timeout-ms", "1000", "--rate-ip-rps", "1", "--rate-ip-burst", str(BURST)]
        cls.a = cls.b = None
        try:
            cls.a = Server(common + ["--redis-fail", "open"])
            cls.b = Server(common + ["--redis-fail", "closed"])
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in (cls.a, cls.b):
            if s:
                s.close()
        cls.redis.close()

    def alternate(self, n):
        """n requests alternated between the instances; their answers and the seconds they took."""
        out, t0 = [], time.monotonic()
        for i in range(n):
            st, h, b = limited(self.a if i % 2 == 0 else self.b)
            out.append((st, h, b))
        return out, time.monotonic() - t0

    def wait_ready(self, srv, want, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, b = req(srv, "GET", "/readyz")
            if b.get("checks", {}).get("ratelimit_redis") == want:
                return st, b
            time.sleep(0.05)
        self.fail("/readyz never said ratelimit_redis=%s: %s" % (want, b))

    def assert_one_budget(self, answers, seconds):
        allowed = [a for a in answers if a[0] != 429]
        # one burst in all (and a token per second that passed: 1/s), never one per instance
        self.assertGreaterEqual(len(allowed), BURST)
        self.assertLessEqual(len(allowed), BURST + 1 + int(seconds), [a[0] for a in answers])
        self.assertLess(len(allowed), 2 * BURST)
        for st, h, b in answers:
            self.assertIn(st, (401, 429), b)
            self.assertEqual(h["ratelimit-limit"], str(BURST))
        st, h, b = answers[-1]
        assert_problem(self, st, h, b, 429, code="rate-limited")
        self.assertGreaterEqual(int(h["retry-after"]), 1)

    def test_1_shared_burst(self):
        for s in (self.a, self.b):
            st, b = self.wait_ready(s, "ok")
            self.assertEqual(st, 200, b)
        answers, seconds = self.alternate(2 * BURST)
        # the remaining count runs down across both instances
        self.assertEqual([int(h["ratelimit-remaining"]) for _, h, _ in answers[:5]],
                         [BURST - 1 - i for i in range(5)])
        self.assert_one_budget(answers, seconds)
        self.assertEqual(metric(self.a, "sf_ratelimit_redis_up"), 1)
        st, _, _ = req(self.b, "GET", "/healthz")  # probes are never limited
        self.assertEqual(st, 200)

    def test_2_redis_down_then_back(self):
        self.redis.kill()
        # fail open: the instance's own limiter decides (a fresh local burst)
        answers = [limited(self.a) for _ in range(BURST + 3)]
        statuses = [a[0] for a in answers]
        self.assertEqual(statuses[:BURST], [401] * BURST, statuses)
        self.assertIn(429, statuses[BURST:], statuses)
        self.assertEqual(answers[0][1]["ratelimit-limit"], str(BURST))
        # fail closed: 503 problem+json with Retry-After
        st, h, b = limited(self.b)
        assert_problem(self, st, h, b, 503, code="rate-limit-unavailable")
        self.assertEqual(h["retry-after"], "1")
        # /readyz: open stays ready and says so; closed is not ready
        st, b = self.wait_ready(self.a, "down-local-limits")
        self.assertEqual(st, 200, b)
        st, b = self.wait_ready(self.b, "down")
        self.assertEqual(st, 503, b)
        self.assertGreaterEqual(metric(self.a, "sf_ratelimit_redis_errors_total"), 1)
        self.assertGreaterEqual(metric(self.a, 'sf_ratelimit_redis_unavailable_total{outcome="local"}'), BURST)
        self.assertGreaterEqual(metric(self.b, 'sf_ratelimit_redis_unavailable_total{outcome="refused"}'), 1)
        self.assertEqual(metric(self.a, "sf_ratelimit_redis_up"), 0)
        self.assertIn("Redis unavailable, limits are per instance", self.a.stderr())
        self.assertIn("Redis unavailable, refusing requests", self.b.stderr())

        # back: both share again within a couple of seconds (the circuit's backoff is at most 2 s)
        self.redis.start()
        t0 = time.time()
        self.wait_ready(self.a, "ok")
        self.wait_ready(self.b, "ok")
        self.assertLess(time.time() - t0, 3.5)
        self.assert_one_budget(*self.alternate(2 * BURST))
        self.assertIn("Redis answers again", self.a.stderr())


def redis_cmd(port, cmd):
    """One inline command to the Redis on port; its reply's text (a bulk string's content)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(cmd.encode() + b"\r\n")
        data = b""
        while b"\r\n" not in data:
            data += s.recv(65536)
        head, rest = data.split(b"\r\n", 1)
        if not head.startswith(b"$"):
            return head.decode()
        n = int(head[1:])
        while len(rest) < n + 2:
            rest += s.recv(65536)
        return rest[:n].decode()


def script_calls(port):
    """Calls of the limit script (EVALSHA, and EVAL after a NOSCRIPT) since the last CONFIG RESETSTAT."""
    calls = 0
    for line in redis_cmd(port, "INFO commandstats").splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
            calls += int(line.split("calls=")[1].split(",")[0])
    return calls


class OneRoundTrip(unittest.TestCase):
    """A signed-in request takes its per-IP and per-user buckets in one Redis call, with the headers
    and 429 of the per-user limit as before."""

    def test_per_ip_and_per_user_in_one_call(self):
        redis = RedisServer()
        srv = None
        try:
            srv = Server(["--redis-url", redis.url, "--redis-prefix", "sf-e2e-rt-%d:" % os.getpid(),
                          "--redis-timeout-ms", "1000", "--rate-ip-rps", "1000", "--rate-ip-burst", "1000",
                          "--rate-user-rps", "1", "--rate-user-burst", "3"])
            st, _, user = req(srv, "POST", "/api/v1/auth/register",
                              {"email": "rt-%d@example.com" % os.getpid(), "password": "correct horse 1"})
            self.assertEqual(st, 201, user)
            self.assertEqual(redis_cmd(redis.port, "CONFIG RESETSTAT"), "+OK")
            t0 = time.monotonic()
            answers = [req(srv, "GET", "/api/v1/users/me", token=user["access_token"]) for _ in range(6)]
            seconds = time.monotonic() - t0
            statuses = [a[0] for a in answers]
            self.assertEqual(statuses[:3], [200, 200, 200])
            self.assertLessEqual(statuses.count(200), 3 + 1 + int(seconds), statuses)  # one token a second
            self.assertIn(429, statuses)
            # the per-user limit is the one reported (as when the buckets were taken one by one)
            self.assertEqual([a[1]["ratelimit-limit"] for a in answers], ["3"] * 6)
            self.assertEqual(answers[0][1]["ratelimit-remaining"], "2")
            st, h, b = answers[statuses.index(429)]
            assert_problem(self, st, h, b, 429, code="rate-limited")
            self.assertIn("per-user", b["detail"])
            self.assertGreaterEqual(int(h["retry-after"]), 1)
            self.assertEqual(script_calls(redis.port), 6)  # one round trip per request, not two
        finally:
            if srv:
                srv.close()
            redis.close()


class PerInstanceWithoutRedis(unittest.TestCase):
    def test_no_redis_url_is_per_instance(self):
        srv = Server(["--rate-ip-rps", "1", "--rate-ip-burst", "3"])
        try:
            st, _, b = req(srv, "GET", "/readyz")
            self.assertEqual(st, 200)
            self.assertNotIn("ratelimit_redis", b["checks"])
            self.assertEqual([limited(srv)[0] for _ in range(4)], [401, 401, 401, 429])
            self.assertIsNone(metric(srv, "sf_ratelimit_redis_up"))
        finally:
            srv.close()

    def test_bad_settings_refuse_to_start(self):
        d = tempfile.mkdtemp(prefix="sf-e2e-")
        try:
            self.assertEqual(cli("migrate", data_dir=d)[0], 0)
            for args, what in ((["--redis-url", "http://127.0.0.1:6379"], "redis_url"),
                               (["--redis-url", "redis://127.0.0.1:1", "--redis-fail", "maybe"], "redis_fail")):
                p = subprocess.run([BIN, "serve", "--data-dir", d, "--port", str(free_port()), "--bind", "127.0.0.1",
                                    *args], capture_output=True, text=True, timeout=30)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(what, p.stderr + p.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)

if __name__ == "__main__":
    main()
