/* Shared by the hub's files: stream.c (the core: topics, index, queues, the
 * live subscriber, resume, revocation, timers), stream_ws.c (WebSocket: the
 * handshake and the sf-stream thread's sockets), stream_sse.c (SSE) and
 * stream_limit.c (the per-user limit across instances).
 * Calls go one way: the transports call the core; the core reaches a
 * transport only through the conn's kind (hub_ws_* / hub_sse_* below). */
#ifndef SF_EDGE_STREAM_INTERNAL_H
#define SF_EDGE_STREAM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http.h"
#include "core/util.h"
#include "core/ws.h"
#include "edge/ratelimit_slots.h"
#include "edge/stream.h"

/* A message on the wire (a WebSocket frame or SSE text), immutable once
 * made and shared by every connection that sends it. */
typedef struct hub_msg {
  _Atomic int refs;
  int64_t position; /* the event's, 0 for control messages */
  uint64_t tag;     /* what of the event it carries: 0 the event itself, else one key's derived change */
  size_t len;
  char data[];
} hub_msg;

hub_msg *hub_msg_new(size_t len, int64_t position); /* refs 1 */
hub_msg *hub_msg_ref(hub_msg *m);
void hub_msg_unref(hub_msg *m);
/* A WebSocket text frame of JSON j (not stolen). */
hub_msg *hub_msg_ws_json(json_t *j, int64_t position);

enum { CONN_WS = 1, CONN_SSE = 2 };

typedef struct hub_conn hub_conn;
typedef struct hub_sub hub_sub;

/* A topic key in the index with its subscriptions' entries. */
typedef struct hub_node {
  struct hub_node *next;
  struct hub_entry *head;
  char key[];
} hub_node;

/* One key of one subscription in the index (a node's list). */
typedef struct hub_entry {
  hub_sub *sub;
  struct hub_entry *prev, *next;
  struct hub_node *node;
} hub_entry;

struct hub_sub {
  hub_conn *conn;
  hub_sub *next;                /* the conn's subscriptions */
  char topic[SF_TOPIC_KEY_MAX]; /* as the client named it */
  int family;                   /* index of its sf_topic in the hub's table */
  int nkeys;
  hub_entry *entries; /* nkeys; entries[i].node->key is key i */
  int64_t last_pos;   /* the newest event queued for it */
  int buffering;      /* catching up: live messages wait in the conn's pending */
};

struct hub_conn {
  int kind;
  char user_id[SF_ID_MAX], session[SF_ID_MAX], role[16];
  char slot[340];        /* its place in the user's set in Redis (stream_limit.c); "": none */
  int64_t token_exp;     /* s since epoch */
  hub_conn *prev, *next; /* every connection */
  /* the queue: a ring of messages; sent_off of the first one is written */
  hub_msg **q;
  int qhead, qlen, qcap;
  size_t sent_off;
  int64_t last_pos; /* SSE: the newest event queued */
  /* SSE: the tags queued at last_pos (one message per event and payload:
   * the event once however many topics reach it, each derived change once);
   * -1: all of last_pos is done (a reset) */
  int ntags;
  uint64_t tags[8];
  /* live messages of subscriptions still catching up, in event order (one
   * catch-up at a time per conn) */
  hub_msg **pending;
  int npending, cap_pending;
  hub_sub *subs;
  int nsubs;
  int overflow;   /* the queue filled: cut as too slow */
  int blocked;    /* WebSocket: the last write met a full socket (EAGAIN or short); 0 once it took all */
  int closing;    /* a close is decided: nothing more is queued */
  int close_code; /* WebSocket close code, or the SSE event's meaning */
  char close_reason[96];
  int recheck; /* an identity event: its session and subscriptions are checked again */
  int dirty;   /* in the hub's dirty list */
  hub_conn *dirty_next;
  hub_conn *work_next;                         /* hub_take_dirty's list (dirty_next may be reused meanwhile) */
  int64_t last_rx_ms, last_tx_ms, deadline_ms; /* monotonic */
  int64_t ping_ms;                             /* WebSocket: the last heartbeat ping sent (monotonic; 0: none) */
  /* WebSocket */
  int fd;
  sf_http_upgraded *urh;
  sf_ws_parser parser;
  int registered; /* in the epoll set */
  int held;       /* in sf-stream's held list: written once coalesce_ms passed */
  hub_conn *held_prev, *held_next;
  int64_t last_flush_ms;  /* monotonic: the last write of queued messages */
  int want_out;           /* EPOLLOUT asked for */
  int writing;            /* sf-stream writes the queue's first messages outside the lock: they stay */
  int drop_pending;       /* hub_drop_queue came meanwhile: the writer drops after its write */
  int close_sent;         /* the close frame is written; waiting for the peer's end */
  int peer_closed;        /* the peer's close frame came */
  hub_conn *expired_next; /* hub_tick's list of closes overdue */
  char *extra;            /* bytes the client sent with its handshake */
  size_t extra_len;
  /* SSE */
  sf_http_stream *hs;
  int gone;           /* done ran: the stream is no more */
  _Atomic int waking; /* a wake is being made outside the lock */
};

/* ---- the core (stream.c) ---- */

typedef struct hub_settings {
  int heartbeat_ms, idle_timeout_ms, queue_max, max_per_user, max_topics, resume_max;
  int coalesce_ms; /* a WebSocket is written at most this often (0: at once) */
  int nice;        /* sf-stream's nice levels below the process, SCHED_BATCH when > 0 (0: as the process) */
} hub_settings;
extern hub_settings hub_cfg;

void hub_lock(void);
void hub_unlock(void);
int hub_running(void);
/* Wakes the sf-stream thread (any thread). */
void hub_wake(void);

/* A new connection for the principal; counts against the user's limit:
 * NULL with err (429) when over it. Not yet linked. */
hub_conn *hub_conn_new(int kind, const sf_principal *p, sf_err *err);
/* Links it (locks). */
void hub_conn_link(hub_conn *c);
/* Unlinks (locks) and frees: subscriptions, queue, the user's count. */
void hub_conn_free(hub_conn *c);

/* Under the lock: queue m (takes a reference); 0, or -1 when the queue is
 * full (the conn is marked overflow). Marks the conn dirty. */
int hub_push(hub_conn *c, hub_msg *m, int force); /* force: past the bound (control, catch-up) */
/* Under the lock: the conn is to be closed with code and reason. */
void hub_close(hub_conn *c, int code, const char *reason);
/* Under the lock: releases every queued message but a partly sent first
 * (and, when a write was in flight, after it, but the close frame). */
void hub_drop_queue(hub_conn *c);
/* Pops n whole messages (and sets sent_off) under the lock. */
void hub_pop(hub_conn *c, size_t written);

/* Subscribes c to topic with the authority of c's user (resolve: 404/403
 * like the GET); on success the subscription is registered buffering, and
 * *head is the live position it starts from. Any thread but sf-live. */
hub_sub *hub_subscribe(hub_conn *c, const char *topic, int64_t *head, sf_err *err);
/* Queues for c the events after `after` up to head of subs (NULL: all of
 * c's buffering subscriptions), then their buffered messages, and ends the
 * buffering. Too far behind (resume_max): reset(c) is queued instead. */
void hub_catch_up(hub_conn *c, hub_sub *only, int64_t after, int64_t head,
                  void (*reset)(hub_conn *c, const hub_sub *only, int64_t head));
/* Removes one subscription (locks). Returns 0, or -1 when c has no such topic. */
int hub_unsubscribe(hub_conn *c, const char *topic);

/* sf-stream, once a tick (locks): heartbeats, idle, token expiry. Returns
 * the WebSocket conns whose close is overdue (linked by expired_next): the
 * caller ends them. */
hub_conn *hub_tick(int64_t now_ms);
/* sf-stream: delivers the events the live subscriber handed over, in log
 * order, to every subscription of their keys (locks per event). */
void hub_deliver_inbox(void);
/* sf-stream: checks again the conns an identity event flagged (locks). */
void hub_recheck_due(void);
/* sf-stream: the conns woken since last time (dirty), detached from the
 * list under the lock; the caller walks ->work_next (a conn may be marked
 * dirty again meanwhile, which reuses dirty_next). */
hub_conn *hub_take_dirty(void);

/* The messages of one event, made at most once per payload, topic and
 * transport, shared by every subscription that gets them: the live
 * subscriber and catch-up both make them here, so a resumed client gets
 * what a live one got. */
#define HUB_FANOUT_MAX 16
typedef struct hub_fanout {
  const sf_event *ev;
  json_t *event; /* the event as clients get it, made when first needed */
  int nder;
  struct {
    const char *key; /* valid while the fanout is used */
    int rc;          /* the family's derive: 1 derived, 0 the event, -1 nothing */
    uint64_t tag;
    json_t *obj; /* the derived message's event object */
  } der[HUB_FANOUT_MAX];
  int nmsg;
  struct {
    const char *topic; /* NULL: SSE */
    uint64_t tag;
    hub_msg *m;
  } msg[HUB_FANOUT_MAX];
} hub_fanout;
/* The message sub gets for key (one of its keys ev maps to), or NULL: none.
 * A reference the fanout keeps, or past its cache one the caller drops
 * (*own). Under the lock or not, as long as one thread uses f. */
hub_msg *hub_fanout_msg(hub_fanout *f, const hub_sub *s, const char *key, int *own);
void hub_fanout_free(hub_fanout *f);
/* Under the lock, SSE: 1 when m is to be queued on c (and is recorded as
 * queued), 0 when c already has it or is past its position. */
int hub_sse_admit(hub_conn *c, const hub_msg *m);

/* stream.c's internals for its sibling files */
const sf_topic *hub_topic_find(const char *name, size_t len, int *index);
uint64_t hub_active_families(void); /* under the lock */
void hub_topic_names(json_t *out);  /* appends each family's name */
int hub_event_keys(const sf_event *ev, uint64_t active, char keys[][SF_TOPIC_KEY_MAX], int max);
json_t *hub_event_json(const sf_event *ev);
hub_msg *hub_ws_event_msg(json_t *event, const char *topic, int64_t position);
hub_msg *hub_sse_event_msg(json_t *event, const char *type, int64_t position);
void hub_sub_link(hub_sub *s, char keys[][SF_TOPIC_KEY_MAX]); /* under the lock */
void hub_sub_unlink(hub_sub *s);                              /* under the lock */
void hub_sub_free(hub_sub *s);
int64_t hub_live_pos(void);       /* under the lock */
void hub_set_live_pos(int64_t p); /* under the lock */
hub_conn *hub_conns(void);        /* under the lock */
int hub_wake_fd(void);
int hub_identity_event(const sf_event *ev); /* under the lock (sf-live); 1: some conn is to be checked */
/* 0, or 403 with err filled: a browser's Origin must be allowed (CORS) or the server's own. */
int hub_origin_ok(sf_req *req, sf_err *err);

/* The per-user limit across instances (stream_limit.c; redis_url). */
void hub_limit_start(void); /* main thread, before any connection */
/* A place for a new connection of user_id among every instance's: 1 taken
 * (slot, cap bytes, names it); 0 not shared: the caller counts per
 * instance (no redis_url, or Redis cannot answer and redis_fail = open;
 * slot then names the place a refresh adds once Redis answers); -1 refused
 * with err (429 over the limit, 503 Redis cannot answer and redis_fail =
 * closed). Any thread but sf-stream, without the hub's lock. */
int hub_limit_take(const char *user_id, char *slot, size_t cap, sf_err *err);
/* The 429 of a user over the limit: fills err, returns -1. */
int hub_limit_refuse(sf_err *err);
/* Gives c's place back (after its unlink, without the hub's lock). */
void hub_limit_release(const hub_conn *c);
/* The refresh of every place of this instance, once a heartbeat, made by
 * hub_tick (sf-stream) in its walk of the connections: hub_limit_due says
 * whether one is due (1: the limit's lock is then held, taken before the
 * hub's); hub_places_add copies a linked conn's place (under the hub's
 * lock); hub_limit_refresh, after the hub's lock is let go, sends them in
 * one Redis call, frees p and lets the limit's lock go. */
struct hub_place_names {
  char user_id[SF_ID_MAX], slot[sizeof((hub_conn *)0)->slot];
};
typedef struct hub_places {
  struct hub_place_names *names;
  int n, cap;
} hub_places;
int hub_limit_due(int64_t now_ms);
void hub_places_add(hub_places *p, const hub_conn *c);
void hub_limit_refresh(hub_places *p);

/* Metrics. */
void hub_count_sent(uint64_t n);
void hub_count_closed_slow(void);
void hub_count_revoked(void);

/* ---- the transports ---- */

/* stream_ws.c */
void hub_ws_routes(void);
int hub_ws_start(sf_err *err);
void hub_ws_stop(void);
/* A WebSocket control frame (ping, pong, close) as a message. */
hub_msg *hub_ws_control(int opcode, const void *payload, size_t len);
/* stream_sse.c */
void hub_sse_routes(void);
/* SSE: wake the answer outside the lock (c->waking taken by the caller). */
void hub_sse_wake(hub_conn *c);
/* The SSE message of an end: "event: <name>" with data {code, reason}. */
hub_msg *hub_sse_end_msg(const char *event, int code, const char *reason);

#endif
