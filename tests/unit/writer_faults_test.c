/* The writer under storage faults, on a real SQLite file in a temp dir:
 * commands that must not be lost (retry_storage) are run again until they
 * commit, after a full database (SQLITE_FULL) and after a failed COMMIT;
 * the storage fault /readyz reports comes and goes with them; a write that
 * fails for space empties the WAL; the WAL returns under its cap after a
 * reader pinned it. Under both sync modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "app.h"
#include "store/db.h"
#include "store/sqlite/sqlite.h"
#include "store/writer.h"
#include "unit_db.h"

static sf_writer_sync g_sync;

static int setup(void **state) {
  (void)state;
  sf_sqlite_checkpoint_frames(0); /* the default, whatever a failed test left */
  unit_db_setup("wfault",
                "CREATE TABLE t(k TEXT PRIMARY KEY, v BLOB);"
                " CREATE TABLE c(k TEXT REFERENCES t(k) DEFERRABLE INITIALLY DEFERRED)",
                g_sync);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sf_writer_stop();
  sf_db_close_readers();
  char cmd[160];
  snprintf(cmd, sizeof cmd, "umount -l %s/tmpfs 2>/dev/null", unit_db.dir);
  if (system(cmd)) { /* mounted by test_full_disk_space_comes_back only */
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", unit_db.dir);
  assert_int_equal(system(cmd), 0);
  return 0;
}

static int64_t count_rows(const char *sql) {
  sf_err e = {0};
  sf_db *db = sf_db_open(unit_db.path, SF_DB_READ, &e);
  sf_stmt *st = sf_db_prepare(db, sql, &e);
  int64_t n = sf_stmt_step(st, &e) == 1 ? sf_stmt_col_int(st, 0) : -1;
  sf_stmt_reset(st);
  sf_db_close(db);
  return n;
}

/* ---- commands ---- */

typedef struct {
  sf_cmd cmd;
  char key[32];
  const char *sql;    /* or: run this (a pragma) on the writer's connection */
  int orphan;         /* or: insert a row into c whose parent does not exist */
  _Atomic int *latch; /* hold the writer until the test sets *latch */
  int runs;
  _Atomic int done;
  int rc;
} cmd;

/* Inserts a row that needs new pages (a 3000-byte blob). */
static int c_run(sf_cmd *sc, sf_tx *tx, sf_err *err) {
  cmd *c = (cmd *)sc;
  c->runs++;
  for (int i = 0; c->latch && !atomic_load(c->latch) && i < 10000; i++) usleep(1000);
  if (c->sql) return sf_db_exec(tx->db, c->sql, err);
  sf_stmt *st = sf_db_prepare(
      tx->db, c->orphan ? "INSERT INTO c(k) VALUES(?)" : "INSERT INTO t(k, v) VALUES(?, randomblob(3000))", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, c->key);
  return sf_stmt_run(st, err);
}

static void c_done(sf_cmd *sc, int rc) {
  cmd *c = (cmd *)sc;
  c->rc = rc;
  atomic_store(&c->done, 1);
}

static cmd *new_cmd(const char *key, int retry) {
  cmd *c = calloc(1, sizeof *c);
  c->cmd = (sf_cmd){.run = c_run, .done = c_done, .retry_storage = retry};
  snprintf(c->key, sizeof c->key, "%s", key);
  return c;
}

static int wait_done(cmd *c, int ms) {
  for (int i = 0; i < ms && !atomic_load(&c->done); i++) usleep(1000);
  return atomic_load(&c->done);
}

/* Caps the database at its current size: the next row that needs a page
 * fails with SQLITE_FULL, as on a full disk. */
static void fill_database(void) {
  static char sql[64];
  sf_err e = {0};
  sf_db *db = sf_db_open(unit_db.path, SF_DB_READ, &e);
  sf_stmt *st = sf_db_prepare(db, "PRAGMA page_count", &e);
  assert_int_equal(sf_stmt_step(st, &e), 1);
  snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld", (long long)sf_stmt_col_int(st, 0));
  sf_stmt_reset(st);
  sf_db_close(db);
  cmd *c = new_cmd("", 0);
  c->sql = sql;
  assert_int_equal(sf_writer_exec(&c->cmd), 0);
  free(c);
  int rc = 0; /* free pages inside the file take a few rows more */
  for (int i = 0; i < 500 && rc == 0; i++) {
    char key[16];
    snprintf(key, sizeof key, "fill%d", i);
    c = new_cmd(key, 0);
    rc = sf_writer_exec(&c->cmd);
    if (rc && rc != -507) fprintf(stderr, "fill: %d %s\n", rc, c->cmd.err.detail);
    free(c);
  }
  assert_int_equal(rc, -507);
}

static void free_space(void) {
  cmd *c = new_cmd("", 0);
  c->sql = "PRAGMA max_page_count=1073741823";
  assert_int_equal(sf_writer_exec(&c->cmd), 0);
  free(c);
}

/* The database is full: a plain command gets 507 at once; one that must
 * not be lost waits, run again and again, while the writer reports the
 * fault; once there is room it commits, is answered, and the fault clears. */
static void test_full_database_retried_until_recorded(void **state) {
  (void)state;
  cmd *warm = new_cmd("warm", 0);
  assert_int_equal(sf_writer_exec(&warm->cmd), 0);
  assert_int_equal(sf_writer_storage_fault(NULL), 0);
  fill_database();
  cmd *plain = new_cmd("plain", 0), *kept = new_cmd("kept", 1);
  assert_int_equal(sf_writer_submit(&plain->cmd), 0);
  assert_true(wait_done(plain, 5000));
  assert_int_equal(plain->rc, -507);
  assert_int_equal(plain->cmd.err.status, 507);
  assert_int_equal(sf_writer_submit(&kept->cmd), 0);
  usleep(400 * 1000);
  assert_false(atomic_load(&kept->done)); /* not answered with the failure */
  assert_true(kept->runs >= 2);           /* but run again */
  sf_err why = {0};
  assert_int_equal(sf_writer_storage_fault(&why), 1);
  assert_int_equal(why.status, 507);
  free_space();
  assert_true(wait_done(kept, 5000));
  assert_int_equal(kept->rc, 0);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k = 'kept'"), 1);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k = 'plain'"), 0);
  assert_int_equal(sf_writer_storage_fault(NULL), 0);
  free(warm), free(plain), free(kept);
}

/* A COMMIT that fails (a deferred foreign key of a batch-mate) drops the
 * whole batch: the command that must not be lost runs again in a later
 * batch and commits; the one that broke the commit is answered with it. */
static void test_failed_commit_retried(void **state) {
  (void)state;
  _Atomic int latch = 0;
  cmd *hold = new_cmd("hold", 0), *kept = new_cmd("kept2", 1), *bad = new_cmd("nobody", 0);
  hold->latch = &latch;
  bad->orphan = 1;
  assert_int_equal(sf_writer_submit(&hold->cmd), 0);
  assert_int_equal(sf_writer_submit(&kept->cmd), 0);
  assert_int_equal(sf_writer_submit(&bad->cmd), 0);
  atomic_store(&latch, 1); /* kept and bad are queued behind hold: one batch */
  assert_true(wait_done(bad, 5000));
  assert_true(bad->rc < 0);
  assert_true(wait_done(kept, 5000));
  assert_int_equal(kept->rc, 0);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k = 'kept2'"), 1);
  assert_int_equal(count_rows("SELECT count(*) FROM c"), 0);
  assert_true(kept->runs >= 2 || hold->rc == 0); /* (a loaded machine may have split the batch) */
  free(hold), free(kept), free(bad);
}

/* After a full disk SQLite rolls the whole transaction back by itself: the
 * batch ends there. What its batch-mates did is gone with it, and they are
 * told so; none of it commits on its own (outside the batch, statement by
 * statement, which would also break the event chain). */
static void test_lost_transaction_ends_the_batch(void **state) {
  (void)state;
  cmd *warm = new_cmd("warm4", 0);
  assert_int_equal(sf_writer_exec(&warm->cmd), 0);
  fill_database();
  _Atomic int latch = 0;
  cmd *hold = new_cmd("", 0), *full = new_cmd("full4", 0), *small = new_cmd("", 0);
  hold->latch = &latch;
  hold->sql = "PRAGMA user_version";
  small->sql = "UPDATE t SET k = 'renamed4' WHERE k = 'warm4'"; /* needs no new page */
  assert_int_equal(sf_writer_submit(&hold->cmd), 0);
  assert_int_equal(sf_writer_submit(&full->cmd), 0);
  assert_int_equal(sf_writer_submit(&small->cmd), 0);
  atomic_store(&latch, 1);
  assert_true(wait_done(small, 5000));
  assert_true(wait_done(full, 5000));
  assert_int_equal(full->rc, -507);
  /* answered as it ended: committed (rc 0) or not at all */
  int64_t renamed = count_rows("SELECT count(*) FROM t WHERE k = 'renamed4'");
  assert_int_equal(renamed, small->rc == 0 ? 1 : 0);
  if (small->rc) assert_int_equal(small->rc, -507);
  free_space();
  free(warm), free(hold), free(full), free(small);
}

/* Shutting down on a full disk: retries stop, the command is answered
 * with the failure (recovered from the log at the next start). */
static void test_stop_gives_up(void **state) {
  (void)state;
  cmd *warm = new_cmd("warm3", 0);
  assert_int_equal(sf_writer_exec(&warm->cmd), 0);
  fill_database();
  cmd *kept = new_cmd("kept3", 1);
  assert_int_equal(sf_writer_submit(&kept->cmd), 0);
  usleep(200 * 1000);
  assert_false(atomic_load(&kept->done));
  sf_writer_stop();
  assert_true(atomic_load(&kept->done));
  assert_int_equal(kept->rc, -507);
  sf_err e = {0};
  assert_int_equal(sf_writer_start(unit_db.path, 1024, g_sync, &e), 0);
  free(warm), free(kept);
}

static long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

/* ---- space back by itself: a real full disk (a tmpfs; needs root) ---- */

/* Writes zeros into path until the file system is full. */
static void fill_disk(const char *path) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  setvbuf(f, NULL, _IONBF, 0);
  static char zeros[65536];
  for (size_t chunk = sizeof zeros; chunk >= 512; chunk /= 8)
    while (fwrite(zeros, 1, chunk, f) == chunk) continue;
  fclose(f);
}

static cmd *bump_cmd(void) {
  cmd *c = new_cmd("", 0);
  c->sql = "UPDATE t SET v = coalesce(v, 0) + 1 WHERE k = 'u1'";
  return c;
}

/* A WAL that rewrote the same pages over and over holds far more than the
 * database needs: when a write fails for space, the writer copies it into
 * the database file and truncates it, and writes succeed again although
 * nobody freed anything. */
static void test_full_disk_space_comes_back(void **state) {
  (void)state;
  char mnt[96], cmdline[256], path[160], wal[176], filler[160];
  snprintf(mnt, sizeof mnt, "%s/tmpfs", unit_db.dir);
  assert_int_equal(mkdir(mnt, 0700), 0);
  snprintf(cmdline, sizeof cmdline, "mount -t tmpfs -o size=4m tmpfs %s 2>/dev/null", mnt);
  if (system(cmdline) != 0) {
    fprintf(stderr, "cannot mount a tmpfs (needs root): test skipped\n");
    skip();
  }
  sf_writer_stop();
  snprintf(path, sizeof path, "%s/f.db", mnt);
  snprintf(wal, sizeof wal, "%s-wal", path);
  snprintf(filler, sizeof filler, "%s/filler", mnt);
  sf_err e = {0};
  sf_db *db = sf_db_open(path, SF_DB_WRITE, &e);
  assert_non_null(db);
  assert_int_equal(sf_app_migrate(db, &e), 0);
  assert_int_equal(sf_db_exec(db, "CREATE TABLE t(k TEXT PRIMARY KEY, v BLOB); INSERT INTO t(k) VALUES('u1')", &e), 0);
  sf_db_close(db);
  assert_int_equal(sf_writer_start(path, 1024, g_sync, &e), 0);
  for (int i = 0; i < 600; i++) { /* ~600 frames of one page: ~1.2 MB of WAL */
    cmd *c = bump_cmd();
    assert_int_equal(sf_writer_exec(&c->cmd), 0);
    free(c);
  }
  long before = file_size(wal);
  fprintf(stderr, "WAL before filling: %ld\n", before);
  fill_disk(filler);
  int rc = 0, failures = 0;
  for (int i = 0; i < 50 && (failures == 0 || rc != 0); i++) { /* until a write fails, then one succeeds */
    cmd *c = bump_cmd();
    rc = sf_writer_exec(&c->cmd);
    free(c);
    if (rc) {
      assert_int_equal(rc, -507);
      failures++;
    }
  }
  assert_true(failures > 0);
  assert_int_equal(rc, 0);
  assert_true(file_size(filler) > 0); /* nobody freed anything */
  assert_true(file_size(wal) < before / 4);
  /* full again, for good: the fault stays; space freed from outside, and
   * with no write at all the writer's probe finds it (for /readyz) */
  char filler2[176];
  snprintf(filler2, sizeof filler2, "%s2", filler);
  fill_disk(filler2);
  rc = 0;
  for (int i = 0; i < 200 && rc == 0; i++) {
    cmd *c = bump_cmd();
    rc = sf_writer_exec(&c->cmd);
    free(c);
  }
  assert_int_equal(rc, -507);
  usleep(1500 * 1000);
  assert_int_equal(sf_writer_storage_fault(NULL), 1);
  unlink(filler2);
  unlink(filler);
  for (int i = 0; i < 3000 && sf_writer_storage_fault(NULL); i++) usleep(1000);
  assert_int_equal(sf_writer_storage_fault(NULL), 0);
  sf_writer_stop();
  snprintf(cmdline, sizeof cmdline, "umount -l %s", mnt);
  assert_int_equal(system(cmdline), 0);
  assert_int_equal(sf_writer_start(unit_db.path, 1024, g_sync, &e), 0);
}

/* ---- the WAL's bound with readers ---- */

static _Atomic int g_release_reader;
static _Atomic int g_reading;

/* A long reader (a slow report, a backup): it pins the WAL for as long as
 * it reads, so no checkpoint can empty it meanwhile. */
static void *long_reader_main(void *arg) {
  (void)arg;
  sf_err e = {0};
  sf_db *db = sf_db_open(unit_db.path, SF_DB_READ, &e);
  sf_db_exec(db, "BEGIN", &e);
  sf_stmt *st = sf_db_prepare(db, "SELECT count(*) FROM t", &e);
  sf_stmt_step(st, &e);
  atomic_store(&g_reading, 1);
  while (!atomic_load(&g_release_reader)) usleep(1000);
  sf_stmt_reset(st);
  sf_db_exec(db, "COMMIT", &e);
  sf_db_close(db);
  return NULL;
}

static long write_blobs(int from, int n, const char *wal) {
  long biggest = 0;
  for (int i = from; i < from + n; i++) {
    char key[16];
    snprintf(key, sizeof key, "b%d", i);
    cmd *c = new_cmd(key, 0);
    assert_int_equal(sf_writer_exec(&c->cmd), 0);
    free(c);
    long size = file_size(wal);
    if (size > biggest) biggest = size;
  }
  return biggest;
}

/* While a reader pins it the WAL must grow; once the reader is gone,
 * sustained writes bring it back under its cap, file included (before,
 * the file kept its largest size: journal_size_limit was 64 MB, which is
 * how a 4-minute soak left a 63 MB WAL behind). */
static void test_wal_bounded_after_readers(void **state) {
  (void)state;
  sf_writer_stop();
  sf_sqlite_checkpoint_frames(100);
  sf_err e = {0};
  assert_int_equal(sf_writer_start(unit_db.path, 1024, g_sync, &e), 0);
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", unit_db.path);
  atomic_store(&g_release_reader, 0);
  atomic_store(&g_reading, 0);
  pthread_t th;
  pthread_create(&th, NULL, long_reader_main, NULL);
  while (!atomic_load(&g_reading)) usleep(1000);
  long pinned = write_blobs(0, 400, wal); /* ~3 frames each: ~1,200 frames */
  atomic_store(&g_release_reader, 1);
  pthread_join(th, NULL);
  write_blobs(400, 300, wal); /* the WAL empties and starts over */
  long after = write_blobs(700, 600, wal);
  fprintf(stderr, "WAL: %ld bytes while pinned, at most %ld after\n", pinned, after);
  long frame = 2048 + 24, cap = 140 * frame;
  assert_true(pinned > 5 * cap);
  assert_true(after > 0);
  assert_true(after <= cap + 10 * frame); /* the cap, plus the commit that crossed it */
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k LIKE 'b%'"), 1300);
  sf_writer_stop();
  sf_sqlite_checkpoint_frames(0);
  assert_int_equal(sf_writer_start(unit_db.path, 1024, g_sync, &e), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_full_database_retried_until_recorded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_commit_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_gives_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lost_transaction_ends_the_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_disk_space_comes_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_bounded_after_readers, setup, teardown),
  };
  g_sync = SF_WRITER_SYNC_FULL;
  int failed = cmocka_run_group_tests_name("writer_sync=full", tests, NULL, NULL);
  g_sync = SF_WRITER_SYNC_PIPELINED;
  return failed + cmocka_run_group_tests_name("writer_sync=pipelined", tests, NULL, NULL);
}
