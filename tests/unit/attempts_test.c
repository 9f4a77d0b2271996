/* Attempts in hand (events/attempts.h) against a real writer, the outbound
 * engine and a loopback socket that accepts and never answers: a staged row
 * goes out once its transaction commits and its outcome is recorded; a
 * lease firing while the attempt is out stages nothing and moves the timer
 * by the lease; one firing while the outcome is being recorded looks again
 * in 100 ms; a process that does not send moves the timer by the slack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "core/util.h"
#include "events/attempts.h"
#include "events/outbound.h"
#include "events/timers.h"
#include "store/db.h"
#include "store/writer.h"
#include "unit_db.h"

#define KIND "attempts-test"
#define TIMEOUT_MS 5000 /* of the attempts: the lease is this plus the slack */
#define LEASE_MS (TIMEOUT_MS + SF_ATTEMPTS_SLACK_MS)

static char g_url[64];
static int g_listener;

/* ---- the service under test: counts what the table calls ---- */

typedef struct item {
  sf_attempt at;
  int filled;
  sf_out_end end;
} item;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int fills, prepares, outcomes, records, recordeds;
  int hold_recorded; /* recorded() waits while set */
  int failed;        /* a record that did not commit (checked on the test's thread) */
  int timeout_ms;
} seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void bump(int *n) {
  pthread_mutex_lock(&seen.mu);
  (*n)++;
  pthread_cond_broadcast(&seen.cv);
  pthread_mutex_unlock(&seen.mu);
}

static void clear(sf_attempt *a) { ((item *)a)->filled = 0; }

static void prepare(sf_attempt *a) {
  bump(&seen.prepares);
  a->req = (sf_out_req){
      .dest = KIND, .url = g_url, .method = "POST", .body = "{}", .body_len = 2, .timeout_ms = seen.timeout_ms};
}

static void outcome(sf_attempt *a, sf_out_end end, const sf_out_attempt *at) {
  (void)at;
  ((item *)a)->end = end;
  bump(&seen.outcomes);
}

static int record(sf_attempt *a, sf_tx *tx, sf_err *err) {
  bump(&seen.records);
  return sf_timer_cancel(tx, KIND, a->id, err);
}

static void recorded(sf_attempt *a, int rc, const sf_err *err) {
  (void)a, (void)err;
  pthread_mutex_lock(&seen.mu);
  if (rc) seen.failed++;
  while (seen.hold_recorded) pthread_cond_wait(&seen.cv, &seen.mu);
  seen.recordeds++;
  pthread_cond_broadcast(&seen.cv);
  pthread_mutex_unlock(&seen.mu);
}

static const sf_attempts_ops k_ops = {.size = sizeof(item),
                                      .clear = clear,
                                      .prepare = prepare,
                                      .outcome = outcome,
                                      .record = record,
                                      .recorded = recorded};
static sf_attempts table = SF_ATTEMPTS_INIT(&k_ops);

static void fill(sf_attempt *a, void *ud) {
  (void)ud;
  ((item *)a)->filled = 1;
  bump(&seen.fills);
}

/* A timer firing: one writer command that stages id. It reads the timer
 * back in its own transaction and is waited for until it has run, not until
 * its done(): done() runs on the completion thread, which a test holds. */
typedef struct {
  sf_cmd cmd;
  const char *id;
  int64_t left; /* the timer's due - now, read in the transaction */
  int ran, rc;
} fire_cmd;

static int fire_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  fire_cmd *f = (fire_cmd *)c;
  int rc = sf_attempts_stage(&table, tx, KIND, f->id, fill, NULL, err);
  sf_stmt *st = rc ? NULL : sf_db_prepare(tx->db, "SELECT due_at FROM timers WHERE kind = ? AND ref = ?", err);
  if (st) {
    sf_stmt_text(st, 1, KIND);
    sf_stmt_text(st, 2, f->id);
    f->left = sf_stmt_step(st, err) == 1 ? sf_stmt_col_int(st, 0) - tx->now_ms : -1;
    sf_stmt_reset(st);
  }
  pthread_mutex_lock(&seen.mu);
  f->ran = 1;
  f->rc = rc;
  pthread_cond_broadcast(&seen.cv);
  pthread_mutex_unlock(&seen.mu);
  return rc;
}

static void fire_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static fire_cmd fires[128]; /* live until the process ends: done() may come after fire() returned */
static int nfires;

static int64_t fire(const char *id) {
  assert_true(nfires < (int)(sizeof fires / sizeof fires[0]));
  fire_cmd *f = &fires[nfires++];
  *f = (fire_cmd){.cmd = {.run = fire_run, .done = fire_done}, .id = id, .left = -1};
  assert_int_equal(sf_writer_submit(&f->cmd), 0);
  pthread_mutex_lock(&seen.mu);
  while (!f->ran) pthread_cond_wait(&seen.cv, &seen.mu);
  int rc = f->rc;
  int64_t left = f->left;
  pthread_mutex_unlock(&seen.mu);
  assert_int_equal(rc, 0);
  return left;
}

static void wait_for(int *counter, int n) {
  pthread_mutex_lock(&seen.mu);
  while (*counter < n) pthread_cond_wait(&seen.cv, &seen.mu);
  pthread_mutex_unlock(&seen.mu);
}

/* ---- setup ---- */

static int setup(void **state) {
  (void)state;
  unit_db_setup("attempts", NULL, SF_WRITER_SYNC_PIPELINED);
  sf_err e = {0};
  assert_int_equal(sf_out_start(&e), 0);
  sf_out_dest_set(KIND, &(sf_out_dest_cfg){.max_in_flight = 4});
  /* accepts (the kernel does) and never answers: an attempt stays out until its timeout */
  g_listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  assert_int_equal(bind(g_listener, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(g_listener, 16), 0);
  assert_int_equal(getsockname(g_listener, (struct sockaddr *)&a, &len), 0);
  snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d/hook", ntohs(a.sin_port));
  sf_attempts_start(&table, TIMEOUT_MS);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sf_attempts_stop(&table);
  sf_out_stop(0);
  close(g_listener);
  unit_db_teardown();
  return 0;
}

/* ---- the tests (in order: the counters carry over) ---- */

static void test_one_attempt_then_its_outcome(void **state) {
  (void)state;
  seen.timeout_ms = 300;
  assert_int_equal(fire("row-1"), LEASE_MS); /* the timer became the lease */
  wait_for(&seen.recordeds, 1);
  assert_int_equal(seen.fills, 1);
  assert_int_equal(seen.prepares, 1);
  assert_int_equal(seen.outcomes, 1);
  assert_int_equal(seen.records, 1);
  assert_int_equal(sf_attempts_in_flight(&table), 0);
  assert_int_equal(seen.failed, 0);
}

static void test_a_lease_while_out_stages_nothing(void **state) {
  (void)state;
  seen.timeout_ms = 1500;
  assert_int_equal(fire("row-2"), LEASE_MS);
  wait_for(&seen.prepares, 2); /* out with the engine, not answered for 1.5 s */
  assert_int_equal(sf_attempts_in_flight(&table), 1);
  assert_int_equal(fire("row-2"), LEASE_MS); /* the lease fires again meanwhile */
  assert_int_equal(seen.fills, 2);           /* nothing staged the second time */
  wait_for(&seen.recordeds, 2);
  assert_int_equal(seen.prepares, 2); /* sent once */
}

static void test_while_recording_look_again_soon(void **state) {
  (void)state;
  seen.timeout_ms = 200;
  pthread_mutex_lock(&seen.mu);
  seen.hold_recorded = 1;
  pthread_mutex_unlock(&seen.mu);
  assert_int_equal(fire("row-3"), LEASE_MS);
  wait_for(&seen.records, 3);           /* its outcome committed; recorded() is held */
  assert_int_equal(fire("row-3"), 100); /* the row is still in hand: look again in 100 ms */
  assert_int_equal(seen.fills, 3);
  pthread_mutex_lock(&seen.mu);
  seen.hold_recorded = 0;
  pthread_cond_broadcast(&seen.cv);
  pthread_mutex_unlock(&seen.mu);
  wait_for(&seen.recordeds, 3);
  /* recorded() has returned; the table lets go of the row right after it */
  int64_t left = fire("row-3");
  for (int i = 0; left == 100 && i < 100; i++) {
    usleep(20000);
    left = fire("row-3");
  }
  assert_int_equal(left, LEASE_MS); /* out of hand: a new attempt */
  assert_int_equal(seen.fills, 4);
  wait_for(&seen.recordeds, 4);
}

static void test_not_running_moves_the_timer_by_the_slack(void **state) {
  (void)state;
  sf_attempts_stop(&table);
  assert_int_equal(fire("row-4"), SF_ATTEMPTS_SLACK_MS);
  assert_int_equal(seen.fills, 4);
  sf_attempts_start(&table, TIMEOUT_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_attempt_then_its_outcome),
      cmocka_unit_test(test_a_lease_while_out_stages_nothing),
      cmocka_unit_test(test_while_recording_look_again_soon),
      cmocka_unit_test(test_not_running_moves_the_timer_by_the_slack),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
