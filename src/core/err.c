#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy(char *dst, size_t cap, const char *src) {
  if (!src) src = "";
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static int vset(sf_err *err, int status, const char *code, const char *title, const char *fmt, va_list ap) {
  if (!err) return -status;
  err->status = status;
  copy(err->code, sizeof err->code, code);
  copy(err->title, sizeof err->title, title);
  if (fmt)
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
  else
    err->detail[0] = '\0';
  return -status;
}

int sf_err_set(sf_err *err, int status, const char *code, const char *title, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vset(err, status, code, title, fmt, ap);
  va_end(ap);
  return rc;
}

/* Appends a field (the caller checked there is room) and returns it. */
static sf_err_field *vadd_field(sf_err *err, const char *field, const char *fmt, va_list ap) {
  sf_err_field *f = &err->fields[err->nfields++];
  copy(f->field, sizeof f->field, field);
  f->line = 0;
  vsnprintf(f->message, sizeof f->message, fmt, ap);
  return f;
}

void sf_err_field_add(sf_err *err, const char *field, const char *fmt, ...) {
  if (!err || err->nfields >= SF_ERR_MAX_FIELDS) return;
  va_list ap;
  va_start(ap, fmt);
  vadd_field(err, field, fmt, ap);
  va_end(ap);
}

void sf_err_clear(sf_err *err) {
  if (err) memset(err, 0, sizeof *err);
}

int sf_err_bad_request(sf_err *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vset(err, 400, "bad-request", "Bad request", fmt, ap);
  va_end(ap);
  return rc;
}

int sf_err_invalid(sf_err *err, const char *field, const char *fmt, ...) {
  if (!err) return -422;
  if (err->status != 422) {
    err->nfields = 0;
    sf_err_set(err, 422, "validation", "Validation failed", "one or more fields are invalid");
  }
  if (err->nfields >= SF_ERR_MAX_FIELDS) return -422;
  va_list ap;
  va_start(ap, fmt);
  sf_err_field *f = vadd_field(err, field, fmt, ap);
  va_end(ap);
  if (err->nfields == 1) snprintf(err->detail, sizeof err->detail, "%s: %s", f->field, f->message);
  return -422;
}

int sf_err_not_found(sf_err *err, const char *what) {
  return sf_err_set(err, 404, "not-found", "Not found", "%s not found", what);
}

int sf_err_conflict(sf_err *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vset(err, 409, "conflict", "Conflict", fmt, ap);
  va_end(ap);
  return rc;
}

int sf_err_internal(sf_err *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vset(err, 500, "internal", "Internal error", fmt, ap);
  va_end(ap);
  return rc;
}

_Noreturn void sf_oom(void) {
  static const char msg[] = "{\"level\":\"fatal\",\"msg\":\"out of memory\"}\n";
  fwrite(msg, 1, sizeof msg - 1, stderr);
  abort();
}

void *sf_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) sf_oom();
  return p;
}

void *sf_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) sf_oom();
  return p;
}

void *sf_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) sf_oom();
  return q;
}

char *sf_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = sf_malloc(n);
  memcpy(d, s, n);
  return d;
}
