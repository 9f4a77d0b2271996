/* Unit tests for argon2id password hashing (src/services/identity/password.c).
 * Cheap parameters (8 MiB, 1 pass) keep each hash in the milliseconds. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/util.h"
#include "services/identity/password.h"

#define MEM_KIB 8192
#define OPS 1

static int setup(void **state) {
  sf_err err = {0};
  return sf_pw_init(MEM_KIB, OPS, 2, &err);
}

static int teardown(void **state) {
  sf_pw_shutdown();
  return 0;
}

static void hash_then_verify(void **state) {
  char h[SF_PW_HASH_MAX];
  sf_err err = {0};
  assert_int_equal(sf_pw_hash("correct horse battery staple", h, &err), 0);
  assert_int_equal(strncmp(h, "$argon2id$", 10), 0);
  assert_non_null(strstr(h, "m=8192,t=1"));
  assert_int_equal(sf_pw_verify(h, "correct horse battery staple"), 1);
  assert_int_equal(sf_pw_needs_rehash(h), 0);
}

static void wrong_password_fails(void **state) {
  char h[SF_PW_HASH_MAX];
  sf_err err = {0};
  assert_int_equal(sf_pw_hash("hunter22", h, &err), 0);
  assert_int_equal(sf_pw_verify(h, "hunter23"), 0);
  assert_int_equal(sf_pw_verify(h, "hunter2"), 0);
  assert_int_equal(sf_pw_verify(h, ""), 0);
  assert_int_equal(sf_pw_verify(h, NULL), 0);
}

static void malformed_hash_fails(void **state) {
  char h[SF_PW_HASH_MAX];
  sf_err err = {0};
  assert_int_equal(sf_pw_hash("pw-12345", h, &err), 0);

  char truncated[SF_PW_HASH_MAX];
  snprintf(truncated, sizeof truncated, "%.*s", (int)strlen(h) - 5, h);
  char tampered[SF_PW_HASH_MAX];
  snprintf(tampered, sizeof tampered, "%s", h);
  tampered[strlen(tampered) - 3] ^= 1;
  char too_long[300];
  memset(too_long, 'a', sizeof too_long - 1);
  too_long[sizeof too_long - 1] = '\0';
  char padded[400]; /* a valid hash followed by junk past SF_PW_HASH_MAX */
  memset(padded, '0', sizeof padded - 1);
  padded[sizeof padded - 1] = '\0';
  memcpy(padded, h, strlen(h));

  const char *bad[] = {"",       "garbage", "$argon2id$", "$argon2id$v=19$m=8192,t=1,p=1$xx$yy", truncated, tampered,
                       too_long, padded,    NULL};
  for (int i = 0; bad[i]; i++) {
    assert_int_equal(sf_pw_verify(bad[i], "pw-12345"), 0);
    /* needs_rehash only reads the parameters, which the damaged hashes keep. */
    if (bad[i] != truncated && bad[i] != tampered) assert_int_equal(sf_pw_needs_rehash(bad[i]), 1);
  }
  assert_int_equal(sf_pw_verify(NULL, "pw-12345"), 0);
  assert_int_equal(sf_pw_verify(h, "pw-12345"), 1); /* control */
}

static void same_password_different_salt(void **state) {
  char a[SF_PW_HASH_MAX], b[SF_PW_HASH_MAX];
  sf_err err = {0};
  assert_int_equal(sf_pw_hash("same password", a, &err), 0);
  assert_int_equal(sf_pw_hash("same password", b, &err), 0);
  assert_string_not_equal(a, b);
  assert_int_equal(sf_pw_verify(a, "same password"), 1);
  assert_int_equal(sf_pw_verify(b, "same password"), 1);
}

static void init_checks_parameters(void **state) {
  sf_err err = {0};
  assert_true(sf_pw_init(MEM_KIB, OPS, 2, &err) < 0); /* already initialised */
  char h[SF_PW_HASH_MAX];
  assert_int_equal(sf_pw_hash("rehash me", h, &err), 0);
  sf_pw_shutdown();
  sf_pw_shutdown(); /* idempotent */

  /* Not initialised: everything refuses rather than crashing. */
  assert_true(sf_pw_hash("x", h, &err) < 0);
  assert_int_equal(sf_pw_verify(h, "rehash me"), 0);

  assert_int_equal(sf_pw_init(1, OPS, 2, &err), -400);
  assert_int_equal(sf_pw_init(MEM_KIB, 0, 2, &err), -400);
  assert_int_equal(sf_pw_init(MEM_KIB, OPS, 0, &err), -400);
  assert_string_equal(err.code, "config");

  /* Stronger parameters: old hashes still verify but ask for a rehash. */
  assert_int_equal(sf_pw_init(MEM_KIB, OPS + 1, 2, &err), 0);
  assert_int_equal(sf_pw_verify(h, "rehash me"), 1);
  assert_int_equal(sf_pw_needs_rehash(h), 1);
}

/* ---- async ---- */

typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int on_main_thread; /* callbacks that ran on the submitting thread */
  pthread_t main;
} waiter;

typedef struct call {
  waiter *w;
  int fired; /* times the callback ran */
  int ok;
  char hash[SF_PW_HASH_MAX];
} call;

static void cb(void *ud, int ok, const char *hash) {
  call *c = ud;
  pthread_mutex_lock(&c->w->mu);
  c->fired++;
  c->ok = ok;
  if (hash) snprintf(c->hash, sizeof c->hash, "%s", hash);
  if (pthread_equal(pthread_self(), c->w->main)) c->w->on_main_thread++;
  c->w->done++;
  pthread_cond_broadcast(&c->w->cv);
  pthread_mutex_unlock(&c->w->mu);
}

/* Returns 1 if `n` callbacks fired within 8 s. */
static int wait_for(waiter *w, int n) {
  struct timespec until = sf_deadline_ms(8000);
  pthread_mutex_lock(&w->mu);
  int rc = 0;
  while (w->done < n && rc == 0) rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
  int reached = w->done >= n;
  pthread_mutex_unlock(&w->mu);
  return reached;
}

#define NCALLS 24

static void async_callbacks_fire(void **state) {
  char good[SF_PW_HASH_MAX];
  sf_err err = {0};
  assert_int_equal(sf_pw_hash("s3cret-pass", good, &err), 0);

  waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, pthread_self()};
  call c[NCALLS];
  memset(c, 0, sizeof c);
  for (int i = 0; i < NCALLS; i++) {
    c[i].w = &w;
    c[i].ok = -1;
    int rc;
    switch (i % 4) {
      case 0: rc = sf_pw_hash_async("new-pass", cb, &c[i]); break;
      case 1: rc = sf_pw_verify_async(good, "s3cret-pass", cb, &c[i]); break;
      case 2: rc = sf_pw_verify_async(good, "wrong-pass", cb, &c[i]); break;
      default: rc = sf_pw_verify_dummy_async("s3cret-pass", cb, &c[i]); break;
    }
    assert_int_equal(rc, 0);
  }
  assert_true(wait_for(&w, NCALLS));
  assert_int_equal(w.on_main_thread, 0);
  for (int i = 0; i < NCALLS; i++) {
    assert_int_equal(c[i].fired, 1);
    switch (i % 4) {
      case 0:
        assert_int_equal(c[i].ok, 1);
        assert_int_equal(sf_pw_verify(c[i].hash, "new-pass"), 1);
        break;
      case 1: assert_int_equal(c[i].ok, 1); break;
      default: assert_int_equal(c[i].ok, 0); break;
    }
    if (i % 4) assert_int_equal(c[i].hash[0], '\0'); /* verify hands no hash */
  }
  /* Malformed hashes and NULL passwords. */
  call m = {.w = &w, .ok = -1};
  assert_int_equal(sf_pw_verify_async("not-a-hash", "x", cb, &m), 0);
  assert_true(wait_for(&w, NCALLS + 1));
  assert_int_equal(m.ok, 0);
  assert_int_equal(sf_pw_hash_async(NULL, cb, &m), -400);
  assert_int_equal(sf_pw_verify_async(good, NULL, cb, &m), -400);
  assert_int_equal(m.fired, 1);
}

/* Sync hashes from extra threads compete with the pool for the same slots. */
static void *sync_hasher(void *arg) {
  int *failures = arg;
  char h[SF_PW_HASH_MAX];
  sf_err err = {0};
  for (int i = 0; i < 4; i++)
    if (sf_pw_hash("from-a-cli-thread", h, &err) != 0) ++*failures;
  return NULL;
}

static void concurrency_is_bounded(void **state) {
  waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, pthread_self()};
  call c[NCALLS];
  memset(c, 0, sizeof c);
  for (int i = 0; i < NCALLS; i++) c[i].w = &w;
  int failures[2] = {0, 0};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, sync_hasher, &failures[i]), 0);
  for (int i = 0; i < NCALLS; i++) assert_int_equal(sf_pw_hash_async("bounded", cb, &c[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  assert_true(wait_for(&w, NCALLS));
  assert_int_equal(failures[0] + failures[1], 0);
  int seen = sf_pw_max_observed_concurrency();
  assert_true(seen >= 1);
  assert_true(seen <= 2);
}

static void shutdown_finishes_queued_jobs(void **state) {
  waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, pthread_self()};
  call c[10];
  memset(c, 0, sizeof c);
  for (int i = 0; i < 10; i++) {
    c[i].w = &w;
    assert_int_equal(sf_pw_hash_async("queued", cb, &c[i]), 0);
  }
  sf_pw_shutdown(); /* returns only after every queued job ran */
  assert_int_equal(w.done, 10);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(c[i].fired, 1);
    assert_int_equal(c[i].ok, 1);
  }
  call late = {.w = &w};
  assert_int_equal(sf_pw_hash_async("late", cb, &late), -503);
  assert_int_equal(sf_pw_verify_dummy_async("late", cb, &late), -503);
  assert_int_equal(late.fired, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(hash_then_verify, setup, teardown),
      cmocka_unit_test_setup_teardown(wrong_password_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(malformed_hash_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(same_password_different_salt, setup, teardown),
      cmocka_unit_test_setup_teardown(init_checks_parameters, setup, teardown),
      cmocka_unit_test_setup_teardown(async_callbacks_fire, setup, teardown),
      cmocka_unit_test_setup_teardown(concurrency_is_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(shutdown_finishes_queued_jobs, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
