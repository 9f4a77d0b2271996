/* The writer's side of the SQLite backend (store/sqlite/ internal).
 *
 * commit.c: the operations store/backend.h names writer_* (the writer's
 * connection, the pipelined sync of its WAL, work between batches).
 * checkpoint.c: checkpoints beside the writer. A thread with its own
 * connection copies the WAL into the database file while the writer goes
 * on; the writer finishes each pass between two batches, holds the WAL
 * under its cap, and empties it after a write failed for space. Every
 * function here runs on the writer thread, between two transactions of
 * writer_db (the writer's own connection, which stays the writer's), except
 * sf_sqlite_writer_sync (the writer's sync thread). */
#ifndef SF_STORE_SQLITE_CHECKPOINT_H
#define SF_STORE_SQLITE_CHECKPOINT_H

#include "store/db.h"

sf_db *sf_sqlite_writer_open(const char *path, int *pipelined, sf_err *err);
int sf_sqlite_writer_sync(sf_db *db);
void sf_sqlite_writer_after_batch(sf_db *db, int failed_for_space);
int sf_sqlite_writer_probe(sf_db *db, sf_err *err);
void sf_sqlite_writer_close(sf_db *db);

/* Starts the thread on a connection of its own to path. Without it (the
 * connection cannot be opened) SQLite's automatic checkpoints stay on. */
void sf_ckpt_start(sf_db *writer_db, const char *path);
void sf_ckpt_stop(void);
/* After each batch that did not fail for space. */
void sf_ckpt_after_batch(void);
/* After a batch that failed for space: empties the WAL (at most once a
 * second), so the space it held comes back where the database file can
 * take its pages. */
void sf_ckpt_after_full(void);

#endif
