/* The PostgreSQL backend of store/db.h (store/backend.h's table, filled in
 * db_pg.c), chosen by locations "postgres://..." and "postgresql://..."
 * (libpq connection URIs). docs/storage-backends.md says what it does.
 *
 * Files: db_pg.c (connections per role, reconnection, statements,
 * transactions, error mapping), sql.c (the placeholder translation),
 * commit.c (the writer's commit path and the integrity check), pipe.c (the
 * write connection's pipeline), copy.c and
 * copy_rows.c (`serviceflow copy-to-postgres`: copy.h). Only these files
 * include libpq-fe.h.
 *
 * Connections: one libpq connection per sf_db. SF_DB_READ connections are
 * read-only (default_transaction_read_only); SF_DB_WRITE and the writer's
 * connection take the write lock below at each sf_db_begin. A connection
 * that lost its server (restart, pg_terminate_backend, network) connects
 * again at its next use outside a transaction: a BEGIN or a read that
 * meets the loss runs once more on the new session (nothing of theirs was
 * in the old one); inside a transaction every call answers 503
 * "storage-error" until the caller rolls back, and while the server is
 * down each use answers 503 (connect_timeout 5 s).
 *
 * Dialect notes for repositories: a failed statement aborts the
 * transaction up to the innermost savepoint (SQLite only undoes the
 * statement), so code that goes on after a failure rolls back to a
 * savepoint first; booleans read with sf_stmt_col_int are 1/0 as with
 * SQLite; a statement's rows are held whole in memory until reset (no
 * cursor), so whole-table reads should page.
 *
 * Threads: as store/db.h (a connection and its statements belong to one
 * thread at a time; libpq connections share nothing). */
#ifndef SF_STORE_PG_H
#define SF_STORE_PG_H

#include "store/backend.h"

extern const sf_db_backend sf_db_pg_backend;

/* The write lock: a transaction-scoped advisory lock on this key, taken by
 * sf_db_begin (every write transaction of every instance runs one at a
 * time, as SQLite's BEGIN IMMEDIATE makes them) and by the event store
 * before it reads the chain head (events/store.c writes the same number in
 * its SQL). Released by COMMIT or ROLLBACK, after the commit is visible. */
#define SF_PG_WRITE_LOCK 1397118802 /* "SFWR" */

/* Rewrites SQLite-style placeholders into PostgreSQL's: `?` becomes `$n`
 * (one more than the largest number so far, as SQLite numbers them) and
 * `?N` becomes `$N`; text inside '...' strings, "..." identifiers, $tag$
 * strings and comments is copied as is. The numbers are then made dense:
 * SQLite lets a statement leave a number unused (a caller binds ?1 and ?3
 * of a text that names only ?3), but PostgreSQL must type every $n, so the
 * k numbers used become $1..$k in order. Returns the new text (malloc'd,
 * the caller frees); *nslots: the largest SQLite number (what a caller may
 * bind); *slot_to_param (malloc'd, nslots entries, the caller frees): the
 * $k of each SQLite number, 0 for one the text does not use; *nparams: k. */
char *sf_pg_translate(const char *sql, int *nslots, int **slot_to_param, int *nparams);

/* Notifications (listen.c): store/backend.h's listen_* operations. */
sf_db_listener *sf_pg_listen_open(const char *location, const char *channel, sf_err *err);
int sf_pg_listen_wait(sf_db_listener *l, int timeout_ms, sf_db_notify_fn fn, void *ud, sf_err *err);
void sf_pg_listen_close(sf_db_listener *l);

/* The location db was opened with. */
const char *sf_pg_location(sf_db *db);

/* db's libpq connection (a PGconn), for store/pg/copy.c's COPY inside a
 * transaction begun with sf_db_begin on db; NULL when the connection is
 * lost. The caller neither closes it nor leaves it in another state. */
struct pg_conn *sf_pg_conn(sf_db *db);

/* The pipeline of a connection in a transaction (pipe.c). Transaction
 * control (SAVEPOINT, RELEASE) is queued, not sent, and statements whose
 * answer nobody waits for (sf_stmt_run_later) are handed to libpq without
 * waiting; both go to the server with the next statement that needs its
 * answer, in libpq's pipeline mode: one write, one Sync, one wait. A failure
 * of a queued item is reported by that statement (the first failure in the
 * pipeline; what follows it is skipped by the server). Owned by the pg_db
 * it is in, on the connection's thread. */
struct pg_conn;
struct pg_result;
#define SF_PG_PIPE_CTL 8   /* control statements queued before they are handed on */
#define SF_PG_PIPE_SENT 64 /* items in libpq's pipeline before a Sync */
typedef struct {
  struct {
    const char *sql; /* a static text */
    int level;       /* the SF_DB_SAVEPOINT_* it creates or ends */
    int savepoint;   /* 1: SAVEPOINT (creates), 0: RELEASE */
  } ctl[SF_PG_PIPE_CTL];
  int nctl;
  signed char sent[SF_PG_PIPE_SENT]; /* per item in libpq's pipeline: the level its SAVEPOINT creates, -1 */
  int nsent;
} sf_pg_pipe;

void sf_pg_pipe_clear(sf_pg_pipe *p); /* forgets all (a new session) */
int sf_pg_pipe_busy(const sf_pg_pipe *p);
/* The queue's index of the unsent SAVEPOINT of level, -1 when none. */
int sf_pg_pipe_find(const sf_pg_pipe *p, int level);
/* Drops the unsent control statements from index from on. */
void sf_pg_pipe_drop(sf_pg_pipe *p, int from);
/* Drops the unsent control statements of levels deeper than level. */
void sf_pg_pipe_drop_deeper(sf_pg_pipe *p, int level);
/* Queues a control statement; -1 when libpq refused (the connection). */
int sf_pg_pipe_queue(struct pg_conn *c, sf_pg_pipe *p, const char *sql, int level, int savepoint);
/* Hands the queue and then the prepared statement name to libpq without a
 * Sync: 0 sent, 1 the pipeline is full (sync first), -1 libpq refused. */
int sf_pg_pipe_send(struct pg_conn *c, sf_pg_pipe *p, const char *name, int n, const char *const *values);
/* Sends the queue and a final statement (prepared name, or sql without
 * parameters, or neither), a Sync, and reads every answer; leaves pipeline
 * mode. 0: *out = the final's result (NULL without one); -1: an item failed,
 * *out = the first failed result; -2: the connection failed (*out may be
 * NULL). *unset: bits of the levels whose SAVEPOINT did not run. The
 * caller owns *out. */
int sf_pg_pipe_sync(struct pg_conn *c, sf_pg_pipe *p, const char *name, const char *sql, int n,
                    const char *const *values, struct pg_result **out, unsigned *unset);

/* The writer's commit path and the integrity check (commit.c). */
sf_db *sf_pg_writer_open(const char *location, int *pipelined, sf_err *err);
int sf_pg_writer_probe(sf_db *db, sf_err *err);
void sf_pg_writer_close(sf_db *db);
int sf_pg_check(sf_db *db, int budget_ms, char *report, size_t cap, sf_err *err);

#endif
