/* The edge's repository: all SQL on the edge's own tables (edge/migrations.c:
 * idempotency, the stored answer of each Idempotency-Key). Called on
 * whatever thread holds db: an HTTP thread's reader for the look-up, the
 * writer's tx->db for saving and purging. A statement returned is owned by
 * db's statement cache: the caller steps it and resets it. */
#ifndef SF_EDGE_REPO_H
#define SF_EDGE_REPO_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

/* One stored answer; the strings are the caller's, only read. */
typedef struct sf_edge_idem_answer {
  const char *scope, *key;
  const char *fingerprint; /* sealed */
  int status;
  const char *content_type; /* NULL: none */
  const char *body;         /* sealed, NULL: no body */
  const char *location;     /* NULL: no Location header */
  const char *etag;         /* NULL: no ETag header */
  int64_t created_at;
} sf_edge_idem_answer;

/* The answer stored for (scope, key), bound and ready to step (1: the row,
 * 0: none): fingerprint, status, content_type, body, created_at, location, etag.
 * NULL with err when it cannot be prepared. */
sf_stmt *sf_edge_repo_idem_find(sf_db *db, const char *scope, const char *key, sf_err *err);
/* Stores a (scope, key)'s answer, replacing an older one. 0 or <0. */
int sf_edge_repo_idem_save(sf_db *db, const sf_edge_idem_answer *a, sf_err *err);
/* Deletes the answers created before before_ms. 0 or <0. */
int sf_edge_repo_idem_purge(sf_db *db, int64_t before_ms, sf_err *err);

/* The key-file probe (app.c, at open when seal.keys is missing): an answer
 * is stored, and its fingerprint and body are sealed. 1 yes, 0 no, <0. */
int sf_edge_repo_idem_any(sf_db *db, sf_err *err);

#endif
