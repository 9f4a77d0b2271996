/* Request input helpers shared by the services. Each reads one piece of a
 * request; on bad input it replies (problem+json) and returns 0 / NULL, so a
 * handler simply returns. */
#ifndef SF_EDGE_INPUT_H
#define SF_EDGE_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/http.h"
#include "core/json.h"

/* What a request's Content-Type says its body is. */
typedef enum {
  SF_MEDIA_NONE, /* no Content-Type */
  SF_MEDIA_JSON, /* application/json, application/<x>+json; charset utf-8 if any */
  SF_MEDIA_YAML, /* application/yaml, application/x-yaml, text/yaml, text/x-yaml */
  SF_MEDIA_FORM, /* application/x-www-form-urlencoded: what curl -d sends unasked */
  SF_MEDIA_OTHER,
} sf_media;
sf_media sf_in_media(const char *content_type);

/* The edge's check of a request body's media type (a POST, PUT or PATCH
 * with a body, on every route that is not SF_ROUTE_RAW): JSON, no Content-Type, and
 * curl's default form type (read as JSON, for `curl -d '{...}'`), plus YAML
 * on SF_ROUTE_YAML_BODY routes; anything else is 415 with an Accept header.
 * Returns 1 when it answered. */
int sf_in_refuse_media(sf_req *req, unsigned route_flags);

/* An If-Match precondition (RFC 9110 §13.1.1). Our ETags are strong, "<version>". */
#define SF_IF_MATCH_MAX 8
typedef struct sf_if_match {
  int any; /* absent, or "*": any current representation matches */
  int n;   /* strong versions listed (a weak tag never matches) */
  int64_t versions[SF_IF_MATCH_MAX];
} sf_if_match;
#define SF_IF_MATCH_ANY ((sf_if_match){.any = 1}) /* no condition */

/* Reads If-Match: "*", or a list of entity tags ("3", W/"3", and a bare 3
 * for old clients). 400 on a malformed one. */
int sf_in_if_match(sf_req *req, sf_if_match *out);
/* The body as one JSON object checked against specs (400 / 422). */
json_t *sf_in_body(sf_req *req, const sf_json_field *specs);
/* ?limit= in [1, 200], default 50 (422 otherwise). */
int sf_in_limit(sf_req *req, int *limit);
/* An optional integer query parameter within [min, max] (422 otherwise);
 * *present says whether it was given. */
int sf_in_query_int(sf_req *req, const char *name, long long min, long long max, long long *out, int *present);
/* ?cursor= of a list ordered by (time, id) descending, as "<time>:<id>":
 * *at and id get the position after which to continue (INT64_MAX and
 * "\x7f", i.e. the start, without a cursor). 422 for a malformed cursor. */
int sf_in_time_cursor(sf_req *req, int64_t *at, char *id, size_t cap);

/* ?name= free text as an FTS5 query that cannot be a syntax error (every
 * word a quoted prefix term, all must match) into match; "" without it.
 * 422 for text without a word or with more than 16 words. */
int sf_in_search(sf_req *req, const char *name, char *match, size_t cap);

/* A body's "items" list of {product_id, quantity} (1..1000, each product
 * once, at most max lines): problems are added to err as fields
 * ("items[2].quantity"); returns the number of well-formed lines. */
typedef struct sf_in_item {
  char product_id[48];
  int64_t quantity;
} sf_in_item;
int sf_in_items(const json_t *items, sf_in_item *out, int max, sf_err *err);

/* 412 unless m matches the current version of an existing resource (call
 * it only once the resource is known to exist: a 404 comes first). */
int sf_precondition(sf_if_match m, int64_t version, sf_err *err);

#endif
