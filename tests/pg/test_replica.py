"""The read replica (database_read_url, store/replica.h) against real servers: the primary of
scripts/with-postgres.sh and a streaming standby made here with pg_basebackup -R, started on
another loopback port from the same binaries (SF_TEST_PG_BIN), stopped and removed at the end.

Checks: lists read from the replica (sf_read_replica_reads_total{target="replica"} moves); a write
is seen at once by a single GET and by the writer's own list (read-your-writes), by another
caller's list once the replica replayed it; replay paused (pg_wal_replay_pause) makes the other
caller's list stale until the lag passes database_read_max_lag_ms, then /readyz says lagging and
those reads go to the primary; the standby stopped (pg_ctl stop -m immediate): lists answer at
once (one the replica fails runs again on the primary), /readyz says down (still 200) and lists
read the primary; started again: reads return to it. And
database_read_url without a PostgreSQL database_url is refused at start.

Two instances on the same primary and standby (test_5): a client that wrote through A and lists
through B at once sees its write every time, with replay paused, also when B cannot have heard of
the write through the commit feed yet (the feed's listening backends on the primary stopped with
SIGSTOP), or never will (those backends ended while A wrote); a caller that did not write gets the replica's (lagged) answer from B while within
database_read_max_lag_ms, the primary's after."""
import contextlib, os, re, shutil, signal, subprocess, sys, tempfile, threading, time, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
os.environ["SF_E2E_BACKEND"] = "postgres"  # sfharness: each data dir a database on the primary
import sfharness  # noqa: E402
from sfharness import BIN, Server, database_env, free_port, make_user, register, req  # noqa: E402

PG_BIN = os.environ.get("SF_TEST_PG_BIN", "")
MAX_LAG_MS = 3000
KEY_FILES = ("jwt.key", "webhook.key", "seal.keys")  # what instances of one deployment share


def as_postgres():
    """PostgreSQL refuses to run as root: the Debian package's postgres user runs it then."""
    return ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []


class Standby:
    """A streaming standby of the primary of scripts/with-postgres.sh in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sf-pg-standby-")
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        primary = re.match(r"postgres://[^@]+@([^:/]+):(\d+)/", os.environ["SF_TEST_PG_URL"])
        subprocess.run(as_postgres() + [os.path.join(PG_BIN, "pg_basebackup"), "-D", self.data, "-R", "-c", "fast",
                                        "-X", "stream", "-h", primary.group(1), "-p", primary.group(2), "-U", "postgres"],
                       check=True, capture_output=True)
        conf = os.path.join(self.data, "postgresql.conf")
        with open(conf) as f:
            self.conf = f.read()
        for attempt in range(3):  # a free port may be taken by another process before the server binds it
            with open(conf, "w") as f:
                f.write(self.conf + "port = %d\nunix_socket_directories = '%s'\nhot_standby = on\n" %
                        (self.port, self.dir))
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 2 or "could not bind" not in self.log():
                    raise
                self.port = free_port()

    def pg_ctl(self, *args):
        return subprocess.run(as_postgres() + [os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, *args],
                              capture_output=True, text=True)

    def start(self):
        p = self.pg_ctl("-l", os.path.join(self.dir, "server.log"), "-w", "start")
        if p.returncode != 0:
            raise RuntimeError("standby did not start: " + p.stdout + p.stderr + self.log())

    def stop_immediate(self):
        self.pg_ctl("-m", "immediate", "-w", "stop")

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def sql(self, text):
        p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                            "postgres://postgres@127.0.0.1:%d/postgres" % self.port, "-c", text],
                           capture_output=True, text=True, check=True)
        return p.stdout.strip()

    def url_of(self, primary_url):
        """primary_url's database on this standby."""
        return re.sub(r"@([^:/]+):\d+/", "@127.0.0.1:%d/" % self.port, primary_url)

    def close(self):
        self.stop_immediate()
        shutil.rmtree(self.dir, ignore_errors=True)


def reads(srv):
    st, _, text = req(srv, "GET", "/metrics")
    assert st == 200
    text = text if isinstance(text, str) else text.decode()
    out = {}
    for target in ("replica", "primary"):
        m = re.search(r'^sf_read_replica_reads_total\{target="%s"\} (\d+)$' % target, text, re.M)
        out[target] = int(m.group(1)) if m else None
    for key, name in (("fallbacks", "sf_read_replica_fallbacks_total"), ("unfenced", "sf_read_replica_unfenced_total")):
        m = re.search(r"^%s (\d+)$" % name, text, re.M)
        out[key] = int(m.group(1)) if m else None
    return out


def replica_check(srv):
    st, _, b = req(srv, "GET", "/readyz")
    return st, b.get("checks", {}).get("read_replica")


def admin_sql(text):
    p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                        os.environ["SF_TEST_PG_ADMIN"], "-c", text], capture_output=True, text=True, check=True)
    return p.stdout.split()


@contextlib.contextmanager
def feed_held(database, lost=False):
    """The commit feed (events/cluster.c) delayed as long as the block runs: the primary's backends
    that LISTEN for database's instances are stopped (SIGSTOP), so no instance hears another's
    commits; they go on (SIGCONT) after the block and deliver what queued meanwhile. lost: they
    are ended instead (SIGTERM, as pg_terminate_backend), what queued meanwhile with them; the
    instances listen again on new connections."""
    pids = [int(p) for p in admin_sql("SELECT pid FROM pg_stat_activity WHERE datname = '%s' AND "
                                      "query LIKE 'LISTEN %%'" % database)]
    assert pids, "no listening backend for " + database
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            if lost:
                os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)


def metric(srv, name):
    st, _, text = req(srv, "GET", "/metrics")
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


class Replica(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.standby = Standby()
        data_dir = tempfile.mkdtemp(prefix="sf-e2e-")
        primary_url = database_env(data_dir)["SERVICEFLOW_DATABASE_URL"]
        # the database made on the primary is on the standby once replayed
        cls.primary_url = primary_url
        cls.read_url = cls.standby.url_of(primary_url)
        cls.args = ["--database-read-url", cls.read_url, "--database-read-max-lag-ms", str(MAX_LAG_MS),
                    "--rate-login-per-min", "100000", "--rate-login-burst", "100000"]
        cls.srv = Server(cls.args, data_dir=data_dir)
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.customer = register(cls.srv)["access_token"]
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        cls.standby.close()

    def wait_check(self, want, seconds=15, srv=None):
        deadline = time.time() + seconds
        last = None
        while time.time() < deadline:
            st, last = replica_check(srv or self.srv)
            self.assertEqual(st, 200, "the primary still serves: /readyz stays 200")
            if last == want:
                return
            time.sleep(0.1)
        self.fail("read_replica is %r, not %r, after %d s\n%s" % (last, want, seconds, self.standby.log()))

    def product(self):
        Replica.n += 1
        name = "Replicated%d%d" % (os.getpid(), Replica.n)
        body = {"sku": "RPL-%d-%d" % (os.getpid(), Replica.n), "name": name, "price": 1000, "currency": "EUR",
                "status": "active"}
        st, _, b = req(self.srv, "POST", "/api/v1/products", body, token=self.staff)
        self.assertEqual(st, 201, b)
        return b, name

    def listed(self, name, token, srv=None):
        st, _, b = req(srv or self.srv, "GET", "/api/v1/products?q=" + name, token=token)
        self.assertEqual(st, 200, b)
        return [p["id"] for p in b["data"]]

    def quiet(self):
        """No write of the staff user within the horizon any more: its lists may read the replica."""
        time.sleep(1.2)

    def test_1_lists_read_the_replica_and_writes_are_seen(self):
        self.wait_check("ok")
        self.quiet()
        before = reads(self.srv)
        for _ in range(5):
            self.listed("nothing", self.customer)
        after = reads(self.srv)
        self.assertGreaterEqual(after["replica"] - before["replica"], 5, (before, after))

        p, name = self.product()
        # a single GET reads the primary: the write at once, with its ETag
        st, h, b = req(self.srv, "GET", "/api/v1/products/" + p["id"], token=self.customer)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["name"], name)
        # the writer's own list sees it at once (from the primary, or from the replica once a
        # probe found the write replayed: test_2 holds replay to tell them apart)
        self.assertIn(p["id"], self.listed(name, self.staff))
        # another caller's list sees it once the replica replayed it (well within the lag limit)
        deadline = time.time() + MAX_LAG_MS / 1000
        while p["id"] not in self.listed(name, self.customer):
            self.assertLess(time.time(), deadline, "the replica did not replay the write")
            time.sleep(0.05)

    def test_2_paused_replay_lags_then_reads_go_to_the_primary(self):
        self.wait_check("ok")
        self.quiet()
        self.standby.sql("SELECT pg_wal_replay_pause()")
        try:
            p, name = self.product()
            # another caller's list: from the replica, which has not replayed the write
            before = reads(self.srv)
            ids = self.listed(name, self.customer)
            after = reads(self.srv)
            self.assertEqual(after["replica"] - before["replica"], 1, (before, after))
            self.assertNotIn(p["id"], ids, "a paused replica cannot have the write")
            # the writer's own list: from the primary (read-your-writes), with the write
            before = reads(self.srv)
            self.assertIn(p["id"], self.listed(name, self.staff))
            after = reads(self.srv)
            self.assertEqual(after["primary"] - before["primary"], 1, (before, after))
            # the lag passes the limit: lagging (still ready), and lists read the primary
            self.wait_check("lagging", seconds=MAX_LAG_MS / 1000 + 10)
            before = reads(self.srv)
            self.assertIn(p["id"], self.listed(name, self.customer))
            after = reads(self.srv)
            self.assertEqual(after["primary"] - before["primary"], 1, (before, after))
            st, _, text = req(self.srv, "GET", "/metrics")
            lag = float(re.search(r"^sf_read_replica_lag_seconds (\S+)$", text, re.M).group(1))
            self.assertGreater(lag, MAX_LAG_MS / 1000, text)
        finally:
            self.standby.sql("SELECT pg_wal_replay_resume()")
        self.wait_check("ok")
        self.quiet()
        before = reads(self.srv)
        self.listed(name, self.customer)
        self.assertEqual(reads(self.srv)["replica"] - before["replica"], 1)

    def test_3_standby_down_then_back(self):
        self.wait_check("ok")
        self.quiet()
        self.listed("nothing", self.customer)  # this thread's replica connection is open
        self.standby.stop_immediate()
        # before the prober notices: a list the replica fails runs again on the primary
        before = reads(self.srv)
        for _ in range(4):
            self.listed("nothing", self.customer)
        after = reads(self.srv)
        # every one of them that went to the (stopped) replica was answered by the primary
        self.assertEqual(after["replica"] - before["replica"], after["fallbacks"] - before["fallbacks"],
                         (before, after))
        self.wait_check("down")
        before = reads(self.srv)
        for _ in range(3):
            self.listed("nothing", self.customer)
        after = reads(self.srv)
        self.assertEqual(after["primary"] - before["primary"], 3, (before, after))
        self.assertEqual(after["replica"], before["replica"])
        # writes and single reads go on meanwhile
        p, name = self.product()
        st, _, b = req(self.srv, "GET", "/api/v1/products/" + p["id"], token=self.customer)
        self.assertEqual(st, 200, b)

        self.standby.start()
        self.wait_check("ok", seconds=30)
        self.quiet()
        before = reads(self.srv)
        self.assertIn(p["id"], self.listed(name, self.customer))
        after = reads(self.srv)
        self.assertEqual(after["replica"] - before["replica"], 1, (before, after))

    def another_instance(self):
        """A second instance on the same primary and standby, with the first one's keys in a data
        dir of its own, as another machine of the deployment (tests/pg/cluster.py)."""
        d = tempfile.mkdtemp(prefix="sf-e2e-b-")
        for k in KEY_FILES:
            if os.path.exists(os.path.join(self.srv.data_dir, k)):
                shutil.copy2(os.path.join(self.srv.data_dir, k), d)
        sfharness._pg_databases[os.path.realpath(d)] = self.primary_url  # its database is the shared one
        return Server(self.args, data_dir=d)

    def busy_lists(self, srv, threads=4):
        """Other callers listing on srv from threads until the returned function is called; it
        gives the failures."""
        stop, failures = threading.Event(), []

        def work():
            while not stop.is_set():
                try:
                    st, _, b = req(srv, "GET", "/api/v1/products?q=nothing", token=self.customer)
                    if st != 200:
                        failures.append((st, b))
                except OSError as e:
                    failures.append(repr(e))

        workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
        for w in workers:
            w.start()

        def end():
            stop.set()
            for w in workers:
                w.join(10)
            return failures

        return end

    def test_5_read_your_writes_across_instances(self):
        other = self.another_instance()
        try:
            self.wait_check("ok")
            self.wait_check("ok", srv=other)
            self.quiet()
            self.listed("nothing", self.customer, srv=other)  # B's replica connection is open
            # many rounds: written through A, listed through B at once, with replay paused (B's lists
            # read the replica unless it knows of the write); then the other caller, through B
            for chunk in range(3):
                self.wait_check("ok", srv=other)
                self.quiet()
                self.standby.sql("SELECT pg_wal_replay_pause()")
                busy = self.busy_lists(other) if chunk == 1 else None  # concurrent lists share the fences
                try:
                    first = time.monotonic()
                    for i in range(10):
                        p, name = self.product()
                        self.assertIn(p["id"], self.listed(name, self.staff, srv=other),
                                      "chunk %d round %d: the writer's list through B misses its write" % (chunk, i))
                    if busy:
                        failures, busy = busy(), None
                        self.assertEqual(failures, [], "the concurrent lists on B")
                    before = reads(other)
                    ids = self.listed(name, self.customer, srv=other)
                    after = reads(other)
                    if time.monotonic() - first < (MAX_LAG_MS - 1000) / 1000:  # within the lag guard for sure
                        self.assertEqual(after["replica"] - before["replica"], 1, (before, after))
                        self.assertNotIn(p["id"], ids, "a paused replica cannot have the write")
                    if chunk == 2:  # the lagged answer only within the lag guard
                        self.wait_check("lagging", seconds=MAX_LAG_MS / 1000 + 10, srv=other)
                        self.assertIn(p["id"], self.listed(name, self.customer, srv=other))
                finally:
                    if busy:
                        busy()
                    self.standby.sql("SELECT pg_wal_replay_resume()")
            # B cannot have heard of A's writes: the feed is held (its note would come too late)
            self.wait_check("ok", srv=other)
            self.quiet()
            self.standby.sql("SELECT pg_wal_replay_pause()")
            try:
                with feed_held(self.primary_url.rsplit("/", 1)[1]):
                    first = time.monotonic()
                    before = reads(other)
                    for i in range(5):
                        p, name = self.product()
                        self.assertIn(p["id"], self.listed(name, self.staff, srv=other),
                                      "round %d with the feed held: the writer's list through B misses its write" % i)
                    after = reads(other)
                    held = time.monotonic() - first
                # B could not confirm it had heard every earlier commit: those lists read the primary
                # (each of them while B's replica was within the lag guard, which is sure for 2 s)
                self.assertEqual(after["replica"], before["replica"], (before, after))
                self.assertGreaterEqual(after["unfenced"] - before["unfenced"], 1, (before, after))
                if held < (MAX_LAG_MS - 1000) / 1000:
                    self.assertEqual(after["unfenced"] - before["unfenced"], 5, (before, after))
            finally:
                self.standby.sql("SELECT pg_wal_replay_resume()")
            # the feed lost while A wrote (B's listening backend ended): B never hears of that write.
            # Listening again, it cannot know who wrote meanwhile: every caller reads the primary
            # until the replica has replayed past that moment
            self.wait_check("ok", srv=other)
            self.quiet()
            resyncs = metric(other, "sf_cluster_resyncs_total")
            self.standby.sql("SELECT pg_wal_replay_pause()")
            try:
                with feed_held(self.primary_url.rsplit("/", 1)[1], lost=True):
                    p, name = self.product()
                deadline = time.time() + 15
                while metric(other, "sf_cluster_resyncs_total") <= resyncs:
                    self.assertLess(time.time(), deadline, "B does not listen again")
                    time.sleep(0.02)
                self.assertIn(p["id"], self.listed(name, self.staff, srv=other),
                              "after the feed was lost: the writer's list through B misses its write")
            finally:
                self.standby.sql("SELECT pg_wal_replay_resume()")
            self.wait_check("ok", srv=other)
        finally:
            other.close()

    def test_4_needs_postgresql(self):
        d = tempfile.mkdtemp(prefix="sf-e2e-")
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICEFLOW_")}
            p = subprocess.run([BIN, "serve", "--init", "--data-dir", d, "--port", str(free_port()), "--bind",
                                "127.0.0.1", "--database-read-url", self.read_url],
                               capture_output=True, text=True, timeout=60, env=env)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("database_read_url", p.stdout + p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
