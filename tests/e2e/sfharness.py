"""Test harness: runs the real serviceflow binary on a temp data dir and a free
loopback port, and talks HTTP to it with the standard library only."""
import base64, hashlib, hmac, http.client, json, os, shutil, signal, socket
import struct, subprocess, tempfile, time, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("SERVICEFLOW_BIN") or os.path.join(HERE, "..", "..", "build", "serviceflow")
# the same server with a clock tests can move forward (POST /api/v1/_test/clock)
TESTCLOCK_BIN = os.environ.get("SERVICEFLOW_TESTCLOCK_BIN") or os.path.join(HERE, "..", "..", "build",
                                                                          "serviceflow-testclock")
FAST_HASH = ["--argon2-memlimit-kib", "8192", "--argon2-opslimit", "1"]
# serve flags for tests whose webhook receivers listen on loopback: the destination guard refuses
# private and loopback addresses unless the allow-list (setting webhook_allow) permits them
WEBHOOK_ALLOW = ["--webhook-allow", "127.0.0.0/8,::1"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The database under the tests: SQLite in each data dir (default), or PostgreSQL when the suite
# runs with SF_E2E_BACKEND=postgres under scripts/with-postgres.sh: each data dir then gets a
# database of its own on that server, so every test sees what it would see on SQLite.
PG_ADMIN = os.environ.get("SF_TEST_PG_ADMIN") if os.environ.get("SF_E2E_BACKEND") == "postgres" else None
_pg_databases = {}


def database_env(data_dir):
    """The environment that points the server and the CLI at data_dir's database."""
    if not PG_ADMIN or not data_dir:
        return {}
    key = os.path.realpath(data_dir)
    if key not in _pg_databases:
        name = "e2e_%d_%d" % (os.getpid(), len(_pg_databases))
        psql = os.path.join(os.environ.get("SF_TEST_PG_BIN", "/usr/bin"), "psql")
        subprocess.run([psql, "-X", "-q", "-d", PG_ADMIN, "-c", "CREATE DATABASE %s OWNER sf" % name], check=True)
        _pg_databases[key] = os.environ["SF_TEST_PG_URL"].rsplit("/", 1)[0] + "/" + name
    return {"SERVICEFLOW_DATABASE_URL": _pg_databases[key]}


def _sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def db_rows(srv, sql, *args):
    """The rows of a query on the test's database, whichever backend it is on: a white-box look
    (what is stored, not what the API answers). Values are what sqlite3 gives; on PostgreSQL
    integers come back as int, everything else as text."""
    url = database_env(srv.data_dir).get("SERVICEFLOW_DATABASE_URL")
    if not url:
        import sqlite3
        c = sqlite3.connect(os.path.join(srv.data_dir, "serviceflow.db"))
        try:
            return c.execute(sql, args).fetchall()
        finally:
            c.close()
    parts = sql.split("?")
    text = parts[0] + "".join(_sql_literal(a) + rest for a, rest in zip(args, parts[1:]))
    psql = os.path.join(os.environ.get("SF_TEST_PG_BIN", "/usr/bin"), "psql")
    p = subprocess.run([psql, "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", text],
                       capture_output=True, text=True, check=True)
    conv = lambda f: int(f) if f.lstrip("-").isdigit() else (None if f == "" else f)
    return [tuple(conv(f) for f in line.split("\x1f")) for line in p.stdout.splitlines()]


def cli(*args, data_dir=None, env=None):
    cmd = [BIN, *args] + (["--data-dir", data_dir] if data_dir else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={**os.environ, **database_env(data_dir), **(env or {})})
    return p.returncode, p.stdout, p.stderr


# Several instances on one database (SF_E2E_INSTANCES=N, PostgreSQL only: tests/pg/e2e.sh): each
# Server is then N serviceflow processes sharing the test's database, each with a data dir of its
# own holding the first one's keys, behind an nginx (deploy/nginx/proxy.conf, round robin) whose
# address is the Server's url/port, so every e2e file runs unchanged against a small cluster.
INSTANCES = max(1, int(os.environ.get("SF_E2E_INSTANCES") or 1)) if PG_ADMIN else 1
# one redis-server for the run (tests/pg/e2e.sh): every Server shares its rate limits through it,
# under a prefix of its own, as the instances of one deployment do
REDIS_URL = os.environ.get("SF_E2E_REDIS_URL") if INSTANCES > 1 else None
KEY_FILES = ("seal.keys", "jwt.key", "webhook.key")
_servers = [0]


class Instance:
    """One serviceflow process of a Server: its data dir, port, process and log."""

    def __init__(self, data_dir, port):
        self.data_dir, self.port = data_dir, port
        self.proc = None
        self.log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def spawn(self, cmd, env, preexec_fn):
        self.log = open(os.path.join(self.data_dir, "server.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=env, preexec_fn=preexec_fn)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, stderr):
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                st, _, _ = req(self, "GET", "/healthz")
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not start:\n" + stderr())

    def stderr(self):
        with open(os.path.join(self.data_dir, "server.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def signal_stop(self):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)

    def reap(self, timeout=15):
        """Waits for the process (killing it after timeout); returns its exit status."""
        if self.proc:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        return rc


class Processes:
    """srv.proc of a Server of several instances: the processes taken as one server. poll() is the
    status of the first that ended (None while all run), wait() waits for all, signals go to all."""

    def __init__(self, procs):
        self.procs = procs

    @property
    def pid(self):
        return self.procs[0].pid

    @property
    def returncode(self):
        return self.poll()

    def poll(self):
        for p in self.procs:
            rc = p.poll()
            if rc is not None:
                return rc
        return None

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.time() + timeout
        rcs = [p.wait(None if deadline is None else max(0.01, deadline - time.time())) for p in self.procs]
        return next((rc for rc in rcs if rc != 0), rcs[0])

    def send_signal(self, sig):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(sig)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)


class Server:
    def __init__(self, extra_args=None, bin=None, env=None, preexec_fn=None, data_dir=None):
        self.bin = bin or BIN
        self.preexec_fn = preexec_fn  # run in the server process before exec (e.g. resource limits)
        self.env = dict(env or {})  # extra environment of the server process (kept across restarts)
        # data_dir: an empty directory of the test's own (e.g. a small tmpfs), else a new temp dir
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="sf-e2e-")
        self.extra = list(extra_args or [])
        # instance 0 is "the server" of a single-instance run: its data dir is the test's
        self.instances = [Instance(self.data_dir, free_port())]
        self.instances += [Instance(tempfile.mkdtemp(prefix="sf-e2e-b-"), free_port()) for _ in range(INSTANCES - 1)]
        self.lb = None
        rc, out, err = cli("migrate", data_dir=self.data_dir)
        if rc != 0:
            raise RuntimeError("migrate failed: " + err)
        if len(self.instances) > 1:
            _servers[0] += 1
            self.cluster_args = ["--lease-ttl-ms", "2000"]
            if "--trusted-proxies" not in self.extra:  # the client is the address nginx forwards
                self.cluster_args += ["--trusted-proxies", "127.0.0.1"]
            if REDIS_URL:
                self.cluster_args += ["--redis-url", REDIS_URL, "--redis-prefix", "e2e-%d-%d:" % (os.getpid(), _servers[0])]
            # one payment sandbox for the instances, as one provider: the saga may run on either
            # (the lease holder), and tests read the ledger in the first instance's data dir
            self.cluster_args += ["--payment-sandbox-path", os.path.join(self.data_dir, "sandbox-payments.db")]
            self._start_cluster()
        else:
            self.start()

    def _start_cluster(self):
        """The first start of several instances and their nginx. An instance's port, chosen free
        when the Server was made, may have been taken since (the machine runs other tests): the
        instances then get new ports and nginx a new configuration, up to three times."""
        import nginxharness
        for attempt in range(3):
            self.lb = nginxharness.Nginx([i.port for i in self.instances], server_opts="max_fails=0")
            try:
                self.start()
                return
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
            self.stop()
            self.lb.close()
            for inst in self.instances:
                inst.port = free_port()

    @property
    def port(self):
        return self.lb.port if self.lb else self.instances[0].port

    def _one(self):
        """The first instance; made here for a Server a test builds by hand (Server.__new__, then
        its attributes: one instance, no nginx)."""
        if "instances" not in self.__dict__:
            self.instances = [Instance(self.__dict__.get("data_dir"), 0)]
            self.lb = None
        return self.instances[0]

    @port.setter
    def port(self, value):  # a test that points the Server at another port runs it alone
        self._one().port = value

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def proc(self):
        if not self.lb:
            return self.instances[0].proc
        procs = [i.proc for i in self.instances if i.proc]
        return Processes(procs) if procs else None

    @proc.setter
    def proc(self, value):
        self._one().proc = value

    @property
    def log(self):
        return self.instances[0].log

    def command(self, inst):
        return [self.bin, "serve", "--data-dir", inst.data_dir, "--port", str(inst.port), "--bind", "127.0.0.1",
                *FAST_HASH, *getattr(self, "cluster_args", []), *self.extra]

    def start(self):
        """Starts the instances that are not running (all of them, but after a crash of one), at
        once: the others as soon as the first has its keys (webhook.key is made at its first start)."""
        env = {**os.environ, **database_env(self.data_dir), **self.env}
        first = self.instances[0]
        started = []
        for n, inst in enumerate(self.instances):
            if inst.running():
                continue
            if n > 0:
                self._copy_keys(first, inst)
            inst.reap(0)
            inst.spawn(self.command(inst), env, self.preexec_fn)
            started.append(inst)
        for inst in started:
            inst.wait_healthy(self.stderr)

    def _copy_keys(self, first, inst):
        """The first instance's key files into inst's data dir (docs/scale-out.md), once; waits
        for the first instance to have written them (a key is 43 characters of base64url)."""
        deadline = time.time() + 10
        for k in KEY_FILES:
            src, dst = os.path.join(first.data_dir, k), os.path.join(inst.data_dir, k)
            if os.path.exists(dst):
                continue
            while not (os.path.exists(src) and os.path.getsize(src) >= 43) and time.time() < deadline:
                if first.proc is None or first.proc.poll() is not None:
                    break
                time.sleep(0.01)
            if os.path.exists(src):
                shutil.copy2(src, dst)

    def stderr(self):
        if not self.lb:
            return self.instances[0].stderr()
        return "".join("--- instance %d (port %d) ---\n%s" % (n, i.port, i.stderr()) for n, i in enumerate(self.instances))

    def stop(self):
        for inst in self.instances:
            inst.signal_stop()
        rcs = [inst.reap() for inst in self.instances]
        return next((rc for rc in rcs if rc not in (0, None)), rcs[0])

    def kill9(self):
        for inst in self.instances:
            if inst.running():
                inst.proc.send_signal(signal.SIGKILL)
        for inst in self.instances:
            inst.reap()

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        self.stop()
        if self.lb:
            self.lb.close()
            self.lb = None
        for inst in self.instances[1:]:
            shutil.rmtree(inst.data_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Headers(dict):
    def get(self, k, d=None):
        return dict.get(self, k.lower(), d)

    def __getitem__(self, k):
        return dict.__getitem__(self, k.lower())

    def __contains__(self, k):
        return dict.__contains__(self, k.lower())


def _parse(resp):
    raw = resp.read()
    # the Server header nginx adds in front of several instances (SF_E2E_INSTANCES) is the
    # proxy's, not the server's (which sends none): the tests look at the server's answer
    headers = Headers((k.lower(), v) for k, v in resp.getheaders()
                      if not (INSTANCES > 1 and k.lower() == "server" and v.startswith("nginx")))
    ctype = headers.get("content-type", "")
    body = raw.decode(errors="replace")
    if "json" in ctype and raw:
        body = json.loads(raw)
    return resp.status, headers, body


def _record(method, path, out):
    """With SERVICEFLOW_OPENAPI_RECORD=FILE, every answer is appended to FILE
    (one JSON line) for tests/openapi/check_recorded.py to hold against the
    OpenAPI document: the whole e2e suite then checks the document."""
    dest = os.environ.get("SERVICEFLOW_OPENAPI_RECORD")
    if not dest:
        return
    st, h, b = out
    rec = {"method": method, "path": path, "status": st, "content_type": h.get("content-type", ""),
           "body": b if isinstance(b, (dict, list)) else str(b)}
    with open(dest, "a") as f:
        f.write(json.dumps(rec) + "\n")


def _holder(answers, held):
    """The index of the instance that holds the background lease (runs the relay, the durable
    subscribers, the timers), by held(answer); the first when none says so."""
    return next((n for n, a in enumerate(answers) if held(a)), 0)


def _merged_metrics(srv, headers):
    """GET /metrics of a Server of several instances: each instance counts what it served, so
    the Server's counters and histograms are the sums over the instances; a gauge is a state
    (a lag, a cache's size, 1 while held), taken from the lease holder. The comments are the
    first instance's."""
    answers = [req(inst, "GET", "/metrics", headers=headers) for inst in srv.instances]
    bad = next((a for a in answers if a[0] != 200), None)
    if bad:
        return bad
    holder = _holder(answers, lambda a: 'sf_lease_held{name="background"} 1' in a[2])
    order, total, gauges = [], {}, set()
    for n, (_, _, text) in enumerate(answers):
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if line.startswith("#") or not series:
                if line.startswith("# TYPE ") and line.endswith(" gauge"):
                    gauges.add(line.split()[2])
                if line not in total:
                    order.append(line)
                    total[line] = None
                continue
            if series not in total:
                order.append(series)
                total[series] = 0.0
            if series.split("{")[0] not in gauges:
                total[series] += float(value)
            elif n == holder:
                total[series] = float(value)
    fmt = lambda v: "%d" % v if v == int(v) and abs(v) < 1e15 else repr(v)
    lines = [k if total[k] is None else "%s %s" % (k, fmt(total[k])) for k in order]
    return answers[0][0], answers[0][1], "\n".join(lines) + "\n"


def _cluster_readyz(srv, headers):
    """GET /readyz of a Server of several instances: an instance that is not ready answers for
    the Server; else the lease holder does (its relay, its background work)."""
    answers = [req(inst, "GET", "/readyz", headers=headers) for inst in srv.instances]
    bad = next((a for a in answers if a[0] != 200), None)
    if bad:
        return bad
    held = lambda a: isinstance(a[2], dict) and a[2].get("checks", {}).get("lease") == "held"
    return answers[_holder(answers, held)]


def req(srv, method, path, body=None, headers=None, token=None, raw=None, conn=None):
    if method == "GET" and getattr(srv, "lb", None) and conn is None:
        if path == "/metrics":
            return _merged_metrics(srv, headers)
        if path == "/readyz":
            return _cluster_readyz(srv, headers)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        c.request(method, path, body=data, headers=h)
        out = _parse(c.getresponse())
        _record(method, path, out)
    finally:
        if own:
            c.close()
    if method == "POST" and path == "/api/v1/_test/clock" and out[0] == 200 and getattr(srv, "lb", None):
        _clock_reached_all(srv, out[2]["offset_ms"], h)
    return out


def _clock_reached_all(srv, offset, headers):
    """The test clock moved through nginx reaches the other instances a moment later (a
    cluster-wide hook delivered by PostgreSQL's NOTIFY after the commit): waits until each
    instance has it, as a test's next request may reach any of them. Asking an instance with
    advance_s 0 gives its offset and never moves a clock back."""
    deadline = time.time() + 10
    for inst in srv.instances:
        while True:
            st, _, b = req(inst, "POST", "/api/v1/_test/clock", {"advance_s": 0}, headers=headers)
            if st != 200 or b["offset_ms"] >= offset:
                break
            if time.time() > deadline:
                raise AssertionError("instance %d did not hear the test clock move to %d ms" % (inst.port, offset))
            time.sleep(0.01)


_counter = [0]


def unique_email(tag="u"):
    _counter[0] += 1
    return "%s-%d-%d@example.com" % (tag, os.getpid(), _counter[0]) + ("" if _counter[0] else "")


def register(srv, email=None, password="correct horse 1", name=None):
    body = {"email": email or unique_email(), "password": password}
    if name is not None:
        body["name"] = name
    st, h, b = req(srv, "POST", "/api/v1/auth/register", body)
    assert st == 201, (st, b)
    b["password"] = password
    return b


def login(srv, email, password):
    return req(srv, "POST", "/api/v1/auth/login", {"email": email, "password": password})


def make_user(srv, role, password="role password 1"):
    """Creates a user with the CLI (works while the server runs) and logs in."""
    email = unique_email(role)
    rc, out, err = cli("user", "create", "--email", email, "--role", role, "--password", password,
                       *FAST_HASH, data_dir=srv.data_dir)
    assert rc == 0, err
    st, _, b = login(srv, email, password)
    assert st == 200, b
    b["email"] = email
    b["password"] = password
    return b


def totp(secret_b32, t=None, step=30):
    pad = "=" * (-len(secret_b32) % 8)
    key = base64.b32decode(secret_b32.upper() + pad)
    counter = int((time.time() if t is None else t) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = digest[-1] & 15
    code = (struct.unpack(">I", digest[off:off + 4])[0] & 0x7FFFFFFF) % 1000000
    return "%06d" % code


def assert_problem(tc, st, h, b, status, field=None, code=None):
    tc.assertEqual(st, status, b)
    tc.assertTrue(h.get("content-type", "").startswith("application/problem+json"), h)
    for k in ("type", "title", "status"):
        tc.assertIn(k, b)
    tc.assertEqual(b["status"], status)
    if code:
        tc.assertTrue(b["type"].endswith("/" + code), b["type"])
    if field:
        tc.assertIn(field, [e["field"] for e in b.get("errors", [])], b)


def main():
    unittest.main(verbosity=2)
