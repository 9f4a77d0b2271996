#include "edge/idempotency.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/actor.h"
#include "core/buf.h"
#include "core/util.h"
#include "edge/edge.h"
#include "edge/repo.h"

#define NBUCKETS 1024
#define MAX_CRED_HEADERS 8
#define NAME_MAX_LEN 400 /* "scope\nkey": 127 + 1 + 255 + NUL */

typedef struct claim {
  struct claim *next;
  char key[]; /* "scope\nkey" */
} claim;

static struct idem_state {
  pthread_mutex_t mu;
  claim *buckets[NBUCKETS];
  const sf_keyring *ring;
  int ttl_s;
  const char *cred_headers[MAX_CRED_HEADERS];
  int ncred_headers;
} idem = {.mu = PTHREAD_MUTEX_INITIALIZER};

void sf_idem_credential_header(const char *name) {
  for (int i = 0; i < idem.ncred_headers; i++)
    if (strcasecmp(idem.cred_headers[i], name) == 0) return;
  if (idem.ncred_headers < MAX_CRED_HEADERS) idem.cred_headers[idem.ncred_headers++] = name;
}

/* The caller's credentials (idempotency.h): "usr_x", "usr_x+Cart-Token:<hash>",
 * "Cart-Token:<hash>" or "ip:<address>". 128 bits of SHA-256 tell the values
 * of a header apart without keeping them. */
static void scope_of(sf_req *req, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  if (req->principal.authenticated) n = (size_t)snprintf(out, cap, "%s", req->principal.user_id);
  for (int i = 0; i < idem.ncred_headers && n < cap; i++) {
    const char *v = sf_req_header(req, idem.cred_headers[i]);
    if (!v) continue;
    char h[65];
    sf_sha256_hex(v, strlen(v), h);
    n += (size_t)snprintf(out + n, cap - n, "%s%s:%.32s", n ? "+" : "", idem.cred_headers[i], h);
  }
  if (!n) snprintf(out, cap, "ip:%s", req->client_ip);
}

void sf_idem_init(const sf_keyring *ring, int ttl_s) {
  idem.ring = ring;
  idem.ttl_s = ttl_s;
}

void sf_idem_shutdown(void) {
  pthread_mutex_lock(&idem.mu);
  for (int i = 0; i < NBUCKETS; i++) {
    for (claim *c = idem.buckets[i], *n; c; c = n) n = c->next, free(c);
    idem.buckets[i] = NULL;
  }
  pthread_mutex_unlock(&idem.mu);
}

static unsigned bucket_of(const char *s) { return (unsigned)(sf_fnv1a(s, strlen(s)) % NBUCKETS); }

/* Returns 1 if claimed, 0 if someone else holds it. */
static int claim_key(const char *k) {
  unsigned b = bucket_of(k);
  pthread_mutex_lock(&idem.mu);
  for (claim *c = idem.buckets[b]; c; c = c->next)
    if (strcmp(c->key, k) == 0) {
      pthread_mutex_unlock(&idem.mu);
      return 0;
    }
  size_t n = strlen(k) + 1;
  claim *c = sf_malloc(sizeof *c + n);
  memcpy(c->key, k, n);
  c->next = idem.buckets[b];
  idem.buckets[b] = c;
  pthread_mutex_unlock(&idem.mu);
  return 1;
}

static void release_key(const char *k) {
  unsigned b = bucket_of(k);
  pthread_mutex_lock(&idem.mu);
  for (claim **pp = &idem.buckets[b]; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->key, k) == 0) {
      claim *c = *pp;
      *pp = c->next;
      free(c);
      break;
    }
  pthread_mutex_unlock(&idem.mu);
}

static int valid_key(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > 255) return 0;
  for (size_t i = 0; i < n; i++)
    if (k[i] < 0x21 || k[i] > 0x7e) return 0;
  return 1;
}

static void claim_name(const sf_edge_req *e, char *out, size_t cap) {
  snprintf(out, cap, "%s\n%s", e->idem_scope, e->idem_key);
}

static void edge_free(sf_req *req) { sf_idem_end(req); }

/* The fingerprint hashes the request body, which for login, registration or
 * a password change holds a password: a plain hash in the table could be
 * guessed offline, so it is stored sealed like the response (records written
 * before that hold the plain hex and expire with the TTL). */
static int same_fingerprint(const char *stored, const sf_edge_req *e) {
  if (!stored) return 0;
  if (strlen(stored) == 64) return strcmp(stored, e->fingerprint) == 0;
  char aad[NAME_MAX_LEN];
  claim_name(e, aad, sizeof aad);
  sf_err err = {0};
  char *fp = sf_unseal(idem.ring, stored, aad, &err);
  int same = fp && strcmp(fp, e->fingerprint) == 0;
  free(fp);
  return same;
}

/* Answers req with the stored response in st's row (status, content type,
 * sealed body, Location), then resets st. Returns 1 (answered). */
static int replay(sf_req *req, const sf_edge_req *e, sf_stmt *st) {
  sf_err err = {0};
  int status = (int)sf_stmt_col_int(st, 1);
  const char *ct = sf_stmt_col_text(st, 2);
  const char *sealed = sf_stmt_col_text(st, 3);
  char *body = NULL;
  if (sealed && *sealed) {
    char aad[NAME_MAX_LEN];
    claim_name(e, aad, sizeof aad);
    body = sf_unseal(idem.ring, sealed, aad, &err);
    if (!body) {
      sf_stmt_reset(st);
      sf_req_reply_problem(req, &err);
      return 1;
    }
  }
  /* content_type points into the statement row; the reply needs a stable copy */
  const char *ctype = ct ? (strcmp(ct, "application/json") == 0           ? "application/json"
                            : strcmp(ct, "application/problem+json") == 0 ? "application/problem+json"
                                                                          : "text/plain")
                         : NULL;
  char location[SF_RESULT_HEADER_MAX], etag[SF_RESULT_HEADER_MAX];
  sf_stmt_col_copy(st, 5, location, sizeof location);
  sf_stmt_col_copy(st, 6, etag, sizeof etag);
  sf_stmt_reset(st);
  sf_req_reply(req, status, ctype, body, body ? strlen(body) : 0);
  if (location[0]) sf_req_add_header(req, "Location", location);
  if (etag[0]) sf_req_add_header(req, "ETag", etag);
  sf_req_add_header(req, "Idempotent-Replayed", "true");
  return 1;
}

/* Looks for the stored answer of e's (scope, key) in db. 0: none (or one
 * past the TTL), 1: req was answered with it (a replay, or 422 when it was
 * stored for a different request), <0 with err when it cannot be read. */
static int answer_stored(sf_req *req, const sf_edge_req *e, sf_db *db, sf_err *err) {
  sf_stmt *st = sf_edge_repo_idem_find(db, e->idem_scope, e->idem_key, err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  if (rc < 0) {
    sf_stmt_reset(st); /* the writer's statement cache keeps it */
    return -1;
  }
  if (rc == 0 || sf_stmt_col_int(st, 4) < sf_now_ms() - (int64_t)idem.ttl_s * 1000) {
    sf_stmt_reset(st);
    return 0;
  }
  if (!same_fingerprint(sf_stmt_col_text(st, 0), e)) {
    sf_stmt_reset(st);
    sf_err refused = {0};
    sf_err_set(&refused, 422, "idempotency-mismatch", "Idempotency-Key reused",
               "this Idempotency-Key was used for a different request");
    sf_req_reply_problem(req, &refused);
    return 1;
  }
  return replay(req, e, st);
}

int sf_idem_begin(sf_req *req) {
  const char *key = sf_req_header(req, "Idempotency-Key");
  if (!key) return 0;
  sf_err err = {0};
  if (!valid_key(key)) {
    sf_err_invalid(&err, "Idempotency-Key", "must be 1-255 printable ASCII characters");
    sf_req_reply_problem(req, &err);
    return 1;
  }
  sf_edge_req *e = req->app;
  scope_of(req, e->idem_scope, sizeof e->idem_scope);
  if ((req->route->flags & SF_ROUTE_SECRET_REPLY) && strncmp(e->idem_scope, "ip:", 3) == 0) return 0;
  snprintf(e->idem_key, sizeof e->idem_key, "%s", key);
  sf_buf fp;
  sf_buf_init(&fp);
  sf_buf_printf(&fp, "%s\n%s\n", req->method, req->path);
  if (req->body) sf_buf_append(&fp, req->body, req->body_len);
  sf_sha256_hex(fp.data, fp.len, e->fingerprint);
  sf_buf_free(&fp);

  char name[NAME_MAX_LEN];
  claim_name(e, name, sizeof name);
  if (!claim_key(name)) {
    sf_err_set(&err, 409, "idempotency-in-flight", "Request in progress",
               "a request with this Idempotency-Key is still being processed");
    err.retry_after = 1;
    sf_req_reply_problem(req, &err);
    return 1;
  }
  e->idem_claimed = 1;
  req->app_free = edge_free;

  sf_db *db = sf_db_reader(&err);
  int rc = db ? answer_stored(req, e, db, &err) : -1;
  if (rc < 0) {
    sf_req_reply_problem(req, &err);
    return 1;
  }
  if (rc == 0) e->idem_store = 1;
  return rc;
}

int sf_idem_answered(sf_req *req, sf_tx *tx, sf_err *err) {
  sf_edge_req *e = req->app;
  if (!e || !e->idem_store) return 0; /* no key: nothing to look up */
  int rc = answer_stored(req, e, tx->db, err);
  if (rc == 1) e->idem_store = 0; /* the stored answer stays as it is */
  return rc;
}

/* A header of the response (Location of a created resource, ETag), or NULL. */
static const char *reply_header(const sf_req *req, const char *name) {
  for (int i = 0; i < req->nheaders; i++)
    if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
  return NULL;
}

void sf_idem_store(sf_req *req, sf_tx *tx) {
  sf_edge_req *e = req->app;
  if (!e || !e->idem_store || req->status >= 500 || req->status == 0) return;
  sf_err err = {0};
  char *sealed = NULL;
  char aad[NAME_MAX_LEN];
  claim_name(e, aad, sizeof aad);
  char *fingerprint = sf_seal(idem.ring, e->fingerprint, aad, &err);
  if (!fingerprint) return;
  if (req->resp_body && req->resp_len) {
    char *plain = sf_malloc(req->resp_len + 1);
    memcpy(plain, req->resp_body, req->resp_len);
    plain[req->resp_len] = '\0';
    sealed = sf_seal(idem.ring, plain, aad, &err);
    free(plain);
    if (!sealed) {
      free(fingerprint);
      return;
    }
  }
  sf_edge_idem_answer a = {.scope = e->idem_scope,
                           .key = e->idem_key,
                           .fingerprint = fingerprint,
                           .status = req->status,
                           .content_type = req->content_type,
                           .body = sealed,
                           .location = reply_header(req, "Location"),
                           .etag = reply_header(req, "ETag"),
                           .created_at = tx->now_ms};
  sf_edge_repo_idem_save(tx->db, &a, &err);
  free(sealed);
  free(fingerprint);
  e->idem_store = 0;
}

void sf_idem_end(sf_req *req) {
  sf_edge_req *e = req->app;
  if (!e || !e->idem_claimed) return;
  char name[NAME_MAX_LEN];
  claim_name(e, name, sizeof name);
  release_key(name);
  e->idem_claimed = 0;
}

int sf_idem_purge(sf_tx *tx, sf_err *err) {
  return sf_edge_repo_idem_purge(tx->db, tx->now_ms - (int64_t)idem.ttl_s * 1000, err);
}
