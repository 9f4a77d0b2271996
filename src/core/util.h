/* Small shared helpers: clocks, ids, encodings, hashing, constant-time compare. */
#ifndef SF_CORE_UTIL_H
#define SF_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

int64_t sf_now_ms(void);   /* wall clock, ms since epoch (+ the test clock's offset: core/clock.h) */
uint64_t sf_mono_ns(void); /* monotonic clock */
/* The CLOCK_REALTIME instant ms (>= 0) from now: pthread_cond_timedwait's deadline. */
struct timespec sf_deadline_ms(int64_t ms);
/* Writes "2026-11-22T10:00:00.123Z" into out (cap >= 25). */
void sf_time_iso8601(int64_t ms, char *out, size_t cap);

void sf_random_bytes(void *buf, size_t n); /* CSPRNG (libsodium) */

/* Opaque prefixed id: "<prefix>_" + 20 chars of lowercase base32 (100 bits of
 * randomness, time-ordered prefix). out cap >= strlen(prefix) + 22. */
void sf_id_new(const char *prefix, char *out, size_t cap);
/* The 8-char sortable time part of an id sf_id_new made ("evt_<time><random>":
 * a pointer into id), or NULL when id does not have that shape. */
const char *sf_id_time_part(const char *id);
#define SF_ID_MAX 40

/* base64url without padding. Returns output length, or -1 on bad input /
 * small buffer. */
int sf_b64url_encode(const void *in, size_t n, char *out, size_t cap);
int sf_b64url_decode(const char *in, size_t n, void *out, size_t cap);

void sf_hex_encode(const void *in, size_t n, char *out); /* out cap >= 2n+1 */
void sf_sha256(const void *data, size_t n, uint8_t out[32]);
/* FNV-1a, 64-bit: for in-memory tables of our own keys (nothing stored, and
 * nothing an adversary could aim collisions at to any effect but a slower lookup). */
uint64_t sf_fnv1a(const void *data, size_t n);
void sf_sha256_hex(const void *data, size_t n, char out[65]);

/* Copies src (NULL: "") into dst of cap > 0 bytes, truncating; always
 * terminates. Returns strlen(src). snprintf(dst, cap, "%s", src) without
 * the format parsing, for hot paths. */
size_t sf_strlcpy(char *dst, const char *src, size_t cap);

/* Constant-time equality of two byte strings. */
int sf_ct_equal(const void *a, const void *b, size_t n);

#endif
