"""`serviceflow copy-to-postgres` between real servers (docs/storage-backends.md, "Moving from
SQLite to PostgreSQL"). Run under scripts/with-postgres.sh (SF_TEST_PG_URL, SF_TEST_PG_ADMIN,
SF_TEST_PG_BIN): a server on a SQLite data dir gets users, a paid order, a request moved through
a workflow with comments, notifications; the copy goes into a fresh database, and a server on
that database (the same data dir: its keys) answers the same. Also: a target that is not empty
is refused and left as it was; a copy that fails leaves the target empty; a copy taken while
the server writes to the file copies a snapshot and says up to which position."""
import json, os, shutil, sqlite3, subprocess, sys, threading, time, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from sfharness import BIN, Server, req, register, login, make_user  # noqa: E402

FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]
PSQL = os.path.join(os.environ.get("SF_TEST_PG_BIN", "/usr/bin"), "psql")
ADMIN = os.environ.get("SF_TEST_PG_ADMIN")
OK_CARD = "4242424242424242"
FLOW = """\
name: Copy desk
type: copydesk
initial: draft
states:
  draft: {}
  submitted:
    on_enter: [{assign: {role: staff}}]
  done: {final: true}
transitions:
  - {action: submit, from: draft, to: submitted, roles: [customer, staff]}
  - {action: close, from: submitted, to: done, roles: [staff, admin]}
"""
_dbs = [0]


def fresh_database():
    """A new empty database owned by sf on the test's server, and its URL."""
    _dbs[0] += 1
    name = "copy_%d_%d" % (os.getpid(), _dbs[0])
    subprocess.run([PSQL, "-X", "-q", "-d", ADMIN, "-c", "CREATE DATABASE %s OWNER sf" % name], check=True)
    return os.environ["SF_TEST_PG_URL"].rsplit("/", 1)[0] + "/" + name


def psql(url, sql):
    p = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, check=True)
    return p.stdout.strip()


def copy(*args, data_dir=None):
    cmd = [BIN, "copy-to-postgres", *args] + (["--data-dir", data_dir] if data_dir else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        report = None
    return p.returncode, report, p.stderr


def shape(url):
    """What a refused copy must leave alone: tables, functions, and rows of the log."""
    tables = psql(url, "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class"
                       " WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')")
    funcs = psql(url, "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
    return tables, funcs


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


def make_data(srv):
    """Users, a product with stock, a paid order, a request through a workflow with comments,
    and the customer's notifications. Returns what the checks need."""
    staff = make_user(srv, "staff")
    admin = make_user(srv, "admin")
    email = "copy-%d@example.com" % time.time_ns()
    cust = dict(register(srv, email=email), email=email)
    ctok = cust["access_token"]
    st, _, p = req(srv, "POST", "/api/v1/products",
                   {"sku": "CPY-ZEB-1", "name": "Zebrawood lamp", "description": "Hand-turned, with a linen shade",
                    "price": 4900, "currency": "EUR", "status": "active"}, token=staff["access_token"])
    assert st == 201, p
    st, _, s = req(srv, "POST", "/api/v1/inventory/%s/adjustments" % p["id"], {"delta": 10, "reason": "initial"},
                   token=staff["access_token"])
    assert st == 200, s
    st, _, o = req(srv, "POST", "/api/v1/orders", {"items": [{"product_id": p["id"], "quantity": 2}],
                                                    "payment": {"card_number": OK_CARD}},
                   token=ctok, headers={"Prefer": "wait=10"})
    assert st == 201 and o["status"] == "paid", o
    st, _, w = req(srv, "POST", "/api/v1/workflows", raw=FLOW.encode(), token=admin["access_token"],
                   headers={"Content-Type": "application/yaml"})
    assert st == 201, w
    st, _, r = req(srv, "POST", "/api/v1/requests",
                   {"type": "copydesk", "title": "Quokka printer jams", "data": {"room": "B12", "floor": 3}},
                   token=ctok)
    assert st == 201, r
    st, _, r2 = req(srv, "POST", "/api/v1/requests/%s/transitions" % r["id"],
                    {"action": "submit", "comment": "urgent before Friday"}, token=ctok)
    assert st == 200, r2
    st, _, c = req(srv, "POST", "/api/v1/requests/%s/comments" % r["id"], {"body": "toner everywhere"}, token=ctok)
    assert st in (200, 201), c
    inbox = wait_for(lambda: req(srv, "GET", "/api/v1/notifications", token=ctok)[2].get("data"))
    assert inbox, "no notification for the paid order"
    return {"staff": staff, "admin": admin, "cust": cust, "product": p, "order": o["id"], "request": r["id"]}


def snapshot(srv, d):
    """The answers to compare after the move: bodies and ETags."""
    tok = d["cust"]["access_token"]
    out = {}
    for key, path in (("order", "/api/v1/orders/" + d["order"]), ("request", "/api/v1/requests/" + d["request"]),
                      ("request_events", "/api/v1/requests/%s/events" % d["request"]),
                      ("notifications", "/api/v1/notifications")):
        st, h, b = req(srv, "GET", path, token=tok)
        assert st == 200, (path, b)
        out[key] = (b, h.get("etag"))
    return out


def search_ids(srv, path, token=None):
    st, _, b = req(srv, "GET", path, token=token)
    assert st == 200, b
    return [x["id"] for x in b["data"]]


class CopyToPostgres(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(FAST)
        cls.data = make_data(cls.srv)
        cls.before = snapshot(cls.srv, cls.data)
        cls.srv.stop()
        cls.url = fresh_database()
        cls.rc, cls.report, cls.err = copy("--to", cls.url, data_dir=cls.srv.data_dir)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def pg_server(self):
        srv = Server(FAST, data_dir=self.srv.data_dir, env={"SERVICEFLOW_DATABASE_URL": self.url})
        self.addCleanup(srv.stop)
        return srv

    def test_1_report(self):
        self.assertEqual(self.rc, 0, self.err)
        r = self.report
        self.assertTrue(r["ok"], r)
        lite = sqlite3.connect(os.path.join(self.srv.data_dir, "serviceflow.db"))
        try:
            last = lite.execute("SELECT max(position) FROM events").fetchone()[0]
            counts = {t: lite.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0] for t in r["tables"]}
            versions = lite.execute("SELECT service, version FROM schema_migrations ORDER BY service").fetchall()
        finally:
            lite.close()
        self.assertEqual((r["last_position"], r["events_verified"]), (last, last))
        self.assertEqual(r["tables"], counts)
        self.assertEqual(r["anchored_position"], last)  # the server stopped cleanly: the exact head
        self.assertNotIn("warning", r)
        self.assertEqual(r["rows"], sum(counts.values()))
        self.assertNotIn("request_fts", r["tables"])
        self.assertIn("not copied", r["note"])
        for k in ("seconds", "rows_per_second"):
            self.assertIn(k, r)
        pg_versions = psql(self.url, "SELECT string_agg(service || '=' || version, ',' ORDER BY service COLLATE \"C\")"
                                     " FROM schema_migrations")
        self.assertEqual(pg_versions, ",".join("%s=%d" % v for v in versions))
        # the bytes of the log as they were: ids, data, meta and the hash chain
        lite = sqlite3.connect(os.path.join(self.srv.data_dir, "serviceflow.db"))
        try:
            rows = lite.execute("SELECT position, id, stream, type, data, meta, hash FROM events ORDER BY position")
            want = "\n".join("|".join(str(c) for c in row) for row in rows)
        finally:
            lite.close()
        got = psql(self.url, "SELECT string_agg(concat_ws('|', position, id, stream, type, data, meta, hash), E'\\n'"
                             " ORDER BY position) FROM events")
        self.assertEqual(got, want)

    def test_2_server_on_the_copy(self):
        self.assertEqual(self.rc, 0, self.err)
        srv = self.pg_server()
        d = self.data
        st, _, b = login(srv, d["cust"]["email"], d["cust"]["password"])
        self.assertEqual(st, 200, b)
        self.assertEqual(snapshot(srv, d), self.before)
        staff = d["staff"]["access_token"]
        ctok = d["cust"]["access_token"]
        # the full-text search of PostgreSQL finds the request (title, data, comments) and the product
        for q in ("quokka", "b12", "toner", "friday"):
            self.assertEqual(search_ids(srv, "/api/v1/requests?q=" + q, ctok), [d["request"]], q)
        self.assertEqual(search_ids(srv, "/api/v1/products?q=zebrawood"), [d["product"]["id"]])
        self.assertEqual(search_ids(srv, "/api/v1/products?q=linen"), [d["product"]["id"]])
        st, _, v = req(srv, "POST", "/api/v1/events/verify", token=d["admin"]["access_token"])
        self.assertEqual(st, 200, v)
        self.assertTrue(v["ok"], v)
        # new writes: the next position, identity columns past the copied rows, the chain whole
        last = self.report["last_position"]
        st, _, c = req(srv, "POST", "/api/v1/requests/%s/comments" % d["request"], {"body": "wombat sighted"},
                       token=ctok)
        self.assertIn(st, (200, 201), c)
        st, _, p = req(srv, "POST", "/api/v1/products", {"sku": "CPY-NEW-2", "name": "Second lamp", "price": 100,
                                                         "currency": "EUR", "status": "active"}, token=staff)
        self.assertEqual(st, 201, p)
        self.assertEqual(psql(self.url, "SELECT min(position) FROM events WHERE position > %d" % last), str(last + 1))
        st, _, ev = req(srv, "GET", "/api/v1/requests/%s/events" % d["request"], token=ctok)
        self.assertGreater(ev["data"][-1]["position"], last)
        self.assertEqual(search_ids(srv, "/api/v1/requests?q=wombat", ctok), [d["request"]])
        self.assertEqual(search_ids(srv, "/api/v1/products?q=second"), [p["id"]])
        st, _, v = req(srv, "POST", "/api/v1/events/verify", token=d["admin"]["access_token"])
        self.assertTrue(st == 200 and v["ok"], v)
        self.assertGreater(v["events"], last)
        srv.stop()
        p = subprocess.run([BIN, "verify", "--data-dir", self.srv.data_dir, "--database-url", self.url],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_3_not_empty_is_refused(self):
        self.assertEqual(self.rc, 0, self.err)
        before = shape(self.url), psql(self.url, "SELECT count(*) || '/' || max(position) FROM events")
        rc, report, err = copy("--to", self.url, data_dir=self.srv.data_dir)
        self.assertEqual(rc, 3, err)
        self.assertFalse(report["ok"])
        self.assertIn("not empty", err)
        self.assertEqual((shape(self.url), psql(self.url, "SELECT count(*) || '/' || max(position) FROM events")),
                         before)
        # anyone's table makes a database not empty too, and it stays as it was
        other = fresh_database()
        psql(other, "CREATE TABLE notes(id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'keep me')")
        rc, report, err = copy("--to", other, data_dir=self.srv.data_dir)
        self.assertEqual(rc, 3, err)
        self.assertEqual(shape(other), ("notes", "0"))
        self.assertEqual(psql(other, "SELECT body FROM notes"), "keep me")

    def test_4_failed_copy_leaves_target_empty(self):
        bad = os.path.join(self.srv.data_dir, "bad-copy.db")
        shutil.copyfile(os.path.join(self.srv.data_dir, "serviceflow.db"), bad)
        lite = sqlite3.connect(bad)
        lite.execute("UPDATE products SET price = 'not a number'")  # SQLite keeps it; bigint cannot
        lite.commit()
        lite.close()
        url = fresh_database()
        rc, report, err = copy("--db", bad, "--to", url)
        self.assertEqual(rc, 1, err)
        self.assertFalse(report["ok"])
        self.assertIn("products", report["error"])
        self.assertEqual(shape(url), ("", "0"))
        # a file at other schema versions than the binary's is refused before a row moves
        old = os.path.join(self.srv.data_dir, "old-copy.db")
        shutil.copyfile(os.path.join(self.srv.data_dir, "serviceflow.db"), old)
        lite = sqlite3.connect(old)
        have = lite.execute("SELECT version FROM schema_migrations WHERE service = 'requests'").fetchone()[0]
        lite.execute("UPDATE schema_migrations SET version = version - 1 WHERE service = 'requests'")
        lite.commit()
        lite.close()
        rc, report, err = copy("--db", old, "--to", url)
        self.assertEqual(rc, 1, err)
        self.assertIn("serviceflow migrate", report["error"])
        self.assertIn("requests=%d where this binary's is requests=%d" % (have - 1, have), report["error"])
        self.assertEqual(shape(url), ("", "0"))
        # and the same database then takes a good copy
        rc, report, err = copy("--to", url, data_dir=self.srv.data_dir)
        self.assertEqual(rc, 0, err)

    def test_5_usage(self):
        rc, _, err = copy(data_dir=self.srv.data_dir)
        self.assertEqual(rc, 2)
        self.assertIn("--to", err)
        rc, report, err = copy("--db", "/nonexistent/x.db", "--to", fresh_database())
        self.assertEqual(rc, 1, err)


class CopyWhileServing(unittest.TestCase):
    def test_copy_of_a_running_server(self):
        srv = Server(FAST)
        self.addCleanup(srv.close)
        d = make_data(srv)
        stop = threading.Event()
        written = [0]

        def writer():  # a comment after another while the copy runs
            while not stop.is_set():
                st, _, _ = req(srv, "POST", "/api/v1/requests/%s/comments" % d["request"],
                               {"body": "busy %d" % written[0]}, token=d["cust"]["access_token"])
                if st in (200, 201):
                    written[0] += 1

        t = threading.Thread(target=writer)
        t.start()
        try:
            time.sleep(0.5)
            url = fresh_database()
            rc, report, err = copy("--to", url, data_dir=srv.data_dir)
            time.sleep(0.5)
        finally:
            stop.set()
            t.join()
        self.assertEqual(rc, 0, err)
        last = report["last_position"]
        self.assertEqual(psql(url, "SELECT max(position) FROM events"), str(last))
        self.assertIn("position %d" % last, report["note"])
        lite = sqlite3.connect(os.path.join(srv.data_dir, "serviceflow.db"))
        try:
            self.assertGreater(lite.execute("SELECT max(position) FROM events").fetchone()[0], last)
        finally:
            lite.close()
        self.assertGreater(written[0], 0)
        # the copy's own check walked the chain up to there (`verify` would also hold the log against
        # the data dir's anchor, which the server moved on after the snapshot)
        self.assertEqual((report["ok"], report["events_verified"]), (True, last))
        # the server anchored positions past the snapshot: a server on the copy with this data dir would
        # refuse it (it must be taken again after a clean stop), and the report says so
        if report.get("anchored_position", 0) > last:
            self.assertIn("stop the server and copy again", report["warning"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
