"""Durability: every acknowledged write survives kill -9 and SIGTERM; the
event log's hash chain detects tampering."""
import http.client, json, os, sqlite3, threading, time, unittest
from sfharness import (Server, cli, req, register, main)

WRITERS = 8


def sql(srv, statement):
    """Runs one statement directly on the server's database file (the server
    is stopped), commits, and returns the rows."""
    db = sqlite3.connect(os.path.join(srv.data_dir, "serviceflow.db"))
    try:
        rows = db.execute(statement).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def hammer(srv, users, stop, acked, errors):
    """Each thread PATCHes its own user's name to n-1, n-2, ... and records
    the last number that got a 200."""
    def loop(i):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                c.request("PATCH", "/api/v1/users/me", body=json.dumps({"name": "n-%d" % n}),
                          headers={"Authorization": "Bearer " + users[i]["access_token"],
                                   "Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
            except (OSError, http.client.HTTPException):
                return
            if r.status == 200:
                acked[i] = n
            else:
                errors.append(r.status)
                return
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(users))]
    for t in threads:
        t.start()
    return threads


class Crash(unittest.TestCase):
    def check_names(self, srv, users, acked):
        for i, u in enumerate(users):
            st, _, me = req(srv, "GET", "/api/v1/users/me", token=u["access_token"])
            self.assertEqual(st, 200, me)
            got = int(me["name"].split("-")[1]) if me["name"].startswith("n-") else 0
            # the acknowledged value, or the one in flight when the process died
            self.assertIn(got, (acked[i], acked[i] + 1), "user %d: acked %d, found %s" % (i, acked[i], me["name"]))

    def test_kill9_during_writes(self):
        srv = Server()
        try:
            users = [register(srv) for _ in range(WRITERS)]
            stop, acked, errors = threading.Event(), [0] * WRITERS, []
            threads = hammer(srv, users, stop, acked, errors)
            time.sleep(2)
            srv.kill9()
            stop.set()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
            self.assertGreater(sum(acked), 100, "too few writes to mean anything")
            srv.start()
            self.check_names(srv, users, acked)
            srv.stop()
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertEqual(rc, 0, err)
            self.assertIn("hash chain intact", out)
        finally:
            srv.close()

    def test_sigterm_is_graceful(self):
        srv = Server()
        try:
            users = [register(srv) for _ in range(WRITERS)]
            stop, acked, errors = threading.Event(), [0] * WRITERS, []
            threads = hammer(srv, users, stop, acked, errors)
            time.sleep(1)
            t0 = time.time()
            rc = srv.stop()
            stop.set()
            for t in threads:
                t.join()
            self.assertEqual(rc, 0, srv.stderr())
            self.assertLess(time.time() - t0, 15)
            self.assertIn('"msg":"stopped"', srv.stderr())
            srv.start()
            self.check_names(srv, users, acked)
        finally:
            srv.close()

    def test_sigterm_after_clients_vanish(self):
        """Clients that hang up while their write waits on the writer must not
        keep the server from stopping."""
        import socket
        srv = Server()
        try:
            users = [register(srv) for _ in range(4)]
            for _ in range(20):
                socks = []
                for i in range(32):
                    s = socket.create_connection(("127.0.0.1", srv.port))
                    body = json.dumps({"name": "gone-%d" % i}).encode()
                    s.sendall(b"PATCH /api/v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                              users[i % 4]["access_token"].encode() + b"\r\nContent-Type: application/json\r\n"
                              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                    socks.append(s)
                for s in socks:
                    s.close()
            time.sleep(0.5)
            t0 = time.time()
            self.assertEqual(srv.stop(), 0, srv.stderr())
            self.assertLess(time.time() - t0, 15)
        finally:
            srv.close()

    def test_tampering_is_detected(self):
        srv = Server()
        try:
            for _ in range(3):
                register(srv)
            srv.stop()
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertEqual(rc, 0, err)
            sql(srv, """UPDATE events SET data='{"email":"evil@example.com"}' WHERE position=2""")
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertNotEqual(rc, 0)
            self.assertIn("position 2", err)
            sql(srv, "DELETE FROM events WHERE position=2")
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertNotEqual(rc, 0)
            self.assertIn("gap", err)
        finally:
            srv.close()

    def test_projection_replay(self):
        srv = Server()
        try:
            for _ in range(3):
                register(srv)
            deadline = time.time() + 5
            while time.time() < deadline:
                st, _, text = req(srv, "GET", "/metrics")
                if 'sf_events_appended_total{type="user.registered"} 3' in text:
                    break
                time.sleep(0.05)
            self.assertIn('sf_events_appended_total{type="user.registered"} 3', text)
            srv.stop()
            sql(srv, "UPDATE event_type_stats SET count = 99")
            rc, out, err = cli("replay", "event_stats", data_dir=srv.data_dir)
            self.assertEqual(rc, 0, err)
            n = sql(srv, "SELECT count FROM event_type_stats WHERE type='user.registered'")[0][0]
            self.assertEqual(n, 3)
            rc, out, err = cli("replay", "nope", data_dir=srv.data_dir)
            self.assertNotEqual(rc, 0)
        finally:
            srv.close()


if __name__ == "__main__":
    main()
