/* The event log's anchor (events/anchor.h) and the integrity check
 * (sf_db_check in store/db.h) on a real SQLite file in a temp dir: the
 * anchor follows the head, a log cut below it or rewritten at it is named, a
 * damaged anchor file is refused; quick_check finds garbage in the file and
 * stops at its budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app.h"
#include "events/anchor.h"
#include "events/store.h"
#include "store/db.h"
#include "store/writer.h"
#include "unit_db.h"

static char g_anchor[640];

static int setup(void **state) {
  (void)state;
  unit_db_setup("anchor", NULL, SF_WRITER_SYNC_PIPELINED);
  sf_ev_anchor_path(unit_db.dir, g_anchor, sizeof g_anchor);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unit_db_teardown();
  return 0;
}

typedef struct {
  sf_cmd cmd;
  int n;
} append_cmd;

static int append_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  append_cmd *a = (append_cmd *)c;
  for (int i = 0; i < a->n; i++)
    if (sf_ev_append(tx, "s-1", SF_EV_ANY_VERSION, "test.happened", NULL, NULL, NULL, err)) return -1;
  return 0;
}

static void append_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static void append(int n) {
  append_cmd a = {.cmd = {.run = append_run, .done = append_done}, .n = n};
  assert_int_equal(sf_writer_exec(&a.cmd), 0);
}

static void raw_sql(const char *sql) {
  sf_err e = {0};
  sf_db *db = sf_db_open(unit_db.path, SF_DB_WRITE, &e);
  assert_non_null(db);
  assert_int_equal(sf_db_exec(db, sql, &e), 0);
  sf_db_close(db);
}

static int check(int64_t *anchored, sf_err *e) {
  sf_err ignored = {0};
  sf_db *db = sf_db_reader(&ignored);
  assert_non_null(db);
  return sf_ev_anchor_check(db, g_anchor, anchored, e);
}

static void test_anchor_follows_head_and_catches_truncation(void **state) {
  (void)state;
  sf_err e = {0};
  int64_t anchored = 0, pos = 0;
  assert_int_equal(check(&anchored, &e), 0); /* no file yet: nothing to hold the log to */
  assert_int_equal(anchored, -1);
  append(5);
  assert_int_equal(sf_ev_anchor_update(sf_db_reader(&e), g_anchor, &pos, &e), 0);
  assert_int_equal(pos, 5);
  append(3);
  assert_int_equal(sf_ev_anchor_update(sf_db_reader(&e), g_anchor, &pos, &e), 0);
  assert_int_equal(pos, 8);
  assert_int_equal(check(&anchored, &e), 0);
  assert_int_equal(anchored, 8);
  raw_sql("DELETE FROM events WHERE position > 6");
  assert_true(check(&anchored, &e) < 0);
  assert_string_equal(e.code, "chain-truncated");
  assert_non_null(strstr(e.detail, "ends at position 6 but events.head anchors position 8"));
  assert_non_null(strstr(e.detail, "newest 2 events"));
}

static void test_anchor_catches_rewritten_event(void **state) {
  (void)state;
  sf_err e = {0};
  int64_t anchored = 0;
  append(4);
  assert_int_equal(sf_ev_anchor_update(sf_db_reader(&e), g_anchor, NULL, &e), 0);
  raw_sql("UPDATE events SET hash = 'x' WHERE position = 4");
  assert_true(check(&anchored, &e) < 0);
  assert_non_null(strstr(e.detail, "event 4 differs"));
}

static void test_damaged_anchor_file_is_refused(void **state) {
  (void)state;
  FILE *f = fopen(g_anchor, "w");
  assert_non_null(f);
  fputs("v1 12 not-a-hash\n", f);
  fclose(f);
  sf_err e = {0};
  int64_t anchored = 0;
  assert_true(check(&anchored, &e) < 0);
  assert_non_null(strstr(e.detail, "is not \"v1 <position> <hash>\""));
}

static void test_quick_check_finds_garbage(void **state) {
  (void)state;
  raw_sql("CREATE TABLE filler(k INTEGER PRIMARY KEY, v TEXT);"
          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
          "WHERE i < 20000)"
          " INSERT INTO filler SELECT i, printf('%0200d', i) FROM n;"
          "PRAGMA wal_checkpoint(TRUNCATE);");
  sf_err e = {0};
  char report[200];
  sf_db *db = sf_db_open(unit_db.path, SF_DB_READ, &e);
  assert_non_null(db);
  assert_int_equal(sf_db_check(db, 0, report, sizeof report, &e), SF_DB_CHECK_OK);
  assert_int_equal(sf_db_check(db, 1, report, sizeof report, &e), SF_DB_CHECK_INCOMPLETE);
  assert_int_equal(sf_db_damaged(), 0);
  sf_db_close(db);
  /* 8 KiB of garbage in the middle of the filler table */
  FILE *f = fopen(unit_db.path, "r+b");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size / 2 / 4096 * 4096, SEEK_SET);
  char junk[8192];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 7919 + 13);
  fwrite(junk, 1, sizeof junk, f);
  fclose(f);
  db = sf_db_open(unit_db.path, SF_DB_READ, &e);
  assert_non_null(db);
  assert_int_equal(sf_db_check(db, 0, report, sizeof report, &e), SF_DB_CHECK_DAMAGED);
  assert_true(strlen(report) > 0);
  assert_int_equal(sf_db_damaged(), 1);
  sf_db_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_anchor_follows_head_and_catches_truncation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_anchor_catches_rewritten_event, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_anchor_file_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quick_check_finds_garbage, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
