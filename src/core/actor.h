/* Who acts, and what a command answers: the two values that cross between
 * the edge (which knows HTTP) and the domain (which must not).
 *
 * An sf_actor is built by the edge from an authenticated request
 * (sf_req_actor in edge/command.h), by a timer or a saga for the system
 * (sf_actor_system), and handed down to command and domain functions as
 * `const sf_actor *`. Its strings are borrowed: valid for the call it is
 * passed to; copy what you keep.
 *
 * An sf_result is what a command or a domain function hands back up: a
 * status, a JSON body it owns, and a few response headers (Location, ETag,
 * Preference-Applied). The edge renders it into the HTTP reply and the
 * idempotency record. */
#ifndef SF_CORE_ACTOR_H
#define SF_CORE_ACTOR_H

#include <jansson.h>
#include <stddef.h>

typedef struct sf_actor {
  const char *user_id;     /* NULL: anonymous, or the system */
  const char *role;        /* "customer", "staff", ...; "" when anonymous */
  const char *email;       /* "" when unknown */
  const char *session;     /* the session (refresh-token family) acting; "" when none */
  const char *request_id;  /* "" when not caused by a request */
  const char *traceparent; /* W3C trace context to continue; "" when none */
  const char *client_ip;   /* "" when not caused by a request */
} sf_actor;

/* The roles a user may have, in the order listings give them; an actor's
 * role is one of these (or "" when anonymous). */
#define SF_NROLES 4
extern const char *const sf_roles[SF_NROLES];
/* The index of role (len bytes) in sf_roles, or -1. */
int sf_role_index(const char *role, size_t len);

/* The system (timers, sagas, subscribers): no user, no request. */
extern const sf_actor sf_actor_system;

/* 1 when the actor is a signed-in user (not anonymous, not the system). */
static inline int sf_actor_is_user(const sf_actor *a) { return a && a->user_id && a->user_id[0]; }

#define SF_RESULT_MAX_HEADERS 4
#define SF_RESULT_HEADER_MAX 256

typedef struct sf_result {
  int status;   /* 0 = not set */
  json_t *body; /* owned; NULL = no body */
  int nheaders;
  struct {
    const char *name; /* static string */
    char value[SF_RESULT_HEADER_MAX];
  } headers[SF_RESULT_MAX_HEADERS];
} sf_result;

/* Sets status and body (stolen; NULL = none), replacing an earlier body. */
void sf_result_json(sf_result *r, int status, json_t *body);
/* Adds a header (name: a static string; value copied, cut at 255 bytes).
 * Replaces an earlier header of the same name; beyond the table's room the
 * header is dropped and -1 returned. */
int sf_result_header(sf_result *r, const char *name, const char *value);
/* Frees the body and clears r. */
void sf_result_clear(sf_result *r);

#endif
