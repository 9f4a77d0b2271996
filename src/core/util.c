#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t sf_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct timespec sf_deadline_ms(int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
  ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return ts;
}

void sf_time_iso8601(int64_t ms, char *out, size_t cap) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Per-thread buffer of CSPRNG output: one getrandom(2) per 4 KiB instead of
 * one per id, which mattered at tens of thousands of requests per second.
 * Consumed bytes are wiped so they cannot be read back later. */
void sf_random_bytes(void *buf, size_t n) {
  static __thread unsigned char pool[4096];
  static __thread size_t left;
  unsigned char *out = buf;
  if (n > sizeof pool / 4) {
    randombytes_buf(buf, n);
    return;
  }
  while (n) {
    if (!left) {
      randombytes_buf(pool, sizeof pool);
      left = sizeof pool;
    }
    size_t take = n < left ? n : left;
    unsigned char *src = pool + sizeof pool - left;
    memcpy(out, src, take);
    sodium_memzero(src, take);
    out += take;
    n -= take;
    left -= take;
  }
}

static const char k_b32[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford */

void sf_id_new(const char *prefix, char *out, size_t cap) {
  /* 8 chars of time (40 bits of ms, sortable) + 12 chars of randomness (60 bits). */
  uint64_t t = (uint64_t)sf_now_ms();
  uint8_t rnd[8];
  sf_random_bytes(rnd, sizeof rnd);
  uint64_t r;
  memcpy(&r, rnd, sizeof r);
  char body[21];
  for (int i = 7; i >= 0; i--) {
    body[i] = k_b32[t & 31];
    t >>= 5;
  }
  for (int i = 8; i < 20; i++) {
    body[i] = k_b32[r & 31];
    r >>= 5;
  }
  body[20] = '\0';
  snprintf(out, cap, "%s_%s", prefix, body);
}

const char *sf_id_time_part(const char *id) {
  const char *us = id ? strchr(id, '_') : NULL;
  if (!us || strspn(us + 1, k_b32) < 8) return NULL;
  return us + 1;
}

static const char k_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sf_b64url_encode(const void *in, size_t n, char *out, size_t cap) {
  const uint8_t *p = in;
  size_t need = (n * 4 + 2) / 3;
  if (need + 1 > cap) return -1;
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = k_b64url[v >> 18 & 63];
    out[o++] = k_b64url[v >> 12 & 63];
    out[o++] = k_b64url[v >> 6 & 63];
    out[o++] = k_b64url[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    out[o++] = k_b64url[v >> 18 & 63];
    out[o++] = k_b64url[v >> 12 & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    out[o++] = k_b64url[v >> 18 & 63];
    out[o++] = k_b64url[v >> 12 & 63];
    out[o++] = k_b64url[v >> 6 & 63];
  }
  out[o] = '\0';
  return (int)o;
}

static int b64url_val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

int sf_b64url_decode(const char *in, size_t n, void *out, size_t cap) {
  uint8_t *o = out;
  size_t len = 0;
  uint32_t acc = 0;
  int bits = 0;
  if (n % 4 == 1) return -1;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_val(in[i]);
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (len >= cap) return -1;
      o[len++] = (uint8_t)(acc >> bits);
    }
  }
  if (bits && (acc & ((1u << bits) - 1))) return -1; /* non-canonical trailing bits */
  return (int)len;
}

void sf_hex_encode(const void *in, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  const uint8_t *p = in;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[p[i] >> 4];
    out[2 * i + 1] = hex[p[i] & 15];
  }
  out[2 * n] = '\0';
}

/* libsodium's SHA-256: OpenSSL 3's one-shot SHA256() looks the digest up in
 * its provider registry on every call, which showed up in writer profiles. */
void sf_sha256(const void *data, size_t n, uint8_t out[32]) { crypto_hash_sha256(out, data, n); }

uint64_t sf_fnv1a(const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

void sf_sha256_hex(const void *data, size_t n, char out[65]) {
  uint8_t h[32];
  crypto_hash_sha256(h, data, n);
  sf_hex_encode(h, 32, out);
}

int sf_ct_equal(const void *a, const void *b, size_t n) { return sodium_memcmp(a, b, n) == 0; }

size_t sf_strlcpy(char *dst, const char *src, size_t cap) {
  if (!src) src = "";
  size_t n = strlen(src);
  size_t k = n < cap ? n : cap - 1;
  memcpy(dst, src, k);
  dst[k] = '\0';
  return n;
}
