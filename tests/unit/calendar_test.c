/* Business-hours calendars: known instants across weekends, holidays and DST
 * changes; the TZif table and footer against glibc (set up through TZ here,
 * where the test is single-threaded); hand-made slim and v1 files; add and
 * business_ms as inverses; each bad definition named at its field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow/calendar.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)

/* "2026-11-20T16:00" (UTC) to ms, through the libc as an independent oracle. */
static int64_t at(const char *iso) {
  struct tm tm = {0};
  int sec = 0;
  if (sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &sec) < 5)
    fail_msg("bad instant %s", iso);
  tm.tm_year -= 1900, tm.tm_mon -= 1, tm.tm_sec = sec;
  return (int64_t)timegm(&tm) * 1000;
}

static sf_calendar *cal(const char *json) {
  json_error_t jerr;
  json_t *def = json_loads(json, 0, &jerr);
  if (!def) fail_msg("json: %s: %s", json, jerr.text);
  sf_err err = {0};
  sf_calendar *c = sf_calendar_new(def, "sla.calendar", &err);
  if (!c)
    fail_msg("calendar %s: %s %s", json, err.nfields ? err.fields[0].field : "",
             err.nfields ? err.fields[0].message : "");
  json_decref(def);
  return c;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) { /* xorshift64*, fixed seed: failures reproduce */
  g_rng ^= g_rng >> 12, g_rng ^= g_rng << 25, g_rng ^= g_rng >> 27;
  return g_rng * 0x2545f4914f6cdd1du;
}
static int64_t rnd_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo)); }

static void use_tz(const char *tz) {
  setenv("TZ", tz, 1);
  tzset();
}

static int32_t glibc_offset(int64_t t_s) {
  time_t t = (time_t)t_s;
  struct tm tm;
  localtime_r(&t, &tm);
  return (int32_t)tm.tm_gmtoff;
}

static void test_null_calendar_is_plain_time(void **state) {
  (void)state;
  int64_t t0 = at("2026-11-21T03:00"); /* a Saturday night counts too */
  assert_int_equal(sf_calendar_business_ms(NULL, t0, t0 + 5 * HOUR_MS), 5 * HOUR_MS);
  assert_int_equal(sf_calendar_business_ms(NULL, t0, t0), 0);
  assert_int_equal(sf_calendar_business_ms(NULL, t0, t0 - 1), 0);
  assert_int_equal(sf_calendar_add(NULL, t0, 7 * HOUR_MS), t0 + 7 * HOUR_MS);
  assert_int_equal(sf_calendar_add(NULL, t0, 0), t0);
  assert_int_equal(sf_calendar_add(NULL, INT64_MAX - 5, 10), INT64_MAX);
  assert_int_equal(sf_calendar_business_ms(NULL, INT64_MIN, INT64_MAX), INT64_MAX);
  sf_calendar_free(NULL);
}

static void test_utc_weekdays(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"hours\": \"09:00-17:00\"}");
  /* Friday 16:00 + 2h: one hour on Friday, one on Monday. */
  assert_int_equal(sf_calendar_add(c, at("2026-11-20T16:00"), 2 * HOUR_MS), at("2026-11-23T10:00"));
  assert_int_equal(sf_calendar_add(c, at("2026-11-20T16:00"), HOUR_MS), at("2026-11-20T17:00"));
  assert_int_equal(sf_calendar_add(c, at("2026-11-21T12:00"), HOUR_MS), at("2026-11-23T10:00"));
  assert_int_equal(sf_calendar_add(c, at("2026-11-20T20:00"), 0), at("2026-11-20T20:00"));
  assert_int_equal(sf_calendar_add(c, at("2026-11-20T16:00"), 9 * HOUR_MS), at("2026-11-23T17:00"));
  assert_int_equal(sf_calendar_add(c, at("2026-11-20T16:00"), 10 * HOUR_MS), at("2026-11-24T10:00"));
  /* Over the weekend: Friday 12-17 plus Monday 9-12. */
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-20T12:00"), at("2026-11-23T12:00")), 8 * HOUR_MS);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-21T00:00"), at("2026-11-23T00:00")), 0);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-23T08:00"), at("2026-11-23T08:59")), 0);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-23T16:59:59"), at("2026-11-24T09:00:01")), 2000);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-23T00:00"), at("2026-11-30T00:00")), 40 * HOUR_MS);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-30T00:00"), at("2026-11-23T00:00")), 0);
  sf_calendar_free(c);

  /* Defaults: UTC, mon..fri, whole days. */
  c = cal("{}");
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-20T12:00"), at("2026-11-23T12:00")), 24 * HOUR_MS);
  assert_int_equal(sf_calendar_add(c, at("2026-11-20T23:00"), 2 * HOUR_MS), at("2026-11-23T01:00"));
  sf_calendar_free(c);

  c = cal("{\"days\": [\"sat\", \"sun\"], \"hours\": \"10:00-14:00\"}");
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-16T00:00"), at("2026-11-23T00:00")), 8 * HOUR_MS);
  assert_int_equal(sf_calendar_add(c, at("2026-11-16T00:00"), 5 * HOUR_MS), at("2026-11-22T11:00"));
  sf_calendar_free(c);
}

static void test_holidays_are_skipped(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"hours\": \"09:00-17:00\", \"holidays\": [\"2026-12-25\", \"2026-12-24\", \"2026-12-25\"]}");
  /* Wednesday 23 Dec 16:00 + 2h: Thursday and Friday are holidays. */
  assert_int_equal(sf_calendar_add(c, at("2026-12-23T16:00"), 2 * HOUR_MS), at("2026-12-28T10:00"));
  assert_int_equal(sf_calendar_business_ms(c, at("2026-12-21T00:00"), at("2026-12-28T00:00")), 24 * HOUR_MS);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-12-24T00:00"), at("2026-12-26T00:00")), 0);
  sf_calendar_free(c);
}

static void test_berlin_dst(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"timezone\": \"Europe/Berlin\", \"hours\": \"09:00-17:00\"}");
  /* 2026-03-29: CET (+1) becomes CEST (+2). */
  assert_int_equal(sf_calendar_add(c, at("2026-03-27T07:00"), 1), at("2026-03-27T08:00") + 1);
  assert_int_equal(sf_calendar_add(c, at("2026-03-28T00:00"), 1), at("2026-03-30T07:00") + 1);
  assert_int_equal(sf_calendar_add(c, at("2026-03-27T15:00"), 2 * HOUR_MS), at("2026-03-30T08:00"));
  assert_int_equal(sf_calendar_business_ms(c, at("2026-03-27T08:00"), at("2026-03-30T15:00")), 16 * HOUR_MS);
  /* 2026-10-25: back to CET. */
  assert_int_equal(sf_calendar_add(c, at("2026-10-23T14:00"), 2 * HOUR_MS), at("2026-10-26T09:00"));
  assert_int_equal(sf_calendar_business_ms(c, at("2026-10-23T07:00"), at("2026-10-26T16:00")), 16 * HOUR_MS);
  sf_calendar_free(c);

  /* A whole-day calendar sees the 23- and 25-hour days. */
  c = cal("{\"timezone\": \"Europe/Berlin\", \"days\": [\"sun\"]}");
  assert_int_equal(sf_calendar_business_ms(c, at("2026-03-23T00:00"), at("2026-04-01T00:00")), 23 * HOUR_MS);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-10-19T00:00"), at("2026-10-28T00:00")), 25 * HOUR_MS);
  assert_int_equal(sf_calendar_add(c, at("2026-03-23T00:00"), 23 * HOUR_MS), at("2026-03-29T22:00"));
  assert_int_equal(sf_calendar_add(c, at("2026-03-23T00:00"), 23 * HOUR_MS + 1), at("2026-04-04T22:00") + 1);
  sf_calendar_free(c);

  /* Hours inside the changes: 02:30 does not exist in March (the change at
   * 01:00Z stands in), and exists twice in October (the first counts). */
  c = cal("{\"timezone\": \"Europe/Berlin\", \"days\": [\"sun\"], \"hours\": \"02:30-03:30\"}");
  assert_int_equal(sf_calendar_add(c, at("2026-03-28T00:00"), 1), at("2026-03-29T01:00") + 1);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-03-28T00:00"), at("2026-03-30T00:00")), HOUR_MS / 2);
  assert_int_equal(sf_calendar_add(c, at("2026-10-24T00:00"), 1), at("2026-10-25T00:30") + 1);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-10-24T00:00"), at("2026-10-26T00:00")), 2 * HOUR_MS);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-06-01T00:00"), at("2026-06-08T00:00")), HOUR_MS);
  sf_calendar_free(c);
}

static void test_new_york(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"timezone\": \"America/New_York\", \"hours\": \"09:00-17:00\"}");
  /* 2026-03-08: EST (-5) becomes EDT (-4). */
  assert_int_equal(sf_calendar_add(c, at("2026-03-06T00:00"), 1), at("2026-03-06T14:00") + 1);
  assert_int_equal(sf_calendar_add(c, at("2026-03-06T21:00"), 2 * HOUR_MS), at("2026-03-09T14:00"));
  assert_int_equal(sf_calendar_business_ms(c, at("2026-03-06T14:00"), at("2026-03-09T21:00")), 16 * HOUR_MS);
  /* Friday 23:00 UTC is still Friday 18:00 in New York: after hours. */
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-20T22:00"), at("2026-11-23T14:00")), 0);
  sf_calendar_free(c);

  /* West of UTC the first guess lands on the other side of a change. */
  c = cal("{\"timezone\": \"America/New_York\", \"days\": [\"sun\"], \"hours\": \"01:30-02:30\"}");
  assert_int_equal(sf_calendar_add(c, at("2026-03-07T00:00"), 1), at("2026-03-08T06:30") + 1);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-03-07T00:00"), at("2026-03-09T00:00")), HOUR_MS / 2);
  assert_int_equal(sf_calendar_add(c, at("2026-10-31T00:00"), 1), at("2026-11-01T05:30") + 1);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-10-31T00:00"), at("2026-11-02T00:00")), 2 * HOUR_MS);
  sf_calendar_free(c);
}

static void test_after_2038_uses_the_footer(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"timezone\": \"Europe/Berlin\", \"days\": [\"sun\"], \"hours\": \"09:00-17:00\"}");
  assert_int_equal(sf_calendar_add(c, at("2040-06-30T12:00"), 1), at("2040-07-01T07:00") + 1);
  assert_int_equal(sf_calendar_add(c, at("2040-12-01T12:00"), 1), at("2040-12-02T08:00") + 1);
  assert_int_equal(sf_calendar__utc_offset(c, at("2040-07-01T07:00") / 1000), 7200);
  assert_int_equal(sf_calendar__utc_offset(c, at("2099-03-29T00:59:59") / 1000), 3600);
  assert_int_equal(sf_calendar__utc_offset(c, at("2099-03-29T01:00") / 1000), 7200);
  sf_calendar_free(c);
  c = cal("{\"timezone\": \"America/New_York\", \"hours\": \"09:00-17:00\"}");
  assert_int_equal(sf_calendar_add(c, at("2040-01-14T00:00"), HOUR_MS), at("2040-01-16T15:00"));
  assert_int_equal(sf_calendar_add(c, at("2040-07-01T00:00"), HOUR_MS), at("2040-07-02T14:00"));
  sf_calendar_free(c);
}

static void test_fixed_offset_zone(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"timezone\": \"Asia/Kolkata\", \"hours\": \"09:00-17:00\"}");
  /* IST is +05:30: 09:00 is 03:30Z. Friday 16:00 + 2h = Monday 10:00. */
  assert_int_equal(sf_calendar_add(c, at("2026-11-20T10:30"), 2 * HOUR_MS), at("2026-11-23T04:30"));
  assert_int_equal(sf_calendar_add(c, at("2046-11-19T00:00"), 1), at("2046-11-19T03:30") + 1);
  assert_int_equal(sf_calendar_business_ms(c, at("2026-11-16T00:00"), at("2026-11-23T00:00")), 40 * HOUR_MS);
  sf_calendar_free(c);
}

static const char *const k_zones[] = {"Europe/Berlin",   "America/New_York",  "Australia/Sydney", "Asia/Kolkata",
                                      "Pacific/Chatham", "America/Santiago",  "Europe/Dublin",    "America/Nuuk",
                                      "Asia/Jerusalem",  "Africa/Casablanca", "Europe/London",    "Asia/Tehran"};
#define NZONES (sizeof k_zones / sizeof *k_zones)

/* The zone's offsets, table and footer, agree with glibc's reading of the same file. */
static void test_offsets_match_glibc(void **state) {
  (void)state;
  for (size_t z = 0; z < NZONES; z++) {
    char def[128];
    snprintf(def, sizeof def, "{\"timezone\": \"%s\"}", k_zones[z]);
    sf_calendar *c = cal(def);
    use_tz(k_zones[z]);
    for (int i = 0; i < 20000; i++) {
      int64_t t = rnd_in(at("1901-01-01T00:00") / 1000, at("2100-01-01T00:00") / 1000);
      if (i % 2) t = rnd_in(at("2030-01-01T00:00") / 1000, at("2045-01-01T00:00") / 1000);
      int32_t want = glibc_offset(t), got = sf_calendar__utc_offset(c, t);
      if (want != got) fail_msg("%s at %lld: %d, glibc says %d", k_zones[z], (long long)t, got, want);
    }
    sf_calendar_free(c);
  }
  use_tz("UTC");
}

/* add and business_ms undo each other; add returns the earliest instant. */
static void test_add_and_business_ms_are_inverses(void **state) {
  (void)state;
  static const char *const hours[] = {"00:00-24:00", "08:30-17:15", "01:00-03:30"};
  for (size_t z = 0; z < NZONES; z++) {
    char def[256];
    snprintf(def, sizeof def,
             "{\"timezone\": \"%s\", \"hours\": \"%s\", \"days\": [\"mon\", \"wed\", \"thu\", \"fri\", \"sun\"],"
             " \"holidays\": [\"2030-01-01\", \"2030-01-02\", \"2031-12-25\"]}",
             k_zones[z], hours[z % 3]);
    sf_calendar *c = cal(def);
    for (int i = 0; i < 500; i++) {
      int64_t t0 = rnd_in(at("2000-01-01T00:00"), at("2045-01-01T00:00"));
      if (i % 4 == 0) t0 = rnd_in(at("2029-12-25T00:00"), at("2030-01-05T00:00"));
      int64_t d = rnd_in(1, 20 * DAY_MS);
      int64_t t1 = sf_calendar_add(c, t0, d);
      assert_true(t1 > t0);
      if (sf_calendar_business_ms(c, t0, t1) != d || sf_calendar_business_ms(c, t0, t1 - 1) != d - 1)
        fail_msg("%s: t0 %lld d %lld -> %lld, back %lld", k_zones[z], (long long)t0, (long long)d, (long long)t1,
                 (long long)sf_calendar_business_ms(c, t0, t1));
      int64_t t2 = t0 + rnd_in(0, 30 * DAY_MS);
      int64_t b = sf_calendar_business_ms(c, t0, t2);
      assert_true(b >= 0 && b <= t2 - t0);
      assert_true(sf_calendar_add(c, t0, b) <= t2);
      assert_int_equal(sf_calendar_business_ms(c, sf_calendar_add(c, t0, b), t2), 0);
    }
    sf_calendar_free(c);
  }
}

/* business_ms against a minute-by-minute walk with glibc's local time. */
static void test_business_ms_matches_minute_walk(void **state) {
  (void)state;
  static const char *const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
                                      "Pacific/Chatham"};
  for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
    char def[256];
    snprintf(
        def, sizeof def,
        "{\"timezone\": \"%s\", \"hours\": \"07:45-18:15\", \"days\": [\"mon\", \"tue\", \"thu\", \"fri\", \"sat\"],"
        " \"holidays\": [\"2031-04-04\", \"2031-10-31\"]}",
        zones[z]);
    sf_calendar *c = cal(def);
    use_tz(zones[z]);
    for (int i = 0; i < 10; i++) {
      int64_t t0 = rnd_in(at("2001-01-01T00:00"), at("2045-01-01T00:00")) / 60000 * 60;
      if (i < 3) t0 = rnd_in(at("2031-03-25T00:00"), at("2031-04-10T00:00")) / 60000 * 60;
      if (i == 3) t0 = rnd_in(at("2031-10-20T00:00"), at("2031-11-05T00:00")) / 60000 * 60;
      int64_t t1 = t0 + rnd_in(1, 12 * 1440) * 60, want = 0;
      for (int64_t t = t0; t < t1; t += 60) {
        time_t tt = (time_t)t;
        struct tm tm;
        localtime_r(&tt, &tm);
        int mins = tm.tm_hour * 60 + tm.tm_min, day_ok = (0x76 >> tm.tm_wday) & 1; /* mon tue thu fri sat */
        int holiday =
            tm.tm_year == 131 && ((tm.tm_mon == 3 && tm.tm_mday == 4) || (tm.tm_mon == 9 && tm.tm_mday == 31));
        if (day_ok && !holiday && mins >= 7 * 60 + 45 && mins < 18 * 60 + 15) want += 60000;
      }
      int64_t got = sf_calendar_business_ms(c, t0 * 1000, t1 * 1000);
      if (got != want)
        fail_msg("%s [%lld, %lld): %lld, the walk says %lld", zones[z], (long long)t0, (long long)t1, (long long)got,
                 (long long)want);
    }
    sf_calendar_free(c);
  }
  use_tz("UTC");
}

/* Footers as slim TZif files carry them, checked by hand and against glibc. */
static void test_posix_footer(void **state) {
  (void)state;
  int32_t off;
  assert_int_equal(sf_calendar__posix_offset("<+0530>-5:30", 0, &off), 0);
  assert_int_equal(off, 19800);
  assert_int_equal(sf_calendar__posix_offset("UTC0", 0, &off), 0);
  assert_int_equal(off, 0);
  assert_int_equal(sf_calendar__posix_offset("<-0330>3:30", 0, &off), 0);
  assert_int_equal(off, -12600);
  /* EU rules: 01:00Z on the last Sundays of March and October. */
  const char *cet = "CET-1CEST,M3.5.0,M10.5.0/3";
  struct {
    const char *tz, *iso;
    int32_t off;
  } k[] = {
      {cet, "2026-03-29T00:59:59", 3600},
      {cet, "2026-03-29T01:00", 7200},
      {cet, "2026-10-25T00:59:59", 7200},
      {cet, "2026-10-25T01:00", 3600},
      {cet, "2040-07-01T07:00", 7200},
      {"EST5EDT,M3.2.0,M11.1.0", "2026-03-08T06:59:59", -18000},
      {"EST5EDT,M3.2.0,M11.1.0", "2026-03-08T07:00", -14400},
      {"EST5EDT,M3.2.0,M11.1.0", "2026-11-01T05:59:59", -14400},
      {"EST5EDT,M3.2.0,M11.1.0", "2026-11-01T06:00", -18000},
      {"EST5EDT", "2026-07-01T00:00", -14400}, /* no rule given: the US one */
      /* negative rule times: the EU instants again */
      {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-03-29T00:59:59", -10800},
      {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-03-29T01:00", -7200},
      {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-10-25T00:59:59", -7200},
      {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-10-25T01:00", -10800},
      /* past 24h: the Friday (02:00) after the fourth Thursday of March */
      {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-03-26T23:59:59", 7200},
      {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-03-27T00:00", 10800},
      {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-10-24T22:59:59", 10800},
      {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-10-24T23:00", 7200},
      /* southern hemisphere: DST over the new year */
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-01-15T00:00", 39600},
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T15:59:59", 39600},
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T16:00", 36000},
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-10-03T15:59:59", 36000},
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-10-03T16:00", 39600},
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-12-31T23:00", 39600},
      /* negative DST (Ireland): GMT in winter is the "DST" */
      {"IST-1GMT0,M10.5.0,M3.5.0/1", "2026-01-15T00:00", 0},
      {"IST-1GMT0,M10.5.0,M3.5.0/1", "2026-07-15T00:00", 3600},
      {"IST-1GMT0,M10.5.0,M3.5.0/1", "2026-03-29T01:00", 3600},
      {"IST-1GMT0,M10.5.0,M3.5.0/1", "2026-10-25T01:00", 0},
      /* Julian forms: J60 is 1 March in every year, 59 is 29 Feb in a leap year */
      {"AAA3BBB,J60/0,J300/0", "2028-03-01T02:59:59", -10800},
      {"AAA3BBB,J60/0,J300/0", "2028-03-01T03:00", -7200},
      {"AAA3BBB,59/0,300/0", "2028-02-29T03:00", -7200},
      {"AAA3BBB,59/0,300/0", "2027-03-01T02:59:59", -10800},
      {"AAA3BBB,59/0,300/0", "2027-03-01T03:00", -7200},
  };
  for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
    if (sf_calendar__posix_offset(k[i].tz, at(k[i].iso) / 1000, &off)) fail_msg("%s does not parse", k[i].tz);
    if (off != k[i].off) fail_msg("%s at %s: %d, want %d", k[i].tz, k[i].iso, off, k[i].off);
  }
  static const char *const bad[] = {"",
                                    "CET",
                                    "1",
                                    "CET-1CEST,M3.5.0",
                                    "CET-1CEST,M13.5.0,M10.5.0/3",
                                    "CET-1CEST,M3.6.0,M10.5.0/3",
                                    "CET-1CEST,M3.5.7,M10.5.0/3",
                                    "CET-1CEST,M3.5.0,M10.5.0/3x",
                                    "<+05",
                                    "<+05>",
                                    "AB-1",
                                    "CET-25",
                                    "CET-1CEST,J0,J100",
                                    "CET-1:60",
                                    "CET-1CEST,M3.5.0,M10.5.0/168",
                                    "CET-1CEST,,"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (sf_calendar__posix_offset(bad[i], 0, &off) == 0) fail_msg("'%s' should not parse", bad[i]);
  /* And glibc agrees on random instants. */
  static const char *const rules[] = {"CET-1CEST,M3.5.0,M10.5.0/3",      "EST5EDT,M3.2.0,M11.1.0",
                                      "AEST-10AEDT,M10.1.0,M4.1.0/3",    "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
                                      "<-04>4<-03>,M9.1.6/24,M4.1.6/24", "IST-1GMT0,M10.5.0,M3.5.0/1",
                                      "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "IST-2IDT,M3.4.4/26,M10.5.0"};
  for (size_t r = 0; r < sizeof rules / sizeof *rules; r++) {
    use_tz(rules[r]);
    for (int i = 0; i < 5000; i++) {
      int64_t t = rnd_in(at("1980-01-01T00:00") / 1000, at("2200-01-01T00:00") / 1000);
      assert_int_equal(sf_calendar__posix_offset(rules[r], t, &off), 0);
      if (off != glibc_offset(t))
        fail_msg("%s at %lld: %d, glibc says %d", rules[r], (long long)t, off, glibc_offset(t));
    }
  }
  use_tz("UTC");
}

/* ---- hand-made TZif files ---- */

typedef struct tzif {
  unsigned char b[1024];
  size_t n;
} tzif;

static void put(tzif *f, const void *p, size_t n) {
  memcpy(f->b + f->n, p, n);
  f->n += n;
}
static void put32(tzif *f, uint32_t v) {
  unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
  put(f, b, 4);
}
static void put64(tzif *f, int64_t v) {
  put32(f, (uint32_t)((uint64_t)v >> 32));
  put32(f, (uint32_t)v);
}
static void header(tzif *f, char version, uint32_t timecnt, uint32_t typecnt, uint32_t charcnt) {
  put(f, "TZif", 4);
  put(f, &version, 1);
  put(f, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
  put32(f, 0), put32(f, 0), put32(f, 0); /* isut, isstd, leap */
  put32(f, timecnt), put32(f, typecnt), put32(f, charcnt);
}

/* Berlin as `zic -b slim` would write it: nothing in the 32-bit part, the
 * 1996 changes only, then the footer carries the rest. */
static const int64_t k_slim_at[] = {828234000 /* 1996-03-31T01:00Z */, 846378000 /* 1996-10-27T01:00Z */};
static const int32_t k_slim_off[] = {3600, 7200, 3600};

static void slim_berlin(tzif *f, char version, const char *footer) {
  f->n = 0;
  if (version != '\0') {
    header(f, version, 0, 1, 1);
    put32(f, 0), put(f, "\0\0", 2), put(f, "", 1);
  }
  header(f, version, 2, 3, 9);
  for (int i = 0; i < 2; i++) {
    if (version != '\0')
      put64(f, k_slim_at[i]);
    else
      put32(f, (uint32_t)k_slim_at[i]);
  }
  put(f, "\1\2", 2);
  for (int i = 0; i < 3; i++) {
    unsigned char rest[2] = {i == 1, i == 1 ? 4 : 0};
    put32(f, (uint32_t)k_slim_off[i]);
    put(f, rest, 2);
  }
  put(f, "CET\0CEST\0", 9);
  if (footer) put(f, footer, strlen(footer));
}

static char g_dir[64];

static void write_zone(const char *name, const tzif *f) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(f->b, 1, f->n, fp), f->n);
  fclose(fp);
}

static sf_calendar *cal_in(const char *zone) {
  char text[128];
  snprintf(text, sizeof text, "{\"timezone\": \"%s\"}", zone);
  json_t *def = json_loads(text, 0, NULL);
  sf_err err = {0};
  sf_calendar *c = sf_calendar__new_in(def, "cal", g_dir, &err);
  json_decref(def);
  return c;
}

static void test_slim_and_v1_files(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/sf-calendar-XXXXXX");
  assert_non_null(mkdtemp(g_dir));
  char sub[96];
  snprintf(sub, sizeof sub, "%s/Test", g_dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  tzif f;
  slim_berlin(&f, '2', "\nCET-1CEST,M3.5.0,M10.5.0/3\n");
  write_zone("Test/Slim", &f);
  slim_berlin(&f, '3', "\n\n");
  write_zone("Test/NoFooter", &f);
  slim_berlin(&f, '2', "\nCET-1CEST,M3.5.0,M99.5.0/3\n");
  write_zone("Test/BadFooter", &f);
  slim_berlin(&f, '\0', NULL);
  write_zone("Test/V1", &f);
  f.n = 100;
  memcpy(f.b, "TZif2", 5);
  write_zone("Test/Truncated", &f);

  /* The slim file and Debian's fat one agree on every instant. */
  sf_calendar *slim = cal_in("Test/Slim"), *fat = cal("{\"timezone\": \"Europe/Berlin\"}");
  assert_non_null(slim);
  for (int i = 0; i < 20000; i++) {
    int64_t t = rnd_in(at("1996-01-01T00:00") / 1000, at("2060-01-01T00:00") / 1000);
    if (sf_calendar__utc_offset(slim, t) != sf_calendar__utc_offset(fat, t))
      fail_msg("slim Berlin at %lld: %d, fat %d", (long long)t, sf_calendar__utc_offset(slim, t),
               sf_calendar__utc_offset(fat, t));
  }
  assert_int_equal(sf_calendar__utc_offset(slim, at("1995-07-01T00:00") / 1000), 3600); /* type 0 before */
  sf_calendar_free(slim);
  sf_calendar_free(fat);

  /* Without a (usable) footer the last offset stays; a v1 file has none. */
  static const char *const lasting[] = {"Test/NoFooter", "Test/BadFooter", "Test/V1"};
  for (size_t i = 0; i < 3; i++) {
    sf_calendar *c = cal_in(lasting[i]);
    if (!c) fail_msg("%s does not load", lasting[i]);
    assert_int_equal(sf_calendar__utc_offset(c, at("1996-07-01T00:00") / 1000), 7200);
    assert_int_equal(sf_calendar__utc_offset(c, at("2030-07-01T00:00") / 1000), 3600);
    sf_calendar_free(c);
  }
  assert_null(cal_in("Test/Truncated"));
  assert_null(cal_in("Test"));
  assert_null(cal_in("Test/Missing"));

  static const char *const files[] = {"Test/Slim", "Test/NoFooter", "Test/BadFooter", "Test/V1", "Test/Truncated"};
  char path[160];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    snprintf(path, sizeof path, "%s/%s", g_dir, files[i]);
    unlink(path);
  }
  rmdir(sub);
  rmdir(g_dir);
}

/* ---- bad definitions ---- */

static void expect_bad(const char *json, const char *where, const char *field, const char *needle) {
  json_t *def = json_loads(json, 0, NULL);
  if (!def) fail_msg("json: %s", json);
  sf_err err = {0};
  sf_calendar *c = sf_calendar_new(def, where, &err);
  json_decref(def);
  if (c) {
    sf_calendar_free(c);
    fail_msg("%s was accepted", json);
  }
  assert_int_equal(err.status, 0); /* the caller picks the status */
  for (int i = 0; i < err.nfields; i++)
    if (strcmp(err.fields[i].field, field) == 0 && (!needle || strstr(err.fields[i].message, needle))) return;
  for (int i = 0; i < err.nfields; i++) print_message("  %s: %s\n", err.fields[i].field, err.fields[i].message);
  fail_msg("%s: no error on %s%s%s", json, field, needle ? " mentioning " : "", needle ? needle : "");
}

static void test_bad_definitions(void **state) {
  (void)state;
  const char *w = "sla.calendar";
  expect_bad("{\"timezone\": \"Mars/Olympus_Mons\"}", w, "sla.calendar.timezone", "not a known time zone");
  expect_bad("{\"timezone\": \"../../etc/passwd\"}", w, "sla.calendar.timezone", "not a known time zone");
  expect_bad("{\"timezone\": \"Europe/../../../etc/passwd\"}", w, "sla.calendar.timezone", NULL);
  /* real TZif files, reached by climbing out and back in */
  expect_bad("{\"timezone\": \"../zoneinfo/Europe/Berlin\"}", w, "sla.calendar.timezone", NULL);
  expect_bad("{\"timezone\": \"Europe/../UTC\"}", w, "sla.calendar.timezone", NULL);
  expect_bad("{\"timezone\": \"/etc/passwd\"}", w, "sla.calendar.timezone", NULL);
  expect_bad("{\"timezone\": \"/usr/share/zoneinfo/UTC\"}", w, "sla.calendar.timezone", NULL);
  expect_bad("{\"timezone\": \"Europe\"}", w, "sla.calendar.timezone", NULL); /* a directory */
  expect_bad("{\"timezone\": \"zone1970.tab\"}", w, "sla.calendar.timezone", NULL);
  expect_bad("{\"timezone\": \"Europe/Berlin \"}", w, "sla.calendar.timezone", NULL);
  expect_bad("{\"timezone\": \"\"}", w, "sla.calendar.timezone", NULL);
  expect_bad("{\"timezone\": 1}", w, "sla.calendar.timezone", "time zone name");
  if (access("/usr/share/zoneinfo/right/Europe/Berlin", R_OK) == 0) /* leap seconds: not UTC */
    expect_bad("{\"timezone\": \"right/Europe/Berlin\"}", w, "sla.calendar.timezone", NULL);
  expect_bad("{\"days\": []}", w, "sla.calendar.days", "non-empty");
  expect_bad("{\"days\": \"mon\"}", w, "sla.calendar.days", NULL);
  expect_bad("{\"days\": [\"mon\", \"funday\"]}", w, "sla.calendar.days[1]", "not a day");
  expect_bad("{\"days\": [\"Mon\"]}", w, "sla.calendar.days[0]", NULL);
  expect_bad("{\"days\": [1]}", w, "sla.calendar.days[0]", NULL);
  static const char *const hours[] = {"9-17",        "09:00-17:00 ", "17:00-09:00", "09:00-09:00", "09:60-17:00",
                                      "24:00-24:00", "09:00-24:01",  "25:00-26:00", "09:00_17:00", ""};
  for (size_t i = 0; i < sizeof hours / sizeof *hours; i++) {
    char def[64];
    snprintf(def, sizeof def, "{\"hours\": \"%s\"}", hours[i]);
    expect_bad(def, w, "sla.calendar.hours", "HH:MM-HH:MM");
  }
  expect_bad("{\"hours\": 9}", w, "sla.calendar.hours", NULL);
  expect_bad("{\"holidays\": [\"2026-02-29\"]}", w, "sla.calendar.holidays[0]", "not a date");
  expect_bad("{\"holidays\": [\"2026-12-25\", \"2026-1-1\"]}", w, "sla.calendar.holidays[1]", NULL);
  expect_bad("{\"holidays\": [\"2026-13-01\"]}", w, "sla.calendar.holidays[0]", NULL);
  expect_bad("{\"holidays\": [\"0000-01-01\"]}", w, "sla.calendar.holidays[0]", NULL);
  expect_bad("{\"holidays\": [20261225]}", w, "sla.calendar.holidays[0]", NULL);
  expect_bad("{\"holidays\": \"2026-12-25\"}", w, "sla.calendar.holidays", NULL);
  expect_bad("{\"colour\": \"blue\"}", w, "sla.calendar.colour", "unknown key");
  expect_bad("[]", w, "sla.calendar", "mapping");
  expect_bad("{\"timezone\": \"Nowhere/Land\"}", NULL, "timezone", NULL);

  /* 401 holidays are too many; 400 are fine. */
  json_t *def = json_object(), *list = json_array();
  for (int i = 0; i < 401; i++) {
    char d[16];
    snprintf(d, sizeof d, "%04d-01-01", 2000 + i);
    json_array_append_new(list, json_string(d));
  }
  json_object_set_new(def, "holidays", list);
  sf_err err = {0};
  assert_null(sf_calendar_new(def, "sla.calendar", &err));
  assert_string_equal(err.fields[0].field, "sla.calendar.holidays");
  assert_non_null(strstr(err.fields[0].message, "400"));
  json_array_remove(list, 400);
  sf_calendar *c = sf_calendar_new(def, "sla.calendar", &err);
  assert_non_null(c);
  sf_calendar_free(c);
  json_decref(def);

  /* Several problems, one field each. */
  def = json_loads("{\"timezone\": \"X/Y\", \"days\": [], \"hours\": \"x\", \"holidays\": [\"y\"], \"z\": 1}", 0, NULL);
  memset(&err, 0, sizeof err);
  assert_null(sf_calendar_new(def, "sla.calendar", &err));
  assert_int_equal(err.nfields, 5);
  json_decref(def);

  /* Accepted edges. */
  sf_calendar_free(cal("{\"timezone\": \"UTC\", \"hours\": \"00:00-24:00\", \"days\": [\"sun\", \"sat\", \"sun\"]}"));
  sf_calendar_free(cal("{\"timezone\": \"Etc/UTC\", \"hours\": \"23:59-24:00\", \"holidays\": []}"));
  sf_calendar_free(cal("{\"timezone\": \"Etc/GMT+5\", \"holidays\": [\"2028-02-29\"]}"));
}

/* Work beyond 20 years is not looked for; extreme instants do not overflow. */
static void test_bounds(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"timezone\": \"Europe/Berlin\", \"hours\": \"09:00-17:00\"}");
  int64_t t0 = at("2026-01-01T00:00");
  /* 40 business hours a week: 21 years, then 17 */
  assert_int_equal(sf_calendar_add(c, t0, 5 * 366 * DAY_MS), INT64_MAX);
  assert_true(sf_calendar_add(c, t0, 4 * 366 * DAY_MS) < at("2044-01-01T00:00"));
  int64_t century = sf_calendar_business_ms(c, at("1950-01-01T00:00"), at("2050-01-01T00:00"));
  assert_true(century > 19 * 365 * 5 * HOUR_MS && century <= 20 * 366 * 8 * HOUR_MS);
  assert_true(sf_calendar_business_ms(c, INT64_MIN, INT64_MAX) > 0);
  assert_true(sf_calendar_add(c, INT64_MIN, HOUR_MS) > INT64_MIN);
  assert_true(sf_calendar_add(c, INT64_MAX - 1, HOUR_MS) > 0);
  assert_int_equal(sf_calendar_add(c, t0, -5), t0);
  sf_calendar_free(c);
}

/* Spans of a few weeks: whole days at a time, well under 50 us. */
static void test_speed(void **state) {
  (void)state;
  sf_calendar *c = cal("{\"timezone\": \"Europe/Berlin\", \"hours\": \"09:00-17:00\","
                       " \"holidays\": [\"2026-12-24\", \"2026-12-25\", \"2026-12-31\", \"2027-01-01\"]}");
  enum { N = 2000 };
  int64_t sum = 0;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < N; i++) {
    int64_t t0 = at("2026-01-01T00:00") + (int64_t)i * 7919 * 60000; /* through 2026..2056 */
    int64_t t1 = sf_calendar_add(c, t0, 120 * HOUR_MS);              /* three working weeks */
    sum += sf_calendar_business_ms(c, t0, t1);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) / (2.0 * N);
  print_message("calendar: %.2f us per call over three working weeks\n", us);
  assert_int_equal(sum, N * 120 * HOUR_MS);
#if defined(__SANITIZE_ADDRESS__)
  assert_true(us < 250);
#else
  assert_true(us < 50);
#endif
  sf_calendar_free(c);
}

/* A working window that starts inside the spring-forward gap starts when the clock does: on
 * 2026-03-08 02:00 does not exist in New York, so 02:00-04:00 is 03:00-04:00 EDT = 07:00Z-08:00Z. */
static void test_window_starting_in_a_gap(void **state) {
  (void)state;
  sf_calendar *ny = cal("{\"timezone\": \"America/New_York\", \"days\": [\"sun\"], \"hours\": \"02:00-04:00\"}");
  assert_int_equal(sf_calendar_business_ms(ny, at("2026-03-08T00:00"), at("2026-03-09T00:00")), HOUR_MS);
  assert_int_equal(sf_calendar_add(ny, at("2026-03-08T00:00"), 30 * 60000), at("2026-03-08T07:30"));
  assert_int_equal(sf_calendar_add(ny, at("2026-03-01T00:00"), 30 * 60000), at("2026-03-01T07:30")); /* EST */
  sf_calendar_free(ny);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_null_calendar_is_plain_time),
      cmocka_unit_test(test_window_starting_in_a_gap),
      cmocka_unit_test(test_utc_weekdays),
      cmocka_unit_test(test_holidays_are_skipped),
      cmocka_unit_test(test_berlin_dst),
      cmocka_unit_test(test_new_york),
      cmocka_unit_test(test_after_2038_uses_the_footer),
      cmocka_unit_test(test_fixed_offset_zone),
      cmocka_unit_test(test_offsets_match_glibc),
      cmocka_unit_test(test_add_and_business_ms_are_inverses),
      cmocka_unit_test(test_business_ms_matches_minute_walk),
      cmocka_unit_test(test_posix_footer),
      cmocka_unit_test(test_slim_and_v1_files),
      cmocka_unit_test(test_bad_definitions),
      cmocka_unit_test(test_bounds),
      cmocka_unit_test(test_speed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
