/* Business calendars for SLAs: working days and hours in a time zone, with
 * holidays. Time zones come from the system's TZif files
 * (/usr/share/zoneinfo, the tzdata package), read once when a calendar is
 * built, including the POSIX rule at their end for instants past the last
 * listed transition, so no process-wide TZ switching is needed and
 * calendars can be used from any thread (they are immutable once built).
 *
 *   {timezone: "Europe/Berlin", days: [mon, tue, wed, thu, fri],
 *    hours: "09:00-17:00", holidays: ["2026-12-25", ...]}
 *
 * Every key is optional: UTC, Monday to Friday, all day, no holidays.
 * Working hours are local wall-clock times of each working day. A NULL
 * calendar means plain elapsed time (24x7) in the functions below. */
#ifndef SF_FLOW_CALENDAR_H
#define SF_FLOW_CALENDAR_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"

typedef struct sf_calendar sf_calendar;

/* NULL on a bad definition, with one field error per problem named under
 * `where` ("sla.calendar.timezone"); the status is left to the caller. */
sf_calendar *sf_calendar_new(const json_t *def, const char *where, sf_err *err);
void sf_calendar_free(sf_calendar *c);

/* Business milliseconds in [t0, t1) (ms since the epoch); 0 if t1 <= t0. */
int64_t sf_calendar_business_ms(const sf_calendar *c, int64_t t0, int64_t t1);
/* The instant at which business_ms of business time have passed after t0;
 * INT64_MAX when that is more than 20 years away. */
int64_t sf_calendar_add(const sf_calendar *c, int64_t t0, int64_t business_ms);

/* UTC offset in seconds of the calendar's zone at instant t (tests). */
int32_t sf_calendar_utc_offset(const sf_calendar *c, int64_t t);

#endif
