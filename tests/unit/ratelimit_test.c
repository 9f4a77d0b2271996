/* Unit tests for the sharded token-bucket limiter (src/edge/ratelimit.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "edge/ratelimit.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1000 * S) /* an arbitrary monotonic start */

static sf_rl_result take(sf_ratelimit *rl, const char *key, uint64_t now) {
  sf_rl_result r;
  sf_rl_take(rl, key, now, &r);
  return r;
}

static void burst_then_deny(void **state) {
  sf_ratelimit *rl = sf_rl_new(1.0, 5, 1000);
  for (int i = 0; i < 5; i++) {
    sf_rl_result r = take(rl, "1.2.3.4", T0);
    assert_int_equal(r.allowed, 1);
    assert_int_equal(r.limit, 5);
    assert_int_equal(r.remaining, 4 - i);
    assert_int_equal(r.reset_s, i + 1); /* i+1 tokens missing at 1 token/s */
  }
  sf_rl_result r = take(rl, "1.2.3.4", T0);
  assert_int_equal(r.allowed, 0);
  assert_int_equal(r.remaining, 0);
  assert_int_equal(r.retry_after_s, 1);
  assert_int_equal(r.reset_s, 5);
  /* Denied takes cost nothing: a token is back exactly one second later. */
  for (int i = 0; i < 10; i++) assert_int_equal(take(rl, "1.2.3.4", T0 + 999 * MS).allowed, 0);
  assert_int_equal(take(rl, "1.2.3.4", T0 + S).allowed, 1);
  assert_int_equal(take(rl, "1.2.3.4", T0 + S).allowed, 0);
  sf_rl_free(rl);
}

static void retry_after_rounds_up(void **state) {
  /* One token per 2.5 s: retry-after is ceil(2.5) = 3, then ceil(1.5) = 2. */
  sf_ratelimit *rl = sf_rl_new(0.4, 1, 10);
  assert_int_equal(take(rl, "u", T0).allowed, 1);
  sf_rl_result r = take(rl, "u", T0);
  assert_int_equal(r.allowed, 0);
  assert_int_equal(r.retry_after_s, 3);
  assert_int_equal(r.reset_s, 3);
  r = take(rl, "u", T0 + S);
  assert_int_equal(r.allowed, 0);
  assert_int_equal(r.retry_after_s, 2);
  /* Under a second left still says 1, never 0. */
  r = take(rl, "u", T0 + 2400 * MS);
  assert_int_equal(r.allowed, 0);
  assert_int_equal(r.retry_after_s, 1);
  assert_int_equal(take(rl, "u", T0 + 2500 * MS).allowed, 1);
  sf_rl_free(rl);

  /* Per-minute limits (login): 5/min, burst 1 -> next try in 12 s. */
  rl = sf_rl_new(5 / 60.0, 1, 10);
  assert_int_equal(take(rl, "login", T0).allowed, 1);
  r = take(rl, "login", T0);
  assert_int_equal(r.allowed, 0);
  assert_int_equal(r.retry_after_s, 12);
  sf_rl_free(rl);
}

static void refill_over_time(void **state) {
  sf_ratelimit *rl = sf_rl_new(10, 10, 100);
  for (int i = 0; i < 10; i++) assert_int_equal(take(rl, "k", T0).allowed, 1);
  assert_int_equal(take(rl, "k", T0).allowed, 0);
  /* 100 ms earns exactly one token. */
  sf_rl_result r = take(rl, "k", T0 + 100 * MS);
  assert_int_equal(r.allowed, 1);
  assert_int_equal(r.remaining, 0);
  assert_int_equal(take(rl, "k", T0 + 100 * MS).allowed, 0);
  /* 350 ms later: 3 whole tokens (the half token stays banked). */
  r = take(rl, "k", T0 + 450 * MS);
  assert_int_equal(r.allowed, 1);
  assert_int_equal(r.remaining, 2);
  /* Long idle: refills to the burst, never beyond. */
  int ok = 0;
  for (int i = 0; i < 20; i++) ok += take(rl, "k", T0 + 60 * S).allowed;
  assert_int_equal(ok, 10);
  sf_rl_free(rl);
}

static void fractional_rate_admits_whole_burst(void **state) {
  /* 1e9/1.5 does not divide evenly; rounding must not eat a burst token. */
  sf_ratelimit *rl = sf_rl_new(1.5, 3, 10);
  int ok = 0;
  for (int i = 0; i < 10; i++) ok += take(rl, "k", T0).allowed;
  assert_int_equal(ok, 3);
  sf_rl_free(rl);
}

static void clock_going_back_refunds_nothing(void **state) {
  sf_ratelimit *rl = sf_rl_new(1, 2, 10);
  assert_int_equal(take(rl, "k", T0 + 10 * S).allowed, 1);
  assert_int_equal(take(rl, "k", T0 + 10 * S).allowed, 1);
  assert_int_equal(take(rl, "k", T0).allowed, 0);
  assert_int_equal(take(rl, "k", T0 + 10 * S).allowed, 0);
  assert_int_equal(take(rl, "k", T0 + 11 * S).allowed, 1);
  sf_rl_free(rl);
}

static void keys_are_independent(void **state) {
  sf_ratelimit *rl = sf_rl_new(1, 3, 1000);
  for (int i = 0; i < 3; i++) assert_int_equal(take(rl, "alice", T0).allowed, 1);
  assert_int_equal(take(rl, "alice", T0).allowed, 0);
  sf_rl_result r = take(rl, "bob", T0);
  assert_int_equal(r.allowed, 1);
  assert_int_equal(r.remaining, 2);
  /* Keys are compared whole, not by prefix, and copied in. */
  char buf[16];
  snprintf(buf, sizeof buf, "alic");
  assert_int_equal(take(rl, buf, T0).allowed, 1);
  snprintf(buf, sizeof buf, "alice");
  assert_int_equal(take(rl, buf, T0).allowed, 0);
  buf[0] = 'X';
  assert_int_equal(take(rl, "alice", T0).allowed, 0);
  assert_int_equal(take(rl, NULL, T0).allowed, 1); /* NULL is the "" key */
  assert_int_equal(sf_rl_size(rl), 4);
  sf_rl_free(rl);
}

static void unlimited_when_rate_not_positive(void **state) {
  sf_ratelimit *rl = sf_rl_new(0, 5, 10);
  for (int i = 0; i < 100; i++) {
    sf_rl_result r = take(rl, "k", T0);
    assert_int_equal(r.allowed, 1);
    assert_int_equal(r.retry_after_s, 0);
  }
  assert_int_equal(sf_rl_size(rl), 0);
  sf_rl_free(rl);
}

static void memory_bounded_by_max_keys(void **state) {
  size_t caps[] = {1, 7, 100, 1000, 5000};
  for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
    sf_ratelimit *rl = sf_rl_new(1, 5, caps[c]);
    char key[32];
    for (int i = 0; i < 50000; i++) {
      snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
      /* The clock crawls, so some buckets refill and get swept meanwhile. */
      take(rl, key, T0 + (uint64_t)i * 50 * 1000);
      if (i % 997 == 0) assert_true(sf_rl_size(rl) <= caps[c]);
    }
    size_t n = sf_rl_size(rl);
    assert_true(n <= caps[c]);
    assert_true(n > 0);
    sf_rl_free(rl);
  }
}

static void full_buckets_evicted_before_active_ones(void **state) {
  /* max_keys 4 gives a single shard, so the eviction order is exact. */
  sf_ratelimit *rl = sf_rl_new(1, 2, 4);
  /* B1, B2: drained at T0, full again at T0+2s. Oldest in LRU order. */
  for (int i = 0; i < 2; i++) {
    take(rl, "B1", T0);
    take(rl, "B2", T0);
  }
  /* A1, A2: one token at T0+0.1s, full again at T0+1.1s. */
  take(rl, "A1", T0 + 100 * MS);
  take(rl, "A2", T0 + 100 * MS);
  /* At T0+1.5 s the A buckets are full, the B buckets are not. */
  take(rl, "C1", T0 + 1500 * MS);
  take(rl, "C2", T0 + 1500 * MS);
  assert_int_equal(sf_rl_size(rl), 4);
  /* B1 was remembered: 1.5 tokens earned, take one, 0 whole left. A fresh
   * bucket would say 1 left. */
  sf_rl_result r = take(rl, "B1", T0 + 1500 * MS);
  assert_int_equal(r.allowed, 1);
  assert_int_equal(r.remaining, 0);
  r = take(rl, "B2", T0 + 1500 * MS);
  assert_int_equal(r.allowed, 1);
  assert_int_equal(r.remaining, 0);
  sf_rl_free(rl);
}

static void oldest_touched_evicted_when_none_full(void **state) {
  sf_ratelimit *rl = sf_rl_new(1, 3, 4);
  const char *k[] = {"K1", "K2", "K3", "K4"};
  for (int i = 0; i < 4; i++) assert_int_equal(take(rl, k[i], T0).remaining, 2);
  take(rl, "K5", T0);                                /* evicts K1 */
  assert_int_equal(take(rl, "K2", T0).remaining, 1); /* K2 becomes newest */
  take(rl, "K6", T0);                                /* evicts K3, not K2 */
  assert_int_equal(sf_rl_size(rl), 4);
  assert_int_equal(take(rl, "K2", T0).remaining, 0);
  assert_int_equal(take(rl, "K4", T0).remaining, 1);
  assert_int_equal(take(rl, "K5", T0).remaining, 1);
  assert_int_equal(take(rl, "K6", T0).remaining, 1);
  assert_int_equal(take(rl, "K3", T0).remaining, 2); /* forgotten: fresh */
  assert_int_equal(take(rl, "K1", T0).remaining, 2);
  sf_rl_free(rl);
}

/* ---- concurrency ---- */

#define NTHREADS 4
#define TAKES_PER_THREAD 20000

typedef struct hammer {
  sf_ratelimit *rl;
  const char *key;
  atomic_int *allowed;
  pthread_barrier_t *start;
} hammer;

static void *hammer_run(void *arg) {
  hammer *h = arg;
  pthread_barrier_wait(h->start);
  int mine = 0;
  for (int i = 0; i < TAKES_PER_THREAD; i++) {
    sf_rl_result r;
    sf_rl_take(h->rl, h->key, T0, &r);
    mine += r.allowed;
  }
  atomic_fetch_add(h->allowed, mine);
  return NULL;
}

static void threads_share_one_burst(void **state) {
  sf_ratelimit *rl = sf_rl_new(1, 1000, 100000);
  atomic_int allowed = 0;
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, NTHREADS);
  pthread_t th[NTHREADS];
  hammer h = {rl, "203.0.113.9", &allowed, &start};
  for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &h), 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&start);
  assert_int_equal(atomic_load(&allowed), 1000);
  assert_int_equal(sf_rl_size(rl), 1);
  sf_rl_free(rl);
}

typedef struct spread {
  sf_ratelimit *rl;
  int id;
  int allowed;
} spread;

static void *spread_run(void *arg) {
  spread *s = arg;
  char key[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "t%d-k%d", s->id, i % 500);
    sf_rl_result r;
    sf_rl_take(s->rl, key, T0, &r);
    s->allowed += r.allowed;
  }
  return NULL;
}

static void threads_on_many_keys(void **state) {
  /* 4 threads x 500 keys x 10 takes each, burst 3: 3 successes per key. */
  sf_ratelimit *rl = sf_rl_new(1, 3, 100000);
  pthread_t th[NTHREADS];
  spread s[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    s[i] = (spread){rl, i, 0};
    assert_int_equal(pthread_create(&th[i], NULL, spread_run, &s[i]), 0);
  }
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(s[i].allowed, 500 * 3);
  }
  assert_int_equal(sf_rl_size(rl), NTHREADS * 500);
  sf_rl_free(rl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(burst_then_deny),
      cmocka_unit_test(retry_after_rounds_up),
      cmocka_unit_test(refill_over_time),
      cmocka_unit_test(fractional_rate_admits_whole_burst),
      cmocka_unit_test(clock_going_back_refunds_nothing),
      cmocka_unit_test(keys_are_independent),
      cmocka_unit_test(unlimited_when_rate_not_positive),
      cmocka_unit_test(memory_bounded_by_max_keys),
      cmocka_unit_test(full_buckets_evicted_before_active_ones),
      cmocka_unit_test(oldest_touched_evicted_when_none_full),
      cmocka_unit_test(threads_share_one_burst),
      cmocka_unit_test(threads_on_many_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
