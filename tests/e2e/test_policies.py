"""Edge policies and HTTP conventions over HTTP: errors as problem+json,
RBAC 401/403, rate limits, Idempotency-Key, CORS, request ids, tracing,
OpenAPI coverage, metrics."""
import http.client, json, shutil, socket, tempfile, threading, unittest
from sfharness import (Server, cli, req, register, login, make_user, assert_problem, main)


class Http(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--cors-origins", "https://app.example", "--rate-login-per-min", "100000",
                          "--rate-login-burst", "100000"])
        cls.user = register(cls.srv)
        cls.admin = make_user(cls.srv, "admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def t(self):
        return self.user["access_token"]

    def test_404_405(self):
        st, h, b = req(self.srv, "GET", "/api/v1/nope")
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "DELETE", "/api/v1/users/me", token=self.t())
        assert_problem(self, st, h, b, 405)
        self.assertIn("GET", h["allow"])
        self.assertIn("PATCH", h["allow"])

    def test_bad_bodies(self):
        cases = [
            (b"{not json", 400, None),
            (b"[1,2]", 400, None),
            (b"", 400, None),
            (json.dumps({"name": "x", "admin": True}).encode(), 422, "admin"),
            (json.dumps({"name": 5}).encode(), 422, "name"),
            (json.dumps({}).encode(), 422, "name"),
            (json.dumps({"name": "x" * 101}).encode(), 422, "name"),
        ]
        for raw, status, field in cases:
            st, h, b = req(self.srv, "PATCH", "/api/v1/users/me", raw=raw, token=self.t(),
                           headers={"Content-Type": "application/json"})
            assert_problem(self, st, h, b, status, field=field)
        st, h, b = req(self.srv, "POST", "/api/v1/auth/register", {"email": "not-an-email", "password": "x"})
        assert_problem(self, st, h, b, 422, field="password")

    def test_bad_input_changes_nothing(self):
        st, _, before = req(self.srv, "GET", "/api/v1/users/me", token=self.t())
        st, _, lst = req(self.srv, "GET", "/api/v1/users?limit=200", token=self.admin["access_token"])
        count = len(lst["data"])
        for raw in (b"{bad", b'{"name":""}', b'{"name":"ok","role":"admin"}', b"null"):
            req(self.srv, "PATCH", "/api/v1/users/me", raw=raw, token=self.t())
        for body in ({"email": "x@y.io"}, {"email": "bad", "password": "long enough"},
                     {"email": "z@y.io", "password": "short"}, {"email": "q@y.io", "password": "long enough", "role": "admin"}):
            st, _, _ = req(self.srv, "POST", "/api/v1/auth/register", body)
            self.assertIn(st, (400, 422))
        st, _, after = req(self.srv, "GET", "/api/v1/users/me", token=self.t())
        self.assertEqual(before, after)
        st, _, lst = req(self.srv, "GET", "/api/v1/users?limit=200", token=self.admin["access_token"])
        self.assertEqual(len(lst["data"]), count)

    def test_oversized_body(self):
        # Content-Length over the limit: refused before the body is read
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(("PATCH /api/v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (self.t(), 2 << 20)).encode())
        resp = s.recv(65536).decode(errors="replace")
        s.close()
        self.assertTrue(resp.startswith("HTTP/1.1 413"), resp[:200])
        self.assertIn("application/problem+json", resp)
        # chunked upload (no Content-Length): refused once it passes the limit
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(("PATCH /api/v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n" % self.t()).encode())
        resp, sent = b"", 0
        try:
            chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
            while sent < (3 << 20):
                s.sendall(chunk)
                sent += 65536
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            resp = s.recv(65536)
        except ConnectionResetError:
            pass
        s.close()
        self.assertTrue(resp.startswith(b"HTTP/1.1 413"), resp[:200])
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=self.t())
        self.assertEqual(st, 200)
        self.assertNotEqual(me["name"][:1], "x")

    def test_request_id_and_traceparent(self):
        st, h, _ = req(self.srv, "GET", "/healthz", headers={"X-Request-Id": "my-id-123"})
        self.assertEqual(h["x-request-id"], "my-id-123")
        st, h, _ = req(self.srv, "GET", "/healthz")
        self.assertTrue(h["x-request-id"].startswith("req_"))
        tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        st, h, _ = req(self.srv, "GET", "/healthz", headers={"traceparent": tp})
        out = h["traceparent"].split("-")
        self.assertEqual(out[1], "0af7651916cd43dd8448eb211c80319c")
        self.assertNotEqual(out[2], "b7ad6b7169203331")
        st, h, _ = req(self.srv, "GET", "/healthz", headers={"traceparent": "garbage"})
        self.assertEqual(len(h["traceparent"].split("-")[1]), 32)

    def test_ops(self):
        st, _, b = req(self.srv, "GET", "/readyz")
        self.assertEqual((st, b["status"]), (200, "ready"))
        req(self.srv, "GET", "/api/v1/users/me", token=self.t())
        st, h, text = req(self.srv, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn('sf_http_requests_total{method="GET",route="/api/v1/users/me",status="2xx"}', text)
        self.assertIn("sf_writer_batch_size_bucket", text)
        self.assertIn("sf_http_request_duration_seconds_bucket", text)

    def test_openapi_covers_every_route(self):
        st, _, doc = req(self.srv, "GET", "/api/v1/openapi.json")
        self.assertEqual(st, 200)
        self.assertTrue(doc["openapi"].startswith("3.1"))
        rc, out, err = cli("routes")
        self.assertEqual(rc, 0, err)
        routes = [l.split(" ", 1) for l in out.strip().splitlines()]
        self.assertGreater(len(routes), 15)
        for method, pattern in routes:
            op = doc["paths"].get(pattern, {}).get(method.lower())
            self.assertIsNotNone(op, "%s %s missing from OpenAPI" % (method, pattern))
            self.assertTrue(op.get("summary"))
            self.assertTrue(op.get("responses"))
        n_ops = sum(len(v) for v in doc["paths"].values())
        self.assertEqual(n_ops, len(routes))

    def test_cors(self):
        st, h, _ = req(self.srv, "OPTIONS", "/api/v1/users/me",
                       headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PATCH"})
        self.assertEqual(st, 204)
        self.assertEqual(h["access-control-allow-origin"], "https://app.example")
        self.assertIn("PATCH", h["access-control-allow-methods"])
        st, h, b = req(self.srv, "OPTIONS", "/api/v1/users/me",
                       headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PATCH"})
        assert_problem(self, st, h, b, 403)
        st, h, _ = req(self.srv, "GET", "/healthz", headers={"Origin": "https://app.example"})
        self.assertEqual(h.get("access-control-allow-origin"), "https://app.example")
        st, h, _ = req(self.srv, "GET", "/healthz", headers={"Origin": "https://evil.example"})
        self.assertIsNone(h.get("access-control-allow-origin"))


class Rbac(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        cls.admin = make_user(cls.srv, "admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_roles(self):
        st, h, b = req(self.srv, "GET", "/api/v1/users/me")
        assert_problem(self, st, h, b, 401)
        c = register(self.srv)
        cid = c["user"]["id"]
        st, h, b = req(self.srv, "GET", "/api/v1/users", token=c["access_token"])
        assert_problem(self, st, h, b, 403)
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/" + cid, {"role": "admin"}, token=c["access_token"])
        assert_problem(self, st, h, b, 403)
        a = self.admin["access_token"]
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/" + cid, {"role": "wizard"}, token=a)
        assert_problem(self, st, h, b, 422, field="role")
        st, _, before = req(self.srv, "GET", "/api/v1/users/" + cid, token=a)  # fills the cache
        self.assertEqual(before["role"], "customer")
        st, _, u = req(self.srv, "PATCH", "/api/v1/users/" + cid, {"role": "staff"}, token=a)
        self.assertEqual((st, u["role"]), (200, "staff"))
        st, h, after = req(self.srv, "GET", "/api/v1/users/" + cid, token=a)  # read-after-write
        self.assertEqual((after["role"], after["version"], h["etag"]), ("staff", 2, '"2"'))
        st, _, s = login(self.srv, c["user"]["email"], c["password"])
        st, _, _ = req(self.srv, "GET", "/api/v1/users", token=s["access_token"])
        self.assertEqual(st, 200)
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/" + cid, {"status": "disabled"}, token=s["access_token"])
        assert_problem(self, st, h, b, 403)
        st, h, b = req(self.srv, "GET", "/api/v1/users/usr_doesnotexist", token=a)
        assert_problem(self, st, h, b, 404)

    def test_disable_and_self_protection(self):
        c = register(self.srv)
        a = self.admin["access_token"]
        st, _, u = req(self.srv, "PATCH", "/api/v1/users/" + c["user"]["id"], {"status": "disabled"}, token=a)
        self.assertEqual((st, u["status"]), (200, "disabled"))
        st, h, b = login(self.srv, c["user"]["email"], c["password"])
        assert_problem(self, st, h, b, 403, code="account-disabled")
        st, h, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": c["refresh_token"]})
        assert_problem(self, st, h, b, 401)
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/" + self.admin["user"]["id"], {"role": "customer"}, token=a)
        assert_problem(self, st, h, b, 409)

    def test_pagination(self):
        for _ in range(5):
            register(self.srv)
        a = self.admin["access_token"]
        seen, cursor, pages = [], None, 0
        while True:
            path = "/api/v1/users?limit=2" + ("&cursor=" + cursor if cursor else "")
            st, _, page = req(self.srv, "GET", path, token=a)
            self.assertEqual(st, 200, page)
            self.assertLessEqual(len(page["data"]), 2)
            seen += [u["id"] for u in page["data"]]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), len(set(seen)))
        st, _, full = req(self.srv, "GET", "/api/v1/users?limit=200", token=a)
        self.assertEqual(seen, [u["id"] for u in full["data"]])
        st, h, b = req(self.srv, "GET", "/api/v1/users?limit=0", token=a)
        assert_problem(self, st, h, b, 422, field="limit")
        st, h, b = req(self.srv, "GET", "/api/v1/users?cursor=zzz", token=a)
        assert_problem(self, st, h, b, 422, field="cursor")


class RateLimits(unittest.TestCase):
    def test_per_ip_and_login(self):
        srv = Server(["--rate-ip-rps", "5", "--rate-ip-burst", "5", "--rate-login-per-min", "3",
                      "--rate-login-burst", "3"])
        try:
            statuses = []
            for i in range(4):
                st, h, b = login(srv, "nobody%d@example.com" % i, "whatever pw")
                statuses.append(st)
            self.assertEqual(statuses[:3], [401, 401, 401])
            self.assertEqual(statuses[3], 429)
            got429 = None
            for _ in range(20):
                st, h, b = req(srv, "GET", "/api/v1/users/me")
                if st == 429:
                    got429 = (st, h, b)
                    break
                self.assertIn("ratelimit-limit", h)
            self.assertIsNotNone(got429)
            st, h, b = got429
            assert_problem(self, st, h, b, 429, code="rate-limited")
            self.assertGreaterEqual(int(h["retry-after"]), 1)
            self.assertEqual(h["ratelimit-remaining"], "0")
            st, _, _ = req(srv, "GET", "/healthz")  # probes are exempt
            self.assertEqual(st, 200)
        finally:
            srv.close()

    def test_behind_trusted_proxies_the_forwarded_client_is_limited(self):
        # 127.0.0.1 and 10.9.0.0/16 are proxies; 127.0.0.2 is a client that writes its own header
        srv = Server(["--rate-ip-rps", "1", "--rate-ip-burst", "2", "--trusted-proxies", "127.0.0.1, 10.9.0.0/16"])

        def get(peer, xff=None):
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10, source_address=(peer, 0))
            return req(srv, "GET", "/api/v1/users/me", headers={"X-Forwarded-For": xff} if xff else None, conn=c)[0]

        def exhaust(peer, xff):  # spends a budget (401: no token, but not limited) until 429
            got = [get(peer, xff) for _ in range(6)]
            self.assertEqual(got[-1], 429, got)
            return got

        try:
            # each forwarded client has its own budget
            self.assertEqual(exhaust("127.0.0.1", "203.0.113.1")[0], 401)
            self.assertEqual(get("127.0.0.1", "203.0.113.2"), 401)
            # what a client wrote left of the proxy's entry is not believed; proxies in a chain are skipped
            exhaust("127.0.0.1", "203.0.113.1")
            self.assertEqual(get("127.0.0.1", "198.51.100.7, 203.0.113.1"), 429)
            exhaust("127.0.0.1", "203.0.113.1")
            self.assertEqual(get("127.0.0.1", "203.0.113.1, 10.9.4.4"), 429)
            self.assertEqual(get("127.0.0.1", "203.0.113.3 ,10.9.4.4"), 401)
            # the header from a peer that is not a trusted proxy is ignored: the peer is the client
            exhaust("127.0.0.2", "203.0.113.10")
            self.assertEqual(get("127.0.0.2", "203.0.113.11"), 429)
            # a hop that is not an address: the last trusted proxy is the client
            exhaust("127.0.0.1", "not-an-ip")
            self.assertEqual(get("127.0.0.1"), 429)
        finally:
            srv.close()

    def test_a_bad_trusted_proxies_entry_refuses_the_start(self):
        d = tempfile.mkdtemp(prefix="sf-e2e-")
        try:
            self.assertEqual(cli("migrate", data_dir=d)[0], 0)
            rc, out, err = cli("serve", "--trusted-proxies", "10.0.0.0/33", "--port", "0", data_dir=d)
            self.assertNotEqual(rc, 0)
            self.assertIn("trusted_proxies: '10.0.0.0/33'", err + out)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Idempotency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_replay_and_mismatch(self):
        u = register(self.srv)
        t = u["access_token"]
        h1 = {"Idempotency-Key": "key-1"}
        st1, hh1, b1 = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "A"}, token=t, headers=h1)
        st2, hh2, b2 = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "A"}, token=t, headers=h1)
        self.assertEqual((st1, b1), (st2, b2))
        self.assertEqual(hh2.get("idempotent-replayed"), "true")
        self.assertIsNone(hh1.get("idempotent-replayed"))
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=t)
        self.assertEqual(me["version"], 2)
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "B"}, token=t, headers=h1)
        assert_problem(self, st, h, b, 422, code="idempotency-mismatch")
        # the key is scoped to the user: another user may use the same key
        other = register(self.srv)
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "A"}, token=other["access_token"], headers=h1)
        self.assertEqual(st, 200)
        self.assertIsNone(h.get("idempotent-replayed"))
        self.assertEqual(b["id"], other["user"]["id"])

    def test_register_replay(self):
        body = {"email": "idem-reg@example.com", "password": "long enough 1"}
        st1, _, b1 = req(self.srv, "POST", "/api/v1/auth/register", body, headers={"Idempotency-Key": "reg-1"})
        st2, h2, b2 = req(self.srv, "POST", "/api/v1/auth/register", body, headers={"Idempotency-Key": "reg-1"})
        self.assertEqual((st1, st2), (201, 201))
        self.assertEqual(b1["user"]["id"], b2["user"]["id"])
        self.assertEqual(h2.get("idempotent-replayed"), "true")

    def test_concurrent_same_key(self):
        u = register(self.srv)
        t = u["access_token"]
        results = []
        lock = threading.Lock()

        def go():
            r = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "Concurrent"}, token=t,
                    headers={"Idempotency-Key": "conc-1"})
            with lock:
                results.append(r)

        threads = [threading.Thread(target=go) for _ in range(10)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for st, h, b in results:
            if st == 409:
                self.assertTrue(b["type"].endswith("idempotency-in-flight"))
            else:
                self.assertEqual(st, 200, b)
                self.assertEqual(b["version"], 2)
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=t)
        self.assertEqual(me["version"], 2)

    def test_bad_key(self):
        u = register(self.srv)
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "A"}, token=u["access_token"],
                       headers={"Idempotency-Key": "x" * 300})
        assert_problem(self, st, h, b, 422, field="Idempotency-Key")


if __name__ == "__main__":
    main()
