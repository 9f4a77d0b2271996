/* Request input helpers shared by the services. Each reads one piece of a
 * request; on bad input it replies (problem+json) and returns 0 / NULL, so a
 * handler simply returns. */
#ifndef SF_EDGE_INPUT_H
#define SF_EDGE_INPUT_H

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
/* 412 when an If-Match version (>= 0) differs from the current version. */
int sf_precondition(int64_t if_match, int64_t version, sf_err *err);

#endif
