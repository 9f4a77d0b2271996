/* Server-Sent Events transport (GET /api/v1/stream?topics=a,b): a streamed
 * answer written by the HTTP thread from the connection's queue, parked
 * (no thread held) while the queue is empty, woken by the sf-stream thread. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "edge/edge.h"
#include "edge/stream_internal.h"

#define MAX_TOPICS_TEXT 4096

hub_msg *hub_sse_end_msg(const char *event, int code, const char *reason) {
  json_t *j = json_pack("{s:i, s:s}", "code", code, "reason", reason);
  size_t len;
  char *text = sf_json_dump(j, &len);
  json_decref(j);
  char head[64];
  int h = snprintf(head, sizeof head, "event: %s\ndata: ", event);
  hub_msg *m = hub_msg_new((size_t)h + len + 2, 0);
  memcpy(m->data, head, (size_t)h);
  memcpy(m->data + h, text, len);
  memcpy(m->data + h + len, "\n\n", 2);
  free(text);
  return m;
}

static void sse_reset(hub_conn *c, const hub_sub *only, int64_t head) { /* under the lock */
  char text[128];
  int n = snprintf(text, sizeof text, "id: %lld\nevent: reset\ndata: {\"position\":%lld}\n\n", (long long)head,
                   (long long)head);
  hub_msg *m = hub_msg_new((size_t)n, 0);
  memcpy(m->data, text, (size_t)n);
  hub_push(c, m, 1);
  hub_msg_unref(m);
  if (head >= c->last_pos) {
    c->last_pos = head;
    c->ntags = -1; /* everything up to head is skipped */
  }
}

void hub_sse_wake(hub_conn *c) {
  sf_http_stream_wake(c->hs);
  atomic_fetch_sub(&c->waking, 1);
}

/* HTTP thread: copies what is queued; 0 parks the answer, -1 ends it. */
static long fill(void *ud, char *buf, size_t cap) {
  hub_conn *c = ud;
  size_t n = 0;
  hub_lock();
  for (int i = 0; i < c->qlen && n < cap; i++) {
    hub_msg *m = c->q[(c->qhead + i) % c->qcap];
    size_t off = i == 0 ? c->sent_off : 0, take = m->len - off;
    if (take > cap - n) take = cap - n;
    memcpy(buf + n, m->data + off, take);
    n += take;
  }
  hub_pop(c, n);
  int over = c->closing && c->qlen == 0 && n == 0;
  if (n) c->last_tx_ms = (int64_t)(sf_mono_ns() / 1000000u);
  hub_unlock();
  return over ? -1 : (long)n;
}

/* The answer is over: nothing may wake it any more. */
static void done(void *ud) {
  hub_conn *c = ud;
  hub_lock();
  c->gone = 1;
  hub_unlock();
  while (atomic_load(&c->waking)) sched_yield(); /* a wake in progress outside the lock */
  hub_conn_free(c);
}

/* ---- the request ---- */

int hub_origin_ok(sf_req *req, sf_err *err) {
  const char *origin = sf_req_header(req, "Origin");
  if (!origin || sf_edge_origin_allowed(origin)) return 0;
  const char *host = sf_req_header(req, "Host");
  const char *o = strstr(origin, "://");
  if (host && o && strcasecmp(o + 3, host) == 0) return 0; /* the server's own pages */
  return sf_err_set(err, 403, "origin-not-allowed", "Origin not allowed",
                    "origin %.100s may not open streams (not in cors_origins)", origin);
}

/* Last-Event-ID or ?after=: the position to resume after, -1 for none. */
static int read_after(sf_req *req, int64_t *after, sf_err *err) {
  const char *v = sf_req_header(req, "Last-Event-ID");
  const char *field = "Last-Event-ID";
  if (!v || !v[0]) v = sf_req_query(req, "after"), field = "after";
  *after = -1;
  if (!v) return 0;
  char *end;
  long long n = strtoll(v, &end, 10);
  if (!v[0] || *end || n < 0) return sf_err_invalid(err, field, "must be an event position (an integer >= 0)");
  *after = n;
  return 0;
}

/* Subscribes c to every topic of the comma-separated list. */
static int subscribe_all(hub_conn *c, const char *list, int64_t *head, sf_err *err) {
  char text[MAX_TOPICS_TEXT];
  if (!list || !list[0]) return sf_err_invalid(err, "topics", "is required: ?topics=order:<id>,notifications");
  if (strlen(list) >= sizeof text) return sf_err_invalid(err, "topics", "is too long");
  snprintf(text, sizeof text, "%s", list);
  char *save = NULL;
  for (char *t = strtok_r(text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    if (!*t) continue;
    if (!hub_subscribe(c, t, head, err)) return -1;
  }
  return c->nsubs ? 0 : sf_err_invalid(err, "topics", "names no topic");
}

static void h_sse(sf_req *req) {
  sf_err err = {0};
  int64_t after = -1, head = 0;
  hub_conn *c = NULL;
  if (!hub_running())
    sf_err_set(&err, 503, "unavailable", "Service unavailable", "streams are not running");
  else if (!hub_origin_ok(req, &err) && !read_after(req, &after, &err))
    c = hub_conn_new(CONN_SSE, &req->principal, &err);
  if (c && subscribe_all(c, sf_req_query(req, "topics"), &head, &err)) {
    hub_conn_free(c);
    c = NULL;
  }
  if (!c) {
    sf_req_reply_problem(req, &err);
    return;
  }
  static const char k_open[] = "retry: 2000\n: stream open\n\n";
  hub_msg *m = hub_msg_new(sizeof k_open - 1, 0);
  memcpy(m->data, k_open, sizeof k_open - 1);
  hub_lock();
  hub_push(c, m, 1);
  hub_unlock();
  hub_msg_unref(m);
  hub_conn_link(c);
  hub_catch_up(c, NULL, after, head, sse_reset);
  sf_http_stream *hs = sf_req_reply_streaming(req, 200, "text/event-stream", fill, done, c);
  hub_lock();
  c->hs = hs;
  hub_unlock();
  hub_wake();
  sf_req_add_header(req, "Cache-Control", "no-store");
  sf_req_add_header(req, "X-Accel-Buffering", "no"); /* a proxy in front must not hold the events */
}

void hub_sse_routes(void) {
  static const sf_route routes[] = {
      {"GET", "/api/v1/stream", h_sse, SF_AUTH_USER, NULL, SF_ROUTE_QUERY_TOKEN, "stream",
       "Real-time events as Server-Sent Events: ?topics=order:<id>,notifications; resume with Last-Event-ID or "
       "?after=<position>. Each message is `id: <position>`, `event: <type>`, `data: <event JSON>`. Token: "
       "Authorization or ?access_token=",
       NULL, NULL, 200, 0, .statuses = "403 404 409 422 429 503", .response_type = "text/event-stream",
       .query = "topics after:integer access_token", .headers = "Last-Event-ID Origin"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
