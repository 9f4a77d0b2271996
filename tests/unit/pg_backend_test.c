/* The PostgreSQL backend (store/pg/) against a real server of its own:
 * ctest runs this through scripts/with-postgres.sh, which starts a cluster
 * on a loopback port in a temp dir and exports SF_TEST_PG_URL and
 * SF_TEST_PG_ADMIN. Without them every test fails (install-deps --test
 * installs PostgreSQL: nothing here is optional).
 *
 * Placeholders, binds and columns, the statement cache, savepoints of both
 * levels, the error mapping, a killed server connection and its
 * reconnection, in_transaction after a server-side error, snapshot reads,
 * the writer's commit path, and two instances (two processes, each with a
 * writer of its own) appending events at once: positions gap-free and
 * visible in order, one hash chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "events/store.h"
#include "store/db.h"
#include "store/pg/pg.h"
#include "store/writer.h"

static const char *g_url, *g_admin;

static int setup(void **state) {
  (void)state;
  g_url = getenv("SF_TEST_PG_URL");
  g_admin = getenv("SF_TEST_PG_ADMIN");
  if (!g_url || !*g_url || !g_admin || !*g_admin) {
    fprintf(stderr, "pg_backend_test: SF_TEST_PG_URL and SF_TEST_PG_ADMIN are not set: run it through "
                    "scripts/with-postgres.sh (ctest does; scripts/install-deps.sh --test installs PostgreSQL)\n");
    return -1;
  }
  return 0;
}

static sf_db *open_db(const char *url, int role) {
  sf_err e = {0};
  sf_db *db = sf_db_open(url, role, &e);
  if (!db) fprintf(stderr, "open: %s\n", e.detail);
  assert_non_null(db);
  return db;
}

static void exec_ok(sf_db *db, const char *sql) {
  sf_err e = {0};
  int rc = sf_db_exec(db, sql, &e);
  if (rc) fprintf(stderr, "exec %s: %s\n", sql, e.detail);
  assert_int_equal(rc, 0);
}

static int64_t query_int(sf_db *db, const char *sql) {
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(db, sql, &e);
  assert_non_null(st);
  int rc = sf_stmt_step(st, &e);
  if (rc < 0) fprintf(stderr, "%s: %s\n", sql, e.detail);
  assert_int_equal(rc, 1);
  int64_t v = sf_stmt_col_int(st, 0);
  sf_stmt_reset(st);
  return v;
}

/* ---- placeholders ---- */

static void test_placeholders(void **state) {
  (void)state;
  int n = 0, slots = 0, *map = NULL;
  /* ?2 is unused: ?3 and the next ? (SQLite's 4) become $2 and $3 */
  char *t = sf_pg_translate("SELECT ?, ?3, '?''?', \"a?\" -- ?\n /* ? /* ? */ */ , ?, E'\\'?', $$?$$, $q$ ? $q$",
                            &slots, &map, &n);
  assert_string_equal(t, "SELECT $1, $2, '?''?', \"a?\" -- ?\n /* ? /* ? */ */ , $3, E'\\'?', $$?$$, $q$ ? $q$");
  assert_int_equal(slots, 4);
  assert_int_equal(n, 3);
  assert_int_equal(map[0], 1);
  assert_int_equal(map[1], 0);
  assert_int_equal(map[2], 2);
  assert_int_equal(map[3], 3);
  free(t);
  free(map);
  t = sf_pg_translate("x = ?1 OR ?1 IS NULL AND y = ?2", &slots, &map, &n);
  assert_string_equal(t, "x = $1 OR $1 IS NULL AND y = $2");
  assert_int_equal(n, 2);
  assert_int_equal(slots, 2);
  free(t);
  free(map);
  t = sf_pg_translate("SELECT 1", &slots, &map, &n);
  assert_int_equal(n, 0);
  free(t);
  free(map);

  sf_db *db = open_db(g_url, SF_DB_WRITE);
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(db, "SELECT ?1::bigint + ?1::bigint, '?', ?2::text", &e);
  assert_non_null(st);
  sf_stmt_int(st, 1, 21);
  sf_stmt_text(st, 2, "two");
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_int_equal(sf_stmt_col_int(st, 0), 42);
  assert_string_equal(sf_stmt_col_text(st, 1), "?");
  assert_string_equal(sf_stmt_col_text(st, 2), "two");
  assert_int_equal(sf_stmt_step(st, &e), 0);
  sf_stmt_reset(st);
  /* a gap: ?1 bound but unused by the text, as SQLite allows; ?3 is the first $ */
  st = sf_db_prepare(db, "SELECT CAST(?3 AS TEXT), CAST(?2 AS BIGINT)", &e);
  assert_non_null(st);
  sf_stmt_text(st, 1, "ignored");
  sf_stmt_int(st, 2, 7);
  sf_stmt_text(st, 3, "three");
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_string_equal(sf_stmt_col_text(st, 0), "three");
  assert_int_equal(sf_stmt_col_int(st, 1), 7);
  sf_stmt_reset(st);
  sf_db_close(db);
}

/* ---- binds, steps, columns; the statement cache ---- */

static void test_round_trip(void **state) {
  (void)state;
  sf_db *db = open_db(g_url, SF_DB_WRITE);
  exec_ok(db, "DROP TABLE IF EXISTS rt; CREATE TABLE rt(id bigint PRIMARY KEY, s text, n bigint)");
  static const char *const k_insert = "INSERT INTO rt(id, s, n) VALUES(?, ?, ?)";
  const char *utf8 = "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(db, k_insert, &e);
  assert_non_null(st);
  sf_stmt_int(st, 1, 1);
  sf_stmt_text(st, 2, utf8);
  sf_stmt_int(st, 3, INT64_MAX);
  assert_int_equal(sf_stmt_run(st, &e), 0);
  assert_int_equal(sf_db_changes(db), 1);
  assert_ptr_equal(sf_db_prepare(db, k_insert, &e), st); /* cached by the SQL's address */
  sf_stmt_int(st, 1, 2);
  sf_stmt_null(st, 2);
  sf_stmt_int(st, 3, INT64_MIN);
  assert_int_equal(sf_stmt_run(st, &e), 0);
  st = sf_db_prepare(db, k_insert, &e);
  sf_stmt_int(st, 1, 3);
  sf_stmt_textn(st, 2, "abcdef", 3);
  sf_stmt_text_ref(st, 3, "7"); /* text into a bigint column: the server converts */
  assert_int_equal(sf_stmt_run(st, &e), 0);
  st = sf_db_prepare(db, k_insert, &e); /* bindings cleared: id NULL violates the key */
  assert_int_equal(sf_stmt_run(st, &e), -409);

  st = sf_db_prepare(db, "SELECT id, s, n, s IS NULL FROM rt ORDER BY id", &e);
  assert_non_null(st);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_string_equal(sf_stmt_col_text(st, 1), utf8);
  assert_int_equal(sf_stmt_col_len(st, 1), (int)strlen(utf8));
  assert_int_equal(sf_stmt_col_int(st, 2), INT64_MAX);
  assert_int_equal(sf_stmt_col_int(st, 3), 0); /* boolean "f" */
  assert_false(sf_stmt_col_is_null(st, 1));
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_null(sf_stmt_col_text(st, 1));
  assert_true(sf_stmt_col_is_null(st, 1));
  assert_int_equal(sf_stmt_col_int(st, 2), INT64_MIN);
  assert_int_equal(sf_stmt_col_int(st, 3), 1); /* boolean "t" */
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_string_equal(sf_stmt_col_text(st, 1), "abc");
  assert_int_equal(sf_stmt_col_int(st, 2), 7);
  assert_int_equal(sf_stmt_step(st, &e), 0);
  sf_stmt_reset(st);
  assert_int_equal(sf_db_changes(db), 1); /* a SELECT leaves the count of the last write */
  exec_ok(db, "UPDATE rt SET n = 0");
  assert_int_equal(sf_db_changes(db), 3);
  sf_err bad = {0};
  assert_null(sf_db_prepare(db, "SELEC nonsense", &bad));
  assert_int_equal(bad.status, 500);
  sf_db_close(db);
}

/* ---- savepoints ---- */

static void test_savepoints(void **state) {
  (void)state;
  sf_db *db = open_db(g_url, SF_DB_WRITE);
  exec_ok(db, "DROP TABLE IF EXISTS sp; CREATE TABLE sp(k text PRIMARY KEY)");
  sf_err e = {0};
  assert_int_equal(sf_db_begin(db, &e), 0);
  exec_ok(db, "INSERT INTO sp VALUES('a')");
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  exec_ok(db, "INSERT INTO sp VALUES('b')");
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  exec_ok(db, "INSERT INTO sp VALUES('c')");
  assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  exec_ok(db, "INSERT INTO sp VALUES('d')");
  assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_ITEM, &e), 0); /* still open after the first */
  exec_ok(db, "INSERT INTO sp VALUES('c2')");
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM sp"), 3);
  assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  exec_ok(db, "INSERT INTO sp VALUES('e')");
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(sf_db_commit(db, &e), 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM sp WHERE k IN ('a', 'e')"), 2);
  assert_int_equal(query_int(db, "SELECT count(*) FROM sp"), 2);

  /* the writer's rhythm: command after command, items inside, one failing
   * (a RELEASE travels with the next SAVEPOINT) */
  assert_int_equal(sf_db_begin(db, &e), 0);
  for (int cmd = 0; cmd < 3; cmd++) {
    assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &e), 0);
    for (int item = 0; item < 3; item++) {
      char sql[96];
      assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
      snprintf(sql, sizeof sql, "INSERT INTO sp VALUES('c%d-i%d')", cmd, item);
      exec_ok(db, sql);
      if (item == 1) assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
      assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
    }
    if (cmd == 1) {
      sf_err dup = {0};
      assert_int_equal(sf_db_exec(db, "INSERT INTO sp VALUES('a')", &dup), -409);
      assert_int_equal(sf_db_in_transaction(db), 1);
      assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_CMD, &e), 0);
    }
    assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  }
  assert_int_equal(sf_db_commit(db, &e), 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM sp WHERE k LIKE 'c%'"), 4); /* c0, c2: items 0 and 2 */
  assert_int_equal(query_int(db, "SELECT count(*) FROM sp WHERE k LIKE 'c1%' OR k LIKE '%-i1'"), 0);
  sf_err bad = {0};
  assert_int_equal(sf_db_begin(db, &e), 0);
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  assert_true(sf_db_rollback_to(db, SF_DB_SAVEPOINT_ITEM, &bad) < 0); /* released: gone, as with SQLite */
  sf_db_rollback(db);
  sf_db_close(db);
}

/* ---- errors and in_transaction ---- */

static void test_errors_in_transaction(void **state) {
  (void)state;
  sf_db *db = open_db(g_url, SF_DB_WRITE);
  exec_ok(db, "DROP TABLE IF EXISTS er; CREATE TABLE er(k text PRIMARY KEY)");
  static const char *const k_ins = "INSERT INTO er VALUES(?)";
  sf_err e = {0};
  /* a failed statement under a savepoint: the transaction goes on from it */
  assert_int_equal(sf_db_begin(db, &e), 0);
  exec_ok(db, "INSERT INTO er VALUES('x')");
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  sf_stmt *st = sf_db_prepare(db, k_ins, &e);
  sf_stmt_text(st, 1, "x");
  assert_int_equal(sf_stmt_run(st, &e), -409);
  assert_int_equal(e.status, 409);
  assert_int_equal(sf_db_in_transaction(db), 1); /* with a savepoint to go back to */
  sf_err e2 = {0};
  assert_int_not_equal(sf_db_exec(db, "INSERT INTO er VALUES('y')", &e2), 0); /* refused until then */
  assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(sf_db_in_transaction(db), 1);
  exec_ok(db, "INSERT INTO er VALUES('y')");
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(sf_db_commit(db, &e), 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM er"), 2);

  /* without one: the server aborted the transaction, and COMMIT says so */
  assert_int_equal(sf_db_begin(db, &e), 0);
  exec_ok(db, "INSERT INTO er VALUES('z')");
  st = sf_db_prepare(db, k_ins, &e);
  sf_stmt_text(st, 1, "x");
  assert_int_equal(sf_stmt_run(st, &e), -409);
  assert_int_equal(sf_db_in_transaction(db), 0);
  sf_err ce = {0};
  assert_true(sf_db_commit(db, &ce) < 0);
  assert_int_equal(ce.status, 503);
  assert_int_equal(query_int(db, "SELECT count(*) FROM er"), 2);

  /* a read-only connection refuses writes */
  sf_db *r = open_db(g_url, SF_DB_READ);
  sf_err re = {0};
  assert_true(sf_db_exec(r, "INSERT INTO er VALUES('r')", &re) < 0);
  sf_db_close(r);
  sf_db_close(db);
}

/* ---- a killed connection ---- */

static void terminate(int64_t pid) {
  sf_db *admin = open_db(g_admin, SF_DB_WRITE);
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(admin, "SELECT pg_terminate_backend(?::int)", &e);
  assert_non_null(st);
  sf_stmt_int(st, 1, pid);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_int_equal(sf_stmt_col_int(st, 0), 1);
  sf_stmt_reset(st);
  sf_db_close(admin);
  usleep(100 * 1000); /* the backend exits */
}

/* ---- the pipeline: queued savepoints, statements run later ---- */

static int insert_pl(sf_db *db, const char *k, sf_err *e) {
  sf_stmt *st = sf_db_prepare(db, "INSERT INTO pl VALUES(?)", e);
  assert_non_null(st);
  sf_stmt_text(st, 1, k);
  return sf_stmt_run(st, e);
}

static int insert_pl_later(sf_db *db, const char *k, sf_err *e) {
  sf_stmt *st = sf_db_prepare(db, "INSERT INTO pl VALUES(?)", e);
  assert_non_null(st);
  sf_stmt_text(st, 1, k);
  return sf_stmt_run_later(st, e);
}

static void test_pipeline(void **state) {
  (void)state;
  sf_db *db = open_db(g_url, SF_DB_WRITE);
  exec_ok(db, "DROP TABLE IF EXISTS pl; CREATE TABLE pl(k text PRIMARY KEY)");
  sf_err e = {0};
  /* commands as the writer runs them: the failing one's error is its own
   * (its SAVEPOINT travelled with the failing statement), the others stay */
  assert_int_equal(sf_db_begin(db, &e), 0);
  const char *keys[] = {"a", "b", "a", "c"};
  for (int cmd = 0; cmd < 4; cmd++) {
    sf_err ce = {0};
    assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &ce), 0);
    int rc = insert_pl(db, keys[cmd], &ce);
    assert_int_equal(rc, cmd == 2 ? -409 : 0);
    if (rc) {
      assert_int_equal(sf_db_in_transaction(db), 1);
      assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_CMD, &e), 0);
    }
    assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  }
  /* a command that touches nothing: its savepoint is never sent */
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  /* an item inside a command: queued with the failing statement, rolled back alone */
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(insert_pl(db, "d", &e), 0);
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  sf_err ie = {0};
  assert_int_equal(insert_pl(db, "b", &ie), -409);
  assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_ITEM, &e), 0);
  assert_int_equal(insert_pl(db, "e", &e), 0);
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(sf_db_commit(db, &e), 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM pl"), 5); /* a b c d e */

  /* run later: the failure is reported by the next statement, which waits */
  assert_int_equal(sf_db_begin(db, &e), 0);
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(insert_pl_later(db, "f", &e), 0);
  assert_int_equal(insert_pl_later(db, "a", &e), 0); /* fails on the server */
  sf_err le = {0};
  assert_int_equal(insert_pl(db, "g", &le), -409);
  assert_int_equal(le.status, 409);
  assert_int_equal(sf_db_rollback_to(db, SF_DB_SAVEPOINT_CMD, &e), 0); /* f goes too */
  assert_int_equal(insert_pl_later(db, "h", &e), 0);
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(sf_db_commit(db, &e), 0); /* h travels with the COMMIT */
  assert_int_equal(query_int(db, "SELECT count(*) FROM pl WHERE k IN ('f', 'g', 'h')"), 1);

  /* a failing statement run later before COMMIT: the COMMIT fails, nothing is written */
  assert_int_equal(sf_db_begin(db, &e), 0);
  assert_int_equal(insert_pl(db, "i", &e), 0);
  assert_int_equal(insert_pl_later(db, "a", &e), 0);
  sf_err me = {0};
  assert_true(sf_db_commit(db, &me) < 0);
  assert_int_equal(me.status, 409);
  sf_db_rollback(db);
  assert_int_equal(query_int(db, "SELECT count(*) FROM pl WHERE k = 'i'"), 0);

  /* the connection killed with a savepoint queued: the statement answers 503,
   * nothing to go back to; the next transaction runs on a new session */
  int64_t pid = query_int(db, "SELECT pg_backend_pid()");
  assert_int_equal(sf_db_begin(db, &e), 0);
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  terminate(pid);
  sf_err ke = {0};
  assert_true(insert_pl(db, "j", &ke) < 0);
  assert_int_equal(ke.status, 503);
  assert_int_equal(sf_db_in_transaction(db), 0);
  sf_db_rollback(db);
  assert_int_equal(sf_db_begin(db, &e), 0);
  assert_int_equal(sf_db_savepoint(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(insert_pl(db, "k", &e), 0);
  assert_int_equal(sf_db_release(db, SF_DB_SAVEPOINT_CMD, &e), 0);
  assert_int_equal(sf_db_commit(db, &e), 0);
  assert_int_equal(query_int(db, "SELECT count(*) FROM pl WHERE k IN ('j', 'k')"), 1);
  sf_db_close(db);
}

static void test_killed_connection(void **state) {
  (void)state;
  sf_db *r = open_db(g_url, SF_DB_READ);
  static const char *const k_pid = "SELECT pg_backend_pid()";
  int64_t pid = query_int(r, k_pid);
  terminate(pid);
  /* a read outside a transaction runs again on a new session */
  int64_t pid2 = query_int(r, k_pid);
  assert_true(pid2 > 0 && pid2 != pid);
  /* inside one, the loss is the caller's: 503, then a new session after the rollback */
  sf_err e = {0};
  assert_int_equal(sf_db_begin_read(r, &e), 0);
  terminate(pid2);
  sf_stmt *st = sf_db_prepare(r, k_pid, &e); /* cached: nothing sent yet */
  assert_non_null(st);
  assert_int_equal(sf_stmt_step(st, &e), -503);
  assert_string_equal(e.code, "storage-error");
  assert_int_equal(sf_db_in_transaction(r), 0);
  sf_db_rollback(r);
  int64_t pid3 = query_int(r, k_pid); /* connected again, statement prepared again */
  assert_true(pid3 > 0 && pid3 != pid2);

  /* in a transaction: failures until the rollback, then a new session */
  sf_db *w = open_db(g_url, SF_DB_WRITE);
  exec_ok(w, "DROP TABLE IF EXISTS kc; CREATE TABLE kc(k text)");
  assert_int_equal(sf_db_begin(w, &e), 0);
  exec_ok(w, "INSERT INTO kc VALUES('lost')");
  terminate(query_int(w, k_pid));
  sf_err e2 = {0};
  assert_int_equal(sf_db_exec(w, "INSERT INTO kc VALUES('after')", &e2), -503);
  assert_int_equal(sf_db_in_transaction(w), 0);
  sf_err e3 = {0};
  assert_null(sf_db_prepare(w, "SELECT count(*) FROM kc", &e3)); /* not on its own in a new session */
  assert_int_equal(e3.status, 503);
  sf_db_rollback(w);
  assert_int_equal(sf_db_begin(w, &e), 0);
  exec_ok(w, "INSERT INTO kc VALUES('new')");
  assert_int_equal(sf_db_commit(w, &e), 0);
  assert_int_equal(query_int(w, "SELECT count(*) FROM kc"), 1);
  sf_db_close(w);
  sf_db_close(r);
}

/* ---- a server restart (fast shutdown) ---- */

static void pg_ctl(const char *action) {
  const char *bin = getenv("SF_TEST_PG_BIN"), *data = getenv("SF_TEST_PG_DATA");
  assert_non_null(bin);
  assert_non_null(data);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s/pg_ctl -D %s -l %s/../server.log -m fast -w %s >/dev/null 2>&1",
           geteuid() == 0 ? "runuser -u postgres --" : "", bin, data, data, action);
  assert_int_equal(system(cmd), 0);
}

static void test_server_restart(void **state) {
  (void)state;
  sf_db *r = open_db(g_url, SF_DB_READ);
  sf_db *w = open_db(g_url, SF_DB_WRITE);
  static const char *const k_one = "SELECT 1";
  assert_int_equal(query_int(r, k_one), 1);
  assert_int_equal(query_int(w, k_one), 1);
  pg_ctl("stop");
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(r, k_one, &e);
  assert_non_null(st); /* cached: the loss shows at the first round trip */
  assert_int_equal(sf_stmt_step(st, &e), -503);
  sf_err e2 = {0};
  assert_null(sf_db_prepare(r, k_one, &e2)); /* the server is down: cannot connect, 503 */
  assert_int_equal(e2.status, 503);
  assert_string_equal(e2.code, "storage-error");
  sf_err e3 = {0};
  assert_int_equal(sf_db_begin(w, &e3), -503);
  sf_db_rollback(w);
  pg_ctl("start");
  assert_int_equal(query_int(r, k_one), 1); /* both connect again by themselves */
  assert_int_equal(sf_db_begin(w, &e), 0);
  assert_int_equal(query_int(w, k_one), 1);
  assert_int_equal(sf_db_commit(w, &e), 0);
  /* idle across a whole restart: the first snapshot and the first read
   * after it run on a new session, with no error (nothing of theirs was in
   * the old one) */
  pg_ctl("stop");
  pg_ctl("start");
  sf_err e4 = {0};
  assert_int_equal(sf_db_begin_read(r, &e4), 0);
  assert_int_equal(query_int(r, k_one), 1);
  sf_db_rollback(r);
  pg_ctl("stop");
  pg_ctl("start");
  assert_int_equal(query_int(r, k_one), 1);
  /* a statement not prepared yet on that session: its PREPARE meets the loss first */
  pg_ctl("stop");
  pg_ctl("start");
  assert_int_equal(query_int(r, "SELECT 2"), 2);
  sf_db_close(w);
  sf_db_close(r);
}

/* ---- the integrity check ---- */

static void test_check(void **state) {
  (void)state;
  sf_db *db = open_db(g_url, SF_DB_WRITE);
  exec_ok(db, "DROP TABLE IF EXISTS ck; CREATE TABLE ck(k text PRIMARY KEY, n bigint);"
              " INSERT INTO ck SELECT 'k' || i, i FROM generate_series(1, 5000) i; CREATE INDEX ck_n ON ck(n)");
  char report[200];
  sf_err e = {0};
  assert_int_equal(sf_db_check(db, 0, report, sizeof report, &e), SF_DB_CHECK_OK); /* without amcheck */
  /* amcheck in the test database, created by the superuser */
  char admin_sf[512];
  snprintf(admin_sf, sizeof admin_sf, "%s", g_admin);
  char *slash = strrchr(admin_sf, '/');
  assert_non_null(slash);
  snprintf(slash, sizeof admin_sf - (size_t)(slash - admin_sf), "/sf");
  sf_db *admin = open_db(admin_sf, SF_DB_WRITE);
  exec_ok(admin, "CREATE EXTENSION IF NOT EXISTS amcheck");
  int rc = sf_db_check(db, 0, report, sizeof report, &e); /* not granted: left out */
  if (rc) fprintf(stderr, "check: %d %s %s\n", rc, report, e.detail);
  assert_int_equal(rc, SF_DB_CHECK_OK);
  exec_ok(admin, "GRANT EXECUTE ON FUNCTION bt_index_check(regclass) TO sf;"
                 " GRANT EXECUTE ON FUNCTION verify_heapam(regclass, boolean, boolean, text, bigint, bigint) TO sf");
  sf_db_close(admin);
  rc = sf_db_check(db, 0, report, sizeof report, &e);
  if (rc) fprintf(stderr, "check: %d %s %s\n", rc, report, e.detail);
  assert_int_equal(rc, SF_DB_CHECK_OK);
  assert_int_equal(sf_db_check(db, 10000, report, sizeof report, &e), SF_DB_CHECK_OK);
  assert_false(sf_db_damaged());
  sf_db_close(db);
}

/* Damage written into an index file while the server is down: the check
 * finds it (amcheck: granted above) and marks the database damaged. Last:
 * the damaged flag stays for the process. */
static void test_check_finds_damage(void **state) {
  (void)state;
  sf_db *db = open_db(g_url, SF_DB_WRITE);
  char path[256], file[768];
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(db, "SELECT pg_relation_filepath('ck_n')", &e);
  assert_non_null(st);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  sf_stmt_col_copy(st, 0, path, sizeof path);
  sf_stmt_reset(st);
  snprintf(file, sizeof file, "%s/%s", getenv("SF_TEST_PG_DATA"), path);
  pg_ctl("stop"); /* a clean stop: the index is on disk and out of the cache */
  FILE *f = fopen(file, "r+b");
  assert_non_null(f);
  unsigned char junk[64];
  memset(junk, 0xff, sizeof junk);
  assert_int_equal(fseek(f, 8192 + 24, SEEK_SET), 0); /* block 1's line pointers */
  assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
  fclose(f);
  pg_ctl("start");
  char report[200];
  int rc = sf_db_check(db, 0, report, sizeof report, &e);
  fprintf(stderr, "check after damage: %d %s\n", rc, report);
  assert_int_equal(rc, SF_DB_CHECK_DAMAGED);
  assert_true(strstr(report, "ck_n") != NULL);
  assert_true(sf_db_damaged());
  sf_db_close(db);
}

/* ---- snapshot reads ---- */

static void test_begin_read_snapshot(void **state) {
  (void)state;
  sf_db *w = open_db(g_url, SF_DB_WRITE);
  exec_ok(w, "DROP TABLE IF EXISTS snap; CREATE TABLE snap(k text)");
  sf_db *r = open_db(g_url, SF_DB_READ);
  sf_err e = {0};
  static const char *const k_count = "SELECT count(*) FROM snap";
  assert_int_equal(sf_db_begin_read(r, &e), 0);
  assert_int_equal(query_int(r, k_count), 0);
  exec_ok(w, "INSERT INTO snap VALUES('a')");
  assert_int_equal(query_int(r, k_count), 0); /* the snapshot of the first read */
  assert_int_equal(sf_db_commit(r, &e), 0);
  assert_int_equal(query_int(r, k_count), 1);
  sf_db_close(r);
  /* the per-thread readers of store/db.c, on this backend */
  sf_db_set_path(g_url);
  sf_db *t = sf_db_reader(&e);
  assert_non_null(t);
  assert_ptr_equal(sf_db_reader(&e), t);
  assert_string_equal(sf_db_backend_name(t), "postgres");
  assert_int_equal(query_int(t, k_count), 1);
  sf_err ro = {0};
  assert_true(sf_db_exec(t, "INSERT INTO snap VALUES('b')", &ro) < 0); /* read-only */
  sf_db_close_readers();
  sf_db_close(w);
}

/* ---- the writer ---- */

typedef struct {
  sf_cmd cmd;
  char key[32];
  _Atomic int *left;
  int rc;
} ins_cmd;

static int ins_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  ins_cmd *ic = (ins_cmd *)c;
  sf_stmt *st = sf_db_prepare(tx->db, "INSERT INTO wr(k) VALUES(?)", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, ic->key);
  return sf_stmt_run(st, err);
}

static void ins_done(sf_cmd *c, int rc) {
  ins_cmd *ic = (ins_cmd *)c;
  ic->rc = rc;
  atomic_fetch_sub(ic->left, 1);
}

static void test_writer(void **state) {
  (void)state;
  sf_db *db = open_db(g_url, SF_DB_WRITE);
  exec_ok(db, "DROP TABLE IF EXISTS wr; CREATE TABLE wr(k text PRIMARY KEY)");
  sf_err e = {0};
  assert_int_equal(sf_writer_start(g_url, 64, SF_WRITER_SYNC_PIPELINED, &e), 0);
  assert_int_equal(sf_writer_pipelined(), 0); /* every COMMIT durable when it returns */
  enum { N = 40 };
  static ins_cmd cmds[N];
  _Atomic int left = N;
  for (int i = 0; i < N; i++) {
    cmds[i] = (ins_cmd){.cmd = {.run = ins_run, .done = ins_done}, .left = &left};
    snprintf(cmds[i].key, sizeof cmds[i].key, "k%d", i % 30); /* 10 duplicates */
    assert_int_equal(sf_writer_submit(&cmds[i].cmd), 0);
  }
  while (atomic_load(&left) > 0) usleep(1000);
  int ok = 0, conflicts = 0;
  for (int i = 0; i < N; i++) {
    if (cmds[i].rc == 0) ok++;
    if (cmds[i].rc == -409) conflicts++;
  }
  assert_int_equal(ok, 30); /* a failed command rolled back alone */
  assert_int_equal(conflicts, 10);
  assert_int_equal(query_int(db, "SELECT count(*) FROM wr"), 30);

  /* the server drops the writer's idle session: its next BEGIN connects
   * again (nothing of the batch had run) */
  terminate(query_int(db, "SELECT pid FROM pg_stat_activity WHERE application_name = 'serviceflow'"
                          " AND pid <> pg_backend_pid() AND backend_type = 'client backend' LIMIT 1"));
  ins_cmd c = {.cmd = {.run = ins_run, .done = ins_done}, .key = "after-kill", .left = &left};
  assert_int_equal(sf_writer_exec(&c.cmd), 0); /* BEGIN found the loss, connected again */
  assert_int_equal(query_int(db, "SELECT count(*) FROM wr WHERE k = 'after-kill'"), 1);
  sf_writer_stop();
  sf_db_close(db);
}

/* ---- two instances appending events ---- */

#define APPENDERS 2
#define APPENDS 150

static int append_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  ins_cmd *ic = (ins_cmd *)c;
  int n = 1 + ic->rc % 3; /* 1-3 events per command */
  for (int i = 0; i < n; i++) {
    if (sf_ev_append(tx, i == 0 ? "shared" : ic->key, SF_EV_ANY_VERSION, "test.appended", NULL, NULL, NULL, err))
      return -1;
  }
  return 0;
}

static void append_done(sf_cmd *c, int rc) {
  ins_cmd *ic = (ins_cmd *)c;
  ic->rc = rc;
  atomic_fetch_sub(ic->left, 1);
}

/* One instance: a writer of its own, APPENDS commands queued at once
 * (batches of up to 16). Exit status: the commands that failed. */
static void appender(int who) {
  sf_err e = {0};
  if (sf_writer_start(g_url, 16, SF_WRITER_SYNC_FULL, &e)) _exit(100);
  static ins_cmd cmds[APPENDS];
  _Atomic int left = APPENDS;
  for (int i = 0; i < APPENDS; i++) {
    cmds[i] = (ins_cmd){.cmd = {.run = append_run, .done = append_done}, .left = &left, .rc = i};
    snprintf(cmds[i].key, sizeof cmds[i].key, "s%d-%d", who, i % 7);
    if (sf_writer_submit(&cmds[i].cmd)) _exit(101);
    if (i % 10 == 0) usleep(2000);
  }
  while (atomic_load(&left) > 0) usleep(1000);
  int failed = 0;
  for (int i = 0; i < APPENDS; i++) failed += cmds[i].rc != 0;
  sf_writer_stop();
  _exit(failed > 99 ? 99 : failed);
}

/* Follows the log as a reader would: each read must continue exactly where
 * the last ended (a gap would be a lower position committing later). */
static int64_t follow(sf_db *r, int64_t seen) {
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(r, "SELECT position FROM events WHERE position > ? ORDER BY position", &e);
  assert_non_null(st);
  sf_stmt_int(st, 1, seen);
  int rc;
  while ((rc = sf_stmt_step(st, &e)) == 1) {
    int64_t p = sf_stmt_col_int(st, 0);
    if (p != seen + 1) fprintf(stderr, "follow: saw %lld after %lld\n", (long long)p, (long long)seen);
    assert_int_equal(p, seen + 1);
    seen = p;
  }
  assert_int_equal(rc, 0);
  sf_stmt_reset(st);
  return seen;
}

static void test_multi_writer_append(void **state) {
  (void)state;
  sf_db *db = open_db(g_url, SF_DB_WRITE);
  exec_ok(db, "DROP TABLE IF EXISTS events;"
              " CREATE TABLE events(position bigint PRIMARY KEY, stream text NOT NULL, version bigint NOT NULL,"
              " type text NOT NULL, id text NOT NULL UNIQUE, data text NOT NULL, meta text NOT NULL,"
              " at bigint NOT NULL, hash text NOT NULL, UNIQUE(stream, version))");
  sf_db_close(db);
  pid_t kids[APPENDERS];
  for (int i = 0; i < APPENDERS; i++) {
    kids[i] = fork();
    assert_true(kids[i] >= 0);
    if (kids[i] == 0) appender(i);
  }
  sf_db *r = open_db(g_url, SF_DB_READ);
  int64_t seen = 0;
  int running = APPENDERS, status;
  while (running > 0) {
    seen = follow(r, seen);
    for (int i = 0; i < APPENDERS; i++)
      if (kids[i] && waitpid(kids[i], &status, WNOHANG) == kids[i]) {
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        kids[i] = 0;
        running--;
      }
  }
  seen = follow(r, seen);
  int64_t expected = 0;
  for (int i = 0; i < APPENDS; i++) expected += 1 + i % 3;
  expected *= APPENDERS;
  assert_int_equal(seen, expected);
  assert_int_equal(query_int(r, "SELECT count(*) FROM events"), expected);
  assert_int_equal(query_int(r, "SELECT max(version) FROM events WHERE stream = 'shared'"), APPENDS * APPENDERS);
  sf_err e = {0};
  int64_t n = 0;
  assert_int_equal(sf_db_begin_read(r, &e), 0);
  int rc = sf_ev_verify(r, &n, &e);
  if (rc) fprintf(stderr, "verify: %s\n", e.detail);
  assert_int_equal(rc, 0);
  assert_int_equal(n, expected);
  sf_db_commit(r, &e);
  sf_db_close(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_placeholders),        cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_savepoints),          cmocka_unit_test(test_errors_in_transaction),
      cmocka_unit_test(test_killed_connection),   cmocka_unit_test(test_pipeline),
      cmocka_unit_test(test_server_restart),      cmocka_unit_test(test_check),
      cmocka_unit_test(test_begin_read_snapshot), cmocka_unit_test(test_writer),
      cmocka_unit_test(test_multi_writer_append), cmocka_unit_test(test_check_finds_damage),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
