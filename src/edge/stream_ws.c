#define _GNU_SOURCE /* pthread_setname_np */
/* WebSocket transport: the handshake (GET /api/v1/stream/ws) and the
 * sf-stream thread, which owns every upgraded socket (epoll, non-blocking
 * reads of client frames and writes of queued frames) and runs the hub's
 * timers. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "edge/edge.h"
#include "edge/stream_internal.h"

#define MAX_CLIENT_MESSAGE 4096 /* a subscribe is a few hundred bytes */
#define WRITE_IOVS 64
#define LINGER_MS 2000 /* after our close frame, the peer's end is awaited this long */
/* The kernel's send buffer of a WebSocket: fixed rather than autotuned (up
 * to 4 MiB each), so 20,000 subscribers cost little kernel memory and a
 * client that stops reading fills its bounded queue (and is cut) after a
 * known amount instead of megabytes later. The kernel doubles it. */
#define SEND_BUFFER (64 * 1024)

static struct ws_state {
  int epfd;
  pthread_t thread;
  int running;
  _Atomic int stop;
  hub_conn *held; /* connections waiting for their coalescing time (sf-stream only) */
} ws = {.epfd = -1};

static int64_t now_ms(void) { return (int64_t)(sf_mono_ns() / 1000000u); }

hub_msg *hub_ws_control(int opcode, const void *payload, size_t len) {
  uint8_t head[10];
  size_t h = sf_ws_frame_head(head, opcode, len);
  hub_msg *m = hub_msg_new(h + len, 0);
  memcpy(m->data, head, h);
  if (len) memcpy(m->data + h, payload, len);
  return m;
}

/* Queues JSON j (stolen) for c, from the sf-stream thread. */
static void send_json(hub_conn *c, json_t *j) {
  hub_msg *m = hub_msg_ws_json(j, 0);
  json_decref(j);
  hub_lock();
  hub_push(c, m, 0);
  hub_unlock();
  hub_msg_unref(m);
}

static void send_error(hub_conn *c, const char *topic, const sf_err *err) {
  json_t *p = sf_json_problem(err, "/api/v1/stream/ws");
  send_json(c, json_pack("{s:s, s:o, s:o}", "type", "error", "topic", topic ? json_string(topic) : json_null(),
                         "problem", p));
}

/* Under the lock: the client is too far behind to be caught up; it reads
 * the resource with its GET and goes on from head. */
static void ws_reset(hub_conn *c, const hub_sub *s, int64_t head) {
  json_t *j = json_pack("{s:s, s:s, s:I}", "type", "reset", "topic", s->topic, "position", (json_int_t)head);
  hub_msg *m = hub_msg_ws_json(j, 0);
  json_decref(j);
  hub_push(c, m, 1);
  hub_msg_unref(m);
}

/* ---- client messages ---- */

static void on_subscribe(hub_conn *c, json_t *req, const char *topic) {
  json_t *after_j = json_object_get(req, "after");
  sf_err err = {0};
  if (after_j && !json_is_null(after_j) && (!json_is_integer(after_j) || json_integer_value(after_j) < 0)) {
    sf_err_invalid(&err, "after", "must be an event position (an integer >= 0)");
    send_error(c, topic, &err);
    return;
  }
  int64_t after = after_j && json_is_integer(after_j) ? json_integer_value(after_j) : -1, head = 0;
  hub_sub *s = hub_subscribe(c, topic, &head, &err);
  if (!s) {
    send_error(c, topic, &err);
    return;
  }
  /* before any event of the topic: they wait in the subscription's buffer */
  send_json(c, json_pack("{s:s, s:s, s:I}", "type", "subscribed", "topic", topic, "position", (json_int_t)head));
  hub_catch_up(c, s, after, head, ws_reset);
}

static void on_text(hub_conn *c, const char *text) {
  json_t *req = json_loads(text, 0, NULL);
  const char *type = json_string_value(json_object_get(req, "type"));
  const char *topic = json_string_value(json_object_get(req, "topic"));
  sf_err err = {0};
  if (!json_is_object(req)) {
    sf_err_bad_request(&err, "a message is a JSON object {\"type\":\"subscribe\"|\"unsubscribe\",\"topic\":...}");
    send_error(c, NULL, &err);
  } else if (!type || (strcmp(type, "subscribe") != 0 && strcmp(type, "unsubscribe") != 0)) {
    sf_err_invalid(&err, "type", "must be subscribe or unsubscribe");
    send_error(c, topic, &err);
  } else if (!topic) {
    sf_err_invalid(&err, "topic", "is required (a string)");
    send_error(c, NULL, &err);
  } else if (type[0] == 's') {
    on_subscribe(c, req, topic);
  } else if (hub_unsubscribe(c, topic)) {
    sf_err_set(&err, 404, "not-found", "Not found", "not subscribed to %s", topic);
    send_error(c, topic, &err);
  } else {
    send_json(c, json_pack("{s:s, s:s}", "type", "unsubscribed", "topic", topic));
  }
  json_decref(req);
}

static void close_with(hub_conn *c, int code, const char *reason) {
  hub_lock();
  hub_close(c, code, reason);
  hub_unlock();
}

static int on_frame(void *ud, const sf_ws_msg *m) {
  hub_conn *c = ud;
  if (m->opcode == SF_WS_TEXT) {
    on_text(c, (const char *)m->data);
  } else if (m->opcode == SF_WS_BINARY) {
    close_with(c, 1003, "binary messages are not understood");
  } else if (m->opcode == SF_WS_PING) {
    hub_msg *pong = hub_ws_control(SF_WS_PONG, m->data, m->len);
    hub_lock();
    hub_push(c, pong, 1);
    hub_unlock();
    hub_msg_unref(pong);
  } else if (m->opcode == SF_WS_CLOSE) {
    int code = m->code == SF_WS_NO_STATUS ? SF_WS_NORMAL : m->code;
    c->peer_closed = 1;
    close_with(c, code, ""); /* the echo (5.5.1) */
    return 1;
  }
  return 0;
}

/* ---- sockets ---- */

static void set_events(hub_conn *c, int want_out) {
  if (c->want_out == want_out || !c->registered) return;
  c->want_out = want_out;
  struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ws.epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* ---- coalescing: a connection written less than coalesce_ms ago is held
 * until then, so the messages of a burst share one write (at 200 events a
 * second to 1,000 sockets the writes, not the messages, were the cost) ---- */

static void hold(hub_conn *c) {
  if (c->held) return;
  c->held = 1;
  c->held_prev = NULL;
  c->held_next = ws.held;
  if (ws.held) ws.held->held_prev = c;
  ws.held = c;
}

static void unhold(hub_conn *c) {
  if (!c->held) return;
  if (c->held_prev)
    c->held_prev->held_next = c->held_next;
  else
    ws.held = c->held_next;
  if (c->held_next) c->held_next->held_prev = c->held_prev;
  c->held = 0;
}

/* The end: the socket goes back to the server, which closes it. */
static void terminate(hub_conn *c) {
  unhold(c);
  if (c->registered) epoll_ctl(ws.epfd, EPOLL_CTL_DEL, c->fd, NULL);
  sf_http_upgraded_close(c->urh);
  hub_conn_free(c);
}

/* Writes what is queued, as far as the socket takes it. Returns -1 when the
 * connection is over (the caller terminates it). The write itself runs
 * outside the hub's lock: this thread runs at the lowest priority and spends
 * most of its time in writev, so a preemption there held the lock that the
 * live subscriber (sf-live, which also wakes the order saga) and the HTTP
 * threads need. Only sf-stream pops a WebSocket's queue; others append to
 * it, and a close's drop of it waits for the write (c->writing). */
static int flush(hub_conn *c) {
  int dead = 0, more = 0;
  hub_lock();
  while (c->qlen && !dead) {
    struct iovec iov[WRITE_IOVS];
    int n = 0;
    size_t total = 0;
    for (int i = 0; i < c->qlen && n < WRITE_IOVS; i++, n++) {
      hub_msg *m = c->q[(c->qhead + i) % c->qcap];
      size_t off = i == 0 ? c->sent_off : 0;
      iov[n] = (struct iovec){m->data + off, m->len - off};
      total += m->len - off;
    }
    c->writing = 1;
    hub_unlock();
    ssize_t w = writev(c->fd, iov, n);
    int werr = errno;
    hub_lock();
    c->writing = 0;
    if (w > 0) hub_pop(c, (size_t)w);
    if (c->drop_pending) hub_drop_queue(c);
    errno = werr;
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        more = 1;
      else if (errno != EINTR)
        dead = 1;
      break;
    }
    c->last_tx_ms = c->last_flush_ms = now_ms();
    if ((size_t)w < total) {
      more = 1;
      break;
    }
  }
  c->blocked = more;
  int done = c->closing && c->qlen == 0;
  hub_unlock();
  if (dead) return -1;
  set_events(c, more);
  if (done && !c->close_sent) { /* our close frame is out */
    c->close_sent = 1;
    if (c->peer_closed) return -1;
    shutdown(c->fd, SHUT_WR);
    c->deadline_ms = now_ms() + LINGER_MS;
  }
  return 0;
}

/* Reads what the client sent. Returns -1 when the connection is over. */
static int drain(hub_conn *c) {
  uint8_t buf[16384];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n == 0) return -1;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno == EINTR ? 0 : -1;
    c->last_rx_ms = now_ms();
    if (c->close_sent || c->peer_closed) continue; /* after the close: discarded */
    int rc = sf_ws_feed(&c->parser, buf, (size_t)n, on_frame, c);
    if (rc >= 1000) close_with(c, rc, rc == SF_WS_TOO_BIG ? "message too big" : "protocol error");
    if (rc) return 0;
  }
}

static void on_socket(hub_conn *c, uint32_t events) {
  int over = 0;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) over = drain(c) < 0;
  if (!over) over = flush(c) < 0;
  if (over) terminate(c);
}

/* A conn with news: its handshake's extra bytes, or queued messages. */
static void on_dirty(hub_conn *c) {
  if (c->kind == CONN_SSE) {
    hub_sse_wake(c);
    return;
  }
  if (!c->registered) {
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(ws.epfd, EPOLL_CTL_ADD, c->fd, &e) != 0) {
      terminate(c);
      return;
    }
    c->registered = 1;
  }
  if (c->extra) {
    int rc = sf_ws_feed(&c->parser, (const uint8_t *)c->extra, c->extra_len, on_frame, c);
    free(c->extra);
    c->extra = NULL;
    if (rc >= 1000) close_with(c, rc, "protocol error");
  }
  if (!c->closing && now_ms() - c->last_flush_ms < hub_cfg.coalesce_ms) {
    hold(c);
    return;
  }
  unhold(c);
  if (flush(c) < 0) terminate(c);
}

/* Writes the held connections whose time came; returns the ms until the
 * next one's (-1: none held). */
static int release_held(void) {
  int64_t now = now_ms(), next = -1;
  for (hub_conn *c = ws.held, *n; c; c = n) {
    n = c->held_next;
    int64_t due = c->last_flush_ms + hub_cfg.coalesce_ms;
    if (due <= now) {
      unhold(c);
      if (flush(c) < 0) terminate(c);
    } else if (next < 0 || due - now < next) {
      next = due - now;
    }
  }
  return (int)next;
}

static void run_tick(int64_t *next_tick) {
  int64_t now = now_ms();
  if (now < *next_tick) return;
  *next_tick = now + 1000;
  hub_conn *expired = hub_tick(now);
  while (expired) {
    hub_conn *c = expired;
    expired = c->expired_next;
    terminate(c);
  }
}

/* Fan-out yields the CPU to the writer and to request handling when it is
 * short: a subscriber that falls behind is cut and resumes from its
 * position, while a slower writer would slow every client. On two cores the
 * fan-out's writes (mostly the kernel's TCP path, the loopback receiver's
 * half included) wanted as much CPU as the writer: at 5 nice levels below
 * the process the writer kept 0.55 of its rate. SCHED_BATCH: a wake-up of
 * this thread does not preempt a running request or the writer; stream_nice
 * (19 by default, the lowest) gives it the CPU they leave. */
static void yield_to_writer(void) {
  struct sched_param sp = {.sched_priority = 0};
  int rc = hub_cfg.nice > 0 ? pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp) : 0;
  if (rc) sf_log_warn("stream: cannot set SCHED_BATCH", "\"errno\":%d", rc);
  id_t tid = (id_t)syscall(SYS_gettid);
  errno = 0;
  int nice_now = getpriority(PRIO_PROCESS, tid);
  int target = nice_now + hub_cfg.nice > 19 ? 19 : nice_now + hub_cfg.nice;
  if (errno == 0 && target != nice_now && setpriority(PRIO_PROCESS, tid, target) != 0)
    sf_log_warn("stream: cannot lower the thread's priority", "\"errno\":%d", errno);
}

static void *ws_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-stream");
  yield_to_writer();
  struct epoll_event evs[256];
  int64_t next_tick = now_ms() + 1000;
  int wait_ms = 250;
  while (!atomic_load(&ws.stop)) {
    int n = epoll_wait(ws.epfd, evs, 256, wait_ms);
    for (int i = 0; i < n; i++) {
      if (!evs[i].data.ptr) {
        uint64_t v;
        if (read(hub_wake_fd(), &v, sizeof v) < 0 && errno != EAGAIN) sf_log_warn("stream wake read", NULL);
        continue;
      }
      on_socket(evs[i].data.ptr, evs[i].events);
    }
    hub_recheck_due();
    hub_deliver_inbox();
    for (hub_conn *c = hub_take_dirty(), *next; c; c = next) {
      next = c->work_next;
      on_dirty(c);
    }
    int held_ms = release_held();
    wait_ms = held_ms >= 0 && held_ms < 250 ? held_ms : 250;
    run_tick(&next_tick);
  }
  return NULL;
}

int hub_ws_start(sf_err *err) {
  ws.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (ws.epfd < 0) return sf_err_internal(err, "stream: epoll: %s", strerror(errno));
  struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ws.epfd, EPOLL_CTL_ADD, hub_wake_fd(), &e);
  atomic_store(&ws.stop, 0);
  if (pthread_create(&ws.thread, NULL, ws_main, NULL) != 0) return sf_err_internal(err, "cannot start sf-stream");
  ws.running = 1;
  return 0;
}

/* Joins the thread, then ends the WebSocket connections still open. */
void hub_ws_stop(void) {
  if (!ws.running) return;
  atomic_store(&ws.stop, 1);
  hub_wake();
  pthread_join(ws.thread, NULL);
  ws.running = 0;
  for (;;) {
    hub_lock();
    hub_conn *c = hub_conns();
    while (c && c->kind != CONN_WS) c = c->next;
    hub_unlock();
    if (!c) break;
    terminate(c);
  }
  close(ws.epfd);
  ws.epfd = -1;
}

/* ---- the handshake (HTTP thread) ---- */

/* Does header value v hold token t (comma-separated, any case)? */
static int has_token(const char *v, const char *t) {
  size_t n = strlen(t);
  for (const char *p = v; p && *p;) {
    while (*p == ' ' || *p == ',' || *p == '\t') p++;
    size_t len = strcspn(p, ", \t");
    if (len == n && strncasecmp(p, t, n) == 0) return 1;
    p += len;
  }
  return 0;
}

/* Daemon thread: the 101 is out, the socket is the hub's. */
static void on_upgraded(void *ud, int fd, const char *extra, size_t extra_len, sf_http_upgraded *h) {
  hub_conn *c = ud;
  c->fd = fd;
  c->urh = h;
  int sndbuf = SEND_BUFFER;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  /* Each message goes out when written: with Nagle on, a message written
   * while the previous one is unacknowledged waits for the client's
   * delayed ACK (40 ms on Linux), which was the p50 of the fan-out bench. */
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!hub_running()) {
    sf_http_upgraded_close(h);
    hub_conn_free(c);
    return;
  }
  if (extra_len) {
    c->extra = sf_malloc(extra_len);
    memcpy(c->extra, extra, extra_len);
    c->extra_len = extra_len;
  }
  c->last_rx_ms = c->last_tx_ms = now_ms();
  hub_conn_link(c); /* dirty: the thread adds its socket to the epoll set */
}

static void dropped(void *ud) { hub_conn_free(ud); }

/* A plain GET (no Upgrade): what a client needs to know before it connects. */
static void describe(sf_req *req) {
  json_t *topics = json_array();
  hub_topic_names(topics);
  sf_req_reply_json(req, 200,
                    json_pack("{s:s, s:o, s:i, s:i, s:i, s:i}", "protocol", "websocket", "topics", topics,
                              "heartbeat_s", hub_cfg.heartbeat_ms / 1000, "idle_timeout_s",
                              hub_cfg.idle_timeout_ms / 1000, "max_topics", hub_cfg.max_topics, "queue_max",
                              hub_cfg.queue_max));
}

static void h_ws(sf_req *req) {
  sf_err err = {0};
  const char *upgrade = sf_req_header(req, "Upgrade"), *conn = sf_req_header(req, "Connection");
  if (!upgrade) {
    describe(req);
    return;
  }
  const char *version = sf_req_header(req, "Sec-WebSocket-Version"), *key = sf_req_header(req, "Sec-WebSocket-Key");
  char accept[29];
  if (!hub_running()) {
    sf_err_set(&err, 503, "unavailable", "Service unavailable", "streams are not running");
  } else if (!upgrade || !has_token(upgrade, "websocket") || !conn || !has_token(conn, "upgrade")) {
    sf_err_set(&err, 426, "upgrade-required", "Upgrade required", "this is a WebSocket endpoint (RFC 6455)");
    sf_req_add_header(req, "Upgrade", "websocket");
  } else if (!version || strcmp(version, "13") != 0) {
    sf_err_set(&err, 426, "upgrade-required", "Upgrade required", "only WebSocket version 13 is spoken");
    sf_req_add_header(req, "Sec-WebSocket-Version", "13");
  } else if (sf_ws_accept_key(key, accept)) {
    sf_err_invalid(&err, "Sec-WebSocket-Key", "must be the base64 of 16 bytes");
  } else {
    hub_origin_ok(req, &err);
  }
  hub_conn *c = err.status ? NULL : hub_conn_new(CONN_WS, &req->principal, &err);
  if (!c) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_ws_parser_init(&c->parser, MAX_CLIENT_MESSAGE);
  sf_req_add_header(req, "Upgrade", "websocket");
  sf_req_add_header(req, "Sec-WebSocket-Accept", accept);
  sf_req_reply_upgrade(req, on_upgraded, dropped, c);
}

void hub_ws_routes(void) {
  static const sf_route routes[] = {
      {"GET", "/api/v1/stream/ws", h_ws, SF_AUTH_USER, NULL, SF_ROUTE_QUERY_TOKEN, "stream",
       "Real-time events over WebSocket (RFC 6455): send {\"type\":\"subscribe\",\"topic\":\"order:<id>\","
       "\"after\":<position>}; receive subscribed, event, reset and error messages (101). Without an Upgrade "
       "header: 200 with the topics and limits. Token: Authorization or ?access_token=",
       NULL,
       "{\"type\":\"object\",\"required\":[\"protocol\",\"topics\"],\"properties\":{\"protocol\":{\"const\":"
       "\"websocket\"},\"topics\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"heartbeat_s\":{\"type\":"
       "\"integer\"},\"idle_timeout_s\":{\"type\":\"integer\"},\"max_topics\":{\"type\":\"integer\"},"
       "\"queue_max\":{\"type\":\"integer\"}}}",
       200, 0, .statuses = "101 403 426 429 503", .query = "access_token",
       .headers = "Upgrade Sec-WebSocket-Key Sec-WebSocket-Version Origin"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
