/* Business-hours calendars for SLA timers: which instants count as working
 * time, in the local wall time of a time zone.
 *
 *   calendar:
 *     timezone: Europe/Berlin          # default UTC (built in); else a
 *                                      #   TZif file under /usr/share/zoneinfo
 *     days: [mon, tue, wed, thu, fri]  # default mon..fri; mon..sun
 *     hours: "09:00-17:00"             # default 00:00-24:00; local wall time
 *     holidays: ["2026-12-25"]         # default none; at most 400 dates
 *
 * A local day works when its weekday is in `days` and its date is not a
 * holiday; its working time is [open, close) of that day's wall clock,
 * turned into UTC with the offset in force (so a day may have 23 or 25
 * hours around a DST change). A wall time that does not exist (spring
 * forward) maps to the transition instant; one that exists twice (fall
 * back) to its first occurrence.
 *
 * Time zones are read from TZif files here, never through TZ/tzset (those
 * are process-global): the transition table, then the POSIX TZ footer for
 * instants after its last transition. A calendar is immutable once built
 * and can be shared between threads. The caller owns it
 * (sf_calendar_free). Instants are milliseconds since the epoch (UTC),
 * clamped to about +-8900 years. */
#ifndef SF_FLOW_CALENDAR_H
#define SF_FLOW_CALENDAR_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"

typedef struct sf_calendar sf_calendar;

/* Builds a calendar from a parsed definition (above). On a bad definition
 * returns NULL and adds one field error per problem, named under `where`
 * ("sla.calendar.timezone", "sla.calendar.days[2]", ...; where may be NULL
 * or empty); the status is left to the caller (422). */
sf_calendar *sf_calendar_new(const json_t *def, const char *where, sf_err *err);
void sf_calendar_free(sf_calendar *c);

/* A NULL calendar below means 24x7: plain elapsed time. */

/* Business milliseconds in [t0, t1); 0 when t1 <= t0. Counts at most the
 * first 20 years of the span. */
int64_t sf_calendar_business_ms(const sf_calendar *c, int64_t t0_ms, int64_t t1_ms);

/* The earliest instant by which business_ms of business time have elapsed
 * since t0: business_ms(c, t0, add(c, t0, d)) == d. Returns t0 when
 * business_ms <= 0, and INT64_MAX when the time is not reached within 20
 * years. Ending exactly at a day's close gives the close, not the next
 * opening. */
int64_t sf_calendar_add(const sf_calendar *c, int64_t t0_ms, int64_t business_ms);

/* ---- internals exposed for tests/unit/calendar_test.c, not for callers ---- */

/* sf_calendar_new reading time zones from zoneinfo_dir. */
sf_calendar *sf_calendar__new_in(const json_t *def, const char *where, const char *zoneinfo_dir, sf_err *err);
/* The UTC offset (seconds east) of the calendar's zone at t_s (seconds). */
int32_t sf_calendar__utc_offset(const sf_calendar *c, int64_t t_s);
/* The same under a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"); -1 when
 * the string does not parse, else 0. */
int sf_calendar__posix_offset(const char *tz, int64_t t_s, int32_t *off);

#endif
