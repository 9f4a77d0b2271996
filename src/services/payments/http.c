/* The http payment provider: an external payment API called with libcurl's
 * multi interface, behind retries and a circuit breaker.
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
 *   void       {"currency":"EUR","authorization":"auth_…"}
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
#include <curl/curl.h>
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
#include "services/payments/payments.h"

#define MAX_INFLIGHT 64        /* requests of one batch in flight at once; the rest queue here */
#define MAX_ANSWER (64 * 1024) /* a payment answer is a few hundred bytes */
#define MAX_BACKOFF_MS 10000
#define CONNECT_CAP_MS 3000 /* a dead host shows in the connect phase; TLS to a far provider needs room */
#define UNAVAILABLE_MSG "payment provider unavailable (circuit open)"

enum { BRK_CLOSED = 0, BRK_OPEN = 1, BRK_HALF_OPEN = 2 };
enum { ADMIT_DENY, ADMIT_CALL, ADMIT_PROBE };

/* Breaker and counters are process-wide: a metrics collector gets no user
 * pointer, and a process runs one payment provider. The mutex orders the
 * transitions (saga thread); the atomics let /metrics read without it. */
static struct {
  pthread_mutex_t mu;
  int threshold, cooldown_ms;
  int failures;         /* consecutive failed attempts while closed */
  int64_t opened_at_ms; /* monotonic */
  int probing;          /* half-open: the probe is in flight */
  _Atomic int state;
  _Atomic uint64_t opened_total, requests, retries;
  _Atomic uint64_t outcomes[SF_PAY_UNAVAILABLE + 1]; /* final outcome per operation */
} B = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char *const k_outcome_label[] = {"ok", "declined", "insufficient_funds", "transient", "unavailable"};

static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }
static uint64_t peek(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }
static int state_now(void) { return atomic_load_explicit(&B.state, memory_order_relaxed); }
static void state_set(int s) { atomic_store_explicit(&B.state, s, memory_order_relaxed); }
static int64_t mono_ms(void) { return (int64_t)(sf_mono_ns() / 1000000u); }

/* ---- circuit breaker ---- */

/* May an operation go out now? Moves open -> half-open once the cooldown has
 * passed and gives that one call the probe role. */
static int breaker_admit(int64_t now) {
  int r = ADMIT_DENY;
  pthread_mutex_lock(&B.mu);
  int s = state_now();
  if (s == BRK_CLOSED) {
    r = ADMIT_CALL;
  } else if ((s == BRK_OPEN && now - B.opened_at_ms >= B.cooldown_ms) || (s == BRK_HALF_OPEN && !B.probing)) {
    state_set(BRK_HALF_OPEN);
    B.probing = 1;
    r = ADMIT_PROBE;
  }
  pthread_mutex_unlock(&B.mu);
  return r;
}

static void open_locked(int64_t now, const char *why) {
  state_set(BRK_OPEN);
  B.opened_at_ms = now;
  B.failures = 0;
  bump(&B.opened_total);
  sf_log_warn("payment circuit opened", "\"provider\":\"http\",\"reason\":\"%s\",\"cooldown_ms\":%d", why,
              B.cooldown_ms);
}

/* answered: the provider gave a definite answer (2xx or 4xx), whatever it said. */
static void breaker_record(int answered, int probe, int64_t now) {
  pthread_mutex_lock(&B.mu);
  if (probe) {
    B.probing = 0;
    if (answered) {
      state_set(BRK_CLOSED);
      B.failures = 0;
      sf_log_info("payment circuit closed", "\"provider\":\"http\"");
    } else {
      open_locked(now, "probe failed");
    }
  } else if (state_now() == BRK_CLOSED) {
    if (answered)
      B.failures = 0;
    else if (++B.failures >= B.threshold)
      open_locked(now, "consecutive failures");
  }
  pthread_mutex_unlock(&B.mu);
}

static void collect(sf_buf *b) {
  sf_buf_printf(b,
                "# HELP sf_payment_breaker_state Circuit breaker of the payment provider: 0 = closed, 1 = open,"
                " 2 = half_open.\n# TYPE sf_payment_breaker_state gauge\n"
                "sf_payment_breaker_state{provider=\"http\"} %d\n"
                "# HELP sf_payment_breaker_opened_total Times the payment provider's circuit breaker opened.\n"
                "# TYPE sf_payment_breaker_opened_total counter\n"
                "sf_payment_breaker_opened_total{provider=\"http\"} %llu\n",
                state_now(), (unsigned long long)peek(&B.opened_total));
  sf_buf_puts(b, "# HELP sf_payment_calls_total Payment operations by final outcome, one per operation after its"
                 " retries (unavailable = refused by the open circuit without a call).\n"
                 "# TYPE sf_payment_calls_total counter\n");
  for (int i = 0; i <= SF_PAY_UNAVAILABLE; i++)
    sf_buf_printf(b, "sf_payment_calls_total{provider=\"http\",outcome=\"%s\"} %llu\n", k_outcome_label[i],
                  (unsigned long long)peek(&B.outcomes[i]));
  sf_buf_printf(b,
                "# HELP sf_payment_retries_total Attempts repeated after a transient failure (included in"
                " sf_payment_requests_total).\n# TYPE sf_payment_retries_total counter\n"
                "sf_payment_retries_total{provider=\"http\"} %llu\n"
                "# HELP sf_payment_requests_total HTTP requests sent to the payment provider (every attempt).\n"
                "# TYPE sf_payment_requests_total counter\n"
                "sf_payment_requests_total{provider=\"http\"} %llu\n",
                (unsigned long long)peek(&B.retries), (unsigned long long)peek(&B.requests));
}

/* curl_global_init is not thread-safe on every libcurl build and the
 * collector list only grows: both happen once per process. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc;

static void process_init(void) {
  g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  sf_metrics_add_collector(collect);
}

/* ---- one batch ---- */

typedef struct {
  CURLM *multi;
  CURL *idle[MAX_INFLIGHT]; /* easy handles kept between batches; the connections live in multi */
  int nidle;
  char url[512]; /* base, without a trailing slash */
  int timeout_ms, connect_ms, retries, backoff_ms;
} pay_http;

typedef enum { CALL_WAITING, CALL_FLIGHT, CALL_DONE } call_state;

typedef struct {
  sf_pay_op *op;
  call_state state;
  int attempts;   /* sent so far */
  int probe;      /* the attempt in flight is the half-open probe */
  int64_t due_ms; /* waiting: not before (monotonic) */
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  size_t body_len;
  sf_buf answer;
  char errbuf[CURL_ERROR_SIZE];
  char last[96]; /* why the last attempt failed; fits a message with "(after N attempts)" */
} call;

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
  if (op->kind != SF_PAY_AUTHORIZE) json_object_set_new(j, "authorization", json_string(op->ref));
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

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
  sf_buf *b = ud;
  size_t n = size * nmemb;
  if (b->len + n > MAX_ANSWER) return 0; /* curl fails the transfer: transient */
  sf_buf_append(b, p, n);
  return n;
}

static void start(pay_http *h, call *c, int probe) {
  CURL *e = h->nidle ? h->idle[--h->nidle] : curl_easy_init();
  if (!e) sf_oom();
  curl_easy_reset(e);
  char url[600], key[128], trace[SF_TRACEPARENT_LEN + 1], trace_line[80];
  snprintf(url, sizeof url, "%s/v1/%s", h->url, kind_path(c->op->kind));
  snprintf(key, sizeof key, "Idempotency-Key: %s", c->op->key);
  sf_trace_child(c->op->traceparent, trace);
  snprintf(trace_line, sizeof trace_line, "traceparent: %s", trace);
  c->body = build_body(c->op, &c->body_len);
  c->headers = curl_slist_append(NULL, "Content-Type: application/json");
  c->headers = curl_slist_append(c->headers, "Accept: application/json");
  c->headers = curl_slist_append(c->headers, key);
  c->headers = curl_slist_append(c->headers, trace_line);
  c->headers = curl_slist_append(c->headers, "Expect:"); /* no 100-continue round trip */
  if (!c->headers) sf_oom();
  sf_buf_init(&c->answer);
  c->errbuf[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)c->body_len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "serviceflow-payments/1");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->answer);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, c);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_ms);
  /* timeouts without SIGALRM: the process is multithreaded */
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) sf_oom(); /* only fails on misuse or memory */
  c->easy = e;
  c->state = CALL_FLIGHT;
  c->probe = probe;
  if (c->attempts++ > 0) bump(&B.retries);
  bump(&B.requests);
}

static void finish(call *c, sf_pay_outcome o, const char *msg, int *left) {
  c->state = CALL_DONE;
  c->op->outcome = o;
  if (msg) snprintf(c->op->message, sizeof c->op->message, "%s", msg);
  bump(&B.outcomes[o]);
  (*left)--;
}

/* Reads one attempt's answer. Definite outcomes fill op (message, and the
 * ref of an authorization); a transient one describes itself in c->last. */
static sf_pay_outcome classify(pay_http *h, call *c, CURLcode res, long status) {
  sf_pay_op *op = c->op;
  if (res != CURLE_OK) {
    if (res == CURLE_OPERATION_TIMEDOUT)
      snprintf(c->last, sizeof c->last, "no answer within %d ms", h->timeout_ms);
    else
      clean_message(c->last, sizeof c->last, c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
    return SF_PAY_TRANSIENT;
  }
  if (status >= 500 || status == 408 || status == 429) {
    snprintf(c->last, sizeof c->last, "payment provider answered HTTP %ld", status);
    return SF_PAY_TRANSIENT;
  }
  json_t *j = c->answer.len ? json_loadb(c->answer.data, c->answer.len, 0, NULL) : NULL;
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

static int64_t backoff_delay(int base_ms, int retry) {
  int64_t cap = base_ms;
  for (int i = 0; i < retry && cap < MAX_BACKOFF_MS; i++) cap *= 2;
  if (cap > MAX_BACKOFF_MS) cap = MAX_BACKOFF_MS;
  uint32_t r;
  sf_random_bytes(&r, sizeof r);
  return (int64_t)(r % (uint64_t)(cap + 1));
}

static void end_attempt(pay_http *h, call *c, CURLcode res, int *left) {
  long status = 0;
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(h->multi, c->easy);
  h->idle[h->nidle++] = c->easy;
  c->easy = NULL;
  curl_slist_free_all(c->headers);
  c->headers = NULL;
  sodium_memzero(c->body, c->body_len);
  free(c->body);
  c->body = NULL;
  sf_pay_outcome o = classify(h, c, res, status);
  sf_buf_free(&c->answer);
  int64_t now = mono_ms();
  breaker_record(o != SF_PAY_TRANSIENT, c->probe, now);
  c->probe = 0;
  if (o != SF_PAY_TRANSIENT) {
    finish(c, o, NULL, left);
  } else if (c->attempts <= h->retries) {
    c->state = CALL_WAITING;
    c->due_ms = now + backoff_delay(h->backoff_ms, c->attempts - 1);
  } else {
    char msg[sizeof c->op->message];
    snprintf(msg, sizeof msg, "%s (after %d attempts)", c->last, c->attempts);
    sf_log_warn("payment call failed", "\"key\":\"%s\",\"attempts\":%d,\"reason\":\"%s\"", c->op->key, c->attempts,
                c->last);
    finish(c, SF_PAY_TRANSIENT, msg, left);
  }
}

static void run(void *self, sf_pay_op *ops, int n) {
  pay_http *h = self;
  call *calls = sf_calloc((size_t)n, sizeof *calls);
  int left = n, inflight = 0;
  for (int i = 0; i < n; i++) {
    call *c = &calls[i];
    c->op = &ops[i];
    c->op->message[0] = '\0';
    c->state = CALL_WAITING;
    if (ops[i].kind == SF_PAY_AUTHORIZE && !all_digits(ops[i].card))
      finish(c, SF_PAY_DECLINED, "invalid card number", &left); /* as the sandbox; nothing to send */
  }
  while (left > 0) {
    int64_t now = mono_ms();
    for (int i = 0; i < n && inflight < MAX_INFLIGHT; i++) {
      call *c = &calls[i];
      if (c->state != CALL_WAITING || c->due_ms > now) continue;
      int admit = breaker_admit(now);
      if (admit == ADMIT_DENY) {
        finish(c, SF_PAY_UNAVAILABLE, UNAVAILABLE_MSG, &left);
      } else {
        start(h, c, admit == ADMIT_PROBE);
        inflight++;
      }
    }
    int running;
    curl_multi_perform(h->multi, &running);
    CURLMsg *m;
    int queued;
    while ((m = curl_multi_info_read(h->multi, &queued))) {
      if (m->msg != CURLMSG_DONE) continue;
      CURLcode res = m->data.result;
      char *priv = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
      end_attempt(h, (call *)priv, res, &left);
      inflight--;
    }
    /* the circuit opened under this batch: its retries would only be refused later */
    if (state_now() == BRK_OPEN)
      for (int i = 0; i < n; i++)
        if (calls[i].state == CALL_WAITING && calls[i].attempts > 0)
          finish(&calls[i], SF_PAY_UNAVAILABLE, UNAVAILABLE_MSG, &left);
    if (!left) break;
    /* sleep until a socket is ready, curl's own timer fires (curl_multi_poll
     * honours it) or the next retry is due */
    now = mono_ms();
    int64_t wait = 1000;
    if (inflight < MAX_INFLIGHT)
      for (int i = 0; i < n; i++)
        if (calls[i].state == CALL_WAITING && calls[i].due_ms - now < wait) wait = calls[i].due_ms - now;
    if (wait > 0) curl_multi_poll(h->multi, NULL, 0, (int)wait, NULL);
  }
  free(calls);
}

static void close_http(void *self) {
  pay_http *h = self;
  for (int i = 0; i < h->nidle; i++) curl_easy_cleanup(h->idle[i]);
  curl_multi_cleanup(h->multi);
  free(h);
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
  pthread_once(&g_once, process_init);
  if (g_init_rc != CURLE_OK) {
    sf_err_internal(err, "libcurl initialisation failed: %s", curl_easy_strerror(g_init_rc));
    return NULL;
  }
  pay_http *h = sf_calloc(1, sizeof *h);
  h->multi = curl_multi_init();
  if (!h->multi) sf_oom();
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)MAX_INFLIGHT);
  snprintf(h->url, sizeof h->url, "%s", url);
  for (size_t len = strlen(h->url); len && h->url[len - 1] == '/'; len--) h->url[len - 1] = '\0';
  h->timeout_ms = cfg->payment_timeout_ms;
  h->connect_ms = cfg->payment_timeout_ms < CONNECT_CAP_MS ? cfg->payment_timeout_ms : CONNECT_CAP_MS;
  h->retries = cfg->payment_retries;
  h->backoff_ms = cfg->payment_backoff_ms;
  /* a fresh provider starts closed; the counters keep counting for /metrics */
  pthread_mutex_lock(&B.mu);
  B.threshold = cfg->breaker_threshold > 0 ? cfg->breaker_threshold : 1;
  B.cooldown_ms = cfg->breaker_cooldown_ms;
  B.failures = 0;
  B.probing = 0;
  state_set(BRK_CLOSED);
  pthread_mutex_unlock(&B.mu);
  sf_pay_provider *p = sf_calloc(1, sizeof *p);
  *p = (sf_pay_provider){.name = "http", .self = h, .run = run, .close = close_http};
  sf_log_info("payment provider ready",
              "\"provider\":\"http\",\"timeout_ms\":%d,\"retries\":%d,\"breaker_threshold\":%d,"
              "\"breaker_cooldown_ms\":%d",
              h->timeout_ms, h->retries, B.threshold, B.cooldown_ms);
  return p;
}
