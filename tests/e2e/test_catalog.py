"""Catalog and inventory over HTTP: products (If-Match, search, filters,
pagination, visibility), categories, the product cache, stock adjustments,
reservations with TTL expiry, and the oversell race."""
import json, threading, time, unittest
from sfharness import (Server, cli, req, register, make_user, assert_problem, main)


def metric(srv, name, labels=""):
    st, _, body = req(srv, "GET", "/metrics")
    for line in body.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    return None


class Catalog(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.customer = register(cls.srv)["access_token"]
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def sku(self):
        Catalog.n += 1
        return "SKU-%d-%d" % (int(time.time() * 1000) % 100000, Catalog.n)

    def product(self, **kw):
        body = {"sku": self.sku(), "name": "Thing", "price": 1000, "currency": "EUR", "status": "active"}
        body.update(kw)
        st, h, b = req(self.srv, "POST", "/api/v1/products", body, token=self.staff)
        self.assertEqual(st, 201, b)
        return b

    def stock(self, pid, delta, reason="test"):
        st, _, b = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid,
                       {"delta": delta, "reason": reason}, token=self.staff)
        self.assertEqual(st, 200, b)
        return b

    # ---- catalog ----

    def test_create_get_and_conflicts(self):
        sku = self.sku()
        body = {"sku": sku, "name": "Grinder", "description": "steel burrs", "price": 6900,
                "currency": "EUR", "attributes": {"color": "black", "weight_g": 600}}
        st, h, b = req(self.srv, "POST", "/api/v1/products", body, token=self.staff)
        self.assertEqual(st, 201, b)
        self.assertTrue(b["id"].startswith("prd_"))
        self.assertEqual(b["status"], "draft")
        self.assertEqual(b["attributes"], {"color": "black", "weight_g": 600})
        self.assertEqual(h["location"], "/api/v1/products/" + b["id"])
        self.assertEqual(h["etag"], '"1"')
        # drafts are hidden from the public and from customers, visible to staff
        st, _, p = req(self.srv, "GET", "/api/v1/products/" + b["id"])
        assert_problem(self, st, _, p, 404)
        st, _, p = req(self.srv, "GET", "/api/v1/products/" + b["id"], token=self.customer)
        self.assertEqual(st, 404)
        st, _, p = req(self.srv, "GET", "/api/v1/products/" + b["id"], token=self.staff)
        self.assertEqual(st, 200)
        self.assertEqual(p["sku"], sku)
        # duplicate sku
        st, h, p = req(self.srv, "POST", "/api/v1/products", body, token=self.staff)
        assert_problem(self, st, h, p, 409)
        # a bad token is refused even where a token is optional
        st, h, p = req(self.srv, "GET", "/api/v1/products/" + b["id"], token="nope")
        assert_problem(self, st, h, p, 401)

    def test_writes_need_catalog_permission(self):
        body = {"sku": self.sku(), "name": "x", "price": 1, "currency": "EUR"}
        st, h, b = req(self.srv, "POST", "/api/v1/products", body)
        assert_problem(self, st, h, b, 401)
        st, h, b = req(self.srv, "POST", "/api/v1/products", body, token=self.customer)
        assert_problem(self, st, h, b, 403)
        p = self.product()
        st, h, b = req(self.srv, "PATCH", "/api/v1/products/" + p["id"], {"price": 1}, token=self.customer)
        assert_problem(self, st, h, b, 403)
        st, h, b = req(self.srv, "POST", "/api/v1/categories", {"name": "x"}, token=self.customer)
        assert_problem(self, st, h, b, 403)

    def test_bad_input_changes_nothing(self):
        st0, _, before = req(self.srv, "GET", "/api/v1/products?status=draft&limit=200", token=self.staff)
        cases = [
            ({"name": "x", "price": 1, "currency": "EUR"}, "sku"),
            ({"sku": "a b", "name": "x", "price": 1, "currency": "EUR"}, "sku"),
            ({"sku": self.sku(), "name": "x", "price": -1, "currency": "EUR"}, "price"),
            ({"sku": self.sku(), "name": "x", "price": "10", "currency": "EUR"}, "price"),
            ({"sku": self.sku(), "name": "x", "price": 1, "currency": "eur"}, "currency"),
            ({"sku": self.sku(), "name": "x", "price": 1, "currency": "EUR", "status": "sold"}, "status"),
            ({"sku": self.sku(), "name": "x", "price": 1, "currency": "EUR", "attributes": [1]}, "attributes"),
            ({"sku": self.sku(), "name": "x", "price": 1, "currency": "EUR", "colour": "red"}, "colour"),
            ({"sku": self.sku(), "name": "x", "price": 1, "currency": "EUR", "category_id": "cat_nope"}, "category_id"),
            ({"sku": self.sku(), "name": "", "price": 1, "currency": "EUR"}, "name"),
        ]
        for body, field in cases:
            st, h, b = req(self.srv, "POST", "/api/v1/products", body, token=self.staff)
            assert_problem(self, st, h, b, 422, field=field)
        st, h, b = req(self.srv, "POST", "/api/v1/products", raw=b"{oops", token=self.staff,
                       headers={"Content-Type": "application/json"})
        assert_problem(self, st, h, b, 400)
        st, h, b = req(self.srv, "POST", "/api/v1/products",
                       {"sku": self.sku(), "name": "x", "price": 1, "currency": "EUR",
                        "attributes": {"blob": "x" * 9000}}, token=self.staff)
        assert_problem(self, st, h, b, 422, field="attributes")
        _, _, after = req(self.srv, "GET", "/api/v1/products?status=draft&limit=200", token=self.staff)
        self.assertEqual(len(before["data"]), len(after["data"]))
        for q in ("limit=0", "limit=201", "limit=x", "min_price=-1", "cursor=abc", "status=sold", "q=%20%20"):
            st, h, b = req(self.srv, "GET", "/api/v1/products?" + q)
            assert_problem(self, st, h, b, 422)
        st, h, b = req(self.srv, "GET", "/api/v1/products?status=draft")
        assert_problem(self, st, h, b, 403)

    def test_patch_if_match_and_events(self):
        p = self.product(name="Old name")
        pid = p["id"]
        st, h, b = req(self.srv, "PATCH", "/api/v1/products/" + pid, {"name": "New name", "price": 1500},
                       token=self.staff, headers={"If-Match": '"1"'})
        self.assertEqual(st, 200, b)
        self.assertEqual((b["name"], b["price"], b["version"]), ("New name", 1500, 2))
        self.assertEqual(h["etag"], '"2"')
        st, h, b = req(self.srv, "PATCH", "/api/v1/products/" + pid, {"name": "Stale"},
                       token=self.staff, headers={"If-Match": '"1"'})
        assert_problem(self, st, h, b, 412)
        st, h, b = req(self.srv, "PATCH", "/api/v1/products/" + pid, {"name": "x"},
                       token=self.staff, headers={"If-Match": 'nope'})
        assert_problem(self, st, h, b, 400)
        st, h, b = req(self.srv, "PATCH", "/api/v1/products/prd_nope", {"name": "x"}, token=self.staff)
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "PATCH", "/api/v1/products/" + pid, {"category_id": 5}, token=self.staff)
        assert_problem(self, st, h, b, 422, field="category_id")
        # a no-op patch changes nothing
        st, h, b = req(self.srv, "PATCH", "/api/v1/products/" + pid, {"name": "New name"}, token=self.staff)
        self.assertEqual(b["version"], 2)
        st, _, b = req(self.srv, "GET", "/api/v1/products/" + pid)
        self.assertEqual((b["name"], b["version"]), ("New name", 2))

    def test_cache_hits_and_invalidation(self):
        p = self.product(name="Cached thing")
        pid = p["id"]
        one = self.srv.instances[0]  # the cache is a process's: count one (of several, tests/pg/e2e.sh)
        hits0 = metric(one, "sf_cache_requests_total", '{cache="products",result="hit"}') or 0
        for _ in range(5):
            st, _, b = req(one, "GET", "/api/v1/products/" + pid)
            self.assertEqual(b["name"], "Cached thing")
        hits1 = metric(one, "sf_cache_requests_total", '{cache="products",result="hit"}')
        self.assertGreaterEqual(hits1 - hits0, 4)
        self.assertIsNotNone(metric(self.srv, "sf_cache_hit_ratio", '{cache="products"}'))
        st, _, b = req(self.srv, "PATCH", "/api/v1/products/" + pid, {"name": "Renamed"}, token=self.staff)
        self.assertEqual(st, 200)
        st, h, b = req(self.srv, "GET", "/api/v1/products/" + pid)  # never the stale copy
        self.assertEqual((b["name"], h["etag"]), ("Renamed", '"2"'))
        # archiving hides it from the public at once
        req(self.srv, "PATCH", "/api/v1/products/" + pid, {"status": "archived"}, token=self.staff)
        st, _, b = req(self.srv, "GET", "/api/v1/products/" + pid)
        self.assertEqual(st, 404)

    def test_search_filters_and_pagination(self):
        st, _, cat = req(self.srv, "POST", "/api/v1/categories", {"name": "Teas %d" % time.time_ns()},
                         token=self.staff)
        self.assertEqual(st, 201, cat)
        st, h, b = req(self.srv, "POST", "/api/v1/categories", {"name": cat["name"]}, token=self.staff)
        assert_problem(self, st, h, b, 409)
        word = "zqx%d" % (time.time_ns() % 10**9)
        made = [self.product(name="%s green tea %d" % (word, i), price=100 * (i + 1),
                             category_id=cat["id"]) for i in range(7)]
        self.product(name="%s hidden draft" % word, status="draft")
        st, _, b = req(self.srv, "GET", "/api/v1/products?q=" + word + "&limit=3")
        self.assertEqual(st, 200, b)
        seen = [p["id"] for p in b["data"]]
        while b["next_cursor"]:
            st, _, b = req(self.srv, "GET", "/api/v1/products?q=%s&limit=3&cursor=%s" % (word, b["next_cursor"]))
            seen += [p["id"] for p in b["data"]]
        self.assertEqual(seen, [p["id"] for p in reversed(made)])  # newest first, no draft, no dupes
        st, _, b = req(self.srv, "GET", "/api/v1/products?q=%s&limit=200" % word, token=self.staff)
        self.assertEqual(len(b["data"]), 8)  # staff see the draft too
        st, _, b = req(self.srv, "GET", "/api/v1/products?q=%s&min_price=200&max_price=400" % word)
        self.assertEqual(sorted(p["price"] for p in b["data"]), [200, 300, 400])
        st, _, b = req(self.srv, "GET", "/api/v1/products?category_id=%s&limit=200" % cat["id"])
        self.assertEqual(len(b["data"]), 7)
        st, _, b = req(self.srv, "GET", "/api/v1/products?q=" + word[:4])  # prefix match
        self.assertEqual(len(b["data"]), 7)
        # FTS syntax in user input is not an error
        st, _, b = req(self.srv, "GET", '/api/v1/products?q=%22AND%20OR%20NEAR(%2A')
        self.assertEqual(st, 200, b)
        st, _, cats = req(self.srv, "GET", "/api/v1/categories")
        self.assertIn(cat["id"], [c["id"] for c in cats["data"]])
        st, _, c = req(self.srv, "GET", "/api/v1/categories/" + cat["id"])
        self.assertEqual(c["name"], cat["name"])

    # ---- inventory ----

    def test_stock_adjustments(self):
        p = self.product()
        pid = p["id"]
        st, _, s = req(self.srv, "GET", "/api/v1/inventory/" + pid, token=self.customer)
        self.assertEqual((s["on_hand"], s["reserved"], s["available"]), (0, 0, 0))
        s = self.stock(pid, 10, "delivery")
        self.assertEqual((s["on_hand"], s["available"]), (10, 10))
        st, h, b = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid,
                       {"delta": -11, "reason": "count"}, token=self.staff)
        assert_problem(self, st, h, b, 409, code="insufficient-stock")
        for body, field in (({"delta": 0, "reason": "x"}, "delta"), ({"delta": 1}, "reason"),
                            ({"delta": 1.5, "reason": "x"}, "delta")):
            st, h, b = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid, body, token=self.staff)
            assert_problem(self, st, h, b, 422, field=field)
        st, h, b = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid,
                       {"delta": 1, "reason": "x"}, token=self.customer)
        assert_problem(self, st, h, b, 403)
        st, h, b = req(self.srv, "POST", "/api/v1/inventory/prd_nope/adjustments",
                       {"delta": 1, "reason": "x"}, token=self.staff)
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % pid,
                       {"delta": 1, "reason": "x"}, token=self.staff, headers={"If-Match": '"7"'})
        assert_problem(self, st, h, b, 412)
        st, _, s = req(self.srv, "GET", "/api/v1/inventory/" + pid, token=self.staff)
        self.assertEqual(s["on_hand"], 10)

    def test_stock_of_a_draft_is_hidden_from_customers(self):
        d = self.product(status="draft")
        st, h, b = req(self.srv, "GET", "/api/v1/inventory/" + d["id"], token=self.customer)
        assert_problem(self, st, h, b, 404)
        st, _, s = req(self.srv, "GET", "/api/v1/inventory/" + d["id"], token=self.staff)
        self.assertEqual((st, s["on_hand"]), (200, 0))

    def test_reservations_and_release(self):
        a, b_ = self.product(), self.product()
        self.stock(a["id"], 5)
        self.stock(b_["id"], 2)
        items = [{"product_id": a["id"], "quantity": 3}, {"product_id": b_["id"], "quantity": 2}]
        st, h, r = req(self.srv, "POST", "/api/v1/reservations", {"items": items}, token=self.customer)
        self.assertEqual(st, 201, r)
        self.assertEqual(r["status"], "active")
        _, _, s = req(self.srv, "GET", "/api/v1/inventory/" + a["id"], token=self.staff)
        self.assertEqual((s["reserved"], s["available"]), (3, 2))
        # all or nothing: b is exhausted, so a is not reserved either
        st, h, e = req(self.srv, "POST", "/api/v1/reservations",
                       {"items": [{"product_id": a["id"], "quantity": 1},
                                  {"product_id": b_["id"], "quantity": 1}]}, token=self.customer)
        assert_problem(self, st, h, e, 409, field="items[1].quantity", code="insufficient-stock")
        _, _, s = req(self.srv, "GET", "/api/v1/inventory/" + a["id"], token=self.staff)
        self.assertEqual(s["reserved"], 3)
        # stock under reservation cannot be adjusted away
        st, h, e = req(self.srv, "POST", "/api/v1/inventory/%s/adjustments" % a["id"],
                       {"delta": -3, "reason": "x"}, token=self.staff)
        assert_problem(self, st, h, e, 409)
        # others cannot see or release it
        other = register(self.srv)["access_token"]
        st, h, e = req(self.srv, "GET", "/api/v1/reservations/" + r["id"], token=other)
        assert_problem(self, st, h, e, 404)
        st, h, e = req(self.srv, "DELETE", "/api/v1/reservations/" + r["id"], token=other)
        assert_problem(self, st, h, e, 404)
        st, _, g = req(self.srv, "GET", "/api/v1/reservations/" + r["id"], token=self.customer)
        self.assertEqual(g["items"], items)
        st, _, d = req(self.srv, "DELETE", "/api/v1/reservations/" + r["id"], token=self.customer)
        self.assertEqual((st, d["status"]), (200, "released"))
        st, h, e = req(self.srv, "DELETE", "/api/v1/reservations/" + r["id"], token=self.customer)
        assert_problem(self, st, h, e, 409)
        _, _, s = req(self.srv, "GET", "/api/v1/inventory/" + a["id"], token=self.staff)
        self.assertEqual((s["reserved"], s["available"]), (0, 5))

    def test_reservation_bad_input(self):
        p = self.product(status="draft")
        self.stock(p["id"], 5)
        cases = [
            ({}, "items"),
            ({"items": []}, "items"),
            ({"items": [{"product_id": p["id"]}]}, "items[0]"),
            ({"items": [{"product_id": p["id"], "quantity": 0}]}, "items[0].quantity"),
            ({"items": [{"product_id": p["id"], "quantity": 1, "x": 1}]}, "items[0]"),
            ({"items": [{"product_id": p["id"], "quantity": 1}], "ttl_seconds": 0}, "ttl_seconds"),
            ({"items": [{"product_id": p["id"], "quantity": 1}] * 2}, "items[1].product_id"),
            ({"items": [{"product_id": p["id"], "quantity": 1}]}, "items[0].product_id"),  # draft
            ({"items": [{"product_id": "prd_nope", "quantity": 1}]}, "items[0].product_id"),
        ]
        for body, field in cases:
            st, h, b = req(self.srv, "POST", "/api/v1/reservations", body, token=self.customer)
            assert_problem(self, st, h, b, 422, field=field)
        st, h, b = req(self.srv, "POST", "/api/v1/reservations", {"items": [{"product_id": p["id"], "quantity": 1}]})
        assert_problem(self, st, h, b, 401)
        _, _, s = req(self.srv, "GET", "/api/v1/inventory/" + p["id"], token=self.staff)
        self.assertEqual(s["reserved"], 0)

    def test_reservation_expires_by_durable_timer(self):
        p = self.product()
        self.stock(p["id"], 4)
        st, _, r = req(self.srv, "POST", "/api/v1/reservations",
                       {"items": [{"product_id": p["id"], "quantity": 4}], "ttl_seconds": 1},
                       token=self.customer)
        self.assertEqual(st, 201, r)
        deadline = time.time() + 5
        while time.time() < deadline:
            _, _, g = req(self.srv, "GET", "/api/v1/reservations/" + r["id"], token=self.customer)
            if g["status"] != "active":
                break
            time.sleep(0.1)
        self.assertEqual(g["status"], "expired")
        _, _, s = req(self.srv, "GET", "/api/v1/inventory/" + p["id"], token=self.staff)
        self.assertEqual(s["available"], 4)

    def test_oversell_race(self):
        """250 concurrent buyers of the last 7 units: exactly 7 succeed."""
        p = self.product()
        self.stock(p["id"], 7)
        buyers = [register(self.srv)["access_token"] for _ in range(25)]
        results, lock = [], threading.Lock()
        start = threading.Barrier(250)

        def buy(i):
            start.wait()
            st, _, b = req(self.srv, "POST", "/api/v1/reservations",
                           {"items": [{"product_id": p["id"], "quantity": 1}]}, token=buyers[i % 25])
            with lock:
                results.append(st)

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(250)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 250)
        self.assertEqual(results.count(201), 7, sorted(set(results)))
        self.assertEqual(results.count(409), 243)
        _, _, s = req(self.srv, "GET", "/api/v1/inventory/" + p["id"], token=self.staff)
        self.assertEqual((s["on_hand"], s["reserved"], s["available"]), (7, 7, 0))


class TimersSurviveRestart(unittest.TestCase):
    def test_expiry_after_restart(self):
        srv = Server()
        try:
            staff = make_user(srv, "staff")["access_token"]
            cust = register(srv)["access_token"]
            st, _, p = req(srv, "POST", "/api/v1/products", {"sku": "R-1", "name": "r", "price": 1,
                                                             "currency": "EUR", "status": "active"}, token=staff)
            req(srv, "POST", "/api/v1/inventory/%s/adjustments" % p["id"], {"delta": 2, "reason": "x"}, token=staff)
            st, _, r = req(srv, "POST", "/api/v1/reservations",
                           {"items": [{"product_id": p["id"], "quantity": 2}], "ttl_seconds": 2}, token=cust)
            self.assertEqual(st, 201)
            srv.kill9()  # the timer is only in the database now
            time.sleep(2.2)
            srv.start()
            deadline = time.time() + 5
            while time.time() < deadline:
                _, _, s = req(srv, "GET", "/api/v1/inventory/" + p["id"], token=staff)
                if s["available"] == 2:
                    break
                time.sleep(0.1)
            self.assertEqual(s["available"], 2)
            _, _, g = req(srv, "GET", "/api/v1/reservations/" + r["id"], token=cust)
            self.assertEqual(g["status"], "expired")
            rc, out, err = cli("verify", data_dir=srv.data_dir)
            self.assertEqual(rc, 0, err)
        finally:
            srv.close()


if __name__ == "__main__":
    main()
