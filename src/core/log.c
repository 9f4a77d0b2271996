#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/util.h"

static _Atomic int log_level = SF_LOG_INFO;
static __thread const char *t_request_id, *t_trace_id;

void sf_log_context(const char *request_id, const char *trace_id) {
  t_request_id = request_id;
  t_trace_id = trace_id;
}
const char *sf_log_quote(const char *in, char *out, size_t cap) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p && n + 7 < cap; p++) {
    if (*p == '"' || *p == '\\') {
      out[n++] = '\\';
      out[n++] = (char)*p;
    } else if (*p < 0x20 || *p == 0x7f) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *p);
    } else {
      out[n++] = (char)*p;
    }
  }
  out[n] = '\0';
  return out;
}

static const char *const k_names[] = {"debug", "info", "warn", "error"};

void sf_log_set_level(sf_log_level level) { log_level = level; }
int sf_log_enabled(sf_log_level level) { return (int)level >= log_level; }

sf_log_level sf_log_level_from_string(const char *s) {
  for (int i = 0; i < 4; i++)
    if (s && strcasecmp(s, k_names[i]) == 0) return (sf_log_level)i;
  return SF_LOG_INFO;
}

void sf_log(sf_log_level level, const char *msg, const char *kv_fmt, ...) {
  if (!sf_log_enabled(level)) return;
  char line[2048];
  char ts[32];
  sf_time_iso8601(sf_now_ms(), ts, sizeof ts);
  int n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"", ts, k_names[level], msg);
  if (kv_fmt && n < (int)sizeof line - 2) {
    line[n++] = ',';
    va_list ap;
    va_start(ap, kv_fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 2, kv_fmt, ap);
    va_end(ap);
    if (m > 0) n += m;
    if (n > (int)sizeof line - 3) n = (int)sizeof line - 3;
  }
  if (t_request_id && n < (int)sizeof line - 2) {
    int m = snprintf(line + n, sizeof line - (size_t)n - 2, ",\"request_id\":\"%s\",\"trace_id\":\"%s\"", t_request_id,
                     t_trace_id ? t_trace_id : "");
    if (m > 0) n += m;
    if (n > (int)sizeof line - 3) n = (int)sizeof line - 3;
  }
  line[n++] = '}';
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}
