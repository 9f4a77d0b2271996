/* Errors: functions return 0 or a negative value and describe the failure in
 * a caller-owned sf_err. The error maps 1:1 onto an RFC 9457 problem+json
 * document (see sf_err_to_json). Nothing here allocates. */
#ifndef SF_CORE_ERR_H
#define SF_CORE_ERR_H

#include <stddef.h>

#define SF_ERR_MAX_FIELDS 16

typedef struct sf_err_field {
  char field[64];
  char message[128];
  int line; /* where the field is written in a submitted document (1-based); 0: not known */
} sf_err_field;

typedef struct sf_err {
  int status;    /* HTTP status; 0 = no error */
  char code[48]; /* short slug, becomes the problem `type` suffix */
  char title[96];
  char detail[256];
  int nfields;
  sf_err_field fields[SF_ERR_MAX_FIELDS];
  int retry_after; /* seconds, >0 adds a Retry-After header (429/503) */
} sf_err;

/* Sets status, code, title and a printf-style detail. Returns -status so a
 * caller can write `return sf_err_set(err, ...)`. err may be NULL. */
int sf_err_set(sf_err *err, int status, const char *code, const char *title, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Adds a {field, message} entry (silently drops past SF_ERR_MAX_FIELDS). */
void sf_err_field_add(sf_err *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sf_err_clear(sf_err *err);

/* Common shorthands. Each returns -status. */
int sf_err_bad_request(sf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sf_err_invalid(sf_err *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sf_err_not_found(sf_err *err, const char *what);
int sf_err_conflict(sf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sf_err_internal(sf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Aborts the process: the one place out-of-memory ends up. */
_Noreturn void sf_oom(void);
void *sf_malloc(size_t n);
void *sf_calloc(size_t n, size_t size);
void *sf_realloc(void *p, size_t n);
char *sf_strdup(const char *s);

#endif
