/* The per-user limit of open streams across instances (redis_url): each
 * connection holds a place in its user's set in Redis (edge/ratelimit_slots.h),
 * named by this instance and the connection's number; sf-stream refreshes
 * every place of the instance once a heartbeat in one call, and a place
 * expires after three heartbeats, so the connections of an instance that
 * died free their places by themselves. Without redis_url, nothing here
 * runs: the hub counts per instance (stream.c). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"
#include "edge/ratelimit_slots.h"
#include "edge/stream_internal.h"
#include "events/lease.h"

#define SLOT_NAME "stream"
#define TTL_MIN_MS 3000

static struct limit_state {
  /* Held across a refresh's collection and its Redis call, and by a
   * release: a connection that ends while a refresh is under way is
   * released after it, never refreshed (added back) after its release.
   * Taken before the hub's lock, never while holding it. */
  pthread_mutex_t mu;
  char instance[300];
  _Atomic uint64_t seq;
  int64_t next_refresh_ms;
} limit = {.mu = PTHREAD_MUTEX_INITIALIZER};

void hub_limit_start(void) {
  if (!sf_edge_rl_redis()) return;
  sf_rl_slots_init();
  snprintf(limit.instance, sizeof limit.instance, "%s", sf_lease_instance());
}

static int ttl_ms(void) {
  int ttl = 3 * hub_cfg.heartbeat_ms;
  return ttl < TTL_MIN_MS ? TTL_MIN_MS : ttl;
}

int hub_limit_refuse(sf_err *err) {
  sf_err_set(err, 429, "too-many-streams", "Too many streams", "at most %d open streams per user; close one first",
             hub_cfg.max_per_user);
  err->retry_after = 5;
  return -1;
}

int hub_limit_take(const char *user_id, char *member, size_t cap, sf_err *err) {
  member[0] = '\0';
  sf_rl_redis *r = sf_edge_rl_redis();
  if (!r) return 0;
  snprintf(member, cap, "%s:%llu", limit.instance, (unsigned long long)atomic_fetch_add(&limit.seq, 1) + 1);
  int rc = sf_rl_slots_take(r, SLOT_NAME, user_id, member, hub_cfg.max_per_user, ttl_ms(), NULL);
  if (rc == 1) return 1;
  if (rc == 0) {
    member[0] = '\0';
    return hub_limit_refuse(err);
  }
  if (!sf_rl_redis_unavailable(r)) return 0; /* fail open: this instance's count decides */
  member[0] = '\0';
  sf_edge_limits_unavailable(err);
  return -1;
}

void hub_limit_release(const hub_conn *c) {
  sf_rl_redis *r = sf_edge_rl_redis();
  if (!r || !c->slot[0]) return;
  pthread_mutex_lock(&limit.mu);
  sf_rl_slots_release(r, SLOT_NAME, c->user_id, c->slot);
  pthread_mutex_unlock(&limit.mu);
}

/* Under the hub's lock: every linked connection's place, copied (*store:
 * the strings, one malloc for the caller to free). */
static int collect(sf_rl_slot **out, char **store) {
  int n = 0;
  for (hub_conn *c = hub_conns(); c; c = c->next) n += c->slot[0] != 0;
  *out = NULL;
  *store = NULL;
  if (!n) return 0;
  size_t each = sizeof((hub_conn *)0)->user_id + sizeof((hub_conn *)0)->slot;
  sf_rl_slot *s = sf_malloc((size_t)n * sizeof *s);
  char *at = sf_malloc((size_t)n * each);
  *store = at;
  int i = 0;
  for (hub_conn *c = hub_conns(); c && i < n; c = c->next) {
    if (!c->slot[0]) continue;
    s[i].key = strcpy(at, c->user_id);
    s[i++].member = strcpy(at + sizeof c->user_id, c->slot);
    at += each;
  }
  *out = s;
  return i;
}

void hub_limit_refresh(int64_t now_ms) {
  sf_rl_redis *r = sf_edge_rl_redis();
  if (!r || now_ms < limit.next_refresh_ms) return;
  limit.next_refresh_ms = now_ms + hub_cfg.heartbeat_ms;
  sf_rl_slot *s;
  char *store;
  pthread_mutex_lock(&limit.mu);
  hub_lock();
  int n = collect(&s, &store);
  hub_unlock();
  sf_rl_slots_refresh(r, SLOT_NAME, s, n, ttl_ms());
  pthread_mutex_unlock(&limit.mu);
  free(s);
  free(store);
}
