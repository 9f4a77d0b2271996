/* Concurrency limits shared by every instance through Redis (setting
 * redis_url): at most `max` holders of a key at once, whichever instance
 * each holder is on (the per-user limit of open streams, edge/stream.h).
 *
 * A key is a sorted set, <prefix>slots:<name>:<key>, e.g.
 * "sf:slots:stream:usr_1"; a holder is one member, named by its instance
 * and its own id, scored with the instant (the Redis server's clock, ms) it
 * expires. One Lua script drops the expired members, counts and adds when
 * under the limit: atomic however many instances ask at once. A holder's
 * instance refreshes it (sf_rl_slots_refresh, every holder of the instance
 * in one call) well before it expires, and releases it when it ends; the
 * holders of an instance that died expire by themselves after ttl_ms.
 * A refresh adds a holder Redis does not have (Redis restarted empty, or was
 * unreachable when the holder came): the count is whole again one refresh
 * after Redis is back.
 *
 * These calls go through the client of edge/ratelimit_redis.h: its pool,
 * timeouts and circuit. They do not decide fail open or closed: -1 says
 * Redis could not answer, and the caller asks sf_rl_redis_unavailable.
 * Any thread. */
#ifndef SF_EDGE_RATELIMIT_SLOTS_H
#define SF_EDGE_RATELIMIT_SLOTS_H

#include "edge/ratelimit_redis.h"

/* Computes the scripts' hashes; main thread, before any call. */
void sf_rl_slots_init(void);

/* Adds member to key when key has fewer than max live holders. Returns 1
 * (added, expiring in ttl_ms), 0 (full: *count says how many hold it), or
 * -1 when Redis cannot answer. */
int sf_rl_slots_take(sf_rl_redis *r, const char *name, const char *key, const char *member, int max, int ttl_ms,
                     int *count);

/* Removes member from key: 0, or -1 when Redis cannot answer (the member
 * then expires by itself). */
int sf_rl_slots_release(sf_rl_redis *r, const char *name, const char *key, const char *member);

/* One holder for sf_rl_slots_refresh. */
typedef struct sf_rl_slot {
  const char *key, *member;
} sf_rl_slot;

/* Sets every holder of s (n of them, any number: sent in calls of at most
 * a few hundred) to expire ttl_ms from now, adding those missing. 0, or -1
 * when Redis could not answer (some may be refreshed). */
int sf_rl_slots_refresh(sf_rl_redis *r, const char *name, const sf_rl_slot *s, int n, int ttl_ms);

#endif
