#include "edge/input.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t parse_if_match(const char *h) {
  if (!h) return -1;
  if (strncmp(h, "W/", 2) == 0) h += 2;
  char buf[32];
  size_t n = strlen(h);
  if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
    h++;
    n -= 2;
  }
  if (n == 0 || n >= sizeof buf) return -2;
  memcpy(buf, h, n);
  buf[n] = '\0';
  char *end;
  long long v = strtoll(buf, &end, 10);
  if (*end || v < 0) return -2;
  return v;
}

int sf_in_if_match(sf_req *req, int64_t *out) {
  *out = parse_if_match(sf_req_header(req, "If-Match"));
  if (*out != -2) return 1;
  sf_err err = {0};
  sf_err_bad_request(&err, "If-Match must be a version number such as \"3\"");
  sf_req_reply_problem(req, &err);
  return 0;
}

json_t *sf_in_body(sf_req *req, const sf_json_field *specs) {
  sf_err err = {0};
  json_t *body = NULL;
  if (sf_json_parse_object(req->body, req->body_len, &body, &err) ||
      sf_json_validate(body, specs, &err)) {
    json_decref(body);
    sf_req_reply_problem(req, &err);
    return NULL;
  }
  return body;
}

int sf_in_query_int(sf_req *req, const char *name, long long min, long long max, long long *out,
                    int *present) {
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

int sf_precondition(int64_t if_match, int64_t version, sf_err *err) {
  if (if_match >= 0 && if_match != version)
    return sf_err_set(err, 412, "precondition-failed", "Precondition failed",
                      "If-Match version %" PRId64 " does not match the current version %" PRId64,
                      if_match, version);
  return 0;
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
