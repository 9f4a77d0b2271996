/* Arena: request-scoped memory. Allocations live until sf_arena_reset or
 * sf_arena_free; nothing is freed individually. The first block is inline so
 * small requests never touch malloc. Not thread-safe: one owner at a time. */
#ifndef SF_CORE_ARENA_H
#define SF_CORE_ARENA_H

#include <stddef.h>

typedef struct sf_arena_block sf_arena_block;

typedef struct sf_arena {
  sf_arena_block *head; /* extra blocks, newest first, owned */
  size_t used;          /* bytes used in `inline_buf` */
  char inline_buf[2048];
} sf_arena;

void sf_arena_init(sf_arena *a);
void *sf_arena_alloc(sf_arena *a, size_t n); /* 16-byte aligned, never NULL */
char *sf_arena_strdup(sf_arena *a, const char *s);
char *sf_arena_strndup(sf_arena *a, const char *s, size_t n);
char *sf_arena_printf(sf_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sf_arena_free(sf_arena *a); /* frees the extra blocks; the arena can be reused */

#endif
