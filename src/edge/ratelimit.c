#include "edge/ratelimit.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

#define NSHARDS_MAX 64
#define NIL UINT32_MAX
#define NS_PER_S 1000000000ull
/* Far enough from UINT64_MAX that now + capacity can never wrap. */
#define MAX_CAPACITY_NS (1ull << 62)
#define MAX_BURST 1e9
#define MAX_SHARD_KEYS (1u << 30)
#define CACHE_LINE 64
/* Small tables get fewer shards: per-shard eviction only approximates global
 * LRU, and the approximation is poor with a handful of keys per shard. */
#define MIN_KEYS_PER_SHARD 16

/* One client's bucket. The whole token state is `tat`: the instant at which
 * the bucket is full again. tokens(now) = (capacity - max(0, tat - now)) / T. */
typedef struct bucket {
  char *key;
  uint64_t hash;
  uint64_t tat;
  uint32_t chain;        /* next bucket in the same hash chain, or next free slot */
  uint32_t newer, older; /* LRU list, so the stalest bucket is found in O(1) */
} bucket;

/* Buckets live in a slot array that only grows (indices stay valid), hashed
 * through `heads`. Aligned so shards never share a cache line. */
typedef struct shard {
  _Alignas(CACHE_LINE) pthread_mutex_t mu;
  bucket *slots;
  uint32_t nslots; /* allocated */
  uint32_t used;   /* slots ever handed out (free list covers the rest) */
  uint32_t cap;    /* this shard's share of max_keys */
  uint32_t count;  /* live buckets */
  uint32_t free_head;
  uint32_t *heads;
  uint32_t nheads; /* power of two */
  uint32_t newest, oldest;
  /* Lower bound of the smallest tat held: before it no bucket can be full, so
   * a sweep for full buckets would find nothing. */
  uint64_t next_full_at;
} shard;

struct sf_ratelimit {
  int unlimited;
  int limit;
  uint64_t interval_ns; /* time to earn one token (T) */
  uint64_t capacity_ns; /* burst expressed in time: burst * T */
  unsigned nshards;     /* power of two */
  unsigned char hash_key[crypto_shorthash_KEYBYTES];
  shard shards[];
};

/* ---- shard table ---- */

static bucket *find(shard *s, const char *key, uint64_t h, uint32_t *idx) {
  for (uint32_t i = s->heads[h & (s->nheads - 1)]; i != NIL; i = s->slots[i].chain) {
    bucket *b = &s->slots[i];
    if (b->hash == h && strcmp(b->key, key) == 0) {
      *idx = i;
      return b;
    }
  }
  return NULL;
}

static void lru_unlink(shard *s, uint32_t i) {
  bucket *b = &s->slots[i];
  if (b->newer != NIL)
    s->slots[b->newer].older = b->older;
  else
    s->newest = b->older;
  if (b->older != NIL)
    s->slots[b->older].newer = b->newer;
  else
    s->oldest = b->newer;
}

static void lru_push_newest(shard *s, uint32_t i) {
  bucket *b = &s->slots[i];
  b->newer = NIL;
  b->older = s->newest;
  if (s->newest != NIL) s->slots[s->newest].newer = i;
  s->newest = i;
  if (s->oldest == NIL) s->oldest = i;
}

static void chain_link(shard *s, uint32_t i) {
  uint32_t *head = &s->heads[s->slots[i].hash & (s->nheads - 1)];
  s->slots[i].chain = *head;
  *head = i;
}

static void chain_unlink(shard *s, uint32_t i) {
  uint32_t *p = &s->heads[s->slots[i].hash & (s->nheads - 1)];
  while (*p != i) p = &s->slots[*p].chain;
  *p = s->slots[i].chain;
}

static void remove_bucket(shard *s, uint32_t i) {
  chain_unlink(s, i);
  lru_unlink(s, i);
  free(s->slots[i].key);
  s->slots[i].key = NULL;
  s->slots[i].chain = s->free_head;
  s->free_head = i;
  s->count--;
}

/* Doubles the slot array (up to cap) and keeps the chains at load <= 1. */
static void grow(shard *s) {
  uint32_t n = s->nslots ? s->nslots * 2 : 8;
  if (n > s->cap) n = s->cap;
  s->slots = sf_realloc(s->slots, (size_t)n * sizeof *s->slots);
  s->nslots = n;
  if (s->nheads >= n) return;
  uint32_t nh = s->nheads;
  while (nh < n) nh *= 2;
  free(s->heads);
  s->heads = sf_malloc((size_t)nh * sizeof *s->heads);
  memset(s->heads, 0xff, (size_t)nh * sizeof *s->heads); /* all NIL */
  s->nheads = nh;
  for (uint32_t i = s->newest; i != NIL; i = s->slots[i].older) chain_link(s, i);
}

static uint32_t alloc_slot(shard *s) {
  if (s->free_head != NIL) {
    uint32_t i = s->free_head;
    s->free_head = s->slots[i].chain;
    return i;
  }
  if (s->used == s->nslots) grow(s);
  return s->used++;
}

/* Drops every full bucket and recomputes next_full_at. A full bucket carries
 * no state (a new one would start full), so this costs clients nothing. */
static void sweep_full(shard *s, uint64_t now) {
  uint64_t min_tat = UINT64_MAX;
  for (uint32_t i = s->oldest, next; i != NIL; i = next) {
    next = s->slots[i].newer;
    if (s->slots[i].tat <= now)
      remove_bucket(s, i);
    else if (s->slots[i].tat < min_tat)
      min_tat = s->slots[i].tat;
  }
  s->next_full_at = min_tat;
}

/* Frees at least one slot in a full shard, preferring buckets that are full. */
static void make_room(shard *s, uint64_t now) {
  /* The stalest bucket is the likeliest to be full: O(1) in the common case. */
  if (s->slots[s->oldest].tat <= now) {
    remove_bucket(s, s->oldest);
    return;
  }
  if (now >= s->next_full_at) {
    sweep_full(s, now);
    if (s->count < s->cap) return;
  }
  /* Nothing is full: forget the least recently touched client. */
  remove_bucket(s, s->oldest);
}

static uint32_t insert(shard *s, const char *key, uint64_t h, uint64_t now) {
  if (s->count >= s->cap) make_room(s, now);
  uint32_t i = alloc_slot(s);
  bucket *b = &s->slots[i];
  b->key = sf_strdup(key);
  b->hash = h;
  b->tat = now; /* full */
  chain_link(s, i);
  lru_push_newest(s, i);
  s->count++;
  return i;
}

/* ---- limiter ---- */

static int clamp_int(uint64_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

static int ceil_s(uint64_t ns) { return clamp_int(ns / NS_PER_S + (ns % NS_PER_S != 0)); }

sf_ratelimit *sf_rl_new(double rate_per_s, double burst, size_t max_keys) {
  if (!(burst >= 1)) burst = 1; /* also catches NaN */
  if (burst > MAX_BURST) burst = MAX_BURST;
  if (max_keys == 0) max_keys = 1;
  if (max_keys > (size_t)NSHARDS_MAX * MAX_SHARD_KEYS) max_keys = (size_t)NSHARDS_MAX * MAX_SHARD_KEYS;
  unsigned nshards = 1;
  while (nshards < NSHARDS_MAX && (size_t)nshards * 2 * MIN_KEYS_PER_SHARD <= max_keys) nshards *= 2;

  size_t size = sizeof(sf_ratelimit) + nshards * sizeof(shard);
  size = (size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
  sf_ratelimit *rl = aligned_alloc(CACHE_LINE, size);
  if (!rl) sf_oom();
  memset(rl, 0, size);
  rl->nshards = nshards;
  rl->limit = (int)floor(burst);
  rl->unlimited = !(rate_per_s > 0);
  if (!rl->unlimited) {
    double t = 1e9 / rate_per_s;
    if (t < 1) t = 1;
    if (t * burst > (double)MAX_CAPACITY_NS) t = (double)MAX_CAPACITY_NS / burst;
    rl->interval_ns = (uint64_t)llround(t);
    /* From the rounded interval, so an integer burst admits exactly `burst`
     * takes however the division rounded. */
    rl->capacity_ns = (uint64_t)llround(burst * (double)rl->interval_ns);
  }
  sf_random_bytes(rl->hash_key, sizeof rl->hash_key);
  for (unsigned i = 0; i < nshards; i++) {
    shard *s = &rl->shards[i];
    pthread_mutex_init(&s->mu, NULL);
    s->cap = (uint32_t)(max_keys / nshards + (i < max_keys % nshards));
    s->free_head = s->newest = s->oldest = NIL;
    s->next_full_at = UINT64_MAX;
    s->nheads = 1;
    s->heads = sf_malloc(sizeof *s->heads);
    s->heads[0] = NIL;
  }
  return rl;
}

void sf_rl_free(sf_ratelimit *rl) {
  if (!rl) return;
  for (unsigned i = 0; i < rl->nshards; i++) {
    shard *s = &rl->shards[i];
    for (uint32_t j = s->newest; j != NIL; j = s->slots[j].older) free(s->slots[j].key);
    free(s->slots);
    free(s->heads);
    pthread_mutex_destroy(&s->mu);
  }
  free(rl);
}

static void take_bucket(const sf_ratelimit *rl, bucket *b, uint64_t now, sf_rl_result *out) {
  uint64_t start = b->tat > now ? b->tat : now;
  uint64_t debt = start + rl->interval_ns - now; /* time to refill after this take */
  out->limit = rl->limit;
  if (debt <= rl->capacity_ns) {
    b->tat = start + rl->interval_ns;
    out->allowed = 1;
    out->remaining = clamp_int((rl->capacity_ns - debt) / rl->interval_ns);
    out->reset_s = ceil_s(debt);
    out->retry_after_s = 0;
    return;
  }
  uint64_t wait = debt - rl->capacity_ns;
  out->allowed = 0;
  out->remaining = 0;
  out->reset_s = ceil_s(b->tat - now);
  out->retry_after_s = wait < NS_PER_S ? 1 : ceil_s(wait);
}

void sf_rl_take(sf_ratelimit *rl, const char *key, uint64_t now_ns, sf_rl_result *out) {
  if (rl->unlimited) {
    *out = (sf_rl_result){.allowed = 1, .limit = rl->limit, .remaining = rl->limit};
    return;
  }
  if (!key) key = "";
  uint64_t h;
  crypto_shorthash((unsigned char *)&h, (const unsigned char *)key, strlen(key), rl->hash_key);
  /* Low bits pick the chain, so the shard comes from the high bits. */
  shard *s = &rl->shards[(h >> 40) & (rl->nshards - 1)];

  pthread_mutex_lock(&s->mu);
  uint32_t i;
  bucket *b = find(s, key, h, &i);
  if (b) {
    lru_unlink(s, i);
    lru_push_newest(s, i);
  } else {
    i = insert(s, key, h, now_ns);
    b = &s->slots[i];
  }
  take_bucket(rl, b, now_ns, out);
  /* Takes only push tat later, so only a new bucket can lower the bound. */
  if (b->tat < s->next_full_at) s->next_full_at = b->tat;
  pthread_mutex_unlock(&s->mu);
}

void sf_rl_params_of(const sf_ratelimit *rl, sf_rl_params *out) {
  *out = (sf_rl_params){rl->unlimited, rl->limit, rl->interval_ns, rl->capacity_ns};
}

size_t sf_rl_size(sf_ratelimit *rl) {
  size_t n = 0;
  for (unsigned i = 0; i < rl->nshards; i++) {
    shard *s = &rl->shards[i];
    pthread_mutex_lock(&s->mu);
    n += s->count;
    pthread_mutex_unlock(&s->mu);
  }
  return n;
}
