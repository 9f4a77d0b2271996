/* Growable byte buffer. The buffer owns `data` (malloc'd, NUL-terminated);
 * sf_buf_steal hands ownership to the caller. */
#ifndef SF_CORE_BUF_H
#define SF_CORE_BUF_H

#include <stddef.h>

typedef struct sf_buf {
  char *data;
  size_t len, cap;
} sf_buf;

void sf_buf_init(sf_buf *b);
void sf_buf_append(sf_buf *b, const void *p, size_t n);
void sf_buf_puts(sf_buf *b, const char *s);
void sf_buf_printf(sf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sf_buf_steal(sf_buf *b); /* returns data (never NULL); b is reset */
void sf_buf_free(sf_buf *b);

#endif
