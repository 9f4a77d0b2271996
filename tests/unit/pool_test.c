/* Unit tests for the worker thread pool (src/core/pool.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "core/pool.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- every job runs ---- */

static atomic_int g_ran;

static void count_job(void *arg) {
  atomic_fetch_add(&g_ran, 1);
  atomic_fetch_add((atomic_int *)arg, 1);
}

static void all_jobs_run(void **state) {
  atomic_store(&g_ran, 0);
  atomic_int mine = 0;
  sf_pool *p = sf_pool_new(4);
  assert_non_null(p);
  for (int i = 0; i < 5000; i++) assert_int_equal(sf_pool_submit(p, count_job, &mine), 0);
  sf_pool_free(p);
  assert_int_equal(atomic_load(&g_ran), 5000);
  assert_int_equal(atomic_load(&mine), 5000);
}

static void zero_threads_means_one(void **state) {
  atomic_store(&g_ran, 0);
  atomic_int mine = 0;
  sf_pool *p = sf_pool_new(0);
  assert_non_null(p);
  for (int i = 0; i < 10; i++) assert_int_equal(sf_pool_submit(p, count_job, &mine), 0);
  sf_pool_free(p);
  assert_int_equal(atomic_load(&mine), 10);
  sf_pool_free(NULL);
}

/* ---- concurrency bound ---- */

typedef struct gauge {
  atomic_int active, max;
  pthread_mutex_t mu;
  int distinct; /* number of different worker threads seen */
  pthread_t seen[16];
} gauge;

static void gauged_job(void *arg) {
  gauge *g = arg;
  int now = atomic_fetch_add(&g->active, 1) + 1;
  int m = atomic_load(&g->max);
  while (now > m && !atomic_compare_exchange_weak(&g->max, &m, now)) {}
  pthread_mutex_lock(&g->mu);
  int known = 0;
  for (int i = 0; i < g->distinct; i++) known |= pthread_equal(g->seen[i], pthread_self());
  if (!known && g->distinct < 16) g->seen[g->distinct++] = pthread_self();
  pthread_mutex_unlock(&g->mu);
  sleep_ms(2);
  atomic_fetch_sub(&g->active, 1);
}

static void concurrency_never_exceeds_nthreads(void **state) {
  gauge g = {.mu = PTHREAD_MUTEX_INITIALIZER};
  sf_pool *p = sf_pool_new(3);
  assert_non_null(p);
  for (int i = 0; i < 90; i++) assert_int_equal(sf_pool_submit(p, gauged_job, &g), 0);
  sf_pool_free(p);
  assert_int_equal(atomic_load(&g.active), 0);
  assert_true(atomic_load(&g.max) <= 3);
  /* 90 sleeping jobs on 3 workers: they do run in parallel. */
  assert_true(atomic_load(&g.max) >= 2);
  assert_int_equal(g.distinct, 3);
}

/* ---- free drains the queue, in order ---- */

typedef struct order {
  int next;     /* only touched by the single worker */
  int in_order; /* 1 while every job ran in submission order */
  int count;
} order;

typedef struct seq_job {
  order *o;
  int seq;
  int sleep_ms;
} seq_job;

static void seq_run(void *arg) {
  seq_job *j = arg;
  if (j->sleep_ms) sleep_ms(j->sleep_ms);
  if (j->seq != j->o->next) j->o->in_order = 0;
  j->o->next = j->seq + 1;
  j->o->count++;
}

static void free_runs_queued_jobs_in_order(void **state) {
  order o = {0, 1, 0};
  seq_job jobs[51];
  sf_pool *p = sf_pool_new(1);
  assert_non_null(p);
  /* The first job is slow, so the other 50 are still queued when free starts. */
  for (int i = 0; i < 51; i++) {
    jobs[i] = (seq_job){&o, i, i == 0 ? 100 : 0};
    assert_int_equal(sf_pool_submit(p, seq_run, &jobs[i]), 0);
  }
  sf_pool_free(p);
  assert_int_equal(o.count, 51);
  assert_int_equal(o.in_order, 1);
}

/* ---- submissions are refused once free has begun ---- */

typedef struct resubmit {
  sf_pool *p;
  int refused;         /* set by the job once sf_pool_submit returned -503 */
  atomic_int accepted; /* submissions that returned 0 */
  int bad_rc;          /* any other return value (no cmocka asserts off the main thread) */
  atomic_int noops;
} resubmit;

static void noop_job(void *arg) { atomic_fetch_add(&((resubmit *)arg)->noops, 1); }

static void resubmit_job(void *arg) {
  resubmit *r = arg;
  /* Keep submitting until the pool starts stopping (free is called right
   * after this job is queued); give up after 5 s. */
  for (int i = 0; i < 5000; i++) {
    int rc = sf_pool_submit(r->p, noop_job, r);
    if (rc == -503) {
      r->refused = 1;
      return;
    }
    if (rc != 0) r->bad_rc = 1;
    atomic_fetch_add(&r->accepted, 1);
    sleep_ms(1);
  }
}

static void submit_after_stop_is_refused(void **state) {
  resubmit r = {0};
  r.p = sf_pool_new(2);
  assert_non_null(r.p);
  assert_int_equal(sf_pool_submit(r.p, resubmit_job, &r), 0);
  /* Stop once the job has had a submission accepted: a fixed sleep was not
   * always enough for a loaded machine to start the worker at all (CI, ASan). */
  for (int i = 0; i < 5000 && atomic_load(&r.accepted) < 1; i++) sleep_ms(1);
  sf_pool_free(r.p);
  assert_int_equal(r.refused, 1);
  assert_int_equal(r.bad_rc, 0);
  /* Every no-op accepted before the refusal still ran. */
  assert_true(atomic_load(&r.accepted) >= 1);
  assert_int_equal(atomic_load(&r.noops), atomic_load(&r.accepted));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(all_jobs_run),
      cmocka_unit_test(zero_threads_means_one),
      cmocka_unit_test(concurrency_never_exceeds_nthreads),
      cmocka_unit_test(free_runs_queued_jobs_in_order),
      cmocka_unit_test(submit_after_stop_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
