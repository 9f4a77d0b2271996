"""The NATS JetStream relay (docs/nats.md) against a real nats-server started here (temp store
dir, free loopback port, killed at the end): every event made through the API is in the stream
once, in position order, with its subject and id; a nats-server killed and started again under
load is caught up with and a durable consumer (examples/nats-consumer) sees every event id
exactly once after its dedupe; a serviceflow killed with -9 mid-stream resumes from what
JetStream stored, with no gap and no event stored twice."""
import json, os, shutil, signal, socket, subprocess, tempfile, threading, time, unittest
from sfharness import Server, req, make_user, free_port, cli, unique_email, FAST_HASH, main

HERE = os.path.dirname(os.path.abspath(__file__))
CONSUMER = os.environ.get("SF_NATS_CONSUMER") or os.path.join(HERE, "..", "..", "build", "nats_consumer")


class NatsServer:
    """nats-server -js on a loopback port with its store in a temp dir; start again on the same
    port and store after a kill."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sf-nats-")
        self.port = free_port()
        self.proc = None
        self.start()

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self):
        log = open(os.path.join(self.dir, "nats.log"), "ab")
        self.proc = subprocess.Popen(["nats-server", "-js", "-sd", os.path.join(self.dir, "store"),
                                      "-p", str(self.port), "-a", "127.0.0.1"], stdout=log, stderr=log)
        log.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def js_api(nats, subject, body=b""):
    """One JetStream API request over the plain NATS protocol (diagnostics: stream and consumer
    info); returns the JSON answer, or {"error": ...} when the server does not answer."""
    try:
        sock = socket.create_connection(("127.0.0.1", nats.port), 5)
        sock.settimeout(5)
        f = sock.makefile("rb")
        f.readline()  # INFO
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.diag 1\r\n'
                     b"PUB $JS.API.%s _INBOX.diag %d\r\n%s\r\n" % (subject.encode(), len(body), body))
        while True:
            line = f.readline()
            if not line:
                return {"error": "closed"}
            if line.startswith(b"PING"):
                sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG"):
                data = f.read(int(line.split()[-1]) + 2)[:-2]
                sock.close()
                return json.loads(data)
    except (OSError, ValueError) as e:
        return {"error": str(e)}


def js_state(nats, durable=None):
    """The stream's state and, with durable, the consumer's delivered/ack floor: a short dict."""
    si = js_api(nats, "STREAM.INFO.SERVICEFLOW").get("state", {})
    out = {"stream": {k: si.get(k) for k in ("messages", "first_seq", "last_seq")}}
    if durable:
        ci = js_api(nats, "CONSUMER.INFO.SERVICEFLOW." + durable)
        out["consumer"] = {k: ci.get(k) for k in ("delivered", "ack_floor", "num_ack_pending", "num_pending")}
    return out


def read_stream(nats):
    """Every message of the stream, in stream order (an ephemeral consumer, no dedupe)."""
    p = subprocess.run([CONSUMER, "--url", nats.url, "--raw", "--idle-exit", "1500"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


class Load:
    """Threads adjusting stock through the API until stopped; requests refused or cut (the
    server being killed) are retried."""

    def __init__(self, srv, token, pid, threads=3):
        self.srv, self.token, self.pid = srv, token, pid
        self.stop_flag = threading.Event()
        self.ok = 0
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                st, _, _ = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % self.pid,
                               {"delta": 1, "reason": "relay load"}, token=self.token)
                if st == 200:
                    self.ok += 1
            except Exception:  # refused or cut while the server is down
                time.sleep(0.05)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)


@unittest.skipUnless(shutil.which("nats-server"), "nats-server is not installed (scripts/install-deps.sh --test)")
class NatsRelay(unittest.TestCase):
    window = "64"  # publishes in flight (the default)

    @classmethod
    def setUpClass(cls):
        cls.nats = NatsServer()
        cls.srv = Server(["--nats-url", cls.nats.url, "--nats-ack-timeout-ms", "1000",
                          "--nats-publish-window", cls.window])
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        st, _, p = req(cls.srv, "POST", "/api/v1/products",
                       {"sku": "RELAY-1", "name": "Relayed", "price": 100, "currency": "EUR", "status": "active"},
                       token=cls.staff)
        assert st == 201, p
        cls.pid = p["id"]

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("SF_RELAY_DEBUG"):
            print("".join(l + "\n" for l in cls.srv.stderr().splitlines() if "relay" in l))
        cls.srv.close()
        cls.nats.close()

    def events(self):
        """The whole log through the API, oldest first."""
        out, cursor = [], None
        while True:
            st, _, page = req(self.srv, "GET", "/api/v1/events?limit=200" + ("&cursor=" + cursor if cursor else ""),
                              token=self.admin)
            self.assertEqual(st, 200, page)
            out += page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return sorted(out, key=lambda e: e["position"])

    def caught_up(self, timeout=60):
        """Waits until the relay has published the log's head; returns the log."""
        deadline = time.time() + timeout
        while True:
            log = self.events()
            st, _, ready = req(self.srv, "GET", "/readyz")
            self.assertEqual(st, 200, ready)
            relay = ready["relay"]
            if relay["published_position"] == log[-1]["position"] and relay["lag_events"] == 0:
                self.assertEqual(ready["checks"]["relay"], "caught-up")
                return log
            if time.time() > deadline:
                self.fail("relay did not catch up: %r, head %d" % (relay, log[-1]["position"]))
            time.sleep(0.2)

    def assert_stream_is_log(self, log):
        """The stream holds each event once, in position order, with its subject and id."""
        msgs = read_stream(self.nats)
        for _ in range(20):  # background work (notifications, mail) may commit after the caller's read
            if len(msgs) <= len(log):
                break
            log = self.caught_up()
            msgs = read_stream(self.nats)
        ids = [m["id"] for m in msgs]
        self.assertEqual(len(ids), len(set(ids)), "an event id stored twice")
        self.assertEqual([m["position"] for m in msgs], [e["position"] for e in log])
        for m, e in zip(msgs, log):
            self.assertEqual(m["id"], e["id"])
            self.assertEqual(m["event"]["position"], e["position"])
            self.assertEqual(m["event"]["type"], e["type"])
            self.assertEqual(m["subject"], "sf.%s.%s" % (e["stream"].split("-")[0], e["type"]))
        self.assertEqual([m["seq"] for m in msgs], sorted(m["seq"] for m in msgs))

    def test_a_events_in_order_with_subjects_and_ids(self):
        # an event another process commits (a CLI command beside the server) is published too
        rc, _, err = cli("user", "create", "--email", unique_email("cli"), "--role", "staff", "--password",
                         "cli password 1", *FAST_HASH, data_dir=self.srv.data_dir)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.caught_up(timeout=10)[-1]["type"], "user.registered")
        for delta in (5, -2, 3):
            st, _, b = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % self.pid,
                           {"delta": delta, "reason": "relay"}, token=self.staff)
            self.assertEqual(st, 200, b)
        log = self.caught_up()
        self.assertIn("sf.product.product.created", {"sf.%s.%s" % (e["stream"].split("-")[0], e["type"]) for e in log})
        self.assert_stream_is_log(log)
        st, _, text = req(self.srv, "GET", "/metrics")
        text = text if isinstance(text, str) else text.decode()
        self.assertIn("sf_relay_published_total", text)
        self.assertIn("sf_relay_lag_events 0", text)
        self.assertIn("sf_relay_errors_total", text)
        # /readyz's answer with the relay matches its OpenAPI schema
        import jsonschema
        st, _, doc = req(self.srv, "GET", "/api/v1/openapi.json")
        schema = doc["paths"]["/readyz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        st, _, ready = req(self.srv, "GET", "/readyz")
        jsonschema.validate(ready, schema)
        self.assertEqual(set(ready["relay"]), {"state", "published_position", "lag_events", "errors"})
        # start from a position (the Sf-Position header, found by sequence)
        p = subprocess.run([CONSUMER, "--url", self.nats.url, "--start-position", str(log[-2]["position"]),
                            "--idle-exit", "1000"], capture_output=True, text=True, timeout=60)
        got = [json.loads(l)["position"] for l in p.stdout.splitlines()]
        # from that position on, without a gap (background work may have committed more since)
        self.assertEqual(got[:2], [log[-2]["position"], log[-1]["position"]], p.stderr)
        self.assertEqual(got, list(range(got[0], got[0] + len(got))), p.stderr)

    def test_b_nats_restart_under_load(self):
        out = open(os.path.join(self.nats.dir, "consumer.out"), "w")
        err = open(os.path.join(self.nats.dir, "consumer.err"), "w")
        consumer = subprocess.Popen([CONSUMER, "--url", self.nats.url, "--durable", "relay-test"], stdout=out,
                                    stderr=err)
        states = {}
        try:
            load = Load(self.srv, self.staff, self.pid)
            time.sleep(1.0)
            states["before kill"] = js_state(self.nats, "relay-test")
            self.nats.kill9()
            with open(out.name) as f:  # the last sequence the consumer was sent before the kill
                states["consumer got up to seq"] = max([json.loads(l)["seq"] for l in f.read().splitlines()
                                                        if l.endswith("}")] or [0])
            time.sleep(1.0)  # writes go on while NATS is down: the relay falls behind
            deadline = time.time() + 30  # generous for a loaded machine: the load must get some writes in
            while True:
                st, _, ready = req(self.srv, "GET", "/readyz")
                self.assertEqual(st, 200, ready)  # a NATS outage does not make the service unready
                if ready["relay"]["lag_events"] > 0 or time.time() > deadline:
                    break
                time.sleep(0.2)
            self.assertGreater(ready["relay"]["lag_events"], 0, ready)  # the relay falls behind
            self.assertNotEqual(ready["checks"]["relay"], "caught-up", ready)
            self.nats.start()
            states["after restart"] = js_state(self.nats, "relay-test")
            time.sleep(1.5)
            load.stop()
            self.assertGreater(load.ok, 0)
            log = self.caught_up(timeout=120)
            want = {e["id"] for e in log}
            deadline = time.time() + 120  # generous: the machine may be loaded; the assertion stays exact
            while True:  # the durable consumer catches up too
                with open(out.name) as f:
                    lines = [json.loads(l) for l in f.read().splitlines() if l.endswith("}")]
                got = [m["id"] for m in lines]
                if set(got) >= want or time.time() > deadline:
                    break
                time.sleep(0.3)
            states["at the end"] = js_state(self.nats, "relay-test")
            with open(err.name) as f:
                why = "JetStream %s; consumer stderr:\n%s" % (json.dumps(states), f.read()[-4000:])
            self.assertEqual(len(got), len(set(got)), "the consumer saw an id twice after dedupe; " + why)
            missing = sorted((e["position"], e["id"]) for e in log if e["id"] in want - set(got))
            self.assertEqual(set(got), want, "missing %r; %s" % (missing[:20], why))
            if os.environ.get("SF_RELAY_DEBUG"):
                print(why)
        finally:
            consumer.terminate()
            consumer.wait(10)
            out.close()
            err.close()
        self.assert_stream_is_log(log)

    def test_c_serviceflow_kill9_mid_stream(self):
        load = Load(self.srv, self.staff, self.pid)
        time.sleep(1.0)
        self.srv.kill9()
        load.stop()
        self.srv.start()
        load = Load(self.srv, self.staff, self.pid)
        time.sleep(1.0)
        load.stop()
        log = self.caught_up()
        self.assert_stream_is_log(log)


class NatsRelaySync(NatsRelay):
    """The same with each publish waiting for its ack."""
    window = "1"


def nats_request(nats, subject, body=b"", headers=None):
    """One request over the plain NATS protocol (HPUB when headers are given); returns the
    answer's payload (a JetStream API answer or a publish ack)."""
    sock = socket.create_connection(("127.0.0.1", nats.port), 10)
    f = sock.makefile("rb")
    f.readline()  # INFO
    sock.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.t 1\r\n')
    if headers:
        h = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in headers.items()) + b"\r\n"
        sock.sendall(b"HPUB %s _INBOX.t %d %d\r\n%s%s\r\n" % (subject.encode(), len(h), len(h) + len(body), h, body))
    else:
        sock.sendall(b"PUB %s _INBOX.t %d\r\n%s\r\n" % (subject.encode(), len(body), body))
    while True:
        line = f.readline()
        if line.startswith(b"MSG"):
            data = f.read(int(line.split()[-1]) + 2)[:-2]
            sock.close()
            return json.loads(data)


@unittest.skipUnless(shutil.which("nats-server"), "nats-server is not installed (scripts/install-deps.sh --test)")
class ConsumerGaps(unittest.TestCase):
    """The example consumer on a stream of its own (no serviceflow): when its durable consumer's place
    is past messages it never got (as when a nats-server restart keeps the consumer's state further
    than the stream's messages), the next position shows a gap and it re-reads from the position
    after its last one; a hole the stream really has is passed once, not re-read for ever."""

    def pub(self, position):
        ack = nats_request(self.nats, "gap.x.t", b'{"position":%d}' % position,
                           {"Nats-Msg-Id": "evt_%d" % position, "Sf-Position": str(position)})
        self.assertIn("seq", ack)

    def test_gap_is_reread(self):
        self.nats = NatsServer()
        try:
            created = nats_request(self.nats, "$JS.API.STREAM.CREATE.GAP",
                                   json.dumps({"name": "GAP", "subjects": ["gap.>"], "storage": "file"}).encode())
            self.assertNotIn("error", created)
            for p in (1, 2, 3):
                self.pub(p)
            out = open(os.path.join(self.nats.dir, "out"), "w+")
            err = open(os.path.join(self.nats.dir, "err"), "w+")
            consumer = subprocess.Popen([CONSUMER, "--url", self.nats.url, "--stream", "GAP", "--subject", "gap.>",
                                         "--durable", "g"], stdout=out, stderr=err)
            try:
                def positions(want, timeout=60):
                    deadline = time.time() + timeout
                    while True:
                        with open(out.name) as f:
                            got = [json.loads(l)["position"] for l in f.read().splitlines() if l.endswith("}")]
                        if got == want or time.time() > deadline:
                            return got
                        time.sleep(0.2)

                self.assertEqual(positions([1, 2, 3]), [1, 2, 3])
                consumer.send_signal(signal.SIGSTOP)  # 4 and 5 are stored while it does not fetch
                self.pub(4)
                self.pub(5)
                # its durable's place jumps past them
                nats_request(self.nats, "$JS.API.CONSUMER.DELETE.GAP.g")
                cfg = {"durable_name": "g", "deliver_policy": "by_start_sequence", "opt_start_seq": 6,
                       "ack_policy": "explicit", "filter_subject": "gap.>"}
                made = nats_request(self.nats, "$JS.API.CONSUMER.DURABLE.CREATE.GAP.g",
                                    json.dumps({"stream_name": "GAP", "config": cfg}).encode())
                self.assertNotIn("error", made)
                self.pub(6)
                self.pub(7)
                consumer.send_signal(signal.SIGCONT)
                self.assertEqual(positions([1, 2, 3, 4, 5, 6, 7]), [1, 2, 3, 4, 5, 6, 7], open(err.name).read())
                self.pub(9)  # a hole the stream really has: 8 never comes
                self.pub(10)
                self.assertEqual(positions([1, 2, 3, 4, 5, 6, 7, 9, 10]), [1, 2, 3, 4, 5, 6, 7, 9, 10])
                self.assertIn("re-reading", open(err.name).read())
                self.assertIn("does not hold positions 8 to 8", open(err.name).read())
            finally:
                consumer.send_signal(signal.SIGCONT)
                consumer.terminate()
                consumer.wait(10)
                out.close()
                err.close()
        finally:
            self.nats.close()


if __name__ == "__main__":
    main()
