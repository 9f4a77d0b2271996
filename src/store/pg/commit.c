/* The PostgreSQL side of the writer's commit path (store/backend.h's
 * writer_* operations) and the integrity check (store/pg/pg.h). */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "store/pg/pg.h"

/* Not pipelined: the writer's COMMIT returns once the server flushed its
 * WAL (synchronous_commit as the server has it, on by default), so every
 * answer follows a durable commit. An asynchronous commit would be visible
 * to the other instances before it is durable, and their readers act on
 * what they see without waiting for this instance's sync: the writer's
 * durability gate (sf_writer_barrier) covers one process only. */
sf_db *sf_pg_writer_open(const char *location, int *pipelined, sf_err *err) {
  *pipelined = 0;
  return sf_db_open(location, SF_DB_WRITE, err);
}

/* A write that changes nothing: a transaction id makes the COMMIT write and
 * flush a WAL record, so the probe succeeds only when the server can. */
int sf_pg_writer_probe(sf_db *db, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT pg_current_xact_id()", err);
  return st ? sf_stmt_run(st, err) : -1;
}

void sf_pg_writer_close(sf_db *db) { sf_db_close(db); }

/* ---- integrity ---- */

/* The check runs on its own libpq session of the same location, so that
 * its statement_timeout and failures touch no caller's connection. */
typedef struct {
  PGconn *conn;
  uint64_t deadline_ns; /* 0: no limit */
  char *report;
  size_t cap, used;
} check_run;

/* Runs sql under the time left; 0 done, 1 out of time, 2 found damage
 * (written to the report), 3 not allowed, <0 other failure. */
static int check_sql(check_run *c, const char *sql, const char *param, PGresult **out, sf_err *err) {
  char timeout[64] = "SET statement_timeout = 0";
  if (c->deadline_ns) {
    uint64_t now = sf_mono_ns();
    if (now >= c->deadline_ns) return 1;
    snprintf(timeout, sizeof timeout, "SET statement_timeout = %llu",
             (unsigned long long)((c->deadline_ns - now) / 1000000u + 1));
  }
  PQclear(PQexec(c->conn, timeout));
  PGresult *res = PQexecParams(c->conn, sql, param ? 1 : 0, NULL, param ? &param : NULL, NULL, NULL, 0);
  ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
    if (out)
      *out = res;
    else
      PQclear(res);
    return 0;
  }
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(c->conn);
  int rc;
  if (state && !strcmp(state, "57014")) {
    rc = 1;
  } else if (state && !strcmp(state, "42501")) {
    rc = 3; /* amcheck's functions are the superuser's until granted */
  } else if (state && (!strcmp(state, "XX001") || !strcmp(state, "XX002"))) {
    if (c->used + 3 < c->cap)
      c->used += (size_t)snprintf(c->report + c->used, c->cap - c->used, "%s%s: %s", c->used ? "; " : "",
                                  param ? param : "", msg ? msg : state);
    rc = 2;
  } else {
    rc = sf_err_set(err, 503, "storage-error", "Storage error", "integrity check: %.180s", msg ? msg : "failed");
  }
  PQclear(res);
  return rc;
}

/* amcheck, when the database has it (CREATE EXTENSION amcheck, by a
 * superuser, who also grants EXECUTE on bt_index_check(regclass) and
 * verify_heapam(regclass, boolean, boolean, text, bigint, bigint) to the
 * server's role; a function not granted is left out): bt_index_check on
 * every B-tree index of the current schema (pages, key order within pages
 * and against their parent's bounds) and verify_heapam on every table
 * (tuple headers, visibility information, TOAST pointers), smallest
 * first, until the budget ends. */
static int check_amcheck(check_run *c, sf_err *err) {
  PGresult *res = NULL;
  int rc = check_sql(c,
                     "SELECT c.oid::regclass::text, c.relkind::text FROM pg_class c"
                     " JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " LEFT JOIN pg_am a ON a.oid = c.relam"
                     " WHERE n.nspname = current_schema() AND"
                     " ((c.relkind = 'i' AND a.amname = 'btree') OR c.relkind = 'r')"
                     " AND EXISTS(SELECT 1 FROM pg_extension WHERE extname = 'amcheck')"
                     " ORDER BY pg_relation_size(c.oid)",
                     NULL, &res, err);
  if (rc) return rc;
  int damaged = 0, denied[2] = {0, 0}; /* indexes, tables */
  for (int i = 0; i < PQntuples(res) && rc >= 0 && rc != 1; i++) {
    const char *rel = PQgetvalue(res, i, 0);
    int index = PQgetvalue(res, i, 1)[0] == 'i';
    if (denied[index]) continue;
    if (index) {
      rc = check_sql(c, "SELECT bt_index_check($1::regclass)", rel, NULL, err);
    } else {
      PGresult *rows = NULL;
      rc = check_sql(c, "SELECT msg FROM verify_heapam($1::regclass) LIMIT 5", rel, &rows, err);
      int found = rc == 0 ? PQntuples(rows) : 0;
      for (int r = 0; r < found; r++)
        if (c->used + 3 < c->cap)
          c->used += (size_t)snprintf(c->report + c->used, c->cap - c->used, "%s%s: %s", c->used ? "; " : "", rel,
                                      PQgetvalue(rows, r, 0));
      if (found) rc = 2;
      PQclear(rows);
    }
    if (rc == 2) damaged = 1, rc = 0;
    if (rc == 3) denied[index] = 1, rc = 0;
  }
  PQclear(res);
  return rc < 0 ? rc : rc == 1 ? 1 : damaged ? 2 : 0;
}

/* A bounded check: the server answers (SELECT 1), then amcheck if the
 * database has the extension (without it, only what PostgreSQL checks on
 * every read: page headers and, with data checksums, each page's sum,
 * which fail reads with XX001 and mark the database damaged). */
int sf_pg_check(sf_db *db, int budget_ms, char *report, size_t cap, sf_err *err) {
  const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *vals[] = {"5", "serviceflow-check", sf_pg_location(db), NULL};
  check_run c = {.conn = PQconnectdbParams(keys, vals, 1), .report = report, .cap = cap};
  if (cap) report[0] = '\0';
  if (budget_ms > 0) c.deadline_ns = sf_mono_ns() + (uint64_t)budget_ms * 1000000u;
  int rc;
  if (!c.conn || PQstatus(c.conn) != CONNECTION_OK) {
    rc = sf_err_set(err, 503, "storage-error", "Storage error", "integrity check: cannot connect: %.150s",
                    c.conn ? PQerrorMessage(c.conn) : "out of memory");
  } else {
    rc = check_sql(&c, "SELECT 1", NULL, NULL, err);
    if (rc == 0) rc = check_amcheck(&c, err);
  }
  PQfinish(c.conn);
  if (rc < 0) return rc;
  if (rc == 2) sf_db_mark_damaged();
  return rc == 1 ? SF_DB_CHECK_INCOMPLETE : rc == 2 ? SF_DB_CHECK_DAMAGED : SF_DB_CHECK_OK;
}
