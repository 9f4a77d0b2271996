/* PostgreSQL backend of store/db.h (store/pg/pg.h): connections per role
 * and their reconnection, cached prepared statements, transactions and
 * savepoints, the mapping of SQLSTATEs onto store/db.h's statuses. */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/pg/pg.h"

#define CACHE_SLOTS 512 /* power of two; statements per connection */

typedef struct pg_db pg_db;

typedef struct {
  const char *v; /* NULL binds NULL */
  char *buf;     /* owned copy (bind_text copying, bind_int) */
  size_t cap;
} pg_param;

typedef struct {
  sf_stmt base;
  pg_db *db;
  char name[16];      /* the server-side prepared statement */
  char *text;         /* the SQL in PostgreSQL's placeholders */
  unsigned gen;       /* the connection it was prepared on (pg_db.gen) */
  int nslots;         /* the SQLite numbers a caller may bind: params[0..nslots) */
  int *slot_to_param; /* the $k of each (0: unused by the text, its bind ignored) */
  int nparams;        /* PostgreSQL's $1..$k */
  pg_param *params;
  const char **values; /* PQexecPrepared's array, filled at run */
  PGresult *res;       /* the rows of the current run, NULL before */
  int row, nrows;
} pg_stmt;

struct pg_db {
  sf_db base;
  PGconn *conn;
  char *location;
  int role;
  unsigned gen;     /* moves on at each (re)connection */
  int broken;       /* the server went away: connect again at the next use */
  int tx_open;      /* between our BEGIN and COMMIT/ROLLBACK */
  unsigned savepts; /* open savepoint levels, bit per SF_DB_SAVEPOINT_* (sent or queued) */
  sf_pg_pipe pipe;  /* what goes with the next round trip (pipe.c) */
  int64_t changes;  /* rows of the last INSERT/UPDATE/DELETE */
  unsigned nnames;
  struct {
    const char *sql;
    pg_stmt *st;
  } cache[CACHE_SLOTS];
};

/* ---- errors ---- */

static int conn_lost(pg_db *d) {
  if (d->conn && PQstatus(d->conn) != CONNECTION_BAD) return 0;
  d->broken = 1;
  return 1;
}

/* The SQLSTATEs of a server going away: connection exceptions (08), and
 * the administrator's or a crash's shutdown (57P01-57P03). */
static int state_lost(const char *state) {
  return state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0);
}

/* Maps a failed result (res may be NULL: libpq had no result) onto
 * store/db.h's statuses; returns -status. */
static int pg_error(pg_db *d, const PGresult *res, sf_err *err) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!msg) msg = d->conn ? PQerrorMessage(d->conn) : "no connection";
  char text[200];
  snprintf(text, sizeof text, "%s", msg);
  text[strcspn(text, "\n")] = '\0';
  if (conn_lost(d) || state_lost(state)) {
    d->broken = 1;
    return sf_err_set(err, 503, "storage-error", "Storage error", "database connection lost: %s", text);
  }
  if (!state) return sf_err_internal(err, "database: %s", text);
  if (strncmp(state, "23", 2) == 0) return sf_err_conflict(err, "constraint violated: %s", text);
  /* text that is not UTF-8 (SQLite stores it as given): the caller's input */
  if (!strcmp(state, "22021")) return sf_err_set(err, 400, "bad-request", "Bad request", "text is not valid UTF-8");
  if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") || !strcmp(state, "57014") ||
      !strcmp(state, "53300"))
    return sf_err_set(err, 503, "busy", "Database busy", "%s (%s)", text, state);
  if (!strcmp(state, "53100")) return sf_err_set(err, 507, "storage-full", "Insufficient storage", "%s", text);
  if (!strcmp(state, "58030") || !strcmp(state, "53200"))
    return sf_err_set(err, 503, "storage-error", "Storage error", "%s (%s)", text, state);
  if (!strcmp(state, "XX001") || !strcmp(state, "XX002")) sf_db_mark_damaged();
  return sf_err_internal(err, "database: %s (%s)", text, state);
}

/* ---- the pipeline (pipe.c) ---- */

/* One round trip: what the pipeline holds, then st (prepared) or sql (no
 * parameters) or nothing, one Sync. 0 with *out = the final's result (the
 * caller owns it; NULL without a final), or -status with err: the first
 * failure among them, whoever queued it. A connection that failed in the
 * middle is not used again (its protocol state is unknown). */
static int pipe_trip(pg_db *d, pg_stmt *st, const char *sql, PGresult **out, sf_err *err) {
  PGresult *res = NULL;
  unsigned unset = 0;
  int r = sf_pg_pipe_sync(d->conn, &d->pipe, st ? st->name : NULL, sql, st ? st->nparams : 0,
                          st ? (const char *const *)st->values : NULL, &res, &unset);
  d->savepts &= ~unset;
  *out = NULL;
  if (r == 0) {
    *out = res;
    return 0;
  }
  sf_pg_pipe_clear(&d->pipe);
  int rc = pg_error(d, res, err);
  PQclear(res);
  if (r == -2) {
    d->broken = 1;
    if (rc != -503) rc = sf_err_set(err, 503, "storage-error", "Storage error", "database connection lost");
  }
  return rc;
}

/* Before a call libpq runs outside pipeline mode (PQexec, PQprepare): what
 * the pipeline holds goes now; its failure is this call's. */
static int pipe_flush(pg_db *d, sf_err *err) {
  if (!sf_pg_pipe_busy(&d->pipe)) return 0;
  if (d->broken) return sf_err_set(err, 503, "storage-error", "Storage error", "database connection lost");
  PGresult *res = NULL;
  int rc = pipe_trip(d, NULL, NULL, &res, err);
  PQclear(res);
  return rc;
}

/* ---- connections ---- */

/* Settings per role, sent once per connection. Write connections wait at
 * most 10 s for the write lock (SQLite's busy timeout; then 503 busy), and
 * a write transaction left idle for a minute (a hung instance) is ended by
 * the server, which frees the write lock for the others. */
static const char *role_settings(int role) {
  if (role == SF_DB_READ) return "SET default_transaction_read_only = on";
  return "SET lock_timeout = '10s'; SET idle_in_transaction_session_timeout = '60s'";
}

static int pipe_flush(pg_db *d, sf_err *err);

static int run_simple(pg_db *d, const char *sql, sf_err *err) {
  int flushed = pipe_flush(d, err);
  if (flushed) return flushed;
  PGresult *res = PQexec(d->conn, sql);
  ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  int rc = 0;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) rc = pg_error(d, res, err);
  PQclear(res);
  return rc;
}

/* Server notices (NOTICE: table does not exist, skipping) are not errors
 * and not for the log. */
static void drop_notice(void *arg, const char *message) { (void)arg, (void)message; }

/* Defaults before the location, so that the location's own parameters win
 * (libpq keeps the last value of a repeated keyword). */
static int connect_now(pg_db *d, sf_err *err) {
  const char *keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", NULL};
  const char *vals[] = {"5", "serviceflow", "UTF8", d->location, NULL};
  PQfinish(d->conn);
  d->conn = PQconnectdbParams(keys, vals, 1);
  d->gen++;
  d->savepts = 0;
  sf_pg_pipe_clear(&d->pipe);
  if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
    d->broken = 1;
    return sf_err_set(err, 503, "storage-error", "Storage error", "cannot connect to the database: %.180s",
                      d->conn ? PQerrorMessage(d->conn) : "out of memory");
  }
  d->broken = 0;
  PQsetNoticeProcessor(d->conn, drop_notice, NULL);
  int rc = run_simple(d, role_settings(d->role), err);
  if (rc) d->broken = 1; /* never used without its role's settings (read-only) */
  return rc;
}

/* A lost connection connects again, but only outside a transaction: what
 * ran in the lost one is gone, and what follows must not run on its own in
 * a new session. Inside, every call fails until the caller rolls back. */
static int usable(pg_db *d, sf_err *err) {
  if (!d->broken && !conn_lost(d)) return 0;
  if (d->tx_open)
    return sf_err_set(err, 503, "storage-error", "Storage error", "database connection lost in a transaction");
  return connect_now(d, err);
}

static void stmt_free(pg_stmt *st) {
  PQclear(st->res);
  for (int i = 0; i < st->nslots; i++) free(st->params[i].buf);
  free(st->params);
  free(st->values);
  free(st->slot_to_param);
  free(st->text);
  free(st);
}

static void pq_close(sf_db *db) {
  if (!db) return;
  pg_db *d = (pg_db *)db;
  for (int i = 0; i < CACHE_SLOTS; i++)
    if (d->cache[i].st) stmt_free(d->cache[i].st);
  PQfinish(d->conn);
  free(d->location);
  free(d);
}

static sf_db *pq_open(const char *location, int role, sf_err *err) {
  pg_db *d = sf_calloc(1, sizeof *d);
  d->base.ops = &sf_db_pg_backend;
  d->location = sf_strdup(location);
  d->role = role;
  if (connect_now(d, err)) {
    pq_close(&d->base);
    return NULL;
  }
  return &d->base;
}

/* The row count of the last INSERT, UPDATE, DELETE or MERGE (as SQLite's
 * changes(): a SELECT leaves it). */
static void note_changes(pg_db *d, PGresult *res) {
  const char *tag = PQcmdStatus(res);
  if (!strncmp(tag, "INSERT", 6) || !strncmp(tag, "UPDATE", 6) || !strncmp(tag, "DELETE", 6) ||
      !strncmp(tag, "MERGE", 5))
    d->changes = strtoll(PQcmdTuples(res), NULL, 10);
}

static int pq_exec(sf_db *db, const char *sql, sf_err *err) {
  pg_db *d = (pg_db *)db;
  if (usable(d, err)) return -503;
  int flushed = pipe_flush(d, err);
  if (flushed) return flushed;
  PGresult *res = PQexec(d->conn, sql);
  ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  int rc = 0;
  if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
    note_changes(d, res);
  else if (s != PGRES_EMPTY_QUERY)
    rc = pg_error(d, res, err);
  PQclear(res);
  return rc;
}

const char *sf_pg_location(sf_db *db) { return ((pg_db *)db)->location; }

PGconn *sf_pg_conn(sf_db *db) {
  pg_db *d = (pg_db *)db;
  if (pipe_flush(d, NULL)) return NULL;
  return d->broken || conn_lost(d) ? NULL : d->conn;
}

static int64_t pq_changes(sf_db *db) { return ((pg_db *)db)->changes; }

/* 1 while the transaction can go on: open, or failed (SQLSTATE != 0 makes
 * PostgreSQL refuse everything up to a rollback) with a savepoint to roll
 * back to, which is what the writer does next. 0 when the server aborted
 * it with nothing to go back to, or the connection is gone. */
static int pq_in_transaction(sf_db *db) {
  pg_db *d = (pg_db *)db;
  if (!d->conn || d->broken) return 0;
  switch (PQtransactionStatus(d->conn)) {
    case PQTRANS_INTRANS:
    case PQTRANS_ACTIVE: return 1;
    case PQTRANS_INERROR: return d->savepts != 0;
    default: return 0;
  }
}

/* ---- transactions ---- */

/* BEGIN and the write lock in one round trip: READ COMMITTED, so every
 * statement after the lock sees what the previous holder committed. */
static int pq_begin(sf_db *db, sf_err *err) {
  pg_db *d = (pg_db *)db;
  if (usable(d, err)) return -503;
  d->savepts = 0; /* the pipeline is empty: COMMIT and ROLLBACK empty it */
  char sql[96];
  snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%d)", SF_PG_WRITE_LOCK);
  sf_err first = {0};
  int rc = run_simple(d, sql, &first);
  if (rc && d->broken && !connect_now(d, &first)) /* lost while idle: nothing of ours was in it */
    rc = run_simple(d, sql, &first);
  if (rc && err) *err = first;
  d->tx_open = 1; /* a failed BEGIN is rolled back by the caller */
  return rc;
}

static int pq_begin_read(sf_db *db, sf_err *err) {
  pg_db *d = (pg_db *)db;
  if (usable(d, err)) return -503;
  d->savepts = 0;
  static const char k_begin[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
  sf_err first = {0};
  int rc = run_simple(d, k_begin, &first);
  if (rc && d->broken && !connect_now(d, &first)) /* lost while idle (a server restart): as pq_begin */
    rc = run_simple(d, k_begin, &first);
  if (rc && err) *err = first;
  d->tx_open = 1;
  return rc;
}

/* A COMMIT of a transaction the server had aborted answers "ROLLBACK":
 * nothing was written, and the caller must not think otherwise. */
static int pq_commit(sf_db *db, sf_err *err) {
  pg_db *d = (pg_db *)db;
  if (d->broken) {
    d->tx_open = 0;
    return sf_err_set(err, 503, "storage-error", "Storage error", "database connection lost before COMMIT");
  }
  sf_pg_pipe_drop(&d->pipe, 0); /* SAVEPOINTs and RELEASEs not sent end with the transaction */
  PGresult *res = NULL;
  int rc = 0;
  if (sf_pg_pipe_busy(&d->pipe)) { /* statements run later go with the COMMIT: their failure is its */
    rc = pipe_trip(d, NULL, "COMMIT", &res, err);
  } else {
    res = PQexec(d->conn, "COMMIT");
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) rc = pg_error(d, res, err);
  }
  if (!rc && strcmp(PQcmdStatus(res), "COMMIT") != 0)
    rc = sf_err_set(err, 503, "storage-error", "Storage error", "the transaction had failed: rolled back");
  PQclear(res);
  d->tx_open = 0;
  d->savepts = 0;
  return rc;
}

static void pq_rollback(sf_db *db) {
  pg_db *d = (pg_db *)db;
  sf_pg_pipe_drop(&d->pipe, 0);
  if (!d->broken && sf_pg_pipe_busy(&d->pipe)) { /* answers still due: read them, whatever they are */
    PGresult *res = NULL;
    pipe_trip(d, NULL, NULL, &res, NULL);
    PQclear(res);
  }
  sf_pg_pipe_clear(&d->pipe);
  if (!d->broken && !conn_lost(d) && PQtransactionStatus(d->conn) != PQTRANS_IDLE) PQclear(PQexec(d->conn, "ROLLBACK"));
  d->tx_open = 0;
  d->savepts = 0;
}

static const char *const k_savepoint[] = {"SAVEPOINT sf_cmd", "SAVEPOINT sf_item"};
static const char *const k_release[] = {"RELEASE SAVEPOINT sf_cmd", "RELEASE SAVEPOINT sf_item"};
static const char *const k_rollback_to[] = {"ROLLBACK TO SAVEPOINT sf_cmd", "ROLLBACK TO SAVEPOINT sf_item"};

/* Savepoints above a level end with it (a command's ends its items'). */
static unsigned levels_from(int level) { return ~0u << level; }

static int lost_now(pg_db *d, sf_err *err) {
  d->broken = 1;
  return sf_err_set(err, 503, "storage-error", "Storage error", "database connection lost");
}

/* SAVEPOINT and RELEASE are queued (store/pg/pg.h: sf_pg_pipe) and reach
 * the server with the next statement that waits for an answer, or not at
 * all: a savepoint that nothing used before its RELEASE, ROLLBACK TO or
 * the COMMIT is dropped unsent. A writer command thus costs no round trip
 * of its own for its savepoint. A queued SAVEPOINT that fails is reported
 * by that statement, and its level no longer counts as open. */
static int pq_savepoint(sf_db *db, int level, sf_err *err) {
  pg_db *d = (pg_db *)db;
  if (d->broken || sf_pg_pipe_queue(d->conn, &d->pipe, k_savepoint[level], level, 1)) return lost_now(d, err);
  d->savepts |= 1u << level;
  return 0;
}

static int pq_release(sf_db *db, int level, sf_err *err) {
  pg_db *d = (pg_db *)db;
  if (d->broken) return lost_now(d, err);
  int at = sf_pg_pipe_find(&d->pipe, level);
  if (at >= 0) { /* never sent: nothing to release */
    sf_pg_pipe_drop(&d->pipe, at);
  } else {
    sf_pg_pipe_drop_deeper(&d->pipe, level); /* released with it */
    if (sf_pg_pipe_queue(d->conn, &d->pipe, k_release[level], level, 0)) return lost_now(d, err);
  }
  d->savepts &= ~levels_from(level);
  return 0;
}

/* Sent at once (a failure path): the caller goes on from the savepoint. */
static int pq_rollback_to(sf_db *db, int level, sf_err *err) {
  pg_db *d = (pg_db *)db;
  if (d->broken) return lost_now(d, err);
  int at = sf_pg_pipe_find(&d->pipe, level), rc = 0;
  if (at >= 0) { /* nothing ran since it: drop what followed, keep it */
    sf_pg_pipe_drop(&d->pipe, at + 1);
  } else {
    sf_pg_pipe_drop_deeper(&d->pipe, level); /* goes with the rollback (and would fail in an aborted one) */
    if (sf_pg_pipe_busy(&d->pipe)) {
      PGresult *res = NULL;
      rc = pipe_trip(d, NULL, k_rollback_to[level], &res, err);
      PQclear(res);
    } else {
      rc = run_simple(d, k_rollback_to[level], err);
    }
  }
  if (!rc) d->savepts &= ~levels_from(level + 1);
  return rc;
}

/* ---- statements ---- */

static void stmt_reset(pg_stmt *st) {
  PQclear(st->res);
  st->res = NULL;
  st->row = -1;
  st->nrows = 0;
}

/* PQprepare on the statement's connection (again after a reconnection). */
static int prepare_once(pg_stmt *st, sf_err *err) {
  pg_db *d = st->db;
  int flushed = pipe_flush(d, err);
  if (flushed) return flushed;
  snprintf(st->name, sizeof st->name, "s%u", ++d->nnames);
  PGresult *res = PQprepare(d->conn, st->name, st->text, st->nparams, NULL);
  int rc = 0;
  if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = pg_error(d, res, err);
  else
    st->gen = d->gen;
  PQclear(res);
  return rc;
}

/* A PREPARE that meets a connection the server dropped while it was idle
 * (a restart) runs once more on a new session, outside a transaction, as a
 * read does (stmt_run): preparing twice changes nothing. */
static int stmt_prepare_server(pg_stmt *st, sf_err *err) {
  pg_db *d = st->db;
  sf_err first = {0};
  int rc = prepare_once(st, &first);
  if (rc && d->broken && !d->tx_open && !connect_now(d, &first)) rc = prepare_once(st, &first);
  if (rc && err) *err = first;
  return rc;
}

static unsigned cache_slot(const char *sql) {
  uintptr_t h = (uintptr_t)sql;
  h ^= h >> 17;
  h *= 0x9E3779B97F4A7C15ull;
  return (unsigned)(h >> 40) & (CACHE_SLOTS - 1);
}

static pg_stmt *stmt_new(pg_db *d, const char *sql, sf_err *err) {
  pg_stmt *st = sf_calloc(1, sizeof *st);
  st->base.ops = &sf_db_pg_backend;
  st->db = d;
  st->text = sf_pg_translate(sql, &st->nslots, &st->slot_to_param, &st->nparams);
  st->params = sf_calloc((size_t)st->nslots + 1, sizeof *st->params);
  st->values = sf_calloc((size_t)st->nparams + 1, sizeof *st->values);
  st->row = -1;
  if (stmt_prepare_server(st, err)) {
    stmt_free(st);
    return NULL;
  }
  return st;
}

static sf_stmt *pq_prepare(sf_db *db, const char *sql, sf_err *err) {
  pg_db *d = (pg_db *)db;
  if (usable(d, err)) return NULL;
  unsigned i = cache_slot(sql);
  for (unsigned probe = 0; probe < CACHE_SLOTS; probe++, i = (i + 1) & (CACHE_SLOTS - 1)) {
    pg_stmt *st = d->cache[i].st;
    if (d->cache[i].sql == sql) {
      stmt_reset(st);
      for (int p = 0; p < st->nslots; p++) st->params[p].v = NULL;
      if (st->gen != d->gen && stmt_prepare_server(st, err)) return NULL;
      return &st->base;
    }
    if (!d->cache[i].sql) break;
  }
  if (d->cache[i].sql) {
    sf_err_internal(err, "statement cache full");
    return NULL;
  }
  pg_stmt *st = stmt_new(d, sql, err);
  if (!st) return NULL;
  d->cache[i].sql = sql;
  d->cache[i].st = st;
  return &st->base;
}

static pg_param *param_at(sf_stmt *s, int idx) {
  pg_stmt *st = (pg_stmt *)s;
  return idx >= 1 && idx <= st->nslots ? &st->params[idx - 1] : NULL;
}

static char *param_buf(pg_param *p, size_t need) {
  if (p->cap < need) {
    p->cap = need < 32 ? 32 : need;
    p->buf = sf_realloc(p->buf, p->cap);
  }
  return p->buf;
}

static void pq_bind_text(sf_stmt *s, int idx, const char *text, int len, int copy) {
  pg_param *p = param_at(s, idx);
  if (!p) return;
  if (!text || (!copy && len < 0)) {
    p->v = text;
    return;
  }
  size_t n = len < 0 ? strlen(text) : (size_t)len;
  char *b = param_buf(p, n + 1);
  memcpy(b, text, n);
  b[n] = '\0';
  p->v = b;
}

static void pq_bind_int(sf_stmt *s, int idx, int64_t v) {
  pg_param *p = param_at(s, idx);
  if (!p) return;
  char *b = param_buf(p, 24);
  snprintf(b, 24, "%lld", (long long)v);
  p->v = b;
}

static void pq_bind_null(sf_stmt *s, int idx) {
  pg_param *p = param_at(s, idx);
  if (p) p->v = NULL;
}

/* The first step runs the statement and keeps its rows; each step then
 * moves to the next row. The whole result is held (no single-row mode), so
 * the caller may run other statements on the connection between steps, as
 * with SQLite. */
static void fill_values(pg_stmt *st) {
  for (int i = 0; i < st->nslots; i++)
    if (st->slot_to_param[i]) st->values[st->slot_to_param[i] - 1] = st->params[i].v;
}

static PGresult *stmt_exec(pg_stmt *st, sf_err *err) {
  pg_db *d = st->db;
  if (usable(d, err) || (st->gen != d->gen && stmt_prepare_server(st, err))) return NULL;
  fill_values(st);
  if (sf_pg_pipe_busy(&d->pipe)) { /* with what the pipeline holds: one round trip */
    PGresult *res = NULL;
    return pipe_trip(d, st, NULL, &res, err) ? NULL : res;
  }
  PGresult *res = PQexecPrepared(d->conn, st->name, st->nparams, st->values, NULL, NULL, 0);
  ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) return res;
  pg_error(d, res, err);
  PQclear(res);
  return NULL;
}

/* A read on a connection the server dropped (a restart, an idle session
 * ended) is run once more on a new one: reading twice changes nothing, so
 * a restart that finished meanwhile costs the client no error. Not for
 * writes, nor inside a transaction (what ran there is gone). */
static int stmt_run(pg_stmt *st, sf_err *err) {
  pg_db *d = st->db;
  sf_err first = {0};
  PGresult *res = stmt_exec(st, &first);
  if (!res && d->broken && d->role == SF_DB_READ && !d->tx_open) res = stmt_exec(st, &first);
  if (!res) {
    if (err) *err = first;
    return -first.status;
  }
  note_changes(d, res);
  st->res = res;
  st->nrows = PQntuples(res);
  return 0;
}

static int pq_step(sf_stmt *s, sf_err *err) {
  pg_stmt *st = (pg_stmt *)s;
  if (!st->res) {
    int rc = stmt_run(st, err);
    if (rc) return rc < 0 ? rc : -500;
  }
  if (st->row < st->nrows) st->row++;
  return st->row < st->nrows ? 1 : 0;
}

static void pq_reset(sf_stmt *s) { stmt_reset((pg_stmt *)s); }

/* Inside a transaction the statement joins the pipeline and the caller
 * goes on at once; its failure is reported by the next call that waits for
 * an answer on this connection (store/db.h: sf_stmt_run_later). Outside,
 * it runs now. */
static int pq_run_later(sf_stmt *s, sf_err *err) {
  pg_stmt *st = (pg_stmt *)s;
  pg_db *d = st->db;
  int rc = 0;
  if (!d->tx_open || d->broken) {
    rc = pq_step(s, err);
    stmt_reset(st);
    return rc < 0 ? rc : 0;
  }
  if (st->gen != d->gen && stmt_prepare_server(st, err)) return -503;
  fill_values(st);
  int sent = sf_pg_pipe_send(d->conn, &d->pipe, st->name, st->nparams, (const char *const *)st->values);
  if (sent == 1 && !(rc = pipe_flush(d, err))) /* the pipeline is full */
    sent = sf_pg_pipe_send(d->conn, &d->pipe, st->name, st->nparams, (const char *const *)st->values);
  if (rc) return rc;
  if (sent) return lost_now(d, err);
  stmt_reset(st);
  return 0;
}

static int on_row(pg_stmt *st, int col) { return st->res && st->row >= 0 && st->row < st->nrows && col >= 0; }

static const char *pq_col_text(sf_stmt *s, int col) {
  pg_stmt *st = (pg_stmt *)s;
  if (!on_row(st, col) || PQgetisnull(st->res, st->row, col)) return NULL;
  return PQgetvalue(st->res, st->row, col);
}

static int pq_col_len(sf_stmt *s, int col) {
  pg_stmt *st = (pg_stmt *)s;
  return on_row(st, col) ? PQgetlength(st->res, st->row, col) : 0;
}

/* Integers as text; booleans come as "t"/"f" (EXISTS(...) and
 * comparisons, which SQLite answers with 1/0). */
static int64_t pq_col_int(sf_stmt *s, int col) {
  const char *v = pq_col_text(s, col);
  if (!v) return 0;
  if (v[0] == 't' && !v[1]) return 1;
  if (v[0] == 'f' && !v[1]) return 0;
  return strtoll(v, NULL, 10);
}

static int pq_col_is_null(sf_stmt *s, int col) {
  pg_stmt *st = (pg_stmt *)s;
  return !on_row(st, col) || PQgetisnull(st->res, st->row, col);
}

const sf_db_backend sf_db_pg_backend = {
    .name = "postgres",
    .open = pq_open,
    .close = pq_close,
    .exec = pq_exec,
    .changes = pq_changes,
    .in_transaction = pq_in_transaction,
    .check = sf_pg_check,
    .begin = pq_begin,
    .begin_read = pq_begin_read,
    .commit = pq_commit,
    .rollback = pq_rollback,
    .savepoint = pq_savepoint,
    .release = pq_release,
    .rollback_to = pq_rollback_to,
    .prepare = pq_prepare,
    .bind_text = pq_bind_text,
    .bind_int = pq_bind_int,
    .bind_null = pq_bind_null,
    .step = pq_step,
    .reset = pq_reset,
    .run_later = pq_run_later,
    .col_text = pq_col_text,
    .col_len = pq_col_len,
    .col_int = pq_col_int,
    .col_is_null = pq_col_is_null,
    .writer_open = sf_pg_writer_open,
    .writer_sync = NULL,
    .writer_after_batch = NULL,
    .writer_probe = sf_pg_writer_probe,
    .writer_close = sf_pg_writer_close,
    .listen_open = sf_pg_listen_open,
    .listen_wait = sf_pg_listen_wait,
    .listen_close = sf_pg_listen_close,
};
