/* Structured logs: one JSON object per line on stderr. Thread-safe (each line
 * is written with a single write(2)). */
#ifndef SF_CORE_LOG_H
#define SF_CORE_LOG_H

#include <stddef.h>

typedef enum { SF_LOG_DEBUG, SF_LOG_INFO, SF_LOG_WARN, SF_LOG_ERROR } sf_log_level;

void sf_log_set_level(sf_log_level level);
sf_log_level sf_log_level_from_string(const char *s); /* defaults to INFO */
int sf_log_enabled(sf_log_level level);

/* msg is a short constant; kv is a preformatted JSON fragment of extra
 * members without braces (e.g. "\"port\":8080") or NULL. */
void sf_log(sf_log_level level, const char *msg, const char *kv_fmt, ...) __attribute__((format(printf, 3, 4)));

/* Text a client chose (a path, a method), as the inside of a JSON string for
 * a kv fragment: quotes, backslashes and control characters escaped, cut to
 * fit cap (>= 8). Returns out. */
const char *sf_log_quote(const char *in, char *out, size_t cap);

/* The request this thread is handling: its lines carry "request_id" and
 * "trace_id" until the context is cleared (NULL). The strings must outlive
 * the context (the HTTP server sets it around a handler call). */
void sf_log_context(const char *request_id, const char *trace_id);

#define sf_log_info(msg, ...) sf_log(SF_LOG_INFO, msg, __VA_ARGS__)
#define sf_log_warn(msg, ...) sf_log(SF_LOG_WARN, msg, __VA_ARGS__)
#define sf_log_error(msg, ...) sf_log(SF_LOG_ERROR, msg, __VA_ARGS__)

#endif
