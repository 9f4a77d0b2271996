/* Rate limits shared by every instance through Redis (setting redis_url).
 *
 * The same GCRA as edge/ratelimit.h, with the bucket's "theoretical arrival
 * time" kept in a Redis key and updated by one Lua script (EVALSHA, EVAL
 * when the server answers NOSCRIPT), so a take is atomic however many
 * instances share the bucket. The script reads the Redis server's clock
 * (TIME), never an instance's: instances' clocks differ. Each key expires
 * when its bucket would be full again (a missing key is a full bucket), so
 * Redis holds only the clients active within one refill period. Time is in
 * whole microseconds there; rates above 1,000,000 per second per key act as
 * 1,000,000.
 *
 * Keys: <prefix>rl:<name>:<key>, e.g. "sf:rl:ip:203.0.113.9". A request's
 * buckets (per-IP, login, per-user) go to one script call together: one
 * round trip per request.
 *
 * Connections: a small pool of hiredis connections, each used by one thread
 * at a time (an HTTP thread takes one for a call and puts it back), opened on
 * demand, with connect and command timeouts of timeout_ms. A failed call
 * (refused, timed out, an error reply) opens a circuit: for a backoff of
 * 0.5 s doubling to 2 s, no thread waits on Redis; then one thread probes
 * with the next call, and a success closes the circuit. A failure also drops
 * every pooled connection (a restarted Redis has cut them all). A pooled
 * connection found cut (EOF, reset) is not yet a failure: the call is made
 * once more on a new connection, so a quick Redis restart costs nothing.
 *
 * When Redis cannot answer: fail open (the default) decides with the
 * instance's own limiter (per instance, as without Redis); fail closed
 * refuses (the caller answers 503 with Retry-After). Both are counted
 * (sf_ratelimit_redis_errors_total and _unavailable_total) and logged at most
 * once every 10 s.
 *
 * The process must ignore SIGPIPE (app.c does): a write to a Redis that went
 * away is then an error like any other.
 *
 * Ownership: sf_rl_redis_new returns a client the caller frees with
 * sf_rl_redis_free after every caller has stopped; strings are copied in.
 * Every other function may be called from any number of threads at once. */
#ifndef SF_EDGE_RATELIMIT_REDIS_H
#define SF_EDGE_RATELIMIT_REDIS_H

#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "edge/ratelimit.h"

typedef struct sf_rl_redis sf_rl_redis;

typedef struct sf_rl_redis_config {
  const char *url;    /* redis://[[user]:password@]host[:port][/db]; port 6379, db 0 by default */
  const char *prefix; /* put before every key, e.g. "sf:" */
  int timeout_ms;     /* connect, and each command */
  const char *fail;   /* "open" (or NULL / "") or "closed" */
} sf_rl_redis_config;

/* Checks the configuration; does not connect (Redis down at start is the
 * same as Redis down later). 0, or negative with err filled (400 "config"). */
int sf_rl_redis_new(const sf_rl_redis_config *cfg, sf_rl_redis **out, sf_err *err);

/* Closes every connection and frees the client. NULL is a no-op. */
void sf_rl_redis_free(sf_rl_redis *r);

/* The most buckets one call takes from (a request: per-IP, login, per-user). */
#define SF_RL_MAX_TAKES 4

/* One bucket of sf_rl_shared_take_all: the limiter (its limit, and the
 * buckets used without Redis), the bucket family in Redis and the key. */
typedef struct sf_rl_want {
  sf_ratelimit *rl;
  const char *name, *key;
} sf_rl_want;

/* Takes one token from each of the n buckets (at most SF_RL_MAX_TAKES) in
 * order, stopping at the first that refuses, as n calls of
 * sf_rl_shared_take that stop at a refusal would, but in one Redis round
 * trip (one script call over every key). out[i] is filled for each bucket
 * taken, *taken says how many (n, or up to and including the refused one).
 * Returns 0, or -1 when r is fail-closed and Redis cannot answer (nothing
 * taken). When Redis cannot answer and r fails open, every bucket is taken
 * from its limiter in process, in the same order. r NULL: in process. The
 * keys go to one Redis node together (no Redis Cluster slots). */
int sf_rl_shared_take_all(sf_rl_redis *r, const sf_rl_want *w, int n, uint64_t now_ns, sf_rl_result *out, int *taken);

/* Takes one token from the bucket `name:key` with rl's limit (the same
 * burst and rate for every instance: configure them alike), in Redis when
 * r is set and answers, else from rl itself. Returns 0 with *out filled, or
 * -1 when r is fail-closed and Redis cannot answer (the caller refuses the
 * request; *out untouched). r NULL: exactly sf_rl_take(rl, key, now_ns). */
int sf_rl_shared_take(sf_rl_redis *r, sf_ratelimit *rl, const char *name, const char *key, uint64_t now_ns,
                      sf_rl_result *out);

/* The Redis take alone: 0 with *out filled, -1 when Redis cannot answer
 * (the circuit counts it). For tests and sf_rl_shared_take. */
int sf_rl_redis_take(sf_rl_redis *r, const sf_rl_params *p, const char *name, const char *key, sf_rl_result *out);
/* The Redis take of several buckets in one script call, as
 * sf_rl_shared_take_all says it: 0 with out[] and *taken filled, -1 when
 * Redis cannot answer. Unlimited buckets allow without Redis. */
typedef struct sf_rl_redis_want {
  const sf_rl_params *params;
  const char *name, *key;
} sf_rl_redis_want;
int sf_rl_redis_take_all(sf_rl_redis *r, const sf_rl_redis_want *w, int n, sf_rl_result *out, int *taken);

/* 1 when Redis answers (the last call succeeded, or a PING made now while
 * the circuit allowed one did), 0 when it does not. For /readyz. */
int sf_rl_redis_check(sf_rl_redis *r);

/* 1 when fail = closed. */
int sf_rl_redis_fail_closed(const sf_rl_redis *r);

/* Counts a limit decided without Redis (it could not answer) in the
 * _unavailable_total metric, and returns 1 when it is to be refused (fail
 * closed: the caller answers 503), 0 when the caller decides with its own
 * per-instance state (fail open). */
int sf_rl_redis_unavailable(sf_rl_redis *r);

/* ---- for other shared limits (edge/ratelimit_slots.h) ---- */

struct redisReply;

/* A Lua script: text static, sha (for EVALSHA) filled by sf_rl_script_init
 * (main thread, before any call; again is a no-op). */
typedef struct sf_rl_script {
  const char *text;
  char sha[41];
} sf_rl_script;
void sf_rl_script_init(sf_rl_script *s);

/* Runs script s on a pooled connection under r's circuit, as the takes do
 * (EVALSHA, EVAL on NOSCRIPT; a cut pooled connection retried once).
 * argv/len hold argc words: argv[0] and argv[1] are set here (the command
 * and the script), then the number of keys, the keys and the arguments.
 * read(rep, arg) sees a reply that is not an error and returns 0 when it
 * has the shape expected (it must not keep rep). 0, or -1 when Redis cannot
 * answer (counted by the circuit; no fail open/closed decision here). */
int sf_rl_redis_eval(sf_rl_redis *r, const sf_rl_script *s, int argc, const char **argv, size_t *len,
                     int (*read)(const struct redisReply *rep, void *arg), void *arg);

/* The redis_prefix every key starts with. */
const char *sf_rl_redis_prefix(const sf_rl_redis *r);

/* Appends sf_ratelimit_redis_* metric families to out. */
void sf_rl_redis_metrics(sf_rl_redis *r, sf_buf *out);

#endif
