#include "edge/ratelimit_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"

#define NS_PER_US 1000ull
#define US_PER_S 1000000ull
#define MS_NS 1000000ull
#define BACKOFF_MIN_NS (500 * MS_NS)
#define BACKOFF_MAX_NS (2000 * MS_NS)
#define LOG_EVERY_NS (10000 * MS_NS)
/* Idle connections kept; more are closed when put back. Each HTTP thread
 * holds at most one at a time, so the pool settles at the thread count. */
#define POOL_MAX 64
#define WHY_CAP 200 /* a failure's reason, for the log line */

/* GCRA on the Redis server's clock, in whole microseconds (a Lua number is a
 * double: exact to 2^53, and now is about 2^50 us). KEYS[1] holds the
 * instant the bucket is full again (tat); ARGV: interval, capacity (us).
 * Returns {allowed, remaining, reset_us, wait_us}: reset_us is the time to
 * full after this call, wait_us (when refused) the time to one token.
 * The key expires when the bucket is full: a missing key is a full bucket.
 * replicate_commands: Redis before 5 replicates a script that read TIME only
 * so; later versions always do and keep the call as a no-op. */
static const char k_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local interval = tonumber(ARGV[1])\n"
    "local capacity = tonumber(ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
    "if tat < now then tat = now end\n"
    "local debt = tat + interval - now\n"
    "if debt <= capacity then\n"
    "  redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', math.ceil(debt / 1000))\n"
    "  return {1, math.floor((capacity - debt) / interval), debt, 0}\n"
    "end\n"
    "return {0, 0, tat - now, debt - capacity}\n";

typedef struct rconn {
  redisContext *ctx;
  unsigned gen; /* the client's generation when opened: older ones are dropped */
  struct rconn *next;
} rconn;

struct sf_rl_redis {
  char host[256];
  int port;
  char user[128];
  char password[256];
  int db;
  char prefix[128];
  struct timeval timeout;
  int fail_closed;
  char sha[41]; /* of k_script, for EVALSHA */

  pthread_mutex_t mu; /* the idle list */
  rconn *idle;
  int nidle;

  _Atomic unsigned gen;           /* bumped by every failure */
  _Atomic uint64_t retry_at_ns;   /* circuit: open until then; 0 = closed */
  _Atomic uint64_t last_ok_ns;    /* the last call that Redis answered */
  _Atomic uint64_t backoff_ns;    /* next open period */
  _Atomic uint64_t last_log_ns;   /* rate-limits the "unavailable" line */
  _Atomic uint64_t errors;        /* failed calls */
  _Atomic uint64_t served_local;  /* fail open: takes decided by the local limiter */
  _Atomic uint64_t refused;       /* fail closed: takes refused */
  _Atomic uint64_t logged_errors; /* errors when the last line was written */
};

/* ---- configuration ---- */

static int bad(sf_err *err, const char *what) {
  return sf_err_set(err, 400, "config", "Bad configuration", "redis_url: %s", what);
}

/* "[[user]:password@]" before the host; returns the host's start. */
static const char *parse_auth(sf_rl_redis *r, const char *s, sf_err *err) {
  const char *at = strchr(s, '@');
  if (!at) return s;
  const char *colon = memchr(s, ':', (size_t)(at - s));
  if (!colon || (size_t)(colon - s) >= sizeof r->user || (size_t)(at - colon - 1) >= sizeof r->password) {
    bad(err, "credentials must be [user]:password@");
    return NULL;
  }
  snprintf(r->user, sizeof r->user, "%.*s", (int)(colon - s), s);
  snprintf(r->password, sizeof r->password, "%.*s", (int)(at - colon - 1), colon + 1);
  return at + 1;
}

/* host, [v6], :port and /db. */
static int parse_location(sf_rl_redis *r, const char *s, sf_err *err) {
  const char *end;
  if (*s == '[') {
    end = strchr(s, ']');
    if (!end) return bad(err, "unclosed [ in the host");
    snprintf(r->host, sizeof r->host, "%.*s", (int)(end - s - 1), s + 1);
    end++;
  } else {
    end = s + strcspn(s, ":/");
    if ((size_t)(end - s) >= sizeof r->host) return bad(err, "host too long");
    snprintf(r->host, sizeof r->host, "%.*s", (int)(end - s), s);
  }
  if (!r->host[0]) return bad(err, "no host");
  r->port = 6379;
  if (*end == ':') {
    char *p;
    long port = strtol(end + 1, &p, 10);
    if (p == end + 1 || port < 1 || port > 65535) return bad(err, "port must be 1-65535");
    end = p;
    r->port = (int)port;
  }
  if (*end == '/' && end[1]) {
    char *p;
    long db = strtol(end + 1, &p, 10);
    if (*p || db < 0 || db > 1000000) return bad(err, "database must be a number");
    r->db = (int)db;
  } else if (*end && strcmp(end, "/") != 0) {
    return bad(err, "expected redis://[[user]:password@]host[:port][/db]");
  }
  return 0;
}

static void script_sha(char out[41]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(k_script, strlen(k_script), md, &n, EVP_sha1(), NULL);
  for (unsigned i = 0; i < n && i < 20; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int sf_rl_redis_new(const sf_rl_redis_config *cfg, sf_rl_redis **out, sf_err *err) {
  *out = NULL;
  if (!cfg->url || strncmp(cfg->url, "redis://", 8) != 0) return bad(err, "must start with redis://");
  const char *fail = cfg->fail && cfg->fail[0] ? cfg->fail : "open";
  if (strcmp(fail, "open") != 0 && strcmp(fail, "closed") != 0)
    return sf_err_set(err, 400, "config", "Bad configuration", "redis_fail: '%s' is neither open nor closed", fail);
  const char *prefix = cfg->prefix ? cfg->prefix : "";
  sf_rl_redis *r = sf_calloc(1, sizeof *r);
  if (strlen(prefix) >= sizeof r->prefix) {
    free(r);
    return sf_err_set(err, 400, "config", "Bad configuration", "redis_prefix: too long");
  }
  const char *loc = parse_auth(r, cfg->url + 8, err);
  if (!loc || parse_location(r, loc, err)) {
    free(r);
    return -1;
  }
  snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
  int ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 50;
  r->timeout = (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
  r->fail_closed = strcmp(fail, "closed") == 0;
  script_sha(r->sha);
  pthread_mutex_init(&r->mu, NULL);
  atomic_store(&r->backoff_ns, BACKOFF_MIN_NS);
  *out = r;
  return 0;
}

void sf_rl_redis_free(sf_rl_redis *r) {
  if (!r) return;
  for (rconn *c = r->idle, *next; c; c = next) {
    next = c->next;
    redisFree(c->ctx);
    free(c);
  }
  pthread_mutex_destroy(&r->mu);
  free(r);
}

int sf_rl_redis_fail_closed(const sf_rl_redis *r) { return r->fail_closed; }

/* ---- the circuit ---- */

/* May this call use Redis? While the circuit is open, no; once its time is
 * up, exactly one caller wins the probe (and moves the time on, so the
 * others keep skipping while it tries). */
static int circuit_allows(sf_rl_redis *r) {
  uint64_t at = atomic_load(&r->retry_at_ns);
  if (at == 0) return 1;
  uint64_t now = sf_mono_ns();
  if (now < at) return 0;
  return atomic_compare_exchange_strong(&r->retry_at_ns, &at, now + atomic_load(&r->backoff_ns));
}

static void circuit_success(sf_rl_redis *r) {
  atomic_store(&r->last_ok_ns, sf_mono_ns());
  if (atomic_load(&r->retry_at_ns) == 0) return;
  atomic_store(&r->retry_at_ns, 0);
  atomic_store(&r->backoff_ns, BACKOFF_MIN_NS);
  sf_log_info("redis rate limits: Redis answers again, limits are shared", "\"host\":\"%s\",\"port\":%d", r->host,
              r->port);
}

static void circuit_failure(sf_rl_redis *r, const char *why) {
  atomic_fetch_add(&r->errors, 1);
  atomic_fetch_add(&r->gen, 1);
  uint64_t backoff = atomic_load(&r->backoff_ns);
  uint64_t now = sf_mono_ns();
  atomic_store(&r->retry_at_ns, now + backoff);
  atomic_store(&r->backoff_ns, backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2);
  uint64_t last = atomic_load(&r->last_log_ns);
  if ((last && now - last < LOG_EVERY_NS) || !atomic_compare_exchange_strong(&r->last_log_ns, &last, now)) return;
  uint64_t errors = atomic_load(&r->errors);
  char q[200];
  sf_log_warn(r->fail_closed ? "redis rate limits: Redis unavailable, refusing requests (redis_fail = closed)"
                             : "redis rate limits: Redis unavailable, limits are per instance (redis_fail = open)",
              "\"host\":\"%s\",\"port\":%d,\"error\":\"%s\",\"errors_since_last_line\":%llu", r->host, r->port,
              sf_log_quote(why, q, sizeof q),
              (unsigned long long)(errors - atomic_exchange(&r->logged_errors, errors)));
}

/* ---- connections ---- */

static int reply_ok(redisReply *rep) { return rep && rep->type != REDIS_REPLY_ERROR; }

/* AUTH and SELECT on a new connection. */
static int conn_prepare(sf_rl_redis *r, redisContext *ctx, const char **why) {
  redisReply *rep = NULL;
  if (r->password[0]) {
    rep =
        r->user[0] ? redisCommand(ctx, "AUTH %s %s", r->user, r->password) : redisCommand(ctx, "AUTH %s", r->password);
    int ok = reply_ok(rep);
    freeReplyObject(rep);
    if (!ok) return *why = "AUTH refused", -1;
  }
  if (r->db) {
    rep = redisCommand(ctx, "SELECT %d", r->db);
    int ok = reply_ok(rep);
    freeReplyObject(rep);
    if (!ok) return *why = "the database number was refused", -1;
  }
  return 0;
}

/* A new connection, or NULL with the reason in why[WHY_CAP]. */
static rconn *conn_open(sf_rl_redis *r, char *why) {
  redisContext *ctx = redisConnectWithTimeout(r->host, r->port, r->timeout);
  const char *reason = "out of memory";
  if (!ctx || ctx->err || redisSetTimeout(ctx, r->timeout) != REDIS_OK || conn_prepare(r, ctx, &reason)) {
    snprintf(why, WHY_CAP, "%s", ctx && ctx->err ? ctx->errstr : reason);
    redisFree(ctx);
    return NULL;
  }
  rconn *c = sf_calloc(1, sizeof *c);
  c->ctx = ctx;
  c->gen = atomic_load(&r->gen);
  return c;
}

static void conn_close(rconn *c) {
  if (!c) return;
  redisFree(c->ctx);
  free(c);
}

/* An idle connection of the current generation, else a new one. */
static rconn *conn_get(sf_rl_redis *r, char *why, int *reused) {
  unsigned gen = atomic_load(&r->gen);
  rconn *stale = NULL, *c;
  pthread_mutex_lock(&r->mu);
  while ((c = r->idle)) {
    r->idle = c->next;
    r->nidle--;
    if (c->gen == gen) break;
    c->next = stale;
    stale = c;
  }
  pthread_mutex_unlock(&r->mu);
  for (rconn *next; stale; stale = next) {
    next = stale->next;
    conn_close(stale);
  }
  *reused = c != NULL;
  return c ? c : conn_open(r, why);
}

static void conn_put(sf_rl_redis *r, rconn *c) {
  pthread_mutex_lock(&r->mu);
  int keep = c->gen == atomic_load(&r->gen) && r->nidle < POOL_MAX;
  if (keep) {
    c->next = r->idle;
    r->idle = c;
    r->nidle++;
  }
  pthread_mutex_unlock(&r->mu);
  if (!keep) conn_close(c);
}

/* ---- the take ---- */

/* Was the connection cut by the other side (a restarted Redis, an idle
 * timeout) rather than timed out? Such a pooled connection says nothing
 * about Redis now: the call is tried once more on a new one. */
static int cut(const redisContext *ctx) {
  return ctx->err == REDIS_ERR_EOF || (ctx->err == REDIS_ERR_IO && (errno == EPIPE || errno == ECONNRESET));
}

/* EVALSHA, then EVAL when the server does not know the script (a new or
 * restarted Redis, or SCRIPT FLUSH); EVAL also caches it for the next call. */
static redisReply *run_script(sf_rl_redis *r, redisContext *ctx, const char *key, size_t keylen,
                              unsigned long long interval_us, unsigned long long capacity_us) {
  redisReply *rep = redisCommand(ctx, "EVALSHA %s 1 %b %llu %llu", r->sha, key, keylen, interval_us, capacity_us);
  if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(rep);
    rep = redisCommand(ctx, "EVAL %s 1 %b %llu %llu", k_script, key, keylen, interval_us, capacity_us);
  }
  return rep;
}

static int ceil_s(long long us) {
  long long s = us / (long long)US_PER_S + (us % (long long)US_PER_S != 0);
  return s > INT32_MAX ? INT32_MAX : s < 0 ? 0 : (int)s;
}

/* {allowed, remaining, reset_us, wait_us} into *out, as sf_rl_take says it. */
static int read_result(const redisReply *rep, int limit, sf_rl_result *out) {
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 4) return -1;
  long long v[4];
  for (int i = 0; i < 4; i++) {
    if (rep->element[i]->type != REDIS_REPLY_INTEGER) return -1;
    v[i] = rep->element[i]->integer;
  }
  out->limit = limit;
  out->allowed = v[0] == 1;
  out->remaining = out->allowed ? (v[1] > INT32_MAX ? INT32_MAX : (int)v[1]) : 0;
  out->reset_s = ceil_s(v[2]);
  out->retry_after_s = out->allowed ? 0 : v[3] < (long long)US_PER_S ? 1 : ceil_s(v[3]);
  return 0;
}

/* The limit in whole microseconds: the interval rounded (at least 1), the
 * capacity the same number of intervals as the local limiter's. */
static void params_us(const sf_rl_params *p, unsigned long long *interval_us, unsigned long long *capacity_us) {
  unsigned long long iv = (p->interval_ns + NS_PER_US / 2) / NS_PER_US;
  if (iv == 0) iv = 1;
  *interval_us = iv;
  *capacity_us = (unsigned long long)llround((double)p->capacity_ns / (double)p->interval_ns * (double)iv);
}

int sf_rl_redis_take(sf_rl_redis *r, const sf_rl_params *p, const char *name, const char *key, sf_rl_result *out) {
  if (p->unlimited) {
    *out = (sf_rl_result){.allowed = 1, .limit = p->limit, .remaining = p->limit};
    return 0;
  }
  if (!circuit_allows(r)) return -1;
  char k[512];
  int n = snprintf(k, sizeof k, "%srl:%s:%s", r->prefix, name, key ? key : "");
  if (n < 0 || (size_t)n >= sizeof k) n = (int)sizeof k - 1; /* keys are ids and addresses: never this long */
  unsigned long long interval_us, capacity_us;
  params_us(p, &interval_us, &capacity_us);
  char why[WHY_CAP];
  for (int attempt = 0; attempt < 2; attempt++) {
    int reused;
    rconn *c = conn_get(r, why, &reused);
    if (!c) break;
    redisReply *rep = run_script(r, c->ctx, k, (size_t)n, interval_us, capacity_us);
    if (read_result(rep, p->limit, out) == 0) {
      freeReplyObject(rep);
      conn_put(r, c);
      circuit_success(r);
      return 0;
    }
    int retry = reused && !rep && cut(c->ctx);
    snprintf(why, sizeof why, "%s",
             !rep                             ? c->ctx->errstr
             : rep->type == REDIS_REPLY_ERROR ? rep->str
                                              : "unexpected reply");
    freeReplyObject(rep);
    conn_close(c);
    if (!retry) break;
  }
  circuit_failure(r, why);
  return -1;
}

int sf_rl_shared_take(sf_rl_redis *r, sf_ratelimit *rl, const char *name, const char *key, uint64_t now_ns,
                      sf_rl_result *out) {
  if (r) {
    sf_rl_params p;
    sf_rl_params_of(rl, &p);
    if (sf_rl_redis_take(r, &p, name, key, out) == 0) return 0;
    if (r->fail_closed) {
      atomic_fetch_add(&r->refused, 1);
      return -1;
    }
    atomic_fetch_add(&r->served_local, 1);
  }
  sf_rl_take(rl, key, now_ns, out);
  return 0;
}

/* ---- health and metrics ---- */

int sf_rl_redis_check(sf_rl_redis *r) {
  /* Traffic answers for Redis; a PING only when none did for a second. */
  if (atomic_load(&r->retry_at_ns) == 0 && sf_mono_ns() - atomic_load(&r->last_ok_ns) < 1000 * MS_NS) return 1;
  if (!circuit_allows(r)) return 0;
  char why[WHY_CAP];
  int reused;
  rconn *c = conn_get(r, why, &reused);
  redisReply *rep = c ? redisCommand(c->ctx, "PING") : NULL;
  int ok = reply_ok(rep);
  if (c && !ok) snprintf(why, sizeof why, "%s", rep ? rep->str : c->ctx->errstr);
  freeReplyObject(rep);
  if (!ok) {
    circuit_failure(r, why);
    conn_close(c);
    return 0;
  }
  conn_put(r, c);
  circuit_success(r);
  return 1;
}

void sf_rl_redis_metrics(sf_rl_redis *r, sf_buf *out) {
  sf_buf_printf(out,
                "# HELP sf_ratelimit_redis_up 1 while the shared rate limits in Redis answer (circuit closed).\n"
                "# TYPE sf_ratelimit_redis_up gauge\n"
                "sf_ratelimit_redis_up %d\n"
                "# HELP sf_ratelimit_redis_errors_total Rate-limit calls to Redis that failed (refused, timed out, "
                "error reply).\n"
                "# TYPE sf_ratelimit_redis_errors_total counter\n"
                "sf_ratelimit_redis_errors_total %llu\n"
                "# HELP sf_ratelimit_redis_unavailable_total Rate-limit takes decided without Redis: by the "
                "instance's own limiter (fail open) or refused with 503 (fail closed).\n"
                "# TYPE sf_ratelimit_redis_unavailable_total counter\n"
                "sf_ratelimit_redis_unavailable_total{outcome=\"local\"} %llu\n"
                "sf_ratelimit_redis_unavailable_total{outcome=\"refused\"} %llu\n",
                atomic_load(&r->retry_at_ns) == 0, (unsigned long long)atomic_load(&r->errors),
                (unsigned long long)atomic_load(&r->served_local), (unsigned long long)atomic_load(&r->refused));
}
