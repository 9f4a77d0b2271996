#include "edge/input.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One entity tag of a list at *p: 1 = a strong version in *v, 0 = a weak
 * tag or one that cannot be ours (it matches nothing), -1 = malformed. */
static int next_etag(const char **p, int64_t *v) {
  const char *s = *p;
  while (*s == ' ' || *s == '\t') s++;
  int weak = strncmp(s, "W/", 2) == 0;
  if (weak) s += 2;
  int quoted = *s == '"';
  const char *start = s + quoted, *end = start;
  while (*end && *end != '"' && *end != ',' && *end != ' ' && *end != '\t') end++;
  if (quoted && *end++ != '"') return -1;
  const char *after = end;
  while (*after == ' ' || *after == '\t') after++;
  if (*after && *after != ',') return -1;
  *p = *after ? after + 1 : after;
  char buf[24];
  size_t n = (size_t)((quoted ? end - 1 : end) - start);
  if (!quoted && (weak || n == 0 || strspn(start, "0123456789") < n)) return -1; /* bare: digits only */
  if (weak || n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, start, n);
  buf[n] = '\0';
  char *e;
  long long x = strtoll(buf, &e, 10);
  if (*e || x < 0 || !isdigit((unsigned char)buf[0])) return 0;
  *v = x;
  return 1;
}

static int parse_if_match(const char *h, sf_if_match *m) {
  memset(m, 0, sizeof *m);
  while (h && (*h == ' ' || *h == '\t')) h++;
  if (!h || strcmp(h, "*") == 0) {
    m->any = 1;
    return 0;
  }
  const char *p = h;
  int elements = 0;
  while (*p) {
    int64_t v;
    int rc = next_etag(&p, &v);
    if (rc < 0) return -1;
    elements++;
    if (rc == 1 && m->n < SF_IF_MATCH_MAX) m->versions[m->n++] = v;
  }
  return elements ? 0 : -1;
}

int sf_in_if_match(sf_req *req, sf_if_match *out) {
  if (parse_if_match(sf_req_header(req, "If-Match"), out) == 0) return 1;
  sf_err err = {0};
  sf_err_bad_request(&err, "If-Match must be * or entity tags such as \"3\"");
  sf_req_reply_problem(req, &err);
  return 0;
}

json_t *sf_in_body(sf_req *req, const sf_json_field *specs) {
  sf_err err = {0};
  json_t *body = NULL;
  if (sf_json_parse_object(req->body, req->body_len, &body, &err) || sf_json_validate(body, specs, &err)) {
    json_decref(body);
    sf_req_reply_problem(req, &err);
    return NULL;
  }
  return body;
}

int sf_in_query_int(sf_req *req, const char *name, long long min, long long max, long long *out, int *present) {
  const char *s = sf_req_query(req, name);
  if (present) *present = s != NULL;
  if (!s) return 1;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (*s && !*end && v >= min && v <= max) {
    *out = v;
    return 1;
  }
  sf_err err = {0};
  sf_err_invalid(&err, name, "must be an integer between %lld and %lld", min, max);
  sf_req_reply_problem(req, &err);
  return 0;
}

int sf_in_limit(sf_req *req, int *limit) {
  long long v = 50;
  if (!sf_in_query_int(req, "limit", 1, 200, &v, NULL)) return 0;
  *limit = (int)v;
  return 1;
}

int sf_precondition(sf_if_match m, int64_t version, sf_err *err) {
  if (m.any) return 0;
  for (int i = 0; i < m.n; i++)
    if (m.versions[i] == version) return 0;
  return sf_err_set(err, 412, "precondition-failed", "Precondition failed",
                    "If-Match does not match the current version %" PRId64 " (ETag \"%" PRId64 "\")", version, version);
}

int sf_in_time_cursor(sf_req *req, int64_t *at, char *id, size_t cap) {
  const char *cursor = sf_req_query(req, "cursor");
  *at = INT64_MAX;
  snprintf(id, cap, "\x7f");
  if (!cursor) return 1;
  char *end;
  *at = strtoll(cursor, &end, 10);
  if (*end == ':' && end[1] && strlen(end + 1) < cap) {
    snprintf(id, cap, "%s", end + 1);
    return 1;
  }
  sf_err err = {0};
  sf_err_invalid(&err, "cursor", "is not a cursor returned by this list");
  sf_req_reply_problem(req, &err);
  return 0;
}

static int fts_query(const char *q, char *out, size_t cap) {
  size_t o = 0;
  int terms = 0;
  for (const char *p = q; *p;) {
    while (*p && !isalnum((unsigned char)*p) && !((unsigned char)*p & 0x80)) p++;
    const char *start = p;
    while (*p && (isalnum((unsigned char)*p) || ((unsigned char)*p & 0x80))) p++;
    size_t n = (size_t)(p - start);
    if (!n) continue;
    if (o + n + 6 >= cap || terms == 16) return -1;
    if (terms) out[o++] = ' ';
    out[o++] = '"';
    memcpy(out + o, start, n);
    o += n;
    out[o++] = '"';
    out[o++] = '*';
    terms++;
  }
  out[o] = '\0';
  return terms;
}

int sf_in_search(sf_req *req, const char *name, char *match, size_t cap) {
  const char *q = sf_req_query(req, name);
  match[0] = '\0';
  if (!q) return 1;
  int terms = fts_query(q, match, cap);
  if (terms > 0) return 1;
  sf_err err = {0};
  sf_err_invalid(&err, name, terms < 0 ? "is too long (at most 16 words)" : "must contain a word");
  sf_req_reply_problem(req, &err);
  return 0;
}

int sf_in_items(const json_t *items, sf_in_item *out, int max, sf_err *err) {
  size_t n = json_array_size(items);
  int k = 0;
  if (n == 0 || n > (size_t)max) sf_err_field_add(err, "items", "must hold 1 to %d items", max);
  for (size_t i = 0; i < n && i < (size_t)max; i++) {
    json_t *it = json_array_get(items, i);
    char field[40];
    const char *pid = json_is_object(it) ? sf_json_str(it, "product_id") : NULL;
    json_t *q = json_is_object(it) ? json_object_get(it, "quantity") : NULL;
    if (!json_is_object(it) || json_object_size(it) != 2 || !pid || !json_is_integer(q)) {
      snprintf(field, sizeof field, "items[%zu]", i);
      sf_err_field_add(err, field, "must be {\"product_id\": string, \"quantity\": integer}");
      continue;
    }
    long long qty = json_integer_value(q);
    if (qty < 1 || qty > 1000) {
      snprintf(field, sizeof field, "items[%zu].quantity", i);
      sf_err_field_add(err, field, "must be between 1 and 1000");
    }
    if (!*pid || strlen(pid) >= sizeof out[0].product_id) {
      snprintf(field, sizeof field, "items[%zu].product_id", i);
      sf_err_field_add(err, field, "is not a product id");
      continue;
    }
    for (int j = 0; j < k; j++)
      if (strcmp(out[j].product_id, pid) == 0) {
        snprintf(field, sizeof field, "items[%zu].product_id", i);
        sf_err_field_add(err, field, "appears twice; use one line per product");
      }
    snprintf(out[k].product_id, sizeof out[k].product_id, "%s", pid);
    out[k++].quantity = qty;
  }
  return k;
}

/* ---- media types ---- */

static int media_is(const char *t, size_t n, const char *want) {
  return strlen(want) == n && strncasecmp(t, want, n) == 0;
}

/* charset, when given, must be UTF-8 (RFC 8259 §8.1). */
static int utf8_params(const char *p) {
  while ((p = strchr(p, ';'))) {
    p++;
    while (*p == ' ' || *p == '\t') p++;
    if (strncasecmp(p, "charset=", 8) != 0) continue;
    const char *v = p + 8;
    if (*v == '"') v++;
    if (strncasecmp(v, "utf-8", 5) != 0 || (v[5] && v[5] != '"' && v[5] != ';' && v[5] != ' ')) return 0;
  }
  return 1;
}

sf_media sf_in_media(const char *ct) {
  if (!ct) return SF_MEDIA_NONE;
  while (*ct == ' ' || *ct == '\t') ct++;
  size_t n = strcspn(ct, "; \t");
  if (n >= 17 && strncasecmp(ct, "application/", 12) == 0 && media_is(ct + n - 5, 5, "+json"))
    return utf8_params(ct) ? SF_MEDIA_JSON : SF_MEDIA_OTHER;
  if (media_is(ct, n, "application/json")) return utf8_params(ct) ? SF_MEDIA_JSON : SF_MEDIA_OTHER;
  if (media_is(ct, n, "application/yaml") || media_is(ct, n, "application/x-yaml") || media_is(ct, n, "text/yaml") ||
      media_is(ct, n, "text/x-yaml"))
    return SF_MEDIA_YAML;
  if (media_is(ct, n, "application/x-www-form-urlencoded")) return SF_MEDIA_FORM;
  return SF_MEDIA_OTHER;
}

/* Only POST, PUT and PATCH give a body a meaning here; a body sent with a
 * GET or DELETE is ignored, whatever its type. */
static int takes_body(const char *m) {
  return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

int sf_in_refuse_media(sf_req *req, unsigned route_flags) {
  if (req->body_len == 0 || (route_flags & SF_ROUTE_RAW) || !takes_body(req->method)) return 0;
  const char *ct = sf_req_header(req, "Content-Type");
  sf_media m = sf_in_media(ct);
  if (m == SF_MEDIA_OTHER || (m == SF_MEDIA_YAML && !(route_flags & SF_ROUTE_YAML_BODY))) {
    const char *accept = route_flags & SF_ROUTE_YAML_BODY ? "application/json, application/yaml" : "application/json";
    sf_err err = {0};
    sf_err_set(&err, 415, "unsupported-media-type", "Unsupported media type",
               "Content-Type '%.100s' is not accepted here; send %s (UTF-8)", ct, accept);
    sf_req_reply_problem(req, &err);
    sf_req_add_header(req, "Accept", accept);
    return 1;
  }
  return 0;
}
