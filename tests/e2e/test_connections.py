"""Connection exhaustion: the fd limit, the connection caps, receive deadlines
and shutdown with a stalled upload. Every test is bounded in time: a refused
or cut connection must show within seconds, never hang."""
import json, os, re, resource, signal, socket, time, unittest

import sfharness as h

HEADER_TIMEOUT_S = 2
PER_IP = 6
FD_SOFT, FD_HARD = 200, 320


def low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_SOFT, FD_HARD))


def connect(srv, src_ip="127.0.0.1"):
    s = socket.socket()
    s.bind((src_ip, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", srv.port))
    return s


def read_response(s):
    """One response off a keep-alive socket: (status, body bytes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a response: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    return int(head.split()[1]), rest


def get_on(s, path="/healthz"):
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    return read_response(s)


def held(srv, src_ip):
    """A keep-alive connection that has served one request (idle, not due)."""
    s = connect(srv, src_ip)
    try:
        st, _ = get_on(s)
        assert st == 200, st
    except BaseException:
        s.close()
        raise
    return s


def refused_at_once(srv, src_ip, within=1.5):
    """True when the server closes a new connection without waiting for it."""
    t0 = time.monotonic()
    try:
        s = connect(srv, src_ip)
    except OSError:
        return True
    s.settimeout(within)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        data = s.recv(4096)
    except socket.timeout:
        return False
    except OSError:
        data = b""
    finally:
        s.close()
    return data == b"" and time.monotonic() - t0 < within


def until_cut(s, trickle, limit=8.0):
    """Sends a byte of `trickle` every 0.4 s until the server answers or closes;
    returns (seconds, bytes received)."""
    t0 = time.monotonic()
    s.settimeout(0.4)
    got, i = b"", 0
    while time.monotonic() - t0 < limit:
        try:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
            continue
        except socket.timeout:
            pass
        except OSError:
            break
        try:
            s.send(trickle[i % len(trickle):i % len(trickle) + 1])
            i += 1
        except OSError:
            pass
    return time.monotonic() - t0, got


class Connections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.Server(["--max-connections-per-ip", str(PER_IP), "--header-timeout-s", str(HEADER_TIMEOUT_S),
                            "--body-timeout-s", str(HEADER_TIMEOUT_S), "--idle-timeout-s", "60"],
                           preexec_fn=low_fd_limit)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def limits(self):
        for line in self.srv.stderr().splitlines():
            if '"connection limits"' in line:
                return json.loads(line)
        self.fail("no 'connection limits' log line")

    def test_fd_limit_raised_and_connections_sized_from_it(self):
        lim = self.limits()
        self.assertEqual(lim["fd_limit"], FD_HARD)  # soft raised to the hard limit
        self.assertLess(lim["max_connections"], FD_HARD)
        self.assertGreater(lim["max_connections"], FD_HARD // 4)
        self.assertEqual(lim["max_connections_per_ip"], PER_IP)

    def test_per_ip_cap_refuses_at_once(self):
        socks = [held(self.srv, "127.0.0.2") for _ in range(PER_IP)]
        try:
            self.assertTrue(refused_at_once(self.srv, "127.0.0.2"))
            st, _, _ = h.req(self.srv, "GET", "/healthz")  # other clients are served
            self.assertEqual(st, 200)
            self.assertEqual(get_on(socks[0])[0], 200)  # the held ones still work
        finally:
            for s in socks:
                s.close()
        time.sleep(0.3)
        s = held(self.srv, "127.0.0.2")  # room again once they are closed
        s.close()
        st, _, b = h.req(self.srv, "GET", "/metrics")
        self.assertRegex(b, r'sf_http_connections_refused_total\{reason="per_ip"\} [1-9]')

    def test_over_capacity_refuses_at_once_instead_of_hanging(self):
        cap = self.limits()["max_connections"]
        socks, refused = [], False
        try:
            for n in range(cap + 10):
                ip = "127.0.1.%d" % (1 + n // PER_IP)
                try:
                    socks.append(held(self.srv, ip))
                except (OSError, AssertionError):
                    refused = True
                    break
            self.assertTrue(refused, "no connection was refused past max_connections")
            self.assertGreaterEqual(len(socks), cap - 5)  # the health checks of setUp may linger
            self.assertLessEqual(len(socks), cap)
            self.assertTrue(refused_at_once(self.srv, "127.0.2.1"))
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
        st, _, _ = h.req(self.srv, "GET", "/healthz")
        self.assertEqual(st, 200)
        st, _, b = h.req(self.srv, "GET", "/metrics")
        self.assertRegex(b, r'sf_http_connections_refused_total\{reason="capacity"\} [1-9]')

    def test_slowloris_head_is_cut_after_the_header_timeout(self):
        s = connect(self.srv, "127.0.0.3")
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        took, got = until_cut(s, b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
        s.close()
        self.assertLess(took, HEADER_TIMEOUT_S + 2)
        self.assertGreater(took, HEADER_TIMEOUT_S - 0.5)
        self.assertTrue(got.startswith(b"HTTP/1.1 408"), got)
        self.assertIn(b"application/problem+json", got)

    def test_silent_connection_is_cut_after_the_header_timeout(self):
        s = connect(self.srv, "127.0.0.3")
        s.settimeout(HEADER_TIMEOUT_S + 3)
        t0 = time.monotonic()
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        self.assertLess(time.monotonic() - t0, HEADER_TIMEOUT_S + 2)

    def test_slow_body_is_cut_after_the_body_timeout(self):
        s = connect(self.srv, "127.0.0.3")
        s.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 200\r\n\r\n{\"email\":")
        took, got = until_cut(s, b"a")
        s.close()
        self.assertLess(took, HEADER_TIMEOUT_S + 2)
        self.assertTrue(got.startswith(b"HTTP/1.1 408"), got)

    def test_idle_keep_alive_outlives_the_header_timeout_but_a_trickled_request_does_not(self):
        s = held(self.srv, "127.0.0.4")
        time.sleep(HEADER_TIMEOUT_S + 1)
        self.assertEqual(get_on(s)[0], 200)  # idle is not "receiving"
        time.sleep(0.5)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        took, got = until_cut(s, b"X-Slow: b\r\n")
        s.close()
        self.assertLess(took, HEADER_TIMEOUT_S + 3)  # idle connections are looked at once a second
        self.assertTrue(got.startswith(b"HTTP/1.1 408"), got)


class Shutdown(unittest.TestCase):
    def test_sigterm_with_a_stalled_upload_exits_quickly(self):
        srv = h.Server(["--shutdown-timeout-s", "30", "--header-timeout-s", "60", "--body-timeout-s", "60"])
        try:
            up = connect(srv)
            up.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 1000\r\n\r\n{\"email\":")
            idle = held(srv, "127.0.0.5")
            time.sleep(0.3)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.proc.wait(10)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0)
            self.assertLess(took, 5, "a stalled upload held the shutdown")
            up.settimeout(2)
            got = up.recv(4096)
            self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 503"), got)
            up.close()
            idle.close()
            self.assertIn("shutdown closed connections", srv.stderr())
        finally:
            srv.close()

    def test_sigterm_with_a_drain_period_fails_readyz_but_serves_then_stops(self):
        srv = h.Server(["--drain-s", "3"])
        try:
            idle = held(srv, "127.0.0.6")
            st, _, b = h.req(srv, "GET", "/readyz")
            self.assertEqual((st, b["checks"]["serving"]), (200, "ok"))
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertIsNone(srv.proc.poll(), "the process stopped before its drain period")
            st, _, b = h.req(srv, "GET", "/readyz")
            self.assertEqual(st, 503)
            self.assertEqual(b["checks"]["serving"], "draining")
            self.assertIn("draining", b["detail"])
            # still serving, on new connections and on a kept-alive one, each then closed
            st, hd, _ = h.req(srv, "GET", "/healthz")
            self.assertEqual(st, 200)
            self.assertEqual(hd.get("Connection", "").lower(), "close")
            st, _ = get_on(idle)
            self.assertEqual(st, 200)
            idle.settimeout(2)
            self.assertEqual(idle.recv(1), b"", "the kept-alive connection stayed open while draining")
            idle.close()
            rc = srv.proc.wait(10)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0)
            self.assertGreaterEqual(took, 2.9)
            self.assertLess(took, 6)
        finally:
            srv.close()

    def test_a_second_sigterm_ends_the_drain(self):
        srv = h.Server(["--drain-s", "60"])
        try:
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertEqual(h.req(srv, "GET", "/readyz")[0], 503)
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(srv.proc.wait(10), 0)
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            srv.close()


if __name__ == "__main__":
    h.main()
