/* Business calendars (see calendar.h). */
#include "flow/calendar.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define MAX_DAYS (20 * 366)
#define MAX_HOLIDAYS 400
#define ZONEINFO "/usr/share/zoneinfo/"

/* A POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"): offsets east of UTC in
 * seconds; DST between the two Mm.w.d dates when has_dst. */
typedef struct {
  int32_t std_off, dst_off;
  int has_dst;
  int start_m, start_w, start_d, end_m, end_w, end_d;
  int32_t start_t, end_t; /* seconds after local midnight */
} posix_rule;

struct sf_calendar {
  int64_t *trans; /* transition instants (s) */
  int32_t *trans_off;
  int ntrans;
  int32_t first_off; /* before the first transition */
  posix_rule rule;
  int has_rule;
  unsigned days;         /* bit d set: weekday d works (0 = Sunday) */
  int32_t open_s, close_s; /* working hours, seconds after local midnight */
  int64_t *holidays;     /* local dates as days since the epoch, sorted */
  int nholidays;
};

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int weekday(int64_t days) { return (int)(((days % 7) + 11) % 7); } /* 1970-01-01 was a Thursday (4) */

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b) != 0 && ((a < 0) != (b < 0))); }

static int month_days(int64_t y, int m) {
  static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : n[m - 1];
}

/* ---- POSIX TZ rules ---- */

static const char *tz_name(const char *p) {
  if (*p == '<') {
    const char *e = strchr(p, '>');
    return e ? e + 1 : NULL;
  }
  const char *s = p;
  while (isalpha((unsigned char)*p)) p++;
  return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] -> seconds */
static const char *tz_time(const char *p, int32_t *out) {
  int sign = 1;
  if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
  if (!isdigit((unsigned char)*p)) return NULL;
  int32_t h = 0, m = 0, s = 0;
  while (isdigit((unsigned char)*p)) h = h * 10 + (*p++ - '0');
  if (*p == ':') {
    p++;
    while (isdigit((unsigned char)*p)) m = m * 10 + (*p++ - '0');
    if (*p == ':') {
      p++;
      while (isdigit((unsigned char)*p)) s = s * 10 + (*p++ - '0');
    }
  }
  if (h > 167 || m > 59 || s > 59) return NULL;
  *out = sign * (h * 3600 + m * 60 + s);
  return p;
}

static const char *tz_date(const char *p, int *m, int *w, int *d, int32_t *t) {
  if (*p != 'M') return NULL; /* Jn and n forms are not used by tzdata */
  if (sscanf(p, "M%d.%d.%d", m, w, d) != 3 || *m < 1 || *m > 12 || *w < 1 || *w > 5 || *d < 0 || *d > 6) return NULL;
  p++;
  while (isdigit((unsigned char)*p) || *p == '.') p++;
  *t = 7200;
  if (*p == '/') p = tz_time(p + 1, t);
  return p;
}

static int parse_posix(const char *s, posix_rule *r) {
  memset(r, 0, sizeof *r);
  const char *p = tz_name(s);
  int32_t off;
  if (!p || !(p = tz_time(p, &off))) return -1;
  r->std_off = -off; /* POSIX offsets count west of UTC */
  if (!*p) return 0;
  if (!(p = tz_name(p))) return -1;
  r->dst_off = r->std_off + 3600;
  if (*p && *p != ',') {
    if (!(p = tz_time(p, &off))) return -1;
    r->dst_off = -off;
  }
  if (*p != ',' || !(p = tz_date(p + 1, &r->start_m, &r->start_w, &r->start_d, &r->start_t))) return -1;
  if (*p != ',' || !(p = tz_date(p + 1, &r->end_m, &r->end_w, &r->end_d, &r->end_t)) || *p) return -1;
  r->has_dst = 1;
  return 0;
}

/* Local midnight (days since the epoch) of the rule's date in year y. */
static int64_t rule_day(int64_t y, int m, int w, int d) {
  int64_t first = days_from_civil(y, m, 1);
  int64_t day = first + ((d - weekday(first) + 7) % 7) + (int64_t)(w - 1) * 7;
  while (day - first >= month_days(y, m)) day -= 7;
  return day;
}

static int32_t rule_offset(const posix_rule *r, int64_t t) {
  if (!r->has_dst) return r->std_off;
  int64_t y;
  int mo, d;
  civil_from_days(floor_div(t + r->std_off, 86400), &y, &mo, &d);
  int64_t start = rule_day(y, r->start_m, r->start_w, r->start_d) * 86400 + r->start_t - r->std_off;
  int64_t end = rule_day(y, r->end_m, r->end_w, r->end_d) * 86400 + r->end_t - r->dst_off;
  int dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

static int64_t be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  if (n == 4) return (int32_t)(uint32_t)v;
  return (int64_t)v;
}

static int load_tzif(sf_calendar *c, const char *name) {
  char path[256];
  snprintf(path, sizeof path, ZONEINFO "%s", name);
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char *buf = malloc(1 << 20);
  size_t len = buf ? fread(buf, 1, 1 << 20, f) : 0;
  fclose(f);
  int rc = -1;
  if (len < 44 || memcmp(buf, "TZif", 4) != 0) goto out;
  const unsigned char *h = buf;
  size_t off = 0;
  int tsize = 4;
  for (int pass = 0; pass < 2; pass++) {
    if (off + 44 > len || memcmp(h, "TZif", 4) != 0) goto out;
    int64_t isut = be(h + 20, 4), isstd = be(h + 24, 4), leap = be(h + 28, 4), timecnt = be(h + 32, 4),
            typecnt = be(h + 36, 4), charcnt = be(h + 40, 4);
    if (timecnt < 0 || typecnt < 1 || typecnt > 256 || timecnt > 10000 || isut < 0 || isstd < 0 || leap < 0 ||
        charcnt < 0 || leap > 10000 || charcnt > 10000 || isut > 256 || isstd > 256)
      goto out;
    size_t body = (size_t)(timecnt * tsize + timecnt + typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut);
    if (off + 44 + body > len) goto out;
    if (pass == 0 && h[4] >= '2') { /* skip the 32-bit block, read the 64-bit one */
      off += 44 + body;
      h = buf + off;
      tsize = 8;
      continue;
    }
    const unsigned char *tt = h + 44, *idx = tt + timecnt * tsize, *types = idx + timecnt;
    c->ntrans = (int)timecnt;
    c->trans = malloc(sizeof *c->trans * (size_t)(timecnt ? timecnt : 1));
    c->trans_off = malloc(sizeof *c->trans_off * (size_t)(timecnt ? timecnt : 1));
    if (!c->trans || !c->trans_off) goto out;
    for (int64_t i = 0; i < timecnt; i++) {
      if (idx[i] >= typecnt) goto out;
      c->trans[i] = be(tt + i * tsize, tsize);
      c->trans_off[i] = (int32_t)be(types + idx[i] * 6, 4);
    }
    c->first_off = (int32_t)be(types, 4);
    for (int64_t i = 0; i < typecnt; i++)
      if (!types[i * 6 + 4]) {
        c->first_off = (int32_t)be(types + i * 6, 4); /* the first standard-time type */
        break;
      }
    if (tsize == 8) { /* the footer: "\n<POSIX TZ>\n" */
      size_t foot = off + 44 + body;
      if (foot < len && buf[foot] == '\n') {
        char tz[128];
        size_t n = 0;
        for (size_t i = foot + 1; i < len && buf[i] != '\n' && n < sizeof tz - 1; i++) tz[n++] = (char)buf[i];
        tz[n] = '\0';
        c->has_rule = n > 0 && parse_posix(tz, &c->rule) == 0;
      }
    }
    rc = 0;
    break;
  }
out:
  free(buf);
  return rc;
}

int32_t sf_calendar_utc_offset(const sf_calendar *c, int64_t t_ms) {
  if (!c) return 0;
  int64_t t = floor_div(t_ms, 1000);
  if (c->ntrans == 0 || t < c->trans[0]) return c->ntrans == 0 && c->has_rule ? rule_offset(&c->rule, t) : c->first_off;
  if (t >= c->trans[c->ntrans - 1] && c->has_rule) return rule_offset(&c->rule, t);
  int lo = 0, hi = c->ntrans - 1; /* last transition <= t */
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (c->trans[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return c->trans_off[lo];
}

/* ---- building ---- */

static int valid_zone_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 100 || s[0] == '/' || strstr(s, "..")) return 0;
  for (const char *p = s; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("_+-/", *p)) return 0;
  return 1;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int parse_hhmm(const char *s, int32_t *out) {
  if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' || !isdigit((unsigned char)s[3]) ||
      !isdigit((unsigned char)s[4]))
    return -1;
  int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
  if (m > 59 || h > 24 || (h == 24 && m)) return -1;
  *out = h * 3600 + m * 60;
  return 0;
}

sf_calendar *sf_calendar_new(const json_t *def, const char *where, sf_err *err) {
  int before = err->nfields;
  char f[160];
  if (!json_is_object(def)) {
    sf_err_field_add(err, where, "must be {timezone, days, hours, holidays}");
    return NULL;
  }
  sf_calendar *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->days = 0x3e; /* Monday to Friday */
  c->close_s = 86400;
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)def, k, v) {
    if (strcmp(k, "timezone") && strcmp(k, "days") && strcmp(k, "hours") && strcmp(k, "holidays")) {
      snprintf(f, sizeof f, "%s.%s", where, k);
      sf_err_field_add(err, f, "unknown key (timezone, days, hours, holidays)");
    }
  }
  const json_t *tz = json_object_get(def, "timezone");
  snprintf(f, sizeof f, "%s.timezone", where);
  const char *zone = tz ? json_string_value(tz) : "UTC";
  if (!zone || !valid_zone_name(zone) || load_tzif(c, zone))
    sf_err_field_add(err, f, "must be a time zone such as Europe/Berlin (see /usr/share/zoneinfo)");
  const json_t *days = json_object_get(def, "days");
  snprintf(f, sizeof f, "%s.days", where);
  if (days) {
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    c->days = 0;
    size_t i;
    json_array_foreach(json_is_array(days) ? days : NULL, i, v) {
      int d = -1;
      for (int j = 0; j < 7 && json_is_string(v); j++)
        if (strcmp(json_string_value(v), names[j]) == 0) d = j;
      if (d < 0) sf_err_field_add(err, f, "days[%zu] must be one of mon, tue, wed, thu, fri, sat, sun", i);
      else c->days |= 1u << d;
    }
    if (!json_is_array(days) || !c->days) sf_err_field_add(err, f, "must be a non-empty list of weekdays (mon ... sun)");
  }
  const json_t *hours = json_object_get(def, "hours");
  snprintf(f, sizeof f, "%s.hours", where);
  if (hours) {
    const char *h = json_string_value(hours);
    if (!h || strlen(h) != 11 || h[5] != '-' || parse_hhmm(h, &c->open_s) || parse_hhmm(h + 6, &c->close_s) ||
        c->open_s >= c->close_s)
      sf_err_field_add(err, f, "must be \"HH:MM-HH:MM\" with the start before the end, such as \"09:00-17:00\"");
  }
  const json_t *hol = json_object_get(def, "holidays");
  snprintf(f, sizeof f, "%s.holidays", where);
  if (hol) {
    if (!json_is_array(hol) || json_array_size(hol) > MAX_HOLIDAYS) {
      sf_err_field_add(err, f, "must be a list of up to %d dates (YYYY-MM-DD)", MAX_HOLIDAYS);
    } else {
      c->holidays = calloc(json_array_size(hol) + 1, sizeof *c->holidays);
      size_t i;
      json_array_foreach(hol, i, v) {
        const char *s = json_string_value(v);
        int y, m, d;
        char tail;
        if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 ||
            y < 1970 || d > month_days(y, m))
          sf_err_field_add(err, f, "holidays[%zu] must be a date such as 2026-12-25", i);
        else if (c->holidays)
          c->holidays[c->nholidays++] = days_from_civil(y, m, d);
      }
      if (c->holidays) qsort(c->holidays, (size_t)c->nholidays, sizeof *c->holidays, cmp_i64);
    }
  }
  if (err->nfields != before) {
    sf_calendar_free(c);
    return NULL;
  }
  return c;
}

void sf_calendar_free(sf_calendar *c) {
  if (!c) return;
  free(c->trans);
  free(c->trans_off);
  free(c->holidays);
  free(c);
}

/* ---- business time ---- */

static int works(const sf_calendar *c, int64_t day) {
  if (!(c->days & (1u << weekday(day)))) return 0;
  int64_t key = day;
  return !c->holidays || !bsearch(&key, c->holidays, (size_t)c->nholidays, sizeof key, cmp_i64);
}

/* The UTC instant of a local wall-clock time (ms since the local epoch):
 * one of the offsets in force a day before or after that maps back to it;
 * a time skipped by a DST change moves forward (as the clock does). */
static int64_t local_to_utc(const sf_calendar *c, int64_t local_ms) {
  int64_t a = sf_calendar_utc_offset(c, local_ms - DAY_MS), b = sf_calendar_utc_offset(c, local_ms + DAY_MS);
  int64_t ua = local_ms - a * 1000, ub = local_ms - b * 1000;
  if (sf_calendar_utc_offset(c, ua) == a) return ua;
  if (sf_calendar_utc_offset(c, ub) == b) return ub;
  return a > b ? ub : ua; /* in a gap: the later of the two readings */
}

static int64_t local_day(const sf_calendar *c, int64_t t) {
  return floor_div(t + (int64_t)sf_calendar_utc_offset(c, t) * 1000, DAY_MS);
}

/* The working window of a local day, in UTC ms; 0 when it does not work. */
static int window(const sf_calendar *c, int64_t day, int64_t *ws, int64_t *we) {
  if (!works(c, day)) return 0;
  *ws = local_to_utc(c, day * DAY_MS + (int64_t)c->open_s * 1000);
  *we = local_to_utc(c, day * DAY_MS + (int64_t)c->close_s * 1000);
  return *we > *ws;
}

int64_t sf_calendar_business_ms(const sf_calendar *c, int64_t t0, int64_t t1) {
  if (t1 <= t0) return 0;
  if (!c) return t1 - t0;
  int64_t first = local_day(c, t0) - 1, last = local_day(c, t1) + 1; /* windows are clipped to [t0, t1) */
  if (last - first > MAX_DAYS) last = first + MAX_DAYS;
  int64_t sum = 0, ws, we;
  for (int64_t d = first; d <= last; d++) {
    if (!window(c, d, &ws, &we)) continue;
    int64_t a = ws > t0 ? ws : t0, b = we < t1 ? we : t1;
    if (b > a) sum += b - a;
  }
  return sum;
}

int64_t sf_calendar_add(const sf_calendar *c, int64_t t0, int64_t business_ms) {
  if (business_ms <= 0) return t0;
  if (!c) return t0 + business_ms;
  int64_t left = business_ms, ws, we, first = local_day(c, t0) - 1;
  for (int64_t d = first; d <= first + MAX_DAYS; d++) {
    if (!window(c, d, &ws, &we)) continue;
    int64_t a = ws > t0 ? ws : t0;
    if (a >= we) continue;
    if (left <= we - a) return a + left;
    left -= we - a;
  }
  return INT64_MAX;
}
