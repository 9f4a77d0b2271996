/* The storage seam (store/backend.h): a location picks its backend by name,
 * and store/db.h's calls reach the backend's table of operations. A fake
 * backend that records what it is asked stands for a second one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/backend.h"

/* ---- the fake backend: one connection, one statement, two rows ---- */

static struct fake_state {
  sf_db db;
  sf_stmt st;
  char location[64];
  int role;
  int closed;
  const char *prepared;
  int64_t bound;
  int rows_left;
  int savepoints[2];
} fake;

extern const sf_db_backend fake_backend;

static sf_db *fake_open(const char *location, int role, sf_err *err) {
  (void)err;
  snprintf(fake.location, sizeof fake.location, "%s", location);
  fake.role = role;
  fake.db.ops = &fake_backend;
  fake.st.ops = &fake_backend;
  return &fake.db;
}
static void fake_close(sf_db *db) { fake.closed += db == &fake.db; }
static sf_stmt *fake_prepare(sf_db *db, const char *sql, sf_err *err) {
  (void)db, (void)err;
  fake.prepared = sql;
  fake.rows_left = 2;
  return &fake.st;
}
static void fake_bind_int(sf_stmt *st, int idx, int64_t v) { fake.bound = idx == 1 ? v : -1; }
static int fake_step(sf_stmt *st, sf_err *err) { return fake.rows_left-- > 0 ? 1 : 0; }
static void fake_reset(sf_stmt *st) { fake.rows_left = 0; }
static int64_t fake_col_int(sf_stmt *st, int col) { return 40 + col; }
static int fake_savepoint(sf_db *db, int level, sf_err *err) {
  fake.savepoints[level]++;
  return 0;
}

const sf_db_backend fake_backend = {
    .name = "fake",
    .open = fake_open,
    .close = fake_close,
    .prepare = fake_prepare,
    .bind_int = fake_bind_int,
    .step = fake_step,
    .reset = fake_reset,
    .col_int = fake_col_int,
    .savepoint = fake_savepoint,
};

static void test_location_picks_the_backend(void **state) {
  (void)state;
  sf_err e = {0};
  sf_db *db = sf_db_open("fake://host/db", SF_DB_WRITE, &e);
  assert_ptr_equal(db, &fake.db);
  assert_string_equal(fake.location, "fake://host/db"); /* the whole location, scheme included */
  assert_int_equal(fake.role, SF_DB_WRITE);
  assert_string_equal(sf_db_backend_name(db), "fake");
  sf_db_close(db);
  assert_int_equal(fake.closed, 1);
}

static void test_calls_reach_the_table(void **state) {
  (void)state;
  sf_err e = {0};
  sf_db *db = sf_db_open("fake://x", SF_DB_READ, &e);
  static const char sql[] = "SELECT 1";
  sf_stmt *st = sf_db_prepare(db, sql, &e);
  assert_ptr_equal(st, &fake.st);
  assert_ptr_equal(fake.prepared, sql); /* the literal itself: backends cache by its address */
  sf_stmt_int(st, 1, 7);
  assert_int_equal(fake.bound, 7);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_int_equal(sf_stmt_col_int(st, 2), 42);
  assert_int_equal(sf_stmt_run(st, &e), 0); /* step, then reset */
  assert_int_equal(sf_stmt_step(st, &e), 0);
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  assert_int_equal(fake.savepoints[SF_DB_SAVEPOINT_ITEM], 1);
  assert_int_equal(fake.savepoints[SF_DB_SAVEPOINT_CMD], 0);
  sf_db_close(db);
}

static void test_unknown_backend_is_refused(void **state) {
  (void)state;
  sf_err e = {0};
  assert_null(sf_db_open("mysql://localhost/sf", SF_DB_READ, &e)); /* no such backend in this build */
  assert_int_equal(e.status, 500);
  assert_non_null(strstr(e.detail, "mysql://"));
  assert_int_equal(sf_db_backend_register(&fake_backend), -1); /* the name is taken */
}

static void test_a_path_is_sqlite(void **state) {
  (void)state;
  char dir[] = "/tmp/sf-backend-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/db", dir);
  sf_err e = {0};
  sf_db *db = sf_db_open(path, SF_DB_WRITE, &e);
  assert_non_null(db);
  assert_string_equal(sf_db_backend_name(db), "sqlite");
  sf_stmt *st = sf_db_prepare(db, "SELECT 6 * 7", &e);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_int_equal(sf_stmt_col_int(st, 0), 42);
  sf_stmt_reset(st);
  sf_db_close(db);
  char cmd[96];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  if (sf_db_backend_register(&fake_backend)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_location_picks_the_backend),
      cmocka_unit_test(test_calls_reach_the_table),
      cmocka_unit_test(test_unknown_backend_is_refused),
      cmocka_unit_test(test_a_path_is_sqlite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
