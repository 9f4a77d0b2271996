/* The write connection's pipeline (store/pg/pg.h: sf_pg_pipe): transaction
 * control and statements whose results nobody waits for travel with the
 * next statement that needs its answer, in libpq's pipeline mode (one
 * write, one Sync, one wait for the answers). */
#include <libpq-fe.h>
#include <string.h>

#include "store/pg/pg.h"

void sf_pg_pipe_clear(sf_pg_pipe *p) { p->nctl = p->nsent = 0; }

int sf_pg_pipe_busy(const sf_pg_pipe *p) { return p->nctl || p->nsent; }

int sf_pg_pipe_find(const sf_pg_pipe *p, int level) {
  for (int i = p->nctl - 1; i >= 0; i--)
    if (p->ctl[i].savepoint && p->ctl[i].level == level) return i;
  return -1;
}

void sf_pg_pipe_drop(sf_pg_pipe *p, int from) {
  if (from >= 0 && from < p->nctl) p->nctl = from;
}

void sf_pg_pipe_drop_deeper(sf_pg_pipe *p, int level) {
  int kept = 0;
  for (int i = 0; i < p->nctl; i++)
    if (p->ctl[i].level <= level) p->ctl[kept++] = p->ctl[i];
  p->nctl = kept;
}

static int enter(PGconn *c) { return PQpipelineStatus(c) != PQ_PIPELINE_OFF || PQenterPipelineMode(c); }

/* A query without parameters, as the next item of the pipeline. */
static int send_text(PGconn *c, sf_pg_pipe *p, const char *sql, int savepoint_level) {
  if (p->nsent == SF_PG_PIPE_SENT || !PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0)) return -1;
  p->sent[p->nsent++] = (signed char)savepoint_level;
  return 0;
}

/* The queued control statements, in order, into libpq's pipeline. */
static int send_ctl(PGconn *c, sf_pg_pipe *p) {
  if (!p->nctl) return 0;
  if (!enter(c)) return -1;
  for (int i = 0; i < p->nctl; i++)
    if (send_text(c, p, p->ctl[i].sql, p->ctl[i].savepoint ? p->ctl[i].level : -1)) return -1;
  p->nctl = 0;
  return 0;
}

int sf_pg_pipe_queue(PGconn *c, sf_pg_pipe *p, const char *sql, int level, int savepoint) {
  if (p->nctl == SF_PG_PIPE_CTL && send_ctl(c, p)) return -1;
  p->ctl[p->nctl].sql = sql;
  p->ctl[p->nctl].level = level;
  p->ctl[p->nctl].savepoint = savepoint;
  p->nctl++;
  return 0;
}

int sf_pg_pipe_send(PGconn *c, sf_pg_pipe *p, const char *name, int n, const char *const *values) {
  if (p->nsent >= SF_PG_PIPE_SENT - SF_PG_PIPE_CTL - 1) return 1; /* full: the caller syncs first */
  if (!enter(c) || send_ctl(c, p) || !PQsendQueryPrepared(c, name, n, values, NULL, NULL, 0)) return -1;
  p->sent[p->nsent++] = -1;
  return 0;
}

/* The results of one item: its one result (kept in *res) and the NULL that
 * ends it. 0 when it succeeded; a failed or skipped item's result goes to
 * *fail if that is still empty (the first failure is the one to report). */
static int read_item(PGconn *c, PGresult **res, PGresult **fail) {
  PGresult *r = PQgetResult(c);
  if (!r) return -1; /* the connection failed: no result */
  ExecStatusType s = PQresultStatus(r);
  for (PGresult *more; (more = PQgetResult(c));) PQclear(more);
  if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY) {
    *res = r;
    return 0;
  }
  if (!*fail && s != PGRES_PIPELINE_ABORTED)
    *fail = r;
  else
    PQclear(r);
  return 1;
}

/* Reads every item's answer up to the Sync, then leaves pipeline mode. */
static int read_all(PGconn *c, sf_pg_pipe *p, int has_final, PGresult **out, unsigned *unset) {
  PGresult *fail = NULL, *final = NULL;
  int rc = 0, n = p->nsent + (has_final ? 1 : 0);
  for (int i = 0; i < n && rc >= 0; i++) {
    PGresult *res = NULL;
    int r = read_item(c, &res, &fail);
    if (r < 0) {
      rc = -1;
      break;
    }
    if (r) {
      rc = 1;
      if (i < p->nsent && p->sent[i] >= 0) *unset |= 1u << p->sent[i]; /* that savepoint is not there */
    }
    if (i == p->nsent && !r)
      final = res;
    else
      PQclear(res);
  }
  p->nsent = 0;
  if (rc >= 0) {
    PGresult *sync = PQgetResult(c);
    if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) rc = -1;
    PQclear(sync);
  }
  if (rc >= 0 && !PQexitPipelineMode(c)) rc = -1;
  if (rc == 0) {
    *out = final;
    return 0;
  }
  PQclear(final);
  *out = fail; /* NULL when the connection failed before any answer */
  return rc < 0 ? -2 : -1;
}

int sf_pg_pipe_sync(PGconn *c, sf_pg_pipe *p, const char *name, const char *sql, int n, const char *const *values,
                    PGresult **out, unsigned *unset) {
  *out = NULL;
  *unset = 0;
  int has_final = name || sql;
  if (!enter(c) || send_ctl(c, p)) return -1;
  if (name && !PQsendQueryPrepared(c, name, n, values, NULL, NULL, 0)) return -1;
  if (!name && sql && !PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0)) return -1;
  if (!PQpipelineSync(c)) return -1;
  return read_all(c, p, has_final, out, unset);
}
