"""The OpenAPI document tells the truth: every route of the real binary is
driven through its happy and error paths, and every answer is checked
against GET /api/v1/openapi.json (status declared for the operation, content
type declared for the status, body valid against the schema; see
openapi_contract.py). An operation of the document that this test does not
exercise fails it: a route added later must be added here too."""
import http.client, re, time, unittest
from sfharness import Server, req, make_user, totp, main, unique_email, _parse, Headers
from openapi_contract import Contract
from devmail import kept_mails, link_token

FAST = ["--rate-login-per-min", "100000", "--rate-login-burst", "100000"]
OK_CARD = {"card_number": "4242424242424242"}

FLOW = """\
name: Purchase request
type: purchase
initial: draft
states:
  draft: {}
  review:
    on_enter: [{webhook: {url: 'http://127.0.0.1:9/review'}}]
  approved: {final: true}
  rejected: {final: true}
transitions:
  - {action: submit, from: draft, to: review, roles: [customer, staff]}
  - {action: approve, from: review, to: approved, roles: [admin]}
  - {action: reject, from: review, to: rejected, roles: [admin]}
approvals:
  - in: review
    on_approved: approve
    on_rejected: reject
    levels:
      - {name: manager, role: approver}
"""

# A request type with typed input fields (the portal's form).
FLOW_FIELDS = FLOW.replace("type: purchase", "type: equipment") + """\
fields:
  - {name: amount, type: number, required: true, min: 0, label: Amount}
  - {name: category, type: enum, options: [hardware, software], default: hardware}
  - {name: needed_by, type: date}
unknown_fields: reject
"""

FLOW_JSON = {"name": "Access request", "type": "access", "initial": "open",
             "states": {"open": {}, "done": {"final": True}},
             "transitions": [{"action": "close", "from": "open", "to": "done", "roles": ["staff", "admin"]}]}


class OpenAPITruth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server([*FAST, "--webhook-max-attempts", "1"])  # a webhook to a dead port ends dead at once
        st, _, doc = req(cls.srv, "GET", "/api/v1/openapi.json")
        assert st == 200, doc
        cls.contract = Contract(doc)
        cls.problems = []
        cls.unexpected = []

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def call(self, method, path, body=None, token=None, headers=None, raw=None, expect=None, known_query=True):
        st, h, b = req(self.srv, method, path, body=body, token=token, headers=headers, raw=raw)
        self.problems.extend(self.contract.check(method, path, st, h, b, known_query))
        if expect is not None and st != expect:  # noted, not raised: the scenario goes on
            self.unexpected.append("%s %s: %d, expected %d: %s" % (method, path, st, expect, str(b)[:200]))
        elif st >= 500:  # declared, but no input of this test may cause it
            self.unexpected.append("%s %s: %d: %s" % (method, path, st, str(b)[:200]))
        return st, h, b

    def too_large(self, path):
        """Announces a body far past the limit and sends none of it: the
        server refuses on the header alone (413)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(1 << 30))
            conn.endheaders()
            st, h, b = _parse(conn.getresponse())
        finally:
            conn.close()
        self.problems.extend(self.contract.check("POST", path, st, h, b))
        if st != 413:
            self.unexpected.append("POST %s with a 1 GiB Content-Length: %d, expected 413" % (path, st))

    # ---- scenarios, in the order their data needs ----

    def ops(self):
        self.call("GET", "/healthz", expect=200)
        self.call("GET", "/readyz", expect=200)
        self.call("GET", "/metrics", expect=200)
        self.call("GET", "/api/v1/openapi.json", expect=200)

    def identity(self):
        c = self.call
        email, pw = unique_email("oa"), "correct horse 1"
        st, _, r = c("POST", "/api/v1/auth/register", {"email": email, "password": pw, "name": "Ann"}, expect=201)
        c("POST", "/api/v1/auth/register", {"email": email, "password": pw}, expect=409)
        c("POST", "/api/v1/auth/register", {"email": "not-an-email", "password": pw}, expect=422)
        c("POST", "/api/v1/auth/register", raw=b"{not json", headers={"Content-Type": "application/json"},
          expect=400)
        self.too_large("/api/v1/auth/register")
        c("POST", "/api/v1/auth/register", raw=b"email=a", headers={"Content-Type": "text/plain"})
        c("POST", "/api/v1/auth/login", {"email": email, "password": "wrong password"}, expect=401)
        c("POST", "/api/v1/auth/login", {"email": email}, expect=422)
        st, _, tok = c("POST", "/api/v1/auth/login", {"email": email, "password": pw}, expect=200)
        c("POST", "/api/v1/auth/refresh", {"refresh_token": "nope"}, expect=401)
        st, _, tok2 = c("POST", "/api/v1/auth/refresh", {"refresh_token": tok["refresh_token"]}, expect=200)
        c("POST", "/api/v1/auth/logout", {"refresh_token": tok2["refresh_token"]}, expect=204)
        c("POST", "/api/v1/auth/logout", {}, expect=422)
        t = r["access_token"]
        c("GET", "/api/v1/users/me", expect=401)
        st, _, me = c("GET", "/api/v1/users/me", token=t, expect=200)
        c("PATCH", "/api/v1/users/me", {"name": "Ann B"}, token=t, headers={"If-Match": '"999"'}, expect=412)
        c("PATCH", "/api/v1/users/me", {"name": "Ann B"}, token=t, headers={"If-Match": "garbage"}, expect=400)
        c("PATCH", "/api/v1/users/me", {"name": ""}, token=t, expect=422)
        c("PATCH", "/api/v1/users/me", {"name": "Ann B"}, token=t, headers={"If-Match": '"%d"' % me["version"]},
          expect=200)
        self.mfa(email, pw, t)
        admin = self.admin
        c("GET", "/api/v1/users", token=t, expect=403)
        c("GET", "/api/v1/users?limit=0", token=admin, expect=422)
        c("GET", "/api/v1/users?limit=2", token=admin, expect=200)
        c("GET", "/api/v1/users?q=Made&limit=2", token=admin, expect=200)
        c("GET", "/api/v1/users?q=", token=admin, expect=422)
        c("GET", "/api/v1/users?role=admin&q=a&limit=2", token=admin, expect=200)
        c("GET", "/api/v1/users?role=king", token=admin, expect=422)
        c("GET", "/api/v1/users/usr_nope", token=admin, expect=404)
        new_user = {"email": "made@example.com", "password": "made-password-1", "role": "staff", "name": "Made"}
        c("POST", "/api/v1/users", new_user, token=t, expect=403)
        c("POST", "/api/v1/users", dict(new_user, role="king"), token=admin, expect=422)
        c("POST", "/api/v1/users", new_user, token=admin, expect=201)
        c("POST", "/api/v1/users", new_user, token=admin, expect=409)
        c("GET", "/api/v1/users/" + me["id"], token=admin, expect=200)
        c("PATCH", "/api/v1/users/" + me["id"], {"role": "emperor"}, token=admin, expect=422)
        c("PATCH", "/api/v1/users/usr_nope", {"role": "staff"}, token=admin, expect=404)
        c("PATCH", "/api/v1/users/" + me["id"], {"role": "customer"}, token=admin, expect=200)
        c("PATCH", "/api/v1/users/" + me["id"], {"status": "disabled"}, token=admin, expect=200)
        c("POST", "/api/v1/auth/login", {"email": email, "password": pw}, expect=403)
        c("PATCH", "/api/v1/users/" + me["id"], {"status": "active"}, token=admin, expect=200)
        c("GET", "/api/v1/users/%s/events" % me["id"], token=admin, expect=200)
        # disabling ended t's session: a new login for the permission check
        t = c("POST", "/api/v1/auth/login", {"email": email, "password": pw}, expect=200)[2]["access_token"]
        c("GET", "/api/v1/users/%s/events" % me["id"], token=t, expect=403)
        self.password_change(pw)
        self.account(pw)
        self.customer = self.call("POST", "/api/v1/auth/register",
                                  {"email": unique_email("oa"), "password": pw}, expect=201)[2]["access_token"]

    def mfa(self, email, pw, t):
        c = self.call
        c("POST", "/api/v1/auth/mfa/enroll", expect=401)
        st, _, e = c("POST", "/api/v1/auth/mfa/enroll", token=t, expect=200)
        if time.time() % 30 > 26:  # three codes of three consecutive steps, all inside the window
            time.sleep(30 - time.time() % 30 + 0.2)
        now = time.time()
        wrong = "000000" if totp(e["secret"], now) != "000000" else "111111"
        c("POST", "/api/v1/auth/mfa/verify", {"code": wrong}, token=t, expect=401)
        c("POST", "/api/v1/auth/mfa/verify", {"code": totp(e["secret"], now - 30)}, token=t, expect=200)
        st, _, ch = c("POST", "/api/v1/auth/login", {"email": email, "password": pw}, expect=200)
        self.assertTrue(ch["mfa_required"])
        c("POST", "/api/v1/auth/mfa/login", {"mfa_token": ch["mfa_token"], "code": wrong}, expect=401)
        c("POST", "/api/v1/auth/mfa/login", {"mfa_token": ch["mfa_token"], "code": totp(e["secret"], now)}, expect=200)
        c("POST", "/api/v1/auth/mfa/disable", {"code": wrong}, token=t, expect=422)
        c("POST", "/api/v1/auth/mfa/disable", {"password": pw, "code": wrong}, token=t, expect=401)
        c("POST", "/api/v1/auth/mfa/disable", {"password": pw, "code": totp(e["secret"], now + 30)}, token=t,
          expect=200)

    def password_change(self, pw):
        c = self.call
        st, _, u = c("POST", "/api/v1/auth/register", {"email": unique_email("pw"), "password": pw}, expect=201)
        t = u["access_token"]
        c("POST", "/api/v1/auth/password", {"current_password": pw, "new_password": "x"}, token=t, expect=422)
        c("POST", "/api/v1/auth/password", {"current_password": "not it at all", "new_password": "new password 2"},
          token=t, expect=401)
        c("POST", "/api/v1/auth/password", {"current_password": pw, "new_password": "new password 2"}, token=t,
          expect=204)

    def account(self, pw):
        """E-mail verification and password reset, with the links read from the dev mailbox."""
        c = self.call
        st, _, u = c("POST", "/api/v1/auth/register", {"email": unique_email("acct"), "password": pw}, expect=201)
        email, t = u["user"]["email"], u["access_token"]

        def link(kind, path, n):
            for _ in range(100):
                mails = kept_mails(self.srv, self.admin, email, kind)
                if len(mails) >= n:
                    return link_token(mails[-1], path)
                time.sleep(0.05)
            raise AssertionError("no %s mail to %s" % (kind, email))

        c("POST", "/api/v1/auth/verify-email", {"token": "at_nope"}, expect=400)
        c("POST", "/api/v1/auth/verify-email", {}, expect=422)
        c("POST", "/api/v1/auth/verify-email/resend", {}, expect=422)
        c("POST", "/api/v1/auth/verify-email/resend", {"email": unique_email("nobody")}, expect=202)
        c("POST", "/api/v1/auth/verify-email/resend", token=t, expect=202)
        c("POST", "/api/v1/auth/verify-email", {"token": link("account.verify_email", "verify-email", 2)}, expect=200)
        c("POST", "/api/v1/auth/verify-email/resend", token=t, expect=409)
        c("POST", "/api/v1/auth/password-reset", {"email": "not-an-email"}, expect=422)
        c("POST", "/api/v1/auth/password-reset", {"email": email}, expect=202)
        c("POST", "/api/v1/auth/password-reset/confirm", {"token": "at_nope", "new_password": "whatever 123"},
          expect=400)
        c("POST", "/api/v1/auth/password-reset/confirm", {"token": "at_nope", "new_password": "short"}, expect=422)
        c("POST", "/api/v1/auth/password-reset/confirm",
          {"token": link("account.password_reset", "password-reset", 1), "new_password": "reset password 3"},
          expect=204)

    def catalog(self):
        c, staff = self.call, self.staff
        prod = {"sku": "OA-%d" % time.time_ns(), "name": "Lamp", "price": 1250, "currency": "EUR", "status": "active"}
        c("POST", "/api/v1/products", prod, token=self.customer, expect=403)
        c("POST", "/api/v1/products", {"sku": "x"}, token=staff, expect=422)
        st, _, p = c("POST", "/api/v1/products", prod, token=staff, expect=201)
        c("POST", "/api/v1/products", prod, token=staff, expect=409)
        self.product = p
        c("GET", "/api/v1/products?limit=5", expect=200)
        c("GET", "/api/v1/products?q=lamp&status=active&min_price=1&max_price=99999&category_id=cat_x", expect=200)
        c("GET", "/api/v1/products?min_price=cheap", expect=422)
        c("GET", "/api/v1/products?status=draft", expect=403)
        c("GET", "/api/v1/products?limit=abc", expect=422)
        c("GET", "/api/v1/products/" + p["id"], expect=200)
        c("GET", "/api/v1/products/prd_nope", expect=404)
        c("PATCH", "/api/v1/products/" + p["id"], {"name": "Lamp 2"}, token=staff, headers={"If-Match": '"99"'},
          expect=412)
        c("PATCH", "/api/v1/products/" + p["id"], {"price": -1}, token=staff, expect=422)
        c("PATCH", "/api/v1/products/" + p["id"], {"name": "Lamp 2"}, token=staff, expect=200)
        c("POST", "/api/v1/categories", {"name": ""}, token=staff, expect=422)
        c("POST", "/api/v1/products", {**prod, "sku": "OA-X-%d" % time.time_ns(), "category_id": "cat_nope"},
          token=staff)  # whatever it answers must be declared
        st, _, cat = c("POST", "/api/v1/categories", {"name": "Lights %d" % time.time_ns()}, token=staff, expect=201)
        c("GET", "/api/v1/categories", expect=200)
        c("GET", "/api/v1/categories/" + cat["id"], expect=200)
        c("GET", "/api/v1/categories/cat_nope", expect=404)

    def inventory(self):
        c, staff, pid = self.call, self.staff, self.product["id"]
        c("POST", "/api/v1/inventory/%s/adjustments" % pid, {"delta": 0, "reason": "x"}, token=staff, expect=422)
        c("POST", "/api/v1/inventory/%s/adjustments" % pid, {"delta": 5, "reason": "x"}, token=staff,
          headers={"If-Match": '"77"'}, expect=412)
        c("POST", "/api/v1/inventory/%s/adjustments" % pid, {"delta": 100, "reason": "initial"}, token=staff, expect=200)
        c("POST", "/api/v1/inventory/prd_nope/adjustments", {"delta": 1, "reason": "x"}, token=staff, expect=404)
        c("GET", "/api/v1/inventory/" + pid, token=self.customer, expect=200)
        c("GET", "/api/v1/inventory/prd_nope", token=self.customer, expect=404)
        items = [{"product_id": pid, "quantity": 1}]
        c("POST", "/api/v1/reservations", {"items": [{"product_id": pid, "quantity": 1000}]}, token=self.customer,
          expect=409)
        c("POST", "/api/v1/reservations", {"items": []}, token=self.customer, expect=422)
        st, _, r = c("POST", "/api/v1/reservations", {"items": items}, token=self.customer, expect=201)
        c("GET", "/api/v1/reservations/" + r["id"], token=self.customer, expect=200)
        c("GET", "/api/v1/reservations/res_nope", token=self.customer, expect=404)
        c("DELETE", "/api/v1/reservations/" + r["id"], token=self.customer, expect=200)
        c("DELETE", "/api/v1/reservations/res_nope", token=self.customer, expect=404)
        # edge cases: whatever they answer must be declared
        c("POST", "/api/v1/reservations", {"items": [{"product_id": "prd_nope", "quantity": 1}]}, token=self.customer)
        c("DELETE", "/api/v1/reservations/" + r["id"], token=self.customer)
        c("GET", "/api/v1/reservations/" + r["id"], token=self.staff)
        c("GET", "/api/v1/reservations/" + r["id"], token=self.approver)

    def carts(self):
        c, pid = self.call, self.product["id"]
        st, _, g = c("POST", "/api/v1/carts", {}, expect=201)
        gh = {"Cart-Token": g["token"]}
        c("GET", "/api/v1/carts/" + g["id"], headers=gh, expect=200)
        c("GET", "/api/v1/carts/crt_nope", headers=gh, expect=404)
        c("POST", "/api/v1/carts/%s/lines" % g["id"], {"product_id": pid, "quantity": 0}, headers=gh, expect=422)
        c("POST", "/api/v1/carts/%s/lines" % g["id"], {"product_id": "prd_nope", "quantity": 1}, headers=gh)
        c("POST", "/api/v1/carts/%s/lines" % g["id"], {"product_id": pid, "quantity": 1}, headers=gh, expect=201)
        c("POST", "/api/v1/carts/%s/lines" % g["id"], {"product_id": pid, "quantity": 1}, headers=gh,
          expect=200)  # adds to the line
        line = "/api/v1/carts/%s/lines/%s" % (g["id"], pid)
        c("PATCH", line, {"quantity": 3}, headers={**gh, "If-Match": '"42"'}, expect=412)
        c("PATCH", line, {"quantity": 3}, headers=gh, expect=200)
        c("DELETE", line, headers=gh, expect=200)
        c("DELETE", line, headers=gh, expect=404)
        c("POST", "/api/v1/carts", {}, token="not.a.token", expect=401)
        c("GET", "/api/v1/carts/" + g["id"])  # a guest cart without its token
        c("GET", "/api/v1/carts/" + g["id"], headers={"Cart-Token": g["id"] + ".wrong"})
        c("GET", "/api/v1/carts/" + g["id"], token=self.customer)
        st, _, uc = c("POST", "/api/v1/carts", {}, token=self.customer, expect=201)
        c("POST", "/api/v1/carts", {}, token=self.customer, expect=200)  # the open cart again
        c("POST", "/api/v1/carts/%s/lines" % uc["id"], {"product_id": pid, "quantity": 1}, token=self.customer,
          expect=201)
        self.user_cart = uc

    def orders(self):
        c, cust, staff, pid = self.call, self.customer, self.staff, self.product["id"]
        wait = {"Prefer": "wait=10"}
        c("POST", "/api/v1/orders", {"items": [{"product_id": pid, "quantity": 1}]}, token=cust, expect=422)
        st, _, o = c("POST", "/api/v1/orders", {"items": [{"product_id": pid, "quantity": 1}], "payment": OK_CARD},
                     token=cust, headers=wait, expect=201)
        c("POST", "/api/v1/carts/%s/checkout" % self.user_cart["id"], {}, token=cust, expect=422)
        c("POST", "/api/v1/carts/crt_nope/checkout", {"payment": OK_CARD}, token=cust, expect=404)
        st, _, o2 = c("POST", "/api/v1/carts/%s/checkout" % self.user_cart["id"], {"payment": OK_CARD}, token=cust,
                      headers=wait, expect=201)
        c("POST", "/api/v1/carts/%s/checkout" % self.user_cart["id"], {"payment": OK_CARD}, token=cust, expect=409)
        key = {"Idempotency-Key": "oa-%d" % time.time_ns()}
        one = {"items": [{"product_id": pid, "quantity": 1}], "payment": OK_CARD}
        c("POST", "/api/v1/orders", one, token=cust, headers={**key, **wait}, expect=201)
        st, h, _ = c("POST", "/api/v1/orders", one, token=cust, headers={**key, **wait}, expect=201)  # replayed
        self.assertEqual(h.get("idempotent-replayed"), "true")
        c("POST", "/api/v1/orders", {**one, "items": [{"product_id": pid, "quantity": 2}]}, token=cust,
          headers=key, expect=422)  # the same key with another body
        c("GET", "/api/v1/orders", token=cust, expect=200)
        c("GET", "/api/v1/orders?status=paid&customer_id=usr_x&limit=3", token=staff, expect=200)
        c("GET", "/api/v1/orders?cursor=zzz", token=cust, expect=422)
        c("GET", "/api/v1/orders/" + o["id"], token=cust, expect=200)
        c("GET", "/api/v1/orders/ord_nope", token=cust, expect=404)
        c("GET", "/api/v1/orders/%s/events" % o["id"], token=cust, expect=200)
        c("GET", "/api/v1/orders/ord_nope/events", token=cust, expect=404)
        oid = o["id"]
        c("POST", "/api/v1/orders/%s/ship" % oid, token=staff, expect=409)
        c("POST", "/api/v1/orders/%s/fulfil" % oid, token=cust, expect=403)
        c("POST", "/api/v1/orders/%s/fulfil" % oid, token=staff, headers={"If-Match": '"99"'}, expect=412)
        c("POST", "/api/v1/orders/%s/fulfil" % oid, token=staff, expect=200)
        c("POST", "/api/v1/orders/%s/ship" % oid, token=staff, expect=200)
        c("POST", "/api/v1/orders/%s/deliver" % oid, token=staff, expect=200)
        c("POST", "/api/v1/orders/%s/deliver" % oid, token=staff, expect=409)
        c("POST", "/api/v1/orders/%s/refunds" % oid, {"amount": 0}, token=staff, expect=422)
        c("POST", "/api/v1/orders/%s/refunds" % oid, {"amount": 100}, token=staff, expect=202)
        c("POST", "/api/v1/orders/%s/refunds" % o2["id"], {"amount": 100}, token=staff, headers=wait, expect=200)
        c("POST", "/api/v1/orders/%s/refunds" % o2["id"], {}, token=staff, headers=wait, expect=200)
        c("POST", "/api/v1/orders/%s/refunds" % o2["id"], {}, token=staff, headers=wait, expect=409)
        c("POST", "/api/v1/orders", {"items": [{"product_id": pid, "quantity": 1}],
                                     "payment": {"card_number": "4000000000000002"}}, token=cust, headers=wait)
        c("POST", "/api/v1/orders", {"items": [{"product_id": pid, "quantity": 100000}], "payment": OK_CARD},
          token=cust, headers=wait)
        c("POST", "/api/v1/orders", {"cart_id": "crt_nope", "payment": OK_CARD}, token=cust)
        c("POST", "/api/v1/orders", {"items": [{"product_id": "prd_nope", "quantity": 1}], "payment": OK_CARD},
          token=cust)
        c("GET", "/api/v1/orders/" + oid, token=self.approver)  # someone else's order
        c("GET", "/api/v1/orders/%s/events" % oid, token=self.approver)
        c("GET", "/api/v1/reports/sales-daily", token=cust, expect=403)
        c("GET", "/api/v1/reports/sales-daily?from=yesterday", token=staff, expect=422)
        c("GET", "/api/v1/reports/sales-daily", token=staff, expect=200)
        c("GET", "/api/v1/reports/sales-daily?from=2026-01-01&to=2099-12-31", token=staff, expect=200)

    def workflows(self):
        c, admin = self.call, self.admin
        yaml = {"Content-Type": "application/yaml"}
        c("POST", "/api/v1/workflows", raw=FLOW.encode(), token=self.customer, headers=yaml, expect=403)
        c("POST", "/api/v1/workflows", raw=b"name: [", token=admin, headers=yaml, expect=400)
        c("POST", "/api/v1/workflows", raw=b"name: x\ntype: t\n", token=admin, headers=yaml, expect=422)
        c("POST", "/api/v1/workflows/validate", raw=FLOW.encode(), token=self.customer, headers=yaml, expect=403)
        c("POST", "/api/v1/workflows/validate", raw=b"name: [", token=admin, headers=yaml, expect=400)
        c("POST", "/api/v1/workflows/validate", raw=b"name: x\ntype: t\n", token=admin, headers=yaml, expect=422)
        c("POST", "/api/v1/workflows/validate", raw=FLOW.encode(), token=admin, headers=yaml, expect=200)
        st, _, w = c("POST", "/api/v1/workflows", raw=FLOW.encode(), token=admin, headers=yaml, expect=201)
        c("POST", "/api/v1/workflows", FLOW_JSON, token=admin, expect=201)
        c("GET", "/api/v1/workflows", token=admin, expect=200)
        c("GET", "/api/v1/workflows", token=self.customer, expect=403)
        c("GET", "/api/v1/workflows/purchase", token=admin, expect=200)
        c("GET", "/api/v1/workflows/nope", token=admin, expect=404)
        c("GET", "/api/v1/workflows/purchase/versions/1", token=admin, expect=200)
        c("GET", "/api/v1/workflows/purchase/versions/9", token=admin, expect=404)
        # typed input fields: a bad declaration is a 422 with lines; the catalog shows the fields
        c("POST", "/api/v1/workflows", raw=FLOW_FIELDS.replace("options: [hardware, software]", "options: []").encode(),
          token=admin, headers=yaml, expect=422)
        c("POST", "/api/v1/workflows", raw=FLOW_FIELDS.encode(), token=admin, headers=yaml, expect=201)
        c("GET", "/api/v1/request-types", token=self.customer, expect=200)
        c("GET", "/api/v1/request-types", expect=401)
        c("GET", "/api/v1/request-types/equipment", token=self.customer, expect=200)
        c("GET", "/api/v1/request-types/nope", token=self.customer, expect=404)
        c("POST", "/api/v1/requests", {"type": "equipment", "title": "x", "data": {"amount": -1, "needed_by": "soon"}},
          token=self.customer, expect=422)
        c("POST", "/api/v1/requests", {"type": "equipment", "title": "x", "data": {"amount": 5}}, token=self.customer,
          expect=201)

    def requests(self):
        c, cust, admin, appr = self.call, self.customer, self.admin, self.approver
        c("POST", "/api/v1/requests", {"type": "nope", "title": "x"}, token=cust, expect=422)
        c("PATCH", "/api/v1/users/me", {"name": "x"}, token=self.admin)
        st, _, r = c("POST", "/api/v1/requests", {"type": "purchase", "title": "Laptop", "data": {"amount": 10}},
                     token=cust, expect=201)
        rid = self.request_id = r["id"]
        c("GET", "/api/v1/requests", token=cust, expect=200)
        c("GET", "/api/v1/requests?state=draft&type=purchase", token=cust, expect=200)
        c("GET", "/api/v1/requests?limit=999", token=cust, expect=422)
        c("GET", "/api/v1/requests?sla=breached&type=purchase", token=self.staff, expect=200)
        c("GET", "/api/v1/requests?sla=late", token=self.staff, expect=422)
        c("GET", "/api/v1/requests/" + rid, token=cust, expect=200)
        c("GET", "/api/v1/requests/req_nope", token=cust, expect=404)
        c("POST", "/api/v1/requests/%s/comments" % rid, {"body": ""}, token=cust, expect=422)
        c("POST", "/api/v1/requests/%s/comments" % rid, {"body": "please"}, token=cust, expect=201)
        c("POST", "/api/v1/requests/%s/comments" % rid, {"body": "vip", "internal": True}, token=cust, expect=403)
        c("POST", "/api/v1/requests/%s/comments" % rid, {"body": "vip", "internal": "yes"}, token=admin,
          expect=422)
        c("POST", "/api/v1/requests/%s/comments" % rid, {"body": "vip", "internal": True}, token=admin, expect=201)
        c("POST", "/api/v1/requests/%s/transitions" % rid, {"action": "approve"}, token=cust, expect=409)
        c("POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "approve"}, token=appr, expect=409)
        c("POST", "/api/v1/requests/%s/transitions" % rid, {"action": "submit"}, token=cust, expect=200)
        c("POST", "/api/v1/requests/%s/transitions" % rid, {"action": "approve"}, token=cust, expect=403)
        c("POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "approve"}, token=cust, expect=403)
        c("POST", "/api/v1/requests/%s/assignment" % rid, {"role": "approver"}, token=cust, expect=403)
        c("POST", "/api/v1/requests/%s/assignment" % rid, {"role": "approver"}, token=admin, expect=200)
        c("GET", "/api/v1/approvals", expect=401)
        c("GET", "/api/v1/approvals?assignee=me", token=appr, expect=200)
        c("GET", "/api/v1/approvals?assignee=bob", token=appr, expect=422)
        c("POST", "/api/v1/requests/%s/approvals/delegate" % rid, {"to": "usr_nope"}, token=appr, expect=422)
        c("POST", "/api/v1/requests/%s/approvals/delegate" % rid, {"to": self.approver2_id}, token=appr, expect=200)
        c("POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "maybe"}, token=self.approver2, expect=422)
        c("POST", "/api/v1/requests/%s/approvals" % rid, {"decision": "approve"}, token=self.approver2, expect=200)
        c("GET", "/api/v1/requests/%s/events" % rid, token=cust, expect=200)
        c("GET", "/api/v1/requests/req_nope/events", token=cust, expect=404)
        c("GET", "/api/v1/requests/%s/webhooks" % rid, token=admin, expect=200)
        c("GET", "/api/v1/requests/%s/webhooks" % rid, token=cust, expect=403)
        # edge cases: whatever they answer must be declared
        c("POST", "/api/v1/requests/%s/transitions" % rid, {"action": "submit"}, token=cust)  # final state
        c("POST", "/api/v1/requests/%s/comments" % rid, {"body": "x"}, token=self.staff)
        c("GET", "/api/v1/requests/" + rid, token=self.staff)
        st, _, other = c("POST", "/api/v1/requests", {"type": "access", "title": "VPN"}, token=self.staff)
        c("GET", "/api/v1/requests/" + other["id"], token=cust)
        c("POST", "/api/v1/requests/%s/comments" % other["id"], {"body": "x"}, token=cust)
        c("POST", "/api/v1/requests/%s/transitions" % other["id"], {"action": "close"}, token=cust)
        c("POST", "/api/v1/requests/%s/assignment" % other["id"], {"user_id": "usr_nope"}, token=admin)
        c("POST", "/api/v1/requests/%s/assignment" % other["id"], {}, token=admin)
        c("POST", "/api/v1/requests/%s/approvals/delegate" % other["id"], {"to": self.approver2_id}, token=appr)

    def notifications(self):
        c, cust = self.call, self.customer
        st, _, page = c("GET", "/api/v1/notifications?limit=1", token=cust, expect=200)
        c("GET", "/api/v1/notifications?unread=true", token=cust, expect=200)
        c("GET", "/api/v1/notifications?unread=maybe", token=cust, expect=422)
        c("GET", "/api/v1/notifications/unread-count", token=cust, expect=200)
        c("GET", "/api/v1/notifications/unread-count", expect=401)
        if page["data"]:
            c("POST", "/api/v1/notifications/%s/read" % page["data"][0]["id"], token=cust, expect=200)
            c("POST", "/api/v1/notifications/%s/read" % page["data"][0]["id"], token=self.staff, expect=404)
        c("POST", "/api/v1/notifications/ntf_nope/read", token=cust, expect=404)
        c("POST", "/api/v1/notifications/read-all", token=cust, expect=200)
        c("POST", "/api/v1/notifications/read-all", expect=401)
        c("GET", "/api/v1/notifications/preferences", token=cust, expect=200)
        c("PUT", "/api/v1/notifications/preferences", {"orders": {"email": False}}, token=cust, expect=200)
        c("PUT", "/api/v1/notifications/preferences", {"orders": {"sms": True}}, token=cust, expect=422)
        c("PUT", "/api/v1/notifications/preferences", {"account": {"email": True}}, token=cust, expect=422)

    def mail(self):
        c, admin = self.call, self.admin
        tpl = "/api/v1/mail/templates/order.paid"
        c("GET", "/api/v1/mail/templates", token=admin, expect=200)
        c("GET", "/api/v1/mail/templates", token=self.customer, expect=403)
        c("GET", tpl, token=admin, expect=200)
        c("GET", "/api/v1/mail/templates/nope", token=admin, expect=404)
        new = {"subject": "Paid {{order.id}}", "text": "Paid {{order.id}}", "html": "<p>{{order.id}}</p>"}
        c("PUT", tpl, new, token=admin, expect=200)
        c("PUT", tpl, dict(new, subject="{{oops"), token=admin, expect=422)
        c("PUT", tpl, new, token=admin, headers={"If-Match": '"999"'}, expect=412)
        c("PUT", "/api/v1/mail/templates/nope", new, token=admin, expect=404)
        c("POST", tpl + "/preview", {"vars": {"order": {"id": "o1"}}}, token=admin, expect=200)
        c("POST", tpl + "/preview", {"text": "{{#if x}}"}, token=admin, expect=422)
        c("POST", "/api/v1/mail/templates/nope/preview", {}, token=admin, expect=404)
        st, _, m = c("POST", tpl + "/send", {"to": "ann@example.com", "vars": {"order": {"id": "o1"}}}, token=admin,
                     expect=201)
        c("POST", tpl + "/send", {"to": "not-an-address"}, token=admin, expect=422)
        c("POST", "/api/v1/mail/templates/nope/send", {"to": "ann@example.com"}, token=admin, expect=404)
        c("DELETE", tpl, token=admin, expect=200)
        c("DELETE", "/api/v1/mail/templates/nope", token=admin, expect=404)
        c("GET", "/api/v1/mail/messages", token=admin, expect=200)
        c("GET", "/api/v1/mail/messages?status=kept", token=admin, expect=200)
        c("GET", "/api/v1/mail/messages?status=lost", token=admin, expect=422)
        c("GET", "/api/v1/mail/messages/" + m["id"], token=admin, expect=200)
        c("GET", "/api/v1/mail/messages/mail_nope", token=admin, expect=404)
        # kept at once in the dev mailbox (no smtp_url), and queued again by resend
        c("POST", "/api/v1/mail/messages/%s/resend" % m["id"], token=admin, expect=200)
        c("POST", "/api/v1/mail/messages/mail_nope/resend", token=admin, expect=404)

    def stream(self):
        c, cust, pid = self.call, self.customer, self.product["id"]
        c("GET", "/api/v1/stream", token=cust, expect=422)  # no topics
        c("GET", "/api/v1/stream?topics=nosuch:1", token=cust, expect=422)
        c("GET", "/api/v1/stream?topics=order:ord_nope", token=cust, expect=404)
        c("GET", "/api/v1/stream?topics=webhook_deliveries:whk_nope", token=cust, expect=403)
        c("GET", "/api/v1/stream?topics=webhook_deliveries:whk_nope", token=self.admin, expect=404)
        c("GET", "/api/v1/stream?topics=stock:%s&after=x" % pid, token=cust, expect=422)
        c("GET", "/api/v1/stream?topics=stock:" + pid, token=cust, headers={"Origin": "http://evil.example"},
          expect=403)
        # an event stream never ends by itself: its head is checked, then it is closed
        path = "/api/v1/stream?topics=stock:" + pid
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        conn.request("GET", path, headers={"Authorization": "Bearer " + cust})
        resp = conn.getresponse()
        headers = Headers((k.lower(), v) for k, v in resp.getheaders())
        self.problems.extend(self.contract.check("GET", path, resp.status, headers, ""))
        if resp.status != 200:
            self.unexpected.append("GET %s: %d, expected 200" % (path, resp.status))
        conn.close()
        c("GET", "/api/v1/stream/ws", token=cust, expect=200)  # no Upgrade: the topics and limits
        c("GET", "/api/v1/stream/ws", token=cust, headers={"Upgrade": "h2c", "Connection": "Upgrade"}, expect=426)

    def audit(self):
        c, admin = self.call, self.admin
        c("GET", "/api/v1/events?limit=2", token=admin, expect=200)
        c("GET", "/api/v1/events?stream=nothing-here", token=admin, expect=200)
        c("GET", "/api/v1/events?cursor=x", token=admin, expect=422)
        c("GET", "/api/v1/events?type=user.,order.paid&limit=2", token=admin, expect=200)
        c("GET", "/api/v1/events?type=Not%20a%20type", token=admin, expect=400)
        c("GET", "/api/v1/events", token=self.customer, expect=403)
        c("POST", "/api/v1/events/verify", token=admin, expect=200)
        c("POST", "/api/v1/events/verify", token=self.customer, expect=403)

    def webhooks(self):
        c, admin, hook = self.call, self.admin, {"url": "http://93.184.215.14/hook", "events": ["no.such.*"]}
        c("POST", "/api/v1/webhooks", hook, token=self.customer, expect=403)
        c("POST", "/api/v1/webhooks", {"url": "http://127.0.0.1:9/", "events": ["*"]}, token=admin, expect=422)
        st, _, w = c("POST", "/api/v1/webhooks", hook, token=admin, expect=201)
        path = "/api/v1/webhooks/" + w["id"]
        c("GET", "/api/v1/webhooks", token=admin, expect=200)
        c("GET", "/api/v1/webhooks?cursor=bad", token=admin, expect=422)
        c("GET", path, token=admin, expect=200)
        c("GET", "/api/v1/webhooks/whk_nope", token=admin, expect=404)
        c("PATCH", path, {"active": False}, token=admin, headers={"If-Match": '"1"'}, expect=200)
        c("PATCH", path, {"active": True}, token=admin, headers={"If-Match": '"1"'}, expect=412)
        c("PATCH", path, {"events": []}, token=admin, expect=422)
        c("POST", path + "/secret", token=admin, expect=200)
        c("POST", "/api/v1/webhooks/whk_nope/secret", token=admin, expect=404)
        c("GET", path + "/deliveries", token=admin, expect=200)
        c("GET", path + "/deliveries?status=lost", token=admin, expect=422)
        c("POST", "/api/v1/webhooks/deliveries/whs_nope/resend", token=admin, expect=404)
        c("POST", "/api/v1/webhooks/deliveries/whs_nope/resend", token=self.customer, expect=403)
        deadline, dead = time.time() + 15, []
        while not dead and time.time() < deadline:  # the purchase's webhook (to a closed port) goes dead
            st, _, log = req(self.srv, "GET", "/api/v1/requests/%s/webhooks" % self.request_id, token=admin)
            dead = [d for d in log["data"] if d["status"] == "dead"]
            time.sleep(0.05)
        if dead:
            c("POST", "/api/v1/webhooks/deliveries/%s/resend" % dead[0]["id"], token=admin, expect=202)
        c("DELETE", path, token=admin, expect=204)
        c("DELETE", path, token=admin, expect=404)

    def sweep(self):
        """Every operation of the document, with made-up ids and an empty body:
        anonymously, with a bad token, and as a customer; every read also with
        an unknown query parameter. Whatever each answers must be declared
        (mostly 401, 403, 404 and 422)."""
        for (method, tpl), op in sorted(self.contract.ops.items()):
            path = re.sub(r"\{[^}]+\}", "zz_nope", tpl)
            body = {} if "requestBody" in op else None
            for token in (None, "not.a.token", self.customer):
                self.call(method, path, body, token=token)
            if method == "GET":
                self.call(method, path + "?zz_unknown=1", token=self.admin, known_query=False)

    def test_every_route_answers_as_documented(self):
        self.admin = make_user(self.srv, "admin")["access_token"]
        self.staff = make_user(self.srv, "staff")["access_token"]
        self.approver = make_user(self.srv, "approver")["access_token"]
        self.approver2 = make_user(self.srv, "staff")["access_token"]  # a delegate without a say of its own
        self.approver2_id = req(self.srv, "GET", "/api/v1/users/me", token=self.approver2)[2]["id"]
        for scenario in (self.ops, self.identity, self.catalog, self.inventory, self.carts, self.orders,
                         self.workflows, self.requests, self.mail, self.notifications, self.stream,
                         self.webhooks, self.audit, self.sweep):
            with self.subTest(scenario.__name__):
                scenario()
        self.assertEqual(self.unexpected + self.problems, [], "answers this test did not expect, or the document does not describe:\n  " +
                         "\n  ".join(self.unexpected + self.problems))

    def test_zz_every_operation_is_exercised(self):
        """Runs after the scenarios (unittest orders tests by name)."""
        missing = self.contract.missing()
        for line in self.contract.unobserved():
            print("declared, not provoked here: " + line)
        self.assertEqual(missing, [], "operations of the document this test does not exercise "
                         "(add them to test_openapi.py):\n  " + "\n  ".join(missing))


if __name__ == "__main__":
    main()
