#include "services/webhooks/webhooks.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
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
#include "events/attempts.h"
#include "events/outbound.h"
#include "events/store.h"
#include "events/timers.h"
#include "edge/edge.h"
#include "services/webhooks/guard.h"
#include "services/webhooks/internal.h"
#include "services/webhooks/repo.h"

#define DUE_TYPE "request.webhook_due"
#define MAX_BACKOFF_MS 3600000
#define TIMER_KIND WH_TIMER_REQUEST /* ref: the delivery id */
#define DEST "webhooks"             /* the outbound engine's destination */
#define LOG_LIMIT 1000              /* deliveries listed per request */

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

int64_t sf_webhooks_retry_delay_ms(int base_ms, int failed_attempts) {
  int64_t d = sf_webhooks_backoff_ms(base_ms, failed_attempts);
  uint64_t rnd;
  sf_random_bytes(&rnd, sizeof rnd);
  int64_t delay = d + (int64_t)(rnd % (uint64_t)(d + 1));
  return delay < MAX_BACKOFF_MS ? delay : MAX_BACKOFF_MS;
}

/* ---- module state: deliveries this process has in hand, and counters ---- */

typedef enum { OUT_STALE, OUT_DELIVERED, OUT_RETRY, OUT_DEAD } outcome;

/* One attempt of one row (events/attempts.h). */
typedef struct delivery {
  sf_attempt at; /* first: the table hands it back */
  int sub;       /* a subscription's delivery (webhook_sub_deliveries), else a workflow's */
  /* request_id: a workflow delivery's request, or a subscription delivery's
   * subscription: the stream its outcome events go to */
  char event_id[SF_ID_MAX], request_id[SF_ID_MAX];
  char event_type[128];
  char traceparent[SF_TRACEPARENT_LEN + 1]; /* of the request that queued it; "" = none */
  char *url, *body, *secret;                /* secret: a subscription's own (NULL: the process's) */
  size_t body_len;
  int attempts; /* recorded before this attempt */
  char lines[6][200];
  const char *headers[8];
  sf_webhooks_guard_ctx guard; /* the connect-time check (engine thread) */
  long status_code;
  int ok;
  char error[CURL_ERROR_SIZE];
  outcome result; /* set by the record command */
} delivery;

static const sf_attempts_ops k_ops;

static struct webhooks_state {
  sf_attempts attempts; /* the rows this process has in hand */
  int timeout_ms, max_attempts, backoff_ms, concurrency;
  char secret[256];
  _Atomic uint64_t delivered, dead, attempts_ok, attempts_failed;
} webhooks = {.attempts = SF_ATTEMPTS_INIT(&k_ops)};

static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }
static unsigned long long peek(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

static void clear(sf_attempt *a) {
  delivery *d = (delivery *)a;
  free(d->url);
  free(d->body);
  if (d->secret) sodium_memzero(d->secret, strlen(d->secret));
  free(d->secret);
  d->url = d->body = d->secret = NULL;
}

/* ---- the subscriber: one delivery row per request.webhook_due ---- */

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
  char id[SF_ID_MAX], trace[SF_TRACEPARENT_LEN + 1];
  sf_id_new("whd", id, sizeof id);
  delivery_trace(ev, trace);
  int rc = sf_webhooks_repo_insert_delivery(tx->db, id, ev->id, request_id, url, body, trace, tx->now_ms, err);
  if (rc < 0) return rc;
  /* the first attempt is a timer due now (none if the row was there already) */
  return rc ? sf_timer_set(tx, TIMER_KIND, id, tx->now_ms, err) : 0;
}

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
                                : sf_webhooks_repo_request_json(tx->db, request_id, &request, err);
  if (!rc) {
    char at[32];
    sf_time_iso8601(ev->at, at, sizeof at);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O}", "id", ev->id, "type", ev->type, "occurred_at", at,
                            "request", request, "trigger", trigger, "webhook", hook);
    char *body = sf_json_dump(doc, NULL);
    rc = insert_delivery(tx, ev, request_id, url, body, err);
    free(body);
    json_decref(doc);
  }
  json_decref(request);
  json_decref(trigger);
  json_decref(d);
  return rc;
}

static int sub_reset(sf_tx *tx, sf_err *err) {
  (void)tx;
  return sf_err_set(err, 409, "not-replayable", "Not replayable",
                    "webhooks is a delivery log, not a projection: replaying it would send old webhooks again");
}

const sf_subscriber sf_webhooks_subscriber = {
    .name = "webhooks", .apply = sub_apply, .reset = sub_reset, .types = DUE_TYPE};

/* ---- the timer: one attempt of a pending row ---- */

/* What the timer's transaction read of a row, to be sent once it commits
 * (strings borrowed; body and secret are taken). */
typedef struct {
  int sub;
  const char *event_id, *request_id, *event_type, *url, *traceparent;
  char *body, *secret;
  int attempts;
} staged_row;

/* Under the table's lock: the row as the timer's transaction read it. */
static void fill(sf_attempt *a, void *ud) {
  delivery *d = (delivery *)a;
  staged_row *row = ud;
  d->sub = row->sub;
  snprintf(d->event_id, sizeof d->event_id, "%s", row->event_id);
  snprintf(d->request_id, sizeof d->request_id, "%s", row->request_id ? row->request_id : "");
  snprintf(d->event_type, sizeof d->event_type, "%s", row->event_type);
  d->url = sf_strdup(row->url);
  d->body = row->body;
  d->body_len = strlen(row->body);
  d->secret = row->secret;
  row->body = row->secret = NULL;
  d->attempts = row->attempts;
  snprintf(d->traceparent, sizeof d->traceparent, "%s", row->traceparent ? row->traceparent : "");
}

/* Writer thread: stage the row unless its attempt is still out; the timer
 * becomes the attempt's lease. */
static int stage_and_lease(sf_tx *tx, const char *kind, const char *id, staged_row *row, sf_err *err) {
  return sf_attempts_stage(&webhooks.attempts, tx, kind, id, fill, row, err);
}

/* Writer thread, in the timer's savepoint. */
static int on_due(sf_tx *tx, const char *id, sf_err *err) {
  if (!sf_attempts_running(&webhooks.attempts)) /* not delivering here (a CLI run): sf_webhooks_start re-arms it */
    return sf_timer_set(tx, TIMER_KIND, id, tx->now_ms + SF_ATTEMPTS_SLACK_MS, err);
  sf_stmt *st = sf_webhooks_repo_pending_delivery(tx->db, id, err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  if (rc != 1) {
    sf_stmt_reset(st);
    return rc < 0 ? rc : 0; /* delivered or dead meanwhile */
  }
  staged_row row = {.event_id = sf_stmt_col_text(st, 0),
                    .request_id = sf_stmt_col_text(st, 1),
                    .event_type = DUE_TYPE,
                    .url = sf_stmt_col_text(st, 2),
                    .body = sf_strdup(sf_stmt_col_text(st, 3)),
                    .attempts = (int)sf_stmt_col_int(st, 4),
                    .traceparent = sf_stmt_col_text(st, 5)};
  rc = stage_and_lease(tx, TIMER_KIND, id, &row, err);
  sf_stmt_reset(st);
  free(row.body);
  return rc;
}

/* The envelope of a subscription delivery, built from the event at every
 * attempt (so the same bytes each time): {id, event: {id, type, stream,
 * position, data, at}, subscription_id}. */
typedef struct {
  const char *delivery_id, *sub_id;
  char *body;
} envelope;

static int envelope_of(const sf_event *ev, void *ud) {
  envelope *e = ud;
  char at[32];
  sf_time_iso8601(ev->at, at, sizeof at);
  json_t *data = json_loads(ev->data, 0, NULL);
  json_t *doc = json_pack("{s:s, s:{s:s, s:s, s:s, s:I, s:o, s:s}, s:s}", "id", e->delivery_id, "event", "id", ev->id,
                          "type", ev->type, "stream", ev->stream, "position", (json_int_t)ev->position, "data",
                          data ? data : json_object(), "at", at, "subscription_id", e->sub_id);
  e->body = sf_json_dump(doc, NULL);
  json_decref(doc);
  return 1;
}

/* Writer thread, in the timer's savepoint: one attempt of a subscription's
 * delivery, to the subscription's url now, signed with its secret now. */
static int on_due_sub(sf_tx *tx, const char *id, sf_err *err) {
  if (!sf_attempts_running(&webhooks.attempts))
    return sf_timer_set(tx, WH_TIMER_SUB, id, tx->now_ms + SF_ATTEMPTS_SLACK_MS, err);
  sf_stmt *st = sf_webhooks_repo_sub_pending(tx->db, id, err);
  if (!st) return -500;
  int rc = sf_stmt_step(st, err);
  if (rc != 1 || !sf_stmt_col_text(st, 5)) { /* done meanwhile; or its subscription is gone: drop it */
    int gone = rc == 1;
    sf_stmt_reset(st);
    return rc < 0 ? rc : gone ? sf_webhooks_repo_sub_delivery_drop(tx->db, id, err) : 0;
  }
  char sub_id[SF_ID_MAX];
  sf_stmt_col_copy(st, 0, sub_id, sizeof sub_id);
  envelope env = {.delivery_id = id, .sub_id = sub_id};
  int64_t position = sf_stmt_col_int(st, 2);
  staged_row row = {.sub = 1,
                    .event_id = sf_stmt_col_text(st, 1),
                    .event_type = sf_stmt_col_text(st, 3),
                    .request_id = sub_id, /* the stream of its attempt events */
                    .attempts = (int)sf_stmt_col_int(st, 4),
                    .url = sf_stmt_col_text(st, 5)};
  row.secret = sf_unseal(sf_edge_keyring(), sf_stmt_col_text(st, 6), sub_id, err);
  rc = row.secret ? sf_ev_read_all(tx->db, position - 1, 1, envelope_of, &env, err) : -500;
  if (rc == 0 && !env.body) rc = sf_err_internal(err, "the event of delivery %s is missing", id);
  row.body = env.body;
  if (rc == 0) rc = stage_and_lease(tx, WH_TIMER_SUB, id, &row, err);
  sf_stmt_reset(st);
  free(row.body);
  if (row.secret) sodium_memzero(row.secret, strlen(row.secret));
  free(row.secret);
  return rc;
}

void sf_webhooks_timers(void) {
  sf_timer_register(TIMER_KIND, on_due);
  sf_timer_register(WH_TIMER_SUB, on_due_sub);
}

/* ---- one attempt through the outbound engine ---- */

/* Engine thread, before the attempt: each attempt is a span of the queued trace. */
static void setup(sf_out_req *r, CURL *easy, struct curl_slist **headers, int attempt) {
  (void)attempt;
  delivery *d = (delivery *)r;
  sf_webhooks_guard_arm(easy, &d->guard, d->url); /* private destinations, redirects */
  char trace[SF_TRACEPARENT_LEN + 1], line[80];
  sf_trace_child(d->traceparent, trace);
  snprintf(line, sizeof line, "traceparent: %s", trace);
  if (!(*headers = curl_slist_append(*headers, line))) sf_oom();
}

/* Engine thread: what the receiver said. */
static void outcome_of(sf_attempt *a, sf_out_end end, const sf_out_attempt *at) {
  (void)end;
  delivery *d = (delivery *)a;
  d->status_code = at->status;
  d->ok = at->curl_code == 0 && at->status >= 200 && at->status < 300;
  d->error[0] = '\0';
  if (d->guard.why[0])
    snprintf(d->error, sizeof d->error, "%s", d->guard.why);
  else if (at->timed_out)
    snprintf(d->error, sizeof d->error, "no answer within %d ms", webhooks.timeout_ms);
  else if (at->curl_code)
    sf_attempts_clean_message(d->error, sizeof d->error, at->error);
  else if (!d->ok)
    snprintf(d->error, sizeof d->error, "HTTP %ld", d->status_code);
}

/* After the staging commit: the signed POST. */
static void prepare(sf_attempt *a) {
  delivery *d = (delivery *)a;
  char sig[SF_WEBHOOK_SIG_LEN];
  sf_webhooks_signature(d->secret ? d->secret : webhooks.secret, d->body, d->body_len, sig);
  snprintf(d->lines[0], sizeof d->lines[0], "X-ServiceFlow-Event: %s", d->event_id);
  snprintf(d->lines[1], sizeof d->lines[1], "X-ServiceFlow-Attempt: %d", d->attempts + 1);
  snprintf(d->lines[2], sizeof d->lines[2], "X-ServiceFlow-Signature: %s", sig);
  snprintf(d->lines[3], sizeof d->lines[3], "X-ServiceFlow-Delivery: %s", a->id);
  snprintf(d->lines[4], sizeof d->lines[4], "X-ServiceFlow-Event-Type: %s", d->event_type);
  snprintf(d->lines[5], sizeof d->lines[5], "X-ServiceFlow-Timestamp: %lld", (long long)(sf_now_ms() / 1000));
  d->headers[0] = "Content-Type: application/json";
  for (int i = 0; i < 6; i++) d->headers[i + 1] = d->lines[i];
  d->headers[7] = NULL;
  a->req = (sf_out_req){.dest = DEST,
                        .url = d->url,
                        .method = "POST",
                        .user_agent = "serviceflow-webhooks/1",
                        .headers = d->headers,
                        .body = d->body,
                        .body_len = d->body_len,
                        .timeout_ms = webhooks.timeout_ms,
                        .setup = setup};
}

/* ---- recording an outcome ---- */

static int record_events(sf_tx *tx, delivery *j, int attempts, sf_err *err) {
  if (j->result == OUT_DELIVERED)
    return sf_ev_emit(tx, NULL, "request", j->request_id, "request.webhook_delivered",
                      json_pack("{s:s, s:I, s:i, s:s}", "url", j->url, "status_code", (json_int_t)j->status_code,
                                "attempts", attempts, "event_id", j->event_id),
                      err);
  if (j->result == OUT_DEAD)
    return sf_ev_emit(tx, NULL, "request", j->request_id, "request.webhook_failed",
                      json_pack("{s:s, s:i, s:s, s:s}", "url", j->url, "attempts", attempts, "error", j->error,
                                "event_id", j->event_id),
                      err);
  return 0;
}

/* A subscription delivery's attempt, recorded in its subscription's stream
 * (webhook-<id>): the delivery log's live source (topic webhook_deliveries)
 * and its history. The fields are the delivery's as GET .../deliveries
 * shows them after this attempt, but `error` is this attempt's (null when it
 * succeeded), where the log's last_error keeps the last failure's. */
static int record_sub_event(sf_tx *tx, const delivery *j, const sf_webhooks_attempt *at, sf_err *err) {
  char next[32];
  sf_time_iso8601(at->next_at, next, sizeof next);
  json_t *data =
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o}", "subscription_id", j->request_id, "delivery_id",
                j->at.id, "event_id", j->event_id, "event_type", j->event_type, "status", at->status, "attempts",
                at->attempts, "last_status_code", at->last_status ? json_integer(at->last_status) : json_null(),
                "error", at->error ? json_string(at->error) : json_null(), "next_attempt_at",
                j->result == OUT_RETRY ? json_string(next) : json_null());
  return sf_ev_emit(tx, NULL, "webhook", j->request_id, WH_ATTEMPT_EVENT, data, err);
}

/* Writer thread. */
static int record(sf_attempt *a, sf_tx *tx, sf_err *err) {
  delivery *j = (delivery *)a;
  int attempts = j->attempts + 1;
  j->result = j->ok ? OUT_DELIVERED : attempts >= webhooks.max_attempts ? OUT_DEAD : OUT_RETRY;
  static const char *const k_status[] = {"", "delivered", "pending", "dead"};
  int64_t next_at =
      j->result == OUT_RETRY ? tx->now_ms + sf_webhooks_retry_delay_ms(webhooks.backoff_ms, attempts) : tx->now_ms;
  sf_webhooks_attempt at = {.id = a->id,
                            .seen = j->attempts,
                            .attempts = attempts,
                            .status = k_status[j->result],
                            .next_at = next_at,
                            .last_status = j->status_code,
                            .error = j->ok ? NULL : j->error};
  int rc = sf_webhooks_repo_record_attempt(tx->db, j->sub, &at, tx->now_ms, err);
  if (rc < 0) return rc;
  if (rc == 0) {
    j->result = OUT_STALE; /* recorded already (another process on the same data?) */
    return 0;
  }
  /* the lease becomes the next attempt, or goes */
  const char *kind = j->sub ? WH_TIMER_SUB : TIMER_KIND;
  rc = j->result == OUT_RETRY ? sf_timer_set(tx, kind, a->id, next_at, err) : sf_timer_cancel(tx, kind, a->id, err);
  if (rc) return rc;
  return j->sub ? record_sub_event(tx, j, &at, err) : record_events(tx, j, attempts, err);
}

/* Completion thread: count and log. */
static void recorded(sf_attempt *a, int rc, const sf_err *err) {
  delivery *j = (delivery *)a;
  if (rc == 0) {
    bump(j->ok ? &webhooks.attempts_ok : &webhooks.attempts_failed);
    if (j->result == OUT_DELIVERED) bump(&webhooks.delivered);
    if (j->result == OUT_DEAD) {
      bump(&webhooks.dead);
      sf_log_warn("webhook dead", "\"event_id\":\"%s\",\"attempts\":%d,\"error\":\"%s\"", j->event_id, j->attempts + 1,
                  j->error);
    }
  } else {
    sf_log_error("webhook outcome not recorded", "\"event_id\":\"%s\",\"detail\":\"%s\"", j->event_id, err->detail);
  }
}

static const sf_attempts_ops k_ops = {.size = sizeof(delivery),
                                      .clear = clear,
                                      .prepare = prepare,
                                      .outcome = outcome_of,
                                      .record = record,
                                      .recorded = recorded};

/* ---- start and stop ---- */

static void collect(sf_buf *b) {
  int in_flight = sf_attempts_in_flight(&webhooks.attempts);
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
                peek(&webhooks.delivered), peek(&webhooks.dead), peek(&webhooks.attempts_ok),
                peek(&webhooks.attempts_failed), in_flight);
}

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static void metrics_init(void) { sf_metrics_add_collector(collect); }

/* Rows left pending by the last run (an attempt cut short by a crash or a
 * stop, or rows from before timers carried deliveries) get their timer now:
 * due ones at once, the others when they are due. */
typedef struct {
  sf_cmd cmd;
  int armed;
} rearm_cmd;

static int rearm_run(sf_cmd *c, sf_tx *tx, sf_err *err) {
  rearm_cmd *a = (rearm_cmd *)c;
  a->armed = 0;
  int n = sf_attempts_rearm(tx, sf_webhooks_repo_pending_all(tx->db, err), TIMER_KIND, err);
  int m = n < 0 ? n : sf_attempts_rearm(tx, sf_webhooks_repo_sub_pending_all(tx->db, err), WH_TIMER_SUB, err);
  if (m < 0) return m;
  a->armed = n + m;
  return 0;
}

static void rearm_done(sf_cmd *c, int rc) { (void)c, (void)rc; }

int sf_webhooks_start(const sf_config *cfg, const char *secret, sf_err *err) {
  if (sf_attempts_running(&webhooks.attempts)) return sf_err_internal(err, "webhook delivery is already running");
  if (sf_webhooks_guard_configure(cfg->webhook_allow, err)) return -1;
  if (sf_out_start(err)) return -1;
  pthread_once(&metrics_once, metrics_init);
  snprintf(webhooks.secret, sizeof webhooks.secret, "%s", secret);
  webhooks.timeout_ms = cfg->webhook_timeout_ms;
  webhooks.max_attempts = cfg->webhook_max_attempts > 0 ? cfg->webhook_max_attempts : 1;
  webhooks.backoff_ms = cfg->webhook_backoff_ms;
  webhooks.concurrency = cfg->webhook_concurrency > 0 ? cfg->webhook_concurrency : 1;
  /* no breaker: a receiver's failures are its deliveries' attempts, counted and retried by the row */
  sf_out_dest_set(DEST, &(sf_out_dest_cfg){.max_in_flight = webhooks.concurrency});
  sf_attempts_start(&webhooks.attempts, webhooks.timeout_ms);
  rearm_cmd a = {.cmd = {.run = rearm_run, .done = rearm_done, .retry_storage = 1}};
  if (sf_writer_exec(&a.cmd))
    sf_log_error("webhook rows not re-armed", "\"detail\":\"%s\"", a.cmd.err.detail); /* their leases remain */
  sf_log_info("webhook delivery ready",
              "\"timeout_ms\":%d,\"max_attempts\":%d,\"backoff_ms\":%d,\"concurrency\":%d,\"pending\":%d",
              webhooks.timeout_ms, webhooks.max_attempts, webhooks.backoff_ms, webhooks.concurrency, a.armed);
  return 0;
}

void sf_webhooks_stop(void) {
  if (!sf_attempts_running(&webhooks.attempts)) return;
  sf_attempts_stop(&webhooks.attempts);
  sf_out_stop(0);
  sodium_memzero(webhooks.secret, sizeof webhooks.secret);
}

/* ---- resend: a new attempt sequence ---- */

int wh_resend(sf_tx *tx, const char *id, sf_err *err) {
  int sub = strncmp(id, WH_SUB_PREFIX "_", 4) == 0;
  if (!sub && strncmp(id, "whd_", 4) != 0) return -404;
  int rc = sf_webhooks_repo_restart(tx->db, sub, id, tx->now_ms, err);
  if (rc == 1) return sf_timer_set(tx, sub ? WH_TIMER_SUB : TIMER_KIND, id, tx->now_ms, err) ? -500 : 1;
  if (rc < 0) return rc;
  rc = sf_webhooks_repo_delivery_exists(tx->db, sub, id, err);
  return rc < 0 ? rc : rc ? 0 : -404;
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
  int rc = db ? sf_webhooks_repo_request_exists(db, id, &err) : -500;
  if (rc == 0) sf_err_not_found(&err, "request");
  sf_stmt *st = rc == 1 ? sf_webhooks_repo_list(db, id, LOG_LIMIT, &err) : NULL;
  if (!st) {
    sf_req_reply_problem(req, &err);
    return;
  }
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
    json_t *item = json_array_get(data, json_array_size(data) - 1);
    json_object_set_new(item, "last_status_code",
                        sf_stmt_col_is_null(st, 9) ? json_null() : json_integer(sf_stmt_col_int(st, 9)));
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
      "next attempt, last status code, last error (send one again: POST /api/v1/webhooks/deliveries/{id}/resend)",
      NULL,
      "{\"type\":\"object\",\"required\":[\"data\"],\"properties\":{\"data\":{\"type\":\"array\",\"items\":{"
      "\"type\":\"object\",\"required\":[\"id\",\"event_id\",\"url\",\"status\",\"attempts\"],\"properties\":{"
      "\"id\":{\"type\":\"string\"},\"event_id\":{\"type\":\"string\"},\"url\":{\"type\":\"string\"},"
      "\"status\":{\"enum\":[\"pending\",\"delivered\",\"dead\"]},\"attempts\":{\"type\":\"integer\"},"
      "\"next_attempt_at\":{\"type\":[\"string\",\"null\"]},\"last_error\":{\"type\":[\"string\",\"null\"]},"
      "\"last_status_code\":{\"type\":[\"integer\",\"null\"]},\"created_at\":{\"type\":\"string\"},\"updated_at\":{"
      "\"type\":\"string\"}}}},"
      "\"next_cursor\":{\"type\":\"null\"}}}",
      200,
      0};
  sf_router_add(&route);
}
