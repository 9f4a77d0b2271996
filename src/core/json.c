#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sf_json_parse_object(const char *body, size_t len, json_t **out, sf_err *err) {
  *out = NULL;
  if (!body || len == 0) return sf_err_bad_request(err, "request body must be a JSON object");
  json_error_t je;
  json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  if (!j)
    return sf_err_set(err, 400, "malformed-json", "Malformed JSON", "line %d, column %d: %s", je.line, je.column,
                      je.text);
  if (!json_is_object(j)) {
    json_decref(j);
    return sf_err_bad_request(err, "request body must be a JSON object");
  }
  *out = j;
  return 0;
}

static const char *type_name(sf_json_type t) {
  switch (t) {
    case SF_JSON_STRING: return "a string";
    case SF_JSON_INT: return "an integer";
    case SF_JSON_BOOL: return "a boolean";
    case SF_JSON_OBJECT: return "an object";
    case SF_JSON_ARRAY: return "an array";
    default: return "a value";
  }
}

static int type_ok(const json_t *v, sf_json_type t) {
  switch (t) {
    case SF_JSON_STRING: return json_is_string(v);
    case SF_JSON_INT: return json_is_integer(v);
    case SF_JSON_BOOL: return json_is_boolean(v);
    case SF_JSON_OBJECT: return json_is_object(v);
    case SF_JSON_ARRAY: return json_is_array(v);
    default: return 1;
  }
}

/* Counts UTF-8 code points (the body was validated as UTF-8 by jansson). */
static long long utf8_len(const char *s) {
  long long n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

int sf_json_validate(json_t *obj, const sf_json_field *specs, sf_err *err) {
  int bad = 0;
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    const sf_json_field *f = specs;
    while (f->name && strcmp(f->name, key) != 0) f++;
    if (!f->name) {
      sf_err_invalid(err, key, "unknown field");
      bad = 1;
    }
  }
  for (const sf_json_field *f = specs; f->name; f++) {
    v = json_object_get(obj, f->name);
    if (!v || (json_is_null(v) && f->required)) {
      if (f->required) {
        sf_err_invalid(err, f->name, "is required");
        bad = 1;
      }
      continue;
    }
    /* null is not "absent": {"amount": null} on a refund once refunded
     * everything. A field that gives null a meaning is SF_JSON_ANY and the
     * handler reads it. */
    if (!type_ok(v, f->type)) {
      sf_err_invalid(err, f->name,
                     json_is_null(v) ? "must be %s, not null (leave the field out instead)" : "must be %s",
                     type_name(f->type));
      bad = 1;
      continue;
    }
    if (f->min == 0 && f->max == 0) continue;
    if (f->type == SF_JSON_STRING) {
      long long n = utf8_len(json_string_value(v));
      if (n < f->min || n > f->max) {
        sf_err_invalid(err, f->name, "length must be between %lld and %lld", f->min, f->max);
        bad = 1;
      }
    } else if (f->type == SF_JSON_INT) {
      long long n = json_integer_value(v);
      if (n < f->min || n > f->max) {
        sf_err_invalid(err, f->name, "must be between %lld and %lld", f->min, f->max);
        bad = 1;
      }
    }
  }
  return bad ? -422 : 0;
}

char *sf_json_dump(const json_t *j, size_t *len) {
  char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
  if (!s) s = strdup("null");
  if (!s) abort();
  if (len) *len = strlen(s);
  return s;
}

const char *sf_json_str(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

long long sf_json_int(const json_t *obj, const char *key, long long def) {
  const json_t *v = json_object_get(obj, key);
  return json_is_integer(v) ? json_integer_value(v) : def;
}

/* A json string from text that may have been truncated mid-UTF-8 sequence. */
static json_t *safe_string(const char *s) {
  json_t *j = json_string(s);
  if (j) return j;
  char tmp[512];
  size_t i = 0;
  for (; s[i] && i < sizeof tmp - 1; i++) tmp[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
  tmp[i] = '\0';
  return json_string(tmp);
}

json_t *sf_json_problem(const sf_err *err, const char *instance) {
  char type[128];
  snprintf(type, sizeof type, "https://serviceflow.dev/problems/%s", err->code[0] ? err->code : "error");
  json_t *p = json_pack("{s:s, s:o, s:i}", "type", type, "title", safe_string(err->title[0] ? err->title : "Error"),
                        "status", err->status);
  if (err->detail[0]) json_object_set_new(p, "detail", safe_string(err->detail));
  if (instance) json_object_set_new(p, "instance", safe_string(instance));
  if (err->nfields) {
    json_t *arr = json_array();
    for (int i = 0; i < err->nfields; i++) {
      json_t *e = json_pack("{s:o, s:o}", "field", safe_string(err->fields[i].field), "message",
                            safe_string(err->fields[i].message));
      if (err->fields[i].line > 0) json_object_set_new(e, "line", json_integer(err->fields[i].line));
      json_array_append_new(arr, e);
    }
    json_object_set_new(p, "errors", arr);
  }
  return p;
}
