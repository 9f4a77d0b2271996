/* Router: a table of routes with `{param}` path segments. Matching is
 * method-aware: a path that exists under other methods yields 405 with the
 * Allow list. Routes carry their own documentation, from which the OpenAPI
 * document is generated, so a route cannot exist undocumented.
 * The router owns nothing dynamic: routes point at static strings. */
#ifndef SF_CORE_ROUTER_H
#define SF_CORE_ROUTER_H

#include <stddef.h>

#define SF_ROUTE_MAX 256
#define SF_ROUTE_MAX_PARAMS 4

struct sf_req;
typedef void (*sf_handler)(struct sf_req *req);

/* Who may call a route. */
typedef enum {
  SF_AUTH_PUBLIC = 0, /* no token needed */
  SF_AUTH_USER,       /* any valid token */
  SF_AUTH_PERMISSION, /* a valid token whose role grants `permission` */
  SF_AUTH_OPTIONAL,   /* anonymous allowed; a token, when sent, must be valid */
} sf_auth_kind;

typedef struct sf_route {
  const char *method;
  const char *pattern; /* "/api/v1/users/{id}" */
  sf_handler handler;
  sf_auth_kind auth;
  const char *permission; /* with SF_AUTH_PERMISSION */
  unsigned flags;         /* SF_ROUTE_* */
  const char *tag;        /* OpenAPI tag */
  const char *summary;
  const char *request_schema;  /* JSON Schema (text) of the body, or NULL */
  const char *response_schema; /* JSON Schema (text) of the success body, or NULL */
  int success_status;          /* documented success status, default 200 */
  int id;                      /* index, set by sf_router_add */
  /* Statuses the route answers beyond those its properties imply (see
   * src/edge/openapi.c for the derived ones), space-separated:
   * `.statuses = "409 412"`. A 2xx answers with response_schema, any other
   * status with a problem+json body. Adding a status is one token here. */
  const char *statuses;
  const char *response_type; /* media type of the success body; NULL: application/json */
  /* Query parameters besides limit/cursor (SF_ROUTE_PAGED), space-separated,
   * each `name` (a string) or `name:integer` / `name:date` (YYYY-MM-DD):
   * `.query = "q status min_price:integer"`. */
  const char *query;
  const char *headers; /* request headers the route reads, same form: "Prefer Cart-Token" */
} sf_route;

enum {
  SF_ROUTE_LOGIN_LIMIT = 1u << 0, /* stricter per-IP limit (login, register) */
  SF_ROUTE_NO_IDEMPOTENCY = 1u << 1,
  SF_ROUTE_RAW = 1u << 2,       /* ops route: not under /api/v1, no JSON */
  SF_ROUTE_IF_MATCH = 1u << 3,  /* honours If-Match (version): 400 malformed, 412 mismatch */
  SF_ROUTE_YAML_BODY = 1u << 4, /* the body may also be application/yaml (415 otherwise) */
  SF_ROUTE_PAGED = 1u << 5,     /* a list taking ?limit= and ?cursor= (422 when malformed) */
  /* its answer hands out a secret (a guest cart's token): a caller with no
   * credential at all, known only by its address, gets no stored replay (the
   * request runs again), since anyone behind that address could send the
   * same key and body */
  SF_ROUTE_SECRET_REPLY = 1u << 6,
  /* the access token may come as ?access_token= (RFC 6750 2.3) when there is
   * no Authorization header: browsers' EventSource and WebSocket cannot set
   * one (the streams) */
  SF_ROUTE_QUERY_TOKEN = 1u << 7,
};

/* JSON Schema (text) of a list answer: {"data": [item...], "next_cursor": ...} */
#define SF_LIST_SCHEMA(item)                                                                                           \
  "{\"type\":\"object\",\"required\":[\"data\",\"next_cursor\"],\"properties\":{\"data\":{\"type\":"                   \
  "\"array\",\"items\":" item "},\"next_cursor\":{\"type\":[\"string\",\"null\"]}}}"

typedef struct sf_route_match {
  const sf_route *route;
  int nparams;
  const char *names[SF_ROUTE_MAX_PARAMS]; /* point into the pattern */
  size_t name_lens[SF_ROUTE_MAX_PARAMS];
  const char *values[SF_ROUTE_MAX_PARAMS]; /* point into the path */
  size_t value_lens[SF_ROUTE_MAX_PARAMS];
  char allow[128]; /* on 405: "GET, PATCH" */
} sf_route_match;

/* A GET route answering {data, next_cursor} (SF_ROUTE_PAGED, or a response
 * schema naming next_cursor): it refuses query parameters it does not read
 * (limit and cursor when paged, and its `query`). */
int sf_route_is_list(const sf_route *r);
/* The words of a `name[:type]` list (sf_route.query, .headers), separated by
 * spaces: calls fn with each name and type (tlen 0 when untyped) until fn
 * returns non-zero; returns that value. The one reader of the grammar. */
typedef int (*sf_route_word_fn)(void *ud, const char *name, size_t nlen, const char *type, size_t tlen);
int sf_route_words(const char *list, sf_route_word_fn fn, void *ud);
/* Is the query parameter name (len bytes) one r reads? */
int sf_route_takes_query(const sf_route *r, const char *name, size_t len);
/* The names of the query parameters r reads, "limit, cursor, status" (for messages). */
void sf_route_query_names(const sf_route *r, char *out, size_t cap);

/* Adds a route (copied). Returns its id, or -1 if the table is full. */
int sf_router_add(const sf_route *r);
void sf_router_reset(void); /* for tests */
int sf_router_count(void);
const sf_route *sf_router_get(int id);

/* 0 = matched; 404 = no such path; 405 = path exists, method does not
 * (m->allow filled). HEAD matches GET routes. */
int sf_router_match(const char *method, const char *path, sf_route_match *m);

#endif
