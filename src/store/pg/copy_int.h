/* Internals of `copy-to-postgres` (copy.h) shared by copy.c (the steps,
 * the checks, the report) and copy_rows.c (which tables and columns, in
 * which order, and their rows streamed with COPY). Not for other files. */
#ifndef SF_STORE_PG_COPY_INT_H
#define SF_STORE_PG_COPY_INT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdint.h>

#include "core/err.h"

/* One table to copy: its name (the same on both sides), the target's
 * columns that get a value and, at the same index, what the source SELECT
 * reads for it (a quoted column, or rowid). */
typedef struct copy_table {
  char *name;
  int ncols;
  char **cols;   /* target columns, quoted */
  char **source; /* source expressions, one per column */
  int nidentity;
  char **identity; /* identity columns (unquoted), set to max + 1 after the rows */
  int has_triggers;
  int64_t rows;      /* rows the source snapshot holds */
  int64_t copied;    /* rows COPY reported */
  int64_t on_target; /* rows counted on the target afterwards */
} copy_table;

typedef struct copy_plan {
  int n;
  copy_table *tables; /* parents before children */
} copy_plan;

/* Fills plan with every table of the source snapshot (but SQLite's own, the
 * FTS5 tables and their shadow tables, and schema_migrations, which the
 * migrations themselves fill) matched with the target's table of the same
 * name, column by column. What cannot be matched (a table or column on one
 * side only that is not PostgreSQL's own search text) is added to problems
 * (strings): copying would lose or invent data. Returns 0, or -1 with err. */
int copy_plan_make(sqlite3 *src, PGconn *dst, copy_plan *plan, json_t *problems, sf_err *err);
void copy_plan_free(copy_plan *plan);

/* Streams t's rows from the source snapshot into the target with COPY,
 * inside the caller's transaction; sets t->copied. Returns 0, or -1 with
 * err (the transaction is then failed: the caller rolls back). */
int copy_rows(sqlite3 *src, PGconn *dst, copy_table *t, sf_err *err);

/* One SQL statement on the target; 0, or -1 with err naming what. */
int copy_exec(PGconn *dst, const char *sql, const char *what, sf_err *err);
/* The first column of the first row of a query on the target (int64);
 * -1 with err. */
int copy_query_int(PGconn *dst, const char *sql, int64_t *out, sf_err *err);
/* "name" quoted as an SQL identifier into out (cap >= 2 * strlen + 3). */
void copy_quote(const char *name, char *out, size_t cap);

#endif
