#include "edge/jwt.h"

#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/* Decoded sizes: a header is tiny; a payload is at most 3/4 of SF_JWT_MAX. */
#define HEADER_MAX 256
#define PAYLOAD_MAX (SF_JWT_MAX / 4 * 3)
#define SIG_LEN 32

/* base64url of {"alg":"HS256","typ":"JWT"}, the header libjwt writes. Tokens we
 * issued skip the JSON parse of their header; any other header is parsed. */
static const char k_our_header[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

typedef struct span {
  const char *p;
  size_t n;
} span;

static int reject(sf_err *err, const char *why) {
  return sf_err_set(err, 401, "invalid-token", "Unauthorized", "%s", why);
}

/* ---- issuing (libjwt) ---- */

static int fits(const char *field, size_t cap) { return memchr(field, '\0', cap) != NULL; }

static int add_claims(jwt_t *j, const sf_jwt_config *cfg, const sf_jwt_claims *c) {
  int rc = jwt_add_grant(j, "iss", cfg->issuer);
  rc = rc ? rc : jwt_add_grant(j, "aud", cfg->audience);
  rc = rc ? rc : jwt_add_grant(j, "sub", c->sub);
  rc = rc ? rc : jwt_add_grant(j, "typ", c->typ);
  if (!rc && c->role[0]) rc = jwt_add_grant(j, "role", c->role);
  if (!rc && c->jti[0]) rc = jwt_add_grant(j, "jti", c->jti);
  if (!rc && c->sid[0]) rc = jwt_add_grant(j, "sid", c->sid);
  if (!rc && c->iat > 0) rc = jwt_add_grant_int(j, "iat", (long)c->iat);
  if (!rc && c->nbf > 0) rc = jwt_add_grant_int(j, "nbf", (long)c->nbf);
  return rc ? rc : jwt_add_grant_int(j, "exp", (long)c->exp);
}

int sf_jwt_issue(const sf_jwt_config *cfg, const sf_jwt_claims *c, char *out, size_t cap, sf_err *err) {
  if (!cfg || !cfg->key || cfg->key_len < 32 || cfg->key_len > INT_MAX || !cfg->issuer || !cfg->audience)
    return sf_err_internal(err, "jwt: bad configuration");
  if (!c || !fits(c->sub, sizeof c->sub) || !fits(c->role, sizeof c->role) || !fits(c->typ, sizeof c->typ) ||
      !fits(c->jti, sizeof c->jti) || !fits(c->sid, sizeof c->sid) || !c->sub[0] || !c->typ[0] || c->exp <= 0)
    return sf_err_internal(err, "jwt: sub, typ and exp are required");
  jwt_t *j = NULL;
  if (jwt_new(&j)) return sf_err_internal(err, "jwt: out of memory");
  /* libjwt treats a NULL key or zero length as alg=none; both were ruled out above. */
  int rc = jwt_set_alg(j, JWT_ALG_HS256, cfg->key, (int)cfg->key_len);
  rc = rc ? rc : add_claims(j, cfg, c);
  char *tok = rc ? NULL : jwt_encode_str(j);
  jwt_free(j);
  if (!tok) return sf_err_internal(err, "jwt: could not sign token");
  size_t n = strlen(tok);
  if (n + 1 > cap || n > SF_JWT_MAX) {
    free(tok);
    return sf_err_internal(err, "jwt: token does not fit (%zu bytes)", n);
  }
  memcpy(out, tok, n + 1);
  free(tok);
  return 0;
}

/* ---- verifying ---- */

/* Exactly three dot-separated segments, header and payload non-empty. An
 * empty signature (what alg=none tokens carry) is let through to be refused
 * by the header check with a clearer reason. */
static int split(const char *tok, size_t len, span seg[3]) {
  const char *p = tok, *end = tok + len;
  for (int i = 0; i < 3; i++) {
    const char *dot = i < 2 ? memchr(p, '.', (size_t)(end - p)) : end;
    if (!dot || (dot == p && i < 2)) return -1;
    seg[i].p = p;
    seg[i].n = (size_t)(dot - p);
    p = dot + 1;
  }
  return memchr(seg[2].p, '.', seg[2].n) ? -1 : 0;
}

/* A JSON string equal to want, with no embedded NUL. */
static int str_is(const json_t *v, const char *want) {
  size_t n = strlen(want);
  return json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), want, n) == 0;
}

static json_t *decode_json(span s, unsigned char *buf, size_t cap) {
  int n = sf_b64url_decode(s.p, s.n, buf, cap);
  if (n < 0) return NULL;
  json_t *j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
  if (j && !json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

/* Returns NULL if the header is acceptable, else the reason. */
static const char *check_header(span h) {
  if (h.n == sizeof k_our_header - 1 && memcmp(h.p, k_our_header, h.n) == 0) return NULL;
  unsigned char buf[HEADER_MAX];
  json_t *j = decode_json(h, buf, sizeof buf);
  if (!j) return "malformed token";
  const char *why = NULL;
  const json_t *typ = json_object_get(j, "typ");
  if (!str_is(json_object_get(j, "alg"), "HS256"))
    why = "algorithm not allowed";
  else if (typ &&
           !(json_is_string(typ) && json_string_length(typ) == 3 && strncasecmp(json_string_value(typ), "JWT", 3) == 0))
    why = "malformed token";
  else if (json_object_get(j, "crit")) /* extensions we do not implement must not pass */
    why = "malformed token";
  json_decref(j);
  return why;
}

static const char *check_signature(const sf_jwt_config *cfg, const char *tok, span seg[3]) {
  unsigned char sig[SIG_LEN + 1], mac[SIG_LEN];
  int n = sf_b64url_decode(seg[2].p, seg[2].n, sig, sizeof sig);
  if (n != SIG_LEN) return "bad signature";
  /* libsodium rather than OpenSSL's HMAC(): in OpenSSL 3 every HMAC() call
   * fetches the algorithm under a global lock, which stops it scaling across
   * threads; this is allocation- and lock-free. */
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, cfg->key, cfg->key_len);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, seg[0].n + 1 + seg[1].n);
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_memzero(&st, sizeof st);
  return sf_ct_equal(mac, sig, SIG_LEN) ? NULL : "bad signature";
}

/* Copies a string claim; absent is fine unless required. Too long or not a
 * string is malformed: truncating an id could turn it into another one. */
static int get_str(const json_t *o, const char *name, char *dst, size_t cap, int required) {
  const json_t *v = json_object_get(o, name);
  dst[0] = '\0';
  if (!v) return required ? -1 : 0;
  if (!json_is_string(v)) return -1;
  size_t n = json_string_length(v);
  const char *s = json_string_value(v);
  if (n >= cap || memchr(s, '\0', n) || (required && n == 0)) return -1;
  memcpy(dst, s, n + 1);
  return 0;
}

static int get_int(const json_t *o, const char *name, int64_t *dst, int required) {
  const json_t *v = json_object_get(o, name);
  *dst = 0;
  if (!v) return required ? -1 : 0;
  if (!json_is_integer(v)) return -1;
  *dst = (int64_t)json_integer_value(v);
  return 0;
}

static int aud_matches(const json_t *aud, const char *want) {
  if (json_is_array(aud)) {
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v) {
      if (str_is(v, want)) return 1;
    }
    return 0;
  }
  return str_is(aud, want);
}

static const char *check_claims(const sf_jwt_config *cfg, const json_t *p, int64_t now, sf_jwt_claims *c) {
  if (get_str(p, "sub", c->sub, sizeof c->sub, 1) || get_str(p, "typ", c->typ, sizeof c->typ, 1) ||
      get_str(p, "role", c->role, sizeof c->role, 0) || get_str(p, "jti", c->jti, sizeof c->jti, 0) ||
      get_str(p, "sid", c->sid, sizeof c->sid, 0) || get_int(p, "exp", &c->exp, 1) || get_int(p, "nbf", &c->nbf, 0) ||
      get_int(p, "iat", &c->iat, 0))
    return "malformed token";
  if (!str_is(json_object_get(p, "iss"), cfg->issuer)) return "wrong issuer";
  if (!aud_matches(json_object_get(p, "aud"), cfg->audience)) return "wrong audience";
  /* Written as now-vs-claim so hostile huge claim values cannot overflow. */
  int64_t leeway = cfg->leeway_s > 0 ? cfg->leeway_s : 0;
  if (now - leeway >= c->exp) return "token expired";
  if (c->nbf > now + leeway || c->iat > now + leeway) return "token not yet valid";
  return NULL;
}

int sf_jwt_verify(const sf_jwt_config *cfg, const char *token, int64_t now_s, sf_jwt_claims *out, sf_err *err) {
  memset(out, 0, sizeof *out);
  if (!cfg || !cfg->key || cfg->key_len < 32 || !cfg->issuer || !cfg->audience)
    return sf_err_internal(err, "jwt: bad configuration");
  if (!token) return reject(err, "malformed token");
  size_t len = strnlen(token, SF_JWT_MAX + 1);
  span seg[3];
  if (len > SF_JWT_MAX || split(token, len, seg)) return reject(err, "malformed token");
  /* Order matters: the alg is refused before anything is computed with the
   * key, and the payload is only parsed once it is known to be ours. */
  const char *why = check_header(seg[0]);
  if (!why) why = check_signature(cfg, token, seg);
  if (why) return reject(err, why);
  unsigned char buf[PAYLOAD_MAX];
  json_t *p = decode_json(seg[1], buf, sizeof buf);
  if (!p) return reject(err, "malformed token");
  sf_jwt_claims c;
  why = check_claims(cfg, p, now_s, &c);
  json_decref(p);
  if (why) return reject(err, why);
  *out = c;
  return 0;
}
