"""Idempotency-Key records are scoped by the caller's credentials: a stored
response is replayed only to a caller presenting what the original caller
presented (the signed-in user, a guest cart's Cart-Token, or, with no
credential at all, the client address). Another guest, a caller without the
cart's token, or another user reusing the key gets no replay; the same caller
still does."""
import hashlib, http.client, json, os, unittest
from sfharness import Server, assert_problem, make_user, register, req, main, db_rows
from test_carts import FAST, new_product


def from_address(srv, source):
    """A connection from another loopback address: another client machine."""
    return http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30, source_address=(source, 0))


class IdempotencyScope(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(FAST)
        staff = make_user(cls.srv, "staff")["access_token"]
        cls.product = new_product(cls.srv, staff, 700)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_a_stored_fingerprint_gives_no_offline_guess(self):
        """A registration's body holds a password: its record must not keep a
        plain hash of it (nor the password), yet replays still match."""
        body = {"email": "fp-check@example.com", "password": "guessable password 1"}
        st, _, first = req(self.srv, "POST", "/api/v1/auth/register", body, headers={"Idempotency-Key": "fp-1"})
        self.assertEqual(st, 201, first)
        st, h, again = req(self.srv, "POST", "/api/v1/auth/register", body, headers={"Idempotency-Key": "fp-1"})
        self.assertEqual((st, h.get("idempotent-replayed")), (201, "true"))
        st, _, other = req(self.srv, "POST", "/api/v1/auth/register", dict(body, password="another password 2"),
                           headers={"Idempotency-Key": "fp-1"})
        self.assertEqual(st, 422, other)
        rows = db_rows(self.srv, "SELECT fingerprint, body FROM idempotency WHERE key = 'fp-1'")
        self.assertEqual(len(rows), 1)
        plain = hashlib.sha256(b"POST\n/api/v1/auth/register\n" + json.dumps(body).encode()).hexdigest()
        for col in rows[0]:
            self.assertNotIn(plain, col or "")
            self.assertNotIn("guessable", col or "")
        self.assertNotEqual(len(rows[0][0]), 64, "a bare SHA-256 hex fingerprint")

    def create_guest_cart(self, key, conn=None):
        return req(self.srv, "POST", "/api/v1/carts", {}, headers={"Idempotency-Key": key}, conn=conn)

    def test_second_guest_reusing_a_key_gets_its_own_cart(self):
        st, h, first = self.create_guest_cart("guest-cart-1")
        self.assertEqual(st, 201, first)
        # the same address again, no credential: it may be anyone behind that
        # address (NAT, a proxy), and the answer holds a cart's secret token,
        # so nothing is replayed: a new cart (a spare guest cart is harmless)
        st, h, again = self.create_guest_cart("guest-cart-1")
        self.assertEqual(st, 201, again)
        self.assertIsNone(h.get("idempotent-replayed"))
        self.assertNotEqual((again["id"], again["token"]), (first["id"], first["token"]))
        # another guest elsewhere with the same key: a cart of its own, no secret of the first
        conn = from_address(self.srv, "127.0.0.2")
        try:
            st, h, other = self.create_guest_cart("guest-cart-1", conn=conn)
        finally:
            conn.close()
        self.assertEqual(st, 201, other)
        self.assertIsNone(h.get("idempotent-replayed"))
        self.assertNotEqual(other["id"], first["id"])
        self.assertNotEqual(other["token"], first["token"])

    def test_a_signed_in_callers_cart_creation_is_replayed(self):
        tok = register(self.srv)["access_token"]
        st, _, first = req(self.srv, "POST", "/api/v1/carts", {}, token=tok, headers={"Idempotency-Key": "mine-1"})
        self.assertEqual(st, 201, first)
        st, h, again = req(self.srv, "POST", "/api/v1/carts", {}, token=tok, headers={"Idempotency-Key": "mine-1"})
        self.assertEqual((st, h.get("idempotent-replayed"), again["id"]), (201, "true", first["id"]))

    def test_a_replay_carries_the_created_resources_location(self):
        tok = register(self.srv)["access_token"]
        st, h, first = req(self.srv, "POST", "/api/v1/carts", {}, token=tok, headers={"Idempotency-Key": "loc-1"})
        self.assertEqual((st, h.get("location")), (201, "/api/v1/carts/" + first["id"]), first)
        st, h, again = req(self.srv, "POST", "/api/v1/carts", {}, token=tok, headers={"Idempotency-Key": "loc-1"})
        self.assertEqual((st, h.get("idempotent-replayed"), h.get("location")),
                         (201, "true", "/api/v1/carts/" + first["id"]))

    def test_a_replay_carries_the_answers_etag(self):
        tok = register(self.srv)["access_token"]
        st, h, first = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "Etag Once"}, token=tok,
                           headers={"Idempotency-Key": "etag-1"})
        self.assertEqual(st, 200, first)
        self.assertTrue(h.get("etag"), h)
        # the user moves on: the replay still answers with the ETag of the answer it repeats
        st, _, _ = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "Etag Twice"}, token=tok)
        self.assertEqual(st, 200)
        st, h2, again = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "Etag Once"}, token=tok,
                            headers={"Idempotency-Key": "etag-1"})
        self.assertEqual((st, h2.get("idempotent-replayed"), h2.get("etag")), (200, "true", h.get("etag")))
        self.assertEqual(again, first)

    def test_replay_of_a_cart_route_needs_the_cart_token(self):
        st, _, cart = self.create_guest_cart("guest-cart-2")
        self.assertEqual(st, 201, cart)
        path = "/api/v1/carts/%s/lines" % cart["id"]
        body = {"product_id": self.product["id"], "quantity": 2}
        st, h, added = req(self.srv, "POST", path, body,
                           headers={"Idempotency-Key": "add-1", "Cart-Token": cart["token"]})
        self.assertEqual(st, 201, added)
        # same key, same body, no token: not the cart
        st, h, b = req(self.srv, "POST", path, body, headers={"Idempotency-Key": "add-1"})
        assert_problem(self, st, h, b, 404)
        self.assertIsNone(h.get("idempotent-replayed"))
        # a wrong token: not the cart either
        st, h, b = req(self.srv, "POST", path, body,
                       headers={"Idempotency-Key": "add-1", "Cart-Token": cart["id"] + ".wrong"})
        assert_problem(self, st, h, b, 404)
        # with the token: the replay, and the line was added once
        st, h, again = req(self.srv, "POST", path, body,
                           headers={"Idempotency-Key": "add-1", "Cart-Token": cart["token"]})
        self.assertEqual((st, h.get("idempotent-replayed")), (201, "true"), again)
        self.assertEqual(again, added)
        st, _, now = req(self.srv, "GET", "/api/v1/carts/" + cart["id"], headers={"Cart-Token": cart["token"]})
        self.assertEqual([i["quantity"] for i in now["items"]], [2])

    def test_users_keys_are_their_own(self):
        alice, bob = register(self.srv)["access_token"], register(self.srv)["access_token"]
        st, h, a = req(self.srv, "POST", "/api/v1/carts", {}, token=alice, headers={"Idempotency-Key": "mine"})
        self.assertEqual(st, 201, a)
        st, h, b = req(self.srv, "POST", "/api/v1/carts", {}, token=bob, headers={"Idempotency-Key": "mine"})
        self.assertEqual(st, 201, b)
        self.assertIsNone(h.get("idempotent-replayed"))
        self.assertNotEqual(a["id"], b["id"])
        self.assertNotEqual(a["owner_id"], b["owner_id"])
        # the same user replaying, from another address too
        conn = from_address(self.srv, "127.0.0.3")
        try:
            st, h, again = req(self.srv, "POST", "/api/v1/carts", {}, token=alice,
                               headers={"Idempotency-Key": "mine"}, conn=conn)
        finally:
            conn.close()
        self.assertEqual((st, h.get("idempotent-replayed")), (201, "true"), again)
        self.assertEqual(again, a)
        # a guest with that key is not alice either
        st, h, g = self.create_guest_cart("mine")
        self.assertEqual(st, 201, g)
        self.assertNotEqual(g["id"], a["id"])


if __name__ == "__main__":
    main()
