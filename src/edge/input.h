/* Request input helpers shared by the services. Each reads one piece of a
 * request; on bad input it replies (problem+json) and returns 0 / NULL, so a
 * handler simply returns. */
#ifndef SF_EDGE_INPUT_H
#define SF_EDGE_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/http.h"
#include "core/json.h"

/* If-Match: *out = the version, or -1 when absent. 400 on a malformed one. */
int sf_in_if_match(sf_req *req, int64_t *out);
/* The body as one JSON object checked against specs (400 / 422). */
json_t *sf_in_body(sf_req *req, const sf_json_field *specs);
/* ?limit= in [1, 200], default 50 (422 otherwise). */
int sf_in_limit(sf_req *req, int *limit);
/* An optional integer query parameter within [min, max] (422 otherwise);
 * *present says whether it was given. */
int sf_in_query_int(sf_req *req, const char *name, long long min, long long max, long long *out,
                    int *present);
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

/* 412 when an If-Match version (>= 0) differs from the current version. */
int sf_precondition(int64_t if_match, int64_t version, sf_err *err);

#endif
