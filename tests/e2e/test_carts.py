"""Carts over HTTP: guest carts and their token, lines with a price snapshot,
bad input on every route (problem+json, nothing changed), the claim/merge of a
guest cart on login and registration, and checkout into a paid order."""
import time, unittest
from sfharness import Server, req, register, login, make_user, assert_problem, main

OK, DECLINED = "4242424242424242", "4000000000000002"
FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]


def new_product(srv, staff, price, currency="EUR", status="active", stock=50):
    st, _, p = req(srv, "POST", "/api/v1/products",
                   {"sku": "C-%d" % time.time_ns(), "name": "Cart item %d" % price, "price": price,
                    "currency": currency, "status": status}, token=staff)
    assert st == 201, p
    if stock:
        st, _, s = req(srv, "POST", "/api/v1/inventory/%s/adjustments" % p["id"],
                       {"delta": stock, "reason": "initial"}, token=staff)
        assert st == 200, s
    return p


class Carts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(FAST)
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.a = new_product(cls.srv, cls.staff, 1000)
        cls.b = new_product(cls.srv, cls.staff, 250)
        cls.usd = new_product(cls.srv, cls.staff, 900, currency="USD")
        cls.draft = new_product(cls.srv, cls.staff, 100, status="draft", stock=0)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    # helpers
    def guest_cart(self):
        st, h, c = req(self.srv, "POST", "/api/v1/carts", {})
        self.assertEqual(st, 201, c)
        self.assertEqual(h["location"], "/api/v1/carts/" + c["id"])
        self.assertIsNone(c["owner_id"])
        self.assertTrue(c["token"].startswith(c["id"] + "."))
        return c, {"Cart-Token": c["token"]}

    def user_cart(self, token):
        st, _, c = req(self.srv, "POST", "/api/v1/carts", {}, token=token)
        self.assertIn(st, (200, 201), c)
        self.assertNotIn("token", c)
        return c

    def add(self, cid, pid, qty, token=None, headers=None, expect=(200, 201)):
        st, h, c = req(self.srv, "POST", "/api/v1/carts/%s/lines" % cid,
                       {"product_id": pid, "quantity": qty}, token=token, headers=headers)
        self.assertIn(st, expect, c)
        return c

    def get(self, cid, token=None, headers=None):
        return req(self.srv, "GET", "/api/v1/carts/" + cid, token=token, headers=headers)

    def stock(self, pid):
        return req(self.srv, "GET", "/api/v1/inventory/" + pid, token=self.staff)[2]

    def orders_of(self, token):
        return req(self.srv, "GET", "/api/v1/orders", token=token)[2]["data"]

    # tests
    def test_guest_cart_needs_its_token(self):
        c, th = self.guest_cart()
        st, h, b = self.get(c["id"])
        assert_problem(self, st, h, b, 404)
        st, h, b = self.get(c["id"], headers={"Cart-Token": c["id"] + ".wrong"})
        assert_problem(self, st, h, b, 404)
        other, _ = self.guest_cart()
        st, h, b = self.get(c["id"], headers={"Cart-Token": other["token"]})
        assert_problem(self, st, h, b, 404)
        st, h, b = self.get(c["id"], headers=th)
        self.assertEqual(st, 200, b)
        self.assertEqual((b["status"], b["items"], b["subtotal"]), ("open", [], 0))
        self.assertNotIn("token", b)
        self.assertEqual(h["etag"], '"1"')
        # someone signed in without the token cannot see it either
        cust = register(self.srv)["access_token"]
        st, h, b = self.get(c["id"], token=cust)
        assert_problem(self, st, h, b, 404)
        # and cannot add to it
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/lines" % c["id"],
                       {"product_id": self.a["id"], "quantity": 1})
        assert_problem(self, st, h, b, 404)

    def test_lines_add_update_remove(self):
        c, th = self.guest_cart()
        c1 = self.add(c["id"], self.a["id"], 2, headers=th, expect=(201,))
        self.assertEqual(c1["items"][0]["quantity"], 2)
        self.assertEqual(c1["items"][0]["unit_price"], 1000)
        self.assertEqual(c1["currency"], "EUR")
        c2 = self.add(c["id"], self.a["id"], 1, headers=th, expect=(200,))  # same product: adds
        self.assertEqual([i["quantity"] for i in c2["items"]], [3])
        c3 = self.add(c["id"], self.b["id"], 4, headers=th, expect=(201,))
        self.assertEqual(c3["subtotal"], 3 * 1000 + 4 * 250)
        self.assertEqual(c3["item_count"], 7)
        st, _, c4 = req(self.srv, "PATCH", "/api/v1/carts/%s/lines/%s" % (c["id"], self.a["id"]),
                        {"quantity": 5}, headers=th)
        self.assertEqual(st, 200, c4)
        self.assertEqual({i["product_id"]: i["quantity"] for i in c4["items"]},
                         {self.a["id"]: 5, self.b["id"]: 4})
        st, _, c5 = req(self.srv, "PATCH", "/api/v1/carts/%s/lines/%s" % (c["id"], self.b["id"]),
                        {"quantity": 0}, headers=th)
        self.assertEqual(st, 200, c5)
        self.assertEqual([i["product_id"] for i in c5["items"]], [self.a["id"]])
        st, _, c6 = req(self.srv, "DELETE", "/api/v1/carts/%s/lines/%s" % (c["id"], self.a["id"]),
                        headers=th)
        self.assertEqual(st, 200, c6)
        self.assertEqual((c6["items"], c6["currency"], c6["version"]), ([], None, 7))
        # an emptied cart takes another currency
        c7 = self.add(c["id"], self.usd["id"], 1, headers=th)
        self.assertEqual(c7["currency"], "USD")

    def test_bad_input_changes_nothing(self):
        cust = register(self.srv)["access_token"]
        c = self.user_cart(cust)
        self.add(c["id"], self.a["id"], 1, token=cust)
        st, h, before = self.get(c["id"], token=cust)
        path = "/api/v1/carts/%s/lines" % c["id"]
        line = "/api/v1/carts/%s/lines/%s" % (c["id"], self.a["id"])
        cases = [
            ("POST", path, {"product_id": self.a["id"], "quantity": 0}, None, 422, "quantity"),
            ("POST", path, {"product_id": self.a["id"], "quantity": 1001}, None, 422, "quantity"),
            ("POST", path, {"product_id": self.a["id"], "quantity": "2"}, None, 422, "quantity"),
            ("POST", path, {"product_id": self.a["id"]}, None, 422, "quantity"),
            ("POST", path, {"product_id": self.a["id"], "quantity": 1, "x": 1}, None, 422, "x"),
            ("POST", path, {"product_id": "prd_nope", "quantity": 1}, None, 422, "product_id"),
            ("POST", path, {"product_id": self.draft["id"], "quantity": 1}, None, 422, "product_id"),
            ("POST", path, {"product_id": self.usd["id"], "quantity": 1}, None, 422, "product_id"),
            ("POST", path, {"product_id": self.a["id"], "quantity": 1000}, None, 422, "quantity"),
            ("PATCH", line, {"quantity": -1}, None, 422, "quantity"),
            ("PATCH", line, {}, None, 422, "quantity"),
            ("PATCH", "/api/v1/carts/%s/lines/%s" % (c["id"], self.b["id"]), {"quantity": 2}, None, 404, None),
            ("DELETE", "/api/v1/carts/%s/lines/%s" % (c["id"], self.b["id"]), None, None, 404, None),
            ("PATCH", line, {"quantity": 3}, {"If-Match": '"1"'}, 412, None),
            ("PATCH", line, {"quantity": 3}, {"If-Match": 'nonsense'}, 400, None),
            ("POST", "/api/v1/carts/crt_missing/lines", {"product_id": self.a["id"], "quantity": 1}, None, 404, None),
            ("POST", "/api/v1/carts", {"owner": "x"}, None, 422, "owner"),
        ]
        for m, p, body, hdr, status, field in cases:
            with self.subTest(m=m, p=p, body=body, hdr=hdr):
                st, h, b = req(self.srv, m, p, body, token=cust, headers=hdr)
                assert_problem(self, st, h, b, status, field=field)
        st, h, b = req(self.srv, "POST", path, raw=b"{not json", token=cust,
                       headers={"Content-Type": "application/json"})
        assert_problem(self, st, h, b, 400)
        st, h, after = self.get(c["id"], token=cust)
        self.assertEqual(after, before)

    def test_signed_in_customer_has_one_open_cart(self):
        cust = register(self.srv)["access_token"]
        st, _, c1 = req(self.srv, "POST", "/api/v1/carts", token=cust)
        self.assertEqual(st, 201, c1)
        st, _, c2 = req(self.srv, "POST", "/api/v1/carts", {}, token=cust)
        self.assertEqual((st, c2["id"]), (200, c1["id"]))
        self.assertIsNotNone(c2["owner_id"])

    def test_price_snapshot_and_price_change_at_checkout(self):
        p = new_product(self.srv, self.staff, 700)
        cust = register(self.srv)["access_token"]
        c = self.user_cart(cust)
        self.add(c["id"], p["id"], 2, token=cust)
        st, _, cur = req(self.srv, "GET", "/api/v1/products/" + p["id"])
        st, _, upd = req(self.srv, "PATCH", "/api/v1/products/" + p["id"], {"price": 800}, token=self.staff,
                         headers={"If-Match": '"%d"' % cur["version"]})
        self.assertEqual(st, 200, upd)
        st, _, view = self.get(c["id"], token=cust)
        item = view["items"][0]
        self.assertEqual((item["unit_price"], item["current_price"], item["price_changed"]), (700, 800, True))
        self.assertTrue(view["needs_review"])
        stock_before = self.stock(p["id"])
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"],
                       {"payment": {"card_number": OK}}, token=cust)
        assert_problem(self, st, h, b, 409, code="price-changed")
        self.assertIn("700", b["errors"][0]["message"])
        self.assertEqual(self.stock(p["id"]), stock_before)
        self.assertEqual(self.orders_of(cust), [])
        self.assertEqual(self.get(c["id"], token=cust)[2]["status"], "open")
        # setting the line again takes the new price; checkout then charges it
        st, _, c2 = req(self.srv, "PATCH", "/api/v1/carts/%s/lines/%s" % (c["id"], p["id"]),
                        {"quantity": 2}, token=cust)
        self.assertEqual((c2["items"][0]["unit_price"], c2["needs_review"]), (800, False))
        st, _, o = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"],
                       {"payment": {"card_number": OK}}, token=cust, headers={"Prefer": "wait=10"})
        self.assertEqual(st, 201, o)
        self.assertEqual((o["status"], o["total"]), ("paid", 1600))

    def test_checkout_places_order_and_closes_cart(self):
        cust = register(self.srv)["access_token"]
        c = self.user_cart(cust)
        self.add(c["id"], self.a["id"], 2, token=cust)
        self.add(c["id"], self.b["id"], 1, token=cust)
        a0, b0 = self.stock(self.a["id"]), self.stock(self.b["id"])
        key = "co-%d" % time.time_ns()
        hdr = {"Prefer": "wait=10", "Idempotency-Key": key}
        body = {"payment": {"card_number": OK}}
        st, h, o = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"], body, token=cust, headers=hdr)
        self.assertEqual(st, 201, o)
        self.assertEqual((o["status"], o["total"]), ("paid", 2 * 1000 + 250))
        self.assertEqual(sorted((l["product_id"], l["quantity"], l["unit_price"]) for l in o["items"]),
                         sorted([(self.a["id"], 2, 1000), (self.b["id"], 1, 250)]))
        self.assertEqual(self.stock(self.a["id"])["on_hand"], a0["on_hand"] - 2)
        self.assertEqual(self.stock(self.b["id"])["on_hand"], b0["on_hand"] - 1)
        st, _, view = self.get(c["id"], token=cust)
        self.assertEqual((view["status"], view["order_id"]), ("checked_out", o["id"]))
        # the same key replays the same order
        st, _, again = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"], body, token=cust, headers=hdr)
        self.assertEqual((st, again["id"]), (201, o["id"]))
        # a second checkout, or a change, is refused: the cart is closed
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"], body, token=cust)
        assert_problem(self, st, h, b, 409, code="cart-closed")
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/lines" % c["id"],
                       {"product_id": self.a["id"], "quantity": 1}, token=cust)
        assert_problem(self, st, h, b, 409, code="cart-closed")
        self.assertEqual(len(self.orders_of(cust)), 1)
        # a new cart can be started
        self.assertNotEqual(self.user_cart(cust)["id"], c["id"])

    def test_orders_from_cart_id_and_bad_checkouts(self):
        cust = register(self.srv)["access_token"]
        other = register(self.srv)["access_token"]
        c = self.user_cart(cust)
        pay = {"card_number": OK}
        st, h, b = req(self.srv, "POST", "/api/v1/orders", {"cart_id": c["id"], "payment": pay}, token=cust)
        assert_problem(self, st, h, b, 422, field="cart_id")  # empty cart
        self.add(c["id"], self.a["id"], 1, token=cust)
        st, h, b = req(self.srv, "POST", "/api/v1/orders",
                       {"cart_id": c["id"], "items": [{"product_id": self.a["id"], "quantity": 1}],
                        "payment": pay}, token=cust)
        assert_problem(self, st, h, b, 422, field="items")
        st, h, b = req(self.srv, "POST", "/api/v1/orders", {"payment": pay}, token=cust)
        assert_problem(self, st, h, b, 422, field="items")
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"], {"payment": pay}, token=other)
        assert_problem(self, st, h, b, 404)
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"], {"payment": pay})
        assert_problem(self, st, h, b, 401)
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"],
                       {"payment": {"card_number": "1234"}}, token=cust)
        assert_problem(self, st, h, b, 422, field="payment.card_number")
        st, h, b = req(self.srv, "POST", "/api/v1/carts/%s/checkout" % c["id"],
                       {"payment": pay, "items": []}, token=cust)
        assert_problem(self, st, h, b, 422, field="items")
        self.assertEqual(self.orders_of(cust), [])
        self.assertEqual(self.get(c["id"], token=cust)[2]["status"], "open")
        st, _, o = req(self.srv, "POST", "/api/v1/orders", {"cart_id": c["id"], "payment": {"card_number": DECLINED}},
                       token=cust, headers={"Prefer": "wait=10"})
        self.assertEqual(st, 201, o)
        self.assertEqual((o["status"], o["failure_reason"]), ("cancelled", "payment_declined"))
        self.assertEqual(self.get(c["id"], token=cust)[2]["order_id"], o["id"])

    def test_guest_cart_becomes_users_on_register(self):
        c, th = self.guest_cart()
        self.add(c["id"], self.a["id"], 2, headers=th)
        st, _, reg = req(self.srv, "POST", "/api/v1/auth/register",
                         {"email": "g%d@example.com" % time.time_ns(), "password": "correct horse 1"}, headers=th)
        self.assertEqual(st, 201, reg)
        self.assertEqual(reg["cart_id"], c["id"])
        tok = reg["access_token"]
        st, _, view = self.get(c["id"], token=tok)
        self.assertEqual(st, 200, view)
        self.assertIsNotNone(view["owner_id"])
        self.assertEqual([i["quantity"] for i in view["items"]], [2])
        # the token no longer opens it: the cart is the user's now
        st, h, b = self.get(c["id"], headers=th)
        assert_problem(self, st, h, b, 404)
        self.assertEqual(self.user_cart(tok)["id"], c["id"])

    def test_guest_cart_merges_into_users_cart_on_login(self):
        u = register(self.srv)
        email = req(self.srv, "GET", "/api/v1/users/me", token=u["access_token"])[2]["email"]
        mine = self.user_cart(u["access_token"])
        self.add(mine["id"], self.a["id"], 1, token=u["access_token"])
        g, th = self.guest_cart()
        self.add(g["id"], self.a["id"], 2, headers=th)
        self.add(g["id"], self.b["id"], 3, headers=th)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/login", {"email": email, "password": u["password"]},
                       headers=th)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["cart_id"], mine["id"])
        st, _, view = self.get(mine["id"], token=b["access_token"])
        self.assertEqual({i["product_id"]: i["quantity"] for i in view["items"]},
                         {self.a["id"]: 3, self.b["id"]: 3})
        st, _, gv = self.get(g["id"], headers=th)
        self.assertEqual((gv["status"], gv["merged_into"]), ("merged", mine["id"]))
        st, h, e = req(self.srv, "POST", "/api/v1/carts/%s/lines" % g["id"],
                       {"product_id": self.a["id"], "quantity": 1}, headers=th)
        assert_problem(self, st, h, e, 409, code="cart-closed")
        # logging in again with the spent token claims nothing and still works
        st, _, b2 = req(self.srv, "POST", "/api/v1/auth/login", {"email": email, "password": u["password"]},
                        headers=th)
        self.assertEqual(st, 200, b2)
        self.assertNotIn("cart_id", b2)
        st, _, b3 = req(self.srv, "POST", "/api/v1/auth/login", {"email": email, "password": u["password"]},
                        headers={"Cart-Token": "garbage"})
        self.assertEqual(st, 200, b3)
        self.assertNotIn("cart_id", b3)

    def test_wrong_password_with_cart_token_claims_nothing(self):
        u = register(self.srv)
        email = req(self.srv, "GET", "/api/v1/users/me", token=u["access_token"])[2]["email"]
        g, th = self.guest_cart()
        self.add(g["id"], self.a["id"], 1, headers=th)
        st, h, b = req(self.srv, "POST", "/api/v1/auth/login", {"email": email, "password": "wrong password 9"},
                       headers=th)
        assert_problem(self, st, h, b, 401)
        st, _, gv = self.get(g["id"], headers=th)
        self.assertEqual((st, gv["owner_id"], gv["status"]), (200, None, "open"))

    def test_openapi_lists_cart_routes(self):
        st, _, spec = req(self.srv, "GET", "/api/v1/openapi.json")
        self.assertEqual(st, 200)
        for p in ("/api/v1/carts", "/api/v1/carts/{id}", "/api/v1/carts/{id}/lines",
                  "/api/v1/carts/{id}/lines/{product_id}", "/api/v1/carts/{id}/checkout"):
            self.assertIn(p, spec["paths"])
        self.assertIn("Cart", spec["components"]["schemas"])


if __name__ == "__main__":
    main()
