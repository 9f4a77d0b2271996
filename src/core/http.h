/* HTTP server on libmicrohttpd (epoll, a thread pool of one thread per core).
 *
 * Every request gets an sf_req, owned by the server and freed after the
 * response is sent. The application's dispatch function is called once per
 * request with the full body; it must either reply at once (sf_req_reply*)
 * or call sf_req_suspend() and later, from any thread, reply and call
 * sf_req_resume(). Memory for request-scoped data comes from req->arena.
 */
#ifndef SF_CORE_HTTP_H
#define SF_CORE_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/router.h"
#include "core/util.h"

#define SF_REQ_MAX_HEADERS 20

typedef struct sf_principal {
  int authenticated;
  char user_id[SF_ID_MAX];
  char role[16]; /* from the user row (edge session check), not the token */
  char email[128];
  char session[SF_ID_MAX]; /* the session (refresh-token family) the access token belongs to */
  int64_t token_exp;       /* the access token's expiry, s since epoch */
} sf_principal;

typedef struct sf_header {
  const char *name, *value; /* arena or static strings */
} sf_header;

typedef struct sf_req sf_req;
struct sf_req {
  /* request */
  const char *method;
  const char *path; /* URL path without the query */
  char *body;       /* NUL-terminated, may be NULL */
  size_t body_len;
  char request_id[40];
  char traceparent[64]; /* outgoing: same trace id, our span */
  char client_ip[48];
  sf_route_match match;
  const sf_route *route;
  sf_principal principal;
  sf_arena arena;
  uint64_t start_ns;
  void *app; /* owned by the application, freed by app_free */
  void (*app_free)(sf_req *req);

  /* response */
  int status;
  char *resp_body; /* malloc'd; handed to MHD */
  size_t resp_len;
  const char *content_type;
  int nheaders;
  sf_header headers[SF_REQ_MAX_HEADERS];

  /* server-private */
  void *conn_;
  void *server_;
  int state_;
  int body_too_large_;
  size_t body_cap_;
  void *guard_;        /* the connection's record in the connection guard (core/conns.h) */
  const char *target_; /* the request target as sent (arena) */
  void *upgrade_;      /* sf_req_reply_upgrade's answer (http.c) */
  void *stream_;       /* sf_req_reply_streaming's answer (http.c) */
  void *file_;         /* sf_req_reply_file's answer (http.c) */
};

typedef void (*sf_http_dispatch)(sf_req *req);

typedef struct sf_http_server sf_http_server;

/* Connection limits and receive deadlines (core/conns.h has the details). */
typedef struct sf_http_conn_opts {
  int max_connections;  /* in all; refused at accept beyond it */
  int max_per_ip;       /* per client address; 0 = no cap */
  int header_timeout_s; /* whole request head */
  int body_timeout_s;   /* whole request body, after the head */
  int idle_timeout_s;   /* keep-alive connection with no request begun */
} sf_http_conn_opts;

/* Trusted proxies (setting trusted_proxies): a comma-separated list of CIDRs
 * and addresses, e.g. a load balancer's. For a request whose peer is one, the
 * client address (sf_req.client_ip: rate limits, logs, the audit trail) is
 * taken from X-Forwarded-For, the first address from the right that is not
 * a trusted proxy itself; and the per-IP connection cap does not apply to
 * them. Before sf_http_start (main thread); 0, or 400 naming the bad entry
 * (the previous list stays). */
int sf_http_trust_proxies(const char *spec, sf_err *err);
/* 1 when sa is a trusted proxy. Any thread once serving. */
int sf_http_trusted_proxy(const struct sockaddr *sa);

/* Before sf_http_start; the defaults are 1000 / no cap / 10 / 30 / 120. */
void sf_http_set_connections(const sf_http_conn_opts *o);

/* Starts listening. threads <= 0 means one per core. */
sf_http_server *sf_http_start(const char *bind, int port, int threads, int64_t body_limit, sf_http_dispatch dispatch,
                              sf_err *err);
int sf_http_port(sf_http_server *s); /* the bound port (useful with port 0) */
/* Stops accepting new connections and closes those not processing a
 * request (idle, or still receiving one: a slow upload does not hold the
 * shutdown), waits up to timeout_ms for the requests being processed to
 * finish, then stops the server and frees it. */
void sf_http_stop(sf_http_server *s, int timeout_ms);
/* Draining, before a stop behind a load balancer: requests are still served,
 * but every reply closes its connection (a keep-alive client, or a proxy's
 * pooled upstream connection, reconnects, and the balancer that saw /readyz
 * fail sends it elsewhere). Any thread; cannot be undone. */
void sf_http_drain(sf_http_server *s);
int sf_http_draining(sf_http_server *s);
long sf_http_in_flight(sf_http_server *s);

/* Request accessors. Header lookup is case-insensitive. */
const char *sf_req_header(sf_req *req, const char *name);
const char *sf_req_query(sf_req *req, const char *name);
/* Calls fn with the name of each query parameter, in order, until fn
 * returns non-zero; returns that value (0 when fn accepted them all). */
int sf_req_query_each(sf_req *req, int (*fn)(void *ud, const char *name), void *ud);
/* Path parameter by name, copied into the arena; NULL if absent. */
const char *sf_req_param(sf_req *req, const char *name);

/* Response. Each sets the status and body; a later call replaces an earlier. */
void sf_req_add_header(sf_req *req, const char *name, const char *value); /* copies */
/* Like add, but replaces an earlier header of the same name. */
void sf_req_set_header(sf_req *req, const char *name, const char *value);
/* 1 = log every request at info level (otherwise only at debug, and failures). */
void sf_http_set_access_log(int on);
/* Called with every answer a handler made without suspending, before it is
 * sent. A gate that returns 1 has suspended the request (sf_req_suspend) and
 * resumes it later; the answer is sent then. */
void sf_http_set_reply_gate(int (*gate)(sf_req *r));
void sf_req_reply(sf_req *req, int status, const char *content_type, char *body, size_t len);
void sf_req_reply_json(sf_req *req, int status, json_t *j); /* steals j; j NULL = no body */
void sf_req_reply_problem(sf_req *req, const sf_err *err);
/* A file's contents as the body: the server owns fd from here on (closes it
 * after sending, or when a later reply replaces this one) and sends size
 * bytes from offset 0 with pread/sendfile on the connection's thread, a
 * page-cache read, never the whole file in memory. fd: a regular file. */
void sf_req_reply_file(sf_req *req, int status, const char *content_type, int fd, uint64_t size);
/* The request target as the client sent it, still percent-encoded (arena). */
const char *sf_req_target(const sf_req *req);

/* ---- Answers that outlive the request's handler ----
 *
 * An HTTP upgrade (WebSocket): the handler answers 101 with the protocol's
 * headers (sf_req_add_header) and sf_req_reply_upgrade. Once the 101 is
 * sent, on_upgraded runs on the connection's daemon thread with the raw
 * socket (fd: owned by the server, set non-blocking, never close(2) it) and
 * the bytes the client sent after its request head; the callee owns the
 * connection from then on and ends it exactly once with
 * sf_http_upgraded_close (any thread), after which fd is gone. When the 101
 * is never sent (the client left first), dropped(ud) runs instead. Either way
 * exactly one of the two runs. The connection stays in the guard's
 * processing phase (no deadline) and counts in max_connections and in the
 * server's requests in flight until it is closed: close every upgraded
 * connection before sf_http_stop. */
typedef struct sf_http_upgraded sf_http_upgraded;
typedef void (*sf_http_upgraded_fn)(void *ud, int fd, const char *extra, size_t extra_len, sf_http_upgraded *h);
void sf_req_reply_upgrade(sf_req *req, sf_http_upgraded_fn on_upgraded, void (*dropped)(void *ud), void *ud);
void sf_http_upgraded_close(sf_http_upgraded *h);

/* A streamed answer of unknown length (Server-Sent Events): fill runs on the
 * connection's daemon thread whenever the client can take more; it copies up
 * to cap bytes into buf and returns how many, 0 when it has nothing now (the
 * connection is parked, no thread held, no busy loop, until
 * sf_http_stream_wake), or < 0 to end the answer. done(ud) runs once when the
 * answer is over (ended, the client gone, or never sent); after done begins
 * no one may call wake. MHD's idle timeout does not apply to the answer (the
 * stream keeps its own heartbeat); the socket's send buffer is fixed at
 * 64 KiB (doubled by the kernel), so a client that stops reading backs up
 * into the caller's queue soon. A parked stream holds sf_http_stop: end
 * every stream (wake it and return < 0) before stopping the server. */
typedef struct sf_http_stream sf_http_stream;
typedef long (*sf_http_stream_fill)(void *ud, char *buf, size_t cap);
sf_http_stream *sf_req_reply_streaming(sf_req *req, int status, const char *content_type, sf_http_stream_fill fill,
                                       void (*done)(void *ud), void *ud);
/* Any thread: fill is to run again (data arrived, or the stream must end). */
void sf_http_stream_wake(sf_http_stream *s);
/* Any thread: cuts the connection (shutdown(2) of its socket) when the
 * client does not read what is left; the daemon then ends the answer. */
void sf_http_stream_abort(sf_http_stream *s);

/* Asynchronous completion: suspend in the dispatch thread before handing the
 * request to another thread; that thread replies and then resumes. */
void sf_req_suspend(sf_req *req);
void sf_req_resume(sf_req *req);
int sf_req_is_suspended(const sf_req *req);

#endif
