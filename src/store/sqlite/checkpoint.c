#define _GNU_SOURCE /* pthread_setname_np */
#include "store/sqlite/checkpoint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/sqlite/sqlite.h"

static struct checkpoint_state {
  sf_db *db; /* the writer's connection */
  pthread_t checkpointer;
  pthread_mutex_t cmu;
  pthread_cond_t ccv;
  int copen, cstarted;
  atomic_int ckpt_due;     /* the thread has been asked for a pass and not finished it */
  atomic_int ckpt_passes;  /* passes finished (the thread writes, the writer reads) */
  int frames;              /* frames in the WAL after the last commit (writer thread) */
  int passes_seen;         /* ckpt_passes when the writer last finished a checkpoint */
  int tail_frames;         /* WAL frames when it did (0: no check pending) */
  uint64_t tail_failed_ns; /* when the WAL did not restart after it (0: it did) */
  uint64_t cap_retry_ns;   /* emptying the WAL at its cap failed: not again before (0: none) */
  int cap_backoff_ms;
  uint64_t reclaimed_ns; /* when the WAL was last emptied after a write failed for space */
  /* frames (pages) the writer's commits appended to the WAL: what a write
   * costs in I/O, read by /metrics from any thread */
  _Atomic unsigned long long frames_written;
} ckpt = {.cmu = PTHREAD_MUTEX_INITIALIZER, .ccv = PTHREAD_COND_INITIALIZER};

/* Checkpoints copy WAL frames into the database file. SQLite would run
 * them inside the COMMIT that crosses wal_autocheckpoint, on the writer
 * (they took a twelfth of its time under load). Here a thread with its own
 * connection runs PASSIVE checkpoints beside the writer (WAL mode allows a
 * checkpointer concurrently with the writer and readers; it syncs the WAL
 * before copying and the database file after). Under steady writes such a
 * pass never catches up with the end of the WAL, and SQLite starts the WAL
 * over only when everything in it has been copied; so after each pass of
 * the thread the writer, between two transactions, copies the short tail
 * written meanwhile itself, and its next transaction restarts the WAL.
 *
 * That alone did not bound the WAL under sustained load (63 MB in a 4-minute
 * soak): a pass copying ~20 MB is slower than the writes that go on beside
 * it, and readers that began before the tail was copied still read the WAL
 * when the next transaction starts, so it does not start over then either
 * (SQLite restarts the WAL only when no reader uses it). And its file never
 * shrank again: journal_size_limit was 64 MB. So now a WAL that passes 1.4
 * times the threshold is emptied by the writer itself with a TRUNCATE
 * checkpoint, which waits for the thread's pass and for those readers (new
 * readers then read the database file, not the WAL): writes wait instead of
 * the WAL growing. And the file is cut back to the threshold whenever the
 * WAL starts over. */
static int checkpoint_frames = 10000; /* with 2 KiB pages a WAL of ~20 MB */

#define CAP_WAIT_MS 250
static int wal_cap_frames(void) { return checkpoint_frames + checkpoint_frames * 2 / 5; }

void sf_sqlite_checkpoint_frames(int frames) { checkpoint_frames = frames > 0 ? frames : 10000; }

static void on_wal_commit(void *ud, int frames) {
  (void)ud;
  /* frames is the WAL's length after the commit: smaller than before when
   * the commit started it over */
  int added = frames >= ckpt.frames ? frames - ckpt.frames : frames;
  atomic_fetch_add_explicit(&ckpt.frames_written, (unsigned long long)added, memory_order_relaxed);
  ckpt.frames = frames;
  if (ckpt.tail_frames) { /* the commit after the writer's checkpoint: did the WAL start over? */
    ckpt.tail_failed_ns = frames < ckpt.tail_frames ? 0 : sf_mono_ns();
    ckpt.tail_frames = 0;
  }
}

static void collect(sf_buf *b) {
  sf_buf_printf(b,
                "# HELP sf_writer_wal_frames_total Pages the writer's commits appended to the WAL.\n"
                "# TYPE sf_writer_wal_frames_total counter\n"
                "sf_writer_wal_frames_total %llu\n",
                atomic_load_explicit(&ckpt.frames_written, memory_order_relaxed));
}

/* Empties the WAL on the writer (between two transactions): waits up to
 * wait_ms for the thread's pass and for readers still in the WAL. */
static int empty_wal(int wait_ms) {
  sf_err e = {0};
  int rc = sf_sqlite_wal_truncate(ckpt.db, wait_ms, &e);
  if (rc < 0) sf_log_warn("checkpoint failed", "\"detail\":\"%s\"", e.detail);
  if (rc) return rc;
  ckpt.frames = 0;
  ckpt.tail_frames = 0;
  ckpt.tail_failed_ns = 0;
  /* a pass the thread was asked for has run or runs on an empty WAL:
   * count it as seen, so the writer does not copy a tail it did not send */
  pthread_mutex_lock(&ckpt.cmu);
  ckpt.passes_seen = atomic_load(&ckpt.ckpt_passes) + atomic_load(&ckpt.ckpt_due);
  pthread_mutex_unlock(&ckpt.cmu);
  return 0;
}

/* SQLite refuses a second checkpoint at once (SQLITE_BUSY, no busy handler)
 * while the thread's pass runs, which under a loaded machine can take longer
 * than the writes that overrun the cap: so the writer first waits (up to
 * wait_ms) for a pass in progress, and a refusal after that means readers. */
static void wait_for_pass(int wait_ms) {
  struct timespec until = sf_deadline_ms(wait_ms);
  pthread_mutex_lock(&ckpt.cmu);
  while (atomic_load(&ckpt.ckpt_due) && ckpt.copen)
    if (pthread_cond_timedwait(&ckpt.ccv, &ckpt.cmu, &until) != 0) break;
  pthread_mutex_unlock(&ckpt.cmu);
}

/* The WAL passed its cap: the writer waits up to 250 ms for readers still
 * in it (the stall is everyone's). When they keep it, a long reader (a
 * report, a backup) is likely: the next wait comes 100 ms later, then
 * 200 ms, ... up to 5 s, so the writer stalls a twentieth of the time at
 * most; meanwhile it tries after every commit without waiting (with a
 * reader pinning the WAL there is nothing to copy: a few lock calls), so
 * the WAL empties as soon as the reader is done. */
static void hold_wal_at_cap(void) {
  uint64_t now = sf_mono_ns();
  int wait = !ckpt.cap_retry_ns || now >= ckpt.cap_retry_ns;
  if (wait) wait_for_pass(CAP_WAIT_MS);
  int rc = empty_wal(wait ? CAP_WAIT_MS : 0);
  if (rc == 0) {
    ckpt.cap_retry_ns = 0;
    ckpt.cap_backoff_ms = 0;
    return;
  }
  if (!wait) return;
  ckpt.cap_backoff_ms = ckpt.cap_backoff_ms ? ckpt.cap_backoff_ms * 2 : 100;
  if (ckpt.cap_backoff_ms > 5000) ckpt.cap_backoff_ms = 5000;
  ckpt.cap_retry_ns = sf_mono_ns() + (uint64_t)ckpt.cap_backoff_ms * 1000000u;
  if (rc > 0)
    sf_log_warn("WAL over its cap: readers keep it", "\"frames\":%d,\"retry_ms\":%d", ckpt.frames, ckpt.cap_backoff_ms);
}

void sf_ckpt_after_batch(void) {
  if (ckpt.cstarted && ckpt.frames >= wal_cap_frames()) {
    hold_wal_at_cap();
    return;
  }
  if (!ckpt.cstarted || ckpt.frames < checkpoint_frames || atomic_load(&ckpt.ckpt_due)) return;
  int passes = atomic_load(&ckpt.ckpt_passes);
  /* the thread copied the bulk: finish the tail here (after a tail that did
   * not let the WAL restart, e.g. under a long reader, wait 50 ms, and do
   * not send the thread round again meanwhile either) */
  if (passes != ckpt.passes_seen) {
    if (ckpt.tail_failed_ns && sf_mono_ns() - ckpt.tail_failed_ns <= 50000000ull) return;
    ckpt.tail_frames = ckpt.frames;
    sf_err e = {0};
    if (sf_db_exec(ckpt.db, "PRAGMA wal_checkpoint(PASSIVE)", &e))
      sf_log_warn("checkpoint failed", "\"detail\":\"%s\"", e.detail);
    ckpt.passes_seen = passes;
    ckpt.frames = 0;
    return;
  }
  pthread_mutex_lock(&ckpt.cmu);
  atomic_store(&ckpt.ckpt_due, 1);
  pthread_cond_signal(&ckpt.ccv);
  pthread_mutex_unlock(&ckpt.cmu);
}

static void *checkpointer_main(void *arg) {
  sf_db *db = arg;
  pthread_setname_np(pthread_self(), "sf-checkpoint");
  for (;;) {
    pthread_mutex_lock(&ckpt.cmu);
    while (!atomic_load(&ckpt.ckpt_due) && ckpt.copen) pthread_cond_wait(&ckpt.ccv, &ckpt.cmu);
    int go = ckpt.copen;
    pthread_mutex_unlock(&ckpt.cmu);
    if (!go) break;
    sf_err e = {0};
    if (sf_db_exec(db, "PRAGMA wal_checkpoint(PASSIVE)", &e))
      sf_log_warn("checkpoint failed", "\"detail\":\"%s\"", e.detail);
    pthread_mutex_lock(&ckpt.cmu); /* both at once for empty_wal */
    atomic_store(&ckpt.ckpt_passes, atomic_load(&ckpt.ckpt_passes) + 1);
    atomic_store(&ckpt.ckpt_due, 0);
    pthread_cond_broadcast(&ckpt.ccv); /* a writer at the WAL's cap waits for the pass */
    pthread_mutex_unlock(&ckpt.cmu);
  }
  sf_db_close(db);
  return NULL;
}

/* A write failed for space: empty the WAL into the database file (at most
 * once a second), which frees the WAL's space wherever the database file
 * has room for its pages (most of a WAL rewrites pages the file has). */
void sf_ckpt_after_full(void) {
  uint64_t now = sf_mono_ns();
  if (ckpt.reclaimed_ns && now - ckpt.reclaimed_ns < 1000000000ull) return;
  ckpt.reclaimed_ns = now;
  int rc = empty_wal(200);
  sf_log_warn("disk full: WAL checkpointed", "\"emptied\":%s", rc == 0 ? "true" : "false");
}

/* When the WAL starts over, its file is cut back to the checkpoint
 * threshold (it kept its largest size before, up to 64 MB). */
static void limit_wal_file(void) {
  sf_err e = {0};
  sf_stmt *st = sf_db_prepare(ckpt.db, "PRAGMA page_size", &e);
  int64_t page = st && sf_stmt_step(st, &e) == 1 ? sf_stmt_col_int(st, 0) : 4096;
  if (st) sf_stmt_reset(st);
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA journal_size_limit=%lld", (long long)((page + 24) * checkpoint_frames));
  if (sf_db_exec(ckpt.db, sql, &e)) sf_log_warn("journal_size_limit not set", "\"detail\":\"%s\"", e.detail);
}

/* Without the thread the writer keeps SQLite's automatic checkpoints. */
void sf_ckpt_start(sf_db *writer_db, const char *path) {
  ckpt.db = writer_db;
  ckpt.reclaimed_ns = 0;
  sf_err e = {0};
  sf_db *db = sf_db_open(path, SF_SQLITE_CHECKPOINT, &e);
  if (!db) {
    sf_log_warn("no checkpoint connection: the writer checkpoints", "\"detail\":\"%s\"", e.detail);
    return;
  }
  ckpt.copen = 1;
  atomic_store(&ckpt.ckpt_due, 0);
  atomic_store(&ckpt.ckpt_passes, 0);
  ckpt.passes_seen = 0;
  ckpt.frames = 0;
  ckpt.tail_frames = 0;
  ckpt.tail_failed_ns = 0;
  if (pthread_create(&ckpt.checkpointer, NULL, checkpointer_main, db) != 0) {
    ckpt.copen = 0;
    sf_db_close(db);
    return;
  }
  ckpt.cstarted = 1;
  ckpt.cap_retry_ns = 0;
  ckpt.cap_backoff_ms = 0;
  limit_wal_file();
  sf_sqlite_on_wal_commit(ckpt.db, on_wal_commit, NULL);
  static int collecting;
  if (!collecting++) sf_metrics_add_collector(collect);
}

void sf_ckpt_stop(void) {
  if (!ckpt.cstarted) return;
  sf_sqlite_on_wal_commit(ckpt.db, NULL, NULL);
  pthread_mutex_lock(&ckpt.cmu);
  ckpt.copen = 0;
  pthread_cond_broadcast(&ckpt.ccv);
  pthread_mutex_unlock(&ckpt.cmu);
  pthread_join(ckpt.checkpointer, NULL);
  ckpt.cstarted = 0;
}
