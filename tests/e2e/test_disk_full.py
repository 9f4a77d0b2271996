"""A full disk while payments are in flight: the data dir is a small tmpfs
that the test fills (as another process would) while the provider (fakepay)
is authorizing and capturing. The saga's results cannot be recorded; the
server keeps them and records them once there is space again, without a
restart: every order settles, no money moves twice. Meanwhile writes answer
507 problem+json and /readyz 503 problem+json naming the storage; after the
space is freed, /readyz is 200 again.

Mounting a tmpfs needs root; without it the test is skipped (said so)."""
import os, shutil, subprocess, tempfile, threading, time, unittest
from sfharness import Server, req, register, main
from test_orders import setup_shop, place, FAST, OK
from test_payments_http import FakePay


def mount_tmpfs(size_mb):
    d = tempfile.mkdtemp(prefix="sf-full-")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % size_mb, "tmpfs", d],
                       capture_output=True, text=True)
    if p.returncode != 0:
        os.rmdir(d)
        return None, (p.stderr.strip() or "mount failed")
    return d, None


def unmount(d):
    subprocess.run(["umount", "-l", d], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


class Filler:
    """Fills the file system of a directory and keeps it full (taking any
    space that comes free) until stopped; then deletes what it wrote."""

    def __init__(self, d):
        self.d = d
        self.files = []
        self.stopping = threading.Event()
        self._grab(1 << 20)
        self._grab(4096)
        self.thread = threading.Thread(target=self._keep_full, daemon=True)
        self.thread.start()

    def _grab(self, chunk):
        path = os.path.join(self.d, "filler-%d" % len(self.files))
        self.files.append(path)
        with open(path, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass

    def _keep_full(self):
        while not self.stopping.wait(0.02):
            self._grab(4096)

    def free(self):
        self.stopping.set()
        self.thread.join()
        for p in self.files:
            os.unlink(p)


def ready(srv):
    st, h, b = req(srv, "GET", "/readyz")
    return st, h.get("content-type", ""), b


class DiskFull(unittest.TestCase):
    def setUp(self):
        self.mnt, why = mount_tmpfs(16)
        if not self.mnt:
            self.skipTest("cannot mount a tmpfs (needs root): " + why)
        self.fp = FakePay()
        self.srv = Server(FAST + ["--payment-provider", "http", "--payment-url", "http://127.0.0.1:%d" % self.fp.port,
                                  "--payment-timeout-ms", "5000"], data_dir=self.mnt)
        self.filler = None

    def tearDown(self):
        if self.filler and not self.filler.stopping.is_set():
            self.filler.free()
        self.srv.close()
        self.fp.stop()
        unmount(self.mnt)

    def wait_for(self, what, fn, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = fn()
            if v:
                return v
            time.sleep(0.1)
        self.fail("timed out waiting for " + what + "\n" + self.srv.stderr()[-3000:])

    def test_payments_in_flight_settle_after_disk_full(self):
        staff, products = setup_shop(self.srv, stock=50, price=1000, n=1)
        cust = register(self.srv)["access_token"]
        pid = products[0]["id"]
        st, _, _ = ready(self.srv)
        self.assertEqual(st, 200)
        self.fp.mode("slow", delay_ms=1200)  # the provider is still working when the disk fills
        orders = []
        for _ in range(6):
            st, _, o = place(self.srv, cust, [{"product_id": pid, "quantity": 1}])
            self.assertIn(st, (201, 202), o)
            self.assertEqual(o["status"], "pending")
            orders.append(o)
        self.filler = Filler(self.mnt)

        # the provider captures every payment; the results cannot be recorded
        expected = sum(o["total"] for o in orders)
        self.wait_for("the provider's captures", lambda: self.fp.stats()["totals"]["captured"] >= expected, 30)
        # /readyz names the storage
        self.wait_for("/readyz 503", lambda: ready(self.srv)[0] == 503, 15)
        st, ctype, b = ready(self.srv)
        self.assertEqual(st, 503)
        self.assertTrue(ctype.startswith("application/problem+json"), ctype)
        self.assertEqual(b["status"], 503)
        self.assertEqual(b["checks"]["storage"], "full")
        self.assertIn("storage", b["detail"])
        # a write is refused with 507 problem+json (changes nothing)
        st, h, b = place(self.srv, cust, [{"product_id": pid, "quantity": 1}])
        self.assertEqual(st, 507, b)
        self.assertTrue(h.get("content-type", "").startswith("application/problem+json"))
        time.sleep(1.5)
        for o in orders:
            st, _, cur = req(self.srv, "GET", "/api/v1/orders/" + o["id"], token=cust)
            self.assertEqual(st, 200)
            self.assertEqual(cur["status"], "pending")

        # space again: every order settles, without a restart
        self.filler.free()
        for o in orders:
            st, _, cur = req(self.srv, "GET", "/api/v1/orders/" + o["id"], token=cust,
                             headers={"Prefer": "wait=20"})
            self.assertEqual(st, 200)
            self.assertEqual(cur["status"], "paid", (cur, self.srv.stderr()[-3000:]))
        self.wait_for("/readyz 200", lambda: ready(self.srv)[0] == 200, 15)
        self.assertEqual(ready(self.srv)[2]["checks"]["storage"], "ok")
        stats = self.fp.stats()
        self.assertEqual(stats["totals"]["captured"], expected)  # captured once each
        self.assertEqual(stats["totals"]["voided"], 0)
        st, _, inv = req(self.srv, "GET", "/api/v1/inventory/" + pid, token=staff)
        self.assertEqual(st, 200)
        self.assertEqual(inv.get("reserved", 0), 0, inv)
        # and writes work again
        self.fp.mode("ok")
        st, _, o = place(self.srv, cust, [{"product_id": pid, "quantity": 1}], wait=10)
        self.assertEqual((st, o["status"]), (201, "paid"), o)


if __name__ == "__main__":
    main()
