/* The outbound engine: every call this process makes to another system
 * (payment provider, webhook receivers, and later e-mail over SMTP) goes
 * through one curl multi handle on one thread, `sf-outbound`.
 *
 * A request names a destination (a key such as "payments" or "webhooks"),
 * which carries what calls to one place share: a circuit breaker (closed ->
 * open after `breaker_threshold` consecutive failed attempts -> after
 * `cooldown_ms` one probe is sent alone, half-open: a definite answer closes
 * the circuit, a failure opens it for another cooldown; answers to calls sent
 * before it opened do not move it), a bound on the calls in flight at once,
 * and counters on /metrics (sf_outbound_*{destination="…"}). Each attempt is
 * bounded by the request's timeout; a transient attempt is retried up to
 * max_attempts after a delay drawn from [0, backoff_ms * 2^(retry-1)] (full
 * jitter, capped at 10 s), each request keeping its own "not before" time.
 * While a destination's circuit is open its requests end SF_OUT_REFUSED
 * without a call, and so do retries still waiting when it opens.
 *
 * Results go back through the request's done() on the engine thread, which
 * must not block: durable outcomes are submitted there as writer commands
 * (store/writer.h; webhooks do), or handed to a waiting thread (the payment
 * provider's run() waits on a condition variable for its batch).
 *
 * Ownership: the submitter owns the request (usually embedded in a struct of
 * its own, like sf_cmd) and everything it points to; from sf_out_submit until
 * done() returns, the engine uses it and the submitter must not touch it;
 * done() may free it. The engine copies nothing it does not need per attempt.
 *
 * Protocols: a request is not tied to HTTP. `protocols` (curl's
 * CURLOPT_PROTOCOLS_STR) says what the URL may use, `method` may be NULL,
 * and setup() runs on the engine thread before every attempt with the easy
 * handle, to set what is specific to a protocol or to one attempt. An e-mail
 * channel (issue 13) submits url "smtps://host:465", protocols "smtp,smtps",
 * no method, the message as body, and a setup() that sets CURLOPT_MAIL_FROM,
 * CURLOPT_MAIL_RCPT and CURLOPT_UPLOAD (the engine then reads the body with
 * its own read callback); status is the last SMTP reply code, and a judge()
 * that calls 4xx transient and 5xx definite gives retries and the breaker
 * their meaning for mail.
 *
 * Lifetime: sf_out_start/sf_out_stop are counted; the first start runs the
 * thread, the last stop ends it. Destinations and their counters live for the
 * process. Thread-safe unless said otherwise. */
#ifndef SF_EVENTS_OUTBOUND_H
#define SF_EVENTS_OUTBOUND_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define SF_OUT_DEST_MAX 16

typedef struct sf_out_dest_cfg {
  int breaker_threshold; /* consecutive failed attempts that open the circuit; 0 = no breaker */
  int cooldown_ms;       /* open -> half-open after this long */
  int max_in_flight;     /* calls in flight at once to this destination (>= 1); the rest wait in order */
} sf_out_dest_cfg;

/* Creates or reconfigures a destination; its circuit starts (again) closed,
 * its counters keep counting. key is copied (at most 31 characters). */
void sf_out_dest_set(const char *key, const sf_out_dest_cfg *cfg);

enum { SF_OUT_CLOSED = 0, SF_OUT_OPEN = 1, SF_OUT_HALF_OPEN = 2 };
typedef struct sf_out_dest_stats {
  int breaker;       /* SF_OUT_CLOSED / OPEN / HALF_OPEN */
  int in_flight;     /* attempts in flight now */
  uint64_t attempts; /* attempts sent (retries included) */
  uint64_t retries;  /* attempts after the first of their request */
  uint64_t failures; /* attempts judged transient */
  uint64_t refused;  /* requests ended by the open circuit without a call */
  uint64_t opened;   /* times the circuit opened */
} sf_out_dest_stats;
/* 0 and *out filled, or -1 for an unknown destination. */
int sf_out_dest_stats_get(const char *key, sf_out_dest_stats *out);

/* One finished attempt, as done() and judge() see it. */
typedef struct sf_out_attempt {
  int number;         /* 1 for the first attempt */
  int curl_code;      /* CURLcode; 0 = a complete answer came back */
  int timed_out;      /* no answer within timeout_ms */
  long status;        /* HTTP status, or the last SMTP reply code; 0 = none */
  const char *answer; /* the answer's body (at most answer_cap bytes kept), "" if none */
  size_t answer_len;
  const char *error; /* curl's words when curl_code != 0, else "" */
} sf_out_attempt;

typedef enum {
  SF_OUT_DEFINITE, /* the other side answered (whatever it said): no retry, breaker success */
  SF_OUT_TRANSIENT /* worth another attempt: counts against the breaker */
} sf_out_verdict;

typedef enum {
  SF_OUT_ANSWERED, /* the last attempt was judged definite */
  SF_OUT_FAILED,   /* every attempt was transient */
  SF_OUT_REFUSED,  /* the destination's circuit was open: not (or no longer) tried */
  SF_OUT_ABANDONED /* stopped or cancelled before an answer: nothing is known */
} sf_out_end;

typedef struct sf_out_req sf_out_req;
struct sf_out_req {
  /* ---- set by the submitter ---- */
  const char *dest;  /* destination key; an unknown one is created without a breaker */
  const void *owner; /* for sf_out_cancel; any pointer the submitter chooses */
  const char *url;
  const char *protocols;      /* NULL = "http,https" */
  const char *method;         /* "POST", "GET", …; NULL = curl's default (GET, or the protocol's) */
  const char *user_agent;     /* NULL = none */
  const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
  const char *body;           /* sent as is (POST fields, or the upload of setup()'s CURLOPT_UPLOAD) */
  size_t body_len;
  int timeout_ms;         /* per attempt, connect + answer */
  int connect_timeout_ms; /* 0 = min(timeout_ms, 3 s): a dead host shows in the connect phase */
  int max_attempts;       /* >= 1 */
  int backoff_ms;         /* base of the full-jitter delay before a retry */
  size_t answer_cap;      /* answer bytes kept for judge()/done(); 0 = discarded; more fails the attempt */
  /* Engine thread, before each attempt: protocol options and per-attempt
   * headers (append to *headers; the engine frees the list). Optional. */
  void (*setup)(sf_out_req *r, CURL *easy, struct curl_slist **headers, int attempt);
  /* Engine thread, after each attempt. NULL: transient for curl errors,
   * status >= 500, 408 and 429, definite otherwise. */
  sf_out_verdict (*judge)(sf_out_req *r, const sf_out_attempt *a);
  /* Engine thread, once: how the request ended; last is the last attempt
   * (number 0 if none was made). Required; must not block. */
  void (*done)(sf_out_req *r, sf_out_end end, const sf_out_attempt *last);
  void *ud;
  /* ---- the engine's ---- */
  struct sf_out_req *next_, *prev_;
  int state_, attempts_, probe_, slot_;
  int64_t due_ms_;
  CURL *easy_;
  struct curl_slist *sent_headers_;
  size_t read_off_;
  sf_buf answer_;
  char errbuf_[CURL_ERROR_SIZE];
};

/* Counted: the first start runs the engine thread. */
int sf_out_start(sf_err *err);
/* The last stop ends the thread: calls in flight get until deadline_ms to
 * finish (their done() runs as usual), then they and every request still
 * waiting end SF_OUT_ABANDONED. Every done() has run when it returns. */
void sf_out_stop(int deadline_ms);

/* Queues requests, in order, as one step: the engine sees all of them before
 * it starts any (a batch meets the breaker together: one probe, the rest
 * refused). Returns -503 and takes none if the engine is not running. */
int sf_out_submit(sf_out_req *const *reqs, int n);
/* Ends every request of owner now, SF_OUT_ABANDONED (attempts in flight are
 * cut); returns once their done() calls have run. Not from the engine thread. */
void sf_out_cancel(const void *owner);

#endif
