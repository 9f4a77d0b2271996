/* core/cidr's list parser (sf_cidr_parse_list), the one behind trusted_proxies
 * and webhook_allow: entries trimmed and empty ones skipped, CIDRs and
 * addresses kept in order, other entries handed to the caller's callback
 * (or refused without one), the refused entry named, the cap enforced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/cidr.h"

/* The names the callback took, comma-joined; refuses names starting "bad". */
typedef struct {
  char names[256];
  int calls;
} others;

static int take_other(const char *entry, void *ud) {
  others *o = ud;
  o->calls++;
  if (strncmp(entry, "bad", 3) == 0) return -1;
  size_t n = strlen(o->names);
  snprintf(o->names + n, sizeof o->names - n, "%s%s", n ? "," : "", entry);
  return 0;
}

static int matches(const sf_cidr *r, int n, const char *ip) {
  struct sockaddr_storage ss;
  assert_int_equal(sf_ip_parse(ip, &ss), 0);
  return sf_cidr_match(r, n, (const struct sockaddr *)&ss);
}

static void test_cidrs_trimmed_in_order(void **state) {
  (void)state;
  sf_cidr r[4];
  char bad[32] = "";
  int n = sf_cidr_parse_list(" 10.0.0.0/8 ,, ::1,\t192.168.1.7 , ", r, 4, NULL, NULL, bad, sizeof bad);
  assert_int_equal(n, 3);
  assert_int_equal(r[0].family, AF_INET);
  assert_int_equal(r[0].prefix, 8);
  assert_int_equal(r[1].family, AF_INET6);
  assert_int_equal(r[1].prefix, 128);
  assert_int_equal(r[2].prefix, 32);
  assert_true(matches(r, n, "10.1.2.3"));
  assert_true(matches(r, n, "::1"));
  assert_true(matches(r, n, "192.168.1.7"));
  assert_false(matches(r, n, "192.168.1.8"));
  assert_string_equal(bad, "");
}

static void test_empty_lists(void **state) {
  (void)state;
  sf_cidr r[2];
  assert_int_equal(sf_cidr_parse_list(NULL, r, 2, NULL, NULL, NULL, 0), 0);
  assert_int_equal(sf_cidr_parse_list("", r, 2, NULL, NULL, NULL, 0), 0);
  assert_int_equal(sf_cidr_parse_list(" , ,", r, 2, NULL, NULL, NULL, 0), 0);
}

static void test_refused_entry_is_named(void **state) {
  (void)state;
  sf_cidr r[4];
  char bad[32];
  assert_int_equal(sf_cidr_parse_list("10.0.0.0/8, example.com", r, 4, NULL, NULL, bad, sizeof bad), -1);
  assert_string_equal(bad, "example.com");
  assert_int_equal(sf_cidr_parse_list("10.0.0.0/33", r, 4, NULL, NULL, bad, sizeof bad), -1);
  assert_string_equal(bad, "10.0.0.0/33");
  /* cut to fit the caller's buffer */
  char small[6];
  assert_int_equal(sf_cidr_parse_list(" not-an-address ", r, 4, NULL, NULL, small, sizeof small), -1);
  assert_string_equal(small, "not-a");
}

static void test_cap(void **state) {
  (void)state;
  sf_cidr r[2];
  char bad[32];
  assert_int_equal(sf_cidr_parse_list("1.1.1.1, 2.2.2.2", r, 2, NULL, NULL, bad, sizeof bad), 2);
  assert_int_equal(sf_cidr_parse_list("1.1.1.1, 2.2.2.2, 3.3.3.3", r, 2, NULL, NULL, bad, sizeof bad), -1);
  assert_string_equal(bad, "3.3.3.3");
}

static void test_other_entries_go_to_the_callback(void **state) {
  (void)state;
  sf_cidr r[4];
  char bad[32] = "";
  others o = {0};
  int n = sf_cidr_parse_list("hooks.internal, 127.0.0.0/8 , api.example", r, 4, take_other, &o, bad, sizeof bad);
  assert_int_equal(n, 1);
  assert_int_equal(o.calls, 2);
  assert_string_equal(o.names, "hooks.internal,api.example");
  assert_true(matches(r, n, "127.0.0.1"));

  others refused = {0};
  n = sf_cidr_parse_list("a.example, bad.example, c.example", r, 4, take_other, &refused, bad, sizeof bad);
  assert_int_equal(n, -1);
  assert_string_equal(bad, "bad.example");
  assert_int_equal(refused.calls, 2); /* stops at the refused entry */
  assert_string_equal(refused.names, "a.example");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cidrs_trimmed_in_order),           cmocka_unit_test(test_empty_lists),
      cmocka_unit_test(test_refused_entry_is_named),           cmocka_unit_test(test_cap),
      cmocka_unit_test(test_other_entries_go_to_the_callback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
