#include <netinet/in.h> /* before microhttpd.h */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <microhttpd.h>

#include "core/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

static int g_access_log;
void sf_http_set_access_log(int on) { g_access_log = on; }

static int (*g_reply_gate)(sf_req *r);
void sf_http_set_reply_gate(int (*gate)(sf_req *r)) { g_reply_gate = gate; }

enum { REQ_HEADERS, REQ_DISPATCHED, REQ_SUSPENDED, REQ_QUEUED };

#define MAX_DAEMONS 64

struct sf_http_server {
  /* One single-threaded daemon per HTTP thread, each with its own listening
   * socket on the same port (SO_REUSEPORT): the kernel spreads connections
   * evenly over them. MHD's own thread pool shares one socket, and a worker
   * that wakes first accepts up to 10 connections in a row, so a burst of
   * new keep-alive connections could leave one thread with most of them. */
  struct MHD_Daemon *daemons[MAX_DAEMONS];
  int ndaemons;
  sf_http_dispatch dispatch;
  int64_t body_limit;
  int port;
  _Atomic long in_flight;
  _Atomic long suspended; /* MHD must never be stopped while this is > 0 */
  _Atomic int stopping;   /* refuse new requests, close connections after replying */
};

static int valid_request_id(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!isalnum((unsigned char)s[n]) && s[n] != '-' && s[n] != '_' && s[n] != '.') return 0;
  return n > 0 && n < 40;
}

static int is_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return 0;
  return 1;
}

/* W3C traceparent: keep the caller's trace id, add our own span id. */
static void set_trace(sf_req *r, const char *in) {
  char trace[33], span[17];
  uint8_t rnd[16];
  const char *flags = "01";
  if (in && strlen(in) == 55 && in[2] == '-' && in[35] == '-' && in[52] == '-' &&
      is_hex(in, 2) && memcmp(in, "ff", 2) != 0 && is_hex(in + 3, 32) && is_hex(in + 36, 16) &&
      is_hex(in + 53, 2) && strncmp(in + 3, "00000000000000000000000000000000", 32) != 0) {
    memcpy(trace, in + 3, 32);
    trace[32] = '\0';
    flags = in + 53;
  } else {
    sf_random_bytes(rnd, 16);
    sf_hex_encode(rnd, 16, trace);
  }
  sf_random_bytes(rnd, 8);
  sf_hex_encode(rnd, 8, span);
  snprintf(r->traceparent, sizeof r->traceparent, "00-%s-%s-%.2s", trace, span, flags);
}

static void client_ip(struct MHD_Connection *c, char *out, size_t cap) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  out[0] = '\0';
  if (!ci || !ci->client_addr) return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
}

static sf_req *req_new(sf_http_server *s, struct MHD_Connection *c, const char *url,
                       const char *method) {
  sf_req *r = sf_calloc(1, sizeof *r);
  sf_arena_init(&r->arena);
  r->conn_ = c;
  r->server_ = s;
  r->start_ns = sf_mono_ns();
  r->method = sf_arena_strdup(&r->arena, method);
  r->path = sf_arena_strdup(&r->arena, url);
  r->status = 0;
  const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
  if (rid && valid_request_id(rid))
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
  else
    sf_id_new("req", r->request_id, sizeof r->request_id);
  set_trace(r, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"));
  client_ip(c, r->client_ip, sizeof r->client_ip);
  atomic_fetch_add(&s->in_flight, 1);
  return r;
}

static enum MHD_Result queue(sf_req *r) {
  struct MHD_Connection *c = r->conn_;
  struct MHD_Response *resp;
  if (r->resp_body && r->resp_len) {
    resp = MHD_create_response_from_buffer_with_free_callback(r->resp_len, r->resp_body, free);
    r->resp_body = NULL;
  } else {
    free(r->resp_body);
    r->resp_body = NULL;
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!resp) return MHD_NO;
  if (atomic_load(&((sf_http_server *)r->server_)->stopping))
    MHD_add_response_header(resp, "Connection", "close");
  if (r->content_type) MHD_add_response_header(resp, "Content-Type", r->content_type);
  MHD_add_response_header(resp, "X-Request-Id", r->request_id);
  MHD_add_response_header(resp, "traceparent", r->traceparent);
  for (int i = 0; i < r->nheaders; i++)
    MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
  r->state_ = REQ_QUEUED;
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static void too_large(sf_req *r, int64_t limit) {
  sf_err e = {0};
  sf_err_set(&e, 413, "payload-too-large", "Payload too large",
             "request body exceeds the limit of %lld bytes", (long long)limit);
  sf_req_reply_problem(r, &e);
  sf_req_add_header(r, "Connection", "close");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
  sf_http_server *s = cls;
  sf_req *r = *con_cls;
  if (!r) {
    r = req_new(s, c, url, method);
    *con_cls = r;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoll(cl, NULL, 10) > s->body_limit) {
      r->body_too_large_ = 1;
      too_large(r, s->body_limit);
      return queue(r);
    }
    return MHD_YES;
  }
  if (*upload_size) {
    size_t n = *upload_size;
    if (r->body_too_large_ || (int64_t)(r->body_len + n) > s->body_limit) {
      /* A chunked body went past the limit: MHD cannot answer in the middle
       * of a chunked upload, so the rest is discarded and 413 sent at the end. */
      r->body_too_large_ = 1;
      *upload_size = 0;
      return MHD_YES;
    }
    if (r->body_len + n + 1 > r->body_cap_) {
      size_t cap = r->body_cap_ ? r->body_cap_ : 1024;
      while (cap < r->body_len + n + 1) cap *= 2;
      r->body = sf_realloc(r->body, cap);
      r->body_cap_ = cap;
    }
    memcpy(r->body + r->body_len, upload_data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    *upload_size = 0;
    return MHD_YES;
  }
  switch (r->state_) {
    case REQ_HEADERS:
      r->state_ = REQ_DISPATCHED;
      if (r->body_too_large_) {
        too_large(r, s->body_limit);
        return queue(r);
      }
      if (atomic_load(&s->stopping)) {
        sf_err e = {0};
        sf_err_set(&e, 503, "shutting-down", "Service unavailable", "the server is shutting down");
        e.retry_after = 1;
        sf_req_reply_problem(r, &e);
        return queue(r);
      }
      s->dispatch(r);
      if (r->state_ == REQ_SUSPENDED) return MHD_YES;
      if (!r->status) {
        sf_err e = {0};
        sf_err_internal(&e, "handler produced no response");
        sf_req_reply_problem(r, &e);
      }
      if (g_reply_gate && g_reply_gate(r)) return MHD_YES; /* suspended; queued when resumed */
      return queue(r);
    case REQ_SUSPENDED: /* resumed: the reply is ready */
      atomic_fetch_sub(&s->suspended, 1);
      return queue(r);
    default:
      return MHD_YES;
  }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  sf_http_server *s = cls;
  sf_req *r = *con_cls;
  if (!r) return;
  /* The client went away after the request was resumed but before its reply
   * was queued: MHD finishes the request here without calling on_request. */
  if (r->state_ == REQ_SUSPENDED) atomic_fetch_sub(&s->suspended, 1);
  uint64_t dur = sf_mono_ns() - r->start_ns;
  int status = r->status ? r->status : 499;
  sf_metrics_http(r->route ? r->route->id : SF_METRICS_UNMATCHED_ROUTE, status, dur);
  sf_log_level lvl = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? SF_LOG_WARN
                     : g_access_log                            ? SF_LOG_INFO
                                                               : SF_LOG_DEBUG;
  if (sf_log_enabled(lvl))
    sf_log(lvl, "request",
           "\"request_id\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
           "\"duration_us\":%llu,\"client\":\"%s\",\"user\":\"%s\",\"terminated\":%d",
           r->request_id, r->method, r->path, status, (unsigned long long)(dur / 1000),
           r->client_ip, r->principal.user_id, (int)toe);
  if (r->app_free) r->app_free(r);
  free(r->body);
  free(r->resp_body);
  sf_arena_free(&r->arena);
  free(r);
  *con_cls = NULL;
  atomic_fetch_sub(&s->in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  for (char *p = msg; *p; p++)
    if (*p == '"' || *p == '\\' || *p == '\n') *p = ' ';
  sf_log(SF_LOG_WARN, "mhd", "\"detail\":\"%s\"", msg);
}

static int listen_socket(const struct sockaddr_in *addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
      bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 1024) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* 1 when a plain bind (no SO_REUSEPORT) to addr fails; errno says why. */
static int port_taken(const struct sockaddr_in *addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
  int taken = fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
              bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0;
  int e = errno;
  if (fd >= 0) close(fd);
  errno = e;
  return taken;
}

/* Closes the listening sockets, then stops every daemon. */
static void stop_daemons(sf_http_server *s) {
  for (int i = 0; i < s->ndaemons; i++) {
    MHD_socket fd = MHD_quiesce_daemon(s->daemons[i]);
    if (fd != MHD_INVALID_SOCKET) close(fd);
  }
  for (int i = 0; i < s->ndaemons; i++) MHD_stop_daemon(s->daemons[i]);
  s->ndaemons = 0;
}

sf_http_server *sf_http_start(const char *bind, int port, int threads, int64_t body_limit,
                              sf_http_dispatch dispatch, sf_err *err) {
  /* Default: a core for the writer and the background threads, the rest
   * for HTTP. On 2 cores, one HTTP thread served as many requests as two
   * with half the p99 (the second competed with the writer for a core). */
  if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
  if (threads <= 0) threads = 1;
  sf_http_server *s = sf_calloc(1, sizeof *s);
  s->dispatch = dispatch;
  s->body_limit = body_limit;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, bind, &addr.sin_addr) != 1) {
    free(s);
    sf_err_set(err, 400, "config", "Bad configuration", "bind: '%s' is not an IPv4 address", bind);
    return NULL;
  }
  if (threads > MAX_DAEMONS) threads = MAX_DAEMONS;
  /* SO_REUSEPORT would let a second server on the same port share the
   * traffic silently: a plain bind first makes a taken port an error */
  if (port != 0 && port_taken(&addr)) {
    sf_err_set(err, 500, "listen", "Cannot listen", "cannot listen on %s:%d: %s", bind, port, strerror(errno));
    free(s);
    return NULL;
  }
  for (int i = 0; i < threads; i++) {
    /* the first socket picks the port when port is 0; the others join it */
    int fd = listen_socket(&addr);
    if (fd < 0) {
      sf_err_set(err, 500, "listen", "Cannot listen", "cannot listen on %s:%d: %s", bind, port, strerror(errno));
      stop_daemons(s);
      free(s);
      return NULL;
    }
    if (i == 0) {
      socklen_t len = sizeof addr;
      getsockname(fd, (struct sockaddr *)&addr, &len);
      s->port = ntohs(addr.sin_port);
    }
    s->daemons[i] = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO, 0, NULL, NULL,
        on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)(10000 / threads + 1),
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    if (!s->daemons[i]) {
      close(fd);
      sf_err_set(err, 500, "listen", "Cannot listen", "cannot start the HTTP server on %s:%d", bind, port);
      stop_daemons(s);
      free(s);
      return NULL;
    }
    s->ndaemons = i + 1;
  }
  return s;
}

int sf_http_port(sf_http_server *s) { return s->port; }
long sf_http_in_flight(sf_http_server *s) { return atomic_load(&s->in_flight); }

void sf_http_stop(sf_http_server *s, int timeout_ms) {
  if (!s) return;
  atomic_store(&s->stopping, 1);
  /* no new connections from here on; the open ones finish their requests */
  for (int i = 0; i < s->ndaemons; i++) {
    MHD_socket fd = MHD_quiesce_daemon(s->daemons[i]);
    if (fd != MHD_INVALID_SOCKET) close(fd);
  }
  for (int waited = 0; atomic_load(&s->in_flight) > 0 && waited < timeout_ms; waited += 10)
    usleep(10000);
  long left = atomic_load(&s->in_flight);
  if (left) sf_log_warn("shutdown with requests in flight", "\"in_flight\":%ld", left);
  /* A suspended request is waiting on the writer or the hash pool, which are
   * still running, so it finishes; stopping MHD under it is not allowed. */
  while (atomic_load(&s->suspended) > 0) usleep(1000);
  for (int i = 0; i < s->ndaemons; i++) MHD_stop_daemon(s->daemons[i]);
  free(s);
}

const char *sf_req_header(sf_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn_, MHD_HEADER_KIND, name);
}

const char *sf_req_query(sf_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn_, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct {
  int (*fn)(void *ud, const char *name);
  void *ud;
  int rc;
} query_walk;

static enum MHD_Result query_visit(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind, (void)value;
  query_walk *w = cls;
  w->rc = w->fn(w->ud, key);
  return w->rc ? MHD_NO : MHD_YES;
}

int sf_req_query_each(sf_req *r, int (*fn)(void *ud, const char *name), void *ud) {
  query_walk w = {fn, ud, 0};
  MHD_get_connection_values(r->conn_, MHD_GET_ARGUMENT_KIND, query_visit, &w);
  return w.rc;
}

const char *sf_req_param(sf_req *r, const char *name) {
  size_t n = strlen(name);
  for (int i = 0; i < r->match.nparams; i++)
    if (r->match.name_lens[i] == n && memcmp(r->match.names[i], name, n) == 0)
      return sf_arena_strndup(&r->arena, r->match.values[i], r->match.value_lens[i]);
  return NULL;
}

void sf_req_add_header(sf_req *r, const char *name, const char *value) {
  if (r->nheaders >= SF_REQ_MAX_HEADERS) return;
  r->headers[r->nheaders].name = sf_arena_strdup(&r->arena, name);
  r->headers[r->nheaders].value = sf_arena_strdup(&r->arena, value);
  r->nheaders++;
}

void sf_req_set_header(sf_req *r, const char *name, const char *value) {
  for (int i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) {
      r->headers[i].value = sf_arena_strdup(&r->arena, value);
      return;
    }
  sf_req_add_header(r, name, value);
}

void sf_req_reply(sf_req *r, int status, const char *content_type, char *body, size_t len) {
  free(r->resp_body);
  r->status = status;
  r->content_type = content_type;
  r->resp_body = body;
  r->resp_len = len;
}

void sf_req_reply_json(sf_req *r, int status, json_t *j) {
  if (!j) {
    sf_req_reply(r, status, NULL, NULL, 0);
    return;
  }
  size_t len;
  char *s = sf_json_dump(j, &len);
  json_decref(j);
  sf_req_reply(r, status, "application/json", s, len);
}

void sf_req_reply_problem(sf_req *r, const sf_err *err) {
  sf_err e = *err;
  if (e.status < 400 || e.status > 599) e.status = 500;
  json_t *p = sf_json_problem(&e, r->path);
  size_t len;
  char *s = sf_json_dump(p, &len);
  json_decref(p);
  sf_req_reply(r, e.status, "application/problem+json", s, len);
  if (e.retry_after > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", e.retry_after);
    sf_req_add_header(r, "Retry-After", ra);
  }
}

void sf_req_suspend(sf_req *r) {
  r->state_ = REQ_SUSPENDED;
  atomic_fetch_add(&((sf_http_server *)r->server_)->suspended, 1);
  MHD_suspend_connection(r->conn_);
}

void sf_req_resume(sf_req *r) { MHD_resume_connection(r->conn_); }

int sf_req_is_suspended(const sf_req *r) { return r->state_ == REQ_SUSPENDED; }
