"""HTTP framing and conformance over raw sockets: request smuggling shapes
(RFC 9112 §6.1, §6.3), header syntax, Host (§3.2), the request target (%00,
absolute-form), MHD's own error answers as problem+json, If-Match (RFC 9110
§13.1.1), 415 for bodies that are not JSON, and JSON null for typed fields."""
import json, socket, time, unittest
from sfharness import Server, req, register, make_user, assert_problem, main

FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]


def exchange(srv, data, timeout=5):
    """Sends raw bytes; returns (status, headers, body bytes, closed) of the first
    response, closed saying whether the server closed the connection after it."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    out, closed = b"", False
    try:
        s.sendall(data)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            out += d
            head, sep, rest = out.partition(b"\r\n\r\n")
            if sep:
                n = int(dict(parse_head(head)[1]).get("content-length", "0"))
                if len(rest) >= n:
                    s.settimeout(1.0)  # the response is complete: is the connection closed?
    finally:
        s.close()
    head, _, rest = out.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    n = int(dict(headers).get("content-length", "0"))
    return status, dict(headers), rest[:n], closed


def parse_head(head):
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = []
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers.append((k.strip().lower(), v.strip()))
    return status, headers


class Framing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(FAST)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def refused(self, data, status, closed=True, json_body=True):
        st, h, body, was_closed = exchange(self.srv, data)
        self.assertEqual(st, status, (data[:200], body))
        self.assertTrue(h.get("content-type", "").startswith("application/problem+json"), (data[:200], h))
        if json_body:
            p = json.loads(body)
            self.assertEqual(p["status"], status)
            self.assertIn("title", p)
        if closed:
            self.assertTrue(was_closed, "connection left open after %r" % data[:200])
        return h

    LOGIN = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"

    def test_content_length_and_transfer_encoding(self):
        self.refused(self.LOGIN + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
        self.refused(self.LOGIN + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400)

    def test_two_content_lengths(self):
        self.refused(self.LOGIN + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", 400)
        self.refused(self.LOGIN + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400)

    def test_content_length_list_and_garbage(self):
        # refused by MHD itself before our handler; libmicrohttpd 0.9.75 writes its
        # status line and header twice there, so only status, type and close are checked
        for cl in (b"2, 3", b"2,2", b"-1", b"1x", b"99999999999999999999999"):
            self.refused(self.LOGIN + b"Content-Length: " + cl + b"\r\n\r\n{}x", 413 if cl[:2] == b"99" else 400,
                         json_body=False)

    def test_unknown_transfer_coding(self):
        for te in (b"gzip", b"gzip, chunked", b"identity", b"x-custom"):
            self.refused(self.LOGIN + b"Transfer-Encoding: " + te + b"\r\n\r\n0\r\n\r\n", 501)

    def test_chunked_not_last_or_twice(self):
        self.refused(self.LOGIN + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400)
        self.refused(self.LOGIN + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
        self.refused(b"POST /api/v1/auth/login HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)

    def test_chunked_body_still_works(self):
        body = b'{"email":"nobody@example.com","password":"wrong password 1"}'
        data = self.LOGIN + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + \
            b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        st, h, b, _ = exchange(self.srv, data)
        self.assertEqual(st, 401, b)

    def test_malformed_chunk_is_problem_json(self):
        self.refused(self.LOGIN + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400)

    def test_header_name_syntax(self):
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n", 400)
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: x\r\nFoo\t: bar\r\n\r\n", 400)
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400)
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400)  # bare CR

    def test_host(self):
        self.refused(b"GET /healthz HTTP/1.1\r\n\r\n", 400)
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", 400)
        st, _, _, _ = exchange(self.srv, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual(st, 200)

    def test_mhd_own_errors_are_problem_json(self):
        self.refused(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505)
        self.refused(b"GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n", 505)
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431)
        self.refused(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-F: a\r\n" * 200 + b"\r\n", 431)

    def test_body_over_limit(self):
        h = self.refused(self.LOGIN + b"Content-Length: 5000000\r\n\r\n", 413)

    def test_nul_and_bad_escapes_in_path(self):
        staff = make_user(self.srv, "staff")["access_token"]
        st, _, p = req(self.srv, "POST", "/api/v1/products", {"sku": "NUL-%d" % time.time_ns(), "name": "N",
                                                               "price": 100, "currency": "EUR", "status": "active"},
                       token=staff)
        self.assertEqual(st, 201, p)
        st, _, b = req(self.srv, "GET", "/api/v1/products/" + p["id"])
        self.assertEqual(st, 200)
        for suffix in ("%00junk", "%00", "%0a", "%zz", "%4"):
            st, h, b = req(self.srv, "GET", "/api/v1/products/" + p["id"] + suffix)
            assert_problem(self, st, h, b, 400)
        # a %00 in a query value is kept, never a cut: no status is "active\0..."
        st, h, b = req(self.srv, "GET", "/api/v1/products?status=active%00x", token=staff)
        self.assertNotEqual(st, 200, b)

    def test_absolute_form(self):
        st, h, b, _ = exchange(self.srv, b"GET http://example.com/healthz HTTP/1.1\r\nHost: example.com\r\n\r\n")
        self.assertEqual(st, 200, b)
        st, h, b, _ = exchange(self.srv, b"GET HTTP://example.com:80/api/v1/products?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(st, 200, b)
        self.assertEqual(len(json.loads(b)["data"]) <= 1, True)
        self.refused(b"GET ftp://example.com/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400)
        self.refused(b"GET healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400)

    def test_asterisk_form(self):
        st, h, b, _ = exchange(self.srv, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(st, 204, b)
        self.assertIn("GET", h.get("allow", ""))
        self.refused(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400)

    def test_keep_alive_unaffected(self):
        data = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        s.sendall(data)
        out = b""
        while out.count(b"HTTP/1.1 200") < 2:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
        self.assertEqual(out.count(b"HTTP/1.1 200"), 2, out)

    def test_expect_and_unknown_method(self):
        self.refused(self.LOGIN + b"Expect: teapot\r\nContent-Length: 2\r\n\r\n{}", 417)
        st, h, b = req(self.srv, "BREW", "/healthz")
        assert_problem(self, st, h, b, 501)
        st, h, b = req(self.srv, "TRACE", "/api/v1/products")
        assert_problem(self, st, h, b, 501)

    def test_http_layer_errors_are_problem_json(self):
        st, h, b = req(self.srv, "GET", "/no/such/path")
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "DELETE", "/healthz")
        assert_problem(self, st, h, b, 405)
        st, h, b = req(self.srv, "POST", "/api/v1/auth/login", raw=b"{oops",
                       headers={"Content-Type": "application/json"})
        assert_problem(self, st, h, b, 400)


class Semantics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(FAST)
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.admin = make_user(cls.srv, "admin")["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def product(self):
        st, h, p = req(self.srv, "POST", "/api/v1/products",
                       {"sku": "C-%d" % time.time_ns(), "name": "C", "price": 100, "currency": "EUR",
                        "status": "active"}, token=self.staff)
        self.assertEqual(st, 201, p)
        return p

    def patch(self, pid, if_match, name="n"):
        return req(self.srv, "PATCH", "/api/v1/products/" + pid, {"name": name}, token=self.staff,
                   headers={"If-Match": if_match})

    def test_if_match(self):
        p = self.product()
        st, h, b = self.patch(p["id"], "*")
        self.assertEqual(st, 200, b)                     # * matches any current version
        st, h, b = self.patch(p["id"], '"9", "2"', "m")  # a list: one of them is current
        self.assertEqual(st, 200, b)
        st, h, b = self.patch(p["id"], 'W/"3"', "w")     # If-Match compares strongly
        assert_problem(self, st, h, b, 412)
        st, h, b = self.patch(p["id"], '"abc"')          # not one of ours: matches nothing
        assert_problem(self, st, h, b, 412)
        st, h, b = self.patch(p["id"], "banana")
        assert_problem(self, st, h, b, 400)
        st, h, b = self.patch("prd_nosuchproduct", "*")  # * on nothing: the 404 stands
        assert_problem(self, st, h, b, 404)
        # the same rule in another service
        st, h, b = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % p["id"],
                       {"delta": 1, "reason": "x"}, token=self.staff, headers={"If-Match": "*"})
        self.assertEqual(st, 200, b)

    def test_unsupported_media_type(self):
        body = json.dumps({"sku": "M-%d" % time.time_ns(), "name": "M", "price": 1, "currency": "EUR"}).encode()
        for ct in ("text/plain", "multipart/form-data; boundary=x", "application/xml",
                   "application/json; charset=iso-8859-1", "application/yaml"):
            st, h, b = req(self.srv, "POST", "/api/v1/products", raw=body, token=self.staff,
                           headers={"Content-Type": ct})
            assert_problem(self, st, h, b, 415)
            self.assertIn("application/json", h.get("accept", ""))
        for ct in ("application/json; charset=utf-8", "application/JSON", "application/merge-patch+json",
                   "application/x-www-form-urlencoded", None):
            body = json.dumps({"sku": "M-%d" % time.time_ns(), "name": "M", "price": 1, "currency": "EUR"}).encode()
            st, h, b = req(self.srv, "POST", "/api/v1/products", raw=body, token=self.staff,
                           headers={"Content-Type": ct} if ct else {})
            self.assertEqual(st, 201, (ct, b))
        # the workflow route takes YAML too, and only what it documents
        st, h, b = req(self.srv, "POST", "/api/v1/workflows", raw=b"name: x\n", token=self.admin,
                       headers={"Content-Type": "text/html"})
        assert_problem(self, st, h, b, 415)
        self.assertIn("application/yaml", h.get("accept", ""))
        st, h, b = req(self.srv, "POST", "/api/v1/workflows", raw=b"name: x\n", token=self.admin,
                       headers={"Content-Type": "application/yaml"})
        self.assertEqual(st, 422, b)  # read as YAML: an incomplete definition

    def test_null_for_typed_fields(self):
        p = self.product()
        cases = [
            ("PATCH", "/api/v1/products/" + p["id"], {"price": None}, "price", self.staff),
            ("POST", "/api/v1/inventory/%s/adjustments" % p["id"], {"delta": None, "reason": "x"}, "delta",
             self.staff),
            ("PATCH", "/api/v1/users/me", {"name": None}, "name", self.staff),
            ("POST", "/api/v1/orders", {"items": None, "cart_id": "crt_x", "payment": {"card_number": "4242424242424242"}},
             "items", self.staff),
            ("POST", "/api/v1/orders/ord_x/refunds", {"amount": None}, "amount", self.staff),
            ("POST", "/api/v1/requests", {"type": "purchase", "title": "t", "data": None}, "data", self.staff),
            ("POST", "/api/v1/carts/crt_x/lines", {"product_id": p["id"], "quantity": None}, "quantity",
             self.staff),
            ("POST", "/api/v1/auth/register", {"email": "n@example.com", "password": "long enough 1",
                                              "name": None}, "name", None),
        ]
        for method, path, body, field, tok in cases:
            st, h, b = req(self.srv, method, path, body, token=tok)
            assert_problem(self, st, h, b, 422, field=field)
        # null keeps its documented meaning where there is one: category_id null clears the category
        st, h, b = req(self.srv, "PATCH", "/api/v1/products/" + p["id"], {"category_id": None}, token=self.staff)
        self.assertEqual(st, 200, b)

    def test_refund_null_amount_moves_no_money(self):
        cust = register(self.srv)["access_token"]
        p = self.product()
        st, _, _ = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % p["id"],
                       {"delta": 5, "reason": "x"}, token=self.staff)
        st, _, o = req(self.srv, "POST", "/api/v1/orders",
                       {"items": [{"product_id": p["id"], "quantity": 1}],
                        "payment": {"card_number": "4242424242424242"}},
                       token=cust, headers={"Prefer": "wait=10"})
        self.assertIn(st, (200, 201), o)
        self.assertEqual(o["status"], "paid", o)
        st, h, b = req(self.srv, "POST", "/api/v1/orders/%s/refunds" % o["id"], {"amount": None}, token=self.staff)
        assert_problem(self, st, h, b, 422, field="amount")
        st, _, o2 = req(self.srv, "GET", "/api/v1/orders/" + o["id"], token=self.staff)
        self.assertEqual((o2["status"], o2["payment"]["refunded"]), ("paid", 0), o2)


if __name__ == "__main__":
    main()
