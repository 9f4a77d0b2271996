#include "core/json.h"

#include "core/buf.h"

#include <math.h>
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

/* ---- compact serialisation ----
 * The same bytes as json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15))
 * (events are hashed as stored, and tests compare both on a corpus), in a
 * fifth of its instructions: jansson writes through a callback per token
 * and decodes every code point; this copies runs of plain bytes. What it
 * does not handle the same way (invalid UTF-8, NaN or infinity, very deep
 * nesting) goes to jansson, whose answer (NULL, then "null") stands. */

#define DUMP_MAX_DEPTH 2048 /* jansson's own limit on nesting (JSON_PARSER_DEFAULT_DEPTH) is lower */

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid
 * (overlong, a surrogate, beyond U+10FFFF, cut short): what jansson refuses. */
static size_t utf8_seq_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (n == 0 || c > 0xf4 || (size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (n == 3) {
    unsigned cp = ((c & 0x0f) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  } else if (n == 4) {
    unsigned cp = ((c & 0x07) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) | (p[3] & 0x3fu);
    if (cp < 0x10000 || cp > 0x10ffff) return 0;
  }
  return n;
}

static int dump_string(sf_buf *b, const char *str, size_t len) {
  const unsigned char *p = (const unsigned char *)str, *end = p + len, *run = p;
  sf_buf_append(b, "\"", 1);
  while (p < end) {
    unsigned c = *p;
    if (c >= 0x80) {
      size_t n = utf8_seq_len(p, end);
      if (!n) return -1;
      p += n;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') {
      p++;
      continue;
    }
    sf_buf_append(b, run, (size_t)(p - run));
    char esc[8];
    switch (c) {
      case '"': sf_buf_append(b, "\\\"", 2); break;
      case '\\': sf_buf_append(b, "\\\\", 2); break;
      case '\b': sf_buf_append(b, "\\b", 2); break;
      case '\f': sf_buf_append(b, "\\f", 2); break;
      case '\n': sf_buf_append(b, "\\n", 2); break;
      case '\r': sf_buf_append(b, "\\r", 2); break;
      case '\t': sf_buf_append(b, "\\t", 2); break;
      default: snprintf(esc, sizeof esc, "\\u%04X", c); sf_buf_append(b, esc, 6);
    }
    run = ++p;
  }
  sf_buf_append(b, run, (size_t)(p - run));
  sf_buf_append(b, "\"", 1);
  return 0;
}

/* jansson's real: "%.15g", then ".0" when it would read back as an
 * integer, and the exponent without '+' or leading zeros. */
static int dump_real(sf_buf *b, double v) {
  if (isnan(v) || isinf(v)) return -1;
  char s[64];
  int n = snprintf(s, sizeof s - 3, "%.15g", v);
  if (n < 0 || n >= (int)sizeof s - 3) return -1;
  if (!strchr(s, '.') && !strchr(s, 'e')) {
    memcpy(s + n, ".0", 3);
    n += 2;
  }
  char *e = strchr(s, 'e');
  if (e) {
    char *start = e + 1, *digits;
    if (*start == '-') start++;
    digits = start;
    if (*digits == '+') digits++;
    while (*digits == '0' && digits[1]) digits++;
    if (digits != start) {
      memmove(start, digits, strlen(digits) + 1);
      n = (int)strlen(s);
    }
  }
  sf_buf_append(b, s, (size_t)n);
  return 0;
}

static int dump_value(sf_buf *b, const json_t *j, int depth) {
  if (depth > DUMP_MAX_DEPTH) return -1;
  switch (json_typeof(j)) {
    case JSON_NULL: sf_buf_append(b, "null", 4); return 0;
    case JSON_TRUE: sf_buf_append(b, "true", 4); return 0;
    case JSON_FALSE: sf_buf_append(b, "false", 5); return 0;
    case JSON_INTEGER: {
      char s[32];
      int n = snprintf(s, sizeof s, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
      sf_buf_append(b, s, (size_t)n);
      return 0;
    }
    case JSON_REAL: return dump_real(b, json_real_value(j));
    case JSON_STRING: return dump_string(b, json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
      sf_buf_append(b, "[", 1);
      for (size_t i = 0, n = json_array_size(j); i < n; i++) {
        if (i) sf_buf_append(b, ",", 1);
        if (dump_value(b, json_array_get(j, i), depth + 1)) return -1;
      }
      sf_buf_append(b, "]", 1);
      return 0;
    }
    case JSON_OBJECT: {
      const char *key;
      size_t klen;
      json_t *v;
      int first = 1;
      sf_buf_append(b, "{", 1);
      json_object_keylen_foreach((json_t *)j, key, klen, v) {
        if (!first) sf_buf_append(b, ",", 1);
        first = 0;
        if (dump_string(b, key, klen)) return -1;
        sf_buf_append(b, ":", 1);
        if (dump_value(b, v, depth + 1)) return -1;
      }
      sf_buf_append(b, "}", 1);
      return 0;
    }
  }
  return -1;
}

char *sf_json_dump(const json_t *j, size_t *len) {
  sf_buf b;
  sf_buf_init(&b);
  char *s;
  /* jansson encodes only an object or an array at the top (no JSON_ENCODE_ANY) */
  if ((json_is_object(j) || json_is_array(j)) && dump_value(&b, j, 0) == 0) {
    size_t n = b.len;
    s = sf_buf_steal(&b);
    if (len) *len = n;
    return s;
  }
  sf_buf_free(&b);
  s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
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
