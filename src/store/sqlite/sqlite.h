/* The SQLite backend of store/db.h (store/backend.h's table, filled in
 * db_sqlite.c), and what only SQLite has: its extra connection roles, the
 * WAL hooks of the checkpoints (checkpoint.c) and the WAL cap.
 *
 * Files: db_sqlite.c (connections, statements, errors, integrity),
 * commit.c (the writer's commit path: its connection, the pipelined sync of
 * the WAL, checkpoints between batches), checkpoint.c (the checkpoint
 * thread and the WAL cap), wal_vfs.c (the VFS shim that batches WAL writes
 * and syncs the writer's WAL). Only these files include sqlite3.h.
 *
 * Threads: as store/db.h; sf_sqlite_checkpoint_frames before the writer
 * starts. */
#ifndef SF_STORE_SQLITE_H
#define SF_STORE_SQLITE_H

#include "store/backend.h"

extern const sf_db_backend sf_db_sqlite_backend;

/* Roles beyond store/db.h's. SF_SQLITE_WRITER: read-write for the writer
 * thread, whose WAL the writer's sync thread fsyncs (wal_vfs.h).
 * SF_SQLITE_CHECKPOINT: read-write, default VFS, synchronous=FULL; for a
 * connection that only runs checkpoints beside the writer. */
enum { SF_SQLITE_CHECKPOINT = 2, SF_SQLITE_WRITER = 3 };

/* Replaces automatic checkpoints on this connection with fn(ud, frames),
 * called after each commit with the number of frames in the WAL. */
void sf_sqlite_on_wal_commit(sf_db *db, void (*fn)(void *ud, int frames), void *ud);
/* Copies the whole WAL into the database file and truncates the WAL file to
 * zero bytes (a TRUNCATE checkpoint), waiting up to wait_ms for readers
 * still in the WAL and for another checkpoint. 0 when the WAL was emptied,
 * 1 when it could not be within wait_ms, <0 on error (err filled). */
int sf_sqlite_wal_truncate(sf_db *db, int wait_ms, sf_err *err);

/* WAL size (in frames) at which checkpoints start; set before the writer
 * starts (0: the default, 10000). The WAL is held below 1.4 times that (the
 * writer itself then runs a TRUNCATE checkpoint, waiting for readers), and
 * its file is cut back to that bound whenever it starts over
 * (journal_size_limit). */
void sf_sqlite_checkpoint_frames(int frames);

#endif
