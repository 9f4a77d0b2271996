/* The WAL write-coalescing VFS (src/store/sqlite/wal_vfs.c): data written through
 * the writer connection must read back identically (same connection, other
 * connections, after checkpoints and reopen), and a commit must be on disk
 * when it returns, so a process killed right after cannot lose it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/db.h"
#include "store/sqlite/sqlite.h"
#include "store/sqlite/wal_vfs.h"

static char g_dir[64], g_path[128];

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/sf-walvfs-XXXXXX");
  assert_non_null(mkdtemp(g_dir));
  snprintf(g_path, sizeof g_path, "%s/t.db", g_dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  assert_int_equal(system(cmd), 0);
  return 0;
}

static int64_t query_int(sf_db *db, const char *sql) {
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(db, sql, &e);
  assert_non_null(st);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  int64_t v = sf_stmt_col_int(st, 0);
  sf_stmt_reset(st);
  return v;
}

static const char *query_text(sf_db *db, const char *sql, char *out, size_t cap) {
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(db, sql, &e);
  assert_non_null(st);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  snprintf(out, cap, "%s", sf_stmt_col_text(st, 0));
  sf_stmt_reset(st);
  return out;
}

static void test_registered(void **state) {
  (void)state;
  const char *name = sf_wal_vfs();
  assert_non_null(name);
  assert_non_null(sqlite3_vfs_find(name));
  assert_ptr_not_equal(sqlite3_vfs_find(name), sqlite3_vfs_find(NULL)); /* not the default */
}

/* A transaction far larger than the shim's buffer and the page cache: pages
 * spill to the WAL mid-transaction and are read back by the same connection. */
#define SUMMARY "SELECT sum(length(v)) || ':' || group_concat(hex(substr(v, 2500, 2)), '') FROM b"

static void test_large_transaction_reads_back(void **state) {
  (void)state;
  sf_err e = {0};
  sf_db *w = sf_db_open(g_path, SF_DB_WRITE, &e);
  assert_non_null(w);
  assert_int_equal(sf_db_exec(w,
                              "PRAGMA cache_size=16; CREATE TABLE b(i INTEGER PRIMARY KEY, v BLOB);"
                              "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<4000)"
                              " INSERT INTO b SELECT i, randomblob(3000) FROM n;"
                              " UPDATE b SET v = randomblob(5000) WHERE i % 3 = 0;",
                              &e),
                   0);
  assert_int_equal(query_int(w, "SELECT count(*) FROM b"), 4000);
  static char h1[20000];
  query_text(w, SUMMARY, h1, sizeof h1);
  assert_int_equal(sf_db_exec(w, "COMMIT", &e), 0);

  sf_db *r = sf_db_open(g_path, SF_DB_READ, &e); /* another connection, default VFS */
  assert_non_null(r);
  static char h2[20000];
  query_text(r, SUMMARY, h2, sizeof h2);
  assert_string_equal(h1, h2);
  assert_int_equal(query_int(r, "SELECT count(*) FROM b WHERE length(v) = 5000"), 1333);
  sf_db_close(r);

  assert_int_equal(sf_db_exec(w, "PRAGMA wal_checkpoint(TRUNCATE)", &e), 0);
  sf_db_close(w);
  r = sf_db_open(g_path, SF_DB_READ, &e);
  assert_non_null(r);
  query_text(r, SUMMARY, h2, sizeof h2);
  assert_string_equal(h1, h2);
  char ok[32];
  assert_string_equal(query_text(r, "PRAGMA integrity_check", ok, sizeof ok), "ok");
  sf_db_close(r);
}

/* Every commit is visible to another connection as soon as it returns, also
 * across WAL restarts after checkpoints. Under synchronous=NORMAL (pipelined
 * commits) SQLite does not sync at commit, so nothing but the commit frame
 * itself tells the shim to write its buffer before the commit is published:
 * a reader would otherwise be pointed at frames not yet in the file. */
static void commits_visible(const char *sync) {
  sf_err e = {0};
  sf_db *other = sf_db_open(g_path, SF_DB_WRITE, &e); /* a write connection, not the writer's */
  assert_non_null(other);
  assert_int_equal(sf_db_exec(other, "CREATE TABLE o(i)", &e), 0);
  assert_int_equal(sf_wal_vfs_sync(), -1); /* its WAL is not one the sync thread syncs */
  sf_db_close(other);
  sf_db *w = sf_db_open(g_path, SF_SQLITE_WRITER, &e);
  assert_non_null(w);
  char pragma[64];
  snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", sync);
  assert_int_equal(sf_db_exec(w, pragma, &e), 0);
  assert_int_equal(sf_db_exec(w, "PRAGMA wal_autocheckpoint=50; CREATE TABLE c(i INTEGER PRIMARY KEY, v TEXT)", &e), 0);
  sf_db *r = sf_db_open(g_path, SF_DB_READ, &e);
  assert_non_null(r);
  for (int i = 1; i <= 600; i++) {
    sf_stmt *st = sf_db_prepare(w, "INSERT INTO c(i, v) VALUES(?, hex(randomblob(700)))", &e);
    assert_non_null(st);
    sf_stmt_int(st, 1, i);
    assert_int_equal(sf_stmt_run(st, &e), 0);
    assert_int_equal(query_int(r, "SELECT max(i) FROM c"), i);
    if (i % 50 == 0) assert_int_equal(query_int(r, "SELECT count(*) FROM c WHERE length(v) = 1400"), i);
  }
  assert_int_equal(sf_wal_vfs_sync(), 0); /* the writer's WAL is open: synced */
  sf_db_close(r);
  sf_db_close(w);
  assert_int_equal(sf_wal_vfs_sync(), -1); /* none open: nothing was made durable */
}

static void test_commits_visible_to_readers(void **state) {
  (void)state;
  commits_visible("FULL");
}

static void test_commits_visible_normal(void **state) {
  (void)state;
  commits_visible("NORMAL");
}

/* A child commits rows through the shim and reports each commit on a pipe;
 * the parent kills it with SIGKILL mid-stream. Every reported row must be
 * there: a commit that returned while its frames sat in the shim's buffer
 * would be lost with the process. */
static void kill_after_commit(const char *sync) {
  sf_err e = {0};
  sf_db *w = sf_db_open(g_path, SF_DB_WRITE, &e);
  assert_non_null(w);
  assert_int_equal(sf_db_exec(w, "CREATE TABLE k(i INTEGER PRIMARY KEY, v TEXT)", &e), 0);
  sf_db_close(w);

  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    sf_err ce = {0};
    sf_db *cw = sf_db_open(g_path, SF_DB_WRITE, &ce);
    if (!cw) _exit(3);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", sync);
    if (sf_db_exec(cw, pragma, &ce)) _exit(7);
    for (int i = 1;; i++) {
      sf_stmt *st = sf_db_prepare(cw, "INSERT INTO k(i, v) VALUES(?, hex(randomblob(500)))", &ce);
      if (!st) _exit(4);
      sf_stmt_int(st, 1, i);
      if (sf_stmt_run(st, &ce)) _exit(5);
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(6);
    }
  }
  close(fds[1]);
  int last = 0, v;
  while (last < 300 && read(fds[0], &v, sizeof v) == sizeof v) last = v;
  kill(pid, SIGKILL);
  while (read(fds[0], &v, sizeof v) == sizeof v) last = v; /* reported before it died */
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_true(last >= 300);

  sf_db *r = sf_db_open(g_path, SF_DB_WRITE, &e); /* recovers the WAL */
  assert_non_null(r);
  sf_stmt *st = sf_db_prepare(r, "SELECT count(*) FROM k WHERE i <= ? AND length(v) = 1000", &e);
  assert_non_null(st);
  sf_stmt_int(st, 1, last);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  assert_int_equal(sf_stmt_col_int(st, 0), last); /* every reported commit, whole */
  sf_stmt_reset(st);
  assert_int_equal(query_int(r, "SELECT max(i) - count(*) FROM k"), 0); /* no gaps */
  char ok[32];
  assert_string_equal(query_text(r, "PRAGMA integrity_check", ok, sizeof ok), "ok");
  sf_db_close(r);
}

/* A transaction bigger than the page cache spills pages to the WAL before
 * its commit; when it changes a spilled page again SQLite overwrites that
 * frame in place and, after the commit frame, rewrites the checksums of
 * every frame from there on: header-only writes, the last one the commit
 * frame's. Under synchronous=NORMAL those must reach the file by the time
 * COMMIT returns, or the commit that an fsync is about to make durable is
 * not in the file at all. The files are copied right after COMMIT (what an
 * fsync would persist) and the copy is recovered. */
static void test_rewritten_commit_is_in_the_file(void **state) {
  (void)state;
  sf_err e = {0};
  sf_db *w = sf_db_open(g_path, SF_DB_WRITE, &e);
  assert_non_null(w);
  assert_int_equal(sf_db_exec(w,
                              "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
                              "CREATE TABLE b(i INTEGER PRIMARY KEY, v BLOB); CREATE TABLE m(k INTEGER PRIMARY KEY, x);"
                              "INSERT INTO m VALUES(1, 0);",
                              &e),
                   0);
  assert_int_equal(sf_db_exec(w,
                              "PRAGMA cache_size=16; BEGIN; UPDATE m SET x = 1;"
                              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<300)"
                              " INSERT INTO b SELECT i, randomblob(3000) FROM n;"
                              "UPDATE m SET x = 42; COMMIT;",
                              &e),
                   0);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "mkdir %s/copy && cp %s %s-wal %s/copy/", g_dir, g_path, g_path, g_dir);
  assert_int_equal(system(cmd), 0);
  sf_db_close(w);
  char copy[160];
  snprintf(copy, sizeof copy, "%s/copy/t.db", g_dir);
  sf_db *r = sf_db_open(copy, SF_DB_WRITE, &e);
  assert_non_null(r);
  assert_int_equal(query_int(r, "SELECT x FROM m"), 42);
  assert_int_equal(query_int(r, "SELECT count(*) FROM b"), 300);
  char ok[32];
  assert_string_equal(query_text(r, "PRAGMA integrity_check", ok, sizeof ok), "ok");
  sf_db_close(r);
}

/* Without powersafe overwrite SQLite pads each commit to a sector boundary
 * under FULL, syncing in the middle of the last frame and writing the rest
 * after the sync: the shim must not keep that rest (it writes such WALs
 * straight through). After every COMMIT the WAL holds whole frames and
 * another connection reads every row. */
static void test_padded_commits_are_whole(void **state) {
  (void)state;
  char uri[200], wal[160];
  snprintf(uri, sizeof uri, "file:%s?psow=0", g_path);
  snprintf(wal, sizeof wal, "%s-wal", g_path);
  sqlite3 *h = NULL;
  assert_int_equal(
      sqlite3_open_v2(uri, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, sf_wal_vfs_synced()),
      SQLITE_OK);
  assert_int_equal(sqlite3_exec(h,
                                "PRAGMA page_size=2048; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                " PRAGMA wal_autocheckpoint=0; CREATE TABLE t(i INTEGER PRIMARY KEY, v)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sf_err e = {0};
  sf_db *r = sf_db_open(g_path, SF_DB_READ, &e);
  assert_non_null(r);
  for (int i = 1; i <= 20; i++) {
    assert_int_equal(sqlite3_exec(h, "INSERT INTO t(v) VALUES(randomblob(100))", NULL, NULL, NULL), SQLITE_OK);
    FILE *f = fopen(wal, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal((size - 32) % (2048 + 24), 0); /* whole frames only */
    assert_int_equal(query_int(r, "SELECT count(*) FROM t WHERE length(v) = 100"), i);
  }
  sf_db_close(r);
  sqlite3_close(h);
}

static void test_kill_after_commit_loses_nothing(void **state) {
  (void)state;
  kill_after_commit("FULL");
}

/* The same without a sync at commit: a killed process leaves its written
 * frames in the page cache, so every commit the shim let through is kept. */
static void test_kill_after_commit_normal(void **state) {
  (void)state;
  kill_after_commit("NORMAL");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registered),
      cmocka_unit_test_setup_teardown(test_large_transaction_reads_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commits_visible_to_readers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_after_commit_loses_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commits_visible_normal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_after_commit_normal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rewritten_commit_is_in_the_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_padded_commits_are_whole, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
