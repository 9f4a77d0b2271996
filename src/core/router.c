#include "core/router.h"

#include <stdio.h>
#include <string.h>

/* The route table: filled at start (one thread), read-only while serving. */
static struct router_state {
  sf_route routes[SF_ROUTE_MAX];
  int nroutes;
} router;

int sf_router_add(const sf_route *r) {
  if (router.nroutes >= SF_ROUTE_MAX) return -1;
  router.routes[router.nroutes] = *r;
  router.routes[router.nroutes].id = router.nroutes;
  if (!router.routes[router.nroutes].success_status) router.routes[router.nroutes].success_status = 200;
  return router.nroutes++;
}

void sf_router_reset(void) { router.nroutes = 0; }
int sf_router_count(void) { return router.nroutes; }
const sf_route *sf_router_get(int id) { return id >= 0 && id < router.nroutes ? &router.routes[id] : NULL; }

/* Matches path against pattern segment by segment, capturing {params}. */
static int match_path(const char *pat, const char *path, sf_route_match *m) {
  int np = 0;
  while (*pat && *path) {
    if (*pat != '/' || *path != '/') return 0;
    pat++, path++;
    const char *pe = strchr(pat, '/');
    if (!pe) pe = pat + strlen(pat);
    const char *se = strchr(path, '/');
    if (!se) se = path + strlen(path);
    if (*pat == '{') {
      if (se == path || np >= SF_ROUTE_MAX_PARAMS) return 0; /* empty param */
      m->names[np] = pat + 1;
      m->name_lens[np] = (size_t)(pe - pat - 2);
      m->values[np] = path;
      m->value_lens[np] = (size_t)(se - path);
      np++;
    } else if ((pe - pat) != (se - path) || memcmp(pat, path, (size_t)(pe - pat)) != 0) {
      return 0;
    }
    pat = pe;
    path = se;
  }
  if (*pat || *path) return 0;
  m->nparams = np;
  return 1;
}

int sf_router_match(const char *method, const char *path, sf_route_match *m) {
  memset(m, 0, sizeof *m);
  const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
  int path_found = 0;
  size_t alen = 0;
  for (int i = 0; i < router.nroutes; i++) {
    sf_route_match tmp;
    if (!match_path(router.routes[i].pattern, path, &tmp)) continue;
    if (strcmp(router.routes[i].method, want) == 0) {
      *m = tmp;
      m->route = &router.routes[i];
      return 0;
    }
    path_found = 1;
    if (!strstr(m->allow, router.routes[i].method)) {
      int n = snprintf(m->allow + alen, sizeof m->allow - alen, "%s%s", alen ? ", " : "", router.routes[i].method);
      if (n > 0 && alen + (size_t)n < sizeof m->allow) alen += (size_t)n;
    }
  }
  if (!path_found) return 404;
  if (strstr(m->allow, "GET") && !strstr(m->allow, "HEAD") && alen + 6 < sizeof m->allow) {
    memcpy(m->allow + alen, ", HEAD", 7);
  }
  return 405;
}

int sf_route_is_list(const sf_route *r) {
  return strcmp(r->method, "GET") == 0 &&
         ((r->flags & SF_ROUTE_PAGED) || (r->response_schema && strstr(r->response_schema, "next_cursor")));
}

int sf_route_words(const char *list, sf_route_word_fn fn, void *ud) {
  for (const char *p = list; p && *p;) {
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (!len) break;
    const char *colon = memchr(p, ':', len);
    size_t nlen = colon ? (size_t)(colon - p) : len;
    int rc = fn(ud, p, nlen, colon ? colon + 1 : "", colon ? len - nlen - 1 : 0);
    if (rc) return rc;
    p += len;
  }
  return 0;
}

typedef struct {
  const char *name;
  size_t len;
} wanted;

static int is_wanted(void *ud, const char *name, size_t nlen, const char *type, size_t tlen) {
  const wanted *w = ud;
  return nlen == w->len && strncmp(name, w->name, nlen) == 0;
}

/* Is name one of the words of list. */
static int word_listed(const char *list, const char *name, size_t len) {
  wanted w = {name, len};
  return sf_route_words(list, is_wanted, &w);
}

typedef struct {
  char *out;
  size_t cap, used;
} names_out;

static int add_name(void *ud, const char *name, size_t nlen, const char *type, size_t tlen) {
  names_out *o = ud;
  if (o->used < o->cap)
    o->used += (size_t)snprintf(o->out + o->used, o->cap - o->used, "%s%.*s", o->used ? ", " : "", (int)nlen, name);
  return 0;
}

void sf_route_query_names(const sf_route *r, char *out, size_t cap) {
  names_out o = {out, cap, (size_t)snprintf(out, cap, "%s", r->flags & SF_ROUTE_PAGED ? "limit, cursor" : "")};
  sf_route_words(r->query, add_name, &o);
}

int sf_route_takes_query(const sf_route *r, const char *name, size_t len) {
  if ((r->flags & SF_ROUTE_PAGED) && word_listed("limit cursor", name, len)) return 1;
  return word_listed(r->query, name, len);
}
