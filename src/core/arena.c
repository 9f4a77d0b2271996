#include "core/arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include <stdlib.h>

struct sf_arena_block {
  sf_arena_block *next;
  size_t cap, used;
  _Alignas(16) char data[];
};

#define ALIGN16(n) (((n) + 15u) & ~(size_t)15u)

void sf_arena_init(sf_arena *a) {
  a->head = NULL;
  a->used = 0;
}

void *sf_arena_alloc(sf_arena *a, size_t n) {
  n = ALIGN16(n ? n : 1);
  if (a->used + n <= sizeof a->inline_buf) {
    void *p = a->inline_buf + a->used;
    a->used += n;
    return p;
  }
  sf_arena_block *b = a->head;
  if (!b || b->used + n > b->cap) {
    size_t cap = n > 8192 ? n : 8192;
    b = sf_malloc(sizeof *b + cap);
    b->cap = cap;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = b->data + b->used;
  b->used += n;
  return p;
}

char *sf_arena_strndup(sf_arena *a, const char *s, size_t n) {
  char *d = sf_arena_alloc(a, n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *sf_arena_strdup(sf_arena *a, const char *s) { return sf_arena_strndup(a, s, strlen(s)); }

char *sf_arena_printf(sf_arena *a, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *d = sf_arena_alloc(a, (size_t)n + 1);
  vsnprintf(d, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return d;
}

void sf_arena_free(sf_arena *a) {
  sf_arena_block *b = a->head;
  while (b) {
    sf_arena_block *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
  a->used = 0;
}
