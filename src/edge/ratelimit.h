/* Token-bucket rate limiter keyed by a string (client IP, user id, ...).
 *
 * Ownership: sf_rl_new returns a limiter the caller frees with sf_rl_free.
 * Keys are copied in; the caller keeps ownership of the strings it passes.
 * sf_rl_take is safe to call from any number of threads at once; sf_rl_new
 * and sf_rl_free are not (free only after every taker has stopped).
 *
 * The table is split into shards, each behind its own mutex, so HTTP threads
 * limiting different clients rarely wait on each other. Each bucket is stored
 * as a single "theoretical arrival time" (GCRA), which is exactly a token
 * bucket but needs no floating-point refill arithmetic and tells directly
 * when the bucket will be full again.
 *
 * Time is passed in (monotonic nanoseconds, e.g. sf_mono_ns) so callers and
 * tests control the clock. A now_ns older than a bucket's last update is
 * treated as "no time has passed", never as a refund.
 *
 * Memory is bounded by max_keys buckets in total, split evenly over up to 64
 * shards (fewer for small tables, at least 16 keys each; one below 32 keys,
 * which makes eviction order exact there). When a shard is full, a
 * bucket that has refilled completely is dropped first (forgetting it loses
 * nothing: a new bucket starts full); only if none is full is the
 * least-recently-touched bucket of that shard dropped, which hands its client
 * a fresh burst. Size max_keys above the number of clients expected to be
 * active within one refill period. */
#ifndef SF_EDGE_RATELIMIT_H
#define SF_EDGE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct sf_ratelimit sf_ratelimit;

typedef struct sf_rl_result {
  int allowed;       /* 1 = take succeeded */
  int limit;         /* burst size (RateLimit-Limit) */
  int remaining;     /* whole tokens left after this take (RateLimit-Remaining) */
  int reset_s;       /* seconds until the bucket is full again, ceil (RateLimit-Reset) */
  int retry_after_s; /* when !allowed: seconds until one token is available, ceil, >= 1 */
} sf_rl_result;

/* rate_per_s tokens are added per second up to a capacity of burst (values
 * below 1 are raised to 1). max_keys bounds the number of buckets kept (0 is
 * treated as 1). rate_per_s <= 0 gives a limiter that allows everything.
 * Never returns NULL (out of memory aborts). */
sf_ratelimit *sf_rl_new(double rate_per_s, double burst, size_t max_keys);

/* Frees the limiter and every copied key. NULL is a no-op. */
void sf_rl_free(sf_ratelimit *rl);

/* Takes one token from key's bucket at time now_ns and describes the outcome
 * in *out. A NULL key is treated as "". */
void sf_rl_take(sf_ratelimit *rl, const char *key, uint64_t now_ns, sf_rl_result *out);

/* The GCRA figures a limiter was built with, so another store of buckets
 * (edge/ratelimit_redis.h) applies exactly the same limit. */
typedef struct sf_rl_params {
  int unlimited;        /* rate_per_s <= 0: everything is allowed */
  int limit;            /* burst, whole tokens */
  uint64_t interval_ns; /* time to earn one token */
  uint64_t capacity_ns; /* burst * interval_ns */
} sf_rl_params;
void sf_rl_params_of(const sf_ratelimit *rl, sf_rl_params *out);

/* Number of buckets currently held (diagnostics and tests). */
size_t sf_rl_size(sf_ratelimit *rl);

#endif
