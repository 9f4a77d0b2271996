#include "core/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/metrics.h"
#include "core/util.h"

#define NSHARDS 64
#define NBUCKETS 256 /* per shard */

typedef struct entry {
  struct entry *next;
  size_t len;
  char etag[32];
  char *val;
  char key[];
} entry;

typedef struct {
  pthread_rwlock_t lock;
  _Atomic uint64_t gen;
  size_t count;
  entry *buckets[NBUCKETS];
} shard;

struct sf_cache {
  char name[32];
  size_t max_per_shard;
  _Atomic uint64_t hits, misses;
  shard shards[NSHARDS];
};

static uint64_t hash(const char *s) { return sf_fnv1a(s, strlen(s)); }

sf_cache *sf_cache_new(const char *name, size_t max_entries) {
  sf_cache *c = sf_calloc(1, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->max_per_shard = max_entries / NSHARDS > 0 ? max_entries / NSHARDS : 1;
  for (int i = 0; i < NSHARDS; i++) pthread_rwlock_init(&c->shards[i].lock, NULL);
  return c;
}

static void free_entry(entry *e) {
  free(e->val);
  free(e);
}

static void unregister(sf_cache *c);

void sf_cache_free(sf_cache *c) {
  if (!c) return;
  unregister(c);
  for (int i = 0; i < NSHARDS; i++) {
    for (int b = 0; b < NBUCKETS; b++)
      for (entry *e = c->shards[i].buckets[b], *n; e; e = n) n = e->next, free_entry(e);
    pthread_rwlock_destroy(&c->shards[i].lock);
  }
  free(c);
}

static shard *shard_of(sf_cache *c, uint64_t h) { return &c->shards[h % NSHARDS]; }

uint64_t sf_cache_gen(sf_cache *c, const char *key) { return atomic_load(&shard_of(c, hash(key))->gen); }

char *sf_cache_get(sf_cache *c, const char *key, size_t *len, char *etag, size_t cap) {
  uint64_t h = hash(key);
  shard *s = shard_of(c, h);
  char *out = NULL;
  pthread_rwlock_rdlock(&s->lock);
  for (entry *e = s->buckets[(h / NSHARDS) % NBUCKETS]; e; e = e->next)
    if (strcmp(e->key, key) == 0) {
      out = sf_malloc(e->len + 1);
      memcpy(out, e->val, e->len + 1);
      *len = e->len;
      if (etag) snprintf(etag, cap, "%s", e->etag);
      break;
    }
  pthread_rwlock_unlock(&s->lock);
  atomic_fetch_add_explicit(out ? &c->hits : &c->misses, 1, memory_order_relaxed);
  return out;
}

/* Removes key from its bucket; caller holds the write lock. */
static void unlink_key(shard *s, entry **bucket, const char *key) {
  for (entry **pp = bucket; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->key, key) == 0) {
      entry *e = *pp;
      *pp = e->next;
      free_entry(e);
      s->count--;
      return;
    }
}

void sf_cache_put(sf_cache *c, const char *key, uint64_t gen, const char *val, size_t len, const char *etag) {
  uint64_t h = hash(key);
  shard *s = shard_of(c, h);
  size_t kl = strlen(key) + 1;
  entry *e = sf_malloc(sizeof *e + kl);
  memcpy(e->key, key, kl);
  e->val = sf_malloc(len + 1);
  memcpy(e->val, val, len);
  e->val[len] = '\0';
  e->len = len;
  snprintf(e->etag, sizeof e->etag, "%s", etag ? etag : "");
  entry **bucket = &s->buckets[(h / NSHARDS) % NBUCKETS];
  pthread_rwlock_wrlock(&s->lock);
  if (atomic_load(&s->gen) != gen) { /* invalidated while the caller was loading */
    pthread_rwlock_unlock(&s->lock);
    free_entry(e);
    return;
  }
  unlink_key(s, bucket, key);
  if (s->count >= c->max_per_shard) { /* full: drop the head of this bucket, else of any */
    for (int b = 0; b < NBUCKETS && s->count >= c->max_per_shard; b++) {
      entry **victim = *bucket ? bucket : &s->buckets[b];
      if (*victim) unlink_key(s, victim, (*victim)->key);
    }
  }
  e->next = *bucket;
  *bucket = e;
  s->count++;
  pthread_rwlock_unlock(&s->lock);
}

/* Every entry of every shard, each shard's generation moved (fills that
 * raced it are dropped). */
static void invalidate_all(sf_cache *c) {
  for (int i = 0; i < NSHARDS; i++) {
    shard *s = &c->shards[i];
    pthread_rwlock_wrlock(&s->lock);
    atomic_fetch_add(&s->gen, 1);
    for (int b = 0; b < NBUCKETS; b++) {
      for (entry *e = s->buckets[b], *n; e; e = n) n = e->next, free_entry(e);
      s->buckets[b] = NULL;
    }
    s->count = 0;
    pthread_rwlock_unlock(&s->lock);
  }
}

void sf_cache_invalidate(sf_cache *c, const char *key) {
  if (strcmp(key, "*") == 0) {
    invalidate_all(c);
    return;
  }
  uint64_t h = hash(key);
  shard *s = shard_of(c, h);
  pthread_rwlock_wrlock(&s->lock);
  atomic_fetch_add(&s->gen, 1);
  unlink_key(s, &s->buckets[(h / NSHARDS) % NBUCKETS], key);
  pthread_rwlock_unlock(&s->lock);
}

/* ---- registry: one collector prints every live cache, grouped by family ---- */

#define MAX_CACHES 16
static struct cache_registry {
  pthread_mutex_t mu;
  sf_cache *caches[MAX_CACHES];
} registry = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void reg_collect(sf_buf *b) {
  static const char *const k_family[][3] = {
      {"sf_cache_requests_total", "counter", "Cache lookups by result."},
      {"sf_cache_entries", "gauge", "Entries held."},
      {"sf_cache_hit_ratio", "gauge", "Hits / lookups since start."},
  };
  pthread_mutex_lock(&registry.mu);
  for (int f = 0; f < 3; f++) {
    sf_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", k_family[f][0], k_family[f][2], k_family[f][0], k_family[f][1]);
    for (int i = 0; i < MAX_CACHES; i++) {
      sf_cache *c = registry.caches[i];
      if (!c) continue;
      unsigned long hits = atomic_load(&c->hits), misses = atomic_load(&c->misses);
      if (f == 0) {
        sf_buf_printf(b, "sf_cache_requests_total{cache=\"%s\",result=\"hit\"} %lu\n", c->name, hits);
        sf_buf_printf(b, "sf_cache_requests_total{cache=\"%s\",result=\"miss\"} %lu\n", c->name, misses);
      } else if (f == 1) {
        size_t n = 0;
        for (int s = 0; s < NSHARDS; s++) {
          pthread_rwlock_rdlock(&c->shards[s].lock);
          n += c->shards[s].count;
          pthread_rwlock_unlock(&c->shards[s].lock);
        }
        sf_buf_printf(b, "sf_cache_entries{cache=\"%s\"} %zu\n", c->name, n);
      } else {
        sf_buf_printf(b, "sf_cache_hit_ratio{cache=\"%s\"} %.4f\n", c->name,
                      hits + misses ? (double)hits / (double)(hits + misses) : 0.0);
      }
    }
  }
  pthread_mutex_unlock(&registry.mu);
}

void sf_cache_register_metrics(sf_cache *c) {
  static int added;
  pthread_mutex_lock(&registry.mu);
  if (!added) {
    sf_metrics_add_collector(reg_collect);
    added = 1;
  }
  for (int i = 0; i < MAX_CACHES; i++)
    if (!registry.caches[i]) {
      registry.caches[i] = c;
      break;
    }
  pthread_mutex_unlock(&registry.mu);
}

static void unregister(sf_cache *c) {
  pthread_mutex_lock(&registry.mu);
  for (int i = 0; i < MAX_CACHES; i++)
    if (registry.caches[i] == c) registry.caches[i] = NULL;
  pthread_mutex_unlock(&registry.mu);
}

void sf_cache_metrics(sf_cache *c, sf_buf *b) {
  size_t n = 0;
  for (int i = 0; i < NSHARDS; i++) {
    pthread_rwlock_rdlock(&c->shards[i].lock);
    n += c->shards[i].count;
    pthread_rwlock_unlock(&c->shards[i].lock);
  }
  sf_buf_printf(b,
                "sf_cache_requests_total{cache=\"%s\",result=\"hit\"} %lu\n"
                "sf_cache_requests_total{cache=\"%s\",result=\"miss\"} %lu\n"
                "sf_cache_entries{cache=\"%s\"} %zu\n",
                c->name, atomic_load(&c->hits), c->name, atomic_load(&c->misses), c->name, n);
}
