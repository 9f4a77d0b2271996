/* The webhook destination guard (services/webhooks/guard.h): the address
 * classifier over every refused range and its IPv6 forms, the allow-list
 * (CIDRs, addresses, host names, bad entries), the subscribe-time URL check,
 * and the event-type patterns of subscriptions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "services/webhooks/guard.h"
#include "services/webhooks/webhooks.h"

/* The classifier's answer for a literal address (v4 or v6). */
static const char *classify(const char *ip) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    assert_int_equal(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1);
    v6->sin6_family = AF_INET6;
  }
  return sf_webhooks_guard_classify((struct sockaddr *)&ss);
}

static const char *refuses(const char *ip) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    assert_int_equal(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1);
    v6->sin6_family = AF_INET6;
  }
  return sf_webhooks_guard_refuses((struct sockaddr *)&ss);
}

static void test_refused_ranges(void **state) {
  (void)state;
  static const struct {
    const char *ip, *why;
  } k[] = {
      {"0.0.0.0", "unspecified"},
      {"0.1.2.3", "unspecified"},
      {"10.0.0.1", "private"},
      {"10.255.255.255", "private"},
      {"172.16.0.1", "private"},
      {"172.31.255.254", "private"},
      {"192.168.1.1", "private"},
      {"100.64.0.1", "shared (CGNAT)"},
      {"100.127.255.254", "shared (CGNAT)"},
      {"127.0.0.1", "loopback"},
      {"127.255.0.9", "loopback"},
      {"169.254.169.254", "link-local"},
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"240.0.0.1", "reserved"},
      {"255.255.255.255", "reserved"},
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"fe80::1", "link-local"},
      {"febf::1", "link-local"},
      {"fec0::1", "site-local"},
      {"fc00::1", "unique local (ULA)"},
      {"fdff:ffff::1", "unique local (ULA)"},
      {"ff02::1", "multicast"},
      {"::ffff:127.0.0.1", "loopback"}, /* IPv4-mapped */
      {"::ffff:10.1.1.1", "private"},
      {"::ffff:169.254.169.254", "link-local"},
      {"::ffff:0.0.0.0", "unspecified"},
      {"::127.0.0.1", "loopback"}, /* IPv4-compatible */
      {"::10.0.0.1", "private"},
      {"64:ff9b::7f00:1", "loopback"}, /* NAT64 of 127.0.0.1 */
      {"64:ff9b::a9fe:a9fe", "link-local"},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    const char *why = classify(k[i].ip);
    if (!why || strcmp(why, k[i].why) != 0) fail_msg("%s: got %s, want %s", k[i].ip, why ? why : "(public)", k[i].why);
  }
}

static void test_public_addresses_pass(void **state) {
  (void)state;
  static const char *const k[] = {
      "8.8.8.8",        "1.1.1.1",     "93.184.215.14",    "100.63.255.255", "100.128.0.1",     "172.15.0.1",
      "172.32.0.1",     "169.253.0.1", "192.167.1.1",      "11.0.0.1",       "223.255.255.254", "2606:4700::1111",
      "::ffff:8.8.8.8", "2001:db9::1", "64:ff9b::808:808", "fe7f::1",        "fbff::1"};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    const char *why = classify(k[i]);
    if (why) fail_msg("%s refused as %s", k[i], why);
  }
}

static void test_allow_list(void **state) {
  (void)state;
  sf_err err = {0};
  assert_int_equal(sf_webhooks_guard_configure("", &err), 0);
  assert_non_null(refuses("127.0.0.1"));
  assert_int_equal(sf_webhooks_guard_configure(" 127.0.0.0/8 , 10.1.0.0/16,::1, fd00::/8, Hooks.Internal ", &err), 0);
  assert_null(refuses("127.0.0.1"));
  assert_null(refuses("127.9.9.9"));
  assert_null(refuses("::ffff:127.0.0.1")); /* an allowed IPv4 address in its mapped form */
  assert_null(refuses("10.1.200.3"));
  assert_non_null(refuses("10.2.0.1"));
  assert_null(refuses("::1"));
  assert_null(refuses("fd12::1"));
  assert_non_null(refuses("fc00::1"));
  assert_non_null(refuses("192.168.0.1"));
  assert_null(refuses("8.8.8.8"));
  assert_int_equal(sf_webhooks_guard_host_allowed("hooks.internal"), 1);
  assert_int_equal(sf_webhooks_guard_host_allowed("HOOKS.INTERNAL"), 1);
  assert_int_equal(sf_webhooks_guard_host_allowed("other.internal"), 0);
  /* a bad entry is refused and the list in force stays */
  static const char *const bad[] = {"10.0.0.0/33", "::1/129", "10.0.0.0/", "bad host", "a/b", "10.0.0.0/x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sf_err_clear(&err);
    assert_int_not_equal(sf_webhooks_guard_configure(bad[i], &err), 0);
    assert_int_equal(err.status, 400);
  }
  assert_null(refuses("127.0.0.1"));
  assert_int_equal(sf_webhooks_guard_configure("", &err), 0);
}

static void test_subscribe_time_url_check(void **state) {
  (void)state;
  sf_err err = {0};
  assert_int_equal(sf_webhooks_guard_configure("", &err), 0);
  static const char *const refused[] = {"http://127.0.0.1/",          "https://[::1]:8443/x",
                                        "http://localhost:9/",        "http://10.0.0.1/",
                                        "http://[::ffff:127.0.0.1]/", "http://0x7f000001/",
                                        "http://2130706433/",         "ftp://8.8.8.8/",
                                        "8.8.8.8/no-scheme",          "http://",
                                        "javascript:alert(1)",        "http://169.254.169.254/"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    sf_err_clear(&err);
    if (sf_webhooks_guard_check_url(refused[i], &err) == 0) fail_msg("%s passed", refused[i]);
    assert_int_equal(err.status, 422);
    assert_string_equal(err.fields[0].field, "url");
  }
  sf_err_clear(&err);
  assert_int_equal(sf_webhooks_guard_check_url("http://8.8.8.8/hook", &err), 0);
  assert_int_equal(sf_webhooks_guard_check_url("https://[2606:4700::1111]/hook", &err), 0);
  /* a name that does not resolve now passes: connect time decides */
  assert_int_equal(sf_webhooks_guard_check_url("https://no-such-host.invalid/hook", &err), 0);
  assert_int_equal(sf_webhooks_guard_configure("127.0.0.1,localhost", &err), 0);
  assert_int_equal(sf_webhooks_guard_check_url("http://127.0.0.1:9/", &err), 0);
  assert_int_equal(sf_webhooks_guard_check_url("http://LOCALHOST:9/", &err), 0);
  assert_int_equal(sf_webhooks_guard_configure("", &err), 0);
}

static void test_patterns(void **state) {
  (void)state;
  assert_true(sf_webhooks_pattern_match("*", "order.paid"));
  assert_true(sf_webhooks_pattern_match("order.*", "order.paid"));
  assert_true(sf_webhooks_pattern_match("order.*", "order.refund_requested"));
  assert_false(sf_webhooks_pattern_match("order.*", "orders.paid"));
  assert_false(sf_webhooks_pattern_match("order.*", "order"));
  assert_true(sf_webhooks_pattern_match("request.approval_*", "request.approval_requested"));
  assert_false(sf_webhooks_pattern_match("request.approval_*", "request.approved"));
  assert_true(sf_webhooks_pattern_match("stock.adjusted", "stock.adjusted"));
  assert_false(sf_webhooks_pattern_match("stock.adjusted", "stock.adjusted2"));
  assert_true(sf_webhooks_pattern_match("*.paid", "order.paid"));
  assert_true(sf_webhooks_pattern_match("o*r.*d", "order.paid"));
  assert_false(sf_webhooks_pattern_match("*.nope", "order.paid"));
  assert_true(sf_webhooks_pattern_match("**", "x"));
  assert_true(sf_webhooks_pattern_valid("order.*"));
  assert_true(sf_webhooks_pattern_valid("*"));
  assert_true(sf_webhooks_pattern_valid("request.approval_*"));
  assert_false(sf_webhooks_pattern_valid(""));
  assert_false(sf_webhooks_pattern_valid("order paid"));
  assert_false(sf_webhooks_pattern_valid("order.$"));
  char big[102];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_false(sf_webhooks_pattern_valid(big));
}

static void test_retry_delay_has_jitter_above_the_backoff(void **state) {
  (void)state;
  int distinct = 0;
  int64_t first = -1;
  for (int i = 0; i < 200; i++) {
    int64_t d = sf_webhooks_retry_delay_ms(1000, 3); /* backoff 4 s */
    assert_true(d >= 4000 && d <= 8000);
    if (first < 0) first = d;
    distinct += d != first;
  }
  assert_true(distinct > 0);
  for (int i = 0; i < 50; i++) assert_true(sf_webhooks_retry_delay_ms(1000, 40) <= 3600000); /* capped at 1 h */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused_ranges), cmocka_unit_test(test_public_addresses_pass),
      cmocka_unit_test(test_allow_list),     cmocka_unit_test(test_subscribe_time_url_check),
      cmocka_unit_test(test_patterns),       cmocka_unit_test(test_retry_delay_has_jitter_above_the_backoff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
