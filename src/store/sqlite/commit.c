/* The SQLite side of the writer's commit path (store/backend.h's writer_*
 * operations; store/sqlite/checkpoint.h). */
#include <stdio.h>

#include "store/sqlite/checkpoint.h"
#include "store/sqlite/sqlite.h"
#include "store/sqlite/wal_vfs.h"

/* Pipelining needs the shim's own sync of the WAL: with synchronous=NORMAL
 * a COMMIT does not sync, and sf_wal_vfs_sync does it on the sync thread.
 * Without the shim the writer keeps synchronous=FULL. */
sf_db *sf_sqlite_writer_open(const char *path, int *pipelined, sf_err *err) {
  sf_db *db = sf_db_open(path, SF_SQLITE_WRITER, err);
  if (!db) return NULL;
  *pipelined = *pipelined && sf_wal_vfs_synced() != NULL;
  if (*pipelined && sf_db_exec(db, "PRAGMA synchronous=NORMAL", err)) {
    sf_db_close(db);
    return NULL;
  }
  sf_ckpt_start(db, path);
  return db;
}

int sf_sqlite_writer_sync(sf_db *db) {
  (void)db;
  return sf_wal_vfs_sync();
}

void sf_sqlite_writer_after_batch(sf_db *db, int failed_for_space) {
  (void)db;
  if (failed_for_space)
    sf_ckpt_after_full();
  else
    sf_ckpt_after_batch();
}

/* Sets the header's user_version to what it is: a write that changes
 * nothing, and each failure of it empties the WAL again
 * (sf_ckpt_after_full). */
int sf_sqlite_writer_probe(sf_db *db, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "PRAGMA user_version", err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  if (rc < 0) return rc;
  long long v = sf_stmt_col_int(st, 0);
  sf_stmt_reset(st);
  char sql[48];
  snprintf(sql, sizeof sql, "PRAGMA user_version=%lld", v);
  return sf_db_exec(db, sql, err);
}

/* The checkpoint thread stops, then the WAL is emptied and cut to zero
 * bytes, so the next start finds only the database file. */
void sf_sqlite_writer_close(sf_db *db) {
  sf_ckpt_stop();
  sf_err e;
  sf_db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", &e);
  sf_db_close(db);
}
