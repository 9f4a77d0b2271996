/* JSON helpers on top of jansson: strict body parsing and declarative field
 * validation that names the offending field. jansson objects follow jansson's
 * reference rules; functions here say when they steal a reference. */
#ifndef SF_CORE_JSON_H
#define SF_CORE_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

typedef enum { SF_JSON_STRING, SF_JSON_INT, SF_JSON_BOOL, SF_JSON_OBJECT, SF_JSON_ARRAY, SF_JSON_ANY } sf_json_type;

typedef struct sf_json_field {
  const char *name; /* NULL terminates a spec list */
  sf_json_type type;
  int required;
  long long min, max; /* string: length bounds (chars); int: value bounds; 0,0 = none */
} sf_json_field;

/* Parses a request body that must be one JSON object. 400 with the position
 * on malformed JSON, 400 if it is not an object. *out is a new reference. */
int sf_json_parse_object(const char *body, size_t len, json_t **out, sf_err *err);

/* Checks obj against specs: unknown members, missing required ones, wrong
 * types and bounds all become 422 entries naming the field. null is a wrong
 * type for every typed field, optional or not; only SF_JSON_ANY lets it
 * through, for the handler to give it a meaning (e.g. "clear"). */
int sf_json_validate(json_t *obj, const sf_json_field *specs, sf_err *err);

/* Compact serialisation; caller frees. Never NULL. */
char *sf_json_dump(const json_t *j, size_t *len);

/* Convenience getters: NULL / def when absent or of another type. */
const char *sf_json_str(const json_t *obj, const char *key);
long long sf_json_int(const json_t *obj, const char *key, long long def);

/* Builds a problem+json document for err (new reference). instance may be NULL. */
json_t *sf_json_problem(const sf_err *err, const char *instance);

#endif
