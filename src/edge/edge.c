#include "edge/edge.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/actor.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "edge/headers.h"
#include "edge/idempotency.h"
#include "edge/input.h"
#include "edge/ratelimit.h"
#include "edge/ratelimit_redis.h"
#include "edge/web.h"
#include "store/replica.h"

#define MAX_ORIGINS 16

static struct edge_state {
  sf_jwt_config jwt;
  unsigned char jwt_key[256];
  const sf_keyring *ring;
  sf_ratelimit *rl_ip, *rl_user, *rl_login;
  sf_rl_redis *rl_redis; /* limits shared in Redis; NULL = per instance */
  char origins[MAX_ORIGINS][256];
  int norigins, any_origin;
  _Atomic uint64_t denied_ip, denied_user, denied_login, auth_failures, forbidden;
} edge;

/* ---- roles ---- */

/* The roles are core/actor.h's sf_roles, listed in that order. */
#define NROLES SF_NROLES

/* Per role, its permissions space-separated, as the services granted them. */
static struct role_table { char permissions[NROLES][1024]; } roles;

void sf_edge_grants_clear(void) { memset(&roles, 0, sizeof roles); }

int sf_edge_grant_add(const sf_edge_grant *g, sf_err *err) {
  if (!g->permission[0] || strchr(g->permission, ' '))
    return sf_err_internal(err, "permission '%s': must be one word", g->permission);
  for (const char *p = g->roles; *p;) {
    size_t n = strcspn(p, " ");
    int r = n ? sf_role_index(p, n) : -2;
    if (r == -1) return sf_err_internal(err, "permission %s: no role '%.*s'", g->permission, (int)n, p);
    if (r >= 0) {
      char *list = roles.permissions[r];
      size_t used = strlen(list);
      if (used + strlen(g->permission) + 2 > sizeof roles.permissions[r])
        return sf_err_internal(err, "permission %s: the table of role %s is full", g->permission, sf_roles[r]);
      snprintf(list + used, sizeof roles.permissions[r] - used, "%s%s", used ? " " : "", g->permission);
    }
    p += n + (p[n] == ' ');
  }
  return 0;
}

int sf_edge_valid_role(const char *role) { return sf_role_index(role, strlen(role)) >= 0; }

static int word_in(const char *list, const char *w) {
  size_t n = strlen(w);
  for (const char *p = list; (p = strstr(p, w)); p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
  return 0;
}

int sf_edge_role_allows(const char *role, const char *permission) {
  int r = sf_role_index(role, strlen(role));
  return r >= 0 && word_in(roles.permissions[r], permission);
}

int sf_edge_permission_universal(const char *permission) {
  for (size_t i = 0; i < NROLES; i++)
    if (!word_in(roles.permissions[i], permission)) return 0;
  return 1;
}

const char *sf_edge_permission_roles(const char *permission) {
  static __thread char out[128];
  out[0] = '\0';
  for (size_t i = 0; i < NROLES; i++)
    if (word_in(roles.permissions[i], permission)) {
      if (out[0]) strncat(out, ", ", sizeof out - strlen(out) - 1);
      strncat(out, sf_roles[i], sizeof out - strlen(out) - 1);
    }
  return out;
}

/* ---- metrics ---- */

static void collect(sf_buf *b) {
  sf_buf_printf(b,
                "# HELP sf_rate_limited_total Requests refused by a rate limit.\n"
                "# TYPE sf_rate_limited_total counter\n"
                "sf_rate_limited_total{limit=\"ip\"} %lu\n"
                "sf_rate_limited_total{limit=\"user\"} %lu\n"
                "sf_rate_limited_total{limit=\"login\"} %lu\n"
                "# HELP sf_auth_failures_total Requests refused with 401 or 403 by the edge.\n"
                "# TYPE sf_auth_failures_total counter\n"
                "sf_auth_failures_total{status=\"401\"} %lu\n"
                "sf_auth_failures_total{status=\"403\"} %lu\n",
                atomic_load(&edge.denied_ip), atomic_load(&edge.denied_user), atomic_load(&edge.denied_login),
                atomic_load(&edge.auth_failures), atomic_load(&edge.forbidden));
  if (edge.rl_redis) sf_rl_redis_metrics(edge.rl_redis, b);
}

/* ---- init ---- */

int sf_edge_check_config(const sf_config *cfg, sf_err *err) {
  if (!cfg->redis_url[0]) return 0;
  sf_rl_redis *probe = NULL;
  sf_rl_redis_config rc = {cfg->redis_url, cfg->redis_prefix, cfg->redis_timeout_ms, cfg->redis_fail};
  int rv = sf_rl_redis_new(&rc, &probe, err);
  sf_rl_redis_free(probe);
  return rv;
}

int sf_edge_init(const sf_config *cfg, const unsigned char *jwt_key, size_t jwt_key_len, const sf_keyring *ring,
                 sf_err *err) {
  if (jwt_key_len < 32 || jwt_key_len > sizeof edge.jwt_key)
    return sf_err_set(err, 400, "config", "Bad configuration", "jwt key must be 32-256 bytes");
  memcpy(edge.jwt_key, jwt_key, jwt_key_len);
  edge.jwt.key = edge.jwt_key;
  edge.jwt.key_len = jwt_key_len;
  edge.jwt.issuer = cfg->jwt_issuer;
  edge.jwt.audience = cfg->jwt_audience;
  edge.jwt.leeway_s = 30;
  edge.ring = ring;
  if (cfg->redis_url[0]) {
    sf_rl_redis_config rc = {cfg->redis_url, cfg->redis_prefix, cfg->redis_timeout_ms, cfg->redis_fail};
    if (sf_rl_redis_new(&rc, &edge.rl_redis, err)) return -1;
  }
  if (cfg->rate_ip_rps > 0)
    edge.rl_ip = sf_rl_new(cfg->rate_ip_rps, cfg->rate_ip_burst > 0 ? cfg->rate_ip_burst : cfg->rate_ip_rps, 100000);
  if (cfg->rate_user_rps > 0)
    edge.rl_user =
        sf_rl_new(cfg->rate_user_rps, cfg->rate_user_burst > 0 ? cfg->rate_user_burst : cfg->rate_user_rps, 100000);
  if (cfg->rate_login_per_min > 0)
    edge.rl_login =
        sf_rl_new(cfg->rate_login_per_min / 60.0, cfg->rate_login_burst > 0 ? cfg->rate_login_burst : 1, 100000);
  edge.norigins = 0;
  edge.any_origin = 0;
  char list[sizeof cfg->cors_origins];
  snprintf(list, sizeof list, "%s", cfg->cors_origins);
  char *save = NULL;
  for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    if (strcmp(tok, "*") == 0)
      edge.any_origin = 1;
    else if (edge.norigins < MAX_ORIGINS)
      snprintf(edge.origins[edge.norigins++], sizeof edge.origins[0], "%s", tok);
  }
  sf_idem_init(ring, cfg->idempotency_ttl_s);
  static int collector_added;
  if (!collector_added++) sf_metrics_add_collector(collect);
  return 0;
}

void sf_edge_shutdown(void) {
  sf_rl_free(edge.rl_ip);
  sf_rl_free(edge.rl_user);
  sf_rl_free(edge.rl_login);
  edge.rl_ip = edge.rl_user = edge.rl_login = NULL;
  sf_rl_redis_free(edge.rl_redis);
  edge.rl_redis = NULL;
  sf_idem_shutdown();
}

const sf_jwt_config *sf_edge_jwt(void) { return &edge.jwt; }
const sf_keyring *sf_edge_keyring(void) { return edge.ring; }

/* ---- pipeline steps ---- */

int sf_edge_origin_allowed(const char *origin) {
  if (!origin) return 0;
  if (edge.any_origin) return 1;
  for (int i = 0; i < edge.norigins; i++)
    if (strcmp(edge.origins[i], origin) == 0) return 1;
  return 0;
}

static const char k_cors_headers[] = SF_HEADERS_REQUEST;
static const char k_cors_expose[] = SF_HEADERS_RESPONSE;

static void add_cors(sf_req *req, const char *origin) {
  sf_req_add_header(req, "Access-Control-Allow-Origin", edge.any_origin ? "*" : origin);
  if (!edge.any_origin) sf_req_add_header(req, "Vary", "Origin");
  sf_req_add_header(req, "Access-Control-Expose-Headers", k_cors_expose);
}

/* OPTIONS: CORS preflight or a plain Allow answer. Returns 1 if answered. */
static int handle_options(sf_req *req) {
  if (strcmp(req->method, "OPTIONS") != 0) return 0;
  if (strcmp(req->path, "*") == 0) { /* the server as a whole (RFC 9110 §9.3.7) */
    sf_req_reply(req, 204, NULL, NULL, 0);
    sf_req_add_header(req, "Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    return 1;
  }
  sf_route_match m;
  int rc = sf_router_match("OPTIONS", req->path, &m);
  sf_err err = {0};
  if (rc == 404) {
    sf_err_not_found(&err, "resource");
    sf_req_reply_problem(req, &err);
    return 1;
  }
  const char *origin = sf_req_header(req, "Origin");
  const char *want = sf_req_header(req, "Access-Control-Request-Method");
  if (origin && want) {
    if ((!edge.any_origin && edge.norigins == 0) || !sf_edge_origin_allowed(origin)) {
      sf_err_set(&err, 403, "cors-origin", "Origin not allowed", "origin %s is not allowed", origin);
      sf_req_reply_problem(req, &err);
      return 1;
    }
    sf_req_reply(req, 204, NULL, NULL, 0);
    sf_req_add_header(req, "Access-Control-Allow-Origin", edge.any_origin ? "*" : origin);
    if (!edge.any_origin) sf_req_add_header(req, "Vary", "Origin");
    sf_req_add_header(req, "Access-Control-Allow-Methods", m.allow);
    sf_req_add_header(req, "Access-Control-Allow-Headers", k_cors_headers);
    sf_req_add_header(req, "Access-Control-Max-Age", "600");
    return 1;
  }
  sf_req_reply(req, 204, NULL, NULL, 0);
  sf_req_add_header(req, "Allow", m.allow);
  return 1;
}

static void add_rl_headers(sf_req *req, const sf_rl_result *r) {
  char v[24];
  /* with both an IP and a user limit, the later (per-user) one is reported */
  snprintf(v, sizeof v, "%d", r->limit);
  sf_req_set_header(req, "RateLimit-Limit", v);
  snprintf(v, sizeof v, "%d", r->remaining);
  sf_req_set_header(req, "RateLimit-Remaining", v);
  snprintf(v, sizeof v, "%d", r->reset_s);
  sf_req_set_header(req, "RateLimit-Reset", v);
}

int sf_edge_rl_redis_state(int *fail_closed) {
  if (!edge.rl_redis) return -1;
  *fail_closed = sf_rl_redis_fail_closed(edge.rl_redis);
  return sf_rl_redis_check(edge.rl_redis);
}

int sf_edge_limits_unavailable(sf_err *err) {
  sf_err_set(err, 503, "rate-limit-unavailable", "Service unavailable",
             "rate limits cannot be checked (Redis does not answer); retry in 1 s");
  err->retry_after = 1;
  return -503;
}

sf_rl_redis *sf_edge_rl_redis(void) { return edge.rl_redis; }

int sf_edge_rl_take(sf_ratelimit *rl, const char *name, const char *key, sf_rl_result *out) {
  if (!rl) {
    *out = (sf_rl_result){.allowed = 1};
    return 0;
  }
  return sf_rl_shared_take(edge.rl_redis, rl, name, key, sf_mono_ns(), out);
}

/* Redis cannot answer and redis_fail = closed: 503, try again shortly. */
static int limits_unavailable(sf_req *req) {
  sf_err err = {0};
  sf_edge_limits_unavailable(&err);
  sf_req_reply_problem(req, &err);
  return 1;
}

/* A bucket a request takes from, and what is counted and said when it
 * refuses. */
typedef struct limit_take {
  sf_rl_want want; /* name: the bucket family in Redis */
  _Atomic uint64_t *denied;
  const char *what;
} limit_take;

/* Takes from the n buckets in order (one Redis call with redis_url).
 * Returns 1 if one refused (and the request was answered 429, or 503 when
 * Redis cannot answer and redis_fail = closed). */
static int take_limits(sf_req *req, const limit_take *t, int n) {
  if (!n) return 0;
  sf_rl_want w[SF_RL_MAX_TAKES];
  sf_rl_result res[SF_RL_MAX_TAKES];
  int taken = 0;
  for (int i = 0; i < n; i++) w[i] = t[i].want;
  if (sf_rl_shared_take_all(edge.rl_redis, w, n, sf_mono_ns(), res, &taken)) return limits_unavailable(req);
  for (int i = 0; i < taken; i++) {
    if (res[i].allowed) {
      add_rl_headers(req, &res[i]);
      continue;
    }
    atomic_fetch_add(t[i].denied, 1);
    sf_err err = {0};
    sf_err_set(&err, 429, "rate-limited", "Too many requests", "%s rate limit exceeded; retry in %d s", t[i].what,
               res[i].retry_after_s);
    err.retry_after = res[i].retry_after_s;
    sf_req_reply_problem(req, &err);
    add_rl_headers(req, &res[i]);
    return 1;
  }
  return 0;
}

static int unauthorized(sf_req *req, sf_err *err) {
  atomic_fetch_add(&edge.auth_failures, 1);
  sf_req_reply_problem(req, err);
  char v[400];
  snprintf(v, sizeof v, "Bearer realm=\"serviceflow\", error=\"invalid_token\", error_description=\"%.200s\"",
           err->detail);
  sf_req_add_header(req, "WWW-Authenticate", v);
  return 1;
}

/* Verified access tokens and their session answers, per HTTP thread: a
 * client sends the same token with every request, and checking it (base64,
 * HMAC-SHA256, JSON claims) was a tenth of a request's CPU; asking the
 * database whether its session is live would cost more again. A hit needs the
 * whole token to match byte for byte and is re-checked for expiry; nbf was
 * checked when the entry was made and time only moves on. The session answer
 * (live with the user's role, or dead with the reason) holds while the
 * generation of the user's shard is the one read before the answer was
 * looked up: sf_edge_user_changed bumps it after every committed change to a
 * user or its sessions, so an answer older than a change is never used, and
 * a lookup that raced a change is simply made again next time. */
/* 1024 entries in sets of 4, least recently used out: with one slot per
 * hash (64 slots) 64 clients' tokens already collided often enough that a
 * third of the requests verified their token and asked the database again
 * (GET /users/me with 64 users: 41k vs 66k req/s with one user). */
#define TOKEN_CACHE_WAYS 4
#define TOKEN_CACHE_SETS 256
#define TOKEN_CACHE_MAX 512
/* Shards of the session generation: a change voids the answers of 1/1024 of
 * the users (a profile edit by one user does not send every thread back to
 * the database). */
#define SESSION_SHARDS 1024
typedef struct {
  size_t len;
  uint64_t used; /* the thread's request count when last hit: the set's oldest goes */
  char token[TOKEN_CACHE_MAX];
  sf_jwt_claims claims;
  int answered;  /* the fields below hold a session answer */
  uint64_t gen;  /* generation of the user's shard it was made under */
  int status;    /* 0 live, 401 dead */
  char role[16]; /* live: the user's role */
  char why[256]; /* dead: the reason (err.detail) */
} token_entry;
static __thread token_entry *t_tokens;
static __thread uint64_t t_token_tick;
/* Sessions: the per-thread token caches and the generations that expire them. */
static struct session_state {
  pthread_key_t tokens_key; /* frees a thread's cache when the thread ends */
  pthread_once_t tokens_once;
  _Atomic uint64_t gen[SESSION_SHARDS];
  sf_edge_session_fn check;
} sessions = {.tokens_once = PTHREAD_ONCE_INIT};
static void tokens_key_init(void) { pthread_key_create(&sessions.tokens_key, free); }

static _Atomic uint64_t *session_gen(const char *user_id) {
  return &sessions.gen[sf_fnv1a(user_id, strlen(user_id)) % SESSION_SHARDS];
}

void sf_edge_on_session_check(sf_edge_session_fn fn) { sessions.check = fn; }

int sf_edge_session_check(const char *user_id, const char *session_id, char *role, size_t cap, sf_err *err) {
  if (!sessions.check) return sf_err_set(err, 503, "unavailable", "Service unavailable", "sessions cannot be checked");
  return sessions.check(user_id, session_id, role, cap, err);
}

void sf_edge_user_changed(const char *user_id) {
  if (strcmp(user_id, "*") == 0) { /* another instance's changes may have been missed: ask again for everyone */
    for (int i = 0; i < SESSION_SHARDS; i++) atomic_fetch_add_explicit(&sessions.gen[i], 1, memory_order_release);
    return;
  }
  atomic_fetch_add_explicit(session_gen(user_id), 1, memory_order_release);
}

/* tok's entry in the thread's cache (*hit: it holds tok), else the entry of
 * its set to replace; NULL when the cache cannot be allocated. */
static token_entry *token_slot(const char *tok, size_t len, int *hit) {
  if (!t_tokens) {
    pthread_once(&sessions.tokens_once, tokens_key_init);
    if (!(t_tokens = calloc(TOKEN_CACHE_SETS * TOKEN_CACHE_WAYS, sizeof *t_tokens))) return NULL;
    pthread_setspecific(sessions.tokens_key, t_tokens);
  }
  token_entry *set = &t_tokens[sf_fnv1a(tok, len) % TOKEN_CACHE_SETS * TOKEN_CACHE_WAYS], *oldest = set;
  for (int i = 0; i < TOKEN_CACHE_WAYS; i++) {
    token_entry *e = &set[i];
    if (e->len == len && memcmp(e->token, tok, len) == 0) {
      *hit = 1;
      e->used = ++t_token_tick;
      return e;
    }
    if (e->used < oldest->used) oldest = e;
  }
  *hit = 0;
  oldest->used = ++t_token_tick;
  oldest->len = 0; /* not tok's until verified */
  return oldest;
}

/* Verifies tok into c; *slot gets its cache entry (NULL if it has none). */
static int verify_token(const char *tok, sf_jwt_claims *c, token_entry **slot, sf_err *err) {
  int64_t now = sf_now_ms() / 1000;
  size_t len = strnlen(tok, TOKEN_CACHE_MAX);
  int hit = 0;
  token_entry *e = len < TOKEN_CACHE_MAX ? token_slot(tok, len, &hit) : NULL;
  *slot = e;
  if (hit && now - edge.jwt.leeway_s < e->claims.exp) {
    *c = e->claims;
    return 0;
  }
  if (sf_jwt_verify(&edge.jwt, tok, now, c, err)) return -1;
  if (e) {
    memcpy(e->token, tok, len);
    e->len = len;
    e->claims = *c;
    e->answered = 0;
  }
  return 0;
}

static int session_dead(sf_err *err, const char *why) {
  return sf_err_set(err, 401, "invalid-token", "Unauthorized", "%s", why);
}

/* Asks the checker, and keeps a definite answer (live or dead) in e. */
static int lookup_session(const sf_jwt_claims *c, token_entry *e, char *role, size_t cap, sf_err *err) {
  if (!sessions.check) return sf_err_set(err, 503, "unavailable", "Service unavailable", "sessions cannot be checked");
  uint64_t gen = atomic_load_explicit(session_gen(c->sub), memory_order_acquire); /* before the read */
  int rc = sessions.check(c->sub, c->sid, role, cap, err);
  if (!e || (rc != 0 && rc != -401)) return rc;
  e->answered = 1;
  e->gen = gen;
  e->status = rc ? 401 : 0;
  snprintf(e->role, sizeof e->role, "%s", rc ? "" : role);
  snprintf(e->why, sizeof e->why, "%s", rc ? err->detail : "");
  return rc;
}

/* Is the token's session live? Fills role (cap bytes) from the user row. */
static int check_session(const sf_jwt_claims *c, token_entry *e, char *role, size_t cap, sf_err *err) {
  if (!c->sid[0]) return session_dead(err, "token has no session; log in again");
  if (e && e->answered && e->gen == atomic_load_explicit(session_gen(c->sub), memory_order_acquire)) {
    if (e->status) return session_dead(err, e->why);
    snprintf(role, cap, "%s", e->role);
    return 0;
  }
  return lookup_session(c, e, role, cap, err);
}

/* Who calls (req->principal), not yet answered: 0 = go on, 401 (bad or
 * missing token), 403 (the role lacks the route's permission) or -1
 * (another problem, e.g. the session store cannot answer), err filled. */
static int authenticate(sf_req *req, sf_err *err) {
  const sf_route *r = req->route;
  if (r->auth == SF_AUTH_PUBLIC) return 0;
  const char *h = sf_req_header(req, "Authorization");
  const char *q = !h && (r->flags & SF_ROUTE_QUERY_TOKEN) ? sf_req_query(req, "access_token") : NULL;
  if (q && q[0]) h = sf_arena_printf(&req->arena, "Bearer %s", q);
  if (!h && r->auth == SF_AUTH_OPTIONAL) return 0;
  if (!h) return sf_err_set(err, 401, "invalid-token", "Unauthorized", "missing bearer token"), 401;
  if (strncasecmp(h, "Bearer ", 7) != 0 || !h[7])
    return sf_err_set(err, 401, "invalid-token", "Unauthorized", "expected 'Authorization: Bearer <token>'"), 401;
  sf_jwt_claims c;
  token_entry *e;
  if (verify_token(h + 7, &c, &e, err)) return 401;
  if (strcmp(c.typ, "access") != 0)
    return sf_err_set(err, 401, "invalid-token", "Unauthorized", "not an access token"), 401;
  sf_principal *p = &req->principal;
  int rc = check_session(&c, e, p->role, sizeof p->role, err);
  if (rc) return rc == -401 ? 401 : -1;
  p->authenticated = 1;
  snprintf(p->user_id, sizeof p->user_id, "%s", c.sub);
  snprintf(p->session, sizeof p->session, "%s", c.sid);
  p->token_exp = c.exp;
  if (r->auth == SF_AUTH_PERMISSION && !sf_edge_role_allows(p->role, r->permission))
    return sf_err_set(err, 403, "forbidden", "Forbidden", "role '%s' lacks permission '%s'", p->role, r->permission),
           403;
  return 0;
}

/* Answers what authenticate refused (rc != 0). Returns 1. */
static int refuse_auth(sf_req *req, int rc, sf_err *err) {
  if (rc == 401) return unauthorized(req, err);
  if (rc == 403) atomic_fetch_add(&edge.forbidden, 1);
  sf_req_reply_problem(req, err);
  return 1;
}

/* The per-IP limit, the login limit, authentication and the per-user
 * limit, answered in that order. With redis_url every bucket is taken in
 * one Redis call, so the caller is authenticated first to know its user
 * (a request the per-IP limit refuses then still had its token checked);
 * in process, the per-IP and login limits come before authentication.
 * Returns 1 if the request was refused (and answered). */
static int limits_and_auth(sf_req *req) {
  const sf_route *r = req->route;
  limit_take t[3];
  int n = 0;
  if (!(r->flags & SF_ROUTE_RAW) && edge.rl_ip)
    t[n++] = (limit_take){{edge.rl_ip, "ip", req->client_ip}, &edge.denied_ip, "per-client"};
  if ((r->flags & SF_ROUTE_LOGIN_LIMIT) && edge.rl_login)
    t[n++] = (limit_take){{edge.rl_login, "login", req->client_ip}, &edge.denied_login, "login"};
  if (!edge.rl_redis) {
    if (take_limits(req, t, n)) return 1;
    n = 0;
  }
  sf_err err = {0};
  int auth = authenticate(req, &err);
  if (!auth && req->principal.authenticated && edge.rl_user)
    t[n++] = (limit_take){{edge.rl_user, "user", req->principal.user_id}, &edge.denied_user, "per-user"};
  if (take_limits(req, t, n)) return 1;
  return auth ? refuse_auth(req, auth, &err) : 0;
}

static int is_unsafe(const char *m) {
  return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0 || strcmp(m, "DELETE") == 0;
}

/* RFC 9110 §9.1: a method we do not implement anywhere is 501, not 404/405. */
static int known_method(const char *m) {
  static const char *const k[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
    if (strcmp(k[i], m) == 0) return 1;
  return 0;
}

/* A query parameter the route does not read: kept for the problem. */
static int foreign_query(void *ud, const char *name) {
  sf_req *req = ud;
  if (sf_route_takes_query(req->route, name, strlen(name))) return 0;
  sf_err err = {0};
  char names[256];
  sf_route_query_names(req->route, names, sizeof names);
  if (names[0])
    sf_err_invalid(&err, name, "is not a parameter of this list (it takes %s)", names);
  else
    sf_err_invalid(&err, name, "is not a parameter of this list (it takes none)");
  sf_req_reply_problem(req, &err);
  return 1;
}

/* Lists refuse parameters they do not read, so that a misspelt or an
 * unsupported filter is an error rather than an unfiltered list. */
static int refuse_foreign_query(sf_req *req) {
  return sf_route_is_list(req->route) && sf_req_query_each(req, foreign_query, req);
}

/* Lists (sf_route_is_list: the searches and the event log browser, the
 * reports) may read slightly stale data: with a read replica, their
 * handler's reads go there while it keeps up and the caller has no write
 * it could miss (store/replica.h). Not the streams: their catch-up must
 * never skip an event. A handler that suspends reads the primary when it
 * resumes (the scope ends here). A list is a pure read: when the replica
 * failed it with a 503 (gone since the last probe, a recovery conflict),
 * it runs again on the primary, so a replica going away costs no answer. */
static void run_handler(sf_req *req) {
  const sf_route *r = req->route;
  int stale = sf_replica_state() != SF_REPLICA_OFF && !(r->flags & SF_ROUTE_QUERY_TOKEN) && sf_route_is_list(r);
  if (!stale) {
    r->handler(req);
    return;
  }
  int nheaders = req->nheaders;
  sf_replica_scope_begin(req->principal.authenticated ? req->principal.user_id : NULL, req->client_ip);
  r->handler(req);
  if (sf_replica_scope_end() && req->status == 503 && !sf_req_is_suspended(req)) {
    sf_replica_read_failed();
    req->nheaders = nheaders;
    r->handler(req);
  }
}

void sf_edge_dispatch(sf_req *req) {
  sf_edge_req *e = sf_arena_alloc(&req->arena, sizeof *e);
  memset(e, 0, sizeof *e);
  req->app = e;
  const char *origin = sf_req_header(req, "Origin");
  if (handle_options(req)) return;
  if (origin && sf_edge_origin_allowed(origin)) add_cors(req, origin);

  sf_err err = {0};
  if (!known_method(req->method)) {
    sf_err_set(&err, 501, "not-implemented", "Not implemented", "method %.40s is not implemented", req->method);
    sf_req_reply_problem(req, &err);
    return;
  }
  int rc = sf_router_match(req->method, req->path, &req->match);
  if (rc == 404) {
    if (sf_web_serve(req)) return; /* the web app's files: only once no route matched */
    sf_err_set(&err, 404, "not-found", "Not found", "no route for %s", req->path);
    sf_req_reply_problem(req, &err);
    return;
  }
  if (rc == 405) {
    sf_err_set(&err, 405, "method-not-allowed", "Method not allowed", "%s is not allowed here; allowed: %s",
               req->method, req->match.allow);
    sf_req_reply_problem(req, &err);
    sf_req_add_header(req, "Allow", req->match.allow);
    return;
  }
  req->route = req->match.route;
  const sf_route *r = req->route;
  if (limits_and_auth(req)) return;
  if (sf_in_refuse_media(req, r->flags)) return;
  if (refuse_foreign_query(req)) return;
  if (is_unsafe(req->method) && !(r->flags & SF_ROUTE_NO_IDEMPOTENCY) && sf_idem_begin(req)) {
    sf_idem_end(req); /* replayed or refused: release the claim before answering */
    return;
  }
  run_handler(req);
  if (!sf_req_is_suspended(req)) sf_idem_end(req); /* answered synchronously */
}
