#include <netinet/in.h> /* before microhttpd.h */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <microhttpd.h>

#include "core/http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/cidr.h"
#include "core/conns.h"
#include "core/http_mhd.h"
#include "core/http_framing.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "core/util.h"

/* Settings made before the server starts (main thread), read while serving. */
static struct http_settings {
  int access_log;
  int (*reply_gate)(sf_req *r);
  sf_http_conn_opts conn_opts;
} settings = {.conn_opts = {1000, 0, 10, 30, 120}};

/* Trusted proxies (sf_http_trust_proxies), set before the server starts. */
#define MAX_PROXIES 32
static struct http_proxies {
  sf_cidr ranges[MAX_PROXIES];
  int n;
} proxies;

int sf_http_trust_proxies(const char *spec, sf_err *err) {
  struct http_proxies next = {0};
  char bad[128];
  next.n = sf_cidr_parse_list(spec, next.ranges, MAX_PROXIES, NULL, NULL, bad, sizeof bad);
  if (next.n < 0)
    return sf_err_set(err, 400, "config", "Bad configuration",
                      "trusted_proxies: '%s' is not a CIDR or an address (or the list has more than %d)", bad,
                      MAX_PROXIES);
  proxies = next;
  return 0;
}

int sf_http_trusted_proxy(const struct sockaddr *sa) {
  return proxies.n && sf_cidr_match(proxies.ranges, proxies.n, sa);
}

void sf_http_set_access_log(int on) { settings.access_log = on; }
void sf_http_set_reply_gate(int (*gate)(sf_req *r)) { settings.reply_gate = gate; }
void sf_http_set_connections(const sf_http_conn_opts *o) { settings.conn_opts = *o; }

/* REQ_NEW: only the request line is known (on_uri); REQ_HEADERS: the
 * header is complete and the body is being read. */
enum { REQ_HEADERS, REQ_DISPATCHED, REQ_SUSPENDED, REQ_QUEUED, REQ_NEW };

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
  _Atomic int draining;   /* serve, but close each connection after its reply */
  sf_conns *conns;        /* limits and receive deadlines of every daemon's connections */
};

static int valid_request_id(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!isalnum((unsigned char)s[n]) && s[n] != '-' && s[n] != '_' && s[n] != '.') return 0;
  return n > 0 && n < 40;
}

static void ip_text(const struct sockaddr *sa, char *out, size_t cap) {
  out[0] = '\0';
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
}

/* Every X-Forwarded-For line of the request, joined in order with ','. */
typedef struct forwarded_for {
  char text[1024];
  size_t len;
  int cut; /* longer than text: not used */
} forwarded_for;

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  forwarded_for *f = cls;
  if (!key || strcasecmp(key, "X-Forwarded-For") != 0 || !value) return MHD_YES;
  size_t n = strlen(value);
  if (f->len + n + 2 > sizeof f->text) {
    f->cut = 1;
    return MHD_NO;
  }
  if (f->len) f->text[f->len++] = ',';
  memcpy(f->text + f->len, value, n + 1);
  f->len += n;
  return MHD_YES;
}

/* The peer is a trusted proxy: the client is the first address, from the
 * right of X-Forwarded-For, that is not itself a trusted proxy (each proxy
 * appends the address it received the request from; what a client wrote
 * further left is not believed). A hop that is not an address ends the
 * walk at the last trusted one. */
static void forwarded_client(struct MHD_Connection *c, char *out, size_t cap) {
  forwarded_for f = {.len = 0};
  MHD_get_connection_values(c, MHD_HEADER_KIND, collect_xff, &f);
  if (f.cut) return;
  char *end = f.text + f.len;
  while (end > f.text) {
    char *start = end;
    while (start > f.text && start[-1] != ',') start--;
    char hop[64];
    char *a = start, *b = end;
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    struct sockaddr_storage ss;
    if ((size_t)(b - a) >= sizeof hop) return;
    memcpy(hop, a, (size_t)(b - a));
    hop[b - a] = '\0';
    if (sf_ip_parse(hop, &ss)) return;
    ip_text((const struct sockaddr *)&ss, out, cap);
    if (!sf_http_trusted_proxy((const struct sockaddr *)&ss)) return;
    end = start > f.text ? start - 1 : f.text;
  }
}

static void client_ip(struct MHD_Connection *c, char *out, size_t cap) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  out[0] = '\0';
  if (!ci || !ci->client_addr) return;
  ip_text(ci->client_addr, out, cap);
  if (sf_http_trusted_proxy(ci->client_addr)) forwarded_client(c, out, cap);
}

static sf_req *req_alloc(const char *target) {
  sf_req *r = sf_calloc(1, sizeof *r);
  sf_arena_init(&r->arena);
  r->state_ = REQ_NEW;
  r->target_ = sf_arena_strdup(&r->arena, target ? target : "");
  r->start_ns = sf_mono_ns();
  return r;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request target as sent, before MHD
 * splits off the query and decodes it in place (cutting it at a %00). The
 * request it starts becomes the connection's con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) { return req_alloc(uri); }

static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s) { return sf_http_unescape(s); }

static void req_start(sf_req *r, sf_http_server *s, struct MHD_Connection *c, const char *method) {
  r->state_ = REQ_HEADERS;
  r->conn_ = c;
  r->server_ = s;
  r->method = sf_arena_strdup(&r->arena, method);
  const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
  if (rid && valid_request_id(rid))
    snprintf(r->request_id, sizeof r->request_id, "%s", rid);
  else
    sf_id_new("req", r->request_id, sizeof r->request_id);
  /* keep the caller's trace (if valid), with a span of our own */
  sf_trace_child(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"), r->traceparent);
  client_ip(c, r->client_ip, sizeof r->client_ip);
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  r->guard_ = ci ? ci->socket_context : NULL;
  sf_conns_head_received(r->guard_);
  atomic_fetch_add(&s->in_flight, 1);
}

static struct MHD_Response *special_response(sf_req *r);

static enum MHD_Result queue(sf_req *r) {
  struct MHD_Connection *c = r->conn_;
  struct MHD_Response *resp;
  if ((resp = special_response(r))) {
    free(r->resp_body);
    r->resp_body = NULL;
  } else if (r->resp_body && r->resp_len) {
    resp = MHD_create_response_from_buffer_with_free_callback(r->resp_len, r->resp_body, free);
    r->resp_body = NULL;
  } else {
    free(r->resp_body);
    r->resp_body = NULL;
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!resp) return MHD_NO;
  sf_http_server *srv = r->server_;
  if (atomic_load(&srv->stopping) || atomic_load(&srv->draining)) MHD_add_response_header(resp, "Connection", "close");
  if (r->content_type) MHD_add_response_header(resp, "Content-Type", r->content_type);
  MHD_add_response_header(resp, "X-Request-Id", r->request_id);
  MHD_add_response_header(resp, "traceparent", r->traceparent);
  for (int i = 0; i < r->nheaders; i++) MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
  r->state_ = REQ_QUEUED;
  enum MHD_Result ret = sf_http_mhd_queue(c, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static void too_large(sf_req *r, int64_t limit) {
  sf_err e = {0};
  sf_err_set(&e, 413, "payload-too-large", "Payload too large", "request body exceeds the limit of %lld bytes",
             (long long)limit);
  sf_req_reply_problem(r, &e);
  sf_req_add_header(r, "Connection", "close");
}

/* Log lines written while the handler runs carry the request and trace ids. */
static void dispatch_logged(sf_http_server *s, sf_req *r) {
  char trace_id[33];
  sf_trace_id(r->traceparent, trace_id);
  sf_log_context(r->request_id, trace_id);
  s->dispatch(r);
  sf_log_context(NULL, NULL);
}

/* The connection guard cut the connection as the request completed (its
 * deadline passed, or shutdown): the request does not run. */
static enum MHD_Result cut_off(sf_req *r) {
  sf_err e = {0};
  sf_err_set(&e, 408, "request-timeout", "Request timeout", "the request did not arrive in time");
  sf_req_reply_problem(r, &e);
  sf_req_add_header(r, "Connection", "close");
  return queue(r);
}

#define MAX_FIELDS 128

typedef struct {
  sf_http_field f[MAX_FIELDS];
  int n, over;
} field_list;

static enum MHD_Result add_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                 const char *value, size_t value_size) {
  field_list *l = cls;
  if (l->n == MAX_FIELDS) {
    l->over = 1;
    return MHD_NO;
  }
  l->f[l->n++] = (sf_http_field){key, key_size, value ? value : "", value ? value_size : 0};
  return MHD_YES;
}

/* Refuses a request whose framing or target is in doubt, before any of its
 * body is read, and closes the connection after the answer: whatever
 * follows on it cannot be told apart from this request's body. */
static int refuse_malformed(sf_req *r, struct MHD_Connection *c, const char *version) {
  field_list l = {.n = 0}; /* 4 KiB of the HTTP thread's stack, only for this check */
  MHD_get_connection_values_n(c, MHD_HEADER_KIND, add_field, &l);
  sf_err e = {0};
  const char *path = NULL;
  if (l.over)
    sf_err_set(&e, 431, "header-too-large", "Request header fields too large", "more than %d header fields",
               MAX_FIELDS);
  else if (!sf_http_check_framing(r->method, version, l.f, l.n, &e))
    sf_http_target_path(r->method, r->target_, &r->arena, &path, &e);
  if (!e.status) {
    r->path = path;
    return 0;
  }
  r->path = r->target_;
  sf_req_reply_problem(r, &e);
  sf_req_add_header(r, "Connection", "close");
  return 1;
}

static enum MHD_Result answer_early(sf_req *r) {
  sf_conns_processing(r->guard_);
  return queue(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
  sf_http_server *s = cls;
  sf_req *r = *con_cls;
  if (!r || r->state_ == REQ_NEW) {
    if (!r) r = req_alloc(url); /* no on_uri: MHD did not see a target */
    *con_cls = r;
    req_start(r, s, c, method);
    /* answered before the body: the connection is no longer receiving a
     * request, so neither a deadline nor shutdown writes a second answer */
    if (refuse_malformed(r, c, version)) return answer_early(r);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoll(cl, NULL, 10) > s->body_limit) {
      r->body_too_large_ = 1;
      too_large(r, s->body_limit);
      return answer_early(r);
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
      if (!sf_conns_processing(r->guard_)) return cut_off(r);
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
      dispatch_logged(s, r);
      if (r->state_ == REQ_SUSPENDED) return MHD_YES;
      if (!r->status) {
        sf_err e = {0};
        sf_err_internal(&e, "handler produced no response");
        sf_req_reply_problem(r, &e);
      }
      if (settings.reply_gate && settings.reply_gate(r)) return MHD_YES; /* suspended; queued when resumed */
      return queue(r);
    case REQ_SUSPENDED: /* resumed: the reply is ready */ atomic_fetch_sub(&s->suspended, 1); return queue(r);
    default: return MHD_YES;
  }
}

static int end_special(sf_req *r);

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  sf_http_server *s = cls;
  sf_req *r = *con_cls;
  if (!r) return;
  if (r->state_ == REQ_NEW) { /* MHD refused the header itself (http_mhd_errors.c) */
    sf_arena_free(&r->arena);
    free(r);
    *con_cls = NULL;
    return;
  }
  /* The client went away after the request was resumed but before its reply
   * was queued: MHD finishes the request here without calling on_request. */
  if (r->state_ == REQ_SUSPENDED) atomic_fetch_sub(&s->suspended, 1);
  uint64_t dur = sf_mono_ns() - r->start_ns;
  int status = r->status ? r->status : 499;
  sf_metrics_http(r->route ? r->route->id : SF_METRICS_UNMATCHED_ROUTE, status, dur);
  sf_log_level lvl = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? SF_LOG_WARN
                     : settings.access_log                      ? SF_LOG_INFO
                                                                : SF_LOG_DEBUG;
  if (sf_log_enabled(lvl)) {
    char method[64], path[1024]; /* the client's text: escaped, so it cannot add members to the line */
    char trace_id[33];
    sf_trace_id(r->traceparent, trace_id);
    sf_log(lvl, "request",
           "\"request_id\":\"%s\",\"trace_id\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
           "\"duration_us\":%llu,\"client\":\"%s\",\"user\":\"%s\",\"terminated\":%d",
           r->request_id, trace_id, sf_log_quote(r->method, method, sizeof method),
           sf_log_quote(r->path, path, sizeof path), status, (unsigned long long)(dur / 1000), r->client_ip,
           r->principal.user_id, (int)toe);
  }
  if (!end_special(r)) sf_conns_idle(r->guard_);
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

/* ---- connection guard hooks (daemon threads) ---- */

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
  (void)len;
  return sf_conns_admit(((sf_http_server *)cls)->conns, addr) ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode what) {
  sf_http_server *s = cls;
  if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
    sf_conns_closed(s->conns, *socket_context);
    *socket_context = NULL;
    return;
  }
  const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  const union MHD_ConnectionInfo *ad = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (fd) *socket_context = sf_conns_opened(s->conns, fd->connect_fd, ad ? ad->client_addr : NULL);
}

static sf_conns *new_guard(void) {
  const sf_http_conn_opts *o = &settings.conn_opts;
  sf_conns_limits lim = {.max = o->max_connections,
                         .per_ip = o->max_per_ip,
                         .header_timeout_s = o->header_timeout_s,
                         .body_timeout_s = o->body_timeout_s,
                         .per_ip_exempt = sf_http_trusted_proxy};
  return sf_conns_new(&lim);
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
  sf_conns_free(s->conns);
  s->conns = NULL;
}

sf_http_server *sf_http_start(const char *bind, int port, int threads, int64_t body_limit, sf_http_dispatch dispatch,
                              sf_err *err) {
  /* Default: a core for the writer and the background threads, the rest
   * for HTTP. On 2 cores, one HTTP thread served as many requests as two
   * with half the p99 (the second competed with the writer for a core). */
  if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
  if (threads <= 0) threads = 1;
  sf_http_server *s = sf_calloc(1, sizeof *s);
  s->conns = new_guard();
  s->dispatch = dispatch;
  s->body_limit = body_limit;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, bind, &addr.sin_addr) != 1) {
    sf_conns_free(s->conns);
    free(s);
    sf_err_set(err, 400, "config", "Bad configuration", "bind: '%s' is not an IPv4 address", bind);
    return NULL;
  }
  if (threads > MAX_DAEMONS) threads = MAX_DAEMONS;
  /* SO_REUSEPORT would let a second server on the same port share the
   * traffic silently: a plain bind first makes a taken port an error */
  if (port != 0 && port_taken(&addr)) {
    sf_err_set(err, 500, "listen", "Cannot listen", "cannot listen on %s:%d: %s", bind, port, strerror(errno));
    sf_conns_free(s->conns);
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
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG |
            MHD_USE_TURBO,
        0, on_accept, s, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        /* The guard refuses past max_connections in all. MHD's own limit,
         * per daemon, must never be reached: at it MHD stops accepting and
         * new clients wait in the backlog. Any one daemon may hold them all. */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)settings.conn_opts.max_connections + 64u, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)settings.conn_opts.idle_timeout_s, MHD_OPTION_END);
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

void sf_http_drain(sf_http_server *s) {
  if (s) atomic_store(&s->draining, 1);
}

int sf_http_draining(sf_http_server *s) { return s && atomic_load(&s->draining); }

void sf_http_stop(sf_http_server *s, int timeout_ms) {
  if (!s) return;
  atomic_store(&s->stopping, 1);
  /* no new connections from here on; the open ones finish their requests */
  for (int i = 0; i < s->ndaemons; i++) {
    MHD_socket fd = MHD_quiesce_daemon(s->daemons[i]);
    if (fd != MHD_INVALID_SOCKET) close(fd);
  }
  int cut = sf_conns_cut_receiving(s->conns);
  if (cut) sf_log_info("shutdown closed connections not processing a request", "\"closed\":%d", cut);
  for (int waited = 0; atomic_load(&s->in_flight) > 0 && waited < timeout_ms; waited += 10) usleep(10000);
  long left = atomic_load(&s->in_flight);
  if (left) sf_log_warn("shutdown with requests in flight", "\"in_flight\":%ld", left);
  /* A suspended request is waiting on the writer or the hash pool, which are
   * still running, so it finishes; stopping MHD under it is not allowed. */
  while (atomic_load(&s->suspended) > 0) usleep(1000);
  for (int i = 0; i < s->ndaemons; i++) MHD_stop_daemon(s->daemons[i]);
  sf_conns_free(s->conns);
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

static void drop_file(sf_req *r);

void sf_req_reply(sf_req *r, int status, const char *content_type, char *body, size_t len) {
  free(r->resp_body);
  drop_file(r);
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

const char *sf_req_target(const sf_req *r) { return r->target_; }

/* ---- file answers ---- */

typedef struct file_answer {
  int fd;
  uint64_t size;
} file_answer;

static void drop_file(sf_req *r) {
  file_answer *f = r->file_;
  if (f && f->fd >= 0) close(f->fd);
  r->file_ = NULL;
}

void sf_req_reply_file(sf_req *r, int status, const char *content_type, int fd, uint64_t size) {
  sf_req_reply(r, status, content_type, NULL, 0);
  file_answer *f = sf_arena_alloc(&r->arena, sizeof *f);
  *f = (file_answer){fd, size};
  r->file_ = f;
}

/* MHD's response of a file answer; MHD owns the descriptor from here on. */
static struct MHD_Response *file_response(sf_req *r) {
  file_answer *f = r->file_;
  struct MHD_Response *resp = MHD_create_response_from_fd64(f->size, f->fd);
  if (resp) f->fd = -1;
  return resp;
}

/* ---- answers that outlive the handler: upgrades and streams ---- */

typedef struct upgrade_answer {
  sf_http_upgraded_fn on_upgraded;
  void (*dropped)(void *ud);
  void *ud;
  int handed; /* on_upgraded ran (the socket is the callee's) */
} upgrade_answer;

struct sf_http_stream {
  pthread_mutex_t mu; /* parked, woken */
  struct MHD_Connection *conn;
  sf_http_server *server;
  int parked; /* the connection is suspended until a wake */
  int woken;  /* a wake came since fill last ran */
  int handed; /* MHD's response owns it (and frees it) */
  sf_http_stream_fill fill;
  void (*done)(void *ud);
  void *ud;
};

void sf_req_reply_upgrade(sf_req *r, sf_http_upgraded_fn on_upgraded, void (*dropped)(void *ud), void *ud) {
  upgrade_answer *u = sf_arena_alloc(&r->arena, sizeof *u);
  *u = (upgrade_answer){on_upgraded, dropped, ud, 0};
  r->upgrade_ = u;
  sf_req_reply(r, 101, NULL, NULL, 0);
}

void sf_http_upgraded_close(sf_http_upgraded *h) {
  MHD_upgrade_action((struct MHD_UpgradeResponseHandle *)h, MHD_UPGRADE_ACTION_CLOSE);
}

/* MHD sent the 101: the socket is handed over (daemon thread). */
static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra, size_t extra_len,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
  sf_req *r = cls;
  upgrade_answer *u = r->upgrade_;
  u->handed = 1;
  int fl = fcntl(sock, F_GETFL);
  if (fl >= 0) fcntl(sock, F_SETFL, fl | O_NONBLOCK);
  u->on_upgraded(u->ud, sock, extra, extra_len, (sf_http_upgraded *)urh);
}

sf_http_stream *sf_req_reply_streaming(sf_req *r, int status, const char *content_type, sf_http_stream_fill fill,
                                       void (*done)(void *ud), void *ud) {
  sf_http_stream *st = sf_calloc(1, sizeof *st);
  pthread_mutex_init(&st->mu, NULL);
  st->conn = r->conn_;
  st->server = r->server_;
  st->fill = fill;
  st->done = done;
  st->ud = ud;
  r->stream_ = st;
  sf_req_reply(r, status, content_type, NULL, 0);
  return st;
}

static void stream_free(void *cls) {
  sf_http_stream *st = cls;
  st->done(st->ud);
  pthread_mutex_destroy(&st->mu);
  free(st);
}

/* MHD's content reader: what fill has, or park the connection. Suspending
 * here is allowed (MHD_suspend_connection's contract); returning 0 without
 * suspending would make the daemon call again at once, a busy loop. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  sf_http_stream *st = cls;
  for (;;) {
    pthread_mutex_lock(&st->mu);
    st->woken = 0;
    pthread_mutex_unlock(&st->mu);
    long n = st->fill(st->ud, buf, max);
    if (n > 0) return (ssize_t)n;
    if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
    pthread_mutex_lock(&st->mu);
    int again = st->woken; /* a wake between fill and here: fill again */
    if (!again) {
      st->parked = 1;
      atomic_fetch_add(&st->server->suspended, 1);
      MHD_suspend_connection(st->conn);
    }
    pthread_mutex_unlock(&st->mu);
    if (!again) return 0;
  }
}

void sf_http_stream_wake(sf_http_stream *st) {
  pthread_mutex_lock(&st->mu);
  st->woken = 1;
  if (st->parked) {
    st->parked = 0;
    MHD_resume_connection(st->conn);
    atomic_fetch_sub(&st->server->suspended, 1);
  }
  pthread_mutex_unlock(&st->mu);
}

void sf_http_stream_abort(sf_http_stream *st) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci) shutdown(ci->connect_fd, SHUT_RDWR);
  sf_http_stream_wake(st);
}

/* The MHD response of an upgrade or a stream, or NULL for a plain answer. */
static struct MHD_Response *special_response(sf_req *r) {
  if (r->upgrade_ && r->status == 101) return MHD_create_response_for_upgrade(on_upgrade, r);
  if (r->file_) return file_response(r);
  sf_http_stream *st = r->stream_;
  if (!st || r->resp_body) return NULL;
  struct MHD_Response *resp =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, stream_free);
  if (!resp) return NULL;
  st->handed = 1;
  MHD_set_connection_option(r->conn_, MHD_CONNECTION_OPTION_TIMEOUT, 0u); /* the stream has its own heartbeat */
  /* a fixed kernel buffer, not autotuned up to 4 MiB: a client that stops
   * reading fills the stream's own bounded queue soon (and is cut) */
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn_, MHD_CONNECTION_INFO_CONNECTION_FD);
  int sndbuf = 64 * 1024;
  if (ci) setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  return resp;
}

/* At the request's end: releases an upgrade or stream that was never handed
 * over. Returns 1 when the connection was upgraded (it stays out of the
 * guard's idle phase: its frames are no request head). */
static int end_special(sf_req *r) {
  drop_file(r);
  upgrade_answer *u = r->upgrade_;
  if (u && !u->handed && u->dropped) u->dropped(u->ud);
  sf_http_stream *st = r->stream_;
  if (st && !st->handed) stream_free(st);
  return u && u->handed;
}
