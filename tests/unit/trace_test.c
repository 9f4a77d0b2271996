/* Unit tests for W3C traceparent parsing and child spans (src/core/trace.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/trace.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN "00f067aa0ba902b7"

static void accepts_by_the_w3c_rules(void **state) {
  (void)state;
  assert_true(sf_trace_valid("00-" TRACE "-" SPAN "-01"));
  assert_true(sf_trace_valid("00-" TRACE "-" SPAN "-00"));
  assert_true(sf_trace_valid("01-" TRACE "-" SPAN "-01"));          /* later version, same length */
  assert_true(sf_trace_valid("7f-" TRACE "-" SPAN "-01-whatever")); /* later version, more fields */
}

static void refuses_the_rest(void **state) {
  (void)state;
  const char *bad[] = {NULL,
                       "",
                       "garbage",
                       "ff-" TRACE "-" SPAN "-01",                        /* forbidden version */
                       "00-" TRACE "-" SPAN "-01-x",                      /* 00 is exactly 55 */
                       "01-" TRACE "-" SPAN "-01x",                       /* a dash must follow */
                       "00-00000000000000000000000000000000-" SPAN "-01", /* zero trace id */
                       "00-" TRACE "-0000000000000000-01",                /* zero parent id */
                       "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01", /* upper case */
                       "00-" TRACE "-" SPAN "-0",
                       "00_" TRACE "-" SPAN "-01",
                       "00-" TRACE "-" SPAN "-g1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(sf_trace_valid(bad[i]));
}

static void child_keeps_the_trace_with_a_new_span(void **state) {
  (void)state;
  char a[SF_TRACEPARENT_LEN + 1], b[SF_TRACEPARENT_LEN + 1], id[33];
  sf_trace_child("00-" TRACE "-" SPAN "-01", a);
  sf_trace_child("00-" TRACE "-" SPAN "-01", b);
  assert_true(sf_trace_valid(a));
  assert_memory_equal(a + 3, TRACE, 32);
  assert_memory_not_equal(a + 36, SPAN, 16);
  assert_memory_not_equal(a + 36, b + 36, 16);
  assert_string_equal(a + 52, "-01");
  sf_trace_id(a, id);
  assert_string_equal(id, TRACE);
  sf_trace_child("cc-" TRACE "-" SPAN "-02-more", a); /* down to version 00, unknown flags dropped */
  assert_memory_equal(a, "00-", 3);
  assert_string_equal(a + 52, "-00");
}

static void invalid_parent_starts_a_new_trace(void **state) {
  (void)state;
  char a[SF_TRACEPARENT_LEN + 1], b[SF_TRACEPARENT_LEN + 1], id[33];
  sf_trace_child("00-" TRACE "-0000000000000000-01", a);
  sf_trace_child(NULL, b);
  assert_true(sf_trace_valid(a) && sf_trace_valid(b));
  assert_memory_not_equal(a + 3, TRACE, 32);
  assert_memory_not_equal(a + 3, b + 3, 32);
  assert_string_equal(a + 52, "-01"); /* a trace we start is sampled */
  sf_trace_id("nonsense", id);
  assert_string_equal(id, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(accepts_by_the_w3c_rules),
      cmocka_unit_test(refuses_the_rest),
      cmocka_unit_test(child_keeps_the_trace_with_a_new_span),
      cmocka_unit_test(invalid_parent_starts_a_new_trace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
