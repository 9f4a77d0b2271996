/* The hub's core: topics, the index topic key -> subscriptions, the
 * per-connection queues of shared messages, and the live subscriber that
 * fills them. Resume, revocation and timers are in stream_hub.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "edge/edge.h"
#include "edge/stream_internal.h"

#define NBUCKETS 16384 /* power of two */
#define USER_BUCKETS 4096
#define MAX_TOPICS 64
#define EVENT_KEYS 32 /* keys one event may map to, all families together */
#define QUEUE_FIRST 8 /* a queue's first ring; it doubles as needed */
/* A closing connection's last messages (the close frame, the SSE end) get
 * this long to be read; then the socket is cut, read or not. */
#define CLOSE_DEADLINE_MS 10000

typedef struct user_count {
  struct user_count *next;
  int n;
  char user_id[SF_ID_MAX];
} user_count;

hub_settings hub_cfg = {15000, 60000, 1024, 16, 64, 10000, 25, 19};

static struct hub_state {
  pthread_mutex_t mu; /* everything below but the topics and the counters */
  const sf_topic *topics[MAX_TOPICS];
  int ntopics;
  hub_node *buckets[NBUCKETS];
  user_count *users[USER_BUCKETS];
  hub_conn *conns, *dirty;
  long nconns[3], nsubs;
  int64_t live_pos;          /* the newest event the live subscriber has seen */
  long fam_subs[MAX_TOPICS]; /* subscriptions per topic family: a family nobody follows maps no event */
  _Atomic int running;
  int wake_fd;                         /* eventfd of the sf-stream thread */
  struct inbox_ev *inbox, *inbox_tail; /* events for sf-stream to deliver, in log order */
  int inbox_len;
  _Atomic uint64_t sent, slow, revoked, dropped_events;
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1};

void hub_lock(void) { pthread_mutex_lock(&hub.mu); }
void hub_unlock(void) { pthread_mutex_unlock(&hub.mu); }
int hub_running(void) { return atomic_load(&hub.running); }
void hub_count_sent(uint64_t n) { atomic_fetch_add_explicit(&hub.sent, n, memory_order_relaxed); }
void hub_count_closed_slow(void) { atomic_fetch_add_explicit(&hub.slow, 1, memory_order_relaxed); }

void hub_wake(void) {
  uint64_t one = 1;
  if (hub.wake_fd >= 0 && write(hub.wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
    sf_log_warn("stream wake failed", "\"errno\":%d", errno);
}

/* ---- topics ---- */

void sf_stream_topics_add(const sf_topic *topics) {
  for (const sf_topic *t = topics; t && t->name; t++)
    if (hub.ntopics < MAX_TOPICS) hub.topics[hub.ntopics++] = t;
}

void sf_stream_topics_clear(void) { hub.ntopics = 0; }

const sf_topic *hub_topic_find(const char *name, size_t len, int *index) {
  for (int i = 0; i < hub.ntopics; i++)
    if (strlen(hub.topics[i]->name) == len && memcmp(hub.topics[i]->name, name, len) == 0) {
      *index = i;
      return hub.topics[i];
    }
  return NULL;
}

/* Under the lock: which families have subscriptions (bit i: family i). */
uint64_t hub_active_families(void) {
  uint64_t active = 0;
  for (int i = 0; i < hub.ntopics; i++)
    if (hub.fam_subs[i]) active |= 1ull << i;
  return active;
}

void hub_topic_names(json_t *out) {
  for (int i = 0; i < hub.ntopics; i++) json_array_append_new(out, json_string(hub.topics[i]->name));
}

/* Every key of ev in the families of `active`; returns how many. */
int hub_event_keys(const sf_event *ev, uint64_t active, char keys[][SF_TOPIC_KEY_MAX], int max) {
  int n = 0;
  for (int i = 0; i < hub.ntopics && n < max; i++)
    if (hub.topics[i]->keys && (active >> i & 1)) n += hub.topics[i]->keys(ev, keys + n, max - n);
  return n;
}

/* ---- messages ---- */

hub_msg *hub_msg_new(size_t len, int64_t position) {
  hub_msg *m = sf_malloc(sizeof *m + len + 1);
  atomic_init(&m->refs, 1);
  m->position = position;
  m->tag = 0;
  m->len = len;
  m->data[len] = '\0';
  return m;
}

hub_msg *hub_msg_ref(hub_msg *m) {
  atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
  return m;
}

void hub_msg_unref(hub_msg *m) {
  if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) free(m);
}

hub_msg *hub_msg_ws_json(json_t *j, int64_t position) {
  size_t len;
  char *text = sf_json_dump(j, &len);
  uint8_t head[10];
  size_t h = sf_ws_frame_head(head, SF_WS_TEXT, len);
  hub_msg *m = hub_msg_new(h + len, position);
  memcpy(m->data, head, h);
  memcpy(m->data + h, text, len);
  free(text);
  return m;
}

/* The event as clients get it: {id, position, type, stream, data, at}. */
json_t *hub_event_json(const sf_event *ev) {
  json_t *data = json_loads(ev->data, 0, NULL);
  char at[32];
  sf_time_iso8601(ev->at, at, sizeof at);
  return json_pack("{s:s, s:I, s:s, s:s, s:o, s:s}", "id", ev->id, "position", (json_int_t)ev->position, "type",
                   ev->type, "stream", ev->stream, "data", data ? data : json_object(), "at", at);
}

hub_msg *hub_ws_event_msg(json_t *event, const char *topic, int64_t position) {
  json_t *j = json_pack("{s:s, s:s, s:O}", "type", "event", "topic", topic, "event", event);
  hub_msg *m = hub_msg_ws_json(j, position);
  json_decref(j);
  return m;
}

hub_msg *hub_sse_event_msg(json_t *event, const char *type, int64_t position) {
  size_t len;
  char *text = sf_json_dump(event, &len);
  char head[160];
  int h = snprintf(head, sizeof head, "id: %lld\nevent: %.100s\ndata: ", (long long)position, type);
  hub_msg *m = hub_msg_new((size_t)h + len + 2, position);
  memcpy(m->data, head, (size_t)h);
  memcpy(m->data + h, text, len);
  memcpy(m->data + h + len, "\n\n", 2);
  free(text);
  return m;
}

/* ---- the index ---- */

static hub_node **bucket_of(const char *key) { return &hub.buckets[sf_fnv1a(key, strlen(key)) & (NBUCKETS - 1)]; }

static hub_node *node_find(const char *key) {
  for (hub_node *n = *bucket_of(key); n; n = n->next)
    if (strcmp(n->key, key) == 0) return n;
  return NULL;
}

static hub_node *node_get(const char *key) {
  hub_node *n = node_find(key);
  if (n) return n;
  size_t len = strlen(key);
  n = sf_calloc(1, sizeof *n + len + 1);
  memcpy(n->key, key, len + 1);
  hub_node **b = bucket_of(key);
  n->next = *b;
  *b = n;
  return n;
}

static void node_drop_if_empty(hub_node *n) {
  if (n->head) return;
  for (hub_node **p = bucket_of(n->key); *p; p = &(*p)->next)
    if (*p == n) {
      *p = n->next;
      free(n);
      return;
    }
}

/* Under the lock: sub's entries go into the index, sub into its conn. */
void hub_sub_link(hub_sub *s, char keys[][SF_TOPIC_KEY_MAX]) {
  for (int i = 0; i < s->nkeys; i++) {
    hub_entry *e = &s->entries[i];
    e->sub = s;
    e->node = node_get(keys[i]);
    e->prev = NULL;
    e->next = e->node->head;
    if (e->next) e->next->prev = e;
    e->node->head = e;
  }
  s->next = s->conn->subs;
  s->conn->subs = s;
  s->conn->nsubs++;
  hub.nsubs++;
  hub.fam_subs[s->family]++;
}

/* Under the lock: out of the index and its conn; the caller frees it. */
void hub_sub_unlink(hub_sub *s) {
  for (int i = 0; i < s->nkeys; i++) {
    hub_entry *e = &s->entries[i];
    if (e->prev)
      e->prev->next = e->next;
    else
      e->node->head = e->next;
    if (e->next) e->next->prev = e->prev;
    node_drop_if_empty(e->node);
  }
  for (hub_sub **p = &s->conn->subs; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  s->conn->nsubs--;
  hub.nsubs--;
  hub.fam_subs[s->family]--;
}

void hub_sub_free(hub_sub *s) {
  free(s->entries);
  free(s);
}

/* ---- connections ---- */

static void mark_dirty(hub_conn *c) {
  if (c->dirty) return;
  c->dirty = 1;
  c->dirty_next = hub.dirty;
  hub.dirty = c;
}

static user_count **user_slot(const char *user_id) {
  user_count **p = &hub.users[sf_fnv1a(user_id, strlen(user_id)) % USER_BUCKETS];
  while (*p && strcmp((*p)->user_id, user_id) != 0) p = &(*p)->next;
  return p;
}

hub_conn *hub_conn_new(int kind, const sf_principal *p, sf_err *err) {
  char place[sizeof((hub_conn *)0)->slot];
  int shared = hub_limit_take(p->user_id, place, sizeof place, err); /* with redis_url: every instance's count */
  if (shared < 0) return NULL;
  hub_lock();
  user_count **slot = user_slot(p->user_id);
  if (!shared && *slot && (*slot)->n >= hub_cfg.max_per_user) {
    hub_unlock();
    hub_limit_refuse(err);
    return NULL;
  }
  if (!*slot) {
    *slot = sf_calloc(1, sizeof **slot);
    snprintf((*slot)->user_id, sizeof(*slot)->user_id, "%s", p->user_id);
  }
  (*slot)->n++;
  hub_unlock();
  hub_conn *c = sf_calloc(1, sizeof *c);
  c->kind = kind;
  c->fd = -1;
  snprintf(c->user_id, sizeof c->user_id, "%s", p->user_id);
  snprintf(c->session, sizeof c->session, "%s", p->session);
  snprintf(c->role, sizeof c->role, "%s", p->role);
  memcpy(c->slot, place, sizeof place);
  c->token_exp = p->token_exp;
  c->last_rx_ms = c->last_tx_ms = (int64_t)(sf_mono_ns() / 1000000u);
  return c;
}

void hub_conn_link(hub_conn *c) {
  hub_lock();
  c->next = hub.conns;
  if (c->next) c->next->prev = c;
  hub.conns = c;
  hub.nconns[c->kind]++;
  c->prev = NULL;
  mark_dirty(c);                                                              /* its first messages, if any, go out */
  if (!atomic_load(&hub.running)) hub_close(c, 1001, "server shutting down"); /* raced the stop */
  hub_unlock();
  hub_wake();
}

static void conn_unlink(hub_conn *c) {
  if (c->prev || hub.conns == c) {
    if (c->prev)
      c->prev->next = c->next;
    else
      hub.conns = c->next;
    if (c->next) c->next->prev = c->prev;
    hub.nconns[c->kind]--;
    c->prev = c->next = NULL;
  }
  if (c->dirty)
    for (hub_conn **p = &hub.dirty; *p; p = &(*p)->dirty_next)
      if (*p == c) {
        *p = c->dirty_next;
        break;
      }
  user_count **slot = user_slot(c->user_id);
  if (*slot && --(*slot)->n == 0) {
    user_count *u = *slot;
    *slot = u->next;
    free(u);
  }
}

void hub_conn_free(hub_conn *c) {
  hub_lock();
  while (c->subs) {
    hub_sub *s = c->subs;
    hub_sub_unlink(s);
    hub_sub_free(s);
  }
  conn_unlink(c);
  for (int i = 0; i < c->qlen; i++) hub_msg_unref(c->q[(c->qhead + i) % c->qcap]);
  for (int i = 0; i < c->npending; i++) hub_msg_unref(c->pending[i]);
  hub_unlock();
  hub_limit_release(c);
  free(c->q);
  free(c->pending);
  free(c->extra);
  sf_ws_parser_free(&c->parser);
  free(c);
}

/* ---- queues ---- */

static void queue_grow(hub_conn *c) {
  int cap = c->qcap ? c->qcap * 2 : QUEUE_FIRST;
  hub_msg **q = sf_malloc((size_t)cap * sizeof *q);
  for (int i = 0; i < c->qlen; i++) q[i] = c->q[(c->qhead + i) % c->qcap];
  free(c->q);
  c->q = q;
  c->qcap = cap;
  c->qhead = 0;
}

/* Appends m to c's queue, whatever its length. */
static void enqueue(hub_conn *c, hub_msg *m) {
  if (c->qlen == c->qcap) queue_grow(c);
  c->q[(c->qhead + c->qlen) % c->qcap] = hub_msg_ref(m);
  c->qlen++;
  mark_dirty(c);
}

/* A WebSocket whose socket still takes everything it is given is not slow,
 * however long its queue: the messages wait for sf-stream's next write (the
 * coalescing pause, or the thread yielding to the writer on a busy machine).
 * Its queue may grow to QUEUE_SLACK times the limit (memory stays bounded);
 * a connection whose socket is full is cut at the limit. SSE answers are
 * pulled by the HTTP server as the socket drains: the limit itself. */
#define QUEUE_SLACK 8

int hub_push(hub_conn *c, hub_msg *m, int force) {
  if (c->closing) return -1; /* nothing goes after the close */
  int limit = c->kind == CONN_WS && !c->blocked ? hub_cfg.queue_max * QUEUE_SLACK : hub_cfg.queue_max;
  if (!force && c->qlen >= limit) {
    c->overflow = 1;
    hub_count_closed_slow();
    hub_close(c, 4008, "too slow, resume from your position");
    return -1;
  }
  enqueue(c, m);
  return 0;
}

void hub_drop_queue(hub_conn *c) {
  for (int i = 0; i < c->npending; i++) hub_msg_unref(c->pending[i]);
  c->npending = 0;
  if (c->writing) { /* sf-stream's write in flight reads the queue's first messages: it drops them after */
    c->drop_pending = 1;
    return;
  }
  c->drop_pending = 0;
  int keep = c->qlen && c->sent_off ? 1 : 0; /* a frame half written must be finished */
  /* a drop deferred past a close keeps the close frame, queued last */
  int last = c->closing && c->qlen > keep ? c->qlen - 1 : c->qlen;
  for (int i = keep; i < last; i++) hub_msg_unref(c->q[(c->qhead + i) % c->qcap]);
  if (last < c->qlen) c->q[(c->qhead + keep) % c->qcap] = c->q[(c->qhead + last) % c->qcap];
  c->qlen = keep + (c->qlen - last);
}

void hub_pop(hub_conn *c, size_t written) {
  while (written > 0 && c->qlen) {
    hub_msg *m = c->q[c->qhead];
    size_t left = m->len - c->sent_off;
    if (written < left) {
      c->sent_off += written;
      return;
    }
    written -= left;
    c->sent_off = 0;
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    if (m->position) hub_count_sent(1);
    hub_msg_unref(m);
  }
}

void hub_close(hub_conn *c, int code, const char *reason) {
  if (c->closing) return;
  c->close_code = code;
  snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
  hub_drop_queue(c);
  c->closing = 1;
  hub_msg *m;
  if (c->kind == CONN_WS) {
    uint8_t payload[125];
    size_t n = sf_ws_close_payload(payload, code, reason);
    m = hub_ws_control(SF_WS_CLOSE, payload, n);
  } else {
    const char *event = code == 4008 ? "overflow" : code == 4401 || code == 4403 ? "revoked" : "end";
    m = hub_sse_end_msg(event, code, reason);
  }
  enqueue(c, m);
  hub_msg_unref(m);
  c->deadline_ms = (int64_t)(sf_mono_ns() / 1000000u) + CLOSE_DEADLINE_MS;
}

hub_conn *hub_take_dirty(void) {
  hub_lock();
  hub_conn *list = NULL;
  for (hub_conn *c = hub.dirty, *next; c; c = next) {
    next = c->dirty_next;
    c->dirty = 0;
    if (c->kind == CONN_SSE) {
      if (!c->hs || c->gone) continue;
      atomic_fetch_add(&c->waking, 1);
    }
    c->work_next = list;
    list = c;
  }
  hub.dirty = NULL;
  hub_unlock();
  return list;
}

/* ---- the live subscriber (sf-live) ---- */

/* A derived change as clients get it: the event's id, position and time,
 * the change's type and data, and "derived": true (no stream: the event's
 * stream may name what the subscriber may not see). */
static json_t *derived_json(const sf_event *ev, const char *type, json_t *data) {
  char at[32];
  sf_time_iso8601(ev->at, at, sizeof at);
  return json_pack("{s:s, s:I, s:s, s:b, s:o, s:s}", "id", ev->id, "position", (json_int_t)ev->position, "type", type,
                   "derived", 1, "data", data ? data : json_object(), "at", at);
}

/* What s's family makes of the event for key: the cached answer. */
static int fanout_derive(hub_fanout *f, const hub_sub *s, const char *key, uint64_t *tag, json_t **obj) {
  const sf_topic *fam = hub.topics[s->family];
  *tag = 0;
  *obj = NULL;
  if (!fam->derive) return 0;
  for (int i = 0; i < f->nder; i++)
    if (strcmp(f->der[i].key, key) == 0) {
      *tag = f->der[i].tag;
      *obj = f->der[i].obj;
      return f->der[i].rc;
    }
  const char *type = NULL;
  json_t *data = NULL;
  int rc = fam->derive(f->ev, key, &type, &data);
  if (rc == 1 && type) {
    *obj = derived_json(f->ev, type, data);
    *tag = sf_fnv1a(key, strlen(key)) | 1; /* never 0: that is the event itself */
  } else {
    json_decref(data);
    rc = rc == 1 ? -1 : rc;
  }
  if (f->nder < HUB_FANOUT_MAX) {
    f->der[f->nder].key = key;
    f->der[f->nder].rc = rc;
    f->der[f->nder].tag = *tag;
    f->der[f->nder++].obj = *obj;
  } else {
    json_decref(*obj); /* the caller is done with it before the next call */
    *obj = NULL;
    rc = -1; /* past the cache: never seen with so many keys */
  }
  return rc;
}

hub_msg *hub_fanout_msg(hub_fanout *f, const hub_sub *s, const char *key, int *own) {
  *own = 0;
  uint64_t tag;
  json_t *obj;
  int rc = fanout_derive(f, s, key, &tag, &obj);
  if (rc < 0) return NULL;
  const char *topic = s->conn->kind == CONN_SSE ? NULL : s->topic;
  for (int i = 0; i < f->nmsg; i++)
    if (f->msg[i].tag == tag && (topic ? f->msg[i].topic && strcmp(f->msg[i].topic, topic) == 0 : !f->msg[i].topic))
      return f->msg[i].m;
  if (!obj) obj = f->event ? f->event : (f->event = hub_event_json(f->ev));
  const char *type = json_string_value(json_object_get(obj, "type"));
  hub_msg *m = topic ? hub_ws_event_msg(obj, topic, f->ev->position) : hub_sse_event_msg(obj, type, f->ev->position);
  m->tag = tag;
  if (f->nmsg == HUB_FANOUT_MAX) {
    *own = 1;
    return m;
  }
  f->msg[f->nmsg].topic = topic;
  f->msg[f->nmsg].tag = tag;
  f->msg[f->nmsg++].m = m;
  return m;
}

void hub_fanout_free(hub_fanout *f) {
  json_decref(f->event);
  for (int i = 0; i < f->nder; i++) json_decref(f->der[i].obj);
  for (int i = 0; i < f->nmsg; i++) hub_msg_unref(f->msg[i].m);
}

int hub_sse_admit(hub_conn *c, const hub_msg *m) {
  if (m->position < c->last_pos) return 0;
  if (m->position > c->last_pos) {
    c->last_pos = m->position;
    c->ntags = 0;
  } else if (c->ntags < 0) {
    return 0;
  }
  for (int i = 0; i < c->ntags; i++)
    if (c->tags[i] == m->tag) return 0;
  if (c->ntags < (int)(sizeof c->tags / sizeof c->tags[0])) c->tags[c->ntags++] = m->tag;
  return 1;
}

/* Under the lock: the share of an event of one subscription, through key. */
static void deliver(hub_fanout *f, hub_sub *s, const char *key) {
  hub_conn *c = s->conn;
  int64_t pos = f->ev->position;
  if (c->closing || pos <= s->last_pos) return;
  int own;
  hub_msg *m = hub_fanout_msg(f, s, key, &own);
  if (!m) return; /* nothing for this key; another of s's keys may have something */
  s->last_pos = pos;
  if (s->buffering) {
    if (c->npending >= hub_cfg.queue_max) {
      hub_count_closed_slow();
      hub_close(c, 4008, "too slow, resume from your position");
    } else {
      if (c->npending == c->cap_pending) {
        c->cap_pending = c->cap_pending ? c->cap_pending * 2 : QUEUE_FIRST;
        c->pending = sf_realloc(c->pending, (size_t)c->cap_pending * sizeof *c->pending);
      }
      c->pending[c->npending++] = hub_msg_ref(m);
    }
  } else if (c->kind == CONN_WS) {
    hub_push(c, m, 0);
  } else if (hub_sse_admit(c, m)) {
    /* the messages of one event go together (an SSE client resumes after
     * its id): only the first of them may find the queue full */
    hub_push(c, m, c->ntags > 1);
  }
  if (own) hub_msg_unref(m);
}

/* ---- the inbox: sf-live hands each event with subscribers to sf-stream ----
 *
 * The share of an event of every subscription (a queue append per
 * connection: 1,000 for one event of a topic 1,000 clients follow) is made
 * by sf-stream, which runs below the writer's priority, not by sf-live,
 * which also wakes the order saga and the other live subscribers: there an
 * event costs a copy, the same however many subscribe. Events are delivered
 * in log order; a subscription made after the live position moved past an
 * event starts after it (deliver's last_pos), as before. */

/* An event with keys some subscription may follow: a copy (sf-live's is
 * gone after notify) with its keys, in one allocation. */
typedef struct inbox_ev {
  struct inbox_ev *next;
  sf_event ev;
  int nkeys;
  char (*keys)[SF_TOPIC_KEY_MAX];
  char text[];
} inbox_ev;

static char *copy_str(char **at, const char *s) {
  size_t n = s ? strlen(s) + 1 : 1;
  char *out = *at;
  memcpy(out, s ? s : "", n);
  *at += n;
  return out;
}

static inbox_ev *inbox_copy(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int n) {
  const char *strs[] = {ev->stream, ev->type, ev->id, ev->data, ev->meta, ev->hash};
  size_t len = (size_t)n * SF_TOPIC_KEY_MAX;
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) len += (strs[i] ? strlen(strs[i]) : 0) + 1;
  inbox_ev *e = sf_malloc(sizeof *e + len);
  e->next = NULL;
  e->nkeys = n;
  e->keys = (char(*)[SF_TOPIC_KEY_MAX])e->text;
  memcpy(e->keys, keys, (size_t)n * SF_TOPIC_KEY_MAX);
  char *at = e->text + (size_t)n * SF_TOPIC_KEY_MAX;
  e->ev = (sf_event){.position = ev->position, .version = ev->version, .at = ev->at};
  e->ev.stream = copy_str(&at, ev->stream);
  e->ev.type = copy_str(&at, ev->type);
  e->ev.id = copy_str(&at, ev->id);
  e->ev.data = copy_str(&at, ev->data);
  e->ev.meta = copy_str(&at, ev->meta);
  e->ev.hash = copy_str(&at, ev->hash);
  return e;
}

/* Under the lock: sf-stream is so far behind (the inbox holds as many
 * events as a connection may queue) that every subscriber would be cut as
 * too slow: each is, and resumes from its position; the inbox goes. */
static void inbox_overflow(void) {
  for (hub_conn *c = hub.conns; c; c = c->next)
    if (c->nsubs) {
      hub_count_closed_slow();
      hub_close(c, 4008, "too slow, resume from your position");
    }
  for (inbox_ev *e = hub.inbox, *next; e; e = next) {
    next = e->next;
    free(e);
  }
  hub.inbox = hub.inbox_tail = NULL;
  hub.inbox_len = 0;
}

/* sf-live: the live position moves first, with the families followed at
 * that moment: a subscription made after it starts from this event's
 * position (its catch-up reads it), one made before gets it from the inbox.
 * Keys are computed outside the lock (a family's keys() may read the
 * database); the wake is made when the inbox was empty (one per batch). */
static void notify(const sf_event *ev) {
  hub_lock();
  hub.live_pos = ev->position;
  uint64_t active = hub_active_families();
  int recheck = hub_identity_event(ev);
  hub_unlock();
  if (recheck) hub_wake();
  if (!active) return;
  char keys[EVENT_KEYS][SF_TOPIC_KEY_MAX];
  int n = hub_event_keys(ev, active, keys, EVENT_KEYS);
  if (n <= 0) return;
  inbox_ev *e = inbox_copy(ev, keys, n);
  hub_lock();
  int wake = !hub.inbox;
  if (hub.inbox_len >= hub_cfg.queue_max * QUEUE_SLACK) {
    inbox_overflow();
    free(e);
    wake = 1;
  } else {
    if (hub.inbox_tail)
      hub.inbox_tail->next = e;
    else
      hub.inbox = e;
    hub.inbox_tail = e;
    hub.inbox_len++;
  }
  hub_unlock();
  if (wake) hub_wake();
}

void hub_deliver_inbox(void) {
  hub_lock();
  inbox_ev *list = hub.inbox;
  hub.inbox = hub.inbox_tail = NULL;
  hub.inbox_len = 0;
  hub_unlock();
  for (inbox_ev *e = list, *next; e; e = next) {
    next = e->next;
    hub_fanout f = {.ev = &e->ev};
    hub_lock();
    for (int i = 0; i < e->nkeys; i++) {
      hub_node *node = node_find(e->keys[i]);
      for (hub_entry *x = node ? node->head : NULL; x; x = x->next) deliver(&f, x->sub, node->key);
    }
    hub_unlock();
    hub_fanout_free(&f);
    free(e);
  }
}

const sf_subscriber sf_stream_subscriber = {.name = "stream", .notify = notify};

int64_t hub_live_pos(void) { return hub.live_pos; }
void hub_set_live_pos(int64_t pos) {
  if (pos > hub.live_pos) hub.live_pos = pos;
}
hub_conn *hub_conns(void) { return hub.conns; }
void hub_count_revoked(void) { atomic_fetch_add_explicit(&hub.revoked, 1, memory_order_relaxed); }

/* ---- metrics, start, stop ---- */

static void collect(sf_buf *b) {
  hub_lock();
  long ws = hub.nconns[CONN_WS], sse = hub.nconns[CONN_SSE], subs = hub.nsubs;
  hub_unlock();
  sf_buf_printf(b,
                "# HELP sf_stream_connections Open real-time streams.\n"
                "# TYPE sf_stream_connections gauge\n"
                "sf_stream_connections{transport=\"websocket\"} %ld\n"
                "sf_stream_connections{transport=\"sse\"} %ld\n"
                "# HELP sf_stream_subscriptions Topic subscriptions of open streams.\n"
                "# TYPE sf_stream_subscriptions gauge\n"
                "sf_stream_subscriptions %ld\n"
                "# HELP sf_stream_messages_sent_total Event messages written to stream clients.\n"
                "# TYPE sf_stream_messages_sent_total counter\n"
                "sf_stream_messages_sent_total %lu\n"
                "# HELP sf_stream_slow_closes_total Streams cut because their queue was full.\n"
                "# TYPE sf_stream_slow_closes_total counter\n"
                "sf_stream_slow_closes_total %lu\n"
                "# HELP sf_stream_revoked_total Streams ended because their access was revoked.\n"
                "# TYPE sf_stream_revoked_total counter\n"
                "sf_stream_revoked_total %lu\n",
                ws, sse, subs, (unsigned long)atomic_load(&hub.sent), (unsigned long)atomic_load(&hub.slow),
                (unsigned long)atomic_load(&hub.revoked));
}

void sf_stream_configure(const sf_config *cfg) {
  hub_cfg.heartbeat_ms = cfg->stream_heartbeat_s * 1000;
  hub_cfg.idle_timeout_ms = cfg->stream_idle_timeout_s * 1000;
  hub_cfg.queue_max = cfg->stream_queue_max;
  hub_cfg.max_per_user = cfg->stream_max_per_user;
  hub_cfg.max_topics = cfg->stream_max_topics;
  hub_cfg.resume_max = cfg->stream_resume_max;
  hub_cfg.coalesce_ms = cfg->stream_coalesce_ms;
  hub_cfg.nice = cfg->stream_nice;
  static int collector_added;
  if (!collector_added++) sf_metrics_add_collector(collect);
}

void sf_stream_routes(void) {
  hub_sse_routes();
  hub_ws_routes();
}

int hub_wake_fd(void) { return hub.wake_fd; }

int sf_stream_start(sf_err *err) {
  hub.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (hub.wake_fd < 0) return sf_err_internal(err, "stream: eventfd: %s", strerror(errno));
  sf_db *db = sf_db_reader(err);
  int64_t head = db ? sf_ev_head(db, err) : -1;
  if (head < 0) return -1;
  hub_lock();
  hub_set_live_pos(head); /* the live subscriber gives every event after it */
  hub_unlock();
  if (hub_ws_start(err)) return -1;
  hub_limit_start();
  atomic_store(&hub.running, 1);
  return 0;
}

/* Closes every stream, gives them a moment to go, then stops the thread. */
void sf_stream_stop(void) {
  if (!atomic_exchange(&hub.running, 0)) return;
  hub_lock();
  for (hub_conn *c = hub.conns; c; c = c->next) {
    hub_close(c, 1001, "server shutting down");
    mark_dirty(c);
  }
  hub_unlock();
  hub_wake();
  for (int waited = 0; waited < 2000; waited += 10) {
    hub_lock();
    long left = hub.nconns[CONN_WS] + hub.nconns[CONN_SSE];
    hub_unlock();
    if (!left) break;
    usleep(10000);
  }
  hub_ws_stop();
  hub_lock();
  for (inbox_ev *e = hub.inbox, *next; e; e = next) { /* no one left to get them */
    next = e->next;
    free(e);
  }
  hub.inbox = hub.inbox_tail = NULL;
  hub.inbox_len = 0;
  hub_unlock();
  close(hub.wake_fd);
  hub.wake_fd = -1;
}
