/* Schema migrations, per owner. Each owner (the event store, the edge, each
 * service) keeps its own ordered, append-only list of steps; the version of
 * an owner is how many of its steps ran, recorded in
 * schema_migrations(service, version). Each step runs once, in its own
 * transaction together with the bump of its owner's version.
 *
 * Databases made before per-owner versions recorded one global version N
 * (steps 1..N of a single list, schema_migrations(version, applied_at)).
 * Every step of that list now lives, split by owner, in its owners' lists,
 * tagged with the global step it was part of (`legacy`); such a database is
 * converted once: an owner's version becomes the number of its steps whose
 * tag is <= N. Never edit a step that has shipped; add a new one.
 *
 * Dialects: a step's `sql` is SQLite's text; `pg`, when set, is
 * PostgreSQL's text of the same step (NULL: `sql` serves both). The runner
 * picks by sf_db_backend_name(db). Both lists have the same steps, so an
 * owner's version means the same schema on either backend, and a step added
 * later applies to both in the usual way. A PostgreSQL database is always
 * made by these steps on an empty database (`copy-to-postgres` copies rows
 * after `migrate`), so a `pg` text leaves out the backfills of rows older
 * than its step (there are none) but keeps what seeds rows (checkpoints at
 * the head). On PostgreSQL the runner takes a transaction-level advisory
 * lock (SF_DB_MIGRATE_LOCK) in every step and reads the owner's version
 * again under it: instances starting together each apply a step once.
 * docs/storage-backends.md lists what differs between the dialects. */
#ifndef SF_STORE_MIGRATE_H
#define SF_STORE_MIGRATE_H

#include <stddef.h>

#include "store/db.h"

typedef struct sf_db_step {
  const char *sql; /* one or more statements (SQLite's); NULL ends a list */
  int legacy;      /* the global step (1-13) that held it before per-owner versions; 0 for steps added since.
                    * Tagged steps come first in an owner's list, in tag order. */
  const char *pg;  /* PostgreSQL's text of the step; NULL: sql serves both */
} sf_db_step;

/* The key of the advisory lock migrations hold on PostgreSQL ("SFMG"). */
#define SF_DB_MIGRATE_LOCK 1397116231 /* written out in migrate.c's lock statement */

typedef struct sf_db_migrations {
  const char *owner;       /* its name in schema_migrations, e.g. "orders" */
  const sf_db_step *steps; /* ends with {0} */
} sf_db_migrations;

/* Brings each owner's schema up to date, owners in the order given (an
 * owner whose steps refer to another's tables comes after it). Converts a
 * (SQLite) database with the single global version first. Fails (err filled, nothing
 * of the failed step kept) when a step fails or when the database holds a
 * newer version of an owner than its list has. Owners recorded in the
 * database but not given are left alone. Thread: the caller's, on a write
 * connection no other thread uses. */
int sf_db_migrate(sf_db *db, const sf_db_migrations *sets, size_t n, sf_err *err);

#endif
