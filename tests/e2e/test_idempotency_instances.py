"""Idempotency-Key across instances: two serviceflow processes on one PostgreSQL database
(docs/scale-out.md). The same POST /api/v1/orders with one key, sent to both at once (a client's
retry the balancer gave to the other instance while the first still ran), places one order and
moves money once, and both get the same answer; the key with another body is refused (422) by
either instance.

PostgreSQL is a real server of the test's own (scripts/with-postgres.sh): run alone, the file
starts one around itself; ctest runs it as pg.idempotency_instances."""
import os, shutil, sys, tempfile, threading, time, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.environ.get("SF_TEST_PG_URL"):
    script = os.path.join(HERE, "..", "..", "scripts", "with-postgres.sh")
    os.execvp("bash", ["bash", script, sys.executable, os.path.abspath(__file__), *sys.argv[1:]])
os.environ["SF_E2E_BACKEND"] = "postgres"  # sfharness gives each data dir a database on that server

import sfharness
from sfharness import Server, assert_problem, database_env, main, register, req
from test_orders import FAST, OK, setup_shop
from test_payments_http import FakePay

KEYS = 24  # keys in a row, each sent to both instances at once
KEY_FILES = ("jwt.key", "seal.keys", "webhook.key")


def second_instance(first, args):
    """Another instance on first's database, with first's keys (tokens and sealed answers are
    shared), in a data dir of its own."""
    data_dir = tempfile.mkdtemp(prefix="sf-e2e-b-")
    for name in KEY_FILES:
        src = os.path.join(first.data_dir, name)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(data_dir, name))
    url = database_env(first.data_dir)["SERVICEFLOW_DATABASE_URL"]
    sfharness._pg_databases[os.path.realpath(data_dir)] = url
    return Server(args, data_dir=data_dir)


class IdempotencyAcrossInstances(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pay = FakePay()
        # the provider's production timeout and breaker: on a loaded CI machine fakepay may take
        # longer than the payment tests' 500 ms, and an open breaker would cancel orders before
        # they reach the provider, which is not what this test is about
        args = FAST + ["--payment-provider", "http", "--payment-url", "http://127.0.0.1:%d" % cls.pay.port]
        cls.a = Server(args)
        cls.staff, cls.products = setup_shop(cls.a, stock=1000)
        cls.cust = register(cls.a)["access_token"]
        cls.b = second_instance(cls.a, args)

    @classmethod
    def tearDownClass(cls):
        for s in (cls.b, cls.a):
            s.close()
        cls.pay.stop()

    def body(self, qty=1):
        return {"items": [{"product_id": self.products[0]["id"], "quantity": qty}],
                "payment": {"card_number": OK}}

    def both_at_once(self, key, body):
        """The same request to both instances, released together; their answers."""
        start = threading.Barrier(2)
        out = [None, None]

        def send(i, srv):
            start.wait()
            out[i] = req(srv, "POST", "/api/v1/orders", body, token=self.cust, headers={"Idempotency-Key": key})

        threads = [threading.Thread(target=send, args=(i, s)) for i, s in enumerate((self.a, self.b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return out

    def authorize_keys(self):
        keys = self.pay.stats()["keys"]
        return sorted(k for k, v in keys.items() if v["endpoint"] == "authorize")

    def test_one_order_per_key_on_two_instances(self):
        run = "k%d" % time.time_ns()
        orders = []
        for i in range(KEYS):
            key = "%s-%d" % (run, i)
            (sa, ha, ba), (sb, hb, bb) = self.both_at_once(key, self.body())
            self.assertEqual((sa, sb), (201, 201), (ba, bb))
            self.assertEqual(ba, bb, key)
            self.assertEqual(ha.get("location"), hb.get("location"))
            self.assertTrue(ha.get("location", "").endswith("/orders/" + ba["id"]), ha)
            # one of them ran the command, the other answered with what it stored
            replayed = [h.get("idempotent-replayed") for h in (ha, hb)]
            self.assertEqual(sorted(replayed, key=str), [None, "true"], (key, replayed))
            orders.append(ba["id"])
            # the same key with another body: refused by either instance, nothing placed
            for srv in (self.a, self.b):
                st, h, b = req(srv, "POST", "/api/v1/orders", self.body(qty=2), token=self.cust,
                               headers={"Idempotency-Key": key})
                assert_problem(self, st, h, b, 422, code="idempotency-mismatch")
        self.assertEqual(len(set(orders)), KEYS)

        # exactly one order per key in the shared database, whichever instance lists them
        for srv in (self.a, self.b):
            st, _, mine = req(srv, "GET", "/api/v1/orders?limit=200", token=self.cust)
            self.assertEqual(st, 200, mine)
            self.assertEqual(sorted(o["id"] for o in mine["data"]), sorted(orders))

        # and one payment authorization per order at the provider, no other
        want = sorted(o + ":authorize" for o in orders)
        deadline = time.time() + 30
        while time.time() < deadline and self.authorize_keys() != want:
            time.sleep(0.2)
        self.assertEqual(self.authorize_keys(), want)
        auths = self.pay.stats()["auths"]
        self.assertEqual(len(auths), KEYS, auths)
        price = self.products[0]["price"]
        self.assertEqual(sorted(a["amount"] for a in auths.values()), [price] * KEYS)

        # a later retry on either instance is the same replay
        st, h, b = req(self.b, "POST", "/api/v1/orders", self.body(), token=self.cust,
                       headers={"Idempotency-Key": "%s-0" % run})
        self.assertEqual((st, b["id"], h.get("idempotent-replayed")), (201, orders[0], "true"))


if __name__ == "__main__":
    main()
