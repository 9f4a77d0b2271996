/* The per-user limit of open streams across instances (redis_url): each
 * connection holds a place in its user's set in Redis
 * (edge/ratelimit_slots.h), named by this instance and the connection's
 * number. sf-stream's tick (hub_tick) refreshes every place of the instance
 * in one call once a heartbeat, and a place expires after three heartbeats,
 * so the connections of an instance that died free their places by
 * themselves. Without redis_url nothing here runs: the hub counts per
 * instance (stream.c). */
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
  /* Held from hub_limit_due to hub_limit_refresh (the collection and the
   * Redis call), and by a release: a connection that ends while a refresh
   * is under way is released after it, never refreshed (added back) after
   * its release. Taken before the hub's lock, never while holding it. */
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

/* Called by the hub's core only (it calls nothing of the core). */
void hub_limit_release(const hub_conn *c) {
  sf_rl_redis *r = sf_edge_rl_redis();
  if (!r || !c->slot[0]) return;
  pthread_mutex_lock(&limit.mu);
  sf_rl_slots_release(r, SLOT_NAME, c->user_id, c->slot);
  pthread_mutex_unlock(&limit.mu);
}

int hub_limit_due(int64_t now_ms) {
  if (!sf_edge_rl_redis() || now_ms < limit.next_refresh_ms) return 0;
  limit.next_refresh_ms = now_ms + hub_cfg.heartbeat_ms;
  pthread_mutex_lock(&limit.mu);
  return 1;
}

void hub_places_add(hub_places *p, const hub_conn *c) {
  if (!c->slot[0]) return;
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 64;
    p->names = sf_realloc(p->names, (size_t)p->cap * sizeof *p->names);
  }
  struct hub_place_names *n = &p->names[p->n];
  snprintf(n->user_id, sizeof n->user_id, "%s", c->user_id);
  snprintf(n->slot, sizeof n->slot, "%s", c->slot);
  p->n++;
}

void hub_limit_refresh(hub_places *p) {
  sf_rl_slot *slots = p->n ? sf_malloc((size_t)p->n * sizeof *slots) : NULL;
  for (int i = 0; i < p->n; i++) slots[i] = (sf_rl_slot){p->names[i].user_id, p->names[i].slot};
  sf_rl_slots_refresh(sf_edge_rl_redis(), SLOT_NAME, slots, p->n, ttl_ms());
  pthread_mutex_unlock(&limit.mu);
  free(slots);
  free(p->names);
  *p = (hub_places){0};
}
