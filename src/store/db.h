/* Database interface: connections and cached prepared statements.
 *
 * The embedded backend is SQLite (WAL). Statements are prepared once per
 * connection and cached by the address of their SQL text, so SQL must be a
 * string literal (static storage). SQL uses `?` placeholders and a portable
 * subset so that another backend can implement this interface.
 * A connection belongs to one thread at a time. */
#ifndef SF_STORE_DB_H
#define SF_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct sf_db sf_db;
typedef struct sf_stmt sf_stmt;

/* SF_DB_WRITER: SF_DB_WRITE for the writer thread, whose WAL the writer's
 * sync thread fsyncs (store/wal_vfs.h). SF_DB_CHECKPOINT: read-write,
 * default VFS, synchronous=FULL; for a connection that only runs
 * checkpoints beside the writer. */
enum { SF_DB_READ = 0, SF_DB_WRITE = 1, SF_DB_CHECKPOINT = 2, SF_DB_WRITER = 3 };

/* Opens (creating if needed, for SF_DB_WRITE) the database file. */
sf_db *sf_db_open(const char *path, int mode, sf_err *err);
void sf_db_close(sf_db *db);
int sf_db_exec(sf_db *db, const char *sql, sf_err *err); /* one or more statements */
/* Replaces automatic checkpoints on this connection with fn(ud, frames),
 * called after each commit with the number of frames in the WAL. */
void sf_db_on_wal_commit(sf_db *db, void (*fn)(void *ud, int frames), void *ud);
/* Copies the whole WAL into the database file and truncates the WAL file to
 * zero bytes (a TRUNCATE checkpoint), waiting up to wait_ms for readers
 * still in the WAL and for another checkpoint. 0 when the WAL was emptied,
 * 1 when it could not be within wait_ms, <0 on error (err filled). */
int sf_db_wal_truncate(sf_db *db, int wait_ms, sf_err *err);
int64_t sf_db_changes(sf_db *db);
/* 1 inside a transaction. After some errors (disk full, I/O, out of
 * memory) SQLite rolls the whole transaction back by itself: a caller that
 * goes on after a failed statement checks this first. */
int sf_db_in_transaction(sf_db *db);

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
/* Column access on the current row (0-based). */
const char *sf_stmt_col_text(sf_stmt *st, int col); /* NULL for NULL */
int sf_stmt_col_len(sf_stmt *st, int col);
int64_t sf_stmt_col_int(sf_stmt *st, int col);
int sf_stmt_col_is_null(sf_stmt *st, int col);
/* Copies a text column into dst (cap bytes, cut and NUL-terminated; "" for NULL). */
void sf_stmt_col_copy(sf_stmt *st, int col, char *dst, size_t cap);
void sf_stmt_reset(sf_stmt *st);

/* Per-thread read connection to the process's database (opened lazily).
 * sf_db_set_path must be called before the first use. */
void sf_db_set_path(const char *path);
sf_db *sf_db_reader(sf_err *err);
void sf_db_close_readers(void);

/* Integrity. sf_db_check runs SQLite's quick_check (every page and b-tree
 * of the file, record formats, NOT NULL; not index-against-table, which
 * integrity_check adds at ~4x the cost) for at most budget_ms (0 = no
 * limit). Measured on a 77 MB file of 200k rows (events + orders), page
 * cache warm: quick_check 0.19 s, integrity_check 0.7-1.1 s.
 * Returns SF_DB_CHECK_OK, SF_DB_CHECK_DAMAGED (the first problems in report),
 * SF_DB_CHECK_INCOMPLETE (the budget ran out first) or <0 with err.
 * A damaged result, and any statement on any connection that fails with
 * SQLITE_CORRUPT or SQLITE_NOTADB, mark the database damaged for the rest of
 * the process: sf_db_damaged() is what /readyz reports, at the cost of an
 * atomic load. Thread: any, on a connection the caller owns. */
enum { SF_DB_CHECK_OK = 0, SF_DB_CHECK_DAMAGED = 1, SF_DB_CHECK_INCOMPLETE = 2 };
int sf_db_check(sf_db *db, int budget_ms, char *report, size_t cap, sf_err *err);
int sf_db_damaged(void);

/* Migrations: store/migrate.h. How many migration steps the database has
 * applied, every owner's together (0: not set up). */
int sf_db_schema_version(sf_db *db);

#endif
