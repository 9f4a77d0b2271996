"""Damage is noticed, not served: a data directory that is not there (a
misspelled --data-dir), garbage inside serviceflow.db, a key file lost while
the database holds data made with it, and events deleted from the end of the
log (anchored in events.head) each stop `serve` with a message naming the file
and what to do. A fresh `migrate` + `serve` still works."""
import os, shutil, sqlite3, subprocess, tempfile, time, unittest
from sfharness import BIN, FAST_HASH, Server, cli, free_port, register, req, main


def serve_once(data_dir, *extra, timeout=20):
    """Runs `serve` on data_dir expecting it to refuse: returns (rc, stderr).
    If it starts instead, it is stopped and rc is None."""
    p = subprocess.Popen([BIN, "serve", "--data-dir", data_dir, "--port", str(free_port()), "--bind",
                          "127.0.0.1", *FAST_HASH, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        _, err = p.communicate(timeout=timeout)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err


def sql(data_dir, statement, args=()):
    db = sqlite3.connect(os.path.join(data_dir, "serviceflow.db"))
    try:
        rows = db.execute(statement, args).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def anchored(data_dir):
    path = os.path.join(data_dir, "events.head")
    if not os.path.exists(path):
        return 0, None
    with open(path) as f:
        v, pos, h = f.read().split()
    assert v == "v1", v
    return int(pos), h


class Damage(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sf-e2e-damage-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_fresh_migrate_then_serve_works(self):
        srv = Server()
        try:
            st, _, b = req(srv, "GET", "/readyz")
            self.assertEqual(st, 200, b)
            self.assertEqual(b["checks"]["integrity"], "ok")
            register(srv)
        finally:
            srv.close()

    def test_missing_data_dir_refuses_unless_init(self):
        typo = os.path.join(self.tmp, "dta")
        rc, err = serve_once(typo)
        self.assertEqual(rc, 1, err)
        self.assertIn("no database in " + typo, err)
        self.assertIn("serviceflow migrate", err)
        self.assertFalse(os.path.exists(typo), "a refused start must not create the directory")
        rc, out, err = cli("user", "create", "--email", "x@example.com", "--role", "staff", "--password",
                           "long enough pw 1", *FAST_HASH, data_dir=typo)
        self.assertEqual(rc, 1, err)
        self.assertIn("no database", err)
        # an existing but empty directory is no database either
        os.makedirs(typo)
        rc, err = serve_once(typo)
        self.assertEqual(rc, 1, err)
        # --init creates it
        srv = Server.__new__(Server)
        srv.bin, srv.env, srv.data_dir, srv.port, srv.proc = BIN, {}, typo, free_port(), None
        srv.preexec_fn = None
        srv.extra = ["--init"]
        srv.start()
        try:
            st, _, b = req(srv, "GET", "/readyz")
            self.assertEqual(st, 200, b)
            self.assertTrue(os.path.exists(os.path.join(typo, "serviceflow.db")))
        finally:
            srv.stop()

    def test_garbage_in_database_refuses(self):
        srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        try:
            for _ in range(30):
                register(srv)
            srv.stop()
            # 8 KiB over the oldest pages of the event log: nothing reads them at start,
            # so before the integrity check the server came up and took writes
            page_size = sql(srv.data_dir, "PRAGMA page_size")[0][0]
            leaves = [r[0] for r in sql(srv.data_dir, "SELECT pageno FROM dbstat WHERE name = 'events'"
                                                      " AND pagetype = 'leaf' ORDER BY pageno")]
            self.assertGreater(len(leaves), 2, leaves)
            path = os.path.join(srv.data_dir, "serviceflow.db")
            with open(path, "r+b") as f:
                f.seek((leaves[0] - 1) * page_size)
                f.write(os.urandom(8192))
            rc, err = serve_once(srv.data_dir)
            self.assertEqual(rc, 1, err)
            self.assertIn("serviceflow.db is damaged", err)
            self.assertIn("backup", err)
            # `make run` migrates first: that must not go on either
            rc, out, err = cli("migrate", data_dir=srv.data_dir)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("damaged", err)
        finally:
            srv.close()

    def test_damage_while_serving_turns_readyz_503(self):
        srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000",
                      "--integrity-interval-s", "1"])
        try:
            for _ in range(30):
                register(srv)
            st, _, b = req(srv, "GET", "/readyz")
            self.assertEqual((st, b["checks"]["integrity"]), (200, "ok"), b)
            # fold the WAL back first: pages still in the WAL would hide the garbage
            self.assertEqual(sql(srv.data_dir, "PRAGMA wal_checkpoint(TRUNCATE)")[0][0], 0)
            page_size = sql(srv.data_dir, "PRAGMA page_size")[0][0]
            first = sql(srv.data_dir, "SELECT min(pageno) FROM dbstat WHERE name = 'events' AND pagetype = 'leaf'")
            with open(os.path.join(srv.data_dir, "serviceflow.db"), "r+b") as f:
                f.seek((first[0][0] - 1) * page_size)
                f.write(os.urandom(8192))
            deadline = time.time() + 10
            while time.time() < deadline:
                st, _, b = req(srv, "GET", "/readyz")
                if st == 503:
                    break
                time.sleep(0.2)
            self.assertEqual(st, 503, b)
            self.assertTrue(b["type"].endswith("/not-ready"), b)
            self.assertEqual(b["checks"]["integrity"], "damaged")
            self.assertIn("database damaged", srv.stderr())
        finally:
            srv.close()

    def test_lost_seal_keys_with_sealed_data_refuses(self):
        srv = Server()
        try:
            st, _, user = req(srv, "POST", "/api/v1/auth/register",
                              {"email": "sealed@example.com", "password": "long enough pw 1"},
                              headers={"Idempotency-Key": "seal-1"})
            self.assertEqual(st, 201, user)  # its stored reply is sealed with seal.keys
            srv.stop()
            keys = os.path.join(srv.data_dir, "seal.keys")
            os.rename(keys, keys + ".bak")
            rc, err = serve_once(srv.data_dir)
            self.assertEqual(rc, 1, err)
            self.assertIn(keys + " is missing", err)
            self.assertIn("restore seal.keys from a backup", err)
            self.assertFalse(os.path.exists(keys), "no new key may replace the lost one")
            os.rename(keys + ".bak", keys)
            srv.start()
            st, h, again = req(srv, "POST", "/api/v1/auth/register",
                               {"email": "sealed@example.com", "password": "long enough pw 1"},
                               headers={"Idempotency-Key": "seal-1"})
            # the restored key opens the sealed record: the same answer is replayed
            self.assertEqual((st, h.get("idempotent-replayed"), again["user"]["id"]), (201, "true", user["user"]["id"]))
        finally:
            srv.close()

    def test_seal_keys_made_when_nothing_is_sealed(self):
        srv = Server()
        try:
            register(srv)  # a user, but nothing sealed
            srv.stop()
            os.remove(os.path.join(srv.data_dir, "seal.keys"))
            srv.start()
            self.assertTrue(os.path.exists(os.path.join(srv.data_dir, "seal.keys")))
        finally:
            srv.close()

    def test_lost_jwt_key_with_users_refuses(self):
        srv = Server()
        try:
            user = register(srv)
            srv.stop()
            key = os.path.join(srv.data_dir, "jwt.key")
            os.remove(key)
            rc, err = serve_once(srv.data_dir)
            self.assertEqual(rc, 1, err)
            self.assertIn(key + " is missing", err)
            self.assertIn("restore jwt.key from a backup", err)
            self.assertFalse(os.path.exists(key))
            # a configured secret needs no file
            srv.extra = ["--jwt-secret", "x" * 40]
            srv.start()
            srv.stop()
            self.assertFalse(os.path.exists(key))
            # signing everyone out on purpose
            srv.extra = ["--new-jwt-key", "1"]
            srv.start()
            self.assertTrue(os.path.exists(key))
            st, _, b = req(srv, "GET", "/api/v1/users/me", token=user["access_token"])
            self.assertEqual(st, 401, b)
        finally:
            srv.close()

    def test_lost_webhook_key_after_deliveries_refuses(self):
        srv = Server()
        try:
            srv.stop()
            key = os.path.join(srv.data_dir, "webhook.key")
            self.assertTrue(os.path.exists(key))
            os.remove(key)
            # nothing was signed yet: a new key is made silently
            srv.start()
            srv.stop()
            self.assertTrue(os.path.exists(key))
            # a delivered webhook (its receiver knows the secret), then the key is lost
            db = sqlite3.connect(os.path.join(srv.data_dir, "serviceflow.db"))
            db.execute("INSERT INTO webhook_deliveries(id, event_id, request_id, url, body, status, attempts,"
                       " next_at, created_at, updated_at) VALUES('whd_1', 'evt_1', 'srq_1', 'http://127.0.0.1:9/',"
                       " '{}', 'delivered', 1, 0, 0, 0)")
            db.commit()
            db.close()
            os.remove(key)
            rc, err = serve_once(srv.data_dir)
            self.assertEqual(rc, 1, err)
            self.assertIn(key + " is missing", err)
            self.assertIn("restore webhook.key from a backup", err)
            self.assertFalse(os.path.exists(key))
            srv.extra = ["--webhook-secret", "y" * 24]
            srv.start()
            srv.stop()
            self.assertFalse(os.path.exists(key))
            srv.extra = ["--new-webhook-key", "1"]
            srv.start()
            self.assertTrue(os.path.exists(key))
        finally:
            srv.close()

    def test_deleted_newest_events_are_detected(self):
        srv = Server()
        try:
            for _ in range(4):
                register(srv)
            head = sql(srv.data_dir, "SELECT max(position) FROM events")[0][0]
            # while serving, the anchor follows the head within about a second
            deadline = time.time() + 5
            while anchored(srv.data_dir)[0] != head and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(anchored(srv.data_dir)[0], head)
            srv.stop()
            self.assertEqual(anchored(srv.data_dir)[0], head)
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertEqual(rc, 0, err)
            sql(srv.data_dir, "DELETE FROM events WHERE position > ?", (head - 2,))
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("events missing", err)
            self.assertIn("ends at position %d" % (head - 2), err)
            self.assertIn("events.head anchors position %d" % head, err)
            rc, err = serve_once(srv.data_dir)
            self.assertEqual(rc, 1, err)
            self.assertIn("events missing", err)
            self.assertIn("delete events.head", err)
        finally:
            srv.close()

    def test_rewritten_anchored_event_is_detected(self):
        srv = Server()
        try:
            register(srv)
            srv.stop()
            pos, h = anchored(srv.data_dir)
            # replace the anchored event by a re-hashed forgery of the same length of log
            sql(srv.data_dir, "UPDATE events SET hash = ? WHERE position = ?", ("0" * 64, pos))
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("event %d differs from the one anchored in events.head" % pos, err)
        finally:
            srv.close()


if __name__ == "__main__":
    main()
