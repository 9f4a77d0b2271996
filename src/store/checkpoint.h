/* Checkpoints beside the writer (store/ internal; see checkpoint.c).
 *
 * A thread with its own connection copies the WAL into the database file
 * while the writer goes on; the writer finishes each pass between two
 * batches, holds the WAL under its cap, and empties it after a write failed
 * for space. Every function here runs on the writer thread, between two
 * transactions of writer_db (the writer's own connection, which stays the
 * writer's). */
#ifndef SF_STORE_CHECKPOINT_H
#define SF_STORE_CHECKPOINT_H

#include "store/db.h"

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
