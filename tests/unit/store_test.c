/* Writer (group commit, savepoint isolation), event store (positions, hash
 * chain) and dispatcher (durable checkpoints, catch-up, replay) on a real
 * SQLite file in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "app.h"
#include "core/metrics.h"
#include "events/dispatch.h"
#include "events/stats.h"
#include "events/store.h"
#include "store/db.h"
#include "store/sqlite/sqlite.h"
#include "store/writer.h"
#include "unit_db.h"

static sf_writer_sync g_sync; /* the mode setup starts the writer in */

static int setup(void **state) {
  (void)state;
  unit_db_setup("store", "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)", g_sync);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sf_dispatch_stop();
  unit_db_teardown();
  return 0;
}

/* ---- a test command: insert row k, optionally append an event, optionally fail ---- */

typedef struct {
  sf_cmd cmd;
  char key[32];
  int fail; /* return -409 after writing */
  int with_event;
  int sleep_ms;        /* hold the writer so later commands queue into one batch */
  _Atomic int *latch;  /* or hold it until the test sets *latch */
  _Atomic int started; /* set when run begins: the writer has taken the command */
  _Atomic int *done_count;
  int rc;
} test_cmd;

static int t_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  test_cmd *t = (test_cmd *)c;
  atomic_store(&t->started, 1);
  if (t->sleep_ms) usleep((useconds_t)t->sleep_ms * 1000);
  for (int i = 0; t->latch && !atomic_load(t->latch) && i < 10000; i++) usleep(1000);
  sf_stmt *st = sf_db_prepare(tx->db, "INSERT INTO t(k, v) VALUES(?, 1)", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, t->key);
  if (sf_stmt_run(st, err)) return -1;
  if (t->with_event) {
    char stream[48];
    snprintf(stream, sizeof stream, "s-%s", t->key);
    json_t *d = json_pack("{s:s}", "k", t->key);
    int rc = sf_ev_append(tx, stream, SF_EV_ANY_VERSION, "test.happened", d, NULL, NULL, err);
    json_decref(d);
    if (rc) return rc;
  }
  if (t->fail) return sf_err_conflict(err, "told to fail");
  return 0;
}

static void t_done(sf_cmd *c, int rc) {
  test_cmd *t = (test_cmd *)c;
  t->rc = rc;
  if (t->done_count) atomic_fetch_add(t->done_count, 1);
}

static test_cmd *new_cmd(const char *key) {
  test_cmd *t = calloc(1, sizeof *t);
  t->cmd.run = t_run;
  t->cmd.done = t_done;
  snprintf(t->key, sizeof t->key, "%s", key);
  return t;
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

/* Transactions committed so far, from the writer's metrics. */
static long commits(void) {
  char *m = sf_metrics_render();
  const char *p = strstr(m, "\nsf_writer_commits_total ");
  long n = p ? strtol(p + strlen("\nsf_writer_commits_total "), NULL, 10) : -1;
  free(m);
  return n;
}

static void wait_for(_Atomic int *counter, int n) {
  for (int i = 0; i < 5000 && atomic_load(counter) < n; i++) usleep(1000);
  assert_int_equal(atomic_load(counter), n);
}

/* A failed command rolls back alone; its batch-mates commit. */
static void test_failed_command_isolated(void **state) {
  (void)state;
  _Atomic int done = 0;
  _Atomic int latch = 0;
  test_cmd *hold = new_cmd("hold"), *a = new_cmd("a"), *b = new_cmd("b"), *c = new_cmd("c");
  hold->latch = &latch;
  b->fail = 1;
  b->with_event = a->with_event = c->with_event = 1;
  test_cmd *all[] = {hold, a, b, c};
  long c0 = commits();
  for (int i = 0; i < 4; i++) {
    all[i]->done_count = &done;
    assert_int_equal(sf_writer_submit(&all[i]->cmd), 0);
  }
  atomic_store(&latch, 1); /* a, b, c are queued behind hold: they form one batch */
  wait_for(&done, 4);
  /* a, b, c were queued while hold ran (or together with it): at most two
   * transactions, so b failed inside the transaction that committed a and c */
  long txs = commits() - c0;
  assert_true(txs >= 1 && txs <= 2);
  assert_int_equal(a->rc, 0);
  assert_int_equal(b->rc, -409);
  assert_int_equal(b->cmd.err.status, 409);
  assert_int_equal(c->rc, 0);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k IN ('a','c','hold')"), 3);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k = 'b'"), 0);
  /* b's event was rolled back without leaving a gap in positions */
  assert_int_equal(count_rows("SELECT count(*) FROM events WHERE stream = 's-b'"), 0);
  assert_int_equal(count_rows("SELECT max(position) - count(*) FROM events"), 0);
  for (int i = 0; i < 4; i++) free(all[i]);
}

typedef struct {
  int base;
  _Atomic int *done;
  test_cmd **cmds;
} submitter;

static void *submit_many(void *arg) {
  submitter *s = arg;
  for (int i = 0; i < 125; i++) {
    char key[32];
    snprintf(key, sizeof key, "m%d", s->base + i);
    test_cmd *t = new_cmd(key);
    t->with_event = 1;
    t->done_count = s->done;
    s->cmds[s->base + i] = t;
    assert_int_equal(sf_writer_submit(&t->cmd), 0);
  }
  return NULL;
}

/* Many concurrent commands: all commit, grouped into fewer transactions. */
static void test_group_commit(void **state) {
  (void)state;
  _Atomic int done = 0;
  test_cmd *cmds[500];
  long c0 = commits();
  test_cmd *hold = new_cmd("hold2");
  hold->sleep_ms = 200; /* long enough for the submitters to queue up even on a loaded machine (ASan, CI) */
  hold->done_count = &done;
  sf_writer_submit(&hold->cmd);
  /* the writer holds hold2 alone in its batch before the others queue (on a
   * loaded machine it once took all 501 in one batch: the thread had not run) */
  for (int i = 0; i < 5000 && !atomic_load(&hold->started); i++) usleep(1000);
  assert_true(atomic_load(&hold->started));
  pthread_t th[4];
  submitter s[4];
  for (int i = 0; i < 4; i++) {
    s[i] = (submitter){.base = i * 125, .done = &done, .cmds = cmds};
    pthread_create(&th[i], NULL, submit_many, &s[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  wait_for(&done, 501);
  for (int i = 0; i < 500; i++) assert_int_equal(cmds[i]->rc, 0);
  /* 501 commands, far fewer transactions: they were grouped */
  long txs = commits() - c0;
  if (!(txs >= 2 && txs < 100)) fprintf(stderr, "group commit: %ld transactions for 501 commands\n", txs);
  assert_true(txs >= 2 && txs < 100);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k LIKE 'm%'"), 500);
  for (int i = 0; i < 500; i++) free(cmds[i]);
  free(hold);
}

static void test_exec_and_stop(void **state) {
  (void)state;
  test_cmd *t = new_cmd("sync");
  assert_int_equal(sf_writer_exec(&t->cmd), 0);
  t->fail = 1;
  snprintf(t->key, sizeof t->key, "sync2");
  assert_int_equal(sf_writer_exec(&t->cmd), -409);
  free(t);
  sf_writer_stop();
  t = new_cmd("late");
  assert_int_equal(sf_writer_submit(&t->cmd), -503);
  free(t);
  sf_err e = {0};
  assert_int_equal(sf_writer_start(unit_db.path, 1024, g_sync, &e), 0);
}

/* A writer metric by name (counters printed as integers or seconds). */
static double metric(const char *name) {
  char *m = sf_metrics_render();
  char key[96];
  snprintf(key, sizeof key, "\n%s ", name);
  const char *p = strstr(m, key);
  double v = p ? strtod(p + strlen(key), NULL) : -1;
  free(m);
  return v;
}

/* Pipelined commits: a command is answered only after a WAL fsync that
 * began after its commit. Sequential commands cannot share a sync, so each
 * one costs at least one; and when done() runs nothing is left undurable. */
static void test_pipelined_sync_before_done(void **state) {
  (void)state;
  assert_true(sf_writer_pipelined());
  double s0 = metric("sf_writer_syncs_total");
  for (int i = 0; i < 20; i++) {
    char key[16];
    snprintf(key, sizeof key, "p%d", i);
    test_cmd *t = new_cmd(key);
    t->with_event = 1;
    assert_int_equal(sf_writer_exec(&t->cmd), 0);
    assert_int_equal(sf_writer_undurable(), 0);
    free(t);
  }
  assert_true(metric("sf_writer_syncs_total") - s0 >= 20);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k LIKE 'p%'"), 20);
}

static void mark(void *ud) { atomic_fetch_add((_Atomic int *)ud, 1); }

/* sf_writer_when_durable: a waiter for a batch not yet committed fires with
 * the sync of that batch, before the batch's commands are answered; one for
 * a batch already durable is refused (the caller goes on at once). */
static void test_when_durable(void **state) {
  (void)state;
  test_cmd *t = new_cmd("wd0");
  assert_int_equal(sf_writer_exec(&t->cmd), 0);
  free(t);
  _Atomic int fired = 0;
  assert_int_equal(sf_writer_when_durable(1, mark, &fired), 0); /* long durable */
  /* the next batch has the next sequence number: commit one and wait for it */
  uint64_t next = 0;
  for (uint64_t s = 1; s < 1000000 && !next; s++)
    if (sf_writer_when_durable(s, mark, &fired)) next = s;
  assert_true(next > 0);
  assert_int_equal(atomic_load(&fired), 0);
  t = new_cmd("wd1");
  assert_int_equal(sf_writer_exec(&t->cmd), 0);
  assert_int_equal(atomic_load(&fired), 1); /* called before done() */
  free(t);
  sf_writer_barrier(); /* nothing undurable: returns */
}

/* writer_sync full: SQLite syncs inside COMMIT, no sync thread, nothing is
 * ever visible before it is durable. */
static void test_full_sync(void **state) {
  (void)state;
  sf_writer_stop();
  sf_err e = {0};
  assert_int_equal(sf_writer_start(unit_db.path, 1024, SF_WRITER_SYNC_FULL, &e), 0);
  assert_false(sf_writer_pipelined());
  double s0 = metric("sf_writer_syncs_total");
  test_cmd *t = new_cmd("full1");
  t->with_event = 1;
  assert_int_equal(sf_writer_exec(&t->cmd), 0);
  assert_int_equal(sf_writer_undurable(), 0);
  assert_true(metric("sf_writer_syncs_total") == s0);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k = 'full1'"), 1);
  free(t);
}

/* Checkpoints run beside the writer, and the WAL still starts over: under
 * steady writes it stays near the threshold instead of growing. */
typedef struct {
  sf_cmd cmd;
  int i;
} blob_cmd;

static int blob_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  blob_cmd *b = (blob_cmd *)c;
  sf_stmt *st = sf_db_prepare(tx->db, "INSERT INTO t(k, v) VALUES(printf('blob%d', ?1), randomblob(3000))", err);
  if (!st) return -1;
  sf_stmt_int(st, 1, b->i);
  return sf_stmt_run(st, err);
}
static void blob_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static void test_checkpoints_bound_the_wal(void **state) {
  (void)state;
  sf_writer_stop();
  sf_sqlite_checkpoint_frames(100);
  sf_err e = {0};
  assert_int_equal(sf_writer_start(unit_db.path, 1024, g_sync, &e), 0);
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", unit_db.path);
  long biggest = 0;
  for (int i = 0; i < 1500; i++) {
    blob_cmd b = {.cmd = {.run = blob_run, .done = blob_done}, .i = i};
    assert_int_equal(sf_writer_exec(&b.cmd), 0);
    FILE *f = fopen(wal, "rb");
    if (f) {
      fseek(f, 0, SEEK_END);
      if (ftell(f) > biggest) biggest = ftell(f);
      fclose(f);
    }
  }
  /* 1500 commits of a row that fills a page (two frames with its parent):
   * without restarts the WAL would pass 3000 frames (12 MB); it starts over
   * every few hundred */
  assert_true(biggest > 0);
  assert_true(biggest < 800L * 4120);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k LIKE 'blob%'"), 1500);
  sf_writer_stop();
  sf_sqlite_checkpoint_frames(0);
  assert_int_equal(sf_writer_start(unit_db.path, 1024, g_sync, &e), 0);
  assert_int_equal(count_rows("SELECT count(*) FROM t WHERE k LIKE 'blob%'"), 1500);
}

/* ---- event store ---- */

typedef struct {
  sf_cmd cmd;
  const char *stream;
  int64_t expected;
  int n;
} append_cmd;

static int a_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  append_cmd *a = (append_cmd *)c;
  for (int i = 0; i < a->n; i++) {
    json_t *d = json_pack("{s:i}", "i", i);
    int rc = sf_ev_append(tx, a->stream, i == 0 ? a->expected : SF_EV_ANY_VERSION, i % 2 ? "test.odd" : "test.even", d,
                          NULL, NULL, err);
    json_decref(d);
    if (rc) return rc;
  }
  return 0;
}
static void a_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static int append(const char *stream, int64_t expected, int n) {
  append_cmd a = {.cmd = {.run = a_run, .done = a_done}, .stream = stream, .expected = expected, .n = n};
  return sf_writer_exec(&a.cmd);
}

static void test_expected_version(void **state) {
  (void)state;
  assert_int_equal(append("ver-1", 0, 2), 0);
  assert_int_equal(append("ver-1", 0, 1), -409);
  assert_int_equal(append("ver-1", 2, 1), 0);
  sf_err e = {0};
  assert_int_equal(sf_ev_stream_version(sf_db_reader(&e), "ver-1", &e), 3);
}

/* Event meta is encoded by hand on the hot path: it must be the JSON jansson
 * would write, whatever the strings hold (and long ones take the fallback). */
typedef struct {
  sf_cmd cmd;
  sf_ev_meta meta;
} meta_cmd;

static int m_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  meta_cmd *m = (meta_cmd *)c;
  return sf_ev_append(tx, "meta-1", SF_EV_ANY_VERSION, "test.meta", NULL, &m->meta, NULL, err);
}

/* The writer remembers stream versions. A failed command's appends are
 * forgotten with it, and an append made by another process (here: another
 * connection, while the writer is between batches) is found again rather
 * than refused or skipped. */
static void test_stream_versions_after_rollback_and_outside_writes(void **state) {
  (void)state;
  assert_int_equal(append("vc-1", 0, 2), 0); /* versions 1, 2: remembered */
  test_cmd *t = new_cmd("vc-fail");
  t->with_event = 1;
  t->fail = 1; /* appends to s-vc-fail, then rolls back */
  assert_int_equal(sf_writer_exec(&t->cmd), -409);
  t->fail = 0;
  snprintf(t->key, sizeof t->key, "vc-fail"); /* same stream: must be version 1 again */
  assert_int_equal(sf_writer_exec(&t->cmd), 0);
  free(t);
  assert_int_equal(count_rows("SELECT max(version) FROM events WHERE stream = 's-vc-fail'"), 1);

  sf_err e = {0};
  sf_db *other = sf_db_open(unit_db.path, SF_SQLITE_CHECKPOINT, &e); /* a second read-write connection */
  assert_non_null(other);
  assert_int_equal(sf_db_exec(other,
                              "INSERT INTO events(position, stream, version, type, id, data, meta, at, hash)"
                              " SELECT max(position) + 1, 'vc-1', 3, 'test.outside', 'evt_outside', '{}', '{}', 0, ''"
                              " FROM events",
                              &e),
                   0);
  sf_db_close(other);
  assert_int_equal(append("vc-1", SF_EV_ANY_VERSION, 1), 0); /* not 3 again: 4 */
  assert_int_equal(count_rows("SELECT max(version) FROM events WHERE stream = 'vc-1'"), 4);
  assert_int_equal(count_rows("SELECT count(*) FROM events WHERE stream = 'vc-1'"), 4);
  assert_int_equal(append("vc-1", 4, 1), 0); /* the expected version is the true one */
  assert_int_equal(append("vc-1", 4, 1), -409);
}

static void test_meta_encoding(void **state) {
  (void)state;
  char longer[2000];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  const sf_ev_meta cases[] = {
      {NULL, NULL, NULL},
      {"usr_1", "req \"quoted\" \\ back", NULL},
      {"a\nb\tc\rd\be\ff\x01g\x1fh", NULL, "00-abc-def-01"},
      {"", "", ""},
      {"usr_\xc3\xa9", longer, "tp"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    meta_cmd m = {.cmd = {.run = m_run, .done = a_done}, .meta = cases[i]};
    assert_int_equal(sf_writer_exec(&m.cmd), 0);
    sf_err e = {0};
    sf_db *db = sf_db_open(unit_db.path, SF_DB_READ, &e);
    sf_stmt *st =
        sf_db_prepare(db, "SELECT meta FROM events WHERE stream = 'meta-1' ORDER BY version DESC LIMIT 1", &e);
    assert_int_equal(sf_stmt_step(st, &e), 1);
    json_t *want = json_object();
    json_object_set_new(want, "actor", json_string(cases[i].actor && *cases[i].actor ? cases[i].actor : "system"));
    if (cases[i].request_id && *cases[i].request_id)
      json_object_set_new(want, "request_id", json_string(cases[i].request_id));
    if (cases[i].traceparent && *cases[i].traceparent)
      json_object_set_new(want, "traceparent", json_string(cases[i].traceparent));
    char *want_s = json_dumps(want, JSON_COMPACT);
    assert_string_equal(sf_stmt_col_text(st, 0), want_s);
    free(want_s);
    json_decref(want);
    sf_stmt_reset(st);
    sf_db_close(db);
  }
}

static void tamper(const char *sql) {
  sf_err e = {0};
  sf_db *db = sf_db_open(unit_db.path, SF_DB_WRITE, &e);
  assert_int_equal(sf_db_exec(db, sql, &e), 0);
  sf_db_close(db);
}

static void test_hash_chain(void **state) {
  (void)state;
  assert_int_equal(append("chain", SF_EV_ANY_VERSION, 10), 0);
  sf_err e = {0};
  sf_db *db = sf_db_open(unit_db.path, SF_DB_READ, &e);
  int64_t n = 0;
  assert_int_equal(sf_ev_verify(db, &n, &e), 0);
  assert_true(n >= 10);
  sf_db_close(db);
  tamper("UPDATE events SET data = '{\"i\":99}' WHERE position = 2");
  db = sf_db_open(unit_db.path, SF_DB_READ, &e);
  assert_int_equal(sf_ev_verify(db, &n, &e), -1);
  assert_int_equal(n, 1);
  assert_non_null(strstr(e.detail, "position 2"));
  sf_db_close(db);
}

/* Item savepoints inside one command (as timers and the saga use them):
 * an item rolled back takes its events and the chain head back with it, and
 * the items after it chain on from the head before it. */
static int items_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  (void)c;
  sf_tx_mark mark;
  if (sf_ev_emit(tx, NULL, "item", "a", "test.item", NULL, err)) return -1;
  for (int i = 0; i < 2; i++) {
    if (sf_tx_savepoint(tx, &mark, err)) return -1;
    if (sf_ev_emit(tx, NULL, "item", "b", "test.item", NULL, err)) return -1;
    if (i == 0 ? sf_tx_rollback(tx, &mark, err) : sf_tx_release(tx, err)) return -1;
  }
  return sf_ev_emit(tx, NULL, "item", "c", "test.item", NULL, err);
}

static void items_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

static void test_item_rollback_keeps_the_chain(void **state) {
  (void)state;
  assert_int_equal(append("before-items", SF_EV_ANY_VERSION, 2), 0);
  sf_cmd c = {.run = items_run, .done = items_done};
  assert_int_equal(sf_writer_exec(&c), 0);
  assert_int_equal(count_rows("SELECT count(*) FROM events WHERE stream LIKE 'item-%'"), 3);
  assert_int_equal(count_rows("SELECT max(version) FROM events WHERE stream = 'item-b'"), 1);
  assert_int_equal(append("after-items", SF_EV_ANY_VERSION, 1), 0);
  sf_err e = {0};
  sf_db *db = sf_db_open(unit_db.path, SF_DB_READ, &e);
  int64_t n = 0;
  assert_int_equal(sf_ev_verify(db, &n, &e), 0); /* contiguous positions, every hash chained */
  assert_int_equal(n, 6);
  sf_db_close(db);
}

/* The chain format is a persistent contract: this digest was computed
 * independently (Python hashlib over "prev|pos|len:stream|version|len:type|
 * len:id|at|len:data|len:meta"). */
static void test_hash_format_is_stable(void **state) {
  (void)state;
  char prev[65];
  memset(prev, '0', 64);
  prev[64] = '\0';
  sf_event ev = {.position = 7,
                 .stream = "user-1",
                 .version = -3,
                 .type = "t.x",
                 .id = "evt_1",
                 .data = "{\"a\":1}",
                 .meta = "{}",
                 .at = 1700000000123};
  char h[65];
  sf_ev_hash(prev, &ev, h);
  assert_string_equal(h, "cdf8a86ab63cacaf37362743485081c598d39cef5da5261acc3bacc14299eba6");
}

static void test_hash_sensitive(void **state) {
  (void)state;
  sf_event ev = {
      .position = 1, .stream = "s", .version = 1, .type = "t", .id = "evt_1", .data = "{}", .meta = "{}", .at = 5};
  char h1[65], h2[65];
  sf_ev_hash("0", &ev, h1);
  sf_ev_hash("0", &ev, h2);
  assert_string_equal(h1, h2);
  sf_event v = ev;
  v.at = 6;
  sf_ev_hash("0", &v, h2);
  assert_string_not_equal(h1, h2);
  v = ev;
  v.stream = "s2";
  sf_ev_hash("0", &v, h2);
  assert_string_not_equal(h1, h2);
  sf_ev_hash("1", &ev, h2);
  assert_string_not_equal(h1, h2);
  /* moving a character between fields must change the hash */
  sf_event a = ev, b = ev;
  a.stream = "ab";
  a.type = "c";
  b.stream = "a";
  b.type = "bc";
  sf_ev_hash("0", &a, h1);
  sf_ev_hash("0", &b, h2);
  assert_string_not_equal(h1, h2);
}

/* ---- dispatcher ---- */

static _Atomic int64_t g_applied_last;
static _Atomic int g_applied, g_out_of_order, g_resets;

static int sub_apply(sf_tx *tx, const sf_event *ev, sf_err *err) {
  (void)tx, (void)err;
  if (ev->position <= atomic_load(&g_applied_last)) atomic_fetch_add(&g_out_of_order, 1);
  atomic_store(&g_applied_last, ev->position);
  atomic_fetch_add(&g_applied, 1);
  return 0;
}
static int sub_reset(sf_tx *tx, sf_err *err) {
  (void)tx, (void)err;
  atomic_store(&g_applied_last, 0);
  atomic_store(&g_applied, 0);
  atomic_fetch_add(&g_resets, 1);
  return 0;
}
static const sf_subscriber k_sub = {.name = "test_sub", .apply = sub_apply, .reset = sub_reset};

static _Atomic int g_live;
static void live_notify(const sf_event *ev) { (void)ev, atomic_fetch_add(&g_live, 1); }
static const sf_subscriber k_live = {.name = "live", .notify = live_notify};

static int64_t head(void) {
  sf_err e = {0};
  return sf_ev_head(sf_db_reader(&e), &e);
}

static void wait_checkpoint(const char *name, int64_t want) {
  sf_err e = {0};
  for (int i = 0; i < 5000 && sf_dispatch_checkpoint(name, &e) != want; i++) usleep(1000);
  assert_int_equal(sf_dispatch_checkpoint(name, &e), want);
}

static void test_dispatcher(void **state) {
  (void)state;
  atomic_store(&g_applied_last, 0); /* the test runs once per sync mode */
  atomic_store(&g_applied, 0);
  atomic_store(&g_out_of_order, 0);
  atomic_store(&g_resets, 0);
  atomic_store(&g_live, 0);
  sf_dispatch_clear();
  sf_dispatch_register(&k_sub);
  sf_dispatch_register(&k_live);
  sf_dispatch_register(&sf_event_stats_subscriber);
  sf_err e = {0};
  int64_t before = head();
  assert_int_equal(sf_dispatch_start(&e), 0);
  wait_checkpoint("test_sub", before); /* catches up on what existed */
  assert_int_equal(atomic_load(&g_applied), before);
  assert_int_equal(append("disp", SF_EV_ANY_VERSION, 1200), 0); /* > one dispatcher batch */
  wait_checkpoint("test_sub", before + 1200);
  assert_int_equal(atomic_load(&g_applied), before + 1200);
  assert_int_equal(atomic_load(&g_out_of_order), 0);
  for (int i = 0; i < 5000 && atomic_load(&g_live) < 1200; i++) usleep(1000);
  assert_int_equal(atomic_load(&g_live), 1200); /* live: only events after start */

  /* offline: events appended without a dispatcher are caught up later, once */
  sf_dispatch_stop();
  assert_int_equal(append("disp2", SF_EV_ANY_VERSION, 30), 0);
  assert_int_equal(atomic_load(&g_applied), before + 1200);
  assert_int_equal(sf_dispatch_start(&e), 0);
  wait_checkpoint("test_sub", before + 1230);
  assert_int_equal(atomic_load(&g_applied), before + 1230);
  assert_int_equal(atomic_load(&g_out_of_order), 0);
  wait_checkpoint("event_stats", before + 1230);
  sf_dispatch_stop();

  /* replay rebuilds from position 0 */
  assert_int_equal(sf_dispatch_replay("test_sub", &e), 0);
  assert_int_equal(atomic_load(&g_resets), 1);
  assert_int_equal(atomic_load(&g_applied), before + 1230);
  assert_int_equal(atomic_load(&g_out_of_order), 0);
  assert_int_equal(sf_dispatch_replay("nope", &e), -404);

  /* the event_stats projection counts every event by type, also after a replay */
  int64_t odd = count_rows("SELECT count(*) FROM events WHERE type = 'test.odd'");
  assert_int_equal(count_rows("SELECT count FROM event_type_stats WHERE type = 'test.odd'"), odd);
  tamper("UPDATE event_type_stats SET count = 0");
  assert_int_equal(sf_dispatch_replay("event_stats", &e), 0);
  assert_int_equal(count_rows("SELECT count FROM event_type_stats WHERE type = 'test.odd'"), odd);
}

/* One pass advances every subscriber in one writer command, each in its own
 * savepoint: one that refuses an event rolls back alone, the others move. */
static int refuse_apply(sf_tx *tx, const sf_event *ev, sf_err *err) {
  (void)tx, (void)ev;
  return sf_err_set(err, 422, "refused", "Refused", "this subscriber refuses every event");
}
static const sf_subscriber k_refuses = {.name = "test_refuses", .apply = refuse_apply};

static void test_dispatch_pass_isolates_a_failing_subscriber(void **state) {
  (void)state;
  atomic_store(&g_applied_last, 0);
  atomic_store(&g_applied, 0);
  sf_dispatch_clear();
  sf_dispatch_register(&k_refuses);
  sf_dispatch_register(&k_sub);
  sf_dispatch_register(&sf_event_stats_subscriber);
  assert_int_equal(append("iso", SF_EV_ANY_VERSION, 10), 0);
  sf_err e = {0};
  int64_t now = head();
  assert_int_equal(sf_dispatch_catch_up(&e), -1);
  assert_int_equal(e.status, 422);
  assert_string_equal(e.detail, "this subscriber refuses every event");
  assert_int_equal(sf_dispatch_checkpoint("test_refuses", &e), 0);
  assert_int_equal(sf_dispatch_checkpoint("test_sub", &e), now);
  assert_int_equal(sf_dispatch_checkpoint("event_stats", &e), now);
  assert_int_equal(atomic_load(&g_applied), now);
  sf_dispatch_clear();
}

int main(void) {
  /* the writer's behaviour under both sync modes */
  const struct CMUnitTest both[] = {
      cmocka_unit_test_setup_teardown(test_failed_command_isolated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_exec_and_stop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checkpoints_bound_the_wal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expected_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_versions_after_rollback_and_outside_writes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_item_rollback_keeps_the_chain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dispatcher, setup, teardown),
  };
  g_sync = SF_WRITER_SYNC_FULL;
  int failed = cmocka_run_group_tests_name("writer_sync=full", both, NULL, NULL);
  g_sync = SF_WRITER_SYNC_PIPELINED;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_failed_command_isolated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_exec_and_stop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipelined_sync_before_done, setup, teardown),
      cmocka_unit_test_setup_teardown(test_when_durable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_sync, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checkpoints_bound_the_wal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expected_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_versions_after_rollback_and_outside_writes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hash_chain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_meta_encoding, setup, teardown),
      cmocka_unit_test(test_hash_format_is_stable),
      cmocka_unit_test(test_hash_sensitive),
      cmocka_unit_test_setup_teardown(test_dispatcher, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dispatch_pass_isolates_a_failing_subscriber, setup, teardown),
  };
  return failed + cmocka_run_group_tests_name("writer_sync=pipelined", tests, NULL, NULL);
}
