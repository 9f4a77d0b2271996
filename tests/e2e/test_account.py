"""Account self-service over HTTP, with the mails read back from the dev
mailbox (no SMTP server configured: GET /api/v1/mail/messages?status=kept):
e-mail verification at registration (optional and required), password reset
by a single-use expiring link (the same answer whether or not the address has
an account, rate-limited), password change ending the other sessions. Expiry
is driven by serviceflow-testclock (POST /api/v1/_test/clock)."""
import hashlib, json, time, unittest
from sfharness import Server, TESTCLOCK_BIN, req, register, login, make_user, unique_email, main
from devmail import kept_mails, link_token

FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]
TTLS = ["--email-verify-ttl-s", "120", "--password-reset-ttl-s", "60", "--app-url", "https://shop.example"]


def events(srv, admin, user_id):
    st, _, b = req(srv, "GET", "/api/v1/users/%s/events?limit=100" % user_id, token=admin)
    assert st == 200, b
    return b["data"]


class AccountBase(unittest.TestCase):
    args = []

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(FAST + TTLS + cls.args, bin=TESTCLOCK_BIN)
        cls.admin_user = make_user(cls.srv, "admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    @property
    def admin(self):
        # a fresh login: a moved clock may have expired the last access token
        st, _, b = login(self.srv, self.admin_user["email"], self.admin_user["password"])
        self.assertEqual(st, 200, b)
        return b["access_token"]

    def mails(self, to, kind):
        return kept_mails(self.srv, self.admin, to, kind)

    def wait_mails(self, to, kind, n):
        deadline = time.time() + 10
        while True:
            got = self.mails(to, kind)
            if len(got) >= n or time.time() > deadline:
                return got
            time.sleep(0.1)

    def advance(self, seconds):
        st, _, b = req(self.srv, "POST", "/api/v1/_test/clock", {"advance_s": seconds}, token=self.admin)
        self.assertEqual(st, 200, b)

    def no_secrets_in_events(self, user_id, *tokens):
        text = json.dumps(events(self.srv, self.admin, user_id))
        for t in tokens:
            self.assertNotIn(t, text)
            self.assertNotIn(hashlib.sha256(t.encode()).hexdigest(), text)

    def problem_shape(self, b):
        return {k: b.get(k) for k in ("type", "title", "status", "detail")}


class OptionalVerification(AccountBase):
    def test_register_mails_a_link_that_verifies_once(self):
        u = register(self.srv)
        email, uid = u["user"]["email"], u["user"]["id"]
        self.assertIs(u["user"]["email_verified"], False)
        self.assertIn("access_token", u)  # optional: a session at once
        mails = self.wait_mails(email, "account.verify_email", 1)
        self.assertEqual(len(mails), 1, mails)
        tok = link_token(mails[0], "verify-email")
        st, _, b = req(self.srv, "POST", "/api/v1/auth/verify-email", {"token": tok})
        self.assertEqual(st, 200, b)
        self.assertIs(b["email_verified"], True)
        st, _, me = req(self.srv, "GET", "/api/v1/users/me", token=u["access_token"])
        self.assertIs(me["email_verified"], True)
        # single use: a second try answers as an unknown token does
        st, h, again = req(self.srv, "POST", "/api/v1/auth/verify-email", {"token": tok})
        self.assertEqual(st, 400, again)
        self.assertTrue(h["content-type"].startswith("application/problem+json"))
        st, _, unknown = req(self.srv, "POST", "/api/v1/auth/verify-email", {"token": "at_" + "A" * 43})
        self.assertEqual(st, 400)
        self.assertEqual(self.problem_shape(again), self.problem_shape(unknown))
        evs = events(self.srv, self.admin, uid)
        self.assertEqual([e["type"] for e in evs], ["user.registered", "user.email_verified"])
        self.assertIs(evs[0]["data"]["email_verified"], False)
        self.no_secrets_in_events(uid, tok)
        # a verified caller has nothing to resend
        st, _, b = req(self.srv, "POST", "/api/v1/auth/verify-email/resend", token=u["access_token"])
        self.assertEqual(st, 409, b)

    def test_resend_replaces_the_link(self):
        u = register(self.srv)
        email = u["user"]["email"]
        self.wait_mails(email, "account.verify_email", 1)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/verify-email/resend", token=u["access_token"])
        self.assertEqual((st, b), (202, {"status": "accepted"}))
        mails = self.wait_mails(email, "account.verify_email", 2)
        self.assertEqual(len(mails), 2)
        first, second = link_token(mails[0], "verify-email"), link_token(mails[1], "verify-email")
        self.assertNotEqual(first, second)
        self.assertEqual(req(self.srv, "POST", "/api/v1/auth/verify-email", {"token": first})[0], 400)
        self.assertEqual(req(self.srv, "POST", "/api/v1/auth/verify-email", {"token": second})[0], 200)
        types = [e["type"] for e in events(self.srv, self.admin, u["user"]["id"])]
        self.assertEqual(types, ["user.registered", "user.email_verification_sent", "user.email_verified"])

    def test_expired_verification_link_fails(self):
        u = register(self.srv)
        tok = link_token(self.wait_mails(u["user"]["email"], "account.verify_email", 1)[0], "verify-email")
        self.advance(121)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/verify-email", {"token": tok})
        self.assertEqual(st, 400, b)
        self.assertEqual(b["type"].rsplit("/", 1)[-1], "invalid-or-expired-token")

    def test_bad_input_is_a_problem(self):
        self.assertEqual(req(self.srv, "POST", "/api/v1/auth/verify-email", {})[0], 422)
        self.assertEqual(req(self.srv, "POST", "/api/v1/auth/password-reset", {"email": "nope"})[0], 422)
        self.assertEqual(req(self.srv, "POST", "/api/v1/auth/password-reset/confirm",
                             {"token": "x", "new_password": "short"})[0], 422)
        self.assertEqual(req(self.srv, "POST", "/api/v1/auth/verify-email/resend", {})[0], 422)


class PasswordReset(AccountBase):
    def reset_token(self, email, n=1):
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password-reset", {"email": email})
        self.assertEqual((st, b), (202, {"status": "accepted"}))
        mails = self.wait_mails(email, "account.password_reset", n)
        self.assertEqual(len(mails), n, mails)
        return link_token(mails[-1], "password-reset")

    def test_known_and_unknown_addresses_get_the_same_answer(self):
        u = register(self.srv)
        answers, times = [], []
        for email in (u["user"]["email"], unique_email("nobody"), u["user"]["email"].upper()):
            t0 = time.monotonic()
            st, h, b = req(self.srv, "POST", "/api/v1/auth/password-reset", {"email": email})
            times.append(time.monotonic() - t0)
            answers.append((st, h.get("content-type"), b, sorted(k for k in h if k not in ("date", "x-request-id",
                                                                                          "traceparent"))))
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[0], answers[2])
        self.assertEqual(answers[0][0], 202)
        self.assertLess(max(times), 2.0)
        self.assertEqual(len(self.wait_mails(u["user"]["email"], "account.password_reset", 2)), 2)

    def test_confirm_sets_the_password_and_ends_every_session(self):
        old_pw, new_pw = "correct horse 1", "a brand new one 2"
        u = register(self.srv, password=old_pw)
        email, uid = u["user"]["email"], u["user"]["id"]
        st, _, second = login(self.srv, email, old_pw)
        self.assertEqual(st, 200)
        tok = self.reset_token(email)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password-reset/confirm", {"token": tok, "new_password": new_pw})
        self.assertEqual(st, 204, b)
        for session in (u, second):
            st, _, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": session["refresh_token"]})
            self.assertEqual(st, 401, b)
            self.assertEqual(req(self.srv, "GET", "/api/v1/users/me", token=session["access_token"])[0], 401)
        self.assertEqual(login(self.srv, email, old_pw)[0], 401)
        st, _, b = login(self.srv, email, new_pw)
        self.assertEqual(st, 200, b)
        self.assertIs(b["user"]["email_verified"], True)  # the link reached the address
        # single use
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password-reset/confirm",
                       {"token": tok, "new_password": "yet another 3"})
        self.assertEqual(st, 400, b)
        self.assertEqual(len(self.wait_mails(email, "account.password_changed", 1)), 1)
        types = [e["type"] for e in events(self.srv, self.admin, uid)]
        self.assertIn("user.password_reset_requested", types)
        self.assertIn("user.password_reset", types)
        self.no_secrets_in_events(uid, tok)

    def test_a_new_request_revokes_the_earlier_link(self):
        u = register(self.srv)
        email = u["user"]["email"]
        first = self.reset_token(email, 1)
        second = self.reset_token(email, 2)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password-reset/confirm",
                       {"token": first, "new_password": "another password 1"})
        self.assertEqual(st, 400, b)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password-reset/confirm",
                       {"token": second, "new_password": "another password 1"})
        self.assertEqual(st, 204, b)

    def test_expired_reset_link_fails(self):
        u = register(self.srv)
        tok = self.reset_token(u["user"]["email"])
        self.advance(61)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password-reset/confirm",
                       {"token": tok, "new_password": "another password 1"})
        self.assertEqual(st, 400, b)
        self.assertEqual(login(self.srv, u["user"]["email"], u["password"])[0], 200)  # unchanged

    def test_reset_clears_the_lockout(self):
        u = register(self.srv)
        email = u["user"]["email"]
        for _ in range(6):
            login(self.srv, email, "wrong password")
        self.assertEqual(login(self.srv, email, u["password"])[0], 429)
        tok = self.reset_token(email)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password-reset/confirm",
                       {"token": tok, "new_password": "unlocked again 1"})
        self.assertEqual(st, 204, b)
        self.assertEqual(login(self.srv, email, "unlocked again 1")[0], 200)

    def test_password_change_needs_the_current_one_and_ends_other_sessions(self):
        pw = "correct horse 1"
        u = register(self.srv, password=pw)
        email = u["user"]["email"]
        st, _, other = login(self.srv, email, pw)
        self.assertEqual(st, 200)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password",
                       {"current_password": "not the password", "new_password": "changed pw 22"},
                       token=u["access_token"])
        self.assertEqual(st, 401, b)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password", {"new_password": "changed pw 22"},
                       token=u["access_token"])
        self.assertEqual(st, 422, b)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password",
                       {"current_password": pw, "new_password": "changed pw 22"}, token=u["access_token"])
        self.assertEqual(st, 204, b)
        self.assertEqual(req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": other["refresh_token"]})[0], 401)
        self.assertEqual(req(self.srv, "GET", "/api/v1/users/me", token=other["access_token"])[0], 401)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/refresh", {"refresh_token": u["refresh_token"]})
        self.assertEqual(st, 200, b)  # this session goes on
        self.assertEqual(login(self.srv, email, "changed pw 22")[0], 200)
        self.assertEqual(len(self.wait_mails(email, "account.password_changed", 1)), 1)


class RateLimits(unittest.TestCase):
    def test_mails_per_address_and_requests_per_client(self):
        srv = Server(["--account-mails-per-hour", "2", "--rate-login-per-min", "1", "--rate-login-burst", "7"])
        try:
            known = register(srv)["user"]["email"]  # one of the client's 7
            for email in (known, unique_email("nobody")):
                got = [req(srv, "POST", "/api/v1/auth/password-reset", {"email": email}) for _ in range(3)]
                self.assertEqual([g[0] for g in got], [202, 202, 429], [g[2] for g in got])
                self.assertTrue(got[2][1].get("retry-after"))
            # the client's own budget is spent too (7 in the burst, 1 a minute)
            st, h, b = req(srv, "POST", "/api/v1/auth/password-reset", {"email": unique_email("other")})
            self.assertEqual(st, 429, b)
        finally:
            srv.close()


class RequiredVerification(AccountBase):
    args = ["--email-verification", "required"]

    def test_no_session_until_verified(self):
        email, pw = unique_email("req"), "correct horse 1"
        st, _, b = req(self.srv, "POST", "/api/v1/auth/register", {"email": email, "password": pw})
        self.assertEqual(st, 201, b)
        self.assertNotIn("access_token", b)
        self.assertNotIn("refresh_token", b)
        self.assertIs(b["email_verification_required"], True)
        self.assertIs(b["user"]["email_verified"], False)
        st, _, b = login(self.srv, email, pw)
        self.assertEqual(st, 403, b)
        self.assertEqual(b["type"].rsplit("/", 1)[-1], "email-not-verified")
        self.assertEqual(login(self.srv, email, "wrong password")[0], 401)  # told only to who knows it
        # a new link by address, with the same answer as for an unknown one
        a = req(self.srv, "POST", "/api/v1/auth/verify-email/resend", {"email": email})
        n = req(self.srv, "POST", "/api/v1/auth/verify-email/resend", {"email": unique_email("nobody")})
        self.assertEqual((a[0], a[2]), (202, {"status": "accepted"}))
        self.assertEqual((a[0], a[2]), (n[0], n[2]))
        mails = self.wait_mails(email, "account.verify_email", 2)
        self.assertEqual(len(mails), 2)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/verify-email", {"token": link_token(mails[-1], "verify-email")})
        self.assertEqual(st, 200, b)
        st, _, b = login(self.srv, email, pw)
        self.assertEqual(st, 200, b)
        self.assertIs(b["user"]["email_verified"], True)

    def test_operator_made_users_are_verified(self):
        u = make_user(self.srv, "staff")
        self.assertIs(u["user"]["email_verified"], True)


class VerificationOff(AccountBase):
    args = ["--email-verification", "off"]

    def test_nothing_is_mailed_and_everything_works(self):
        u = register(self.srv)
        self.assertIn("access_token", u)
        self.assertIs(u["user"]["email_verified"], False)
        st, _, b = req(self.srv, "POST", "/api/v1/auth/verify-email/resend", token=u["access_token"])
        self.assertEqual(st, 409, b)
        time.sleep(0.2)
        self.assertEqual(self.mails(u["user"]["email"], "account.verify_email"), [])
        # the reset works without verification
        st, _, b = req(self.srv, "POST", "/api/v1/auth/password-reset", {"email": u["user"]["email"]})
        self.assertEqual(st, 202, b)
        self.assertEqual(len(self.wait_mails(u["user"]["email"], "account.password_reset", 1)), 1)


if __name__ == "__main__":
    main()
