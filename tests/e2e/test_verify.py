"""serviceflow verify rebuilds stock, reservations and orders from their events
and compares them with the state rows: a varied history verifies clean, a
state row changed behind the server's back is named, and verify is clean right
after `serviceflow seed`. Also: `replay sales_daily` rebuilds the projection to
the same rows after they are deleted."""
import os, re, shutil, sqlite3, tempfile, threading, time, unittest
from sfharness import Server, cli, req, register, FAST_HASH, main
from test_orders import setup_shop, place, wait_settled, OK, DECLINED, NOFUNDS, TRANSIENT, FAST


def sql(data_dir, statement, args=()):
    db = sqlite3.connect(os.path.join(data_dir, "serviceflow.db"))
    try:
        rows = db.execute(statement, args).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


SUMMARY = re.compile(r"verify: (\d+) events, hash chain intact; stock: (\d+) products ok; "
                     r"reservations: (\d+) ok; orders: (\d+) ok")


class Verify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = Server(FAST)
        staff, products = setup_shop(srv, stock=100, n=3)
        cls.pids = [p["id"] for p in products]
        cust = register(srv)["access_token"]
        a, b, c = cls.pids

        def adjust(pid, delta):
            st, _, s = req(srv, "POST", "/api/v1/inventory/%s/adjustments" % pid,
                           {"delta": delta, "reason": "count"}, token=staff)
            assert st == 200, s

        def reserve(items, ttl=None):
            body = {"items": [{"product_id": p, "quantity": q} for p, q in items]}
            if ttl:
                body["ttl_seconds"] = ttl
            st, _, r = req(srv, "POST", "/api/v1/reservations", body, token=cust)
            assert st == 201, r
            return r["id"]

        adjust(a, 7)
        adjust(b, -4)
        adjust(c, 12)
        # reservations: released by their owner, expired by the timer, still active
        released = reserve([(a, 2), (b, 1)])
        st, _, r = req(srv, "DELETE", "/api/v1/reservations/" + released, token=cust)
        assert (st, r["status"]) == (200, "released"), r
        expiring = reserve([(c, 3)], ttl=1)
        cls.active = reserve([(a, 1), (c, 2)])

        cls.orders = {}

        def order(name, items, card=OK):
            st, _, o = place(srv, cust, [{"product_id": p, "quantity": q} for p, q in items], card=card, wait=15)
            assert st == 201, o
            cls.orders[name] = o
            return o

        order("paid", [(a, 2), (b, 1)])
        order("declined", [(b, 3)], DECLINED)
        order("nofunds", [(c, 1)], NOFUNDS)
        order("transient", [(a, 1)], TRANSIENT)
        o = order("delivered", [(c, 2)])
        for step in ("fulfil", "ship", "deliver"):
            st, _, x = req(srv, "POST", "/api/v1/orders/%s/%s" % (o["id"], step), token=staff)
            assert st == 200, x
        for name, parts in (("refunded", (700, None)), ("partial", (300,))):
            o = order(name, [(a, 1), (c, 1)])
            for amount in parts:
                st, _, x = req(srv, "POST", "/api/v1/orders/%s/refunds" % o["id"],
                               {"amount": amount} if amount else None, token=staff,
                               headers={"Prefer": "wait=10"})
                assert st == 200, x
            cls.orders[name] = x
        # a burst without waiting, then let every saga settle
        burst = [place(srv, cust, [{"product_id": b, "quantity": 1}], card=OK if i % 3 else DECLINED)[2]
                 for i in range(20)]
        for o in burst:
            cls.orders[o["id"]] = wait_settled(srv, cust, o["id"], timeout=15)
        assert cls.orders["paid"]["status"] == "paid"
        assert cls.orders["declined"]["status"] == "cancelled"
        assert cls.orders["transient"]["status"] == "paid", cls.orders["transient"]
        assert cls.orders["refunded"]["status"] == "refunded", cls.orders["refunded"]
        assert cls.orders["partial"]["payment"]["status"] == "partially_refunded", cls.orders["partial"]
        deadline = time.time() + 5
        while time.time() < deadline:
            _, _, r = req(srv, "GET", "/api/v1/reservations/" + expiring, token=cust)
            if r["status"] == "expired":
                break
            time.sleep(0.1)
        assert r["status"] == "expired", r
        cls.nres = 3  # orders hold their stock themselves: their events are folded into stock
        srv.stop()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def verify(self):
        return cli("verify", data_dir=self.srv.data_dir)

    def assert_clean(self):
        rc, out, err = self.verify()
        self.assertEqual(rc, 0, out + err)
        m = SUMMARY.search(out)
        self.assertTrue(m, out)
        return [int(x) for x in m.groups()]

    def assert_caught(self, *needles):
        rc, out, err = self.verify()
        self.assertEqual(rc, 1, out + err)
        self.assertIn("mismatch", out)
        for n in needles:
            self.assertIn(n, err)
        return err

    def test_history_verifies_clean(self):
        events, products, reservations, orders = self.assert_clean()
        head = sql(self.srv.data_dir, "SELECT max(position) FROM events")[0][0]
        self.assertEqual(events, head)
        self.assertEqual(products, len(self.pids))
        self.assertEqual(reservations, self.nres)
        self.assertEqual(orders, len(self.orders))

    def test_changed_order_status_is_named(self):
        oid = self.orders["paid"]["id"]
        sql(self.srv.data_dir, "UPDATE orders SET status = 'cancelled' WHERE id = ?", (oid,))
        try:
            err = self.assert_caught(oid)
            self.assertIn("order %s status: state row 'cancelled' vs events 'paid'" % oid, err)
        finally:
            sql(self.srv.data_dir, "UPDATE orders SET status = 'paid' WHERE id = ?", (oid,))
        self.assert_clean()

    def test_changed_stock_is_named(self):
        pid = self.pids[1]
        sql(self.srv.data_dir, "UPDATE stock SET on_hand = on_hand + 5 WHERE product_id = ?", (pid,))
        try:
            self.assert_caught("stock %s on_hand" % pid)
        finally:
            sql(self.srv.data_dir, "UPDATE stock SET on_hand = on_hand - 5 WHERE product_id = ?", (pid,))
        self.assert_clean()

    def test_changed_payment_reservation_and_lines_are_named(self):
        d = self.srv.data_dir
        part = self.orders["partial"]["id"]
        sql(d, "UPDATE payments SET refunded = refunded + 1 WHERE order_id = ?", (part,))
        try:
            self.assert_caught("order %s payment refunded" % part)
        finally:
            sql(d, "UPDATE payments SET refunded = refunded - 1 WHERE order_id = ?", (part,))
        sql(d, "UPDATE reservations SET status = 'released' WHERE id = ?", (self.active,))
        try:
            self.assert_caught("reservation %s status: state row 'released' vs events 'active'" % self.active)
        finally:
            sql(d, "UPDATE reservations SET status = 'active' WHERE id = ?", (self.active,))
        paid = self.orders["paid"]["id"]
        line = sql(d, "SELECT * FROM order_lines WHERE order_id = ? AND line = 1", (paid,))[0]
        sql(d, "DELETE FROM order_lines WHERE order_id = ? AND line = 1", (paid,))
        try:
            self.assert_caught("order %s line 1: no state row" % paid)
        finally:
            sql(d, "INSERT INTO order_lines VALUES(%s)" % ",".join("?" * len(line)), line)
        self.assert_clean()

    def test_replay_sales_daily(self):
        d = self.srv.data_dir
        q = "SELECT day, product_id, quantity, revenue, currency, orders FROM sales_daily ORDER BY 1, 2, 5"
        before = sql(d, q)
        paid = [o for o in self.orders.values() if o["payment"]["captured"]]
        self.assertEqual(sum(r[5] for r in before), sum(len(o["items"]) for o in paid))
        sql(d, "DELETE FROM sales_daily")
        rc, out, err = cli("replay", "sales_daily", data_dir=d)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sql(d, q), before)


class VerifyFresh(unittest.TestCase):
    def test_after_seed(self):
        d = tempfile.mkdtemp(prefix="sf-e2e-")
        try:
            rc, out, err = cli("seed", *FAST_HASH, data_dir=d)
            self.assertEqual(rc, 0, err)
            rc, out, err = cli("verify", data_dir=d)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("stock: 6 products ok; reservations: 0 ok; orders: 0 ok", out)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_while_the_server_writes(self):
        """verify reads one snapshot: orders in flight never look like drift."""
        srv = Server(FAST)
        try:
            staff, products = setup_shop(srv, stock=1000, n=1)
            cust = register(srv)["access_token"]
            stop = threading.Event()

            def buyer():
                while not stop.is_set():
                    place(srv, cust, [{"product_id": products[0]["id"], "quantity": 1}])

            threads = [threading.Thread(target=buyer) for _ in range(3)]
            for t in threads:
                t.start()
            try:
                time.sleep(0.3)
                for _ in range(3):
                    rc, out, err = cli("verify", data_dir=srv.data_dir)
                    self.assertEqual(rc, 0, out + err)
            finally:
                stop.set()
                for t in threads:
                    t.join()
        finally:
            srv.close()


if __name__ == "__main__":
    main()
