"""Identity over HTTP: register, login, refresh rotation and reuse detection,
logout, profile with If-Match, lockout, TOTP MFA, token tampering."""
import base64, json, time, unittest
from sfharness import (Server, req, register, login, make_user, totp, assert_problem, unique_email, main)


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


class AuthFlows(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_register_and_login(self):
        email = unique_email("Mixed").replace("mixed", "MiXeD")
        r = register(self.srv, email=email, name="Ann")
        self.assertEqual(r["token_type"], "Bearer")
        self.assertEqual(r["expires_in"], 900)
        u = r["user"]
        self.assertTrue(u["id"].startswith("usr_"))
        self.assertEqual(u["email"], email.lower())
        self.assertEqual((u["role"], u["status"], u["version"], u["name"]), ("customer", "active", 1, "Ann"))
        st, _, b = req(self.srv, "POST", "/api/v1/auth/register", {"email": email.upper(), "password": "another pw 1"})
        assert_problem(self, st, _, b, 409)
        st, _, b = login(self.srv, email.lower(), r["password"])
        self.assertEqual(st, 200, b)
        self.assertEqual(b["user"]["id"], u["id"])
        st, h, me = req(self.srv, "GET", "/api/v1/users/me", token=b["access_token"])
        self.assertEqual(st, 200)
        self.assertEqual(me["id"], u["id"])
        self.assertEqual(h["etag"], '"1"')

    def test_wrong_password_and_unknown_email_look_the_same(self):
        r = register(self.srv)
        st1, h1, b1 = login(self.srv, r["user"]["email"], "wrong password")
        st2, h2, b2 = login(self.srv, unique_email("nobody"), "wrong password")
        assert_problem(self, st1, h1, b1, 401, code="invalid-credentials")
        assert_problem(self, st2, h2, b2, 401, code="invalid-credentials")
        self.assertEqual((b1["title"], b1["detail"]), (b2["title"], b2["detail"]))

    def test_refresh_rotation_and_reuse_detection(self):
        r = register(self.srv)
        st, _, r2 = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": r["refresh_token"]})
        self.assertEqual(st, 200, r2)
        self.assertNotEqual(r2["refresh_token"], r["refresh_token"])
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=r2["access_token"])
        self.assertEqual(st, 200)
        # the rotated token comes back: theft -> whole family revoked
        st, h, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": r["refresh_token"]})
        assert_problem(self, st, h, b, 401, code="token-reused")
        st, h, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": r2["refresh_token"]})
        assert_problem(self, st, h, b, 401)
        # another login (another family) is unaffected
        st, _, l = login(self.srv, r["user"]["email"], r["password"])
        self.assertEqual(st, 200)
        st, _, _ = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": l["refresh_token"]})
        self.assertEqual(st, 200)

    def test_logout(self):
        r = register(self.srv)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/logout", {"refresh_token": r["refresh_token"]})
        self.assertEqual(st, 204, b)
        st, h, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": r["refresh_token"]})
        assert_problem(self, st, h, b, 401)
        st, h, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": "rt_not-a-token"})
        assert_problem(self, st, h, b, 401)

    def test_profile_if_match(self):
        r = register(self.srv)
        t = r["access_token"]
        st, h, u = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "New"}, token=t, headers={"If-Match": '"1"'})
        self.assertEqual(st, 200, u)
        self.assertEqual((u["name"], u["version"], h["etag"]), ("New", 2, '"2"'))
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "Stale"}, token=t, headers={"If-Match": '"1"'})
        assert_problem(self, st, h, b, 412)
        st, h, b = req(self.srv, "PATCH", "/api/v1/users/me", {"name": "X"}, token=t, headers={"If-Match": "banana"})
        assert_problem(self, st, h, b, 400)
        st, _, u = req(self.srv, "GET", "/api/v1/users/me", token=t)
        self.assertEqual((u["name"], u["version"]), ("New", 2))

    def test_lockout(self):
        r = register(self.srv)
        email = r["user"]["email"]
        for i in range(5):
            st, h, b = login(self.srv, email, "bad password %d" % i)
            self.assertEqual(st, 401, b)
        st, h, b = login(self.srv, email, r["password"])
        assert_problem(self, st, h, b, 429, code="account-locked")
        self.assertGreaterEqual(int(h["retry-after"]), 1)

    def test_mfa(self):
        r = register(self.srv)
        t = r["access_token"]
        st, _, e = req(self.srv, "POST", "/api/v1/auth/mfa/enroll", token=t)
        self.assertEqual(st, 200, e)
        self.assertTrue(e["otpauth_uri"].startswith("otpauth://totp/"))
        st, h, b = req(self.srv, "POST", "/api/v1/auth/mfa/verify", {"code": "000000" if totp(e["secret"]) != "000000" else "111111"}, token=t)
        assert_problem(self, st, h, b, 401, code="invalid-code")
        code = totp(e["secret"])
        st, _, b = req(self.srv, "POST", "/api/v1/auth/mfa/verify", {"code": code}, token=t)
        self.assertEqual((st, b), (200, {"mfa_enabled": True}))
        st, _, ch = login(self.srv, r["user"]["email"], r["password"])
        self.assertEqual(st, 200)
        self.assertTrue(ch["mfa_required"])
        self.assertNotIn("access_token", ch)
        # the mfa token is not an access token
        st, h, b = req(self.srv, "GET", "/api/v1/users/me", token=ch["mfa_token"])
        assert_problem(self, st, h, b, 401)
        # the code used to enable MFA cannot be replayed; wait for the next step
        st, h, b = req(self.srv, "POST", "/api/v1/auth/mfa/login", {"mfa_token": ch["mfa_token"], "code": code})
        if st == 200:
            self.fail("replayed TOTP code accepted")
        assert_problem(self, st, h, b, 401, code="code-replayed")
        time.sleep(30 - time.time() % 30 + 0.5)
        code2 = totp(e["secret"])
        st, _, tok = req(self.srv, "POST", "/api/v1/auth/mfa/login", {"mfa_token": ch["mfa_token"], "code": code2})
        self.assertEqual(st, 200, tok)
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=tok["access_token"])
        self.assertTrue(me["mfa_enabled"])
        st, h, b = req(self.srv, "POST", "/api/v1/auth/mfa/login", {"mfa_token": ch["mfa_token"], "code": code2})
        assert_problem(self, st, h, b, 401, code="code-replayed")

    def test_bad_tokens(self):
        r = register(self.srv)
        t = r["access_token"]
        head, payload, sig = t.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["role"] = "admin"
        forged = [
            head + "." + b64(claims) + "." + sig,                       # tampered payload
            b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims) + ".",  # alg=none
            b64({"alg": "HS512", "typ": "JWT"}) + "." + payload + "." + sig,
            head + "." + payload + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB"),
            "garbage", "a.b", "", t + "x",
        ]
        for f in forged:
            st, h, b = req(self.srv, "GET", "/api/v1/users", headers={"Authorization": "Bearer " + f})
            assert_problem(self, st, h, b, 401)
            self.assertIn("Bearer", h.get("www-authenticate", ""))
        for auth in ("Basic dXNlcjpwYXNz", "Bearer", "bearer " + t[:10]):
            st, h, b = req(self.srv, "GET", "/api/v1/users/me", headers={"Authorization": auth})
            assert_problem(self, st, h, b, 401)
        st, _, _ = req(self.srv, "GET", "/api/v1/users/me", headers={"Authorization": "bearer " + t})
        self.assertEqual(st, 200)

    def test_identity_events(self):
        admin = make_user(self.srv, "admin")
        r = register(self.srv)
        req(self.srv, "PATCH", "/api/v1/users/me", {"name": "Evented"}, token=r["access_token"])
        login(self.srv, r["user"]["email"], "wrong password")
        st, _, ev = req(self.srv, "GET", "/api/v1/users/%s/events" % r["user"]["id"], token=admin["access_token"])
        self.assertEqual(st, 200, ev)
        types = [e["type"] for e in ev["data"]]
        self.assertEqual(types[:3], ["user.registered", "user.profile_updated", "user.login_failed"])
        self.assertEqual([e["version"] for e in ev["data"]], list(range(1, len(types) + 1)))
        self.assertEqual(ev["data"][1]["data"], {"name": "Evented"})
        self.assertEqual(ev["data"][1]["meta"]["actor"], r["user"]["id"])
        st, _, p1 = req(self.srv, "GET", "/api/v1/users/%s/events?limit=1" % r["user"]["id"], token=admin["access_token"])
        self.assertEqual(len(p1["data"]), 1)
        st, _, p2 = req(self.srv, "GET", "/api/v1/users/%s/events?limit=1&cursor=%s" % (r["user"]["id"], p1["next_cursor"]),
                        token=admin["access_token"])
        self.assertEqual(p2["data"][0]["type"], "user.profile_updated")


if __name__ == "__main__":
    main()
