/* See clock.h: compiled into each executable, with or without SF_TEST_CLOCK. */
#include "core/clock.h"

#include <stdlib.h>
#include <time.h>

#include "core/util.h"

int64_t sf_real_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#ifdef SF_TEST_CLOCK
#include <pthread.h>
#include <stdatomic.h>

static struct test_clock {
  _Atomic int64_t offset;
  pthread_once_t once;
} test_clock = {.once = PTHREAD_ONCE_INIT};

static void load_offset(void) {
  const char *s = getenv("SF_TEST_CLOCK_OFFSET_MS");
  if (s) atomic_store(&test_clock.offset, strtoll(s, NULL, 10));
}

int64_t sf_now_ms(void) {
  pthread_once(&test_clock.once, load_offset);
  return sf_real_ms() + atomic_load(&test_clock.offset);
}

int sf_clock_is_test(void) { return 1; }

int64_t sf_clock_advance_ms(int64_t ms) {
  pthread_once(&test_clock.once, load_offset);
  return atomic_fetch_add(&test_clock.offset, ms) + ms;
}

int64_t sf_clock_advance_to_ms(int64_t offset) {
  pthread_once(&test_clock.once, load_offset);
  int64_t cur = atomic_load(&test_clock.offset);
  while (cur < offset && !atomic_compare_exchange_weak(&test_clock.offset, &cur, offset)) {}
  return atomic_load(&test_clock.offset);
}
#else
int64_t sf_now_ms(void) { return sf_real_ms(); }

int sf_clock_is_test(void) { return 0; }

int64_t sf_clock_advance_ms(int64_t ms) {
  (void)ms;
  return -1;
}

int64_t sf_clock_advance_to_ms(int64_t offset) {
  (void)offset;
  return -1;
}
#endif
