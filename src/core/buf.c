#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void sf_buf_init(sf_buf *b) {
  b->data = NULL;
  b->len = b->cap = 0;
}

static void reserve(sf_buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap * 2 : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  b->data = sf_realloc(b->data, cap);
  b->cap = cap;
}

void sf_buf_append(sf_buf *b, const void *p, size_t n) {
  reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void sf_buf_puts(sf_buf *b, const char *s) { sf_buf_append(b, s, strlen(s)); }

void sf_buf_printf(sf_buf *b, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  reserve(b, (size_t)n);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  b->len += (size_t)n;
}

char *sf_buf_steal(sf_buf *b) {
  if (!b->data) reserve(b, 0), b->data[0] = '\0';
  char *d = b->data;
  sf_buf_init(b);
  return d;
}

void sf_buf_free(sf_buf *b) {
  free(b->data);
  sf_buf_init(b);
}
