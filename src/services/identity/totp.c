#include "services/identity/totp.h"

#include <liboath/oath.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define SECRET_BYTES 20
#define RAW_MAX (SF_TOTP_SECRET_MAX * 5 / 8)

static struct totp_state {
  pthread_once_t once;
  int oath_rc; /* oath_init's answer, once */
} totp = {PTHREAD_ONCE_INIT, -1};

static void init_oath(void) { totp.oath_rc = oath_init(); }

static int ready(void) {
  pthread_once(&totp.once, init_oath);
  return totp.oath_rc == OATH_OK;
}

/* Decodes into raw (RAW_MAX bytes); liboath's own buffer is wiped and freed
 * here so the key lives only on the caller's stack. Returns its length or -1. */
static int decode_secret(const char *b32, char raw[RAW_MAX]) {
  if (!b32 || !ready()) return -1;
  size_t len = strnlen(b32, SF_TOTP_SECRET_MAX);
  if (len == 0 || len >= SF_TOTP_SECRET_MAX) return -1;
  char *out = NULL;
  size_t n = 0;
  if (oath_base32_decode(b32, len, &out, &n) != OATH_OK) return -1;
  int rc = -1;
  if (n > 0 && n <= RAW_MAX) {
    memcpy(raw, out, n);
    rc = (int)n;
  }
  sodium_memzero(out, n);
  free(out);
  return rc;
}

static int code_at_step(const char *raw, size_t n, int64_t step, char out[7]) {
  return oath_totp_generate(raw, n, (time_t)(step * SF_TOTP_STEP_S), SF_TOTP_STEP_S, 0, SF_TOTP_DIGITS, out) == OATH_OK
             ? 0
             : -1;
}

int sf_totp_new_secret(char *base32_out, size_t cap) {
  if (!base32_out || cap < (SECRET_BYTES * 8 + 4) / 5 + 1 || !ready()) return -1;
  unsigned char raw[SECRET_BYTES];
  sf_random_bytes(raw, sizeof raw);
  char *enc = NULL;
  size_t n = 0;
  int rc = oath_base32_encode((const char *)raw, sizeof raw, &enc, &n);
  sodium_memzero(raw, sizeof raw);
  if (rc != OATH_OK) return -1;
  while (n > 0 && enc[n - 1] == '=') n--; /* 20 bytes need none, but stay exact */
  rc = n < cap ? 0 : -1;
  if (rc == 0) {
    memcpy(base32_out, enc, n);
    base32_out[n] = '\0';
  }
  sodium_memzero(enc, n);
  free(enc);
  return rc;
}

/* ---- key URI ---- */

typedef struct out_buf {
  char *p;
  size_t len, cap;
  int overflow;
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
  if (o->overflow || o->len + n >= o->cap) {
    o->overflow = 1;
    return;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = '\0';
}

static void puts_raw(out_buf *o, const char *s) { put(o, s, strlen(s)); }

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

static void puts_pct(out_buf *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
    if (unreserved(*p))
      put(o, (const char *)p, 1);
    else
      put(o, e, 3);
  }
}

static int is_base32(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= '2' && *s <= '7'))) return 0;
  return 1;
}

int sf_totp_uri(const char *secret_b32, const char *issuer, const char *account, char *out, size_t cap) {
  if (!secret_b32 || !is_base32(secret_b32) || strlen(secret_b32) >= SF_TOTP_SECRET_MAX || !account || !*account ||
      !out || cap == 0)
    return -1;
  out_buf o = {out, 0, cap, 0};
  out[0] = '\0';
  int has_issuer = issuer && *issuer;
  puts_raw(&o, "otpauth://totp/");
  if (has_issuer) {
    puts_pct(&o, issuer);
    puts_raw(&o, ":");
  }
  puts_pct(&o, account);
  puts_raw(&o, "?secret=");
  puts_raw(&o, secret_b32);
  if (has_issuer) {
    puts_raw(&o, "&issuer=");
    puts_pct(&o, issuer);
  }
  puts_raw(&o, "&algorithm=SHA1&digits=6&period=30");
  if (o.overflow) {
    out[0] = '\0';
    return -1;
  }
  return 0;
}

/* ---- codes ---- */

int sf_totp_code(const char *secret_b32, int64_t now_s, char out[7]) {
  char raw[RAW_MAX];
  int n = decode_secret(secret_b32, raw);
  if (n < 0 || now_s < 0) return -1;
  int rc = code_at_step(raw, (size_t)n, now_s / SF_TOTP_STEP_S, out);
  sodium_memzero(raw, sizeof raw);
  return rc;
}

static int well_formed(const char *code) {
  if (!code) return 0;
  for (int i = 0; i < SF_TOTP_DIGITS; i++)
    if (code[i] < '0' || code[i] > '9') return 0;
  return code[SF_TOTP_DIGITS] == '\0';
}

int64_t sf_totp_check(const char *secret_b32, const char *code, int64_t now_s, int64_t last_step) {
  if (!well_formed(code) || now_s < 0) return SF_TOTP_INVALID;
  char raw[RAW_MAX];
  int n = decode_secret(secret_b32, raw);
  if (n < 0) return SF_TOTP_INVALID;
  int64_t step = now_s / SF_TOTP_STEP_S, accepted = 0;
  int replay = 0, failed = 0;
  /* All three steps are computed and compared in constant time, so timing
   * does not tell which step (if any) matched. Step 0 (1970) never counts:
   * a returned step must be > 0. */
  for (int64_t s = step - 1; s <= step + 1; s++) {
    char want[SF_TOTP_DIGITS + 1];
    if (s <= 0) continue;
    if (code_at_step(raw, (size_t)n, s, want)) {
      failed = 1;
      continue;
    }
    if (!sf_ct_equal(want, code, SF_TOTP_DIGITS)) continue;
    if (s > last_step)
      accepted = s; /* ascending loop: the latest matching step wins */
    else
      replay = 1;
  }
  sodium_memzero(raw, sizeof raw);
  if (failed) return SF_TOTP_INVALID;
  if (accepted > 0) return accepted;
  return replay ? SF_TOTP_REPLAY : SF_TOTP_INVALID;
}
