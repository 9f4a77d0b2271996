/* The wall clock (sf_now_ms in core/util.h) lives in clock.c, which is not
 * part of the sfcore library: every executable compiles it in. The
 * serviceflow-testclock binary compiles it with SF_TEST_CLOCK, which adds an
 * offset the e2e tests move forward (POST /api/v1/_test/clock, or
 * SF_TEST_CLOCK_OFFSET_MS at start) to test SLAs and timers in hours of
 * simulated time. The production binary has no offset and no such route. */
#ifndef SF_CORE_CLOCK_H
#define SF_CORE_CLOCK_H

#include <stdint.h>

/* CLOCK_REALTIME in ms since the epoch, never the test clock's offset (which
 * sf_now_ms adds in the test build): for times compared across processes,
 * such as the lease's expiry, where one test moving its own clock must not
 * move the others'. Any thread. */
int64_t sf_real_ms(void);
/* 1 in the test-clock build, 0 in production. */
int sf_clock_is_test(void);
/* Test build: moves the clock forward by ms (>= 0) and returns the new
 * offset; production: does nothing and returns -1. */
int64_t sf_clock_advance_ms(int64_t ms);
/* Test build: moves the offset forward to offset (never back) and returns
 * it (another instance sharing the database moved its clock); production:
 * -1. */
int64_t sf_clock_advance_to_ms(int64_t offset);

#endif
