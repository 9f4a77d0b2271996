/* Notifications between instances (store/db.h sf_db_listen_*): a libpq
 * connection of its own that runs LISTEN and waits on its socket. NOTIFY is
 * transactional: a payload reaches the listeners when (and only if) the
 * sending transaction commits, in commit order. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/pg/pg.h"

typedef struct {
  sf_db_listener base;
  PGconn *conn;
} pg_listener;

static int lost(pg_listener *l, const char *what, sf_err *err) {
  return sf_err_set(err, 503, "storage-error", "Storage error", "%s: %.180s", what, PQerrorMessage(l->conn));
}

void sf_pg_listen_close(sf_db_listener *base) {
  if (!base) return;
  pg_listener *l = (pg_listener *)base;
  PQfinish(l->conn);
  free(l);
}

sf_db_listener *sf_pg_listen_open(const char *location, const char *channel, sf_err *err) {
  const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *vals[] = {"5", "serviceflow-listen", location, NULL};
  pg_listener *l = sf_calloc(1, sizeof *l);
  l->base.ops = &sf_db_pg_backend;
  l->conn = PQconnectdbParams(keys, vals, 1);
  if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
    sf_err_set(err, 503, "storage-error", "Storage error", "cannot connect to the database: %.180s",
               l->conn ? PQerrorMessage(l->conn) : "out of memory");
    sf_pg_listen_close(&l->base);
    return NULL;
  }
  char *ident = PQescapeIdentifier(l->conn, channel, strlen(channel));
  char sql[200];
  snprintf(sql, sizeof sql, "LISTEN %s", ident ? ident : "\"\"");
  PQfreemem(ident);
  PGresult *res = PQexec(l->conn, sql);
  int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (!ok) {
    lost(l, "cannot listen", err);
    sf_pg_listen_close(&l->base);
    return NULL;
  }
  return &l->base;
}

/* Hands every notification libpq has read to fn; their number. */
static int drain(pg_listener *l, sf_db_notify_fn fn, void *ud) {
  int n = 0;
  for (PGnotify *note; (note = PQnotifies(l->conn)) != NULL; n++) {
    fn(ud, note->extra ? note->extra : "");
    PQfreemem(note);
  }
  return n;
}

int sf_pg_listen_wait(sf_db_listener *base, int timeout_ms, sf_db_notify_fn fn, void *ud, sf_err *err) {
  pg_listener *l = (pg_listener *)base;
  if (PQstatus(l->conn) != CONNECTION_OK) return lost(l, "listening connection lost", err);
  int n = drain(l, fn, ud);
  if (n) return n;
  struct pollfd p = {.fd = PQsocket(l->conn), .events = POLLIN};
  if (p.fd < 0) return lost(l, "listening connection lost", err);
  int rc = poll(&p, 1, timeout_ms);
  if (rc < 0 && errno != EINTR) return sf_err_internal(err, "poll failed");
  if (rc <= 0) return 0;
  if (!PQconsumeInput(l->conn)) return lost(l, "listening connection lost", err);
  return drain(l, fn, ud);
}
