#define _GNU_SOURCE /* pthread_setname_np */
#include "events/relay.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/db.h"
#include "store/writer.h"

#define BATCH 256          /* events read from the database at a time */
#define BACKOFF_MIN_MS 100 /* after a failure, doubling up to the max */
#define BACKOFF_MAX_MS 5000
#define IDLE_WAKE_MS 1000 /* the thread looks at the lease and the connection this often when idle */

typedef enum { ST_OFF, ST_CONNECTING, ST_DISCONNECTED, ST_STANDBY, ST_PUBLISHING, ST_CAUGHT_UP } relay_st;
static const char *const k_state_words[] = {"off", "connecting", "disconnected", "standby", "publishing", "caught-up"};

static struct relay_state {
  /* settings, set by sf_relay_configure before the thread starts */
  int enabled;
  char url[1024], user[256], password[256], token[256], stream[128], prefix[128];
  int64_t dup_window_ns, ack_timeout_ms;
  int window; /* publishes in flight (1: one at a time, synchronous) */
  sf_relay_lease_fn lease;
  void *lease_ud;

  pthread_t thread;
  int running;
  pthread_mutex_t mu; /* guards head, stopping; cv signals them and resync */
  pthread_cond_t cv;
  int64_t head; /* newest durable position we were told of */
  int stopping;

  /* the relay thread's own */
  natsConnection *nc;
  jsCtx *js;
  uint64_t last_seq; /* the stream's last sequence as the relay last saw it */
  int synced;        /* published and last_seq are JetStream's (not before the first sync) */

  /* read anywhere */
  _Atomic int resync;         /* set on a reconnect: ask JetStream where it stands */
  _Atomic int state;          /* relay_st */
  _Atomic int64_t published;  /* the last position JetStream holds from the relay */
  _Atomic int64_t known_head; /* head, for the lag metric */
  _Atomic uint64_t published_total, errors_total;
  int collecting;
} relay = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- settings ---- */

/* A stream name: no whitespace, '.', '*', '>', '/', '\' (JetStream's rule). */
static int bad_stream_name(const char *s) {
  if (!*s) return 1;
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || strchr(".*>/\\", *s)) return 1;
  return 0;
}

/* A subject prefix: tokens of printable characters without wildcards. */
static int bad_prefix(const char *s) {
  if (!*s || *s == '.') return 1;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == '*' || *p == '>' || (*p == '.' && (p[1] == '.' || p[1] == '\0'))) return 1;
  return 0;
}

int sf_relay_configure(const sf_config *cfg, sf_err *err) {
  relay.enabled = cfg->nats_url[0] != '\0';
  atomic_store(&relay.state, ST_OFF);
  if (!relay.enabled) return 0;
  if (bad_stream_name(cfg->nats_stream))
    return sf_err_set(err, 400, "config", "Bad configuration", "nats_stream: '%s' is not a JetStream stream name",
                      cfg->nats_stream);
  if (bad_prefix(cfg->nats_subject_prefix))
    return sf_err_set(err, 400, "config", "Bad configuration", "nats_subject_prefix: '%s' is not a subject prefix",
                      cfg->nats_subject_prefix);
  snprintf(relay.url, sizeof relay.url, "%s", cfg->nats_url);
  snprintf(relay.user, sizeof relay.user, "%s", cfg->nats_user);
  snprintf(relay.password, sizeof relay.password, "%s", cfg->nats_password);
  snprintf(relay.token, sizeof relay.token, "%s", cfg->nats_token);
  snprintf(relay.stream, sizeof relay.stream, "%s", cfg->nats_stream);
  snprintf(relay.prefix, sizeof relay.prefix, "%s", cfg->nats_subject_prefix);
  relay.dup_window_ns = (int64_t)cfg->nats_duplicate_window_s * 1000000000LL;
  relay.ack_timeout_ms = cfg->nats_ack_timeout_ms;
  relay.window = cfg->nats_publish_window < 1 ? 1 : cfg->nats_publish_window > BATCH ? BATCH : cfg->nats_publish_window;
  return 0;
}

int sf_relay_enabled(void) { return relay.enabled; }

void sf_relay_set_lease(sf_relay_lease_fn fn, void *ud) {
  relay.lease = fn;
  relay.lease_ud = ud;
}

/* Today's answer: this process holds the SQLite database, so it is the
 * only one that could run the relay. */
static int lease_held(void) { return relay.lease ? relay.lease(relay.lease_ud) : 1; }

/* ---- subjects ---- */

static size_t put_token(char *out, size_t at, size_t cap, const char *s, size_t n, int keep_dots) {
  size_t start = at;
  for (size_t i = 0; i < n && at + 1 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    int dot = c == '.' && keep_dots;
    /* a dot that would open an empty token (leading, doubled, trailing) is replaced */
    if (dot && (at == start || out[at - 1] == '.' || i + 1 == n)) dot = 0;
    out[at++] = dot ? '.' : (c <= ' ' || c == 0x7f || c == '*' || c == '>' || c == '.') ? '_' : (char)c;
  }
  if (at == start && at + 1 < cap) out[at++] = '_';
  return at;
}

size_t sf_relay_subject(const char *prefix, const char *stream, const char *type, char *out, size_t cap) {
  if (!cap) return 0;
  size_t at = 0, plen = strlen(prefix);
  for (size_t i = 0; i < plen && at + 1 < cap; i++) out[at++] = prefix[i];
  if (at + 1 < cap) out[at++] = '.';
  at = put_token(out, at, cap, stream, strcspn(stream, "-"), 0);
  if (at + 1 < cap) out[at++] = '.';
  at = put_token(out, at, cap, type, strlen(type), 1);
  out[at] = '\0';
  return at;
}

/* ---- the subscriber: note the durable head, wake the thread ---- */

static void notify(const sf_event *ev) {
  pthread_mutex_lock(&relay.mu);
  if (ev->position > relay.head) {
    relay.head = ev->position;
    atomic_store(&relay.known_head, ev->position);
    pthread_cond_signal(&relay.cv);
  }
  pthread_mutex_unlock(&relay.mu);
}

const sf_subscriber sf_relay_subscriber = {.name = "nats-relay", .notify = notify};

/* ---- logging NATS errors (their text goes into a JSON log line) ---- */

static void log_nats(const char *msg, natsStatus s, jsErrCode jerr) {
  char text[200];
  snprintf(text, sizeof text, "%s", natsStatus_GetText(s));
  for (char *p = text; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < ' ') *p = '\'';
  sf_log_warn(msg, "\"status\":\"%s\",\"jetstream_error\":%d,\"stream\":\"%s\"", text, (int)jerr, relay.stream);
}

/* Counts every failure; logs the first of a spell (a NATS server down for
 * an hour is one warning, not one every backoff), the relay thread's. */
static int failing;

static void fail(const char *msg, natsStatus s, jsErrCode jerr) {
  atomic_fetch_add(&relay.errors_total, 1);
  if (!failing++) log_nats(msg, s, jerr);
}

/* ---- the connection ---- */

static void wake(void) {
  pthread_mutex_lock(&relay.mu);
  pthread_cond_signal(&relay.cv);
  pthread_mutex_unlock(&relay.mu);
}

/* nats.c's threads: a reconnect means JetStream may have lost what it
 * acknowledged last (no fsync) or stored what it never acknowledged. */
static void on_reconnected(natsConnection *nc, void *ud) {
  (void)nc, (void)ud;
  atomic_store(&relay.resync, 1);
  sf_log_info("nats relay: reconnected", "\"stream\":\"%s\"", relay.stream);
  wake();
}
static void on_disconnected(natsConnection *nc, void *ud) {
  (void)nc, (void)ud;
  if (atomic_load(&relay.state) == ST_OFF) return;
  atomic_store(&relay.state, ST_DISCONNECTED);
  sf_log_warn("nats relay: disconnected (reconnecting; events wait in the database)", "\"stream\":\"%s\"",
              relay.stream);
}

static void disconnect(void) {
  jsCtx_Destroy(relay.js);
  relay.js = NULL;
  natsConnection_Destroy(relay.nc);
  relay.nc = NULL;
  relay.synced = 0;
}

/* ---- asynchronous acks of one window (nats.c's thread fills them) ---- */

static struct relay_acks {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t gen;      /* the jsCtx the window was sent on: acks of an older one are ignored */
  int64_t first;     /* the position of the window's first event */
  int n, done;       /* events sent, acks (or errors) received */
  char state[BATCH]; /* 0 waiting, 1 stored, 2 a duplicate (stored before), 3 failed */
  uint64_t seq[BATCH];
} acks = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static uint64_t set_ack_gen(void) {
  pthread_mutex_lock(&acks.mu);
  uint64_t gen = ++acks.gen;
  acks.n = acks.done = 0;
  pthread_mutex_unlock(&acks.mu);
  return gen;
}

static void on_async_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
  (void)js, (void)pae;
  const char *v = NULL;
  pthread_mutex_lock(&acks.mu);
  if ((uintptr_t)closure == acks.gen && natsMsgHeader_Get(msg, "Sf-Position", &v) == NATS_OK) {
    int64_t i = strtoll(v, NULL, 10) - acks.first;
    if (i >= 0 && i < acks.n && !acks.state[i]) {
      acks.state[i] = pa ? (pa->Duplicate ? 2 : 1) : 3;
      acks.seq[i] = pa ? pa->Sequence : 0;
      acks.done++;
      pthread_cond_signal(&acks.cv);
    }
  }
  pthread_mutex_unlock(&acks.mu);
  natsMsg_Destroy(msg);
}

static int connect_nats(void) {
  natsOptions *o = NULL;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetURL(o, relay.url);
  if (s == NATS_OK && relay.user[0]) s = natsOptions_SetUserInfo(o, relay.user, relay.password);
  if (s == NATS_OK && relay.token[0]) s = natsOptions_SetToken(o, relay.token);
  if (s == NATS_OK) s = natsOptions_SetName(o, "serviceflow-relay");
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, 2000);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1); /* nats.c reconnects for ever */
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 250);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
  if (s == NATS_OK) s = natsConnection_Connect(&relay.nc, o);
  jsOptions jo;
  if (s == NATS_OK) s = jsOptions_Init(&jo);
  if (s == NATS_OK) {
    jo.Wait = relay.ack_timeout_ms;
    jo.PublishAsync.MaxPending = relay.window;
    jo.PublishAsync.AckHandler = on_async_ack;
    jo.PublishAsync.AckHandlerClosure = (void *)(uintptr_t)set_ack_gen();
    s = natsConnection_JetStream(&relay.js, relay.nc, &jo);
  }
  natsOptions_Destroy(o);
  if (s == NATS_OK) return 0;
  fail("nats relay: cannot connect", s, 0);
  disconnect();
  return -1;
}

/* ---- where JetStream stands ---- */

static int ensure_stream(jsStreamInfo **si) {
  jsErrCode jerr = 0;
  natsStatus s = js_GetStreamInfo(si, relay.js, relay.stream, NULL, &jerr);
  if (s == NATS_OK) return 0;
  if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
    fail("nats relay: cannot read the stream", s, jerr);
    return -1;
  }
  char subjects[160];
  snprintf(subjects, sizeof subjects, "%s.>", relay.prefix);
  const char *list[1] = {subjects};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = relay.stream;
  sc.Subjects = list;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Duplicates = relay.dup_window_ns;
  s = js_AddStream(si, relay.js, &sc, NULL, &jerr);
  if (s != NATS_OK) {
    fail("nats relay: cannot create the stream", s, jerr);
    return -1;
  }
  sf_log_info("nats relay: stream created", "\"stream\":\"%s\",\"subjects\":\"%s\"", relay.stream, subjects);
  return 0;
}

/* Reads the stream's last message and takes its Sf-Position as the last
 * published position (0 for an empty stream). */
static int sync_position(void) {
  jsStreamInfo *si = NULL;
  if (ensure_stream(&si)) return -1;
  uint64_t last_seq = si->State.LastSeq, msgs = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  int64_t position = 0;
  if (msgs > 0) {
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetMsg(&m, relay.js, relay.stream, last_seq, NULL, &jerr);
    const char *v = NULL;
    if (s == NATS_OK) s = natsMsgHeader_Get(m, "Sf-Position", &v);
    if (s == NATS_OK) position = strtoll(v, NULL, 10);
    natsMsg_Destroy(m);
    if (s != NATS_OK || position <= 0) {
      fail("nats relay: the stream's last message has no Sf-Position", s, jerr);
      return -1;
    }
  }
  int64_t head = atomic_load(&relay.known_head);
  if (position > head)
    sf_log_warn("nats relay: the stream is ahead of the event log (database restored?)",
                "\"stream_position\":%lld,\"head\":%lld", (long long)position, (long long)head);
  int64_t was = atomic_load(&relay.published);
  if (!relay.synced || position != was)
    sf_log_info("nats relay: resuming", "\"after_position\":%lld,\"stream_seq\":%llu", (long long)position,
                (unsigned long long)last_seq);
  atomic_store(&relay.published, position);
  relay.last_seq = last_seq;
  relay.synced = 1;
  return 0;
}

/* ---- publishing ---- */

static void wait_ms(int ms, int for_work);
static int stopping(void);

typedef struct {
  int64_t position;
  char *id, *stream, *type, *subject, *payload; /* one allocation from id on */
  size_t payload_len;
} relay_item;

typedef struct {
  relay_item items[BATCH];
  int n;
} relay_batch;

static int collect(const sf_event *ev, void *ud) {
  relay_batch *b = ud;
  json_t *j = sf_ev_to_json(ev);
  size_t plen = 0;
  char *payload = sf_json_dump(j, &plen);
  json_decref(j);
  char subject[512];
  size_t slen = sf_relay_subject(relay.prefix, ev->stream, ev->type, subject, sizeof subject);
  size_t il = strlen(ev->id), stl = strlen(ev->stream), tl = strlen(ev->type);
  relay_item *it = &b->items[b->n++];
  it->position = ev->position;
  it->id = sf_malloc(il + stl + tl + slen + 4);
  it->stream = it->id + il + 1;
  it->type = it->stream + stl + 1;
  it->subject = it->type + tl + 1;
  memcpy(it->id, ev->id, il + 1);
  memcpy(it->stream, ev->stream, stl + 1);
  memcpy(it->type, ev->type, tl + 1);
  memcpy(it->subject, subject, slen + 1);
  it->payload = payload;
  it->payload_len = plen;
  return 0;
}

static void batch_free(relay_batch *b) {
  for (int i = 0; i < b->n; i++) {
    free(b->items[i].id);
    free(b->items[i].payload);
  }
  b->n = 0;
}

/* The message of one event: the payload and Sf-* headers (the Nats-Msg-Id
 * and the expected last sequence go in the publish options). */
static natsStatus make_msg(const relay_item *it, natsMsg **m) {
  char pos[24];
  snprintf(pos, sizeof pos, "%lld", (long long)it->position);
  natsStatus s = natsMsg_Create(m, it->subject, NULL, it->payload, (int)it->payload_len);
  if (s == NATS_OK) s = natsMsgHeader_Set(*m, "Sf-Position", pos);
  if (s == NATS_OK) s = natsMsgHeader_Set(*m, "Sf-Stream", it->stream);
  if (s == NATS_OK) s = natsMsgHeader_Set(*m, "Sf-Type", it->type);
  return s;
}

/* expect: the stream's last sequence before this message; 0 means "no
 * expectation" to nats.c, so the first message of an empty stream goes without */
static void pub_options(jsPubOptions *po, const relay_item *it, uint64_t expect) {
  jsPubOptions_Init(po);
  po->MsgId = it->id; /* Nats-Msg-Id: JetStream's dedupe */
  po->MaxWait = relay.ack_timeout_ms;
  po->ExpectLastSeq = expect;
}

/* One event, acknowledged by JetStream, right after the last one. */
static int publish_one(const relay_item *it) {
  natsMsg *m = NULL;
  natsStatus s = make_msg(it, &m);
  jsPubOptions po;
  pub_options(&po, it, relay.last_seq);
  jsPubAck *ack = NULL;
  jsErrCode jerr = 0;
  if (s == NATS_OK) s = js_PublishMsg(&ack, relay.js, m, &po, &jerr);
  natsMsg_Destroy(m);
  if (s != NATS_OK) {
    fail("nats relay: publish failed", s, jerr);
    return -1;
  }
  if (!ack->Duplicate) { /* a duplicate names the earlier copy's sequence: the stream's last did not move */
    relay.last_seq = ack->Sequence;
    atomic_fetch_add(&relay.published_total, 1);
  }
  jsPubAck_Destroy(ack);
  atomic_store(&relay.published, it->position);
  return 0;
}

/* Waits for the acks of the first sent events (until the ack timeout) and
 * takes the stored prefix: how many of them are in JetStream in order. */
static int take_acks(int sent) {
  struct timespec until = sf_deadline_ms(relay.ack_timeout_ms);
  pthread_mutex_lock(&acks.mu);
  while (acks.done < sent)
    if (pthread_cond_timedwait(&acks.cv, &acks.mu, &until)) break;
  int ok = 0;
  for (; ok < sent && (acks.state[ok] == 1 || acks.state[ok] == 2); ok++) {
    if (acks.state[ok] == 1) relay.last_seq = acks.seq[ok], atomic_fetch_add(&relay.published_total, 1);
    atomic_store(&relay.published, acks.first + ok);
  }
  acks.n = 0; /* late acks of this window are ignored */
  pthread_mutex_unlock(&acks.mu);
  return ok;
}

/* A window of events in flight at once. Each expects the stream's last
 * sequence to be its predecessor's, so when one fails none after it is
 * stored: JetStream keeps a prefix of the window, in order. Returns 0 when
 * all were stored, -1 otherwise (the caller starts over on a new
 * connection: nats.c keeps unanswered asynchronous publishes pending). */
static int publish_window(const relay_item *items, int n) {
  pthread_mutex_lock(&acks.mu);
  acks.first = items[0].position;
  acks.n = n;
  acks.done = 0;
  memset(acks.state, 0, sizeof acks.state);
  pthread_mutex_unlock(&acks.mu);
  uint64_t base = relay.last_seq;
  natsStatus s = NATS_OK;
  int sent = 0;
  for (; sent < n && s == NATS_OK; sent++) {
    if (!lease_held() || stopping()) break;
    natsMsg *m = NULL;
    jsPubOptions po;
    pub_options(&po, &items[sent], base + (uint64_t)sent);
    s = make_msg(&items[sent], &m);
    if (s == NATS_OK) s = js_PublishMsgAsync(relay.js, &m, &po); /* takes m when it succeeds */
    natsMsg_Destroy(m);
    if (s != NATS_OK) break;
  }
  int ok = take_acks(sent);
  if (s == NATS_OK && ok == sent) return 0;
  fail("nats relay: publish failed", s != NATS_OK ? s : NATS_TIMEOUT, 0);
  return -1;
}

static int64_t durable_head(void) {
  pthread_mutex_lock(&relay.mu);
  int64_t head = relay.head;
  pthread_mutex_unlock(&relay.mu);
  return head;
}

static int stopping(void) {
  pthread_mutex_lock(&relay.mu);
  int s = relay.stopping;
  pthread_mutex_unlock(&relay.mu);
  return s;
}

/* Publishes the next batch after the last published position, up to the
 * durable head: >0 published, 0 nothing to do, <0 failed (a resync comes
 * next). The events are read into memory first: no read transaction stays
 * open across the network. */
static int publish_pending(void) {
  int64_t from = atomic_load(&relay.published), head = durable_head();
  if (from >= head) return 0;
  static relay_batch batch; /* the relay thread's */
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int64_t want = head - from < BATCH ? head - from : BATCH;
  if (!db || sf_ev_read_all(db, from, (int)want, collect, &batch, &err)) {
    batch_free(&batch);
    atomic_fetch_add(&relay.errors_total, 1);
    sf_log_warn("nats relay: cannot read the event log", "\"detail\":\"%s\"", err.detail);
    return -1;
  }
  if (batch.n == 0) { /* told of a head the reader does not show yet: look again soon */
    wait_ms(100, 0);
    return 0;
  }
  int rc = batch.n;
  atomic_store(&relay.state, ST_PUBLISHING);
  if (relay.window > 1) {
    for (int i = 0; i < batch.n && rc > 0; i += relay.window)
      if (publish_window(batch.items + i, batch.n - i < relay.window ? batch.n - i : relay.window)) rc = -1;
    batch_free(&batch);
    if (rc < 0) disconnect();
    return rc;
  }
  for (int i = 0; i < batch.n && rc > 0; i++) {
    if (!lease_held() || stopping()) break;
    if (publish_one(&batch.items[i])) rc = -1;
  }
  batch_free(&batch);
  return rc;
}

/* ---- the thread ---- */

/* Sleeps ms, or less when woken with something to do. */
static void wait_ms(int ms, int for_work) {
  struct timespec until = sf_deadline_ms(ms);
  pthread_mutex_lock(&relay.mu);
  while (!relay.stopping && !(for_work && (relay.head > atomic_load(&relay.published) || atomic_load(&relay.resync))))
    if (pthread_cond_timedwait(&relay.cv, &relay.mu, &until)) break;
  pthread_mutex_unlock(&relay.mu);
}

static int next_backoff(int ms) { return ms ? (ms * 2 < BACKOFF_MAX_MS ? ms * 2 : BACKOFF_MAX_MS) : BACKOFF_MIN_MS; }

/* Events another process committed to the database (a CLI command beside
 * the server) wake no commit hook here: once a second when idle the relay
 * reads the head itself, then waits until what it read is durable. */
static void poll_head(void) {
  static uint64_t last_ns;
  uint64_t now = sf_mono_ns();
  if (now - last_ns < (uint64_t)IDLE_WAKE_MS * 1000000ull) return;
  last_ns = now;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int64_t head = db ? sf_ev_head(db, &err) : -1;
  if (head <= durable_head()) return;
  sf_writer_barrier();
  pthread_mutex_lock(&relay.mu);
  if (head > relay.head) relay.head = head;
  atomic_store(&relay.known_head, relay.head);
  pthread_mutex_unlock(&relay.mu);
}

/* One turn of the loop: 0 went well (or had nothing to do), -1 failed. */
static int turn(void) {
  if (!lease_held()) {
    if (relay.nc) disconnect(); /* another instance publishes: do not hold a connection for nothing */
    atomic_store(&relay.state, ST_STANDBY);
    wait_ms(IDLE_WAKE_MS, 0);
    return 0;
  }
  if (!relay.nc) {
    atomic_store(&relay.state, ST_CONNECTING);
    if (connect_nats()) return -1;
    atomic_store(&relay.resync, 1);
  }
  if (natsConnection_Status(relay.nc) != NATS_CONN_STATUS_CONNECTED) {
    if (natsConnection_IsClosed(relay.nc)) disconnect();
    atomic_store(&relay.state, ST_DISCONNECTED);
    wait_ms(IDLE_WAKE_MS / 4, 0);
    return 0;
  }
  if (atomic_exchange(&relay.resync, 0) || !relay.synced) {
    if (sync_position()) return -1;
  }
  int rc = publish_pending();
  if (rc < 0) return -1;
  if (rc == 0) poll_head();
  if (rc == 0 && atomic_load(&relay.published) >= durable_head()) {
    atomic_store(&relay.state, ST_CAUGHT_UP);
    wait_ms(IDLE_WAKE_MS, 1);
  }
  return 0;
}

static void *relay_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-relay");
  int backoff = 0;
  while (!stopping()) {
    if (turn() == 0) {
      if (failing && relay.synced) {
        sf_log_info("nats relay: publishing again", "\"failures\":%d", failing);
        failing = 0;
      }
      backoff = 0;
      continue;
    }
    atomic_store(&relay.resync, 1); /* whatever failed, JetStream's word decides where to go on */
    backoff = next_backoff(backoff);
    wait_ms(backoff, 0);
  }
  disconnect();
  return NULL;
}

/* ---- metrics and status ---- */

static void collect_metrics(sf_buf *out) {
  if (!relay.enabled) return;
  int64_t head = atomic_load(&relay.known_head), pub = atomic_load(&relay.published);
  sf_buf_printf(out,
                "# HELP sf_relay_published_total Events the NATS relay published (JetStream acknowledged, not "
                "duplicates).\n# TYPE sf_relay_published_total counter\nsf_relay_published_total %llu\n"
                "# HELP sf_relay_lag_events The log's durable head minus the last position JetStream holds.\n"
                "# TYPE sf_relay_lag_events gauge\nsf_relay_lag_events %lld\n"
                "# HELP sf_relay_errors_total NATS relay failures (connect, stream, publish, read); each is retried.\n"
                "# TYPE sf_relay_errors_total counter\nsf_relay_errors_total %llu\n",
                (unsigned long long)atomic_load(&relay.published_total), (long long)(head > pub ? head - pub : 0),
                (unsigned long long)atomic_load(&relay.errors_total));
}

const char *sf_relay_state(void) {
  int st = atomic_load(&relay.state);
  return relay.enabled ? k_state_words[st] : "off";
}

json_t *sf_relay_status_json(void) {
  if (!relay.enabled) return NULL;
  int64_t head = atomic_load(&relay.known_head), pub = atomic_load(&relay.published);
  return json_pack("{s:s, s:I, s:I, s:I}", "state", sf_relay_state(), "published_position", (json_int_t)pub,
                   "lag_events", (json_int_t)(head > pub ? head - pub : 0), "errors",
                   (json_int_t)atomic_load(&relay.errors_total));
}

/* ---- start and stop ---- */

int sf_relay_start(sf_err *err) {
  if (!relay.enabled || relay.running) return 0;
  sf_db *db = sf_db_reader(err);
  int64_t head = db ? sf_ev_head(db, err) : -1;
  if (head < 0) return -1;
  sf_writer_barrier(); /* what the reader saw is on disk: publishable */
  pthread_mutex_lock(&relay.mu);
  if (head > relay.head) relay.head = head;
  atomic_store(&relay.known_head, relay.head);
  relay.stopping = 0;
  pthread_mutex_unlock(&relay.mu);
  atomic_store(&relay.resync, 1);
  atomic_store(&relay.state, ST_CONNECTING);
  if (!relay.collecting++) sf_metrics_add_collector(collect_metrics);
  if (pthread_create(&relay.thread, NULL, relay_main, NULL) != 0) return sf_err_internal(err, "cannot start the relay");
  relay.running = 1;
  return 0;
}

void sf_relay_stop(void) {
  if (!relay.running) return;
  pthread_mutex_lock(&relay.mu);
  relay.stopping = 1;
  pthread_cond_broadcast(&relay.cv);
  pthread_mutex_unlock(&relay.mu);
  pthread_join(relay.thread, NULL);
  relay.running = 0;
  atomic_store(&relay.state, ST_OFF);
  sf_log_info("nats relay stopped", "\"published_position\":%lld", (long long)atomic_load(&relay.published));
}
