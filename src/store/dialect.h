/* Which SQL dialect a connection speaks, for a repository that keeps a
 * statement in two versions side by side (docs/storage-backends.md): the
 * SQLite one in a literal named *_sqlite, the PostgreSQL one in *_pg, so
 * the query-plan test and the PostgreSQL corpus check (tests/pg/corpus.py)
 * each skip the other's. Any thread (reads the connection's backend). */
#ifndef SF_STORE_DIALECT_H
#define SF_STORE_DIALECT_H

#include <string.h>

#include "store/db.h"

/* 1 when db is a PostgreSQL connection (backend "postgres"). */
static inline int sf_db_is_pg(const sf_db *db) { return strcmp(sf_db_backend_name(db), "postgres") == 0; }

#endif
