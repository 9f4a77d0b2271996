/* Business calendars: working hours in a time zone across DST changes,
 * weekends and holidays, instants past the zone file's last transition
 * (its POSIX rule), add/business_ms as inverses, and bad definitions named
 * field by field. Runs against the system's tzdata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "flow/calendar.h"

#define H 3600000LL

/* "2026-11-27T15:00" (UTC) -> ms */
static int64_t at(const char *s) {
  int y, mo, d, h, mi;
  assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d", &y, &mo, &d, &h, &mi), 5);
  struct tm t = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
  return (int64_t)timegm(&t) * 1000;
}

static sf_calendar *cal(const char *json) {
  json_t *d = json_loads(json, 0, NULL);
  assert_non_null(d);
  sf_err err = {0};
  sf_calendar *c = sf_calendar_new(d, "cal", &err);
  json_decref(d);
  if (!c) fail_msg("%s: %s %s", json, err.nfields ? err.fields[0].field : "", err.nfields ? err.fields[0].message : "");
  return c;
}

static void test_utc_office_hours(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"hours\": \"09:00-17:00\"}");
  /* Friday 16:00 + 2h = Monday 10:00 */
  assert_int_equal(sf_calendar_add(c, at("2026-11-27T16:00"), 2 * H), at("2026-11-30T10:00"));
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-27T16:00"), at("2026-11-30T10:00")), 2 * H);
  /* a whole weekend counts nothing; before opening counts from 09:00 */
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-28T00:00"), at("2026-11-30T00:00")), 0);
  assert_int_equal(sf_calendar_add(c, at("2026-11-30T06:00"), 30 * 60000), at("2026-11-30T09:30"));
  /* a whole week: 5 x 8h */
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-23T00:00"), at("2026-11-30T00:00")), 40 * H);
  assert_int_equal(sf_calendar_add(c, at("2026-11-30T12:00"), 0), at("2026-11-30T12:00"));
  sf_calendar_free(c);
}

static void test_holidays_and_days(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"days\": [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"], \"hours\": \"08:00-12:00\","
                       " \"holidays\": [\"2026-12-25\", \"2026-12-26\"]}");
  /* Thu 24th 11:00 + 2h: 1h on the 24th, 25th and 26th off, Sunday off, Monday 09:00 */
  assert_int_equal(sf_calendar_add(c, at("2026-12-24T11:00"), 2 * H), at("2026-12-28T09:00"));
  assert_int_equal(sf_calendar_business_ms(c, at("2026-12-24T00:00"), at("2026-12-29T00:00")), 8 * H);
  sf_calendar_free(c);
}

static void test_berlin_dst(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"timezone\": \"Europe/Berlin\", \"hours\": \"09:00-17:00\"}");
  assert_int_equal(sf_calendar_utc_offset(c, at("2026-03-27T12:00")), 3600);
  assert_int_equal(sf_calendar_utc_offset(c, at("2026-03-30T12:00")), 7200);
  /* Friday 16:00 CET + 2h = Monday 10:00 CEST = 08:00Z */
  assert_int_equal(sf_calendar_add(c, at("2026-03-27T15:00"), 2 * H), at("2026-03-30T08:00"));
  /* and back in October: Friday 16:00 CEST + 2h = Monday 10:00 CET = 09:00Z */
  assert_int_equal(sf_calendar_add(c, at("2026-10-23T14:00"), 2 * H), at("2026-10-26T09:00"));
  /* past the last transition of the file: its POSIX rule (CEST in July, CET in December) */
  assert_int_equal(sf_calendar_utc_offset(c, at("2040-07-01T12:00")), 7200);
  assert_int_equal(sf_calendar_utc_offset(c, at("2040-12-01T12:00")), 3600);
  assert_int_equal(sf_calendar_add(c, at("2040-07-02T06:00"), 60000), at("2040-07-02T07:01"));
  sf_calendar_free(c);
}

static void test_other_zones(void **state) {
  (void)state;
  sf_calendar *ny = cal("{\"timezone\": \"America/New_York\"}");
  assert_int_equal(sf_calendar_utc_offset(ny, at("2026-07-01T12:00")), -4 * 3600);
  assert_int_equal(sf_calendar_utc_offset(ny, at("2026-01-05T12:00")), -5 * 3600);
  assert_int_equal(sf_calendar_utc_offset(ny, at("2050-07-01T12:00")), -4 * 3600);
  /* all day Mon-Fri: Friday 23:00 local (04:00Z Sat) + 2h = Monday 01:00 local */
  assert_int_equal(sf_calendar_add(ny, at("2026-11-28T04:00"), 2 * H), at("2026-11-30T06:00"));
  sf_calendar_free(ny);
  /* a window that starts in the spring-forward gap starts when the clock does: 2026-03-08 02:00
   * does not exist in New York, so 02:00-04:00 that day is 03:00-04:00 EDT = 07:00Z-08:00Z */
  ny = cal("{\"timezone\": \"America/New_York\", \"days\": [\"sun\"], \"hours\": \"02:00-04:00\"}");
  assert_int_equal(sf_calendar_business_ms(ny, at("2026-03-08T00:00"), at("2026-03-09T00:00")), H);
  assert_int_equal(sf_calendar_add(ny, at("2026-03-08T00:00"), 30 * 60000), at("2026-03-08T07:30"));
  assert_int_equal(sf_calendar_add(ny, at("2026-03-01T00:00"), 30 * 60000), at("2026-03-01T07:30")); /* EST */
  sf_calendar_free(ny);
  sf_calendar *in = cal("{\"timezone\": \"Asia/Kolkata\", \"hours\": \"10:00-18:30\"}");
  assert_int_equal(sf_calendar_utc_offset(in, at("2045-01-01T00:00")), 5 * 3600 + 1800);
  /* Monday 10:00 IST = 04:30Z */
  assert_int_equal(sf_calendar_add(in, at("2026-11-29T12:00"), 60000), at("2026-11-30T04:31"));
  sf_calendar_free(in);
}

static void test_add_and_measure_are_inverses(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"timezone\": \"Europe/Berlin\", \"hours\": \"08:30-17:45\", \"holidays\": [\"2026-12-25\","
                       " \"2027-01-01\", \"2027-04-02\"]}");
  srand(42);
  for (int i = 0; i < 2000; i++) {
    int64_t t0 = at("2026-01-01T00:00") + (int64_t)(rand() % (2 * 366 * 24)) * H + rand() % 3600000;
    int64_t d = 1 + (int64_t)(rand() % (200 * 3600)) * 1000;
    int64_t t1 = sf_calendar_add(c, t0, d);
    assert_true(t1 > t0);
    if (sf_calendar_business_ms(c, t0, t1) != d) fail_msg("t0=%lld d=%lld t1=%lld", (long long)t0, (long long)d, (long long)t1);
  }
  /* NULL = 24x7 */
  assert_int_equal(sf_calendar_add(NULL, 1000, 5000), 6000);
  assert_int_equal(sf_calendar_business_ms(NULL, 1000, 6000), 5000);
  assert_int_equal(sf_calendar_business_ms(c, 6000, 1000), 0);
  sf_calendar_free(c);
}

static void expect_bad(const char *json, const char *field) {
  json_t *d = json_loads(json, 0, NULL);
  sf_err err = {0};
  sf_calendar *c = sf_calendar_new(d, "sla.calendar", &err);
  json_decref(d);
  assert_null(c);
  for (int i = 0; i < err.nfields; i++)
    if (strcmp(err.fields[i].field, field) == 0) return;
  fail_msg("%s: no error for %s", json, field);
}

static void test_bad_definitions(void **state) {
  (void)state;
  expect_bad("{\"timezone\": \"../../etc/passwd\"}", "sla.calendar.timezone");
  expect_bad("{\"timezone\": \"/etc/localtime\"}", "sla.calendar.timezone");
  expect_bad("{\"timezone\": \"Mars/Olympus_Mons\"}", "sla.calendar.timezone");
  expect_bad("{\"timezone\": 5}", "sla.calendar.timezone");
  expect_bad("{\"days\": [\"mon\", \"funday\"]}", "sla.calendar.days");
  expect_bad("{\"days\": []}", "sla.calendar.days");
  expect_bad("{\"hours\": \"17:00-09:00\"}", "sla.calendar.hours");
  expect_bad("{\"hours\": \"9-5\"}", "sla.calendar.hours");
  expect_bad("{\"hours\": \"09:00-24:30\"}", "sla.calendar.hours");
  expect_bad("{\"holidays\": [\"2026-02-30\"]}", "sla.calendar.holidays");
  expect_bad("{\"holidays\": \"2026-12-25\"}", "sla.calendar.holidays");
  expect_bad("{\"weekend\": true}", "sla.calendar.weekend");
  expect_bad("[]", "sla.calendar");
  /* the whole day is allowed */
  sf_calendar *c = cal("{\"hours\": \"00:00-24:00\", \"days\": [\"sun\"]}");
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-28T00:00"), at("2026-12-01T00:00")), 24 * H);
  sf_calendar_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_utc_office_hours),          cmocka_unit_test(test_holidays_and_days),
      cmocka_unit_test(test_berlin_dst),                cmocka_unit_test(test_other_zones),
      cmocka_unit_test(test_add_and_measure_are_inverses), cmocka_unit_test(test_bad_definitions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
