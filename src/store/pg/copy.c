/* `serviceflow copy-to-postgres` (copy.h): the steps, the checks and the
 * report. Which tables and columns, and the COPY of their rows: copy_rows.c. */
#include "store/pg/copy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "store/pg/copy_int.h"
#include "store/pg/pg.h"

/* request_search's text rebuilt in ranges of this many requests. */
#define SEARCH_BATCH 5000

/* Everything one run holds; freed by run_end. */
typedef struct copy_run {
  const char *source_path;
  sqlite3 *src;    /* read-only, inside its snapshot */
  sf_db *target;   /* the target through store/db.h: migrations, the write lock, hooks->verify */
  PGconn *dst;     /* the same connection, for COPY and the catalog */
  char *old_funcs; /* the target's functions before the migrations: "{oid,...}" */
  int migrated;    /* the migrations ran: undo them on failure */
  copy_plan plan;
  int64_t last_position;
  double mark;    /* when the current phase began */
  json_t *phases; /* seconds per phase: migrate, copy, check, commit */
  json_t *report, *problems;
  sf_err err;
} copy_run;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ends a phase: its seconds into the report's "phases". */
static void phase_done(copy_run *r, const char *name) {
  double t = now_seconds();
  json_object_set_new(r->phases, name, json_real((double)(int64_t)((t - r->mark) * 1000) / 1000));
  r->mark = t;
}

/* ---- the source ---- */

static int src_int(sqlite3 *src, const char *sql, int64_t *out, sf_err *err) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(src, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) return sf_err_internal(err, "reading the SQLite file: %s", sqlite3_errmsg(src)), -1;
  return 0;
}

/* Opens the file read-only (as `verify` does: writers go on) and takes
 * the snapshot: SQLite's read transaction starts at its first read. */
static int open_source(copy_run *r) {
  static const char k_last_sqlite[] = "SELECT coalesce(max(position), 0) FROM events";
  int rc = sqlite3_open_v2(r->source_path, &r->src, SQLITE_OPEN_READONLY, NULL);
  if (rc != SQLITE_OK)
    return sf_err_set(&r->err, 400, "config", "No database", "cannot open %s: %s", r->source_path,
                      r->src ? sqlite3_errmsg(r->src) : sqlite3_errstr(rc)),
           -1;
  sqlite3_busy_timeout(r->src, 10000);
  if (sqlite3_exec(r->src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return sf_err_internal(&r->err, "%s: %s", r->source_path, sqlite3_errmsg(r->src)), -1;
  return src_int(r->src, k_last_sqlite, &r->last_position, &r->err);
}

/* ---- the target ---- */

static PGresult *target_rows(copy_run *r, const char *sql, const char *param) {
  const char *values[1] = {param};
  PGresult *res = PQexecParams(r->dst, sql, param ? 1 : 0, NULL, values, NULL, NULL, 0);
  if (res && PQresultStatus(res) == PGRES_TUPLES_OK) return res;
  sf_err_internal(&r->err, "%.200s", res ? PQresultErrorMessage(res) : PQerrorMessage(r->dst));
  r->err.detail[strcspn(r->err.detail, "\n")] = '\0';
  PQclear(res);
  return NULL;
}

static int open_target(copy_run *r, const char *url) {
  r->target = sf_db_open(url, SF_DB_WRITE, &r->err);
  if (!r->target) return -1;
  r->dst = sf_pg_conn(r->target);
  if (!r->dst) return sf_err_internal(&r->err, "the target's connection is lost"), -1;
  /* the copy's transaction may wait on the source between two statements */
  return copy_exec(r->dst, "SET idle_in_transaction_session_timeout = 0", "settings", &r->err);
}

/* Refuses a target with any relation in its current schema (ours from an
 * earlier copy or a server, or anyone's): SF_PG_COPY_NOT_EMPTY. Notes the
 * functions there so that an undo drops only the migrations' own. */
static int check_empty(copy_run *r) {
  static const char k_relations_pg[] =
      "SELECT c.relname FROM pg_class c WHERE c.relnamespace = CAST(CAST(current_schema() AS TEXT) AS regnamespace)"
      " AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') ORDER BY c.relname";
  static const char k_functions_pg[] =
      "SELECT '{' || coalesce(string_agg(CAST(p.oid AS TEXT), ','), '') || '}' FROM pg_proc p"
      " WHERE p.pronamespace = CAST(CAST(current_schema() AS TEXT) AS regnamespace)";
  PGresult *rel = target_rows(r, k_relations_pg, NULL);
  if (!rel) return -1;
  int n = PQntuples(rel);
  if (n) {
    char some[200] = "";
    for (int i = 0; i < n && i < 5; i++)
      snprintf(some + strlen(some), sizeof some - strlen(some), "%s%s", i ? ", " : "", PQgetvalue(rel, i, 0));
    sf_err_set(
        &r->err, 409, "not-empty", "Target not empty",
        "the target database is not empty: it has %d table%s (%s%s); copy-to-postgres fills an empty database only", n,
        n == 1 ? "" : "s", some, n > 5 ? ", ..." : "");
  }
  PQclear(rel);
  if (n) return SF_PG_COPY_NOT_EMPTY;
  PGresult *fn = target_rows(r, k_functions_pg, NULL);
  if (!fn) return -1;
  r->old_funcs = sf_strdup(PQgetvalue(fn, 0, 0));
  PQclear(fn);
  return 0;
}

/* The target back to empty after a failure: the migrations' tables (with
 * their indexes, triggers and sequences) and functions dropped. */
static void undo_migrations(copy_run *r) {
  static const char k_undo_pg[] =
      "SELECT 'DROP TABLE IF EXISTS ' || quote_ident(c.relname) || ' CASCADE' FROM pg_class c"
      " WHERE c.relnamespace = CAST(CAST(current_schema() AS TEXT) AS regnamespace) AND c.relkind IN ('r', 'p')"
      " UNION ALL SELECT 'DROP FUNCTION IF EXISTS ' || CAST(CAST(p.oid AS regprocedure) AS TEXT) || ' CASCADE'"
      " FROM pg_proc p WHERE p.pronamespace = CAST(CAST(current_schema() AS TEXT) AS regnamespace)"
      " AND p.oid <> ALL(CAST($1 AS oid[]))";
  if (!r->migrated || !r->dst) return;
  sf_err ignored = {0};
  if (sf_db_begin(r->target, &ignored)) {
    sf_db_rollback(r->target);
    return;
  }
  PGresult *drops = target_rows(r, k_undo_pg, r->old_funcs);
  int failed = !drops;
  for (int i = 0; drops && i < PQntuples(drops) && !failed; i++)
    failed = copy_exec(r->dst, PQgetvalue(drops, i, 0), "undo", &ignored) != 0;
  PQclear(drops);
  if (failed || sf_db_commit(r->target, &ignored)) {
    sf_db_rollback(r->target);
    fprintf(stderr,
            "serviceflow copy-to-postgres: could not drop the tables made by the migrations: drop them by hand\n");
  }
}

/* The owners' versions, "owner=version,..." in owner order, of either side. */
static int source_versions(copy_run *r, char *out, size_t cap) {
  static const char k_versions_sqlite[] = "SELECT service, version FROM schema_migrations ORDER BY service";
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(r->src, k_versions_sqlite, -1, &st, NULL) != SQLITE_OK)
    return sf_err_internal(&r->err,
                           "the SQLite file has no per-owner schema_migrations: run `serviceflow migrate` on it"),
           -1;
  out[0] = '\0';
  while (sqlite3_step(st) == SQLITE_ROW)
    snprintf(out + strlen(out), cap - strlen(out), "%s=%lld,", (const char *)sqlite3_column_text(st, 0),
             (long long)sqlite3_column_int64(st, 1));
  sqlite3_finalize(st);
  return 0;
}

static int target_versions(copy_run *r, char *out, size_t cap) {
  static const char k_versions_pg[] =
      "SELECT string_agg(service || '=' || CAST(version AS TEXT) || ',', '' ORDER BY service COLLATE \"C\")"
      " FROM schema_migrations";
  PGresult *res = target_rows(r, k_versions_pg, NULL);
  if (!res) return -1;
  snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  return 0;
}

/* The first "owner=version" of a ("a=1,b=2,") not in b, and b's entry for
 * that owner (or "none"); both "none" when a's entries are all in b (then
 * b has an owner a lacks: named the same way, sides swapped). */
static void first_difference(const char *a, const char *b, char *a_at, size_t acap, char *b_at, size_t bcap) {
  for (int swap = 0; swap < 2; swap++) {
    const char *x = swap ? b : a, *y = swap ? a : b;
    char *x_at = swap ? b_at : a_at, *y_at = swap ? a_at : b_at;
    size_t xcap = swap ? bcap : acap, ycap = swap ? acap : bcap;
    for (const char *p = x; *p;) {
      size_t len = strcspn(p, ",");
      char tok[64], owner[64];
      snprintf(tok, sizeof tok, ",%.*s,", (int)len, p);
      char wrapped[2100];
      snprintf(wrapped, sizeof wrapped, ",%s", y);
      if (!strstr(wrapped, tok)) {
        snprintf(x_at, xcap, "%.*s", (int)len, p);
        snprintf(owner, sizeof owner, ",%.*s=", (int)strcspn(p, "="), p);
        const char *o = strstr(wrapped, owner);
        snprintf(y_at, ycap, "%.*s", o ? (int)strcspn(o + 1, ",") : 4, o ? o + 1 : "none");
        return;
      }
      p += len + (p[len] == ',');
    }
  }
  snprintf(a_at, acap, "none");
  snprintf(b_at, bcap, "none");
}

/* The server's migrations on the target, then the versions compared: the
 * file must be at this binary's versions, or its tables would not match. */
static int migrate_target(copy_run *r, const sf_pg_copy_hooks *hooks) {
  char src_v[2048], dst_v[2048];
  if (source_versions(r, src_v, sizeof src_v)) return -1;
  r->migrated = 1;
  r->mark = now_seconds();
  if (hooks->migrate(r->target, &r->err)) return -1;
  phase_done(r, "migrate");
  r->dst = sf_pg_conn(r->target);
  if (!r->dst || target_versions(r, dst_v, sizeof dst_v)) return -1;
  json_object_set_new(r->report, "schema_versions", json_string(src_v));
  if (strcmp(src_v, dst_v) != 0) {
    char src_at[64], dst_at[64];
    first_difference(src_v, dst_v, src_at, sizeof src_at, dst_at, sizeof dst_at);
    return sf_err_set(&r->err, 409, "schema-versions", "Schema versions differ",
                      "run `serviceflow migrate` on the SQLite file with this binary first: its schema is %s where "
                      "this binary's is %s",
                      src_at, dst_at),
           -1;
  }
  return 0;
}

/* ---- inside the copy's transaction ---- */

/* "<head><table><tail>" for every table with triggers of its own. */
static int each_trigger_table(copy_run *r, const char *head, const char *tail) {
  char sql[400], name[200];
  for (int i = 0; i < r->plan.n; i++) {
    if (!r->plan.tables[i].has_triggers) continue;
    copy_quote(r->plan.tables[i].name, name, sizeof name);
    snprintf(sql, sizeof sql, "%s%s%s", head, name, tail);
    if (copy_exec(r->dst, sql, sql, &r->err)) return -1;
  }
  return 0;
}

/* What the migrations seeded (checkpoints at the head of an empty log)
 * goes: the rows come from the source. One TRUNCATE of every table, so
 * that foreign keys between them do not stand in the way. */
static int truncate_seeded(copy_run *r) {
  size_t cap = 16, len = 0;
  for (int i = 0; i < r->plan.n; i++) cap += 2 * strlen(r->plan.tables[i].name) + 5;
  char *sql = sf_malloc(cap);
  len = (size_t)snprintf(sql, cap, "TRUNCATE");
  for (int i = 0; i < r->plan.n; i++) {
    sql[len++] = i ? ',' : ' ';
    copy_quote(r->plan.tables[i].name, sql + len, cap - len);
    len += strlen(sql + len);
  }
  int rc = r->plan.n ? copy_exec(r->dst, sql, "emptying the seeded tables", &r->err) : 0;
  free(sql);
  return rc;
}

/* request_search's text as its triggers keep it (requests' migrations):
 * title and data's values from the request, comments and notes from its
 * events in log order, each after a newline. */
static int fill_search(copy_run *r) {
  static const char k_fill_search_pg[] =
      "UPDATE request_search s SET title = q.title, data = request_text(q.data),"
      " comments = coalesce((SELECT string_agg(chr(10) || coalesce(CAST(e.data AS jsonb) ->> 'body',"
      "   CAST(e.data AS jsonb) ->> 'comment'), '' ORDER BY e.position) FROM events e"
      "   WHERE e.stream = 'request-' || s.request_id AND e.type IN ('request.commented', 'request.transitioned',"
      "   'request.approval_decided', 'request.approval_delegated')"
      "   AND coalesce(CAST(e.data AS jsonb) ->> 'body', CAST(e.data AS jsonb) ->> 'comment', '') <> ''), ''),"
      " notes = coalesce((SELECT string_agg(chr(10) || (CAST(e.data AS jsonb) ->> 'body'), '' ORDER BY e.position)"
      "   FROM events e WHERE e.stream = 'request-' || s.request_id AND e.type = 'request.noted'"
      "   AND coalesce(CAST(e.data AS jsonb) ->> 'body', '') <> ''), '')"
      " FROM service_requests q WHERE q.id = s.request_id AND s.seq > CAST($1 AS BIGINT) AND s.seq <= CAST($2 AS "
      "BIGINT)";
  int64_t top = 0;
  if (copy_query_int(r->dst, "SELECT coalesce(max(seq), 0) FROM request_search", &top, &r->err)) return -1;
  for (int64_t lo = 0; lo < top; lo += SEARCH_BATCH) {
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, lo);
    snprintf(b, sizeof b, "%" PRId64, lo + SEARCH_BATCH);
    const char *values[2] = {a, b};
    PGresult *res = PQexecParams(r->dst, k_fill_search_pg, 2, NULL, values, NULL, NULL, 0);
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) sf_err_internal(&r->err, "request_search: %.200s", res ? PQresultErrorMessage(res) : "no result");
    PQclear(res);
    if (!ok) return -1;
  }
  return 0;
}

/* Every identity column's sequence set so that the next value is max + 1. */
static int reset_identities(copy_run *r) {
  for (int i = 0; i < r->plan.n; i++) {
    copy_table *t = &r->plan.tables[i];
    for (int k = 0; k < t->nidentity; k++) {
      char table[200], col[200], sql[700];
      copy_quote(t->name, table, sizeof table);
      copy_quote(t->identity[k], col, sizeof col);
      snprintf(sql, sizeof sql,
               "SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max(%s), 0) + 1, false) FROM %s", col, table);
      const char *values[2] = {table, t->identity[k]};
      PGresult *res = PQexecParams(r->dst, sql, 2, NULL, values, NULL, NULL, 0);
      int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
      if (!ok) sf_err_internal(&r->err, "sequence of %s.%s: %.200s", t->name, t->identity[k], PQerrorMessage(r->dst));
      PQclear(res);
      if (!ok) return -1;
    }
  }
  return 0;
}

static int copy_all_rows(copy_run *r) {
  for (int i = 0; i < r->plan.n; i++)
    if (copy_rows(r->src, r->dst, &r->plan.tables[i], &r->err)) return -1;
  return 0;
}

/* Each table's rows: counted in the source snapshot, streamed, reported by
 * COPY and counted on the target must be one number. */
static int count_rows(copy_run *r, json_t *tables, int64_t *total) {
  for (int i = 0; i < r->plan.n; i++) {
    copy_table *t = &r->plan.tables[i];
    char name[200], sql[300];
    int64_t in_source = 0;
    copy_quote(t->name, name, sizeof name);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", name);
    if (src_int(r->src, sql, &in_source, &r->err) || copy_query_int(r->dst, sql, &t->on_target, &r->err)) return -1;
    json_object_set_new(tables, t->name, json_integer(t->on_target));
    *total += t->rows;
    if (in_source == t->rows && t->rows == t->copied && t->copied == t->on_target) continue;
    char text[300];
    snprintf(text, sizeof text,
             "table %s: %" PRId64 " rows in the SQLite snapshot, %" PRId64 " copied, %" PRId64 " on PostgreSQL",
             t->name, in_source, t->copied, t->on_target);
    json_array_append_new(r->problems, json_string(text));
  }
  return 0;
}

/* The position the copy ends at, as the target's log says. */
static int check_last_position(copy_run *r) {
  int64_t last = 0;
  if (copy_query_int(r->dst, "SELECT coalesce(max(position), 0) FROM events", &last, &r->err)) return -1;
  if (last != r->last_position) {
    char text[160];
    snprintf(text, sizeof text, "events: the SQLite snapshot ends at position %" PRId64 ", PostgreSQL at %" PRId64,
             r->last_position, last);
    json_array_append_new(r->problems, json_string(text));
  }
  return 0;
}

/* The rows and what derives from them, checked; 0 when clean, 1 with
 * problems, -1 with err. */
static int copy_in_transaction(copy_run *r, const sf_pg_copy_hooks *hooks) {
  json_t *tables = json_object();
  json_object_set_new(r->report, "tables", tables);
  int64_t total = 0;
  /* the triggers would derive again what the rows already hold */
  if (each_trigger_table(r, "ALTER TABLE ", " DISABLE TRIGGER USER") || truncate_seeded(r) || copy_all_rows(r) ||
      fill_search(r) || each_trigger_table(r, "ALTER TABLE ", " ENABLE TRIGGER USER") || reset_identities(r))
    return -1;
  phase_done(r, "copy");
  if (count_rows(r, tables, &total) || check_last_position(r)) return -1;
  json_object_set_new(r->report, "rows", json_integer(total));
  if (json_array_size(r->problems)) return 1; /* the chain is not worth walking */
  int rc = hooks->verify(r->target, r->report, r->problems, &r->err);
  phase_done(r, "check");
  return rc < 0 ? -1 : json_array_size(r->problems) ? 1 : 0;
}

static int copy_and_commit(copy_run *r, const sf_pg_copy_hooks *hooks) {
  if (copy_plan_make(r->src, r->dst, &r->plan, r->problems, &r->err)) return -1;
  if (json_array_size(r->problems)) return 1;
  if (sf_db_begin(r->target, &r->err)) { /* BEGIN and the write lock: a server on the target waits */
    sf_db_rollback(r->target);
    return -1;
  }
  int rc = copy_in_transaction(r, hooks);
  if (rc == 0 && sf_db_commit(r->target, &r->err)) rc = -1;
  if (rc) sf_db_rollback(r->target);
  if (rc) return rc;
  phase_done(r, "commit");
  /* statistics for the server's first queries (autovacuum would take its
   * time); the copy stands whatever this says */
  sf_err ignored = {0};
  if (copy_exec(r->dst, "ANALYZE", "ANALYZE", &ignored))
    json_object_set_new(r->report, "warning", json_string(ignored.detail));
  phase_done(r, "analyze");
  return 0;
}

/* ---- the run ---- */

static int run_steps(copy_run *r, const char *url, const sf_pg_copy_hooks *hooks) {
  if (open_source(r) || open_target(r, url)) return -1;
  int rc = check_empty(r);
  if (rc) return rc;
  if (migrate_target(r, hooks)) return -1;
  return copy_and_commit(r, hooks);
}

static int run_end(copy_run *r, int rc, double t0) {
  if (rc && r->migrated) undo_migrations(r);
  double secs = now_seconds() - t0;
  int64_t rows = json_integer_value(json_object_get(r->report, "rows"));
  json_object_set_new(r->report, "ok", json_boolean(rc == 0));
  json_object_set_new(r->report, "last_position", json_integer(r->last_position));
  json_object_set_new(r->report, "seconds", json_real((double)(int64_t)(secs * 1000) / 1000));
  double copying = json_real_value(json_object_get(r->phases, "copy"));
  json_object_set(r->report, "phases", r->phases);
  json_decref(r->phases);
  /* the rate of the copy itself: reading, COPY, search text, sequences */
  if (!rc && copying > 0)
    json_object_set_new(r->report, "rows_per_second", json_integer((int64_t)((double)rows / copying)));
  if (!rc) {
    char note[200];
    snprintf(note, sizeof note,
             "copied the SQLite snapshot up to event position %" PRId64
             "; writes to the file after that snapshot are not copied",
             r->last_position);
    json_object_set_new(r->report, "note", json_string(note));
  } else if (rc < 0 || rc == SF_PG_COPY_NOT_EMPTY) {
    json_object_set_new(r->report, "error", json_string(r->err.detail[0] ? r->err.detail : r->err.title));
  } else {
    json_object_set_new(r->report, "error", json_string("the copy did not check out: nothing was kept"));
  }
  if (json_array_size(r->problems)) json_object_set(r->report, "problems", r->problems);
  json_decref(r->problems);
  copy_plan_free(&r->plan);
  sf_db_close(r->target);
  sqlite3_close(r->src); /* ends the read transaction */
  free(r->old_funcs);
  return rc == 0 ? SF_PG_COPY_OK : rc == SF_PG_COPY_NOT_EMPTY ? SF_PG_COPY_NOT_EMPTY : SF_PG_COPY_FAILED;
}

/* The URL as the report shows it: a password in it replaced by ***. */
static json_t *shown_url(const char *url) {
  const char *auth = strstr(url, "://");
  const char *at = auth ? strchr(auth + 3, '@') : NULL;
  const char *colon = at ? memchr(auth + 3, ':', (size_t)(at - auth - 3)) : NULL;
  if (!colon) return json_string(url);
  char out[700];
  snprintf(out, sizeof out, "%.*s***%.600s", (int)(colon + 1 - url), url, at);
  return json_string(out);
}

int sf_pg_copy(const char *sqlite_path, const char *pg_url, const sf_pg_copy_hooks *hooks, json_t **report) {
  double t0 = now_seconds();
  copy_run r = {.source_path = sqlite_path, .report = json_object(), .problems = json_array(), .phases = json_object()};
  json_object_set_new(r.report, "source", json_string(sqlite_path));
  json_object_set_new(r.report, "target", shown_url(pg_url));
  *report = r.report;
  int rc = run_steps(&r, pg_url, hooks);
  return run_end(&r, rc, t0);
}
