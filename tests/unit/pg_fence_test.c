/* The commit feed's fence (events/cluster.h sf_cluster_fence) against a
 * real PostgreSQL server of its own (ctest runs this through
 * scripts/with-postgres.sh, which exports SF_TEST_PG_URL).
 *
 * The promise the read replica's cross-instance read-your-writes rests on
 * (store/replica.h): once a fence returns 0, every commit that completed
 * before it was called has been heard here and its cluster-wide hooks have
 * run. Another instance is played by a connection of the test's own that
 * commits the feed's payload ("sf1", a hook and its key) and, at once, the
 * test fences and looks for the hook's run; many times, from several
 * threads at once (which share pings). Also: a fence is quick, and with
 * the feed not started (one process) it says yes at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/util.h"
#include "events/cluster.h"
#include "store/db.h"
#include "store/writer.h"

#define HOOK "test.fenced"
#define THREADS 4
#define ROUNDS 100

static const char *g_url;

/* The keys the hook has run with: "k<thread>-<round>" sets seen[thread][round]. */
static _Atomic int seen[THREADS][ROUNDS];

static void fenced_hook(void *ud, const char *key) {
  (void)ud;
  int t = 0, r = 0;
  if (sscanf(key, "k%d-%d", &t, &r) == 2 && t >= 0 && t < THREADS && r >= 0 && r < ROUNDS) atomic_store(&seen[t][r], 1);
}

static int setup(void **state) {
  (void)state;
  g_url = getenv("SF_TEST_PG_URL");
  if (!g_url || !*g_url) {
    fprintf(stderr, "pg_fence_test: SF_TEST_PG_URL is not set: run it through scripts/with-postgres.sh\n");
    return -1;
  }
  sf_db_set_path(g_url);
  sf_writer_broadcast_register(HOOK, fenced_hook, NULL);
  sf_err err = {0};
  if (sf_cluster_start(g_url, &err)) {
    fprintf(stderr, "cluster start: %s\n", err.detail);
    return -1;
  }
  for (int i = 0; i < 500 && strcmp(sf_cluster_state(), "ok") != 0; i++)
    nanosleep(&(struct timespec){0, 10000000}, NULL);
  return strcmp(sf_cluster_state(), "ok") == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  sf_cluster_stop();
  return 0;
}

/* "Another instance": commits the payload of a batch with one hook. */
static void commit_elsewhere(sf_db *db, const char *key) {
  char payload[200];
  snprintf(payload, sizeof payload, "sf1\tanother-instance\t0\n" HOOK "\t%s\n", key);
  sf_err err = {0};
  sf_stmt *st = sf_db_prepare(db, "VALUES (pg_notify('sf_commit', ?))", &err);
  assert_non_null(st);
  sf_stmt_text(st, 1, payload);
  assert_int_equal(sf_stmt_run(st, &err), 0);
}

static void *rounds_main(void *arg) {
  int t = (int)(intptr_t)arg;
  sf_err err = {0};
  sf_db *db = sf_db_open(g_url, SF_DB_WRITE, &err);
  if (!db) return (void *)1;
  intptr_t missed = 0;
  for (int r = 0; r < ROUNDS; r++) {
    char key[32];
    snprintf(key, sizeof key, "k%d-%d", t, r);
    commit_elsewhere(db, key);
    if (sf_cluster_fence(2000) != 0 || !atomic_load(&seen[t][r])) missed++;
  }
  sf_db_close(db);
  return (void *)missed;
}

/* Every commit before a fence has been heard when it returns. */
static void test_fence_covers_earlier_commits(void **state) {
  (void)state;
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_create(&th[t], NULL, rounds_main, (void *)(intptr_t)t), 0);
  intptr_t missed = 0;
  for (int t = 0; t < THREADS; t++) {
    void *rv = NULL;
    pthread_join(th[t], &rv);
    missed += (intptr_t)rv;
  }
  assert_int_equal(missed, 0);
}

/* A fence is quick while the feed is well (shared pings, no flush). */
static void test_fence_is_quick(void **state) {
  (void)state;
  uint64_t t0 = sf_mono_ns();
  for (int i = 0; i < 50; i++) assert_int_equal(sf_cluster_fence(2000), 0);
  uint64_t each_us = (sf_mono_ns() - t0) / 50 / 1000;
  fprintf(stderr, "pg_fence_test: %llu us per fence\n", (unsigned long long)each_us);
  assert_true(each_us < 100000); /* a loaded 2-core machine: far below the timeout even so */
}

/* Stopped (one process): nothing to hear, yes at once; started again it
 * fences. */
static void test_not_started(void **state) {
  (void)state;
  sf_cluster_stop();
  assert_int_equal(sf_cluster_fence(10), 0);
  assert_string_equal(sf_cluster_state(), "off");
  sf_err err = {0};
  assert_int_equal(sf_cluster_start(g_url, &err), 0);
  for (int i = 0; i < 500 && strcmp(sf_cluster_state(), "ok") != 0; i++)
    nanosleep(&(struct timespec){0, 10000000}, NULL);
  assert_int_equal(sf_cluster_fence(2000), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fence_covers_earlier_commits),
      cmocka_unit_test(test_fence_is_quick),
      cmocka_unit_test(test_not_started),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
