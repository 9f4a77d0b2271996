/* The sandbox provider's void of an authorization named only by the
 * authorize's key (payments.h): it voids what the key authorized, or answers
 * "no such authorization" and closes the key, so that an authorize arriving
 * later with it is declined. Either answer is definite and repeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "services/payments/payments.h"

static char dir[64], ledger[128];

static sf_pay_provider *open_sandbox(void) {
  snprintf(dir, sizeof dir, "/tmp/sf-sandbox-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(ledger, sizeof ledger, "%s/ledger.db", dir);
  sf_err err = {0};
  sf_pay_provider *p = sf_pay_sandbox_open(ledger, &err);
  assert_non_null(p);
  return p;
}

static void close_sandbox(sf_pay_provider *p) {
  p->close(p->self);
  free(p);
  char path[160];
  const char *const files[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s%s", ledger, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

static sf_pay_op op_of(sf_pay_kind kind, const char *key) {
  sf_pay_op op;
  memset(&op, 0, sizeof op);
  op.kind = kind;
  op.amount = 1250;
  snprintf(op.currency, sizeof op.currency, "EUR");
  snprintf(op.key, sizeof op.key, "%s", key);
  if (kind == SF_PAY_AUTHORIZE) snprintf(op.card, sizeof op.card, "4242424242424242");
  return op;
}

static sf_pay_op void_by_key(const char *key, const char *auth_key) {
  sf_pay_op op = op_of(SF_PAY_VOID, key);
  snprintf(op.auth_key, sizeof op.auth_key, "%s", auth_key);
  return op;
}

static void void_by_key_releases_what_the_key_authorized(void **state) {
  (void)state;
  sf_pay_provider *p = open_sandbox();
  sf_pay_op auth = op_of(SF_PAY_AUTHORIZE, "ord_1:authorize");
  p->run(p->self, &auth, 1);
  assert_int_equal(auth.outcome, SF_PAY_OK);
  sf_pay_op v = void_by_key("ord_1:void", "ord_1:authorize");
  p->run(p->self, &v, 1);
  assert_int_equal(v.outcome, SF_PAY_OK);
  /* voided: a capture of that authorization is refused */
  sf_pay_op cap = op_of(SF_PAY_CAPTURE, "ord_1:capture");
  snprintf(cap.ref, sizeof cap.ref, "%s", auth.ref);
  p->run(p->self, &cap, 1);
  assert_int_equal(cap.outcome, SF_PAY_DECLINED);
  /* the void's key repeats its answer */
  v = void_by_key("ord_1:void", "ord_1:authorize");
  p->run(p->self, &v, 1);
  assert_int_equal(v.outcome, SF_PAY_OK);
  close_sandbox(p);
}

static void void_by_key_of_nothing_closes_the_key(void **state) {
  (void)state;
  sf_pay_provider *p = open_sandbox();
  sf_pay_op v = void_by_key("ord_2:void", "ord_2:authorize");
  p->run(p->self, &v, 1);
  assert_int_equal(v.outcome, SF_PAY_DECLINED);
  assert_string_equal(v.message, "no such authorization");
  /* an authorize arriving after that answer cannot authorize */
  sf_pay_op auth = op_of(SF_PAY_AUTHORIZE, "ord_2:authorize");
  p->run(p->self, &auth, 1);
  assert_int_equal(auth.outcome, SF_PAY_DECLINED);
  assert_string_equal(auth.message, "voided before it was authorized");
  /* a declined authorize leaves nothing to void either */
  sf_pay_op declined = op_of(SF_PAY_AUTHORIZE, "ord_3:authorize");
  snprintf(declined.card, sizeof declined.card, "4000000000000002");
  p->run(p->self, &declined, 1);
  assert_int_equal(declined.outcome, SF_PAY_DECLINED);
  v = void_by_key("ord_3:void", "ord_3:authorize");
  p->run(p->self, &v, 1);
  assert_int_equal(v.outcome, SF_PAY_DECLINED);
  close_sandbox(p);
}

/* The transient test card: its key is not final after a transient answer, so
 * a void closes it as well. */
static void void_by_key_after_a_transient_answer_closes_the_key(void **state) {
  (void)state;
  sf_pay_provider *p = open_sandbox();
  sf_pay_op auth = op_of(SF_PAY_AUTHORIZE, "ord_4:authorize");
  snprintf(auth.card, sizeof auth.card, "4000000000000119");
  p->run(p->self, &auth, 1);
  assert_int_equal(auth.outcome, SF_PAY_TRANSIENT);
  sf_pay_op v = void_by_key("ord_4:void", "ord_4:authorize");
  p->run(p->self, &v, 1);
  assert_int_equal(v.outcome, SF_PAY_DECLINED);
  auth = op_of(SF_PAY_AUTHORIZE, "ord_4:authorize");
  snprintf(auth.card, sizeof auth.card, "4000000000000119");
  p->run(p->self, &auth, 1);
  assert_int_equal(auth.outcome, SF_PAY_DECLINED);
  close_sandbox(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(void_by_key_releases_what_the_key_authorized),
      cmocka_unit_test(void_by_key_of_nothing_closes_the_key),
      cmocka_unit_test(void_by_key_after_a_transient_answer_closes_the_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
