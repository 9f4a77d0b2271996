/* Business-hours calendars and TZif time zones (see calendar.h). */
#include "flow/calendar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define MAX_TZ_NAME 64
#define MAX_TZIF_BYTES (256 * 1024)
#define MAX_TZIF_TRANSITIONS 8192
#define MAX_UTOFF (26 * 3600)
#define MAX_HOLIDAYS 400
#define DAY_S 86400
#define CAP_DAYS (20 * 366)
/* Instants are clamped to about +-8900 years so no day or offset sum overflows. */
#define LIMIT_MS (INT64_C(1) << 48)

static const char *const k_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* ---- civil dates: days since 1970-01-01, proleptic Gregorian ---- */

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

static int month_days(int64_t y, int m) {
  static const int k_len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : k_len[m - 1];
}

/* H. Hinnant's days_from_civil / civil_from_days, exact for any year. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = floor_div(y, 400), yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int64_t year_of_day(int64_t z) {
  z += 719468;
  int64_t era = floor_div(z, 146097), doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  return yoe + era * 400 + (mp >= 10); /* Jan and Feb belong to the next civil year */
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t day) { return (int)(((day + 4) % 7 + 7) % 7); }

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* ---- POSIX TZ strings (TZif footers) ---- */

typedef struct tz_date {
  char kind; /* 'M' month.week.weekday, 'J' 1..365 without Feb 29, 'n' 0..365 */
  int m, w, d;
  int32_t time; /* local seconds after midnight; may be negative or past 24h */
} tz_date;

typedef struct tz_rule {
  int32_t std_off, dst_off; /* seconds east of UTC, unlike the TZ string's sign */
  int has_dst;
  tz_date start, end;
} tz_rule;

/* [from, until) over which one UTC offset holds. */
typedef struct tz_span {
  int64_t from, until;
  int32_t off;
} tz_span;

/* A zone abbreviation: <+0530> or three or more letters. */
static const char *parse_abbr(const char *s) {
  const char *p = s;
  if (*p == '<') {
    p++;
    while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-') p++;
    return *p == '>' && p - s > 3 ? p + 1 : NULL;
  }
  while (is_alpha(*p)) p++;
  return p - s >= 3 ? p : NULL;
}

static const char *parse_uint(const char *s, int digits, int max, int *out) {
  int v = 0, n = 0;
  for (; n < digits && is_digit(*s); n++) v = v * 10 + (*s++ - '0');
  if (n == 0 || v > max || is_digit(*s)) return NULL;
  *out = v;
  return s;
}

/* [+-]h[h[h]][:mm[:ss]] to seconds; RFC 8536 lets rule times reach +-167h. */
static const char *parse_hms(const char *s, int max_h, int32_t *out) {
  int sign = 1, h, m = 0, sec = 0;
  if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
  if (!(s = parse_uint(s, 3, max_h, &h))) return NULL;
  if (*s == ':' && !(s = parse_uint(s + 1, 2, 59, &m))) return NULL;
  if (*s == ':' && !(s = parse_uint(s + 1, 2, 59, &sec))) return NULL;
  *out = sign * (h * 3600 + m * 60 + sec);
  return s;
}

static const char *parse_date(const char *s, tz_date *dt) {
  dt->kind = *s == 'M' || *s == 'J' ? *s++ : 'n';
  dt->m = dt->w = dt->d = 0;
  if (dt->kind == 'M') {
    if (!(s = parse_uint(s, 2, 12, &dt->m)) || dt->m < 1 || *s++ != '.') return NULL;
    if (!(s = parse_uint(s, 1, 5, &dt->w)) || dt->w < 1 || *s++ != '.') return NULL;
    if (!(s = parse_uint(s, 1, 6, &dt->d))) return NULL;
  } else if (!(s = parse_uint(s, 3, 365, &dt->d)) || (dt->kind == 'J' && dt->d < 1)) {
    return NULL;
  }
  dt->time = 2 * 3600;
  if (*s == '/' && !(s = parse_hms(s + 1, 167, &dt->time))) return NULL;
  return s;
}

static int parse_posix(const char *s, tz_rule *r) {
  int32_t off;
  memset(r, 0, sizeof *r);
  if (!(s = parse_abbr(s)) || !(s = parse_hms(s, 24, &off))) return -1;
  r->std_off = r->dst_off = -off;
  if (!*s) return 0;
  if (!(s = parse_abbr(s))) return -1;
  r->has_dst = 1;
  r->dst_off = r->std_off + 3600;
  if (*s && *s != ',') {
    if (!(s = parse_hms(s, 24, &off))) return -1;
    r->dst_off = -off;
  }
  if (!*s) s = ",M3.2.0,M11.1.0"; /* no rule: POSIX leaves it open, tzcode uses the US one */
  if (*s != ',' || !(s = parse_date(s + 1, &r->start))) return -1;
  if (*s != ',' || !(s = parse_date(s + 1, &r->end))) return -1;
  return *s ? -1 : 0;
}

static int64_t rule_day(const tz_date *dt, int64_t y) {
  int64_t jan1 = days_from_civil(y, 1, 1);
  if (dt->kind == 'J') return jan1 + dt->d - 1 + (is_leap(y) && dt->d >= 60);
  if (dt->kind == 'n') return jan1 + dt->d;
  int64_t first = days_from_civil(y, dt->m, 1);
  int64_t day = first + (dt->d - weekday(first) + 7) % 7 + 7 * (dt->w - 1);
  while (day >= first + month_days(y, dt->m)) day -= 7; /* week 5 = the last one */
  return day;
}

/* The transitions of the years around t decide its span; DST may straddle
 * the new year (southern hemisphere), hence three years. */
static tz_span rule_span(const tz_rule *r, int64_t t) {
  tz_span sp = {INT64_MIN, INT64_MAX, r->std_off};
  if (!r->has_dst) return sp;
  int64_t y = year_of_day(floor_div(t + r->std_off, DAY_S)), at[6];
  int32_t off[6];
  int n = 0;
  for (int64_t yy = y - 1; yy <= y + 1; yy++) {
    /* Ends are stored first: at a tie the later entry (DST starting) wins. */
    at[n] = rule_day(&r->end, yy) * DAY_S + r->end.time - r->dst_off;
    off[n++] = r->std_off;
    at[n] = rule_day(&r->start, yy) * DAY_S + r->start.time - r->std_off;
    off[n++] = r->dst_off;
  }
  for (int i = 1; i < n; i++) /* stable insertion sort */
    for (int j = i; j > 0 && at[j - 1] > at[j]; j--) {
      int64_t ta = at[j];
      int32_t to = off[j];
      at[j] = at[j - 1], off[j] = off[j - 1];
      at[j - 1] = ta, off[j - 1] = to;
    }
  int last = -1;
  for (int i = 0; i < n && at[i] <= t; i++) last = i;
  if (last < 0) {
    sp.off = off[0] == r->dst_off ? r->std_off : r->dst_off;
    sp.until = at[0];
    return sp;
  }
  sp.from = at[last];
  sp.off = off[last];
  if (last + 1 < n) sp.until = at[last + 1];
  return sp;
}

int sf_calendar__posix_offset(const char *tz, int64_t t_s, int32_t *off) {
  tz_rule r;
  if (!tz || parse_posix(tz, &r)) return -1;
  *off = rule_span(&r, t_s).off;
  return 0;
}

/* ---- zones: TZif transition table plus footer rule ---- */

typedef struct tz_zone {
  int64_t *at;  /* transition instants (s), strictly ascending */
  int32_t *off; /* offset from at[i] on */
  int n;
  int32_t off0; /* before the first transition: time type 0 */
  int has_rule; /* the footer rules from at[n-1] on (everywhere when n == 0) */
  tz_rule rule;
} tz_zone;

static tz_span zone_span(const tz_zone *z, int64_t t) {
  if (z->n == 0 || t >= z->at[z->n - 1]) {
    if (z->has_rule) {
      tz_span sp = rule_span(&z->rule, t);
      if (z->n && sp.from < z->at[z->n - 1]) sp.from = z->at[z->n - 1];
      return sp;
    }
    if (z->n == 0) return (tz_span){INT64_MIN, INT64_MAX, z->off0};
    return (tz_span){z->at[z->n - 1], INT64_MAX, z->off[z->n - 1]};
  }
  if (t < z->at[0]) return (tz_span){INT64_MIN, z->at[0], z->off0};
  int lo = 0, hi = z->n - 1; /* at[lo] <= t < at[hi] */
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    if (z->at[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  return (tz_span){z->at[lo], z->at[hi], z->off[lo]};
}

/* Local wall time (seconds, as if UTC) to the instant it names; the
 * mapping never goes backwards, so consecutive days' hours never overlap.
 * *hint is a span near the answer (the last one, as days are walked in
 * order) and is left holding the answer's span. */
static int64_t local_to_utc(const tz_zone *z, int64_t local, tz_span *hint) {
  tz_span s = *hint;
  if (local - s.off < s.from || local - s.off >= s.until) s = zone_span(z, local - zone_span(z, local).off);
  for (int i = 0; i < 8; i++) {
    int64_t u = local - s.off;
    if (u < s.from) {
      tz_span p = zone_span(z, s.from - 1);
      if (local - p.off >= s.from) { /* skipped by a spring forward */
        *hint = s;
        return s.from;
      }
      s = p;
    } else if (u >= s.until) {
      tz_span nx = zone_span(z, s.until);
      if (local - nx.off < s.until) {
        *hint = nx;
        return s.until;
      }
      s = nx;
    } else {
      /* Repeated by a fall back: the first occurrence. Only an instant
       * closer to the change than the offsets differ can repeat. */
      if (s.from != INT64_MIN && u - s.from < 2 * MAX_UTOFF) {
        tz_span p = zone_span(z, s.from - 1);
        int64_t up = local - p.off;
        if (up >= p.from && up < s.from) {
          *hint = p;
          return up;
        }
      }
      *hint = s;
      return u;
    }
  }
  *hint = s;
  return local - s.off;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

typedef struct tzif_counts {
  size_t isut, isstd, leap, time, type, chars;
} tzif_counts;

/* The header at h and the size of the data block following it. */
static int tzif_header(const uint8_t *h, size_t len, int tsize, tzif_counts *c, size_t *block) {
  if (len < 44 || memcmp(h, "TZif", 4) != 0) return -1;
  c->isut = be32(h + 20), c->isstd = be32(h + 24), c->leap = be32(h + 28);
  c->time = be32(h + 32), c->type = be32(h + 36), c->chars = be32(h + 40);
  *block = c->time * (tsize + 1) + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd + c->isut;
  return len - 44 < *block ? -1 : 0;
}

/* RFC 8536. Files with leap seconds (right/...) count TAI-like seconds and
 * are refused. */
static int tzif_parse(const uint8_t *p, size_t len, tz_zone *z) {
  tzif_counts c;
  size_t block;
  if (tzif_header(p, len, 4, &c, &block)) return -1;
  int tsize = 4;
  if (p[4] >= '2') { /* skip the 32-bit data for the 64-bit copy */
    p += 44 + block, len -= 44 + block, tsize = 8;
    if (tzif_header(p, len, 8, &c, &block)) return -1;
  }
  if (c.leap || c.type == 0 || c.type > 256 || c.time > MAX_TZIF_TRANSITIONS) return -1;
  const uint8_t *times = p + 44, *idx = times + c.time * tsize, *types = idx + c.time;
  for (size_t i = 0; i < c.type; i++) {
    int32_t utoff = (int32_t)be32(types + 6 * i);
    if (utoff < -MAX_UTOFF || utoff > MAX_UTOFF) return -1;
  }
  z->at = sf_malloc((c.time ? c.time : 1) * sizeof *z->at);
  z->off = sf_malloc((c.time ? c.time : 1) * sizeof *z->off);
  z->n = (int)c.time;
  z->off0 = (int32_t)be32(types);
  for (size_t i = 0; i < c.time; i++) {
    z->at[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
    if (idx[i] >= c.type || (i && z->at[i] <= z->at[i - 1])) return -1;
    z->off[i] = (int32_t)be32(types + 6 * idx[i]);
  }
  /* A footer that is missing or does not parse leaves the last offset in force. */
  const char *foot = (const char *)p + 44 + block;
  size_t rest = len - 44 - block;
  if (tsize == 8 && rest >= 2 && foot[0] == '\n') {
    const char *nl = memchr(foot + 1, '\n', rest - 1);
    char tz[256];
    if (nl && (size_t)(nl - foot - 1) < sizeof tz) {
      memcpy(tz, foot + 1, (size_t)(nl - foot - 1));
      tz[nl - foot - 1] = '\0';
      z->has_rule = parse_posix(tz, &z->rule) == 0;
    }
  }
  return 0;
}

static int tz_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > MAX_TZ_NAME || s[0] == '/' || strstr(s, "..")) return 0;
  for (; *s; s++)
    if (!is_alpha(*s) && !is_digit(*s) && !strchr("_+-/", *s)) return 0;
  return 1;
}

static int zone_load(const char *dir, const char *name, tz_zone *z) {
  char path[512];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return -1;
  /* O_NONBLOCK: a FIFO must not hang the caller before fstat refuses it. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < 44 || st.st_size > MAX_TZIF_BYTES) {
    close(fd);
    return -1;
  }
  size_t len = (size_t)st.st_size, got = 0;
  uint8_t *buf = sf_malloc(len);
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  int rc = got == len ? tzif_parse(buf, len, z) : -1;
  free(buf);
  return rc;
}

/* ---- definitions ---- */

struct sf_calendar {
  tz_zone zone;
  unsigned days;           /* one bit per weekday, bit 0 = Sunday */
  int32_t open_s, close_s; /* local seconds after midnight, open < close <= 24h */
  int32_t *holidays;       /* days since the epoch, ascending, unique */
  int nholidays;
};

void sf_calendar_free(sf_calendar *c) {
  if (!c) return;
  free(c->zone.at);
  free(c->zone.off);
  free(c->holidays);
  free(c);
}

static void problem(sf_err *err, int *bad, const char *where, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void problem(sf_err *err, int *bad, const char *where, const char *key, const char *fmt, ...) {
  char field[160], msg[160];
  int has_where = where && *where;
  if (!*key)
    snprintf(field, sizeof field, "%s", has_where ? where : "calendar");
  else
    snprintf(field, sizeof field, "%s%s%s", has_where ? where : "", has_where ? "." : "", key);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sf_err_field_add(err, field, "%s", msg);
  (*bad)++;
}

/* "HH:MM" with 24:00 allowed (as a closing time) */
static int parse_hhmm(const char *s, int32_t *out) {
  if (!is_digit(s[0]) || !is_digit(s[1]) || s[2] != ':' || !is_digit(s[3]) || !is_digit(s[4])) return -1;
  int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
  if (m > 59 || h > 24 || (h == 24 && m)) return -1;
  *out = h * 3600 + m * 60;
  return 0;
}

static int parse_hours(const char *s, int32_t *open, int32_t *close) {
  if (strlen(s) != 11 || s[5] != '-' || parse_hhmm(s, open) || parse_hhmm(s + 6, close)) return -1;
  return *open < *close ? 0 : -1;
}

/* "YYYY-MM-DD" to days since the epoch. */
static int parse_date_ymd(const char *s, int32_t *day) {
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && !is_digit(s[i])) return -1;
  int y = atoi(s), m = (s[5] - '0') * 10 + s[6] - '0', d = (s[8] - '0') * 10 + s[9] - '0';
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > month_days(y, m)) return -1;
  *day = (int32_t)days_from_civil(y, m, d);
  return 0;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static void read_timezone(sf_calendar *c, const json_t *v, const char *dir, const char *where, sf_err *err, int *bad) {
  const char *name = json_string_value(v);
  if (!v || (name && strcmp(name, "UTC") == 0)) return; /* built in: the default needs no tzdata */
  if (!name) {
    problem(err, bad, where, "timezone", "must be a time zone name such as Europe/Berlin");
    return;
  }
  if (!tz_name_ok(name) || zone_load(dir, name, &c->zone)) {
    free(c->zone.at);
    free(c->zone.off);
    memset(&c->zone, 0, sizeof c->zone);
    problem(err, bad, where, "timezone", "'%.40s' is not a known time zone (such as Europe/Berlin)", name);
  }
}

static void read_days(sf_calendar *c, const json_t *v, const char *where, sf_err *err, int *bad) {
  if (!v) {
    c->days = 0x3e; /* mon..fri */
    return;
  }
  if (!json_is_array(v) || json_array_size(v) == 0) {
    problem(err, bad, where, "days", "must be a non-empty list of days (mon, tue, wed, thu, fri, sat, sun)");
    return;
  }
  size_t i;
  const json_t *d;
  json_array_foreach(v, i, d) {
    const char *s = json_string_value(d);
    int w = -1;
    for (int k = 0; s && k < 7 && w < 0; k++)
      if (strcmp(s, k_days[k]) == 0) w = k;
    char key[48];
    snprintf(key, sizeof key, "days[%zu]", i);
    if (w < 0)
      problem(err, bad, where, key, "is not a day (mon, tue, wed, thu, fri, sat, sun)");
    else
      c->days |= 1u << w;
  }
}

static void read_hours(sf_calendar *c, const json_t *v, const char *where, sf_err *err, int *bad) {
  c->open_s = 0, c->close_s = DAY_S;
  const char *s = json_string_value(v);
  if (v && (!s || parse_hours(s, &c->open_s, &c->close_s)))
    problem(err, bad, where, "hours", "must be HH:MM-HH:MM with the start first, such as 09:00-17:00");
}

static void read_holidays(sf_calendar *c, const json_t *v, const char *where, sf_err *err, int *bad) {
  if (!v) return;
  if (!json_is_array(v) || json_array_size(v) > MAX_HOLIDAYS) {
    problem(err, bad, where, "holidays", "must be a list of at most %d dates (YYYY-MM-DD)", MAX_HOLIDAYS);
    return;
  }
  c->holidays = sf_malloc((json_array_size(v) + 1) * sizeof *c->holidays);
  size_t i;
  const json_t *d;
  json_array_foreach(v, i, d) {
    const char *s = json_string_value(d);
    char key[48];
    snprintf(key, sizeof key, "holidays[%zu]", i);
    if (!s || parse_date_ymd(s, &c->holidays[c->nholidays]))
      problem(err, bad, where, key, "is not a date (YYYY-MM-DD)");
    else
      c->nholidays++;
  }
  qsort(c->holidays, (size_t)c->nholidays, sizeof *c->holidays, cmp_i32);
  int n = 0;
  for (int k = 0; k < c->nholidays; k++)
    if (n == 0 || c->holidays[n - 1] != c->holidays[k]) c->holidays[n++] = c->holidays[k];
  c->nholidays = n;
}

sf_calendar *sf_calendar__new_in(const json_t *def, const char *where, const char *zoneinfo_dir, sf_err *err) {
  int bad = 0;
  if (!json_is_object(def)) {
    problem(err, &bad, where, "", "must be a mapping (timezone, days, hours, holidays)");
    return NULL;
  }
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)def, k, v) {
    if (strcmp(k, "timezone") && strcmp(k, "days") && strcmp(k, "hours") && strcmp(k, "holidays"))
      problem(err, &bad, where, k, "unknown key (timezone, days, hours, holidays)");
  }
  sf_calendar *c = sf_calloc(1, sizeof *c);
  read_timezone(c, json_object_get(def, "timezone"), zoneinfo_dir, where, err, &bad);
  read_days(c, json_object_get(def, "days"), where, err, &bad);
  read_hours(c, json_object_get(def, "hours"), where, err, &bad);
  read_holidays(c, json_object_get(def, "holidays"), where, err, &bad);
  if (bad) {
    sf_calendar_free(c);
    return NULL;
  }
  return c;
}

sf_calendar *sf_calendar_new(const json_t *def, const char *where, sf_err *err) {
  return sf_calendar__new_in(def, where, ZONEINFO_DIR, err);
}

int32_t sf_calendar__utc_offset(const sf_calendar *c, int64_t t_s) { return c ? zone_span(&c->zone, t_s).off : 0; }

/* ---- business time ---- */

static int is_holiday(const sf_calendar *c, int64_t day) {
  int lo = 0, hi = c->nholidays;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (c->holidays[mid] < day)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < c->nholidays && c->holidays[lo] == day;
}

/* The working time of local day `day` as [*a, *b) in UTC ms; 0 when none. */
static int day_hours(const sf_calendar *c, int64_t day, tz_span *hint, int64_t *a, int64_t *b) {
  if (!(c->days >> weekday(day) & 1) || is_holiday(c, day)) return 0;
  *a = local_to_utc(&c->zone, day * DAY_S + c->open_s, hint) * 1000;
  *b = local_to_utc(&c->zone, day * DAY_S + c->close_s, hint) * 1000;
  return *b > *a;
}

static int64_t clamp_ms(int64_t t) { return t < -LIMIT_MS ? -LIMIT_MS : t > LIMIT_MS ? LIMIT_MS : t; }

/* The local day of t and the span around it. A day's hours map to instants
 * within that day's wall clock give or take a DST change, so a caller
 * starting one day earlier and ending one later sees every period touching t. */
static int64_t local_day(const sf_calendar *c, int64_t t_ms, tz_span *span) {
  int64_t t = floor_div(t_ms, 1000);
  *span = zone_span(&c->zone, t);
  return floor_div(t + span->off, DAY_S);
}

int64_t sf_calendar_business_ms(const sf_calendar *c, int64_t t0_ms, int64_t t1_ms) {
  if (t1_ms <= t0_ms) return 0;
  if (!c) {
    int64_t d;
    return __builtin_sub_overflow(t1_ms, t0_ms, &d) ? INT64_MAX : d;
  }
  t0_ms = clamp_ms(t0_ms), t1_ms = clamp_ms(t1_ms);
  tz_span hint, end;
  int64_t first = local_day(c, t0_ms, &hint) - 1, last = local_day(c, t1_ms, &end) + 1, total = 0;
  if (last - first > CAP_DAYS) last = first + CAP_DAYS;
  for (int64_t day = first; day <= last; day++) {
    int64_t a, b;
    if (!day_hours(c, day, &hint, &a, &b)) continue;
    if (a < t0_ms) a = t0_ms;
    if (b > t1_ms) b = t1_ms;
    if (b > a) total += b - a;
  }
  return total;
}

int64_t sf_calendar_add(const sf_calendar *c, int64_t t0_ms, int64_t business_ms) {
  if (business_ms <= 0) return t0_ms;
  if (!c) return t0_ms > INT64_MAX - business_ms ? INT64_MAX : t0_ms + business_ms;
  tz_span hint;
  int64_t t = clamp_ms(t0_ms), left = business_ms, day = local_day(c, t, &hint) - 1;
  for (int i = 0; i < CAP_DAYS; i++, day++) {
    int64_t a, b;
    if (!day_hours(c, day, &hint, &a, &b)) continue;
    if (a < t) a = t;
    if (b <= a) continue;
    if (left <= b - a) return a + left;
    left -= b - a;
  }
  return INT64_MAX;
}
