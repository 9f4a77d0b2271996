/* The writer: one thread owns the write connection and runs group commit.
 *
 * Commands are queued from any thread. The writer takes up to max_batch of
 * them, opens one transaction, runs each inside its own SAVEPOINT (a failed
 * command rolls back alone), commits once, and calls every command's done()
 * only once the commit is on disk: nothing is acknowledged before it is
 * durable.
 *
 * Two ways to get there (SF_WRITER_SYNC_*):
 *   full       (default) SQLite's synchronous=FULL: COMMIT fsyncs the WAL itself, and
 *              the writer waits for the disk before the next batch.
 *   pipelined  synchronous=NORMAL plus a sync thread that fsyncs
 *              the WAL (store/wal_vfs.c) while the writer already runs the
 *              next batch; one fsync covers every batch committed before it.
 *              Hooks, the commit hook and done() run after that fsync. A
 *              committed batch is visible to readers before its fsync ends,
 *              so anything that leaves the process on the strength of a read
 *              (an HTTP answer, a webhook, a payment call) first waits for
 *              durability: sf_writer_barrier / sf_writer_when_durable.
 *
 * Storage failures (disk full, I/O errors): a command whose outcome must
 * not be lost (a payment result, a timer firing, a subscriber's advance, a
 * delivery's result) sets retry_storage; when its batch cannot commit, or
 * its run() fails with a storage error (sf_writer_retryable), the writer
 * keeps it and runs it again in a later batch, after 50 ms doubling to 1 s,
 * until it commits; done() is called only then. Other commands get the
 * error in done() (HTTP: 507 / 503 problem+json). After a batch that failed
 * for space the writer checkpoints and truncates the WAL, so the space the
 * WAL held comes back by itself where the database file can take its pages.
 *
 * Ownership: a submitted command belongs to the writer until done() is
 * called; done() may free it. Commands must not block (no network I/O). */
#ifndef SF_STORE_WRITER_H
#define SF_STORE_WRITER_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

typedef void (*sf_tx_hook)(void *ud, const char *key);
typedef struct sf_tx_after {
  sf_tx_hook fn;
  void *ud;
  char key[64];
} sf_tx_after;

typedef struct sf_tx {
  sf_db *db;
  int64_t now_ms; /* one timestamp for the whole command */
  /* The event store's chain head; the event store advances it, the writer
   * saves and restores it around each savepoint. */
  int64_t head_position;
  char head_hash[65];
  /* Changes whenever appended events were rolled back (or a commit failed,
   * or the writer restarted): what was cached about streams since is void. */
  uint64_t epoch;
  /* after-commit hooks (e.g. cache invalidation), owned by the writer */
  sf_tx_after *after;
  int nafter, cap_after;
} sf_tx;

/* Runs fn(ud, key) after this transaction commits and is durable, before
 * any command's done(); dropped if the command rolls back or the commit
 * fails. */
void sf_tx_after_commit(sf_tx *tx, sf_tx_hook fn, void *ud, const char *key);

/* A savepoint inside a command, for commands that apply many independent
 * items (timers, saga results): a failed item rolls back alone, and the
 * event-chain head and after-commit hooks go back with it. Not nestable. */
typedef struct sf_tx_mark {
  int64_t head_position;
  char head_hash[65];
  int nafter;
} sf_tx_mark;
int sf_tx_savepoint(sf_tx *tx, sf_tx_mark *m, sf_err *err);
int sf_tx_release(sf_tx *tx, sf_err *err);
int sf_tx_rollback(sf_tx *tx, const sf_tx_mark *m, sf_err *err); /* to the mark, then release */

typedef struct sf_cmd sf_cmd;
struct sf_cmd {
  /* Runs inside a SAVEPOINT. Non-zero rolls back this command only. */
  int (*run)(sf_cmd *cmd, sf_tx *tx, sf_err *err);
  /* Optional: runs after run() inside the same savepoint, after a rollback
   * to it when run() failed, so its writes survive either way. */
  void (*after)(sf_cmd *cmd, sf_tx *tx, int rc);
  /* After COMMIT (or a failed COMMIT: rc < 0 with err filled). Required. */
  void (*done)(sf_cmd *cmd, int rc);
  /* Set by the submitter: run again after storage failures (see the top).
   * run() and after() must then be safe to run more than once: start from
   * the command's inputs, not from what an earlier attempt left. */
  int retry_storage;
  sf_err err;
  sf_cmd *next_;
};

typedef enum { SF_WRITER_SYNC_PIPELINED = 0, SF_WRITER_SYNC_FULL = 1 } sf_writer_sync;

int sf_writer_start(const char *db_path, int max_batch, sf_writer_sync sync, sf_err *err);
int sf_writer_pipelined(void);
/* WAL size (in frames) at which checkpoints start; set before start. The
 * WAL is held below 1.4 times that (the writer itself then runs a TRUNCATE
 * checkpoint, waiting for readers), and its file is cut back to that bound
 * whenever it starts over (journal_size_limit). */
void sf_writer_checkpoint_frames(int frames);
/* Queues cmd. Returns -503 (and does not take the command) once stopping. */
int sf_writer_submit(sf_cmd *cmd);
/* Runs cmd through the writer and waits for it; returns its rc (err in cmd). */
int sf_writer_exec(sf_cmd *cmd);
/* A storage failure (disk full, I/O error, busy database), which another
 * attempt may get past, rather than a refusal of the command itself. */
int sf_writer_retryable(const sf_err *e);
/* 1 (and *why filled, if not NULL) while the storage is failing: the last
 * batch that had a command fail for space or I/O has not been followed by
 * one that committed a command (meanwhile the writer probes the storage
 * once a second when nothing else is written). For /readyz. Any thread. */
int sf_writer_storage_fault(sf_err *why);
/* Shutdown: from now on commands with retry_storage get a storage failure
 * in done() like any other, so that stopping is not held up by a full disk
 * (what they did not record is recovered at the next start). */
void sf_writer_stop_retrying(void);
/* Finishes every queued command, commits, and stops the thread. */
void sf_writer_stop(void);
int sf_writer_running(void);

/* Durability of what readers can see (pipelined commits; with full sync
 * everything visible is durable and these return at once).
 * sf_writer_undurable: 0 if every batch a reader could see now is on disk,
 * else the sequence number to wait for. sf_writer_when_durable: calls
 * fn(ud) on the sync thread once that batch is on disk and returns 1, or
 * returns 0 (and never calls fn) if it already is. sf_writer_barrier:
 * blocks until everything a reader could have seen before the call is on
 * disk. Read first, then wait, then act. */
uint64_t sf_writer_undurable(void);
int sf_writer_when_durable(uint64_t seq, void (*fn)(void *ud), void *ud);
void sf_writer_barrier(void);

/* Called after each commit that appended events, once it is durable (on the
 * writer thread with full sync, on the sync thread when pipelined). */
typedef void (*sf_writer_commit_hook)(int64_t head_position, void *ud);
void sf_writer_on_commit(sf_writer_commit_hook fn, void *ud);

#endif
