/* The background lease (events/lease.h) and the writer's cluster-wide
 * after-commit hooks and publisher (store/writer.h), on a real SQLite file
 * and the real writer. Another instance is played by writing its row into
 * the leases table, as its own writer command would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "app.h"
#include "core/clock.h"
#include "core/util.h"
#include "events/lease.h"
#include "store/db.h"
#include "store/writer.h"
#include "unit_db.h"

static int setup(void **state) {
  (void)state;
  unit_db_setup("lease", "CREATE TABLE t(k TEXT PRIMARY KEY)", SF_WRITER_SYNC_FULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sf_lease_stop();
  sf_lease_clear_callbacks();
  sf_writer_on_publish(NULL);
  unit_db_teardown();
  return 0;
}

/* ---- a writer command running one SQL text ---- */

typedef struct {
  sf_cmd cmd;
  const char *sql;
  const char *hook, *key; /* optional: a cluster-wide hook to queue */
  int fail;               /* return non-zero after queueing (the command rolls back) */
} sql_cmd;

static int sql_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  sql_cmd *s = (sql_cmd *)c;
  if (s->sql && sf_db_exec(tx->db, s->sql, err)) return -1;
  if (s->hook) sf_tx_after_commit_all(tx, s->hook, s->key);
  return s->fail ? sf_err_set(err, 409, "conflict", "Conflict", "refused on purpose") : 0;
}
static void sql_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static void exec_sql(const char *sql) {
  sql_cmd c = {.cmd = {.run = sql_run, .done = sql_done}, .sql = sql};
  assert_int_equal(sf_writer_exec(&c.cmd), 0);
}

static char *holder(void) {
  sf_err e = {0};
  sf_db *db = sf_db_reader(&e);
  sf_stmt *st = sf_db_prepare(db, "SELECT holder FROM leases WHERE name = 'background'", &e);
  char *h = sf_stmt_step(st, &e) == 1 ? sf_strdup(sf_stmt_col_text(st, 0)) : sf_strdup("");
  sf_stmt_reset(st);
  return h;
}

static _Atomic int g_taken, g_lost;
static void on_change(int held) { atomic_fetch_add(held ? &g_taken : &g_lost, 1); }

static int wait_for(int (*cond)(void), int ms) {
  for (int i = 0; i < ms / 10 && !cond(); i++) usleep(10000);
  return cond();
}
static int is_held(void) { return sf_lease_held(); }
static int is_lost(void) { return !sf_lease_held() && atomic_load(&g_lost) > 0; }

/* No lease in play (tests, CLI): the process does its own work. */
static void test_held_when_not_started(void **state) {
  (void)state;
  assert_true(sf_lease_held());
}

/* A free row is taken at start; stopping gives it up at once. */
static void test_taken_and_given_up(void **state) {
  (void)state;
  sf_err e = {0};
  assert_int_equal(sf_lease_start(900, "a:1", &e), 0);
  assert_true(sf_lease_held());
  char *h = holder();
  assert_string_equal(h, "a:1");
  free(h);
  sf_lease_stop();
  sf_err e2 = {0};
  sf_db *db = sf_db_reader(&e2);
  sf_stmt *st = sf_db_prepare(db, "SELECT expires_at FROM leases WHERE name = 'background'", &e2);
  assert_int_equal(sf_stmt_step(st, &e2), 1);
  assert_int_equal(sf_stmt_col_int(st, 0), 0); /* another instance may take it now */
  sf_stmt_reset(st);
}

/* Another instance holds it: standby until its row expires, then taken
 * within a third of the ttl, and the callbacks hear it. */
static void test_standby_until_the_holder_expires(void **state) {
  (void)state;
  char sql[200];
  snprintf(sql, sizeof sql, "INSERT INTO leases VALUES('background', 'b:2', %lld, 0)", (long long)sf_real_ms() + 1500);
  exec_sql(sql);
  atomic_store(&g_taken, 0);
  sf_lease_on_change(on_change);
  sf_err e = {0};
  assert_int_equal(sf_lease_start(900, "a:1", &e), 0);
  assert_false(sf_lease_held());
  assert_int_equal(atomic_load(&g_taken), 0);
  assert_true(wait_for(is_held, 4000)); /* b's row expired at +1.5 s; renewals every 300 ms */
  assert_int_equal(atomic_load(&g_taken), 1);
  char *h = holder();
  assert_string_equal(h, "a:1");
  free(h);
}

/* The row taken by another (it found ours expired): this process stops
 * trusting the lease at its next renewal, and the callbacks hear it. */
static void test_lost_to_another(void **state) {
  (void)state;
  atomic_store(&g_lost, 0);
  sf_lease_on_change(on_change);
  sf_err e = {0};
  assert_int_equal(sf_lease_start(900, "a:1", &e), 0);
  assert_true(sf_lease_held());
  char sql[200];
  snprintf(sql, sizeof sql, "UPDATE leases SET holder = 'b:2', expires_at = %lld", (long long)sf_real_ms() + 60000);
  exec_sql(sql);
  assert_true(wait_for(is_lost, 3000));
}

/* A process restarted under the same name takes its own row back at once. */
static void test_same_name_takes_its_row_back(void **state) {
  (void)state;
  char sql[200];
  snprintf(sql, sizeof sql, "INSERT INTO leases VALUES('background', 'a:1', %lld, 0)", (long long)sf_real_ms() + 60000);
  exec_sql(sql);
  sf_err e = {0};
  assert_int_equal(sf_lease_start(900, "a:1", &e), 0);
  assert_true(sf_lease_held());
}

/* ---- cluster-wide after-commit hooks and the publisher ---- */

static char g_ran[512];
static void hook_a(void *ud, const char *key) {
  (void)ud;
  size_t n = strlen(g_ran);
  snprintf(g_ran + n, sizeof g_ran - n, "a:%s ", key);
}
static void hook_b(void *ud, const char *key) {
  size_t n = strlen(g_ran);
  snprintf(g_ran + n, sizeof g_ran - n, "b(%s):%s ", (const char *)ud, key);
}

static char g_published[512];
static int g_publish_fail;
static int publish(sf_db *db, int64_t head, const sf_tx_after *after, int n, sf_err *err) {
  (void)db;
  size_t len = strlen(g_published);
  len += (size_t)snprintf(g_published + len, sizeof g_published - len, "head=%lld", (long long)head);
  for (int i = 0; i < n; i++)
    if (after[i].broadcast)
      len += (size_t)snprintf(g_published + len, sizeof g_published - len, " %s=%s", after[i].broadcast, after[i].key);
  snprintf(g_published + len, sizeof g_published - len, ";");
  return g_publish_fail ? sf_err_set(err, 503, "storage-error", "Storage error", "publish failed") : 0;
}

/* Queued like an after-commit hook (runs here after the commit), handed to
 * the publisher inside the transaction; dropped with a rolled-back command;
 * runnable by name (what a receiving instance does); "*" runs them all. */
static void test_broadcast_hooks(void **state) {
  (void)state;
  sf_writer_broadcast_register("test.a", hook_a, NULL);
  sf_writer_broadcast_register("test.b", hook_b, "ud");
  sf_writer_on_publish(publish);
  g_ran[0] = g_published[0] = '\0';
  sql_cmd c1 = {
      .cmd = {.run = sql_run, .done = sql_done}, .sql = "INSERT INTO t VALUES('x')", .hook = "test.a", .key = "k1"};
  assert_int_equal(sf_writer_exec(&c1.cmd), 0);
  assert_string_equal(g_ran, "a:k1 ");
  assert_string_equal(g_published, "head=0 test.a=k1;"); /* no events appended: head 0 */

  g_ran[0] = g_published[0] = '\0';
  sql_cmd c2 = {.cmd = {.run = sql_run, .done = sql_done}, .hook = "test.b", .key = "k2", .fail = 1};
  assert_int_not_equal(sf_writer_exec(&c2.cmd), 0);
  assert_string_equal(g_ran, "");       /* rolled back with its command */
  assert_string_equal(g_published, ""); /* nothing to tell: no publish at all */

  g_ran[0] = '\0';
  assert_int_equal(sf_writer_broadcast_run("test.b", "k3"), 0);
  assert_int_equal(sf_writer_broadcast_run("test.none", "k3"), -1);
  sf_writer_broadcast_everything();
  assert_non_null(strstr(g_ran, "b(ud):k3 "));
  assert_non_null(strstr(g_ran, "a:* "));
  assert_non_null(strstr(g_ran, "b(ud):* "));
}

/* A publish that fails fails the batch: nothing commits, no hook runs, the
 * command hears why (a 5xx storage error, as a failed COMMIT). */
static void test_failed_publish_fails_the_batch(void **state) {
  (void)state;
  sf_writer_broadcast_register("test.a", hook_a, NULL);
  sf_writer_on_publish(publish);
  g_ran[0] = g_published[0] = '\0';
  g_publish_fail = 1;
  sql_cmd c = {
      .cmd = {.run = sql_run, .done = sql_done}, .sql = "INSERT INTO t VALUES('y')", .hook = "test.a", .key = "k"};
  int rc = sf_writer_exec(&c.cmd);
  g_publish_fail = 0;
  assert_int_not_equal(rc, 0);
  assert_int_equal(c.cmd.err.status, 503);
  assert_string_equal(g_ran, "");
  sf_err e = {0};
  sf_db *db = sf_db_reader(&e);
  sf_stmt *st = sf_db_prepare(db, "SELECT count(*) FROM t WHERE k = 'y'", &e);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_int_equal(sf_stmt_col_int(st, 0), 0);
  sf_stmt_reset(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_held_when_not_started),
      cmocka_unit_test_setup_teardown(test_taken_and_given_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_standby_until_the_holder_expires, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lost_to_another, setup, teardown),
      cmocka_unit_test_setup_teardown(test_same_name_takes_its_row_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_broadcast_hooks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_publish_fails_the_batch, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
