/* The http payment provider: an external payment API called through the
 * outbound engine, behind retries and a circuit breaker.
 *
 * The calls go through the outbound engine (events/outbound.h), destination
 * "payments": it runs the attempts, the retries and the breaker; this file
 * says what to send and how to read the answers, and run() waits on a
 * condition variable until the engine thread has ended every call of the
 * batch.
 *
 * Wire protocol (docs/payments-http.md has the long form). One request per
 * operation:
 *
 *   POST {payment_url}/v1/authorize | /v1/capture | /v1/void | /v1/refund
 *   Content-Type: application/json
 *   Idempotency-Key: <op key>     (same key -> same answer; money moves once)
 *   traceparent: 00-<trace>-<span>-<flags>  (W3C: the order's request's trace,
 *                                 a new span per attempt)
 *
 *   authorize  {"amount":1250,"currency":"EUR","card_number":"4242424242424242"}
 *   capture    {"amount":1250,"currency":"EUR","authorization":"auth_…"}
 *   void       {"currency":"EUR","authorization":"auth_…","authorize_key":"ord_…:authorize"}
 *              ("authorization" left out when the saga never learnt it: the
 *              provider voids by the authorize's key, payments.h)
 *   refund     {"amount":500,"currency":"EUR","authorization":"auth_…"}
 *
 * Answers:
 *   200/201 {"status":"ok","authorization":"auth_…"}  ok (authorize takes the ref)
 *   402 {"status":"declined"}                         declined
 *   402 {"status":"insufficient_funds"}               insufficient funds
 *   any other 4xx (but 408, 429)                      declined, the body's "message" kept
 *   5xx, 408, 429, timeout, refused or reset
 *   connection, a 2xx we cannot read                  transient: retried here
 *
 * Retries: a transient attempt is retried up to payment_retries times after a
 * delay drawn from [0, payment_backoff_ms * 2^retry] (full jitter, capped at
 * 10 s), so that many sagas hitting a sick provider do not retry in lockstep.
 * Each operation keeps its own "not before" time: one slow retry never holds
 * back the rest of the batch, which stays in flight on the same CURLM.
 *
 * Circuit breaker: closed -> open after breaker_threshold consecutive failed
 * attempts (any definite 2xx/4xx answer resets the count). Open: operations
 * are refused without a call (SF_PAY_UNAVAILABLE), so a dead provider costs
 * the saga nothing and new orders fail fast; retries still pending in the
 * batch end the same way. After breaker_cooldown_ms the next operation is
 * sent alone as a probe (half-open; the others keep being refused): a definite
 * answer closes the circuit, a failure opens it for another cooldown. Answers
 * to calls sent before the circuit opened do not move it: they say nothing
 * about the provider now.
 *
 * Card numbers go out in the authorize body only; that buffer is wiped after
 * the call and nothing here logs bodies, cards or provider messages with long
 * digit runs in them. */
#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "core/util.h"
#include "events/outbound.h"
#include "services/payments/payments.h"

#define DEST "payments"
#define MAX_INFLIGHT 64        /* calls in flight at once; the rest of a batch waits in the engine */
#define MAX_ANSWER (64 * 1024) /* a payment answer is a few hundred bytes */
#define CONNECT_CAP_MS 3000    /* a dead host shows in the connect phase; TLS to a far provider needs room */
#define UNAVAILABLE_MSG "payment provider unavailable (circuit open)"

/* Final outcomes per operation, for /metrics (the attempts, retries and the
 * breaker are the engine's destination "payments"). Process-wide: a metrics
 * collector gets no user pointer, and a process runs one payment provider. */
static struct pay_http_metrics { _Atomic uint64_t outcomes[SF_PAY_UNAVAILABLE + 1]; } pay_metrics;

static const char *const k_outcome_label[] = {"ok", "declined", "insufficient_funds", "transient", "unavailable"};

static void collect(sf_buf *b) {
  sf_out_dest_stats s = {0};
  sf_out_dest_stats_get(DEST, &s);
  sf_buf_printf(b,
                "# HELP sf_payment_breaker_state Circuit breaker of the payment provider: 0 = closed, 1 = open,"
                " 2 = half_open.\n# TYPE sf_payment_breaker_state gauge\n"
                "sf_payment_breaker_state{provider=\"http\"} %d\n"
                "# HELP sf_payment_breaker_opened_total Times the payment provider's circuit breaker opened.\n"
                "# TYPE sf_payment_breaker_opened_total counter\n"
                "sf_payment_breaker_opened_total{provider=\"http\"} %llu\n",
                s.breaker, (unsigned long long)s.opened);
  sf_buf_puts(b, "# HELP sf_payment_calls_total Payment operations by final outcome, one per operation after its"
                 " retries (unavailable = refused by the open circuit without a call).\n"
                 "# TYPE sf_payment_calls_total counter\n");
  for (int i = 0; i <= SF_PAY_UNAVAILABLE; i++)
    sf_buf_printf(b, "sf_payment_calls_total{provider=\"http\",outcome=\"%s\"} %llu\n", k_outcome_label[i],
                  (unsigned long long)atomic_load_explicit(&pay_metrics.outcomes[i], memory_order_relaxed));
  sf_buf_printf(b,
                "# HELP sf_payment_retries_total Attempts repeated after a transient failure (included in"
                " sf_payment_requests_total).\n# TYPE sf_payment_retries_total counter\n"
                "sf_payment_retries_total{provider=\"http\"} %llu\n"
                "# HELP sf_payment_requests_total HTTP requests sent to the payment provider (every attempt).\n"
                "# TYPE sf_payment_requests_total counter\n"
                "sf_payment_requests_total{provider=\"http\"} %llu\n",
                (unsigned long long)s.retries, (unsigned long long)s.attempts);
}

static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static void metrics_init(void) { sf_metrics_add_collector(collect); }

typedef struct {
  char url[512]; /* base, without a trailing slash */
  int timeout_ms, connect_ms, retries, backoff_ms;
} pay_http;

/* One run(): the calls still out, counted down by the engine thread. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int left;
} pay_batch;

/* One operation as an engine request. Owned by run(); the engine uses it
 * from submit until done(). */
typedef struct {
  sf_out_req req; /* first: the engine hands it back */
  sf_pay_op *op;
  pay_batch *batch;
  char url[600], key_line[128];
  const char *headers[4];
  char *body;
  size_t body_len;
  sf_pay_outcome answered; /* what the last definite answer said */
  int delivered;           /* some attempt may have reached the provider (not a refused connection) */
  char last[96];           /* why the last attempt failed; fits a message with "(after N attempts)" */
} pay_call;

static const char *kind_path(sf_pay_kind k) {
  switch (k) {
    case SF_PAY_AUTHORIZE: return "authorize";
    case SF_PAY_CAPTURE: return "capture";
    case SF_PAY_VOID: return "void";
    case SF_PAY_REFUND: return "refund";
  }
  return "unknown";
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

/* Provider text ends up in events and logs: keep it printable, free of JSON
 * metacharacters, and never let a card-like digit run through. */
static void clean_message(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src);
  for (char *p = dst; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = ' ';
  for (char *p = dst; *p;) {
    size_t run = strspn(p, "0123456789");
    if (run >= 12) memset(p, '*', run);
    p += run ? run : 1;
  }
}

/* The request body. The card is spliced in by hand (it is all digits) so it
 * never sits in jansson's heap, where nothing would wipe it. */
static char *build_body(const sf_pay_op *op, size_t *len) {
  json_t *j = json_object();
  json_object_set_new(j, "currency", json_string(op->currency));
  if (op->kind != SF_PAY_VOID) json_object_set_new(j, "amount", json_integer((json_int_t)op->amount));
  /* a void also names the authorize's key: the saga may not know the ref (payments.h) */
  if (op->kind != SF_PAY_AUTHORIZE && (op->ref[0] || op->kind != SF_PAY_VOID))
    json_object_set_new(j, "authorization", json_string(op->ref));
  if (op->kind == SF_PAY_VOID) json_object_set_new(j, "authorize_key", json_string(op->auth_key));
  size_t n;
  char *s = sf_json_dump(j, &n);
  json_decref(j);
  if (op->kind != SF_PAY_AUTHORIZE) {
    *len = n;
    return s;
  }
  size_t cap = n + strlen(op->card) + 24;
  char *out = sf_malloc(cap);
  *len = (size_t)snprintf(out, cap, "%.*s,\"card_number\":\"%s\"}", (int)n - 1, s, op->card);
  free(s);
  return out;
}

/* Reads one attempt's answer. Definite outcomes fill op (message, and the
 * ref of an authorization); a transient one describes itself in c->last. */
static sf_pay_outcome classify(pay_call *c, const sf_out_attempt *a) {
  sf_pay_op *op = c->op;
  long status = a->status;
  if (a->curl_code) {
    if (a->timed_out)
      snprintf(c->last, sizeof c->last, "no answer within %d ms", c->req.timeout_ms);
    else
      clean_message(c->last, sizeof c->last, a->error);
    return SF_PAY_TRANSIENT;
  }
  if (status >= 500 || status == 408 || status == 429) {
    snprintf(c->last, sizeof c->last, "payment provider answered HTTP %ld", status);
    return SF_PAY_TRANSIENT;
  }
  json_t *j = a->answer_len ? json_loadb(a->answer, a->answer_len, 0, NULL) : NULL;
  const char *st = json_is_object(j) ? sf_json_str(j, "status") : NULL;
  const char *msg = json_is_object(j) ? sf_json_str(j, "message") : NULL;
  sf_pay_outcome o = SF_PAY_TRANSIENT;
  if (status == 200 || status == 201) {
    const char *ref = json_is_object(j) ? sf_json_str(j, "authorization") : NULL;
    if (!st || strcmp(st, "ok") != 0) {
      snprintf(c->last, sizeof c->last, "unreadable answer to HTTP %ld", status);
    } else if (op->kind == SF_PAY_AUTHORIZE && (!ref || !*ref || strlen(ref) >= sizeof op->ref)) {
      snprintf(c->last, sizeof c->last, "authorization missing from the answer");
    } else {
      if (op->kind == SF_PAY_AUTHORIZE) snprintf(op->ref, sizeof op->ref, "%s", ref);
      static const char *const done[] = {"authorized", "captured", "voided", "refunded"};
      clean_message(op->message, sizeof op->message, msg ? msg : done[op->kind]);
      o = SF_PAY_OK;
    }
  } else if (status >= 400 && status < 500) {
    if (status == 402 && st && strcmp(st, "insufficient_funds") == 0) {
      clean_message(op->message, sizeof op->message, msg ? msg : "insufficient funds");
      o = SF_PAY_INSUFFICIENT;
    } else {
      char fallback[96] = "card declined";
      if (status != 402) snprintf(fallback, sizeof fallback, "rejected by the payment provider (HTTP %ld)", status);
      clean_message(op->message, sizeof op->message, msg ? msg : fallback);
      o = SF_PAY_DECLINED;
    }
  } else {
    snprintf(c->last, sizeof c->last, "unexpected HTTP %ld from the payment provider", status);
  }
  json_decref(j);
  return o;
}

/* Engine thread, before each attempt: each attempt is a span of its own. */
static void setup(sf_out_req *r, CURL *easy, struct curl_slist **headers, int attempt) {
  (void)easy, (void)attempt;
  pay_call *c = (pay_call *)r;
  char trace[SF_TRACEPARENT_LEN + 1], line[80];
  sf_trace_child(c->op->traceparent, trace);
  snprintf(line, sizeof line, "traceparent: %s", trace);
  if (!(*headers = curl_slist_append(*headers, line))) sf_oom();
}

/* Engine thread: a definite answer fills the operation. */
static sf_out_verdict judge(sf_out_req *r, const sf_out_attempt *a) {
  pay_call *c = (pay_call *)r;
  /* a connection never made sent nothing; any other failure may have (a
   * timeout, a reset after the request went out) */
  if (a->curl_code != CURLE_COULDNT_CONNECT && a->curl_code != CURLE_COULDNT_RESOLVE_HOST &&
      a->curl_code != CURLE_COULDNT_RESOLVE_PROXY)
    c->delivered = 1;
  sf_pay_outcome o = classify(c, a);
  if (o == SF_PAY_TRANSIENT) return SF_OUT_TRANSIENT;
  c->answered = o;
  return SF_OUT_DEFINITE;
}

static void settle(pay_call *c, sf_pay_outcome o, const char *msg) {
  c->op->outcome = o;
  if (msg) snprintf(c->op->message, sizeof c->op->message, "%s", msg);
  atomic_fetch_add_explicit(&pay_metrics.outcomes[o], 1, memory_order_relaxed);
}

/* Engine thread: the call's end, then the batch's count. */
static void done(sf_out_req *r, sf_out_end end, const sf_out_attempt *last) {
  pay_call *c = (pay_call *)r;
  /* abandoned: an attempt may have been in flight */
  c->op->not_sent = (end == SF_OUT_REFUSED || end == SF_OUT_FAILED) && !c->delivered;
  if (end == SF_OUT_ANSWERED) {
    settle(c, c->answered, NULL);
  } else if (end == SF_OUT_REFUSED) {
    settle(c, SF_PAY_UNAVAILABLE, UNAVAILABLE_MSG);
  } else {
    char msg[sizeof c->op->message];
    if (end == SF_OUT_ABANDONED) snprintf(c->last, sizeof c->last, "call abandoned: the process is stopping");
    snprintf(msg, sizeof msg, "%s (after %d attempts)", c->last, last->number);
    sf_log_warn("payment call failed", "\"key\":\"%s\",\"attempts\":%d,\"reason\":\"%s\"", c->op->key, last->number,
                c->last);
    settle(c, SF_PAY_TRANSIENT, msg);
  }
  pay_batch *b = c->batch;
  pthread_mutex_lock(&b->mu);
  if (--b->left == 0) pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

static void prepare(pay_http *h, pay_call *c, sf_pay_op *op, pay_batch *b) {
  c->op = op;
  c->batch = b;
  snprintf(c->url, sizeof c->url, "%s/v1/%s", h->url, kind_path(op->kind));
  snprintf(c->key_line, sizeof c->key_line, "Idempotency-Key: %s", op->key);
  c->headers[0] = "Content-Type: application/json";
  c->headers[1] = "Accept: application/json";
  c->headers[2] = c->key_line;
  c->headers[3] = NULL;
  c->body = build_body(op, &c->body_len);
  c->req = (sf_out_req){.dest = DEST,
                        .owner = h,
                        .url = c->url,
                        .method = "POST",
                        .user_agent = "serviceflow-payments/1",
                        .headers = c->headers,
                        .body = c->body,
                        .body_len = c->body_len,
                        .timeout_ms = h->timeout_ms,
                        .connect_timeout_ms = h->connect_ms,
                        .max_attempts = h->retries + 1,
                        .backoff_ms = h->backoff_ms,
                        .answer_cap = MAX_ANSWER,
                        .setup = setup,
                        .judge = judge,
                        .done = done};
}

static void run(void *self, sf_pay_op *ops, int n) {
  pay_http *h = self;
  pay_call *calls = sf_calloc((size_t)n, sizeof *calls);
  sf_out_req **out = sf_calloc((size_t)n, sizeof *out);
  pay_batch b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
  int nout = 0;
  for (int i = 0; i < n; i++) {
    calls[i].op = &ops[i];
    ops[i].message[0] = '\0';
    if (ops[i].kind == SF_PAY_AUTHORIZE && !all_digits(ops[i].card)) {
      settle(&calls[i], SF_PAY_DECLINED, "invalid card number"); /* as the sandbox; nothing to send */
      continue;
    }
    prepare(h, &calls[i], &ops[i], &b);
    out[nout++] = &calls[i].req;
  }
  b.left = nout;
  if (sf_out_submit(out, nout) != 0) {
    for (int i = 0; i < nout; i++)
      settle((pay_call *)out[i], SF_PAY_TRANSIENT, "payment provider not called: outbound calls are stopping");
  } else {
    pthread_mutex_lock(&b.mu);
    while (b.left > 0) pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
  }
  for (int i = 0; i < n; i++)
    if (calls[i].body) {
      sodium_memzero(calls[i].body, calls[i].body_len); /* the card of an authorization */
      free(calls[i].body);
    }
  free(out);
  free(calls);
}

static void close_http(void *self) {
  sf_out_stop(0); /* idle: run() has returned */
  free(self);
}

sf_pay_provider *sf_pay_http_open(const sf_config *cfg, sf_err *err) {
  const char *url = cfg->payment_url;
  if (!url[0]) {
    sf_err_invalid(err, "payment_url", "is required when payment_provider is \"http\"");
    return NULL;
  }
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
    sf_err_invalid(err, "payment_url", "must start with http:// or https://");
    return NULL;
  }
  if (sf_out_start(err)) return NULL;
  pthread_once(&metrics_once, metrics_init);
  pay_http *h = sf_calloc(1, sizeof *h);
  snprintf(h->url, sizeof h->url, "%s", url);
  for (size_t len = strlen(h->url); len && h->url[len - 1] == '/'; len--) h->url[len - 1] = '\0';
  h->timeout_ms = cfg->payment_timeout_ms;
  h->connect_ms = cfg->payment_timeout_ms < CONNECT_CAP_MS ? cfg->payment_timeout_ms : CONNECT_CAP_MS;
  h->retries = cfg->payment_retries;
  h->backoff_ms = cfg->payment_backoff_ms;
  /* a fresh provider starts closed; the counters keep counting for /metrics */
  sf_out_dest_cfg dest = {.breaker_threshold = cfg->breaker_threshold > 0 ? cfg->breaker_threshold : 1,
                          .cooldown_ms = cfg->breaker_cooldown_ms,
                          .max_in_flight = MAX_INFLIGHT};
  sf_out_dest_set(DEST, &dest);
  sf_pay_provider *p = sf_calloc(1, sizeof *p);
  *p = (sf_pay_provider){.name = "http", .self = h, .run = run, .close = close_http};
  sf_log_info("payment provider ready",
              "\"provider\":\"http\",\"timeout_ms\":%d,\"retries\":%d,\"breaker_threshold\":%d,"
              "\"breaker_cooldown_ms\":%d",
              h->timeout_ms, h->retries, dest.breaker_threshold, dest.cooldown_ms);
  return p;
}
