#define _GNU_SOURCE /* pthread_setname_np */
#include "events/outbound.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#define MAX_IN_FLIGHT 256 /* attempts in flight at once, all destinations */
#define IDLE_EASY 64      /* easy handles kept for reuse; the connections live in the multi handle */
#define MAX_BACKOFF_MS 10000
#define CONNECT_CAP_MS 3000
#define IDLE_POLL_MS 1000

enum { REQ_WAITING = 1, REQ_FLIGHT = 2 };
enum { ADMIT_DENY, ADMIT_CALL, ADMIT_PROBE };

/* A destination: its breaker (moved on the engine thread, reset by
 * sf_out_dest_set, both under outbound.mu) and its counters (atomics, so
 * /metrics reads them without the lock). */
typedef struct out_dest {
  char key[32];
  int threshold, cooldown_ms, max_in_flight;
  int failures; /* consecutive failed attempts while closed */
  int64_t opened_at_ms;
  int probing; /* half-open: the probe is in flight */
  _Atomic int state, in_flight;
  _Atomic uint64_t attempts, retries, failed, refused, opened;
} out_dest;

static struct outbound_state {
  pthread_mutex_t mu; /* the fields up to `list` */
  pthread_cond_t cv;  /* cancel acknowledged, thread gone */
  out_dest dests[SF_OUT_DEST_MAX];
  _Atomic int ndests;
  int users, alive, stopping;
  int64_t stop_deadline_ms;
  const void *cancel_owner;
  uint64_t cancel_asked, cancel_done;
  sf_out_req *in_head, *in_tail; /* submitted, not yet taken by the thread */
  CURLM *multi;
  pthread_t thread;
  /* engine thread only */
  sf_out_req *list_head, *list_tail; /* every request taken, in submission order */
  int in_flight;
  CURL *idle[IDLE_EASY];
  int nidle;
} outbound = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }
static unsigned long long peek(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }
static int64_t mono_ms(void) { return (int64_t)(sf_mono_ns() / 1000000u); }

/* ---- destinations ---- */

/* Under outbound.mu. */
static out_dest *dest_find_locked(const char *key, int create) {
  int n = atomic_load(&outbound.ndests);
  for (int i = 0; i < n; i++)
    if (strcmp(outbound.dests[i].key, key) == 0) return &outbound.dests[i];
  if (!create || n == SF_OUT_DEST_MAX) return NULL;
  out_dest *d = &outbound.dests[n];
  snprintf(d->key, sizeof d->key, "%s", key);
  d->max_in_flight = MAX_IN_FLIGHT;
  atomic_store(&outbound.ndests, n + 1);
  return d;
}

void sf_out_dest_set(const char *key, const sf_out_dest_cfg *cfg) {
  pthread_mutex_lock(&outbound.mu);
  out_dest *d = dest_find_locked(key, 1);
  if (d) {
    d->threshold = cfg->breaker_threshold > 0 ? cfg->breaker_threshold : 0;
    d->cooldown_ms = cfg->cooldown_ms;
    d->max_in_flight = cfg->max_in_flight > 0 ? cfg->max_in_flight : 1;
    d->failures = 0;
    d->probing = 0;
    atomic_store(&d->state, SF_OUT_CLOSED);
  }
  pthread_mutex_unlock(&outbound.mu);
}

int sf_out_dest_stats_get(const char *key, sf_out_dest_stats *out) {
  pthread_mutex_lock(&outbound.mu);
  out_dest *d = dest_find_locked(key, 0);
  pthread_mutex_unlock(&outbound.mu);
  if (!d) return -1;
  *out = (sf_out_dest_stats){atomic_load(&d->state), atomic_load(&d->in_flight), peek(&d->attempts), peek(&d->retries),
                             peek(&d->failed),       peek(&d->refused),          peek(&d->opened)};
  return 0;
}

/* May an attempt go out now? Moves open -> half-open once the cooldown has
 * passed and gives that one attempt the probe role. */
static int breaker_admit(out_dest *d, int64_t now) {
  if (!d->threshold) return ADMIT_CALL;
  int r = ADMIT_DENY;
  pthread_mutex_lock(&outbound.mu);
  int s = atomic_load(&d->state);
  if (s == SF_OUT_CLOSED) {
    r = ADMIT_CALL;
  } else if ((s == SF_OUT_OPEN && now - d->opened_at_ms >= d->cooldown_ms) || (s == SF_OUT_HALF_OPEN && !d->probing)) {
    atomic_store(&d->state, SF_OUT_HALF_OPEN);
    d->probing = 1;
    r = ADMIT_PROBE;
  }
  pthread_mutex_unlock(&outbound.mu);
  return r;
}

static void open_locked(out_dest *d, int64_t now, const char *why) {
  atomic_store(&d->state, SF_OUT_OPEN);
  d->opened_at_ms = now;
  d->failures = 0;
  bump(&d->opened);
  sf_log_warn("outbound circuit opened", "\"destination\":\"%s\",\"reason\":\"%s\",\"cooldown_ms\":%d", d->key, why,
              d->cooldown_ms);
}

/* answered: the attempt was judged definite. */
static void breaker_record(out_dest *d, int answered, int probe, int64_t now) {
  if (!d->threshold) return;
  pthread_mutex_lock(&outbound.mu);
  if (probe) {
    d->probing = 0;
    if (answered) {
      atomic_store(&d->state, SF_OUT_CLOSED);
      d->failures = 0;
      sf_log_info("outbound circuit closed", "\"destination\":\"%s\"", d->key);
    } else {
      open_locked(d, now, "probe failed");
    }
  } else if (atomic_load(&d->state) == SF_OUT_CLOSED) {
    if (answered)
      d->failures = 0;
    else if (++d->failures >= d->threshold)
      open_locked(d, now, "consecutive failures");
  }
  pthread_mutex_unlock(&outbound.mu);
}

static void collect(sf_buf *b) {
  static const char *const k_help[][3] = {
      {"sf_outbound_attempts_total", "counter", "Outbound attempts sent (retries included), per destination."},
      {"sf_outbound_retries_total", "counter", "Outbound attempts repeated after a transient failure."},
      {"sf_outbound_failures_total", "counter", "Outbound attempts judged transient (timeouts, refusals, 5xx)."},
      {"sf_outbound_refused_total", "counter", "Outbound requests ended by an open circuit without a call."},
      {"sf_outbound_breaker_opened_total", "counter", "Times a destination's circuit breaker opened."},
      {"sf_outbound_breaker_state", "gauge", "Circuit breaker per destination: 0 = closed, 1 = open, 2 = half_open."},
      {"sf_outbound_in_flight", "gauge", "Outbound attempts in flight, per destination."}};
  int n = atomic_load(&outbound.ndests);
  for (size_t m = 0; m < sizeof k_help / sizeof k_help[0]; m++) {
    sf_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", k_help[m][0], k_help[m][2], k_help[m][0], k_help[m][1]);
    for (int i = 0; i < n; i++) {
      out_dest *d = &outbound.dests[i];
      unsigned long long v[] = {peek(&d->attempts),
                                peek(&d->retries),
                                peek(&d->failed),
                                peek(&d->refused),
                                peek(&d->opened),
                                (unsigned long long)atomic_load(&d->state),
                                (unsigned long long)atomic_load(&d->in_flight)};
      sf_buf_printf(b, "%s{destination=\"%s\"} %llu\n", k_help[m][0], d->key, v[m]);
    }
  }
}

/* ---- one attempt ---- */

static size_t on_answer(char *p, size_t size, size_t nmemb, void *ud) {
  sf_out_req *r = ud;
  size_t n = size * nmemb;
  if (!r->answer_cap) return n;
  if (r->answer_.len + n > r->answer_cap) return 0; /* curl fails the attempt: transient */
  sf_buf_append(&r->answer_, p, n);
  return n;
}

static size_t on_upload(char *p, size_t size, size_t nmemb, void *ud) {
  sf_out_req *r = ud;
  size_t left = r->body_len - r->read_off_, n = size * nmemb < left ? size * nmemb : left;
  memcpy(p, r->body + r->read_off_, n);
  r->read_off_ += n;
  return n;
}

static void set_method(sf_out_req *r, CURL *e) {
  if (r->method && strcmp(r->method, "POST") == 0) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
  } else if (r->method && strcmp(r->method, "GET") != 0) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  }
  if (r->method && r->body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
  }
  /* an upload that setup() turns on (SMTP) reads the body from here */
  r->read_off_ = 0;
  curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
  curl_easy_setopt(e, CURLOPT_READDATA, r);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
}

static struct curl_slist *headers_of(sf_out_req *r) {
  struct curl_slist *h = NULL;
  for (const char *const *l = r->headers; l && *l; l++)
    if (!(h = curl_slist_append(h, *l))) sf_oom();
  if (r->method && !(h = curl_slist_append(h, "Expect:"))) sf_oom(); /* no 100-continue round trip */
  return h;
}

static void start_attempt(sf_out_req *r, out_dest *d, int probe) {
  CURL *e = outbound.nidle ? outbound.idle[--outbound.nidle] : curl_easy_init();
  if (!e) sf_oom();
  curl_easy_reset(e);
  r->attempts_++;
  struct curl_slist *h = headers_of(r);
  sf_buf_init(&r->answer_);
  r->errbuf_[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, r->protocols ? r->protocols : "http,https");
  set_method(r, e);
  if (r->user_agent) curl_easy_setopt(e, CURLOPT_USERAGENT, r->user_agent);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf_);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  int connect_ms =
      r->connect_timeout_ms ? r->connect_timeout_ms : (r->timeout_ms < CONNECT_CAP_MS ? r->timeout_ms : CONNECT_CAP_MS);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM: the process is multithreaded */
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
  if (r->setup) r->setup(r, e, &h, r->attempts_);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  if (curl_multi_add_handle(outbound.multi, e) != CURLM_OK) sf_oom(); /* only fails on misuse or memory */
  r->easy_ = e;
  r->sent_headers_ = h;
  r->state_ = REQ_FLIGHT;
  r->probe_ = probe;
  outbound.in_flight++;
  atomic_fetch_add(&d->in_flight, 1);
  bump(&d->attempts);
  if (r->attempts_ > 1) bump(&d->retries);
}

/* Takes the attempt's handle off the multi; cut: it was abandoned, the
 * handle is not reused. */
static void detach(sf_out_req *r, int cut) {
  curl_multi_remove_handle(outbound.multi, r->easy_);
  if (!cut && outbound.nidle < IDLE_EASY)
    outbound.idle[outbound.nidle++] = r->easy_;
  else
    curl_easy_cleanup(r->easy_);
  r->easy_ = NULL;
  curl_slist_free_all(r->sent_headers_);
  r->sent_headers_ = NULL;
  outbound.in_flight--;
  atomic_fetch_sub(&outbound.dests[r->slot_].in_flight, 1);
}

static void unlink_req(sf_out_req *r) {
  if (r->prev_)
    r->prev_->next_ = r->next_;
  else
    outbound.list_head = r->next_;
  if (r->next_)
    r->next_->prev_ = r->prev_;
  else
    outbound.list_tail = r->prev_;
  r->next_ = r->prev_ = NULL;
  r->state_ = 0;
}

/* The request leaves the engine; done() may free it. */
static void finish(sf_out_req *r, sf_out_end end, const sf_out_attempt *a) {
  unlink_req(r);
  sf_out_attempt none = {.number = r->attempts_, .answer = "", .error = ""};
  r->done(r, end, a ? a : &none);
}

static sf_out_verdict default_judge(sf_out_req *r, const sf_out_attempt *a) {
  (void)r;
  if (a->curl_code || a->status >= 500 || a->status == 408 || a->status == 429) return SF_OUT_TRANSIENT;
  return SF_OUT_DEFINITE;
}

static int64_t backoff_delay(int base_ms, int retry) {
  int64_t cap = base_ms > 0 ? base_ms : 0;
  for (int i = 0; i < retry && cap < MAX_BACKOFF_MS; i++) cap *= 2;
  if (cap > MAX_BACKOFF_MS) cap = MAX_BACKOFF_MS;
  uint32_t rnd;
  sf_random_bytes(&rnd, sizeof rnd);
  return (int64_t)(rnd % (uint64_t)(cap + 1));
}

static void end_attempt(sf_out_req *r, CURLcode res) {
  long status = 0;
  curl_easy_getinfo(r->easy_, CURLINFO_RESPONSE_CODE, &status);
  detach(r, 0);
  out_dest *d = &outbound.dests[r->slot_];
  sf_out_attempt a = {.number = r->attempts_,
                      .curl_code = (int)res,
                      .timed_out = res == CURLE_OPERATION_TIMEDOUT,
                      .status = status,
                      .answer = r->answer_.data ? r->answer_.data : "",
                      .answer_len = r->answer_.len,
                      .error = res == CURLE_OK ? ""
                               : r->errbuf_[0] ? r->errbuf_
                                               : curl_easy_strerror(res)};
  sf_out_verdict v = (r->judge ? r->judge : default_judge)(r, &a);
  int64_t now = mono_ms();
  if (v == SF_OUT_TRANSIENT) bump(&d->failed);
  breaker_record(d, v == SF_OUT_DEFINITE, r->probe_, now);
  r->probe_ = 0;
  sf_buf answer = r->answer_;
  if (v == SF_OUT_DEFINITE) {
    finish(r, SF_OUT_ANSWERED, &a);
  } else if (r->attempts_ < r->max_attempts) {
    r->state_ = REQ_WAITING;
    r->due_ms_ = now + backoff_delay(r->backoff_ms, r->attempts_ - 1);
  } else {
    finish(r, SF_OUT_FAILED, &a);
  }
  sf_buf_free(&answer);
}

/* ---- the thread ---- */

static void reap(void) {
  CURLMsg *m;
  int queued;
  while ((m = curl_multi_info_read(outbound.multi, &queued))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURLcode res = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
    end_attempt((sf_out_req *)priv, res);
  }
}

static void start_due(int64_t now) {
  for (sf_out_req *r = outbound.list_head, *next; r && outbound.in_flight < MAX_IN_FLIGHT; r = next) {
    next = r->next_;
    out_dest *d = &outbound.dests[r->slot_];
    if (r->state_ != REQ_WAITING || r->due_ms_ > now || atomic_load(&d->in_flight) >= d->max_in_flight) continue;
    int admit = breaker_admit(d, now);
    if (admit == ADMIT_DENY) {
      bump(&d->refused);
      finish(r, SF_OUT_REFUSED, NULL);
    } else {
      start_attempt(r, d, admit == ADMIT_PROBE);
    }
  }
}

/* A circuit opened under retries still waiting: they would only be refused
 * when due, so they end now. */
static void refuse_open_retries(void) {
  for (sf_out_req *r = outbound.list_head, *next; r; r = next) {
    next = r->next_;
    out_dest *d = &outbound.dests[r->slot_];
    if (r->state_ == REQ_WAITING && r->attempts_ > 0 && atomic_load(&d->state) == SF_OUT_OPEN) {
      bump(&d->refused);
      finish(r, SF_OUT_REFUSED, NULL);
    }
  }
}

/* Ends every request of owner (NULL: all) as abandoned. */
static void abandon(const void *owner, int all) {
  for (sf_out_req *r = outbound.list_head, *next; r; r = next) {
    next = r->next_;
    if (!all && r->owner != owner) continue;
    if (r->state_ == REQ_FLIGHT) {
#if LIBCURL_VERSION_NUM >= 0x075700
      /* do not wait for a host name lookup still running in curl's resolver thread */
      curl_easy_setopt(r->easy_, CURLOPT_QUICK_EXIT, 1L);
#endif
      detach(r, 1);
      sf_buf_free(&r->answer_);
      if (r->probe_) { /* says nothing about the destination: the next attempt probes */
        pthread_mutex_lock(&outbound.mu);
        outbound.dests[r->slot_].probing = 0;
        pthread_mutex_unlock(&outbound.mu);
      }
    }
    finish(r, SF_OUT_ABANDONED, NULL);
  }
}

/* Moves submitted requests onto the thread's list and answers a cancel.
 * Returns 1 once stopping. */
static int take_incoming(void) {
  pthread_mutex_lock(&outbound.mu);
  sf_out_req *in = outbound.in_head;
  outbound.in_head = outbound.in_tail = NULL;
  for (sf_out_req *r = in; r; r = r->next_) {
    out_dest *d = dest_find_locked(r->dest, 1); /* NULL: the table is full, it shares the first one */
    r->slot_ = d ? (int)(d - outbound.dests) : 0;
  }
  uint64_t asked = outbound.cancel_asked;
  const void *owner = outbound.cancel_owner;
  int stopping = outbound.stopping;
  pthread_mutex_unlock(&outbound.mu);
  if (in) {
    in->prev_ = outbound.list_tail;
    if (outbound.list_tail)
      outbound.list_tail->next_ = in;
    else
      outbound.list_head = in;
    while (in->next_) in->next_->prev_ = in, in = in->next_;
    outbound.list_tail = in;
  }
  if (asked != outbound.cancel_done) {
    abandon(owner, 0);
    pthread_mutex_lock(&outbound.mu);
    outbound.cancel_done = asked;
    pthread_cond_broadcast(&outbound.cv);
    pthread_mutex_unlock(&outbound.mu);
  }
  return stopping;
}

/* How long to sleep: until the next retry is due, at most a second; curl's
 * own timers and sockets wake the poll earlier, and so does a submit. */
static int wait_ms(int64_t now, int stopping) {
  int64_t wait = stopping ? 20 : IDLE_POLL_MS;
  if (outbound.in_flight < MAX_IN_FLIGHT)
    for (sf_out_req *r = outbound.list_head; r; r = r->next_) {
      out_dest *d = &outbound.dests[r->slot_];
      /* one waiting for room at its destination waits for an answer (a socket event) */
      if (r->state_ == REQ_WAITING && atomic_load(&d->in_flight) < d->max_in_flight && r->due_ms_ - now < wait)
        wait = r->due_ms_ - now;
    }
  return wait > 0 ? (int)wait : 0;
}

static void *engine_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sf-outbound");
  for (;;) {
    int stopping = take_incoming();
    int64_t now = mono_ms();
    if (!stopping) start_due(now);
    int running;
    curl_multi_perform(outbound.multi, &running);
    reap();
    refuse_open_retries();
    if (stopping && (!outbound.in_flight || now >= outbound.stop_deadline_ms)) break;
    int wait = wait_ms(mono_ms(), stopping);
    if (wait > 0) curl_multi_poll(outbound.multi, NULL, 0, wait, NULL);
  }
  take_incoming();
  abandon(NULL, 1);
  pthread_mutex_lock(&outbound.mu);
  outbound.alive = 0;
  pthread_cond_broadcast(&outbound.cv);
  pthread_mutex_unlock(&outbound.mu);
  return NULL;
}

/* curl_global_init is not thread-safe on every libcurl build and the
 * collector list only grows: both once per process. */
static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static CURLcode process_init_rc;

static void process_init(void) {
  process_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  sf_metrics_add_collector(collect);
}

int sf_out_start(sf_err *err) {
  pthread_once(&process_once, process_init);
  if (process_init_rc != CURLE_OK)
    return sf_err_internal(err, "libcurl initialisation failed: %s", curl_easy_strerror(process_init_rc));
  pthread_mutex_lock(&outbound.mu);
  int rc = 0;
  if (outbound.users++ == 0) {
    if (!(outbound.multi = curl_multi_init())) sf_oom();
    curl_multi_setopt(outbound.multi, CURLMOPT_MAXCONNECTS, (long)MAX_IN_FLIGHT);
    outbound.stopping = 0;
    outbound.alive = 1;
    if (pthread_create(&outbound.thread, NULL, engine_main, NULL) != 0) {
      outbound.alive = 0;
      outbound.users = 0;
      curl_multi_cleanup(outbound.multi);
      outbound.multi = NULL;
      rc = sf_err_internal(err, "cannot start the outbound thread");
    }
  }
  pthread_mutex_unlock(&outbound.mu);
  return rc;
}

void sf_out_stop(int deadline_ms) {
  pthread_mutex_lock(&outbound.mu);
  if (outbound.users == 0 || --outbound.users > 0) {
    pthread_mutex_unlock(&outbound.mu);
    return;
  }
  outbound.stopping = 1;
  outbound.stop_deadline_ms = mono_ms() + (deadline_ms > 0 ? deadline_ms : 0);
  curl_multi_wakeup(outbound.multi);
  pthread_mutex_unlock(&outbound.mu);
  pthread_join(outbound.thread, NULL);
  pthread_mutex_lock(&outbound.mu);
  CURLM *multi = outbound.multi;
  outbound.multi = NULL;
  pthread_mutex_unlock(&outbound.mu);
  for (int i = 0; i < outbound.nidle; i++) curl_easy_cleanup(outbound.idle[i]);
  outbound.nidle = 0;
  curl_multi_cleanup(multi);
}

int sf_out_submit(sf_out_req *const *reqs, int n) {
  if (n <= 0) return 0;
  pthread_mutex_lock(&outbound.mu);
  if (!outbound.alive || outbound.stopping) {
    pthread_mutex_unlock(&outbound.mu);
    return -503;
  }
  for (int i = 0; i < n; i++) {
    sf_out_req *r = reqs[i];
    r->next_ = NULL;
    r->prev_ = NULL;
    r->state_ = REQ_WAITING;
    r->attempts_ = r->probe_ = 0;
    r->due_ms_ = 0;
    r->easy_ = NULL;
    r->sent_headers_ = NULL;
    if (r->max_attempts < 1) r->max_attempts = 1;
    if (outbound.in_tail)
      outbound.in_tail->next_ = r;
    else
      outbound.in_head = r;
    outbound.in_tail = r;
  }
  curl_multi_wakeup(outbound.multi);
  pthread_mutex_unlock(&outbound.mu);
  return 0;
}

void sf_out_cancel(const void *owner) {
  pthread_mutex_lock(&outbound.mu);
  if (outbound.alive) {
    /* one cancel at a time: the thread answers the newest request number */
    while (outbound.alive && outbound.cancel_done != outbound.cancel_asked)
      pthread_cond_wait(&outbound.cv, &outbound.mu);
    uint64_t mine = ++outbound.cancel_asked;
    outbound.cancel_owner = owner;
    curl_multi_wakeup(outbound.multi);
    while (outbound.alive && outbound.cancel_done < mine) pthread_cond_wait(&outbound.cv, &outbound.mu);
  }
  pthread_mutex_unlock(&outbound.mu);
}
