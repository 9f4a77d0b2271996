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
 * double: exact to 2^53, and now is about 2^50 us), over the buckets KEYS in
 * order (a request's per-IP, login and per-user buckets: one round trip for
 * all). KEYS[i] holds the instant its bucket is full again (tat); ARGV[2i-1],
 * ARGV[2i]: its interval and capacity (us). Returns {allowed, remaining,
 * reset_us, wait_us} for each bucket taken, stopping after the first refused
 * (the later ones are left alone, as a single bucket's caller would not have
 * reached them): reset_us is the time to full after this call, wait_us (when
 * refused) the time to one token. A key expires when its bucket is full: a
 * missing key is a full bucket. replicate_commands: Redis before 5
 * replicates a script that read TIME only so; later versions always do and
 * keep the call as a no-op. */
static sf_rl_script gcra = {
    .text = "if redis.replicate_commands then redis.replicate_commands() end\n"
            "local t = redis.call('TIME')\n"
            "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
            "local out = {}\n"
            "for i = 1, #KEYS do\n"
            "  local interval = tonumber(ARGV[2 * i - 1])\n"
            "  local capacity = tonumber(ARGV[2 * i])\n"
            "  local tat = tonumber(redis.call('GET', KEYS[i])) or now\n"
            "  if tat < now then tat = now end\n"
            "  local debt = tat + interval - now\n"
            "  if debt > capacity then\n"
            "    out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = tat - now; out[#out + 1] = debt - capacity\n"
            "    return out\n"
            "  end\n"
            "  redis.call('SET', KEYS[i], string.format('%d', tat + interval), 'PX', math.ceil(debt / 1000))\n"
            "  out[#out + 1] = 1; out[#out + 1] = math.floor((capacity - debt) / interval)\n"
            "  out[#out + 1] = debt; out[#out + 1] = 0\n"
            "end\n"
            "return out\n"};

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

void sf_rl_script_init(sf_rl_script *s) {
  if (s->sha[0]) return;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  char sha[41] = "";
  EVP_Digest(s->text, strlen(s->text), md, &n, EVP_sha1(), NULL);
  for (unsigned i = 0; i < n && i < 20; i++) snprintf(sha + 2 * i, 3, "%02x", md[i]);
  memcpy(s->sha, sha, sizeof sha);
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
  sf_rl_script_init(&gcra);
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

const char *sf_rl_redis_prefix(const sf_rl_redis *r) { return r->prefix; }

int sf_rl_redis_unavailable(sf_rl_redis *r) {
  atomic_fetch_add(r->fail_closed ? &r->refused : &r->served_local, 1);
  return r->fail_closed;
}

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

/* The script's arguments for up to SF_RL_MAX_TAKES buckets: the command
 * word and script (or its sha), the key count, the keys, then each bucket's
 * interval and capacity. */
typedef struct script_args {
  int argc;
  const char *argv[3 + 3 * SF_RL_MAX_TAKES];
  size_t len[3 + 3 * SF_RL_MAX_TAKES];
  char nkeys[8];
  char keys[SF_RL_MAX_TAKES][512];
  char nums[2 * SF_RL_MAX_TAKES][24];
} script_args;

static void arg(script_args *a, const char *s, size_t n) {
  a->argv[a->argc] = s;
  a->len[a->argc++] = n;
}

/* The limit in whole microseconds: the interval rounded (at least 1), the
 * capacity the same number of intervals as the local limiter's. */
static void params_us(const sf_rl_params *p, unsigned long long *interval_us, unsigned long long *capacity_us) {
  unsigned long long iv = (p->interval_ns + NS_PER_US / 2) / NS_PER_US;
  if (iv == 0) iv = 1;
  *interval_us = iv;
  *capacity_us = (unsigned long long)llround((double)p->capacity_ns / (double)p->interval_ns * (double)iv);
}

static void script_args_of(sf_rl_redis *r, const sf_rl_redis_want *w, int n, script_args *a) {
  a->argc = 2; /* the command and the script: sf_rl_redis_eval's */
  arg(a, a->nkeys, (size_t)snprintf(a->nkeys, sizeof a->nkeys, "%d", n));
  for (int i = 0; i < n; i++) {
    int len = snprintf(a->keys[i], sizeof a->keys[i], "%srl:%s:%s", r->prefix, w[i].name, w[i].key ? w[i].key : "");
    if (len < 0 || (size_t)len >= sizeof a->keys[i]) len = (int)sizeof a->keys[i] - 1; /* ids and addresses: never */
    arg(a, a->keys[i], (size_t)len);
  }
  for (int i = 0; i < n; i++) {
    unsigned long long interval_us, capacity_us;
    params_us(w[i].params, &interval_us, &capacity_us);
    arg(a, a->nums[2 * i], (size_t)snprintf(a->nums[2 * i], sizeof a->nums[2 * i], "%llu", interval_us));
    arg(a, a->nums[2 * i + 1], (size_t)snprintf(a->nums[2 * i + 1], sizeof a->nums[2 * i + 1], "%llu", capacity_us));
  }
}

/* EVALSHA, then EVAL when the server does not know the script (a new or
 * restarted Redis, or SCRIPT FLUSH); EVAL also caches it for the next call. */
static redisReply *run_script(redisContext *ctx, const sf_rl_script *s, int argc, const char **argv, size_t *len) {
  argv[0] = "EVALSHA", len[0] = 7;
  argv[1] = s->sha, len[1] = strlen(s->sha);
  redisReply *rep = redisCommandArgv(ctx, argc, argv, len);
  if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(rep);
    argv[0] = "EVAL", len[0] = 4;
    argv[1] = s->text, len[1] = strlen(s->text);
    rep = redisCommandArgv(ctx, argc, argv, len);
  }
  return rep;
}

static int ceil_s(long long us) {
  long long s = us / (long long)US_PER_S + (us % (long long)US_PER_S != 0);
  return s > INT32_MAX ? INT32_MAX : s < 0 ? 0 : (int)s;
}

/* One bucket's {allowed, remaining, reset_us, wait_us} (v) into *out, as
 * sf_rl_take says it. */
static void result_of(const long long v[4], int limit, sf_rl_result *out) {
  out->limit = limit;
  out->allowed = v[0] == 1;
  out->remaining = out->allowed ? (v[1] > INT32_MAX ? INT32_MAX : (int)v[1]) : 0;
  out->reset_s = ceil_s(v[2]);
  out->retry_after_s = out->allowed ? 0 : v[3] < (long long)US_PER_S ? 1 : ceil_s(v[3]);
}

/* What the GCRA script's reply goes into. */
typedef struct gcra_reply {
  const sf_rl_redis_want *w;
  int n;
  sf_rl_result *out;
  int *taken;
} gcra_reply;

/* The script's reply for n buckets into out; *taken: how many it answered
 * (all n, or up to the first refused). 0, or -1 for a reply of another shape. */
static int read_results(const redisReply *rep, void *arg) {
  const gcra_reply *g = arg;
  const sf_rl_redis_want *w = g->w;
  int n = g->n;
  sf_rl_result *out = g->out;
  int *taken = g->taken;
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements % 4 || rep->elements == 0 ||
      rep->elements > 4 * (size_t)n)
    return -1;
  int m = (int)(rep->elements / 4);
  for (int i = 0; i < m; i++) {
    long long v[4];
    for (int j = 0; j < 4; j++) {
      const redisReply *e = rep->element[4 * i + j];
      if (e->type != REDIS_REPLY_INTEGER) return -1;
      v[j] = e->integer;
    }
    result_of(v, w[i].params->limit, &out[i]);
    if (!out[i].allowed && i != m - 1) return -1; /* the script stops at a refusal */
  }
  if (m < n && out[m - 1].allowed) return -1;
  *taken = m;
  return 0;
}

int sf_rl_redis_eval(sf_rl_redis *r, const sf_rl_script *s, int argc, const char **argv, size_t *len,
                     int (*read)(const struct redisReply *rep, void *arg), void *arg) {
  if (!circuit_allows(r)) return -1;
  char why[WHY_CAP];
  for (int attempt = 0; attempt < 2; attempt++) {
    int reused;
    rconn *c = conn_get(r, why, &reused);
    if (!c) break;
    redisReply *rep = run_script(c->ctx, s, argc, argv, len);
    if (rep && rep->type != REDIS_REPLY_ERROR && read(rep, arg) == 0) {
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

/* The limited buckets of w (unlimited ones are answered in place) in one
 * script call: 0, or -1 when Redis cannot answer (the circuit counts it). */
static int redis_call(sf_rl_redis *r, const sf_rl_redis_want *w, int n, sf_rl_result *out, int *taken) {
  script_args a;
  script_args_of(r, w, n, &a);
  gcra_reply g = {w, n, out, taken};
  return sf_rl_redis_eval(r, &gcra, a.argc, a.argv, a.len, read_results, &g);
}

int sf_rl_redis_take_all(sf_rl_redis *r, const sf_rl_redis_want *w, int n, sf_rl_result *out, int *taken) {
  sf_rl_redis_want limited[SF_RL_MAX_TAKES];
  sf_rl_result got[SF_RL_MAX_TAKES];
  int at[SF_RL_MAX_TAKES], nl = 0, ngot = 0;
  if (n > SF_RL_MAX_TAKES) n = SF_RL_MAX_TAKES;
  for (int i = 0; i < n; i++)
    if (!w[i].params->unlimited) at[nl] = i, limited[nl++] = w[i];
  if (nl && redis_call(r, limited, nl, got, &ngot)) return -1;
  /* In order: an unlimited bucket allows; the limited ones as Redis said,
   * which answered up to the first refused. */
  *taken = 0;
  for (int i = 0, k = 0; i < n; i++) {
    if (k < nl && at[k] == i)
      out[i] = got[k++];
    else
      out[i] = (sf_rl_result){.allowed = 1, .limit = w[i].params->limit, .remaining = w[i].params->limit};
    *taken = i + 1;
    if (!out[i].allowed) break;
  }
  return 0;
}

int sf_rl_redis_take(sf_rl_redis *r, const sf_rl_params *p, const char *name, const char *key, sf_rl_result *out) {
  sf_rl_redis_want w = {p, name, key};
  int taken;
  return sf_rl_redis_take_all(r, &w, 1, out, &taken);
}

int sf_rl_shared_take_all(sf_rl_redis *r, const sf_rl_want *w, int n, uint64_t now_ns, sf_rl_result *out, int *taken) {
  if (n > SF_RL_MAX_TAKES) n = SF_RL_MAX_TAKES;
  if (r) {
    sf_rl_params p[SF_RL_MAX_TAKES];
    sf_rl_redis_want rw[SF_RL_MAX_TAKES];
    for (int i = 0; i < n; i++) {
      sf_rl_params_of(w[i].rl, &p[i]);
      rw[i] = (sf_rl_redis_want){&p[i], w[i].name, w[i].key};
    }
    if (sf_rl_redis_take_all(r, rw, n, out, taken) == 0) return 0;
    if (sf_rl_redis_unavailable(r)) return -1;
  }
  /* in process, in the same order, stopping at the first refused */
  *taken = 0;
  for (int i = 0; i < n; i++) {
    sf_rl_take(w[i].rl, w[i].key, now_ns, &out[i]);
    *taken = i + 1;
    if (!out[i].allowed) break;
  }
  return 0;
}

int sf_rl_shared_take(sf_rl_redis *r, sf_ratelimit *rl, const char *name, const char *key, uint64_t now_ns,
                      sf_rl_result *out) {
  sf_rl_want w = {rl, name, key};
  int taken;
  return sf_rl_shared_take_all(r, &w, 1, now_ns, out, &taken);
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
