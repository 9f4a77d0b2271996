/* Edge: the request pipeline every route goes through.
 *   CORS preflight → route match (404/405) → per-IP and login rate limits →
 *   authentication (JWT) and permission check (401/403) → per-user limit →
 *   Idempotency-Key → handler.
 * sf_edge_dispatch is the sf_http_dispatch of the server. */
#ifndef SF_EDGE_EDGE_H
#define SF_EDGE_EDGE_H

#include "core/config.h"
#include "core/http.h"
#include "core/seal.h"
#include "edge/jwt.h"

/* Per-request edge state, in req->app. */
typedef struct sf_edge_req {
  char idem_scope[64];
  char idem_key[256];
  char fingerprint[65];
  int idem_claimed;    /* key is in the in-flight set */
  int idem_store;      /* store the response when it is final */
} sf_edge_req;

int sf_edge_init(const sf_config *cfg, const unsigned char *jwt_key, size_t jwt_key_len,
                 const sf_keyring *ring, sf_err *err);
void sf_edge_shutdown(void);
void sf_edge_dispatch(sf_req *req);

const sf_jwt_config *sf_edge_jwt(void);
const sf_keyring *sf_edge_keyring(void);

/* Does role grant permission? (static role table) */
int sf_edge_role_allows(const char *role, const char *permission);
int sf_edge_valid_role(const char *role);

/* Path of every permission per role as a JSON-ish description (OpenAPI). */
const char *sf_edge_permission_roles(const char *permission);
/* 1 when every role grants `permission` (a route needing it never answers 403) */
int sf_edge_permission_universal(const char *permission);

#endif
