/* `serviceflow copy-to-postgres`: a deployment's SQLite file copied into an
 * empty PostgreSQL database (docs/storage-backends.md, "Moving from SQLite
 * to PostgreSQL").
 *
 * What it does, in order:
 *   1. opens the SQLite file read-only and starts one read transaction: every
 *      row copied comes from that snapshot, so a server may go on writing to
 *      the file meanwhile (its writes after the snapshot are not copied; the
 *      report names the last event position copied);
 *   2. refuses a target that holds any table in its current schema
 *      (SF_PG_COPY_NOT_EMPTY; nothing changed);
 *   3. applies every migration on the target with the server's own code
 *      (hooks->migrate), and refuses when the owners' versions differ from
 *      the file's (the file must be migrated by this binary first);
 *   4. in ONE transaction holding the write lock (sf_db_begin): empties what
 *      the migrations seeded, copies every table the SQLite schema lists
 *      (but SQLite's own tables and the FTS5 tables and their shadow tables)
 *      with COPY, parents before children (foreign keys), values as their
 *      bytes; fills PostgreSQL's search text (request_search) as its
 *      triggers would have; sets every identity column's sequence to its
 *      max + 1; compares the row count of every table and runs
 *      hooks->verify (the event chain and state) on the copy; commits only
 *      when all agree.
 * On any failure after step 3 the transaction rolls back and the tables and
 * functions the migrations made are dropped again: the target is as empty
 * as before.
 *
 * Threads: the caller's; opens and closes its own connections. */
#ifndef SF_STORE_PG_COPY_H
#define SF_STORE_PG_COPY_H

#include <jansson.h>

#include "core/err.h"
#include "store/db.h"

/* What the store cannot know by itself: the caller's (cli_copy.c). */
typedef struct sf_pg_copy_hooks {
  /* Brings db's schema up to date: the server's migrations (sf_app_migrate). */
  int (*migrate)(sf_db *db, sf_err *err);
  /* Checks the copied database, on db inside the copy's transaction:
   * returns 0 when clean, 1 after adding what differs to problems (a JSON
   * array of strings), <0 with err when it could not check. Adds what it
   * checked to report (e.g. "events_verified"). */
  int (*verify)(sf_db *db, json_t *report, json_t *problems, sf_err *err);
} sf_pg_copy_hooks;

/* Exit statuses of the command, returned by sf_pg_copy. */
enum {
  SF_PG_COPY_OK = 0,
  SF_PG_COPY_FAILED = 1,    /* could not copy, or the copy did not check out: nothing kept */
  SF_PG_COPY_NOT_EMPTY = 3, /* the target already holds tables: nothing changed */
};

/* Copies the SQLite file at sqlite_path into the PostgreSQL database at
 * pg_url. *report (always set; the caller json_decref's it) is the JSON
 * the command prints: the tables and their rows, the total, the last event
 * position, the seconds taken, and on failure "error" and "problems". */
int sf_pg_copy(const char *sqlite_path, const char *pg_url, const sf_pg_copy_hooks *hooks, json_t **report);

#endif
