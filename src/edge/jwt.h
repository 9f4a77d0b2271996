/* JWT access tokens: HS256 only.
 *
 * Issuing goes through libjwt. Verifying is a strict, allocation-light path of
 * our own, because libjwt 1.10 checks none of exp/nbf/iss/aud, accepts
 * alg=none whenever the key is NULL or key_len is 0, compares the signature
 * with strcmp, and reads integer claims without type checks. sf_jwt_verify
 * accepts a token only if:
 *   - it is "<b64url>.<b64url>.<b64url>" (canonical base64url, no padding,
 *     at most SF_JWT_MAX bytes);
 *   - the header is a JSON object whose alg is exactly "HS256", whose typ (if
 *     any) is "JWT", and which has no "crit";
 *   - the HMAC-SHA256 signature matches (constant-time compare);
 *   - the payload is a JSON object without duplicate keys in which iss and aud
 *     (a string, or an array holding it) match cfg, sub/typ are non-empty
 *     strings, exp is an integer, nbf/iat (if present) are integers, and the
 *     string claims fit the sf_jwt_claims fields;
 *   - now < exp + leeway, nbf <= now + leeway, iat <= now + leeway.
 *
 * Nothing here keeps state: sf_jwt_config is owned by the caller and must
 * outlive each call; both functions are thread-safe. */
#ifndef SF_EDGE_JWT_H
#define SF_EDGE_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"

/* Longest token sf_jwt_verify looks at; an issued token is ~400 bytes. */
#define SF_JWT_MAX 4096

typedef struct sf_jwt_claims {
  char sub[SF_ID_MAX]; /* user id */
  char role[16];
  char typ[16]; /* "access" or "mfa" (short-lived token for the MFA login step) */
  char jti[SF_ID_MAX];
  char sid[SF_ID_MAX];   /* session: the refresh-token family an access token belongs to */
  int64_t iat, nbf, exp; /* seconds; on issue, iat/nbf of 0 are left out */
} sf_jwt_claims;

typedef struct sf_jwt_config {
  const unsigned char *key;
  size_t key_len; /* HMAC key, >= 32 bytes */
  const char *issuer;
  const char *audience;
  int leeway_s; /* clock skew allowed for exp/nbf/iat, e.g. 30 */
} sf_jwt_config;

/* Signs claims (iss and aud from cfg); sub, typ and exp are required, role,
 * jti and sid are left out when empty. out (capacity cap) gets the compact token.
 * Returns 0, or -500 with err. */
int sf_jwt_issue(const sf_jwt_config *cfg, const sf_jwt_claims *c, char *out, size_t cap, sf_err *err);

/* Verifies token (see the top of this file) at time now_s and fills out.
 * On failure returns -401 with err: status 401, code "invalid-token", and one
 * of the details "malformed token" (also missing/mistyped claims),
 * "algorithm not allowed", "bad signature", "wrong issuer", "wrong audience",
 * "token expired", "token not yet valid" (nbf or iat in the future). A bad
 * cfg (key shorter than 32 bytes, no issuer/audience) gives -500. */
int sf_jwt_verify(const sf_jwt_config *cfg, const char *token, int64_t now_s, sf_jwt_claims *out, sf_err *err);

#endif
