/* The writer: one thread owns the write connection and runs group commit.
 *
 * Commands are queued from any thread. The writer takes up to max_batch of
 * them, opens one transaction, runs each inside its own SAVEPOINT (a failed
 * command rolls back alone), commits once, and calls every command's done()
 * only once the commit is on disk: nothing is acknowledged before it is
 * durable.
 *
 * The writer is generic: its connection, the durability of a COMMIT and
 * the work between batches (SQLite: checkpoints) are its backend's
 * (store/backend.h, writer_* operations); state kept beside the database
 * that must follow each transaction's fate (the event store's chain head)
 * joins through sf_writer_on_tx.
 *
 * Two ways to get there (SF_WRITER_SYNC_*):
 *   full       (default) a COMMIT is durable when it returns (SQLite's
 *              synchronous=FULL fsyncs the WAL), and the writer waits for
 *              the disk before the next batch.
 *   pipelined  a COMMIT returns before it is durable (SQLite:
 *              synchronous=NORMAL) and a sync thread makes it so (the
 *              backend's writer_sync; SQLite fsyncs the WAL through
 *              store/sqlite/wal_vfs.c) while the writer already runs the
 *              next batch; one sync covers every batch committed before it.
 *              A backend that cannot falls back to full.
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
 * for space the backend is told (SQLite checkpoints and truncates the WAL,
 * so the space the WAL held comes back by itself where the database file
 * can take its pages).
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
  const char *broadcast; /* sf_tx_after_commit_all: the hook's name; NULL: this process only */
  char key[64];
} sf_tx_after;

typedef struct sf_tx {
  sf_db *db;
  int64_t now_ms; /* one timestamp for the whole command */
  /* after-commit hooks (e.g. cache invalidation), owned by the writer */
  sf_tx_after *after;
  int nafter, cap_after;
} sf_tx;

/* Runs fn(ud, key) after this transaction commits and is durable, before
 * any command's done(); dropped if the command rolls back or the commit
 * fails. */
void sf_tx_after_commit(sf_tx *tx, sf_tx_hook fn, void *ud, const char *key);

/* Cluster-wide after-commit hooks. Instances that share one database
 * (PostgreSQL) each keep things in memory that another's commit makes stale:
 * a user's or product's JSON, whether a session still stands, templates,
 * webhook subscriptions, when the next timer is due. Such a hook is
 * registered by name at startup (static name, at most 32 hooks; a name
 * registered again replaces its function). sf_tx_after_commit_all queues it
 * like sf_tx_after_commit (it runs here once the commit is durable) and also
 * hands (name, key) to the publisher, which sends it to the other instances
 * inside the same transaction (events/cluster.c: PostgreSQL NOTIFY), where
 * sf_writer_broadcast_run runs it. Hooks must accept key "*": everything
 * (what a receiver runs after it may have missed messages). Without a
 * publisher (SQLite, one process) it is exactly sf_tx_after_commit. */
void sf_writer_broadcast_register(const char *name, sf_tx_hook fn, void *ud);
void sf_tx_after_commit_all(sf_tx *tx, const char *name, const char *key);
/* Runs the hook registered as name with key (any thread); -1: no such name. */
int sf_writer_broadcast_run(const char *name, const char *key);
/* Runs every registered hook with key "*". */
void sf_writer_broadcast_everything(void);
/* Tells the other instances of a batch before its COMMIT, on the writer
 * thread, inside the transaction: head is the chain head the batch leaves
 * when it appended events (0: none), after[0..n) its hooks (the broadcast
 * ones have a name). Called only when head > 0 or a broadcast hook is
 * queued. Non-zero with err fails the batch like a failed COMMIT. */
typedef int (*sf_writer_publish_fn)(sf_db *db, int64_t head, const sf_tx_after *after, int n, sf_err *err);
void sf_writer_on_publish(sf_writer_publish_fn fn);
/* Another instance committed events up to head: the commit hook
 * (sf_writer_on_commit) runs with it as after a commit of this process.
 * Any thread. */
void sf_writer_foreign_commit(int64_t head);

/* A savepoint inside a command, for commands that apply many independent
 * items (timers, saga results): a failed item rolls back alone, and the
 * after-commit hooks and the participants' state (sf_writer_on_tx: the
 * event-chain head) go back with it. Not nestable. */
typedef struct sf_tx_mark {
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

/* A participant in every transaction: state kept beside the database that
 * must follow the transaction's fate (events/store.c keeps the event
 * chain's head so). One participant; register before sf_writer_start (NULL
 * removes it). All run on the writer thread, none may fail:
 *   start        sf_writer_start: anything cached may be stale (another
 *                process may have written meanwhile);
 *   begin        a batch's transaction began;
 *   savepoint    a savepoint of level SF_DB_SAVEPOINT_CMD (each command) or
 *                SF_DB_SAVEPOINT_ITEM (sf_tx_savepoint) was set;
 *   rollback_to  the transaction went back to that savepoint;
 *   rollback     the whole transaction rolled back (the batch failed);
 *   commit       COMMIT returned: the value for the commit hook once the
 *                batch is durable (0: none). */
typedef struct sf_writer_tx_hooks {
  void (*start)(void *ud);
  void (*begin)(void *ud);
  void (*savepoint)(void *ud, int level);
  void (*rollback_to)(void *ud, int level);
  void (*rollback)(void *ud);
  int64_t (*commit)(void *ud);
} sf_writer_tx_hooks;
void sf_writer_on_tx(const sf_writer_tx_hooks *hooks, void *ud);

/* Called after each commit whose participant reported a value (the event
 * store: the chain head, when the batch appended events), once it is
 * durable (on the writer thread with full sync, on the sync thread when
 * pipelined). */
typedef void (*sf_writer_commit_hook)(int64_t head_position, void *ud);
void sf_writer_on_commit(sf_writer_commit_hook fn, void *ud);

#endif
