"""E-mails/s sent to a local SMTP server (bench/mail_bench.sh runs this).

For each SMTP sink and each mail_concurrency: a fresh server (data dir in a
temp dir) whose smtp_url points at the sink; N messages queued through
POST /api/v1/mail/templates/order.paid/send by a few client threads
(keep-alive); then the time until the sink has received all N. Prints one
table row per run:
  connections   SMTP connections the sink accepted (libcurl reuses them)
  queued/s      HTTP answers per second while queueing (each a committed row + timer)
  sent/s        N / (first queue request -> last message received by the sink)
  p50/p99 ms    per message: queued (created_at) -> received by the sink
Sinks: aiosmtpd (Debian's python3-aiosmtpd, a full SMTP server) and a
minimal asyncio sink (answers every command at once), so the figures show
what the server does rather than what the sink can take. Each sink runs in
a process of its own and reports each message's arrival on a pipe."""
import asyncio, http.client, json, os, shutil, socket, subprocess, sys, tempfile, threading, time

BIN = os.environ.get("SERVICEFLOW_BIN") or os.path.join(os.path.dirname(__file__), "..", "build", "serviceflow")
N = int(os.environ.get("MAIL_N", "2000"))
CLIENTS = int(os.environ.get("MAIL_CLIENTS", "8"))
CONCURRENCY = [int(c) for c in os.environ.get("MAIL_CONCURRENCY", "1,4,16").split(",")]
FAST_HASH = ["--argon2-memlimit-kib", "8192", "--argon2-opslimit", "1"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Received:
    """What the sink process reported: Message-ID -> time received, and the
    SMTP connections it accepted (a sink runs in a process of its own, so
    the GIL of this one, busy queueing, does not slow it)."""

    def __init__(self, proc):
        self.lock = threading.Lock()
        self.at, self.connections, self.proc = {}, 0, proc
        self.ready = threading.Event()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            kind, _, rest = line.decode().strip().partition(" ")
            with self.lock:
                if kind == "READY":
                    self.ready.set()
                elif kind == "CONN":
                    self.connections += 1
                elif kind == "MSG":
                    mid, at = rest.rsplit(" ", 1)
                    self.at.setdefault(mid, float(at))

    def count(self):
        with self.lock:
            return len(self.at)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def report(data):
    mid = "?"
    for line in data.split(b"\r\n"):
        if not line:
            break
        if line[:11].lower() == b"message-id:":
            mid = line[11:].strip().decode()
    sys.stdout.write("MSG %s %.6f\n" % (mid, time.time()))
    sys.stdout.flush()


def conn_made():
    sys.stdout.write("CONN\n")
    sys.stdout.flush()


def serve_aiosmtpd(port):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class H:
        async def handle_DATA(self, server, session, envelope):
            report(envelope.content)
            return "250 OK"

    class Counting(SMTP):
        def connection_made(self, transport):
            conn_made()
            super().connection_made(transport)

    class C(Controller):
        def factory(self):
            return Counting(self.handler)

    c = C(H(), hostname="127.0.0.1", port=port)
    c.start()
    print("READY", flush=True)
    threading.Event().wait()


class MinimalSmtp(asyncio.Protocol):
    """Just enough SMTP for a client that sends one command at a time."""

    def __init__(self):
        self.buf, self.data = b"", None

    def connection_made(self, t):
        conn_made()
        self.t = t
        t.write(b"220 sink ESMTP\r\n")

    def data_received(self, chunk):
        self.buf += chunk
        while True:
            if self.data is not None:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                report(self.buf[:end])
                self.buf, self.data = self.buf[end + 5:], None
                self.t.write(b"250 OK queued\r\n")
                continue
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                return
            line, self.buf = self.buf[:nl], self.buf[nl + 2:]
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.t.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.data = b""
                self.t.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
            else:
                self.t.write(b"250 OK\r\n")


def serve_minimal(port):
    loop = asyncio.new_event_loop()
    loop.run_until_complete(loop.create_server(MinimalSmtp, "127.0.0.1", port))
    print("READY", flush=True)
    loop.run_forever()


def start_sink(name, port):
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sink", name, str(port)],
                         stdout=subprocess.PIPE)
    r = Received(p)
    if not r.ready.wait(10):
        raise SystemExit("the %s sink did not start" % name)
    return r


def call(port, method, path, body=None, token=None, conn=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=h)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, json.loads(data) if data else None


def start_server(data_dir, port, smtp_port, concurrency):
    subprocess.run([BIN, "migrate", "--data-dir", data_dir], check=True, capture_output=True)
    subprocess.run([BIN, "user", "create", "--email", "admin@bench.local", "--role", "admin", "--password",
                    "bench admin password", "--data-dir", data_dir, *FAST_HASH], check=True, capture_output=True)
    log = open(os.path.join(data_dir, "server.log"), "wb")
    p = subprocess.Popen([BIN, "serve", "--data-dir", data_dir, "--port", str(port), "--bind", "127.0.0.1",
                          "--smtp-url", "smtp://127.0.0.1:%d" % smtp_port, "--smtp-tls", "none",
                          "--mail-concurrency", str(concurrency), "--mail-backoff-ms", "100", *FAST_HASH],
                         stdout=log, stderr=log)
    for _ in range(200):
        try:
            if call(port, "GET", "/healthz")[0] == 200:
                return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start: " + open(os.path.join(data_dir, "server.log")).read())


def queue_all(port, token, n):
    ids, lock = {}, threading.Lock()
    per = [n // CLIENTS + (1 if i < n % CLIENTS else 0) for i in range(CLIENTS)]

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(k):
            st, m = call(port, "POST", "/api/v1/mail/templates/order.paid/send",
                         {"to": "customer%d@bench.local" % i, "to_name": "Customer",
                          "vars": {"order": {"id": "ord_%d" % i, "total": "12.50", "currency": "EUR"}}},
                         token, conn)
            if st != 201:
                raise SystemExit("send: HTTP %d %s" % (st, m))
            with lock:
                ids[m["message_id"]] = time.time()
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in per]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def run(sink_name, concurrency):
    data_dir = tempfile.mkdtemp(prefix="sf-mailbench-")
    smtp_port, port = free_port(), free_port()
    received = start_sink(sink_name, smtp_port)
    srv = start_server(data_dir, port, smtp_port, concurrency)
    try:
        token = call(port, "POST", "/api/v1/auth/login",
                     {"email": "admin@bench.local", "password": "bench admin password"})[1]["access_token"]
        t0 = time.time()
        queued = queue_all(port, token, N)
        t_queued = time.time()
        deadline = time.time() + 600
        while received.count() < N and time.time() < deadline:
            time.sleep(0.01)
        t_end = max(received.at.values()) if received.at else time.time()
        lat = sorted((received.at[m] - queued[m]) * 1000 for m in queued if m in received.at)
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
        print("| %-9s | %11d | %5d | %11d | %9.0f | %7.0f | %6.0f | %6.0f |" % (
            sink_name, concurrency, len(lat), received.connections, N / (t_queued - t0), len(lat) / (t_end - t0),
            pct(0.5), pct(0.99)), flush=True)
    finally:
        srv.terminate()
        srv.wait(30)
        received.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main():
    print("E-mails sent to a local SMTP server: %d messages (order.paid, multipart), %d client threads queueing"
          % (N, CLIENTS))
    print("| sink      | concurrency |  sent | connections | queued/s  |  sent/s | p50 ms | p99 ms |")
    print("|-----------|-------------|-------|-------------|-----------|---------|--------|--------|")
    for name in os.environ.get("MAIL_SINKS", "minimal,aiosmtpd").split(","):
        for c in CONCURRENCY:
            run(name, c)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--sink":
        (serve_minimal if sys.argv[2] == "minimal" else serve_aiosmtpd)(int(sys.argv[3]))
    else:
        main()
