"""Sessions over HTTP: an access token is only as good as its session and its
user. Disabling a user, changing a role, logging out, a refresh-token reuse and
a password change take effect on every HTTP thread as soon as they are
answered; a validly signed token for a user that does not exist, or without a
session, is refused; the role comes from the user row, not the token."""
import base64, hashlib, hmac, json, os, time, unittest
from sfharness import (Server, req, register, login, make_user, totp, assert_problem, main)


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def sign(data_dir, claims):
    """Signs claims with the server's key: <data_dir>/jwt.key holds it base64url-encoded."""
    with open(os.path.join(data_dir, "jwt.key")) as f:
        text = f.read().strip()
    key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key, (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


class Sessions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--threads", "4", "--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        cls.admin = make_user(cls.srv, "admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def get(self, path, token):
        return req(self.srv, "GET", path, token=token)

    def warm(self, token, path="/api/v1/users/me", want=200):
        """Sends the token on many connections, so that every HTTP thread has
        it (and its session answer) cached."""
        for _ in range(16):
            st, _, b = self.get(path, token)
            self.assertEqual(st, want, b)

    def assert_dead(self, token, path="/api/v1/users/me"):
        for _ in range(16):  # on every thread, at once
            st, h, b = self.get(path, token)
            assert_problem(self, st, h, b, 401, code="invalid-token")
            self.assertIn("Bearer", h.get("www-authenticate", ""))

    def patch_user(self, uid, body):
        st, _, u = req(self.srv, "PATCH", "/api/v1/users/" + uid, body, token=self.admin["access_token"])
        self.assertEqual(st, 200, u)
        return u

    def test_disable_ends_every_session_at_once(self):
        r = register(self.srv)
        other = login(self.srv, r["user"]["email"], r["password"])[2]
        self.warm(r["access_token"])
        self.patch_user(r["user"]["id"], {"status": "disabled"})
        self.assert_dead(r["access_token"])
        self.assert_dead(other["access_token"])
        # enabling again does not bring the revoked sessions back; a new login works
        self.patch_user(r["user"]["id"], {"status": "active"})
        self.assert_dead(r["access_token"])
        st, _, again = login(self.srv, r["user"]["email"], r["password"])
        self.assertEqual(st, 200, again)
        self.warm(again["access_token"])

    def test_admin_creates_a_user_who_can_sign_in(self):
        body = {"email": "Made.By.Admin@Example.com", "password": "made-password-1", "role": "approver",
                "name": "Made"}
        st, h, u = req(self.srv, "POST", "/api/v1/users", body, token=self.admin["access_token"])
        self.assertEqual(st, 201, u)
        self.assertEqual((u["email"], u["role"], u["status"], u["email_verified"]),
                         ("made.by.admin@example.com", "approver", "active", True))
        self.assertEqual(h["location"], "/api/v1/users/" + u["id"])
        st, _, tok = login(self.srv, "made.by.admin@example.com", "made-password-1")
        self.assertEqual(st, 200, tok)
        st, h, b = req(self.srv, "POST", "/api/v1/users", body, token=self.admin["access_token"])
        assert_problem(self, st, h, b, 409)
        # bad input names its field and creates nothing
        for bad, field in (({"email": "nope"}, "email"), ({"role": "king"}, "role"), ({"password": "short"}, "password")):
            st, h, b = req(self.srv, "POST", "/api/v1/users", {**body, "email": "other@example.com", **bad},
                           token=self.admin["access_token"])
            assert_problem(self, st, h, b, 422)
            self.assertIn(field, [e["field"] for e in b["errors"]])
        st, _, b = login(self.srv, "other@example.com", "made-password-1")
        self.assertEqual(st, 401, b)
        st, h, b = req(self.srv, "POST", "/api/v1/users", body, token=tok["access_token"])
        assert_problem(self, st, h, b, 403)

    def test_role_change_takes_effect_at_once_both_ways(self):
        r = register(self.srv)
        t, uid = r["access_token"], r["user"]["id"]
        self.warm(t, "/api/v1/users", want=403)
        self.patch_user(uid, {"role": "staff"})
        self.warm(t, "/api/v1/users", want=200)  # same token: the role is the user row's
        st, _, me = self.get("/api/v1/users/me", t)
        self.assertEqual(me["role"], "staff")
        self.patch_user(uid, {"role": "customer"})
        for _ in range(16):
            st, h, b = self.get("/api/v1/users", t)
            assert_problem(self, st, h, b, 403)
        self.assertEqual(claims_of(t)["role"], "customer")  # the claim never mattered

    def test_logout_ends_the_session_not_the_others(self):
        r = register(self.srv)
        other = login(self.srv, r["user"]["email"], r["password"])[2]
        self.warm(r["access_token"])
        self.warm(other["access_token"])
        st, _, b = req(self.srv, "POST", "/api/v1/auth/logout", {"refresh_token": r["refresh_token"]})
        self.assertEqual(st, 204, b)
        self.assert_dead(r["access_token"])
        self.warm(other["access_token"])

    def test_refresh_reuse_ends_the_family(self):
        r = register(self.srv)
        st, _, r2 = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": r["refresh_token"]})
        self.assertEqual(st, 200, r2)
        self.assertEqual(claims_of(r2["access_token"])["sid"], claims_of(r["access_token"])["sid"])
        self.warm(r["access_token"])  # rotation alone keeps the session (and its access tokens) live
        self.warm(r2["access_token"])
        st, h, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": r["refresh_token"]})
        assert_problem(self, st, h, b, 401, code="token-reused")
        self.assert_dead(r["access_token"])
        self.assert_dead(r2["access_token"])

    def test_validly_signed_tokens_without_a_live_session(self):
        r = register(self.srv)
        good = claims_of(r["access_token"])
        now = int(time.time())
        base = {"iss": "serviceflow", "aud": "serviceflow-api", "typ": "access", "iat": now, "exp": now + 600}
        # the signing is right: the key read from jwt.key makes a token the server takes
        self.warm(sign(self.srv.data_dir, dict(good)))
        cases = {
            "nonexistent admin": dict(base, sub="usr_doesnotexist0000000000", role="admin", sid=good["sid"]),
            "no session": dict(base, sub=good["sub"], role="customer"),
            "unknown session": dict(base, sub=good["sub"], role="customer", sid="fam_doesnotexist"),
            "another user's session": dict(base, sub=self.admin["user"]["id"], role="admin", sid=good["sid"]),
        }
        for name, claims in cases.items():
            with self.subTest(name):
                self.assert_dead(sign(self.srv.data_dir, claims), "/api/v1/users")
        # a live session with a forged role claim: the row's role counts
        forged = sign(self.srv.data_dir, dict(good, role="admin"))
        st, h, b = self.get("/api/v1/users", forged)
        assert_problem(self, st, h, b, 403)

    def test_password_change_revokes_other_sessions(self):
        r = register(self.srv)
        other = login(self.srv, r["user"]["email"], r["password"])[2]
        t = r["access_token"]
        self.warm(other["access_token"])
        path = "/api/v1/auth/password"
        st, h, b = req(self.srv, "POST", path, {"current_password": "wrong one 1", "new_password": "brand new pw 1"},
                       token=t)
        assert_problem(self, st, h, b, 401, code="invalid-credentials")
        st, h, b = req(self.srv, "POST", path, {"current_password": r["password"], "new_password": "short"}, token=t)
        assert_problem(self, st, h, b, 422, field="new_password")
        st, h, b = req(self.srv, "POST", path, {"current_password": r["password"]}, token=t)
        assert_problem(self, st, h, b, 422, field="new_password")
        self.warm(other["access_token"])  # failed attempts change nothing
        st, _, b = req(self.srv, "POST", path, {"current_password": r["password"], "new_password": "brand new pw 1"},
                       token=t)
        self.assertEqual(st, 204, b)
        self.assert_dead(other["access_token"])
        st, _, _ = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": other["refresh_token"]})
        self.assertEqual(st, 401)
        self.warm(t)  # the caller's own session stays
        st, _, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": r["refresh_token"]})
        self.assertEqual(st, 200, b)
        st, _, _ = login(self.srv, r["user"]["email"], r["password"])
        self.assertEqual(st, 401)
        st, _, b = login(self.srv, r["user"]["email"], "brand new pw 1")
        self.assertEqual(st, 200, b)
        st, _, ev = req(self.srv, "GET", "/api/v1/users/%s/events" % r["user"]["id"], token=self.admin["access_token"])
        changed = [e for e in ev["data"] if e["type"] == "user.password_changed"]
        self.assertEqual(len(changed), 1, ev)
        text = json.dumps(changed[0])
        for secret in (r["password"], "brand new pw 1", "argon2"):
            self.assertNotIn(secret, text)


class MfaDisable(unittest.TestCase):
    """POST /auth/mfa/disable needs the password and a code; wrong ones count
    into the login lockout (5 by default)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def enrolled(self):
        r = register(self.srv)
        t = r["access_token"]
        st, _, e = req(self.srv, "POST", "/api/v1/auth/mfa/enroll", token=t)
        self.assertEqual(st, 200, e)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/mfa/verify", {"code": totp(e["secret"])}, token=t)
        self.assertEqual(st, 200, b)
        return r, e["secret"]

    def disable(self, t, body):
        return req(self.srv, "POST", "/api/v1/auth/mfa/disable", body, token=t)

    def test_needs_password_and_code(self):
        r, secret = self.enrolled()
        t = r["access_token"]
        st, h, b = self.disable(t, {"code": "123456"})
        assert_problem(self, st, h, b, 422, field="password")
        wrong = "000000" if totp(secret) != "000000" else "111111"
        st, h, b = self.disable(t, {"password": "not my password", "code": totp(secret)})
        assert_problem(self, st, h, b, 401, code="invalid-credentials")
        st, h, b = self.disable(t, {"password": r["password"], "code": wrong})
        assert_problem(self, st, h, b, 401, code="invalid-code")
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=t)
        self.assertTrue(me["mfa_enabled"])
        # the code that turned MFA on was used: wait for the next step
        time.sleep(30 - time.time() % 30 + 0.5)
        st, _, b = self.disable(t, {"password": r["password"], "code": totp(secret)})
        self.assertEqual((st, b), (200, {"mfa_enabled": False}))

    def test_wrong_codes_lock_like_mfa_login(self):
        r, secret = self.enrolled()
        t = r["access_token"]
        wrong = "000000" if totp(secret) != "000000" else "111111"
        for i in range(5):
            body = {"password": r["password"], "code": wrong} if i % 2 else {"password": "bad pw %d" % i, "code": wrong}
            st, h, b = self.disable(t, body)
            self.assertEqual(st, 401, b)
        # locked: even the right password and code are refused, like a login
        st, h, b = self.disable(t, {"password": r["password"], "code": totp(secret)})
        assert_problem(self, st, h, b, 429, code="account-locked")
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        st, h, b = login(self.srv, r["user"]["email"], r["password"])
        assert_problem(self, st, h, b, 429, code="account-locked")
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=t)
        self.assertTrue(me["mfa_enabled"])


if __name__ == "__main__":
    main()
