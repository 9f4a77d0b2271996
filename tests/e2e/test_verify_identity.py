"""serviceflow verify rebuilds users (role, status, email, name, MFA) from the
events of their streams and compares them with the users table: a varied
identity history verifies clean, and a users row changed behind the server's
back (role, status, name, email, MFA, a deleted or an inserted row) is named
and makes verify exit non-zero. Events carry no secrets."""
import os, re, shutil, sqlite3, tempfile, unittest
from sfharness import Server, cli, req, register, login, make_user, totp, FAST_HASH, main

USERS = re.compile(r"; users: (\d+) ok\b")


def sql(data_dir, statement, args=()):
    db = sqlite3.connect(os.path.join(data_dir, "serviceflow.db"))
    try:
        rows = db.execute(statement, args).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


class VerifyIdentity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"])
        admin = make_user(srv, "admin")
        at = admin["access_token"]

        def patch(uid, body):
            st, _, u = req(srv, "PATCH", "/api/v1/users/" + uid, body, token=at)
            assert st == 200, u

        cls.promoted = register(srv, name="Pro")
        patch(cls.promoted["user"]["id"], {"role": "staff"})
        patch(cls.promoted["user"]["id"], {"role": "approver"})
        cls.disabled = register(srv)
        patch(cls.disabled["user"]["id"], {"status": "disabled", "role": "staff"})
        cls.renamed = register(srv, name="Old")
        t = cls.renamed["access_token"]
        st, _, u = req(srv, "PATCH", "/api/v1/users/me", {"name": "New Name"}, token=t)
        assert st == 200, u
        st, _, e = req(srv, "POST", "/api/v1/auth/mfa/enroll", token=t)
        assert st == 200, e
        st, _, b = req(srv, "POST", "/api/v1/auth/mfa/verify", {"code": totp(e["secret"])}, token=t)
        assert st == 200, b
        cls.secret = e["secret"]
        st, _, b = req(srv, "POST", "/api/v1/auth/password",
                       {"current_password": cls.renamed["password"], "new_password": "another password 2"}, token=t)
        assert st == 204, b
        login(srv, cls.promoted["user"]["email"], "wrong password")  # events that change no state
        cls.nusers = 4
        srv.stop()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def verify(self):
        return cli("verify", data_dir=self.srv.data_dir)

    def assert_clean(self):
        rc, out, err = self.verify()
        self.assertEqual(rc, 0, out + err)
        m = USERS.search(out)
        self.assertTrue(m, out)
        return int(m.group(1))

    def assert_caught(self, *needles):
        rc, out, err = self.verify()
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out, r"users: \d+, 1 mismatch\b")
        for n in needles:
            self.assertIn(n, err)

    def tamper(self, uid, column, value, *needles):
        d = self.srv.data_dir
        old = sql(d, "SELECT %s FROM users WHERE id = ?" % column, (uid,))[0][0]
        sql(d, "UPDATE users SET %s = ? WHERE id = ?" % column, (value, uid))
        try:
            self.assert_caught(*needles)
        finally:
            sql(d, "UPDATE users SET %s = ? WHERE id = ?" % column, (old, uid))
        self.assert_clean()

    def test_history_verifies_clean(self):
        self.assertEqual(self.assert_clean(), self.nusers)

    def test_changed_role_is_named(self):
        uid = self.promoted["user"]["id"]
        self.tamper(uid, "role", "admin", "user %s role: state row 'admin' vs events 'approver'" % uid)

    def test_changed_status_is_named(self):
        uid = self.disabled["user"]["id"]
        self.tamper(uid, "status", "active", "user %s status: state row 'active' vs events 'disabled'" % uid)

    def test_changed_name_email_and_mfa_are_named(self):
        uid = self.renamed["user"]["id"]
        self.tamper(uid, "name", "Someone", "user %s name: state row 'Someone' vs events 'New Name'" % uid)
        self.tamper(uid, "email", "x@evil.example", "user %s email: state row 'x@evil.example'" % uid)
        self.tamper(uid, "totp_enabled", 0, "user %s mfa_enabled: state row 0 vs events 1" % uid)

    def test_changed_email_verified_is_named(self):
        uid = self.disabled["user"]["id"]  # registered unverified, never verified
        self.tamper(uid, "email_verified", 1, "user %s email_verified: state row 1 vs events 0" % uid)

    def test_deleted_and_inserted_rows_are_named(self):
        d = self.srv.data_dir
        uid = self.promoted["user"]["id"]
        row = sql(d, "SELECT * FROM users WHERE id = ?", (uid,))[0]
        sql(d, "DELETE FROM users WHERE id = ?", (uid,))  # sqlite3 leaves foreign keys unchecked
        try:
            self.assert_caught("user %s: no state row; events say role 'approver', status 'active'" % uid)
        finally:
            sql(d, "INSERT INTO users VALUES(%s)" % ",".join("?" * len(row)), row)
        self.assert_clean()
        fake = list(row)
        fake[0], fake[1] = "usr_planted", "planted@example.com"
        sql(d, "INSERT INTO users VALUES(%s)" % ",".join("?" * len(fake)), fake)
        try:
            self.assert_caught("user usr_planted: state row ('planted@example.com', approver) has no user.registered event")
        finally:
            sql(d, "DELETE FROM users WHERE id = 'usr_planted'")
        self.assert_clean()

    def test_events_carry_no_secrets(self):
        d = self.srv.data_dir
        rows = sql(d, "SELECT type, data FROM events WHERE stream LIKE 'user-%'")
        self.assertIn("user.password_changed", [t for t, _ in rows])
        hashes = [h for (h,) in sql(d, "SELECT password_hash FROM users")]
        sealed = [s for (s,) in sql(d, "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL")]
        text = "\n".join(data for _, data in rows)
        for secret in hashes + sealed + [self.secret, self.renamed["password"], "another password 2", "$argon2"]:
            self.assertNotIn(secret, text)


class VerifyIdentityFresh(unittest.TestCase):
    def test_seed_and_cli_users_verify_clean(self):
        d = tempfile.mkdtemp(prefix="sf-e2e-")
        try:
            rc, out, err = cli("seed", *FAST_HASH, data_dir=d)
            self.assertEqual(rc, 0, err)
            rc, out, err = cli("user", "create", "--email", "cli@example.com", "--role", "approver",
                               "--password", "cli password 1", *FAST_HASH, data_dir=d)
            self.assertEqual(rc, 0, err)
            rc, out, err = cli("verify", data_dir=d)
            self.assertEqual(rc, 0, out + err)
            n = sql(d, "SELECT count(*) FROM users")[0][0]
            self.assertIn("; users: %d ok" % n, out)
            sql(d, "UPDATE users SET role = 'admin' WHERE email = 'cli@example.com'")
            rc, out, err = cli("verify", data_dir=d)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("role: state row 'admin' vs events 'approver'", err)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
