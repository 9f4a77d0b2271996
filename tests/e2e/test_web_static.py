"""The web app's files (edge/web.h): served from web_root with the right
Content-Type, precompressed variants chosen by Accept-Encoding, immutable
hashed assets and revalidated HTML (ETag, 304), the CSP on HTML, index.html
for app routes, and nothing outside the root; the API's unknown paths stay
problem+json."""
import gzip, http.client, os, shutil, socket, tempfile, unittest
from sfharness import Server, BIN, main, assert_problem, _parse

INDEX = b"<!doctype html><html><head><title>Service Flow</title></head><body><div id=root></div></body></html>"
APP_JS = b"console.log('app');\n" * 200  # over 1 KB, as precompress.mjs wants
APP_BR = b"\x1b\x00fake brotli bytes"  # the server never decodes a variant: any bytes tell it apart

FILES = {  # name -> (bytes, Content-Type)
    "index.html": (INDEX, "text/html; charset=utf-8"),
    "assets/app-abc123.js": (APP_JS, "text/javascript; charset=utf-8"),
    "assets/worker-abc123.mjs": (b"export {};\n", "text/javascript; charset=utf-8"),
    "assets/app-abc123.css": (b"body{margin:0}\n", "text/css; charset=utf-8"),
    "assets/app-abc123.js.map": (b'{"version":3}', "application/json"),
    "assets/inter-abc123.woff2": (b"wOF2fake", "font/woff2"),
    "logo.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
    "icon.png": (b"\x89PNG\r\n\x1a\nfake", "image/png"),
    "favicon.ico": (b"\x00\x00\x01\x00fake", "image/x-icon"),
    "manifest.webmanifest": (b'{"name":"Service Flow"}', "application/manifest+json"),
    "sw.js": (b"self.addEventListener('fetch', () => {});\n", "text/javascript; charset=utf-8"),
    "config.json": (b'{"a":1}', "application/json"),
    "robots.txt": (b"User-agent: *\n", "text/plain; charset=utf-8"),
}


def raw_get(srv, path, headers=None, method="GET"):
    """(status, headers, raw body bytes): the body as sent, not decoded."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def raw_target(srv, target, headers=b""):
    """Sends the request line as given (no client-side normalisation of
    `..` or escapes); (status line, head, body)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n" + headers +
              b"Connection: close\r\n\r\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.decode(errors="replace").lower(), body


def make_root(tmp):
    root = os.path.join(tmp, "web")
    for name, (data, _) in FILES.items():
        p = os.path.join(root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    with open(os.path.join(root, "assets/app-abc123.js.gz"), "wb") as f:
        f.write(gzip.compress(APP_JS, 9))
    with open(os.path.join(root, "assets/app-abc123.js.br"), "wb") as f:
        f.write(APP_BR)
    with open(os.path.join(tmp, "secret.txt"), "wb") as f:  # beside the root, never inside it
        f.write(b"top secret\n")
    os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(root, "escape.txt"))
    os.symlink(tmp, os.path.join(root, "up"))
    os.symlink(os.path.join(root, "robots.txt"), os.path.join(root, "inside.txt"))  # stays inside: fine
    with open(os.path.join(root, ".env"), "wb") as f:
        f.write(b"SECRET=1\n")
    return root


class WebStatic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sf-web-")
        cls.root = make_root(cls.tmp)
        cls.srv = Server(["--web-root", cls.root])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def get(self, path, **headers):
        return raw_get(self.srv, path, headers)

    def test_types_and_nosniff(self):
        for name, (data, ctype) in FILES.items():
            st, h, b = self.get("/" + name, **{"Accept-Encoding": "identity"})
            self.assertEqual(st, 200, name)
            self.assertEqual(h["content-type"], ctype, name)
            self.assertEqual(b, data, name)
            self.assertEqual(h["x-content-type-options"], "nosniff", name)
            self.assertNotIn("content-encoding", h, name)

    def test_index_at_root_with_security_headers(self):
        st, h, b = self.get("/")
        self.assertEqual((st, b), (200, INDEX))
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        csp = h["content-security-policy"]
        for part in ("default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
                     "img-src 'self' data: blob:", "font-src 'self' data:", "object-src 'none'",
                     "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'"):
            self.assertIn(part, csp)
        port = self.srv.port  # the WebSocket origin of the host the browser used, not any ws:
        self.assertIn("connect-src 'self' ws://127.0.0.1:%d wss://127.0.0.1:%d;" % (port, port), csp)
        self.assertEqual(h["referrer-policy"], "same-origin")
        self.assertEqual(h["x-frame-options"], "DENY")
        self.assertEqual(h["cache-control"], "no-cache")
        self.assertTrue(h["etag"].startswith('"'), h)
        self.assertIn("GMT", h["last-modified"])
        st, h, _ = self.get("/", Host="evil'*")  # a Host that is no host is not echoed
        self.assertEqual(st, 200)
        self.assertNotIn("evil", h["content-security-policy"])
        self.assertNotIn("content-security-policy", self.get("/assets/app-abc123.css")[1])

    def test_service_worker_and_manifest(self):
        # the installable app (docs/web.md): the worker is revalidated on every visit so a new
        # build is seen at once, never taken from the HTTP cache; the CSP lets it run
        st, h, b = self.get("/sw.js", **{"Accept-Encoding": "identity"})
        self.assertEqual((st, b), (200, FILES["sw.js"][0]))
        self.assertEqual(h["content-type"], "text/javascript; charset=utf-8")
        self.assertEqual(h["cache-control"], "no-cache")
        st, h, _ = self.get("/manifest.webmanifest")
        self.assertEqual((st, h["content-type"], h["cache-control"]), (200, "application/manifest+json", "no-cache"))
        csp = self.get("/")[1]["content-security-policy"]
        self.assertIn("worker-src 'self';", csp)
        self.assertIn("manifest-src 'self';", csp)

    def test_encodings(self):
        path = "/assets/app-abc123.js"
        cases = [("br, gzip", "br", APP_BR), ("gzip, deflate, br", "br", APP_BR),
                 ("gzip", "gzip", None), ("br;q=0, gzip", "gzip", None), ("br;q=0.4, gzip;q=0.8", "gzip", None),
                 ("br;q=0, gzip;q=0", None, APP_JS), ("*;q=0", None, APP_JS), ("identity", None, APP_JS),
                 (None, None, APP_JS), ("*", "br", APP_BR)]
        etags = set()
        for ae, enc, body in cases:
            st, h, b = self.get(path, **({"Accept-Encoding": ae} if ae is not None else {}))
            self.assertEqual(st, 200, ae)
            self.assertEqual(h.get("content-encoding"), enc, ae)
            self.assertEqual(h["content-type"], "text/javascript; charset=utf-8", ae)
            self.assertEqual(h["vary"], "Accept-Encoding", ae)
            self.assertEqual(h["content-length"], str(len(b)), ae)
            if enc == "gzip":
                self.assertEqual(gzip.decompress(b), APP_JS)
            else:
                self.assertEqual(b, body, ae)
            etags.add((enc, h["etag"]))
        self.assertEqual(len({e for _, e in etags}), 3, etags)  # one strong tag per coding
        # a file with no variant is sent plain whatever the client takes
        st, h, b = self.get("/assets/app-abc123.css", **{"Accept-Encoding": "br, gzip"})
        self.assertEqual((st, h.get("content-encoding"), b), (200, None, FILES["assets/app-abc123.css"][0]))

    def test_caching_and_304(self):
        st, h, _ = self.get("/assets/app-abc123.js", **{"Accept-Encoding": "gzip"})
        self.assertEqual(h["cache-control"], "public, max-age=31536000, immutable")
        tag = h["etag"]
        st, h2, b = self.get("/assets/app-abc123.js", **{"Accept-Encoding": "gzip", "If-None-Match": tag})
        self.assertEqual((st, b), (304, b""))
        self.assertEqual(h2["etag"], tag)
        self.assertEqual(h2["cache-control"], "public, max-age=31536000, immutable")
        # the gzip tag does not match the brotli answer: that one is sent whole
        st, _, b = self.get("/assets/app-abc123.js", **{"Accept-Encoding": "br", "If-None-Match": tag})
        self.assertEqual((st, b), (200, APP_BR))
        st, h, _ = self.get("/index.html")
        self.assertEqual(h["cache-control"], "no-cache")
        st, _, b = self.get("/", **{"If-None-Match": 'W/"nope", ' + h["etag"]})
        self.assertEqual((st, b), (304, b""))
        st, _, _ = self.get("/", **{"If-None-Match": '"other"'})
        self.assertEqual(st, 200)
        self.assertEqual(self.get("/robots.txt")[1]["cache-control"], "no-cache")

    def test_head(self):
        st, h, b = raw_get(self.srv, "/assets/app-abc123.js", {"Accept-Encoding": "identity"}, method="HEAD")
        self.assertEqual((st, b), (200, b""))
        self.assertEqual(h["content-length"], str(len(APP_JS)))
        self.assertEqual(h["content-type"], "text/javascript; charset=utf-8")
        st, h, b = raw_get(self.srv, "/orders/123", {"Accept": "text/html"}, method="HEAD")
        self.assertEqual((st, b, h["content-type"]), (200, b"", "text/html; charset=utf-8"))

    def test_app_routes_fall_back_to_index(self):
        for path in ("/orders/123", "/desk/queues/", "/assets", "/shop?q=lamp"):
            st, h, b = self.get(path, Accept="text/html,application/xhtml+xml,*/*;q=0.8")
            self.assertEqual((st, b), (200, INDEX), path)
            self.assertEqual(h["cache-control"], "no-cache", path)
            self.assertIn("content-security-policy", h, path)
        # a fetch or an API client (no text/html) gets the problem, not a page
        st, h, b = _parse_raw(self.get("/orders/123", Accept="application/json"))
        assert_problem(self, st, h, b, 404)
        # a missing file with an extension is missing, even for a browser
        for path in ("/assets/app-zzz999.js", "/nope.png", "/orders/1.json"):
            st, h, b = _parse_raw(self.get(path, Accept="text/html"))
            assert_problem(self, st, h, b, 404)

    def test_api_paths_stay_api(self):
        for path in ("/api/v1/no-such-thing", "/api/v1/orders/x/y/z", "/api", "/api/"):
            st, h, b = _parse_raw(self.get(path, Accept="text/html"))
            assert_problem(self, st, h, b, 404)
            self.assertNotIn("content-security-policy", h)
        st, _, b = self.get("/healthz", Accept="text/html")
        self.assertEqual(st, 200)
        self.assertNotIn(b"<html", b)
        st, h, _ = raw_get(self.srv, "/", {}, method="POST")  # not GET/HEAD: no file, the usual 404
        self.assertEqual(st, 404)
        self.assertTrue(h["content-type"].startswith("application/problem+json"))

    def test_traversal_refused(self):
        for target in (b"/../secret.txt", b"/assets/../../secret.txt", b"/%2e%2e/secret.txt",
                       b"/assets/%2E%2E/%2e%2e/secret.txt", b"/..%2fsecret.txt", b"/assets%2fapp-abc123.js",
                       b"/assets%5capp-abc123.js", b"/escape.txt", b"/up/secret.txt",
                       b"/.env", b"/./index.html", b"//index.html", b"/assets//app-abc123.js"):
            st, head, body = raw_target(self.srv, target)
            self.assertIn(st, (400, 404), target)
            self.assertNotIn(b"top secret", body, target)
            self.assertNotIn(b"SECRET", body, target)
            self.assertNotIn(b"<html", body, target)  # not even the app's fallback
        st, _, body = raw_target(self.srv, b"/index.html%00.png")  # a NUL: refused before any file is looked at
        self.assertEqual(st, 400)
        st, _, body = raw_target(self.srv, b"/inside.txt")  # a symlink that stays inside the root is a file
        self.assertEqual((st, body), (200, FILES["robots.txt"][0]))


def _parse_raw(answer):
    """A raw_get answer as sfharness parses one (JSON bodies decoded)."""
    st, h, b = answer

    class R:
        status = st

        def read(self):
            return b

        def getheaders(self):
            return list(h.items())
    return _parse(R())


class WebRootSettings(unittest.TestCase):
    def test_missing_root_says_how_to_build(self):
        tmp = tempfile.mkdtemp(prefix="sf-web-")
        srv = Server(env={"SERVICEFLOW_WEB_ROOT": os.path.join(tmp, "not-built")})
        try:
            for path in ("/", "/orders/1", "/assets/app.js"):
                st, h, b = _parse_raw(raw_get(srv, path, {"Accept": "text/html"}))
                assert_problem(self, st, h, b, 404, code="web-not-built")
                self.assertIn("make build", b["detail"])
                self.assertIn("not-built", b["detail"])
            self.assertIn("web app not built", srv.stderr())
            st, _, _ = raw_get(srv, "/healthz")
            self.assertEqual(st, 200)
            # built while the server runs: served without a restart
            os.makedirs(os.path.join(tmp, "not-built"))
            with open(os.path.join(tmp, "not-built", "index.html"), "wb") as f:
                f.write(INDEX)
            self.assertEqual(raw_get(srv, "/")[::2], (200, INDEX))
        finally:
            srv.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_default_root_is_beside_the_executable(self):
        tmp = tempfile.mkdtemp(prefix="sf-web-")
        try:
            binary = os.path.join(tmp, "serviceflow")
            shutil.copy(BIN, binary)
            make_root(tmp)  # tmp/web
            srv = Server(bin=binary)
            try:
                self.assertEqual(raw_get(srv, "/")[::2], (200, INDEX))
            finally:
                srv.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
