/* sf_totp: RFC 6238 vectors, the ±1 step window, replay refusal, input checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "services/identity/totp.h"

/* base32 of the RFC 6238 SHA1 seed "12345678901234567890" */
#define RFC_SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static void test_rfc6238_vectors(void **state) {
  (void)state;
  /* RFC 6238 appendix B, SHA1, last 6 of the 8-digit values. */
  static const struct {
    int64_t t;
    const char *code;
  } v[] = {{59, "287082"},         {1111111109, "081804"}, {1111111111, "050471"},
           {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char code[7];
    assert_int_equal(sf_totp_code(RFC_SECRET, v[i].t, code), 0);
    assert_string_equal(code, v[i].code);
    assert_int_equal(sf_totp_check(RFC_SECRET, v[i].code, v[i].t, 0), v[i].t / 30);
  }
}

static void test_window(void **state) {
  (void)state;
  const int64_t now = 1111111109, step = now / 30;
  char prev[7], cur[7], next[7], far_past[7], far_future[7];
  assert_int_equal(sf_totp_code(RFC_SECRET, now - 30, prev), 0);
  assert_int_equal(sf_totp_code(RFC_SECRET, now, cur), 0);
  assert_int_equal(sf_totp_code(RFC_SECRET, now + 30, next), 0);
  assert_int_equal(sf_totp_code(RFC_SECRET, now - 60, far_past), 0);
  assert_int_equal(sf_totp_code(RFC_SECRET, now + 60, far_future), 0);
  assert_int_equal(sf_totp_check(RFC_SECRET, prev, now, 0), step - 1);
  assert_int_equal(sf_totp_check(RFC_SECRET, cur, now, 0), step);
  assert_int_equal(sf_totp_check(RFC_SECRET, next, now, 0), step + 1);
  assert_int_equal(sf_totp_check(RFC_SECRET, far_past, now, 0), SF_TOTP_INVALID);
  assert_int_equal(sf_totp_check(RFC_SECRET, far_future, now, 0), SF_TOTP_INVALID);
}

static void test_replay(void **state) {
  (void)state;
  const int64_t now = 1234567890, step = now / 30;
  char cur[7], next[7], prev[7];
  assert_int_equal(sf_totp_code(RFC_SECRET, now, cur), 0);
  assert_int_equal(sf_totp_code(RFC_SECRET, now + 30, next), 0);
  assert_int_equal(sf_totp_code(RFC_SECRET, now - 30, prev), 0);
  int64_t last = sf_totp_check(RFC_SECRET, cur, now, 0);
  assert_int_equal(last, step);
  /* Same code again, also a few seconds later within the window. */
  assert_int_equal(sf_totp_check(RFC_SECRET, cur, now, last), SF_TOTP_REPLAY);
  assert_int_equal(sf_totp_check(RFC_SECRET, cur, now + 25, last), SF_TOTP_REPLAY);
  /* An older code is a replay too once a later step was used. */
  assert_int_equal(sf_totp_check(RFC_SECRET, prev, now, last), SF_TOTP_REPLAY);
  /* The next step's code is still fresh. */
  assert_int_equal(sf_totp_check(RFC_SECRET, next, now, last), step + 1);
  assert_int_equal(sf_totp_check(RFC_SECRET, next, now, step + 1), SF_TOTP_REPLAY);
  /* A wrong code stays "invalid", not "replay". */
  const char *wrong = strcmp(cur, "000000") ? "000000" : "111111";
  assert_int_equal(sf_totp_check(RFC_SECRET, wrong, now, last), SF_TOTP_INVALID);
}

static void test_malformed(void **state) {
  (void)state;
  const int64_t now = 59;
  static const char *bad[] = {"abc",    "12345",  "1234567",      "",        " 287082", "287082 ", "28708a",
                              "+28708", "-28708", "２８７０８２", "287082\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(sf_totp_check(RFC_SECRET, bad[i], now, 0), SF_TOTP_INVALID);
  assert_int_equal(sf_totp_check(RFC_SECRET, NULL, now, 0), SF_TOTP_INVALID);
  assert_int_equal(sf_totp_check(RFC_SECRET, "287082", -1, 0), SF_TOTP_INVALID);
  /* Bad secrets. */
  assert_int_equal(sf_totp_check("", "287082", now, 0), SF_TOTP_INVALID);
  assert_int_equal(sf_totp_check("not base32!", "287082", now, 0), SF_TOTP_INVALID);
  assert_int_equal(sf_totp_check(NULL, "287082", now, 0), SF_TOTP_INVALID);
  char code[7];
  assert_int_equal(sf_totp_code("1!", now, code), -1);
}

static void test_new_secret(void **state) {
  (void)state;
  char a[SF_TOTP_SECRET_MAX], b[SF_TOTP_SECRET_MAX], small[32];
  assert_int_equal(sf_totp_new_secret(a, sizeof a), 0);
  assert_int_equal(sf_totp_new_secret(b, sizeof b), 0);
  assert_int_equal(strlen(a), 32);
  assert_string_not_equal(a, b);
  for (const char *p = a; *p; p++) assert_true((*p >= 'A' && *p <= 'Z') || (*p >= '2' && *p <= '7'));
  assert_int_equal(sf_totp_new_secret(small, sizeof small), -1);
  /* A fresh secret works end to end. */
  char code[7];
  assert_int_equal(sf_totp_code(a, 1763805600, code), 0);
  assert_int_equal(sf_totp_check(a, code, 1763805600, 0), 1763805600 / 30);
}

static void test_uri(void **state) {
  (void)state;
  char uri[512];
  assert_int_equal(sf_totp_uri(RFC_SECRET, "Service Flow", "ann+mfa@example.com", uri, sizeof uri), 0);
  assert_string_equal(uri, "otpauth://totp/Service%20Flow:ann%2Bmfa%40example.com?secret=" RFC_SECRET
                           "&issuer=Service%20Flow&algorithm=SHA1&digits=6&period=30");
  assert_int_equal(sf_totp_uri(RFC_SECRET, "A:B&c=d", "x/y?z", uri, sizeof uri), 0);
  assert_string_equal(uri, "otpauth://totp/A%3AB%26c%3Dd:x%2Fy%3Fz?secret=" RFC_SECRET
                           "&issuer=A%3AB%26c%3Dd&algorithm=SHA1&digits=6&period=30");
  assert_int_equal(sf_totp_uri(RFC_SECRET, NULL, "ann", uri, sizeof uri), 0);
  assert_string_equal(uri, "otpauth://totp/ann?secret=" RFC_SECRET "&algorithm=SHA1&digits=6&period=30");
  /* UTF-8 is percent-encoded byte by byte. */
  assert_int_equal(sf_totp_uri(RFC_SECRET, "Flöw", "a", uri, sizeof uri), 0);
  assert_non_null(strstr(uri, "Fl%C3%B6w:a?"));
  assert_int_equal(sf_totp_uri(RFC_SECRET, "SF", "ann", uri, 40), -1);
  assert_string_equal(uri, "");
  assert_int_equal(sf_totp_uri("lower", "SF", "ann", uri, sizeof uri), -1);
  assert_int_equal(sf_totp_uri(RFC_SECRET, "SF", "", uri, sizeof uri), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc6238_vectors), cmocka_unit_test(test_window),     cmocka_unit_test(test_replay),
      cmocka_unit_test(test_malformed),       cmocka_unit_test(test_new_secret), cmocka_unit_test(test_uri),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
