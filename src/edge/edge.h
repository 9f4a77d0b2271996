/* Edge: the request pipeline every route goes through.
 *   CORS preflight → route match (404/405; a GET/HEAD no route matched,
 *   outside /api, is the web app's: edge/web.h) → per-IP and login rate limits
 *   (per instance, or shared in Redis with redis_url: edge/ratelimit_redis.h) →
 *   authentication (JWT) and permission check (401/403) → per-user limit →
 *   Idempotency-Key → handler. With redis_url the three limits are taken in
 *   one Redis call after authentication, answered in the same order.
 * sf_edge_dispatch is the sf_http_dispatch of the server. */
#ifndef SF_EDGE_EDGE_H
#define SF_EDGE_EDGE_H

#include "core/config.h"
#include "core/http.h"
#include "core/seal.h"
#include "edge/jwt.h"
#include "edge/ratelimit.h"

/* Per-request edge state, in req->app. */
typedef struct sf_edge_req {
  char idem_scope[128]; /* who may see the stored response (idempotency.c) */
  char idem_key[256];
  char fingerprint[65];
  int idem_claimed; /* key is in the in-flight set */
  int idem_store;   /* store the response when it is final */
} sf_edge_req;

int sf_edge_init(const sf_config *cfg, const unsigned char *jwt_key, size_t jwt_key_len, const sf_keyring *ring,
                 sf_err *err);
/* The settings sf_edge_init would refuse (redis_url, redis_prefix,
 * redis_fail), checked before anything starts: 0 or negative with err. */
int sf_edge_check_config(const sf_config *cfg, sf_err *err);
void sf_edge_shutdown(void);
void sf_edge_dispatch(sf_req *req);

const sf_jwt_config *sf_edge_jwt(void);
const sf_keyring *sf_edge_keyring(void);

/* Sessions. An access token names its session (claim "sid": the refresh-token
 * family it was issued with). Every authenticated request asks the session
 * checker whether that session is live and its user exists and is active;
 * the principal's role is the one the checker returns (the user row's), never
 * the token's claim. The answer is cached per HTTP thread next to the
 * verified token and is void once sf_edge_user_changed has been called for
 * its user, so a change is in force for every request that starts after it.
 *
 * The checker runs on an HTTP thread (it may use sf_db_reader) and returns 0
 * with role (cap bytes) filled for a live session, -401 with err filled for a
 * dead one (its detail is sent to the client), or another negative status
 * (not cached) when it cannot tell. Set once before the server starts; with
 * none set, every authenticated request is refused with 503. */
typedef int (*sf_edge_session_fn)(const char *user_id, const char *session_id, char *role, size_t cap, sf_err *err);
void sf_edge_on_session_check(sf_edge_session_fn fn);
/* Asks the checker directly, without the cache (the streams' recheck after
 * an identity event); any thread with a reader. */
int sf_edge_session_check(const char *user_id, const char *session_id, char *role, size_t cap, sf_err *err);
/* Rate limits shared in Redis (redis_url): -1 when not configured (limits
 * per instance), else 1 when Redis answers and 0 when not, with *fail_closed
 * set (edge/ratelimit_redis.h). May PING Redis (timeout redis_timeout_ms). */
int sf_edge_rl_redis_state(int *fail_closed);
/* Takes one token from rl's bucket `name:key` through the edge's limiter:
 * shared by every instance in Redis when redis_url is set (GCRA in one
 * script, edge/ratelimit_redis.h), else rl alone, as today. For a limit a
 * service keeps itself (e.g. identity's account mails). Returns 0 with *out
 * filled, or -1 when redis_fail = closed and Redis cannot answer (the caller
 * answers 503, e.g. with sf_edge_limits_unavailable). Any thread; rl NULL:
 * allowed. */
int sf_edge_rl_take(sf_ratelimit *rl, const char *name, const char *key, sf_rl_result *out);
/* The shared limits' Redis client (edge/ratelimit_redis.h) for the edge's
 * other shared limits (the streams' per-user count), or NULL without
 * redis_url. Set by sf_edge_init, freed by sf_edge_shutdown. */
struct sf_rl_redis *sf_edge_rl_redis(void);
/* Fills err with the 503 of a fail-closed limit whose Redis cannot answer
 * (Retry-After 1); returns -503. */
int sf_edge_limits_unavailable(sf_err *err);
/* Is origin in cors_origins (or is any origin allowed)? */
int sf_edge_origin_allowed(const char *origin);
/* Voids every thread's cached session answers for user_id. Call it after the
 * commit of any change that can change an answer (the user's existence, role
 * or status; its sessions) and before that change is answered (an
 * sf_tx_after_commit hook does both). Any thread; lock-free. */
void sf_edge_user_changed(const char *user_id);

/* Roles and permissions. The roles are the edge's: customer, approver,
 * staff, admin. The permissions are defined by the services, each with the
 * roles that hold it; the process hands them over (sf_edge_grant_add) on the
 * main thread before any request is served, and the table is read unlocked
 * from then on. */
typedef struct sf_edge_grant {
  const char *permission; /* "orders:read" (no spaces) */
  const char *roles;      /* the roles holding it, space-separated: "staff admin" */
} sf_edge_grant;
void sf_edge_grants_clear(void);
/* Adds one grant; -1 with err filled for an unknown role or a full table. */
int sf_edge_grant_add(const sf_edge_grant *g, sf_err *err);

/* Does role grant permission? */
int sf_edge_role_allows(const char *role, const char *permission);
int sf_edge_valid_role(const char *role);

/* Path of every permission per role as a JSON-ish description (OpenAPI). */
const char *sf_edge_permission_roles(const char *permission);
/* 1 when every role grants `permission` (a route needing it never answers 403) */
int sf_edge_permission_universal(const char *permission);

#endif
