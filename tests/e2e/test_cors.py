"""CORS for browser apps: the preflight allows every header the API reads, and
every answer exposes every header the API sets. Checked two ways: against the
sources (a header read or set anywhere must be in the lists of
src/edge/headers.h) and against real answers of the documented flows (guest
cart, order with Prefer: wait and Idempotency-Key, If-Match, 401, 405, 429)."""
import glob, os, re, time, unittest
from sfharness import Server, req, register, make_user, main

ORIGIN = "https://app.example"
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
# headers a browser sends or reads without CORS permission, and CORS's own
SAFE_REQUEST = {"accept", "accept-language", "content-language", "origin", "access-control-request-method",
                "access-control-request-headers", "host", "connection", "content-length"}
SAFE_RESPONSE = {"cache-control", "content-language", "content-length", "content-type", "expires",
                 "last-modified", "pragma", "date", "connection", "vary", "keep-alive", "transfer-encoding"}
OK_CARD = "4242424242424242"


def listed(value):
    return {x.strip().lower() for x in (value or "").split(",") if x.strip()}


def source_headers():
    """(read, set): header names the C sources read from requests or add to answers."""
    read, wrote = set(), set()
    for path in glob.glob(os.path.join(SRC, "**", "*.c"), recursive=True):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        defines = dict(re.findall(r'#define\s+(\w+)\s+"([A-Za-z0-9-]+)"', text))
        for m in re.finditer(r'(?:sf_req_header|MHD_lookup_connection_value)\([^;]*?(?:"([A-Za-z0-9-]+)"|\b([A-Z_]+)\))',
                             text):
            name = m.group(1) or defines.get(m.group(2))
            if name:
                read.add(name.lower())
        for m in re.finditer(r'(?:sf_req_(?:add|set)_header|MHD_add_response_header)\(\s*[\w>.-]+,\s*"([A-Za-z0-9-]+)"',
                             text):
            wrote.add(m.group(1).lower())
    return read - SAFE_REQUEST, {h for h in wrote if not h.startswith("access-control-")} - SAFE_RESPONSE


class Cors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--cors-origins", ORIGIN, "--rate-login-per-min", "60", "--rate-login-burst", "3"])
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        st, h, _ = req(cls.srv, "OPTIONS", "/api/v1/carts",
                       headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert st == 204, st
        cls.allow = listed(h.get("access-control-allow-headers"))
        st, h, _ = req(cls.srv, "GET", "/healthz", headers={"Origin": ORIGIN})
        cls.expose = listed(h.get("access-control-expose-headers"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def exposed(self, st, h, what):
        """Every non-safelisted header of a real answer is exposed to the browser."""
        self.assertEqual(h.get("access-control-allow-origin"), ORIGIN, what)
        names = {k for k in h.keys() if not k.startswith("access-control-")} - SAFE_RESPONSE
        self.assertEqual(names - listed(h.get("access-control-expose-headers")), set(), what)

    def test_sources_read_and_set_only_listed_headers(self):
        read, wrote = source_headers()
        self.assertIn("cart-token", read)  # the scan finds headers named through a #define
        self.assertIn("preference-applied", wrote)
        self.assertEqual(read - self.allow, set(), "request headers missing from SF_HEADERS_REQUEST")
        self.assertEqual(wrote - self.expose, set(), "response headers missing from SF_HEADERS_RESPONSE")

    def test_preflight_allows_the_documented_flows(self):
        for method, path, headers in (
                ("POST", "/api/v1/carts", "content-type, idempotency-key"),
                ("POST", "/api/v1/carts/crt_x/lines", "cart-token, content-type, if-match"),
                ("POST", "/api/v1/orders", "authorization, content-type, prefer, idempotency-key, traceparent"),
                ("PATCH", "/api/v1/users/me", "authorization, if-match, x-request-id")):
            st, h, _ = req(self.srv, "OPTIONS", path, headers={
                "Origin": ORIGIN, "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers})
            self.assertEqual(st, 204, path)
            self.assertEqual(h["access-control-allow-origin"], ORIGIN)
            self.assertIn(method, h["access-control-allow-methods"])
            self.assertEqual(listed(headers) - listed(h["access-control-allow-headers"]), set(), path)
        for name in ("preference-applied", "etag", "location", "ratelimit-limit", "ratelimit-remaining",
                     "ratelimit-reset", "retry-after", "x-request-id", "cart-token", "traceparent",
                     "idempotent-replayed", "www-authenticate"):
            self.assertIn(name, self.expose)

    def test_real_answers_expose_every_header_they_carry(self):
        o = {"Origin": ORIGIN}
        st, h, cart = req(self.srv, "POST", "/api/v1/carts", {}, headers=o)
        self.assertEqual(st, 201, cart)
        self.exposed(st, h, "POST /carts")
        st, _, p = req(self.srv, "POST", "/api/v1/products",
                       {"sku": "CORS-%d" % time.time_ns(), "name": "Cors", "price": 500, "currency": "EUR",
                        "status": "active"}, token=self.staff)
        self.assertEqual(st, 201, p)
        req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % p["id"], {"delta": 5, "reason": "initial"},
            token=self.staff)
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/lines" % cart["id"], {"product_id": p["id"], "quantity": 1},
                       headers={**o, "Cart-Token": cart["token"]})
        self.assertIn(st, (200, 201), b)
        self.exposed(st, h, "POST lines")
        user = register(self.srv)["access_token"]
        hdr = {**o, "Prefer": "wait=5", "Idempotency-Key": "cors-%d" % time.time_ns()}
        body = {"items": [{"product_id": p["id"], "quantity": 1}], "payment": {"card_number": OK_CARD}}
        for _ in range(2):  # the second is a replay
            st, h, b = req(self.srv, "POST", "/api/v1/orders", body, token=user, headers=hdr)
            self.assertIn(st, (200, 201), b)
            self.exposed(st, h, "POST /orders")
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "x"}, token=user,
                       headers={**o, "If-Match": '"999"'})
        self.assertEqual(st, 412, b)
        self.exposed(st, h, "412")
        st, h, _ = req(self.srv, "GET", "/api/v1/users/me", headers=o)
        self.assertEqual(st, 401)
        self.assertIn("www-authenticate", h)
        self.exposed(st, h, "401")
        st, h, _ = req(self.srv, "DELETE", "/healthz", headers=o)
        self.assertEqual(st, 405)
        self.exposed(st, h, "405")
        for _ in range(10):
            st, h, _ = req(self.srv, "POST", "/api/v1/auth/login", {"email": "nobody@example.com", "password": "x" * 12},
                           headers=o)
            if st == 429:
                break
        self.assertEqual(st, 429)
        self.assertIn("retry-after", h)
        self.exposed(st, h, "429")


if __name__ == "__main__":
    main()
