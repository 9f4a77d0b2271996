/* In-process cache of serialised resources (cache-aside), e.g. a user's or a
 * product's JSON with its ETag.
 *
 * Staleness rule: a reader takes sf_cache_gen() BEFORE loading from the
 * database and passes it to sf_cache_put(); sf_cache_invalidate() removes the
 * key and bumps its shard's generation, so a fill that raced an invalidation
 * is dropped instead of installing old data. Invalidate after COMMIT.
 * Values are copied in and out; the cache owns its copies. Thread-safe. */
#ifndef SF_CORE_CACHE_H
#define SF_CORE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct sf_cache sf_cache;

sf_cache *sf_cache_new(const char *name, size_t max_entries);
void sf_cache_free(sf_cache *c);

uint64_t sf_cache_gen(sf_cache *c, const char *key);
/* A malloc'd copy of the value (NUL-terminated; *len set) or NULL on a miss.
 * etag (cap bytes, may be NULL) receives the stored ETag. */
char *sf_cache_get(sf_cache *c, const char *key, size_t *len, char *etag, size_t cap);
void sf_cache_put(sf_cache *c, const char *key, uint64_t gen, const char *val, size_t len, const char *etag);
void sf_cache_invalidate(sf_cache *c, const char *key); /* key "*": every entry */
/* Prometheus lines: sf_cache_requests_total{cache,result} and size. */
void sf_cache_metrics(sf_cache *c, sf_buf *out);
/* Adds c to /metrics (requests by result, entries, hit ratio) until freed. */
void sf_cache_register_metrics(sf_cache *c);

#endif
