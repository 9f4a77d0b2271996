#define _GNU_SOURCE /* pthread_setname_np */
#include "services/requests/webhooks.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "core/util.h"
#include "edge/command.h"
#include "events/store.h"

#define DUE_TYPE "request.webhook_due"
#define MAX_BACKOFF_MS 3600000
#define IDLE_POLL_MS 1000   /* a scan now and then, should a wakeup be missed */
#define CONNECT_CAP_MS 3000 /* a dead host shows in the connect phase */
#define LOG_LIMIT 1000      /* deliveries listed per request */

void sf_webhooks_signature(const char *secret, const void *body, size_t len, char out[SF_WEBHOOK_SIG_LEN]) {
  crypto_auth_hmacsha256_state st;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
  crypto_auth_hmacsha256_update(&st, body, len);
  crypto_auth_hmacsha256_final(&st, mac);
  memcpy(out, "sha256=", 7);
  sf_hex_encode(mac, sizeof mac, out + 7);
}

int64_t sf_webhooks_backoff_ms(int base_ms, int failed_attempts) {
  int64_t d = base_ms > 0 ? base_ms : 1;
  for (int i = 1; i < failed_attempts && d < MAX_BACKOFF_MS; i++) d *= 2;
  return d < MAX_BACKOFF_MS ? d : MAX_BACKOFF_MS;
}

/* ---- process-wide state: the delivery thread and its counters ---- */

typedef enum { JOB_FREE, JOB_FLIGHT, JOB_RECORDING } job_state;
typedef enum { OUT_STALE, OUT_DELIVERED, OUT_RETRY, OUT_DEAD } outcome;

/* One delivery slot. A row stays in its slot from the start of an attempt
 * until the attempt's outcome has committed, so a scan never picks a row
 * twice. cmd comes first: the record command is the job. */
typedef struct job {
  sf_cmd cmd;
  job_state state;
  char id[48], event_id[48], request_id[48];
  char traceparent[SF_TRACEPARENT_LEN + 1]; /* of the request that queued it; "" = none */
  char *url, *body;
  size_t body_len;
  int attempts; /* recorded before this attempt */
  CURL *easy;   /* kept between attempts; the connections live in the multi handle */
  struct curl_slist *headers;
  char errbuf[CURL_ERROR_SIZE];
  long status_code;
  int ok;
  char error[CURL_ERROR_SIZE];
  outcome result; /* set by the record command */
  struct job *next_recorded;
} job;

static struct {
  pthread_t thread;
  int running;
  _Atomic int stopping, dirty; /* dirty: rows may have become due, scan now */
  pthread_mutex_t mu;          /* guards multi against wakeups during cleanup, and recorded */
  CURLM *multi;
  job *recorded; /* jobs whose outcome command finished, handed back by the completion thread */
  job *jobs;
  int njobs;
  int timeout_ms, connect_ms, max_attempts, backoff_ms;
  char secret[256];
  _Atomic uint64_t delivered, dead, attempts_ok, attempts_failed;
  _Atomic int in_flight;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }
static unsigned long long peek(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

/* Any thread: new rows or a freed slot; the thread scans at once. */
static void wake(void) {
  atomic_store(&H.dirty, 1);
  pthread_mutex_lock(&H.mu);
  if (H.multi) curl_multi_wakeup(H.multi);
  pthread_mutex_unlock(&H.mu);
}

static void wake_hook(void *ud, const char *key) {
  (void)ud, (void)key;
  wake();
}

/* ---- the subscriber: one delivery row per request.webhook_due ---- */

/* The request's row: the body of a request.webhook_due recorded before the
 * engine put its snapshot in the event (it may have moved on since). */
static int request_json(sf_db *db, const char *id, json_t **out, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT r.type, r.title, r.state, r.data, r.version, r.workflow_id, w.version"
                              " FROM service_requests r LEFT JOIN workflows w ON w.id = r.workflow_id WHERE r.id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    json_t *data = json_loads(sf_stmt_col_text(st, 3), 0, NULL);
    *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:{s:s, s:I}}", "id", id, "type", sf_stmt_col_text(st, 0), "title",
                     sf_stmt_col_text(st, 1), "state", sf_stmt_col_text(st, 2), "data", data ? data : json_object(),
                     "version", (json_int_t)sf_stmt_col_int(st, 4), "workflow", "id", sf_stmt_col_text(st, 5),
                     "version", (json_int_t)sf_stmt_col_int(st, 6));
  } else if (rc == 0) {
    *out = json_pack("{s:s}", "id", id); /* not expected: requests are never deleted */
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

/* The trace the delivery continues: the one of the request that caused the
 * event, or (a timer's event) a new one, kept for every attempt. */
static void delivery_trace(const sf_event *ev, char out[SF_TRACEPARENT_LEN + 1]) {
  json_t *meta = ev->meta ? json_loads(ev->meta, 0, NULL) : NULL;
  const char *tp = sf_json_str(meta, "traceparent");
  if (sf_trace_valid(tp))
    snprintf(out, SF_TRACEPARENT_LEN + 1, "%s", tp);
  else
    sf_trace_child(NULL, out);
  json_decref(meta);
}

static int insert_delivery(sf_tx *tx, const sf_event *ev, const char *request_id, const char *url, const char *body,
                           sf_err *err) {
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO webhook_deliveries(id, event_id, request_id, url, body, status, attempts,"
                              " next_at, created_at, updated_at, traceparent)"
                              " VALUES(?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6, ?7)"
                              " ON CONFLICT(event_id) DO NOTHING",
                              err);
  if (!st) return -500;
  char id[SF_ID_MAX];
  sf_id_new("whd", id, sizeof id);
  sf_stmt_text(st, 1, id);
  sf_stmt_text(st, 2, ev->id);
  sf_stmt_text(st, 3, request_id);
  sf_stmt_text(st, 4, url);
  sf_stmt_text(st, 5, body);
  sf_stmt_int(st, 6, tx->now_ms);
  char trace[SF_TRACEPARENT_LEN + 1];
  delivery_trace(ev, trace);
  sf_stmt_text(st, 7, trace);
  return sf_stmt_run(st, err);
}

static int g_queued; /* rows inserted in this batch (writer thread only) */

static int sub_apply(sf_tx *tx, const sf_event *ev, sf_err *err) {
  if (strcmp(ev->type, DUE_TYPE) != 0 || strncmp(ev->stream, "request-", 8) != 0) return 0;
  const char *request_id = ev->stream + 8;
  json_t *d = json_loads(ev->data, 0, NULL);
  json_t *hook = json_object_get(d, "webhook");
  const char *url = sf_json_str(hook, "url");
  const char *state = sf_json_str(d, "state");
  if (!url || !state || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
    /* definitions are validated on publish: nothing sensible to send */
    sf_log_warn("webhook skipped", "\"event_id\":\"%s\",\"reason\":\"no http(s) url or state\"", ev->id);
    json_decref(d);
    return 0;
  }
  json_t *request = NULL;
  /* what ran the action, as the engine recorded it with the event */
  json_t *trigger = json_pack("{s:s, s:O?, s:O?}", "state", state, "on", json_object_get(d, "on"), "transition",
                              json_object_get(d, "transition"));
  /* the request as the engine saw it when it ran the action; events
   * recorded before snapshots existed fall back to the row */
  const json_t *snap = json_object_get(d, "request");
  int rc = json_is_object(snap) ? (request = json_incref((json_t *)snap), 0)
                                : request_json(tx->db, request_id, &request, err);
  if (!rc) {
    char at[32];
    sf_time_iso8601(ev->at, at, sizeof at);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O}", "id", ev->id, "type", ev->type, "occurred_at", at,
                            "request", request, "trigger", trigger, "webhook", hook);
    char *body = sf_json_dump(doc, NULL);
    rc = insert_delivery(tx, ev, request_id, url, body, err);
    free(body);
    json_decref(doc);
    if (!rc) g_queued++;
  }
  json_decref(request);
  json_decref(trigger);
  json_decref(d);
  return rc;
}

/* Once per batch: wake the delivery thread when the rows are visible. */
static int sub_flush(sf_tx *tx, sf_err *err) {
  (void)err;
  if (g_queued) sf_tx_after_commit(tx, wake_hook, NULL, "webhooks");
  g_queued = 0;
  return 0;
}

static int sub_reset(sf_tx *tx, sf_err *err) {
  (void)tx;
  return sf_err_set(err, 409, "not-replayable", "Not replayable",
                    "webhooks is a delivery log, not a projection: replaying it would send old webhooks again");
}

const sf_subscriber sf_webhooks_subscriber = {
    .name = "webhooks", .apply = sub_apply, .reset = sub_reset, .flush = sub_flush, .types = DUE_TYPE};

/* ---- recording an outcome: a writer command ---- */

static int record_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  job *j = (job *)c;
  int attempts = j->attempts + 1;
  j->result = j->ok ? OUT_DELIVERED : attempts >= H.max_attempts ? OUT_DEAD : OUT_RETRY;
  static const char *const k_status[] = {"", "delivered", "pending", "dead"};
  int64_t next_at = j->result == OUT_RETRY ? tx->now_ms + sf_webhooks_backoff_ms(H.backoff_ms, attempts) : tx->now_ms;
  sf_stmt *st = sf_db_prepare(tx->db,
                              "UPDATE webhook_deliveries SET status = ?1, attempts = ?2, next_at = ?3,"
                              " last_error = coalesce(?4, last_error), updated_at = ?5"
                              " WHERE id = ?6 AND status = 'pending' AND attempts = ?7",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, k_status[j->result]);
  sf_stmt_int(st, 2, attempts);
  sf_stmt_int(st, 3, next_at);
  sf_stmt_text(st, 4, j->ok ? NULL : j->error);
  sf_stmt_int(st, 5, tx->now_ms);
  sf_stmt_text(st, 6, j->id);
  sf_stmt_int(st, 7, j->attempts);
  int rc = sf_stmt_run(st, err);
  if (rc) return rc;
  if (sf_db_changes(tx->db) == 0) {
    j->result = OUT_STALE; /* recorded already (another process on the same data?) */
    return 0;
  }
  if (j->result == OUT_DELIVERED)
    return sf_req_event(tx, NULL, "request", j->request_id, "request.webhook_delivered",
                        json_pack("{s:s, s:I, s:i, s:s}", "url", j->url, "status_code", (json_int_t)j->status_code,
                                  "attempts", attempts, "event_id", j->event_id),
                        err);
  if (j->result == OUT_DEAD)
    return sf_req_event(tx, NULL, "request", j->request_id, "request.webhook_failed",
                        json_pack("{s:s, s:i, s:s, s:s}", "url", j->url, "attempts", attempts, "error", j->error,
                                  "event_id", j->event_id),
                        err);
  return 0;
}

/* Completion thread: count, then hand the slot back to the delivery thread. */
static void record_done(sf_cmd *c, int rc) {
  job *j = (job *)c;
  if (rc == 0) {
    bump(j->ok ? &H.attempts_ok : &H.attempts_failed);
    if (j->result == OUT_DELIVERED) bump(&H.delivered);
    if (j->result == OUT_DEAD) {
      bump(&H.dead);
      sf_log_warn("webhook dead", "\"event_id\":\"%s\",\"attempts\":%d,\"error\":\"%s\"", j->event_id, j->attempts + 1,
                  j->error);
    }
  } else {
    sf_log_error("webhook outcome not recorded", "\"event_id\":\"%s\",\"detail\":\"%s\"", j->event_id, c->err.detail);
  }
  pthread_mutex_lock(&H.mu);
  j->next_recorded = H.recorded;
  H.recorded = j;
  pthread_mutex_unlock(&H.mu);
  wake();
}

/* ---- the delivery thread ---- */

static void release(job *j) {
  free(j->url);
  free(j->body);
  j->url = j->body = NULL;
  j->state = JOB_FREE;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ud) {
  (void)p, (void)ud;
  return size * nmemb;
}

static void start(job *j) {
  if (!j->easy && !(j->easy = curl_easy_init())) sf_oom();
  CURL *e = j->easy;
  curl_easy_reset(e);
  char line[160], sig[SF_WEBHOOK_SIG_LEN];
  sf_webhooks_signature(H.secret, j->body, j->body_len, sig);
  j->headers = curl_slist_append(NULL, "Content-Type: application/json");
  snprintf(line, sizeof line, "X-ServiceFlow-Event: %s", j->event_id);
  j->headers = curl_slist_append(j->headers, line);
  snprintf(line, sizeof line, "X-ServiceFlow-Attempt: %d", j->attempts + 1);
  j->headers = curl_slist_append(j->headers, line);
  snprintf(line, sizeof line, "X-ServiceFlow-Signature: %s", sig);
  j->headers = curl_slist_append(j->headers, line);
  j->headers = curl_slist_append(j->headers, "Expect:"); /* no 100-continue round trip */
  char trace[SF_TRACEPARENT_LEN + 1];
  sf_trace_child(j->traceparent, trace); /* each attempt is a span of the queued trace */
  snprintf(line, sizeof line, "traceparent: %s", trace);
  j->headers = curl_slist_append(j->headers, line);
  if (!j->headers) sf_oom();
  j->errbuf[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, j->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)j->body_len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "serviceflow-webhooks/1");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, j);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)H.timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)H.connect_ms);
  /* timeouts without SIGALRM: the process is multithreaded */
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  if (curl_multi_add_handle(H.multi, e) != CURLM_OK) sf_oom(); /* only fails on misuse or memory */
  j->state = JOB_FLIGHT;
  atomic_fetch_add(&H.in_flight, 1);
}

static int busy(const char *id) {
  for (int i = 0; i < H.njobs; i++)
    if (H.jobs[i].state != JOB_FREE && strcmp(H.jobs[i].id, id) == 0) return 1;
  return 0;
}

static job *free_slot(void) {
  for (int i = 0; i < H.njobs; i++)
    if (H.jobs[i].state == JOB_FREE) return &H.jobs[i];
  return NULL;
}

/* Starts due rows in the free slots; returns when to scan next (wall ms). */
static int64_t scan(int64_t now) {
  int64_t next = now + IDLE_POLL_MS;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int nfree = 0;
  for (int i = 0; i < H.njobs; i++) nfree += H.jobs[i].state == JOB_FREE;
  sf_stmt *st =
      !db || !nfree
          ? NULL
          : sf_db_prepare(db,
                          "SELECT id, event_id, request_id, url, body, attempts, traceparent FROM webhook_deliveries"
                          " WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
                          &err);
  int rc = 0, synced = 0;
  if (st) {
    sf_stmt_int(st, 1, now);
    sf_stmt_int(st, 2, H.njobs); /* the busy ones may come first */
    job *j;
    while ((j = free_slot()) && (rc = sf_stmt_step(st, &err)) == 1) {
      if (busy(sf_stmt_col_text(st, 0))) continue;
      if (!synced) { /* send only what is on disk (the rows come from one snapshot) */
        sf_writer_barrier();
        synced = 1;
      }
      snprintf(j->id, sizeof j->id, "%s", sf_stmt_col_text(st, 0));
      snprintf(j->event_id, sizeof j->event_id, "%s", sf_stmt_col_text(st, 1));
      snprintf(j->request_id, sizeof j->request_id, "%s", sf_stmt_col_text(st, 2));
      j->url = sf_strdup(sf_stmt_col_text(st, 3));
      j->body_len = (size_t)sf_stmt_col_len(st, 4);
      j->body = sf_strdup(sf_stmt_col_text(st, 4));
      j->attempts = (int)sf_stmt_col_int(st, 5);
      snprintf(j->traceparent, sizeof j->traceparent, "%s", sf_stmt_col_text(st, 6) ? sf_stmt_col_text(st, 6) : "");
      start(j);
    }
    sf_stmt_reset(st);
  }
  st = db && rc >= 0
           ? sf_db_prepare(db, "SELECT min(next_at) FROM webhook_deliveries WHERE status = 'pending' AND next_at > ?",
                           &err)
           : NULL;
  if (st) {
    sf_stmt_int(st, 1, now);
    if ((rc = sf_stmt_step(st, &err)) == 1 && !sf_stmt_col_is_null(st, 0) && sf_stmt_col_int(st, 0) < next)
      next = sf_stmt_col_int(st, 0);
    sf_stmt_reset(st);
  }
  if (!db || rc < 0) sf_log_error("webhook scan failed", "\"detail\":\"%s\"", err.detail);
  return next;
}

/* curl's text ends up in events and in log lines written as JSON fragments:
 * keep it printable and free of JSON metacharacters. */
static void clean_message(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src);
  for (char *p = dst; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = ' ';
}

/* Finished transfers become outcome commands. */
static void reap(void) {
  CURLMsg *m;
  int queued;
  while ((m = curl_multi_info_read(H.multi, &queued))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURLcode res = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
    job *j = (job *)priv;
    j->status_code = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status_code);
    curl_multi_remove_handle(H.multi, j->easy);
    curl_slist_free_all(j->headers);
    j->headers = NULL;
    atomic_fetch_sub(&H.in_flight, 1);
    j->ok = res == CURLE_OK && j->status_code >= 200 && j->status_code < 300;
    j->error[0] = '\0';
    if (res == CURLE_OPERATION_TIMEDOUT)
      snprintf(j->error, sizeof j->error, "no answer within %d ms", H.timeout_ms);
    else if (res != CURLE_OK)
      clean_message(j->error, sizeof j->error, j->errbuf[0] ? j->errbuf : curl_easy_strerror(res));
    else if (!j->ok)
      snprintf(j->error, sizeof j->error, "HTTP %ld", j->status_code);
    j->cmd = (sf_cmd){.run = record_run, .done = record_done, .retry_storage = 1}; /* sent: record it */
    j->state = JOB_RECORDING;
    if (sf_writer_submit(&j->cmd)) release(j); /* shutting down: the row stays pending */
  }
}

static int take_recorded(void) {
  pthread_mutex_lock(&H.mu);
  job *list = H.recorded;
  H.recorded = NULL;
  pthread_mutex_unlock(&H.mu);
  int n = 0;
  for (job *j = list, *next; j; j = next, n++) {
    next = j->next_recorded;
    release(j);
  }
  return n;
}

static void *deliver_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-webhooks");
  int64_t next_scan = 0;
  while (!atomic_load(&H.stopping)) {
    take_recorded();
    int64_t now = sf_now_ms();
    if (atomic_exchange(&H.dirty, 0) || now >= next_scan) next_scan = scan(now);
    int running;
    curl_multi_perform(H.multi, &running);
    reap();
    int64_t wait = next_scan - sf_now_ms();
    if (wait > IDLE_POLL_MS) wait = IDLE_POLL_MS;
    /* returns early for socket activity, curl's own timers and wake() */
    if (wait > 0 && !atomic_load(&H.dirty)) curl_multi_poll(H.multi, NULL, 0, (int)wait, NULL);
  }
  /* Stop: attempts in flight are dropped unrecorded (sent again after the
   * restart); outcomes already submitted are waited for. */
  for (int i = 0; i < H.njobs; i++)
    if (H.jobs[i].state == JOB_FLIGHT) {
#if LIBCURL_VERSION_NUM >= 0x075700
      /* do not wait for a host name lookup still running in curl's resolver thread */
      curl_easy_setopt(H.jobs[i].easy, CURLOPT_QUICK_EXIT, 1L);
#endif
      curl_multi_remove_handle(H.multi, H.jobs[i].easy);
      curl_slist_free_all(H.jobs[i].headers);
      H.jobs[i].headers = NULL;
      atomic_fetch_sub(&H.in_flight, 1);
      release(&H.jobs[i]);
    }
  for (;;) {
    take_recorded();
    int recording = 0;
    for (int i = 0; i < H.njobs; i++) recording += H.jobs[i].state == JOB_RECORDING;
    if (!recording) break;
    curl_multi_poll(H.multi, NULL, 0, 100, NULL);
  }
  return NULL;
}

static void collect(sf_buf *b) {
  sf_buf_printf(b,
                "# HELP sf_webhook_deliveries_total Webhook deliveries by final outcome (dead = webhook_max_attempts"
                " failed).\n# TYPE sf_webhook_deliveries_total counter\n"
                "sf_webhook_deliveries_total{outcome=\"delivered\"} %llu\n"
                "sf_webhook_deliveries_total{outcome=\"dead\"} %llu\n"
                "# HELP sf_webhook_attempts_total Webhook POSTs with a recorded outcome (ok = a 2xx answer).\n"
                "# TYPE sf_webhook_attempts_total counter\n"
                "sf_webhook_attempts_total{result=\"ok\"} %llu\n"
                "sf_webhook_attempts_total{result=\"failed\"} %llu\n"
                "# HELP sf_webhook_in_flight Webhook POSTs in flight.\n# TYPE sf_webhook_in_flight gauge\n"
                "sf_webhook_in_flight %d\n",
                peek(&H.delivered), peek(&H.dead), peek(&H.attempts_ok), peek(&H.attempts_failed),
                atomic_load(&H.in_flight));
}

/* curl_global_init is not thread-safe on every libcurl build and the
 * collector list only grows: both once per process. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc;

static void process_init(void) {
  g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  sf_metrics_add_collector(collect);
}

int sf_webhooks_start(const sf_config *cfg, const char *secret, sf_err *err) {
  if (H.running) return sf_err_internal(err, "webhook delivery is already running");
  pthread_once(&g_once, process_init);
  if (g_init_rc != CURLE_OK)
    return sf_err_internal(err, "libcurl initialisation failed: %s", curl_easy_strerror(g_init_rc));
  snprintf(H.secret, sizeof H.secret, "%s", secret);
  H.timeout_ms = cfg->webhook_timeout_ms;
  H.connect_ms = cfg->webhook_timeout_ms < CONNECT_CAP_MS ? cfg->webhook_timeout_ms : CONNECT_CAP_MS;
  H.max_attempts = cfg->webhook_max_attempts > 0 ? cfg->webhook_max_attempts : 1;
  H.backoff_ms = cfg->webhook_backoff_ms;
  H.njobs = cfg->webhook_concurrency > 0 ? cfg->webhook_concurrency : 1;
  H.jobs = sf_calloc((size_t)H.njobs, sizeof *H.jobs);
  CURLM *multi = curl_multi_init();
  if (!multi) sf_oom();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)H.njobs);
  pthread_mutex_lock(&H.mu);
  H.multi = multi;
  H.recorded = NULL;
  pthread_mutex_unlock(&H.mu);
  atomic_store(&H.stopping, 0);
  atomic_store(&H.dirty, 1); /* pending rows from before the restart */
  if (pthread_create(&H.thread, NULL, deliver_main, NULL) != 0) {
    sf_webhooks_stop();
    return sf_err_internal(err, "cannot start the webhook thread");
  }
  H.running = 1;
  sf_log_info("webhook delivery ready", "\"timeout_ms\":%d,\"max_attempts\":%d,\"backoff_ms\":%d,\"concurrency\":%d",
              H.timeout_ms, H.max_attempts, H.backoff_ms, H.njobs);
  return 0;
}

void sf_webhooks_stop(void) {
  if (H.running) {
    atomic_store(&H.stopping, 1);
    wake();
    pthread_join(H.thread, NULL);
    H.running = 0;
  }
  pthread_mutex_lock(&H.mu);
  CURLM *multi = H.multi;
  H.multi = NULL;
  pthread_mutex_unlock(&H.mu);
  for (int i = 0; i < H.njobs; i++)
    if (H.jobs[i].easy) curl_easy_cleanup(H.jobs[i].easy);
  if (multi) curl_multi_cleanup(multi);
  free(H.jobs);
  H.jobs = NULL;
  H.njobs = 0;
  sodium_memzero(H.secret, sizeof H.secret);
}

/* ---- GET /api/v1/requests/{id}/webhooks ---- */

static json_t *iso_or_null(int64_t ms, int present) {
  if (!present) return json_null();
  char t[32];
  sf_time_iso8601(ms, t, sizeof t);
  return json_string(t);
}

static void h_list(sf_req *req) {
  sf_err err = {0};
  const char *id = sf_req_param(req, "id");
  sf_db *db = sf_db_reader(&err);
  sf_stmt *st = db ? sf_db_prepare(db, "SELECT 1 FROM service_requests WHERE id = ?", &err) : NULL;
  int rc = -500;
  if (st) {
    sf_stmt_text(st, 1, id);
    rc = sf_stmt_step(st, &err);
    sf_stmt_reset(st);
  }
  if (rc == 0) sf_err_not_found(&err, "request");
  st = rc == 1 ? sf_db_prepare(db,
                               "SELECT id, event_id, url, status, attempts, next_at, last_error, created_at, updated_at"
                               " FROM webhook_deliveries WHERE request_id = ? ORDER BY created_at, id LIMIT ?",
                               &err)
               : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_stmt_text(st, 1, id);
  sf_stmt_int(st, 2, LOG_LIMIT);
  json_t *data = json_array();
  while ((rc = sf_stmt_step(st, &err)) == 1) {
    int pending = strcmp(sf_stmt_col_text(st, 3), "pending") == 0;
    const char *last = sf_stmt_col_text(st, 6);
    json_array_append_new(
        data, json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "id", sf_stmt_col_text(st, 0), "event_id",
                        sf_stmt_col_text(st, 1), "url", sf_stmt_col_text(st, 2), "status", sf_stmt_col_text(st, 3),
                        "attempts", (json_int_t)sf_stmt_col_int(st, 4), "next_attempt_at",
                        iso_or_null(sf_stmt_col_int(st, 5), pending), "last_error",
                        last ? json_string(last) : json_null(), "created_at", iso_or_null(sf_stmt_col_int(st, 7), 1),
                        "updated_at", iso_or_null(sf_stmt_col_int(st, 8), 1)));
  }
  sf_stmt_reset(st);
  if (rc < 0) {
    json_decref(data);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_reply_json(req, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
}

void sf_webhooks_routes(void) {
  static const sf_route route = {
      "GET",
      "/api/v1/requests/{id}/webhooks",
      h_list,
      SF_AUTH_PERMISSION,
      "workflows:read",
      0,
      "requests",
      "The request's webhook deliveries (oldest first, at most 1,000): status pending/delivered/dead, attempts, "
      "next attempt, last error",
      NULL,
      "{\"type\":\"object\",\"required\":[\"data\"],\"properties\":{\"data\":{\"type\":\"array\",\"items\":{"
      "\"type\":\"object\",\"required\":[\"id\",\"event_id\",\"url\",\"status\",\"attempts\"],\"properties\":{"
      "\"id\":{\"type\":\"string\"},\"event_id\":{\"type\":\"string\"},\"url\":{\"type\":\"string\"},"
      "\"status\":{\"enum\":[\"pending\",\"delivered\",\"dead\"]},\"attempts\":{\"type\":\"integer\"},"
      "\"next_attempt_at\":{\"type\":[\"string\",\"null\"]},\"last_error\":{\"type\":[\"string\",\"null\"]},"
      "\"created_at\":{\"type\":\"string\"},\"updated_at\":{\"type\":\"string\"}}}},"
      "\"next_cursor\":{\"type\":\"null\"}}}",
      200,
      0};
  sf_router_add(&route);
}
