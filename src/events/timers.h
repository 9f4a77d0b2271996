/* Durable timers: rows in the timers table, indexed by due time.
 *
 * A timer is set or cancelled inside a writer transaction, so it commits (or
 * not) with the state change that needs it. The scheduler thread sleeps until
 * the earliest due time (or until a commit sets an earlier one), then fires
 * due timers in a writer command: each handler runs in its own savepoint and
 * its timer row is deleted in the same transaction, so a timer fires exactly
 * once even across crashes. A failing handler is rolled back and retried
 * later with backoff. Timers keyed (kind, ref): setting one again moves it. */
#ifndef SF_EVENTS_TIMERS_H
#define SF_EVENTS_TIMERS_H

#include <stdint.h>

#include "core/err.h"
#include "store/writer.h"

/* Runs inside the writer transaction; non-zero rolls this timer back. */
typedef int (*sf_timer_fn)(sf_tx *tx, const char *ref, sf_err *err);

/* Kinds are registered before sf_timers_start; kind is a static string. */
void sf_timer_register(const char *kind, sf_timer_fn fn);
void sf_timer_clear_kinds(void);

int sf_timer_set(sf_tx *tx, const char *kind, const char *ref, int64_t due_ms, sf_err *err);
int sf_timer_cancel(sf_tx *tx, const char *kind, const char *ref, sf_err *err);

int sf_timers_start(sf_err *err);
void sf_timers_stop(void);
/* Makes the scheduler look again now (after the test clock moved). */
void sf_timers_wake(void);
/* Fires every timer due at now_ms (for tests and the CLI); returns the number fired. */
int sf_timers_fire_due(int64_t now_ms, sf_err *err);

#endif
