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

/* Is name one of the words of list (words end at a space or a ':type'). */
static int word_listed(const char *list, const char *name, size_t len) {
  for (const char *p = list; p && *p;) {
    while (*p == ' ') p++;
    size_t n = strcspn(p, " :");
    if (n == len && strncmp(p, name, len) == 0) return 1;
    p += strcspn(p, " ");
  }
  return 0;
}

void sf_route_query_names(const sf_route *r, char *out, size_t cap) {
  size_t o = (size_t)snprintf(out, cap, "%s", r->flags & SF_ROUTE_PAGED ? "limit, cursor" : "");
  for (const char *p = r->query; p && *p && o < cap;) {
    while (*p == ' ') p++;
    size_t n = strcspn(p, " :");
    if (n) o += (size_t)snprintf(out + o, cap - o, "%s%.*s", o ? ", " : "", (int)n, p);
    p += strcspn(p, " ");
  }
}

int sf_route_takes_query(const sf_route *r, const char *name, size_t len) {
  if ((r->flags & SF_ROUTE_PAGED) && word_listed("limit cursor", name, len)) return 1;
  return word_listed(r->query, name, len);
}
