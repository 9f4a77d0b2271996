/* Storage backends: the table of operations behind store/db.h (store/
 * internal; a backend and store/db.c, store/writer.c include it).
 *
 * A backend fills one const sf_db_backend and is chosen by name from the
 * database location (store/db.h). Its connection and statement types start
 * with the common headers below, so db.c dispatches a call through the ops
 * pointer the object carries (one load and an indirect call; the backend
 * casts back to its own type). Measured with cachegrind against the direct
 * calls before the seam: +21 instructions on ~4,670 for a cached SELECT by
 * key (prepare, bind, step, three columns, reset), +~100 on ~118,000 for a
 * writer command appending a row and an event. docs/storage-backends.md
 * says what a second backend has to implement.
 *
 * Threads: every operation runs on the thread that owns the connection,
 * except writer_sync (the writer's sync thread, beside the writer thread). */
#ifndef SF_STORE_BACKEND_H
#define SF_STORE_BACKEND_H

#include "store/db.h"

typedef struct sf_db_backend sf_db_backend;

/* The first member of every backend's connection. */
struct sf_db {
  const sf_db_backend *ops;
  sf_db *next_reader; /* db.c's registry of per-thread readers */
};

/* The first member of every backend's statement. */
struct sf_stmt {
  const sf_db_backend *ops;
};

struct sf_db_backend {
  const char *name; /* "sqlite": the scheme of locations it serves */

  /* Connections (store/db.h: sf_db_open ... sf_db_in_transaction). open
   * fills the common header; close takes NULL. */
  sf_db *(*open)(const char *location, int role, sf_err *err);
  void (*close)(sf_db *db);
  int (*exec)(sf_db *db, const char *sql, sf_err *err);
  int64_t (*changes)(sf_db *db);
  int (*in_transaction)(sf_db *db);
  int (*check)(sf_db *db, int budget_ms, char *report, size_t cap, sf_err *err);

  /* Transactions and savepoints (level: SF_DB_SAVEPOINT_*). */
  int (*begin)(sf_db *db, sf_err *err);
  int (*begin_read)(sf_db *db, sf_err *err); /* a snapshot, no write lock */
  int (*commit)(sf_db *db, sf_err *err);
  void (*rollback)(sf_db *db);
  int (*savepoint)(sf_db *db, int level, sf_err *err);
  int (*release)(sf_db *db, int level, sf_err *err);
  int (*rollback_to)(sf_db *db, int level, sf_err *err);

  /* Statements: the hot path of every read and write. bind_text: len -1
   * for NUL-terminated, copy 0 to bind without copying (sf_stmt_text_ref);
   * text NULL binds NULL. Errors are mapped to store/db.h's statuses. */
  sf_stmt *(*prepare)(sf_db *db, const char *sql, sf_err *err);
  void (*bind_text)(sf_stmt *st, int idx, const char *text, int len, int copy);
  void (*bind_int)(sf_stmt *st, int idx, int64_t v);
  void (*bind_null)(sf_stmt *st, int idx);
  int (*step)(sf_stmt *st, sf_err *err);
  void (*reset)(sf_stmt *st);
  /* Optional (NULL: run now): store/db.h's sf_stmt_run_later. */
  int (*run_later)(sf_stmt *st, sf_err *err);
  const char *(*col_text)(sf_stmt *st, int col);
  int (*col_len)(sf_stmt *st, int col);
  int64_t (*col_int)(sf_stmt *st, int col);
  int (*col_is_null)(sf_stmt *st, int col);

  /* The writer's commit path (store/writer.c), on the writer thread.
   * writer_open: the one write connection, with whatever runs beside it (a
   * checkpoint thread); *pipelined in: asked for, out: granted, i.e. a
   * COMMIT returns before it is durable and writer_sync makes it so (a
   * backend that cannot says 0: every COMMIT is durable when it returns).
   * writer_sync (sync thread): every COMMIT returned before the call is
   * durable once it returns 0; non-zero is fatal (the writer aborts).
   * writer_after_batch: between two transactions (maintenance such as
   * checkpoints); failed_for_space: the batch failed for a full disk.
   * writer_probe: a write that changes nothing, inside a transaction (tells
   * when failing storage takes writes again). writer_close: stops what
   * writer_open started and closes. */
  sf_db *(*writer_open)(const char *location, int *pipelined, sf_err *err);
  int (*writer_sync)(sf_db *db);
  void (*writer_after_batch)(sf_db *db, int failed_for_space);
  int (*writer_probe)(sf_db *db, sf_err *err);
  void (*writer_close)(sf_db *db);

  /* Notifications between processes that share the database (store/db.h:
   * sf_db_listen_*). NULL in a backend that one process owns (SQLite). */
  sf_db_listener *(*listen_open)(const char *location, const char *channel, sf_err *err);
  int (*listen_wait)(sf_db_listener *l, int timeout_ms, sf_db_notify_fn fn, void *ud, sf_err *err);
  void (*listen_close)(sf_db_listener *l);
};

/* The first member of every backend's listener. */
struct sf_db_listener {
  const sf_db_backend *ops;
};

/* The backend that serves location ("<name>://..." or a file path for the
 * default, the first registered), NULL with err filled when none does. */
const sf_db_backend *sf_db_backend_for(const char *location, sf_err *err);
/* Adds a backend (at start, before any connection opens; not thread-safe).
 * SQLite is built in. -1 when the table is full or the name is taken. */
int sf_db_backend_register(const sf_db_backend *backend);
/* A backend met a damaged database: sf_db_damaged() says so from now on. */
void sf_db_mark_damaged(void);

#endif
