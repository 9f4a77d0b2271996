/* Which tables `copy-to-postgres` copies, column by column, in foreign-key
 * order, and their rows streamed from the SQLite snapshot into PostgreSQL
 * with COPY (copy_int.h). The tables are discovered from both schemas, not
 * listed here: a table a service adds later is copied without a change. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/pg/copy_int.h"

/* COPY data is sent in chunks of about this size (one PQputCopyData). */
#define CHUNK_BYTES (1 << 20)

/* PostgreSQL's own search text, kept on SQLite in FTS5 tables (not copied):
 * these target columns have no source column and are filled by copy.c after
 * the rows, as request_search's triggers would have. */
static const char *const k_derived[][2] = {
    {"request_search", "title"},
    {"request_search", "data"},
    {"request_search", "comments"},
    {"request_search", "notes"},
};

/* ---- small helpers ---- */

void copy_quote(const char *name, char *out, size_t cap) {
  size_t o = 0;
  if (cap < 3) return;
  out[o++] = '"';
  for (const char *p = name; *p && o + 3 < cap; p++) {
    if (*p == '"') out[o++] = '"';
    out[o++] = *p;
  }
  out[o++] = '"';
  out[o] = '\0';
}

static char *quoted(const char *name) {
  size_t cap = 2 * strlen(name) + 3;
  char *q = sf_malloc(cap);
  copy_quote(name, q, cap);
  return q;
}

static int pg_fail(PGconn *dst, PGresult *res, const char *what, sf_err *err) {
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!msg) msg = PQerrorMessage(dst);
  sf_err_internal(err, "%s: %.200s", what, msg);
  err->detail[strcspn(err->detail, "\n")] = '\0';
  PQclear(res);
  return -1;
}

int copy_exec(PGconn *dst, const char *sql, const char *what, sf_err *err) {
  PGresult *res = PQexec(dst, sql);
  ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) return pg_fail(dst, res, what, err);
  PQclear(res);
  return 0;
}

int copy_query_int(PGconn *dst, const char *sql, int64_t *out, sf_err *err) {
  PGresult *res = PQexec(dst, sql);
  if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) return pg_fail(dst, res, sql, err);
  *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  return 0;
}

static void add_problem(json_t *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_problem(json_t *problems, const char *fmt, ...) {
  char text[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  json_array_append_new(problems, json_string(text));
}

/* ---- the source's tables ---- */

/* A name list (malloc'd strings) with a flag each. */
typedef struct names {
  int n, cap;
  char **v;
  int *flag;
} names;

static void names_add(names *l, const char *s, int flag) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->v = sf_realloc(l->v, (size_t)l->cap * sizeof *l->v);
    l->flag = sf_realloc(l->flag, (size_t)l->cap * sizeof *l->flag);
  }
  l->v[l->n] = sf_strdup(s);
  l->flag[l->n++] = flag;
}

static int names_find(const names *l, const char *s) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return i;
  return -1;
}

static void names_free(names *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  free(l->flag);
  *l = (names){0};
}

static int sqlite_fail(sqlite3 *src, const char *what, sf_err *err) {
  return sf_err_internal(err, "reading the SQLite file (%s): %s", what, sqlite3_errmsg(src)), -1;
}

/* The tables of the snapshot with flag 1 when they have a rowid: ordinary
 * tables only (pragma_table_list calls FTS5's "virtual" and "shadow"),
 * without SQLite's own (sqlite_schema, sqlite_sequence, sqlite_stat1). */
static int source_tables(sqlite3 *src, names *out, sf_err *err) {
  static const char k_tables_sqlite[] = "SELECT name, wr FROM pragma_table_list WHERE schema = 'main'"
                                        " AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(src, k_tables_sqlite, -1, &st, NULL) != SQLITE_OK) return sqlite_fail(src, "tables", err);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    names_add(out, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1) == 0);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : sqlite_fail(src, "tables", err);
}

static int source_columns(sqlite3 *src, const char *table, names *out, sf_err *err) {
  static const char k_columns_sqlite[] = "SELECT name FROM pragma_table_info(?1) ORDER BY cid";
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(src, k_columns_sqlite, -1, &st, NULL) != SQLITE_OK) return sqlite_fail(src, "columns", err);
  sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) names_add(out, (const char *)sqlite3_column_text(st, 0), 0);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : sqlite_fail(src, "columns", err);
}

/* ---- the target's tables ---- */

static PGresult *pg_rows(PGconn *dst, const char *sql, const char *param, const char *what, sf_err *err) {
  const char *values[1] = {param};
  PGresult *res = PQexecParams(dst, sql, param ? 1 : 0, NULL, values, NULL, NULL, 0);
  if (res && PQresultStatus(res) == PGRES_TUPLES_OK) return res;
  pg_fail(dst, res, what, err);
  return NULL;
}

/* The target's tables in its current schema (the migrations' tables). */
static PGresult *target_tables(PGconn *dst, sf_err *err) {
  static const char k_tables_pg[] =
      "SELECT c.relname, CAST(EXISTS(SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal)"
      " AS INTEGER) FROM pg_class c WHERE c.relnamespace = CAST(CAST(current_schema() AS TEXT) AS regnamespace)"
      " AND c.relkind IN ('r', 'p') ORDER BY c.relname";
  return pg_rows(dst, k_tables_pg, NULL, "the target's tables", err);
}

/* Its columns: name, attidentity ('' or a/d), attgenerated ('' or s). */
static PGresult *target_columns(PGconn *dst, const char *table, sf_err *err) {
  static const char k_columns_pg[] =
      "SELECT a.attname, CAST(a.attidentity AS TEXT), CAST(a.attgenerated AS TEXT) FROM pg_attribute a"
      " WHERE a.attrelid = CAST(quote_ident($1) AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
      " ORDER BY a.attnum";
  return pg_rows(dst, k_columns_pg, table, "the target's columns", err);
}

static int is_derived(const char *table, const char *col) {
  for (size_t i = 0; i < sizeof k_derived / sizeof k_derived[0]; i++)
    if (!strcmp(k_derived[i][0], table) && !strcmp(k_derived[i][1], col)) return 1;
  return 0;
}

static void table_add_col(copy_table *t, const char *col, const char *source) {
  t->cols = sf_realloc(t->cols, (size_t)(t->ncols + 1) * sizeof *t->cols);
  t->source = sf_realloc(t->source, (size_t)(t->ncols + 1) * sizeof *t->source);
  t->cols[t->ncols] = quoted(col);
  t->source[t->ncols++] = source ? sf_strdup(source) : quoted(col);
}

/* Matches one target column with the source: the same name, or the rowid
 * for an identity column SQLite does not have (reservation_lines.seq: the
 * order SQLite reads lines in), or PostgreSQL's own search text. */
static void match_column(copy_table *t, const names *scols, int rowid, PGresult *cols, int i, json_t *problems) {
  const char *col = PQgetvalue(cols, i, 0);
  int identity = PQgetvalue(cols, i, 1)[0] != '\0', generated = PQgetvalue(cols, i, 2)[0] != '\0';
  if (identity) {
    t->identity = sf_realloc(t->identity, (size_t)(t->nidentity + 1) * sizeof *t->identity);
    t->identity[t->nidentity++] = sf_strdup(col);
  }
  if (generated) return;
  if (names_find(scols, col) >= 0)
    table_add_col(t, col, NULL);
  else if (identity && rowid)
    table_add_col(t, col, "rowid");
  else if (!is_derived(t->name, col))
    add_problem(problems, "column %s.%s is on PostgreSQL only: nothing to fill it with", t->name, col);
}

static int plan_table(sqlite3 *src, PGconn *dst, copy_table *t, int rowid, json_t *problems, sf_err *err) {
  names scols = {0};
  if (source_columns(src, t->name, &scols, err)) return -1;
  PGresult *cols = target_columns(dst, t->name, err);
  if (!cols) {
    names_free(&scols);
    return -1;
  }
  for (int i = 0; i < PQntuples(cols); i++) match_column(t, &scols, rowid, cols, i, problems);
  for (int i = 0; i < scols.n; i++) {
    int found = 0;
    for (int k = 0; k < PQntuples(cols) && !found; k++)
      found = !strcmp(PQgetvalue(cols, k, 0), scols.v[i]) && PQgetvalue(cols, k, 2)[0] == '\0';
    if (!found)
      add_problem(problems, "column %s.%s of the SQLite file has no column on PostgreSQL", t->name, scols.v[i]);
  }
  PQclear(cols);
  names_free(&scols);
  return 0;
}

/* ---- foreign-key order ---- */

/* Reorders plan->tables so that a table comes after every table its
 * foreign keys refer to (a reference to itself aside). */
static int order_by_keys(PGconn *dst, copy_plan *plan, sf_err *err) {
  static const char k_keys_pg[] =
      "SELECT c.relname, p.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
      " JOIN pg_class p ON p.oid = k.confrelid WHERE k.contype = 'f'"
      " AND c.relnamespace = CAST(CAST(current_schema() AS TEXT) AS regnamespace)";
  PGresult *keys = pg_rows(dst, k_keys_pg, NULL, "the target's foreign keys", err);
  if (!keys) return -1;
  copy_table *sorted = sf_calloc((size_t)plan->n + 1, sizeof *sorted);
  int *done = sf_calloc((size_t)plan->n + 1, sizeof *done), nsorted = 0, progress = 1;
  while (nsorted < plan->n && progress) {
    progress = 0;
    for (int i = 0; i < plan->n; i++) {
      int ready = !done[i];
      for (int k = 0; ready && k < PQntuples(keys); k++) {
        const char *child = PQgetvalue(keys, k, 0), *parent = PQgetvalue(keys, k, 1);
        if (strcmp(child, plan->tables[i].name) || !strcmp(child, parent)) continue;
        for (int j = 0; j < plan->n; j++)
          if (!done[j] && !strcmp(plan->tables[j].name, parent)) ready = 0;
      }
      if (!ready) continue;
      sorted[nsorted++] = plan->tables[i];
      done[i] = progress = 1;
    }
  }
  PQclear(keys);
  free(done);
  if (nsorted < plan->n) {
    free(sorted);
    return sf_err_internal(err, "the foreign keys of the target's tables form a cycle"), -1;
  }
  free(plan->tables);
  plan->tables = sorted;
  return 0;
}

/* ---- the plan ---- */

static int match_tables(sqlite3 *src, PGconn *dst, const names *stables, PGresult *ttables, copy_plan *plan,
                        json_t *problems, sf_err *err) {
  for (int i = 0; i < PQntuples(ttables); i++) {
    const char *name = PQgetvalue(ttables, i, 0);
    if (!strcmp(name, "schema_migrations")) continue; /* made and filled by the migrations */
    int s = names_find(stables, name);
    if (s < 0) {
      add_problem(problems, "table %s is on PostgreSQL only", name);
      continue;
    }
    copy_table *t = &plan->tables[plan->n++];
    *t = (copy_table){.name = sf_strdup(name), .has_triggers = PQgetvalue(ttables, i, 1)[0] == '1'};
    if (plan_table(src, dst, t, stables->flag[s], problems, err)) return -1;
  }
  for (int i = 0; i < stables->n; i++) {
    int found = 0;
    for (int k = 0; k < PQntuples(ttables) && !found; k++) found = !strcmp(PQgetvalue(ttables, k, 0), stables->v[i]);
    if (!found) add_problem(problems, "table %s of the SQLite file has no table on PostgreSQL", stables->v[i]);
  }
  return 0;
}

int copy_plan_make(sqlite3 *src, PGconn *dst, copy_plan *plan, json_t *problems, sf_err *err) {
  names stables = {0};
  *plan = (copy_plan){0};
  if (source_tables(src, &stables, err)) return -1;
  PGresult *ttables = target_tables(dst, err);
  int rc = -1;
  if (ttables) {
    plan->tables = sf_calloc((size_t)PQntuples(ttables) + 1, sizeof *plan->tables);
    rc = match_tables(src, dst, &stables, ttables, plan, problems, err);
    if (!rc) rc = order_by_keys(dst, plan, err);
    PQclear(ttables);
  }
  names_free(&stables);
  return rc;
}

static void strings_free(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

void copy_plan_free(copy_plan *plan) {
  for (int i = 0; i < plan->n; i++) {
    copy_table *t = &plan->tables[i];
    free(t->name);
    strings_free(t->cols, t->ncols);
    strings_free(t->source, t->ncols);
    strings_free(t->identity, t->nidentity);
  }
  free(plan->tables);
  *plan = (copy_plan){0};
}

/* ---- the rows ---- */

typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static void buf_need(buf *b, size_t more) {
  if (b->len + more <= b->cap) return;
  while (b->len + more > b->cap) b->cap = b->cap ? 2 * b->cap : CHUNK_BYTES + 4096;
  b->p = sf_realloc(b->p, b->cap);
}

static void buf_put(buf *b, const char *s, size_t n) {
  buf_need(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

/* Text in COPY's text format: the bytes as they are but for the four
 * characters it escapes. A NUL byte cannot be in PostgreSQL's text. */
static int put_text(buf *b, const unsigned char *s, int n) {
  buf_need(b, 2 * (size_t)n);
  for (int i = 0; i < n; i++) {
    char esc = s[i] == '\\' ? '\\' : s[i] == '\n' ? 'n' : s[i] == '\r' ? 'r' : s[i] == '\t' ? 't' : 0;
    if (!s[i]) return -1;
    if (esc) {
      b->p[b->len++] = '\\';
      b->p[b->len++] = esc;
    } else {
      b->p[b->len++] = (char)s[i];
    }
  }
  return 0;
}

static int put_value(buf *b, sqlite3_stmt *st, int col) {
  char num[32];
  switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL: buf_put(b, "\\N", 2); return 0;
    case SQLITE_INTEGER:
      buf_put(b, num, (size_t)snprintf(num, sizeof num, "%" PRId64, (int64_t)sqlite3_column_int64(st, col)));
      return 0;
    case SQLITE_FLOAT:
      buf_put(b, num, (size_t)snprintf(num, sizeof num, "%.17g", sqlite3_column_double(st, col)));
      return 0;
    default: /* TEXT, or a BLOB of text bytes: as stored */
      return put_text(b, sqlite3_column_blob(st, col), sqlite3_column_bytes(st, col));
  }
}

static int send_chunk(PGconn *dst, buf *b, sf_err *err) {
  if (b->len && PQputCopyData(dst, b->p, (int)b->len) != 1)
    return sf_err_internal(err, "COPY: %.200s", PQerrorMessage(dst)), -1;
  b->len = 0;
  return 0;
}

/* Ends the COPY (with an error message: aborted) and reads its outcome. */
static int finish_copy(PGconn *dst, copy_table *t, const char *abort_msg, sf_err *err) {
  int rc = PQputCopyEnd(dst, abort_msg) == 1 ? 0 : -1;
  if (rc && !abort_msg) sf_err_internal(err, "COPY %s: %.200s", t->name, PQerrorMessage(dst));
  PGresult *res;
  while ((res = PQgetResult(dst))) {
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
      t->copied = strtoll(PQcmdTuples(res), NULL, 10);
    else if (!abort_msg && !rc) {
      char what[160];
      snprintf(what, sizeof what, "COPY %s", t->name);
      pg_fail(dst, res, what, err);
      res = NULL;
      rc = -1;
    }
    PQclear(res);
  }
  return abort_msg ? -1 : rc;
}

static char *select_sql(const copy_table *t) {
  buf b = {0};
  buf_put(&b, "SELECT ", 7);
  for (int i = 0; i < t->ncols; i++) {
    if (i) buf_put(&b, ", ", 2);
    buf_put(&b, t->source[i], strlen(t->source[i]));
  }
  char from[300];
  copy_quote(t->name, from + 6, sizeof from - 6);
  memcpy(from, " FROM ", 6);
  buf_put(&b, from, strlen(from) + 1);
  return b.p;
}

static char *copy_sql(const copy_table *t) {
  buf b = {0};
  char head[300];
  copy_quote(t->name, head + 5, sizeof head - 5);
  memcpy(head, "COPY ", 5);
  buf_put(&b, head, strlen(head));
  for (int i = 0; i < t->ncols; i++) {
    buf_put(&b, i ? ", " : " (", 2);
    buf_put(&b, t->cols[i], strlen(t->cols[i]));
  }
  buf_put(&b, ") FROM STDIN", 13);
  return b.p;
}

/* The rows of the prepared source SELECT into the open COPY; NULL or an
 * abort message. */
static const char *stream_rows(sqlite3 *src, sqlite3_stmt *st, PGconn *dst, copy_table *t, buf *b, sf_err *err) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < t->ncols; i++) {
      if (i) buf_put(b, "\t", 1);
      if (put_value(b, st, i)) {
        sf_err_internal(err, "%s.%s holds a NUL byte: PostgreSQL's text cannot", t->name, t->cols[i]);
        return "NUL byte";
      }
    }
    buf_put(b, "\n", 1);
    t->rows++;
    if (b->len >= CHUNK_BYTES && send_chunk(dst, b, err)) return "send failed";
  }
  if (rc != SQLITE_DONE) {
    sqlite_fail(src, t->name, err);
    return "source read failed";
  }
  return send_chunk(dst, b, err) ? "send failed" : NULL;
}

int copy_rows(sqlite3 *src, PGconn *dst, copy_table *t, sf_err *err) {
  char *select = select_sql(t), *copy = copy_sql(t);
  sqlite3_stmt *st = NULL;
  int rc = -1;
  if (sqlite3_prepare_v2(src, select, -1, &st, NULL) != SQLITE_OK)
    sqlite_fail(src, t->name, err);
  else {
    PGresult *res = PQexec(dst, copy);
    if (!res || PQresultStatus(res) != PGRES_COPY_IN)
      pg_fail(dst, res, copy, err);
    else {
      PQclear(res);
      buf b = {0};
      t->rows = 0;
      const char *abort_msg = stream_rows(src, st, dst, t, &b, err);
      rc = finish_copy(dst, t, abort_msg, err);
      free(b.p);
    }
  }
  sqlite3_finalize(st);
  free(select);
  free(copy);
  return rc;
}
