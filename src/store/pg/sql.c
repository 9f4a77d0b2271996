/* Placeholder translation for the PostgreSQL backend (store/pg/pg.h):
 * SQLite's `?` and `?N` become PostgreSQL's `$n`, outside strings, quoted
 * identifiers and comments. This is the only rewriting a backend does
 * (docs/storage-backends.md). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/pg/pg.h"

static int ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Copies a quoted run starting at s[i] (the opening quote) up to and
 * including its closing quote; backslash escapes when `escapes` (E'...'). A
 * doubled quote closes and reopens, which copies the same. */
static size_t copy_quoted(const char *s, size_t i, int escapes, char *out, size_t *o) {
  char q = s[i];
  out[(*o)++] = s[i++];
  while (s[i]) {
    if (escapes && s[i] == '\\' && s[i + 1]) {
      out[(*o)++] = s[i++];
      out[(*o)++] = s[i++];
      continue;
    }
    out[(*o)++] = s[i];
    if (s[i++] == q) break;
  }
  return i;
}

/* A comment from s[i]: `--` to the end of the line, or a (nestable)
 * block comment. */
static size_t copy_comment(const char *s, size_t i, char *out, size_t *o) {
  if (s[i] == '-') {
    while (s[i] && s[i] != '\n') out[(*o)++] = s[i++];
    return i;
  }
  int depth = 0;
  while (s[i]) {
    if (s[i] == '/' && s[i + 1] == '*') {
      depth++;
      out[(*o)++] = s[i++];
    } else if (s[i] == '*' && s[i + 1] == '/') {
      depth--;
      out[(*o)++] = s[i++];
      out[(*o)++] = s[i++];
      if (!depth) break;
      continue;
    }
    out[(*o)++] = s[i++];
  }
  return i;
}

/* A dollar-quoted string $tag$...$tag$ from s[i], or 0 when s[i] does not
 * open one (then it is `$N` or part of a name). */
static size_t copy_dollar(const char *s, size_t i, char *out, size_t *o) {
  size_t t = i + 1;
  if (isdigit((unsigned char)s[t])) return 0;
  while (ident_char(s[t])) t++;
  if (s[t] != '$') return 0;
  size_t taglen = t + 1 - i;
  const char *end;
  for (end = s + t + 1; *end; end++)
    if (strncmp(end, s + i, taglen) == 0) break;
  size_t stop = *end ? (size_t)(end - s) + taglen : strlen(s);
  memcpy(out + *o, s + i, stop - i);
  *o += stop - i;
  return stop;
}

/* Reads a decimal number at s[*i] (advancing); -1 when there is none. */
static long number_at(const char *s, size_t *i) {
  if (!isdigit((unsigned char)s[*i])) return -1;
  long n = 0;
  while (isdigit((unsigned char)s[*i]) && n < 100000) n = n * 10 + (s[(*i)++] - '0');
  return n;
}

/* One pass over sql. dense NULL: writes SQLite's numbers and marks each
 * number used (used: MAX_SLOTS entries); else writes dense[n] for ?n. */
#define MAX_SLOTS 1000
static char *scan(const char *sql, const int *dense, unsigned char *used, long *max_out) {
  size_t len = strlen(sql);
  char *out = sf_malloc(len * 6 + 16); /* "?" -> "$99999" at most */
  size_t i = 0, o = 0;
  long max = 0;
  while (sql[i]) {
    char c = sql[i];
    int prev_ident = i > 0 && ident_char(sql[i - 1]);
    if (c == '\'' || c == '"') {
      int escapes =
          c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && !(i > 1 && ident_char(sql[i - 2]));
      i = copy_quoted(sql, i, escapes, out, &o);
    } else if ((c == '-' && sql[i + 1] == '-') || (c == '/' && sql[i + 1] == '*')) {
      i = copy_comment(sql, i, out, &o);
    } else if (c == '$' && !prev_ident) {
      size_t j = i + 1, stop;
      long n = number_at(sql, &j);
      if (n >= 0) { /* already PostgreSQL's form: kept, and counted as used */
        if (n > max) max = n;
        if (used && n < MAX_SLOTS) used[n] = 1;
        memcpy(out + o, sql + i, j - i);
        o += j - i;
        i = j;
      } else if ((stop = copy_dollar(sql, i, out, &o)) > 0) {
        i = stop;
      } else {
        out[o++] = sql[i++];
      }
    } else if (c == '?') {
      size_t j = i + 1;
      long n = number_at(sql, &j);
      if (n < 0) n = max + 1;
      if (n > max) max = n;
      if (used && n < MAX_SLOTS) used[n] = 1;
      o += (size_t)snprintf(out + o, 8, "$%ld", dense && n < MAX_SLOTS ? (long)dense[n] : n);
      i = j;
    } else {
      out[o++] = sql[i++];
    }
  }
  out[o] = '\0';
  *max_out = max;
  return out;
}

char *sf_pg_translate(const char *sql, int *nslots, int **slot_to_param, int *nparams) {
  unsigned char used[MAX_SLOTS] = {0};
  long max = 0;
  char *first = scan(sql, NULL, used, &max);
  if (max >= MAX_SLOTS) max = MAX_SLOTS - 1;
  int *dense = sf_calloc((size_t)max + 2, sizeof *dense); /* dense[n]: the $k of ?n */
  int k = 0;
  for (long n = 1; n <= max; n++)
    if (used[n]) dense[n] = ++k;
  *nslots = (int)max;
  *nparams = k;
  *slot_to_param = sf_calloc((size_t)max + 1, sizeof **slot_to_param);
  for (long n = 1; n <= max; n++) (*slot_to_param)[n - 1] = dense[n];
  if (k == max) { /* no gaps: the first pass is the answer */
    free(dense);
    return first;
  }
  free(first);
  char *out = scan(sql, dense, NULL, &max);
  free(dense);
  return out;
}
