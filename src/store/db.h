/* Database interface: connections and cached prepared statements.
 *
 * The seam. Services and the event store call only what this header
 * declares; each call goes through the table of operations of the backend
 * that opened the connection (store/backend.h), like Redis's ae.c calling
 * ae_epoll.c. The backend is chosen from the database location when the
 * connection is opened: "<name>://..." picks the backend registered under
 * that name, anything else is a file for the default backend, SQLite
 * (store/sqlite/). Who owns what:
 *   - store/db.c: the registry of backends, the dispatch, the per-thread
 *     readers and the process's "damaged" flag;
 *   - a backend (store/sqlite/): connections, statements, transactions,
 *     its own durability machinery (for SQLite: WAL, checkpoints, PRAGMAs)
 *     reached by the writer through backend operations;
 *   - the writer (store/writer.h): the one write connection, its group
 *     commit and its hooks; the event store (events/store.c) keeps the
 *     event chain's head through those hooks, not here.
 * SQL dialect: statements use `?` placeholders and a portable subset; where
 * a backend needs different SQL, the repository that needs it (a service's
 * repo.c, the event store) chooses (docs/storage-backends.md).
 *
 * Statements are prepared once per connection and cached by the address of
 * their SQL text, so SQL must be a string literal (static storage).
 * Threads: a connection belongs to one thread at a time, and so do the
 * statements it prepared; sf_db_damaged and the registry may be read from
 * any thread. */
#ifndef SF_STORE_DB_H
#define SF_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct sf_db sf_db;
typedef struct sf_stmt sf_stmt;

/* Connection roles. SF_DB_WRITE creates the database if needed. The
 * writer's own connection is opened by the writer through its backend
 * (store/backend.h), not with a role here. A backend may accept roles of
 * its own from 2 up (store/sqlite/sqlite.h). */
enum { SF_DB_READ = 0, SF_DB_WRITE = 1 };

/* Notifications between the processes sharing one database (PostgreSQL
 * LISTEN/NOTIFY; events/cluster.c). sf_db_listen_open opens a connection of
 * its own listening on channel: NULL with err 501 "unsupported" for a
 * backend one process owns (SQLite), 503 when the server cannot be reached.
 * sf_db_listen_wait waits up to timeout_ms and hands each notification's
 * payload to fn (on the calling thread, in the order they committed):
 * returns how many (0 on timeout), -1 with err when the connection was lost
 * (close it and open another: notifications sent meanwhile are gone). A
 * listener belongs to one thread. A process's own notifications come back
 * to it too. */
typedef struct sf_db_listener sf_db_listener;
/* 1 when location's backend serves several processes at once (it has
 * notifications: PostgreSQL), 0 when one process owns the database
 * (SQLite) or no backend serves it. */
int sf_db_shared(const char *location);
typedef void (*sf_db_notify_fn)(void *ud, const char *payload);
sf_db_listener *sf_db_listen_open(const char *location, const char *channel, sf_err *err);
int sf_db_listen_wait(sf_db_listener *l, int timeout_ms, sf_db_notify_fn fn, void *ud, sf_err *err);
void sf_db_listen_close(sf_db_listener *l);

/* Opens a connection to location (a file path, or "<backend>://..."). */
sf_db *sf_db_open(const char *location, int role, sf_err *err);
void sf_db_close(sf_db *db);
int sf_db_exec(sf_db *db, const char *sql, sf_err *err); /* one or more statements */
/* The name of the backend that opened db ("sqlite"): for a repository that
 * needs SQL of another dialect there (docs/storage-backends.md). */
const char *sf_db_backend_name(const sf_db *db);
int64_t sf_db_changes(sf_db *db);
/* 1 inside a transaction. After some errors (disk full, I/O, out of
 * memory) a backend may roll the whole transaction back by itself (SQLite
 * does): a caller that goes on after a failed statement checks this first. */
int sf_db_in_transaction(sf_db *db);

/* Transactions. sf_db_begin starts a write transaction that holds the write
 * lock from the start; sf_db_rollback ignores errors. Savepoints come in two
 * levels, one per writer command and one per item inside a command (not
 * nestable within a level); sf_db_rollback_to undoes back to the savepoint
 * and keeps it open, sf_db_release ends it. */
enum { SF_DB_SAVEPOINT_CMD = 0, SF_DB_SAVEPOINT_ITEM = 1 };
int sf_db_begin(sf_db *db, sf_err *err);
/* A read transaction: the reads until sf_db_commit (or sf_db_rollback) see
 * one snapshot; takes no write lock, so a read-only connection may start
 * one and writers go on meanwhile (`serviceflow verify`). */
int sf_db_begin_read(sf_db *db, sf_err *err);
int sf_db_commit(sf_db *db, sf_err *err);
void sf_db_rollback(sf_db *db);
int sf_db_savepoint(sf_db *db, int level, sf_err *err);
int sf_db_release(sf_db *db, int level, sf_err *err);
int sf_db_rollback_to(sf_db *db, int level, sf_err *err);

/* Returns the cached statement for sql, reset and with bindings cleared. */
sf_stmt *sf_db_prepare(sf_db *db, const char *sql, sf_err *err);
/* Binding is 1-based. text NULL binds NULL. */
void sf_stmt_text(sf_stmt *st, int idx, const char *text);
void sf_stmt_textn(sf_stmt *st, int idx, const char *text, int len);
/* Binds without copying: text must stay unchanged until the statement has
 * run (sf_stmt_run) or been reset. */
void sf_stmt_text_ref(sf_stmt *st, int idx, const char *text);
void sf_stmt_int(sf_stmt *st, int idx, int64_t v);
void sf_stmt_null(sf_stmt *st, int idx);
/* 1 = a row is available, 0 = done, <0 = error (409 for a constraint
 * violation, 503 "busy" when busy, 507 "storage-full" when the disk or the
 * database is full, 503 "storage-error" for an I/O error, 500 otherwise)
 * described in err. */
int sf_stmt_step(sf_stmt *st, sf_err *err);
/* Runs a statement that returns no rows. */
int sf_stmt_run(sf_stmt *st, sf_err *err);
/* Runs a statement whose answer nobody waits for (no rows, changes not
 * counted). A backend with round trips (PostgreSQL) may send it with the
 * next call on this connection that waits for an answer (a statement's
 * step, ROLLBACK TO, COMMIT) inside the transaction: its failure is then
 * reported by that call, so use it only where that call fails the same
 * unit of work (the chain lock before the head read; the commit feed's
 * NOTIFY before COMMIT). Outside a transaction, and on SQLite, it runs
 * now. Binds may be reused once it returns. */
int sf_stmt_run_later(sf_stmt *st, sf_err *err);
/* Column access on the current row (0-based). */
const char *sf_stmt_col_text(sf_stmt *st, int col); /* NULL for NULL */
int sf_stmt_col_len(sf_stmt *st, int col);
int64_t sf_stmt_col_int(sf_stmt *st, int col);
int sf_stmt_col_is_null(sf_stmt *st, int col);
/* Runs a prepared query of one boolean column (st NULL: its prepare failed,
 * err filled): 1 when true, 0 when false or no row, <0 with err. Resets st. */
int sf_stmt_true(sf_stmt *st, sf_err *err);
/* Copies a text column into dst (cap bytes, cut and NUL-terminated; "" for NULL). */
void sf_stmt_col_copy(sf_stmt *st, int col, char *dst, size_t cap);
void sf_stmt_reset(sf_stmt *st);

/* Per-thread read connection to the process's database (opened lazily).
 * sf_db_set_path must be called before the first use. Inside a stale-read
 * scope (store/replica.h: the handler of a list, with database_read_url
 * set) it may be this thread's connection to the read replica instead. */
void sf_db_set_path(const char *location);
sf_db *sf_db_reader(sf_err *err);
void sf_db_close_readers(void);

/* Integrity. sf_db_check runs the backend's structural check (SQLite: its
 * quick_check: every page and b-tree of the file, record formats, NOT
 * NULL; not index-against-table, which integrity_check adds at ~4x the
 * cost) for at most budget_ms (0 = no limit). Measured on a 77 MB file of
 * 200k rows (events + orders), page cache warm: quick_check 0.19 s,
 * integrity_check 0.7-1.1 s.
 * Returns SF_DB_CHECK_OK, SF_DB_CHECK_DAMAGED (the first problems in report),
 * SF_DB_CHECK_INCOMPLETE (the budget ran out first) or <0 with err.
 * A damaged result, and any statement on any connection that finds the
 * database damaged, mark it damaged for the rest of the process:
 * sf_db_damaged() is what /readyz reports, at the cost of an atomic load.
 * Thread: any, on a connection the caller owns. */
enum { SF_DB_CHECK_OK = 0, SF_DB_CHECK_DAMAGED = 1, SF_DB_CHECK_INCOMPLETE = 2 };
int sf_db_check(sf_db *db, int budget_ms, char *report, size_t cap, sf_err *err);
int sf_db_damaged(void);

/* Migrations: store/migrate.h. How many migration steps the database has
 * applied, every owner's together (0: not set up). */
int sf_db_schema_version(sf_db *db);

#endif
