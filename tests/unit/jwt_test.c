/* sf_jwt: issuing through libjwt, and the strict verifier. Hand-built tokens
 * are signed here with OpenSSL's HMAC, independently of the verifier's HMAC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "edge/jwt.h"

#define NOW 1763805600 /* 2025-11-22T10:00:00Z */

static const unsigned char k_key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char k_other_key[32] = "fedcba9876543210fedcba9876543210";

static sf_jwt_config cfg(void) {
  return (sf_jwt_config){
      .key = k_key, .key_len = sizeof k_key, .issuer = "serviceflow", .audience = "serviceflow-api", .leeway_s = 30};
}

static sf_jwt_claims claims(void) {
  sf_jwt_claims c = {.iat = NOW, .nbf = NOW, .exp = NOW + 900};
  snprintf(c.sub, sizeof c.sub, "usr_01jabcdefghjkmnpqrst");
  snprintf(c.role, sizeof c.role, "staff");
  snprintf(c.typ, sizeof c.typ, "access");
  snprintf(c.jti, sizeof c.jti, "jti_0001");
  snprintf(c.sid, sizeof c.sid, "fam_0001");
  return c;
}

static void issue(const sf_jwt_claims *c, char *out, size_t cap) {
  sf_jwt_config k = cfg();
  sf_err err = {0};
  assert_int_equal(sf_jwt_issue(&k, c, out, cap, &err), 0);
}

/* Builds "<b64(header)>.<b64(payload)>.<b64(HMAC-md(key))>" into a static buffer. */
static const char *forge(const char *header, const char *payload, const EVP_MD *md, const unsigned char *key,
                         size_t key_len) {
  static char tok[8192];
  int n = sf_b64url_encode(header, strlen(header), tok, sizeof tok);
  assert_true(n > 0);
  tok[n++] = '.';
  int m = sf_b64url_encode(payload, strlen(payload), tok + n, sizeof tok - (size_t)n);
  assert_true(m > 0);
  n += m;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(md, key, (int)key_len, (const unsigned char *)tok, (size_t)n, mac, &mac_len);
  tok[n++] = '.';
  assert_true(sf_b64url_encode(mac, mac_len, tok + n, sizeof tok - (size_t)n) > 0);
  return tok;
}

static const char *hs256(const char *header, const char *payload) {
  return forge(header, payload, EVP_sha256(), k_key, sizeof k_key);
}

#define GOOD_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define PAYLOAD(extra)                                                                                                 \
  "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\",\"sub\":\"usr_1\",\"typ\":\"access\","                         \
  "\"iat\":1763805600,\"exp\":1763806500" extra "}"

/* Verifies and expects a 401 with the given detail; out must come back zeroed. */
#define expect_reject(tok, now, detail) expect_reject_at(tok, now, detail, __LINE__)
static void expect_reject_at(const char *tok, int64_t now, const char *detail, int line) {
  sf_jwt_config k = cfg();
  sf_jwt_claims out;
  memset(&out, 0xAB, sizeof out);
  sf_err err = {0};
  int rc = sf_jwt_verify(&k, tok, now, &out, &err);
  if (rc != -401 || strcmp(err.detail, detail) != 0)
    fail_msg("line %d: got %d '%s', want -401 '%s'", line, rc, err.detail, detail);
  assert_int_equal(err.status, 401);
  assert_string_equal(err.code, "invalid-token");
  sf_jwt_claims zero;
  memset(&zero, 0, sizeof zero);
  assert_memory_equal(&out, &zero, sizeof out);
}

#define expect_accept(tok, now, out) expect_accept_at(tok, now, out, __LINE__)
static void expect_accept_at(const char *tok, int64_t now, sf_jwt_claims *out, int line) {
  sf_jwt_config k = cfg();
  sf_jwt_claims tmp;
  sf_err err = {0};
  int rc = sf_jwt_verify(&k, tok, now, out ? out : &tmp, &err);
  if (rc) fail_msg("line %d: rejected: %s", line, err.detail);
}

static void test_round_trip(void **state) {
  (void)state;
  sf_jwt_claims in = claims(), out;
  char tok[1024];
  issue(&in, tok, sizeof tok);
  /* libjwt writes the header the verifier's fast path knows. */
  assert_true(strncmp(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0);
  expect_accept(tok, NOW + 10, &out);
  assert_string_equal(out.sub, in.sub);
  assert_string_equal(out.role, "staff");
  assert_string_equal(out.typ, "access");
  assert_string_equal(out.jti, "jti_0001");
  assert_string_equal(out.sid, "fam_0001");
  assert_int_equal(out.iat, NOW);
  assert_int_equal(out.nbf, NOW);
  assert_int_equal(out.exp, NOW + 900);

  /* The issued token is an ordinary HS256 JWT to libjwt too. */
  jwt_t *j = NULL;
  assert_int_equal(jwt_decode(&j, tok, k_key, sizeof k_key), 0);
  assert_int_equal(jwt_get_alg(j), JWT_ALG_HS256);
  assert_string_equal(jwt_get_grant(j, "iss"), "serviceflow");
  assert_string_equal(jwt_get_grant(j, "aud"), "serviceflow-api");
  jwt_free(j);
}

static void test_optional_claims_left_out(void **state) {
  (void)state;
  sf_jwt_claims in = claims(), out;
  in.role[0] = in.jti[0] = in.sid[0] = '\0';
  in.iat = in.nbf = 0;
  snprintf(in.typ, sizeof in.typ, "mfa");
  char tok[1024];
  issue(&in, tok, sizeof tok);
  expect_accept(tok, NOW, &out);
  assert_string_equal(out.typ, "mfa");
  assert_string_equal(out.role, "");
  assert_string_equal(out.sid, "");
  assert_int_equal(out.iat, 0);
  assert_int_equal(out.nbf, 0);
}

static void test_expired(void **state) {
  (void)state;
  sf_jwt_claims in = claims();
  char tok[1024];
  issue(&in, tok, sizeof tok);
  expect_accept(tok, in.exp + 29, NULL); /* inside the leeway */
  expect_reject(tok, in.exp + 30, "token expired");
  expect_reject(tok, in.exp + 100000, "token expired");
}

static void test_not_yet_valid(void **state) {
  (void)state;
  sf_jwt_claims in = claims();
  in.nbf = NOW + 100;
  char tok[1024];
  issue(&in, tok, sizeof tok);
  expect_reject(tok, NOW, "token not yet valid");
  expect_reject(tok, NOW + 69, "token not yet valid");
  expect_accept(tok, NOW + 70, NULL);

  /* iat in the future beyond the leeway, without nbf */
  in = claims();
  in.nbf = 0;
  in.iat = NOW + 31;
  issue(&in, tok, sizeof tok);
  expect_reject(tok, NOW, "token not yet valid");
  expect_accept(tok, NOW + 1, NULL);
}

static void test_wrong_issuer_and_audience(void **state) {
  (void)state;
  sf_jwt_claims in = claims(), out;
  char tok[1024];
  issue(&in, tok, sizeof tok);
  sf_jwt_config k = cfg();
  sf_err err = {0};
  k.issuer = "someone-else";
  assert_int_equal(sf_jwt_verify(&k, tok, NOW, &out, &err), -401);
  assert_string_equal(err.detail, "wrong issuer");
  k = cfg();
  k.audience = "other-api";
  assert_int_equal(sf_jwt_verify(&k, tok, NOW, &out, &err), -401);
  assert_string_equal(err.detail, "wrong audience");

  /* Claims that only look right. */
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflowX\",\"aud\":\"serviceflow-api\",\"sub\":\"u\","
                                   "\"typ\":\"access\",\"exp\":1763806500}"),
                NOW, "wrong issuer");
  /* jansson refuses \u0000 in strings, so an embedded NUL never reaches a compare. */
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\\u0000x\",\"aud\":\"serviceflow-api\","
                                   "\"sub\":\"u\",\"typ\":\"access\",\"exp\":1763806500}"),
                NOW, "malformed token");
  expect_reject(hs256(GOOD_HEADER, "{\"aud\":\"serviceflow-api\",\"sub\":\"u\",\"typ\":\"access\","
                                   "\"exp\":1763806500}"),
                NOW, "wrong issuer");
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"sub\":\"u\",\"typ\":\"access\","
                                   "\"exp\":1763806500}"),
                NOW, "wrong audience");
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":[\"a\",\"b\"],\"sub\":\"u\","
                                   "\"typ\":\"access\",\"exp\":1763806500}"),
                NOW, "wrong audience");
  /* RFC 7519 allows aud as an array. */
  expect_accept(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":[\"a\",\"serviceflow-api\"],"
                                   "\"sub\":\"u\",\"typ\":\"access\",\"exp\":1763806500}"),
                NOW, NULL);
}

static void test_tampered_payload(void **state) {
  (void)state;
  sf_jwt_claims in = claims();
  char tok[1024];
  issue(&in, tok, sizeof tok);
  /* Swap in a payload claiming admin, keep the signature. */
  char *dot1 = strchr(tok, '.'), *dot2 = strchr(dot1 + 1, '.');
  char forged[2048], body[512];
  snprintf(body, sizeof body,
           "{\"aud\":\"serviceflow-api\",\"exp\":%lld,\"iss\":\"serviceflow\",\"role\":\"admin\","
           "\"sub\":\"usr_01jabcdefghjkmnpqrst\",\"typ\":\"access\"}",
           (long long)in.exp);
  char b64[1024];
  assert_true(sf_b64url_encode(body, strlen(body), b64, sizeof b64) > 0);
  snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(dot1 - tok), tok, b64, dot2);
  expect_reject(forged, NOW, "bad signature");

  /* Any single changed character anywhere must be refused. */
  size_t n = strlen(tok);
  for (size_t i = 0; i < n; i++) {
    char t[1024];
    memcpy(t, tok, n + 1);
    t[i] = t[i] == 'A' ? 'B' : (t[i] == '.' ? 'x' : 'A');
    sf_jwt_config k = cfg();
    sf_jwt_claims out;
    sf_err err = {0};
    if (sf_jwt_verify(&k, t, NOW, &out, &err) != -401) fail_msg("accepted with byte %zu changed", i);
  }
}

static void test_tampered_signature(void **state) {
  (void)state;
  sf_jwt_claims in = claims();
  char tok[1024];
  issue(&in, tok, sizeof tok);
  char *sig = strrchr(tok, '.') + 1;
  sig[0] = sig[0] == 'a' ? 'b' : 'a';
  expect_reject(tok, NOW, "bad signature");
  issue(&in, tok, sizeof tok);
  strcat(tok, "AAAA"); /* longer signature */
  expect_reject(tok, NOW, "bad signature");
  issue(&in, tok, sizeof tok);
  strrchr(tok, '.')[1] = '\0'; /* stripped signature */
  expect_reject(tok, NOW, "bad signature");
  issue(&in, tok, sizeof tok);
  strcat(tok, "="); /* padding is not base64url */
  expect_reject(tok, NOW, "bad signature");
}

static void test_alg_none(void **state) {
  (void)state;
  char b64[1024], tok[2048];
  const char *payload = PAYLOAD("");
  assert_true(sf_b64url_encode(payload, strlen(payload), b64, sizeof b64) > 0);
  snprintf(tok, sizeof tok, "eyJhbGciOiJub25lIn0.%s.", b64);
  expect_reject(tok, NOW, "algorithm not allowed");
  /* With a signature tacked on, and in other spellings. */
  expect_reject(hs256("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload), NOW, "algorithm not allowed");
  expect_reject(hs256("{\"alg\":\"None\"}", payload), NOW, "algorithm not allowed");
  expect_reject(hs256("{\"alg\":\"hs256\"}", payload), NOW, "algorithm not allowed");
  expect_reject(hs256("{\"alg\":\"HS256 \"}", payload), NOW, "algorithm not allowed");
  expect_reject(hs256("{\"alg\":\"HS256\\u0000\"}", payload), NOW, "malformed token");
  expect_reject(hs256("{\"alg\":null}", payload), NOW, "algorithm not allowed");
  expect_reject(hs256("{\"typ\":\"JWT\"}", payload), NOW, "algorithm not allowed");
}

static void test_other_algs(void **state) {
  (void)state;
  const char *payload = PAYLOAD("");
  /* Signed with HMAC-SHA256 anyway: only the alg check can refuse these. */
  expect_reject(hs256("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload), NOW, "algorithm not allowed");
  expect_reject(hs256("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload), NOW, "algorithm not allowed");
  expect_reject(hs256("{\"alg\":\"HS384\"}", payload), NOW, "algorithm not allowed");
  expect_reject(forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, EVP_sha512(), k_key, 32), NOW,
                "algorithm not allowed");
  /* A valid HS256 header we did not write goes through the JSON path. */
  expect_accept(hs256("{\"typ\":\"JWT\",\"kid\":\"k1\",\"alg\":\"HS256\"}", payload), NOW, NULL);
  expect_accept(hs256("{\"alg\":\"HS256\"}", payload), NOW, NULL);
  expect_reject(hs256("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", payload), NOW, "malformed token");
  expect_reject(hs256("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", payload), NOW, "malformed token");
  expect_reject(hs256("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", payload), NOW, "malformed token");
}

static void test_wrong_key(void **state) {
  (void)state;
  sf_jwt_claims in = claims(), out;
  char tok[1024];
  issue(&in, tok, sizeof tok);
  sf_jwt_config k = cfg();
  k.key = k_other_key;
  sf_err err = {0};
  assert_int_equal(sf_jwt_verify(&k, tok, NOW, &out, &err), -401);
  assert_string_equal(err.detail, "bad signature");
  expect_reject(forge(GOOD_HEADER, PAYLOAD(""), EVP_sha256(), k_other_key, 32), NOW, "bad signature");
}

static void test_garbage(void **state) {
  (void)state;
  static const char *bad[] = {"",
                              ".",
                              "..",
                              "...",
                              "a",
                              "a.b",
                              "a..c",
                              ".b.c",
                              "a.b.c.d",
                              "a.b.c",
                              "Bearer eyJ",
                              "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
                              "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
                              "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..",
                              "\xff\xfe.\x01.\x02",
                              "e30.e30.e30"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sf_jwt_config k = cfg();
    sf_jwt_claims out;
    sf_err err = {0};
    if (sf_jwt_verify(&k, bad[i], NOW, &out, &err) != -401) fail_msg("accepted '%s'", bad[i]);
    assert_string_equal(err.code, "invalid-token");
  }
  expect_reject(NULL, NOW, "malformed token");
  expect_reject("a.b.c.d", NOW, "malformed token");

  /* Over-long tokens are refused before any work. */
  char *big = malloc(SF_JWT_MAX + 64);
  memset(big, 'A', SF_JWT_MAX + 63);
  big[SF_JWT_MAX + 63] = '\0';
  big[10] = big[20] = '.';
  expect_reject(big, NOW, "malformed token");
  free(big);

  /* Random bytes. */
  unsigned char rnd[200];
  for (int round = 0; round < 200; round++) {
    sf_random_bytes(rnd, sizeof rnd - 1);
    rnd[sizeof rnd - 1] = 0;
    sf_jwt_config k = cfg();
    sf_jwt_claims out;
    sf_err err = {0};
    assert_int_equal(sf_jwt_verify(&k, (const char *)rnd, NOW, &out, &err), -401);
  }

  /* Correctly signed, but not a usable payload. */
  expect_reject(hs256(GOOD_HEADER, "not json"), NOW, "malformed token");
  expect_reject(hs256(GOOD_HEADER, "[1,2]"), NOW, "malformed token");
  expect_reject(hs256("[\"HS256\"]", PAYLOAD("")), NOW, "malformed token");
  expect_reject(hs256(GOOD_HEADER, PAYLOAD(",\"sub\":\"usr_2\"")), NOW, "malformed token");
}

static void test_missing_or_bad_claims(void **state) {
  (void)state;
  expect_accept(hs256(GOOD_HEADER, PAYLOAD("")), NOW, NULL);
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\","
                                   "\"typ\":\"access\",\"exp\":1763806500}"),
                NOW, "malformed token"); /* no sub */
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\",\"sub\":\"\","
                                   "\"typ\":\"access\",\"exp\":1763806500}"),
                NOW, "malformed token"); /* empty sub */
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\",\"sub\":7,"
                                   "\"typ\":\"access\",\"exp\":1763806500}"),
                NOW, "malformed token");
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\","
                                   "\"sub\":\"usr_1\",\"exp\":1763806500}"),
                NOW, "malformed token"); /* no typ */
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\","
                                   "\"sub\":\"usr_1\",\"typ\":\"access\"}"),
                NOW, "malformed token"); /* no exp */
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\","
                                   "\"sub\":\"usr_1\",\"typ\":\"access\",\"exp\":\"1763806500\"}"),
                NOW, "malformed token"); /* exp as a string */
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\","
                                   "\"sub\":\"usr_1\",\"typ\":\"access\",\"exp\":1.7638065e9}"),
                NOW, "malformed token");
  expect_reject(hs256(GOOD_HEADER, PAYLOAD(",\"nbf\":\"soon\"")), NOW, "malformed token");
  /* Too long to store: refused, never truncated into another id. */
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\","
                                   "\"sub\":\"usr_0123456789012345678901234567890123456789012345\","
                                   "\"typ\":\"access\",\"exp\":1763806500}"),
                NOW, "malformed token");
  expect_reject(hs256(GOOD_HEADER, PAYLOAD(",\"role\":\"administrator-of-all\"")), NOW, "malformed token");
  /* Huge times must neither overflow nor pass. */
  expect_reject(hs256(GOOD_HEADER, PAYLOAD(",\"nbf\":9223372036854775807")), NOW, "token not yet valid");
  expect_reject(hs256(GOOD_HEADER, "{\"iss\":\"serviceflow\",\"aud\":\"serviceflow-api\","
                                   "\"sub\":\"u\",\"typ\":\"access\",\"exp\":-9223372036854775807}"),
                NOW, "token expired");
}

static void test_issue_errors(void **state) {
  (void)state;
  sf_jwt_config k = cfg();
  sf_jwt_claims c = claims();
  char tok[1024];
  sf_err err = {0};
  k.key_len = 31;
  assert_int_equal(sf_jwt_issue(&k, &c, tok, sizeof tok, &err), -500);
  assert_int_equal(err.status, 500);
  k = cfg();
  c.sub[0] = '\0';
  assert_int_equal(sf_jwt_issue(&k, &c, tok, sizeof tok, &err), -500);
  c = claims();
  c.exp = 0;
  assert_int_equal(sf_jwt_issue(&k, &c, tok, sizeof tok, &err), -500);
  c = claims();
  assert_int_equal(sf_jwt_issue(&k, &c, tok, 40, &err), -500);
  /* A short key is refused on verify too rather than trusted. */
  issue(&c, tok, sizeof tok);
  sf_jwt_claims out;
  k.key_len = 0;
  assert_int_equal(sf_jwt_verify(&k, tok, NOW, &out, &err), -500);
}

/* A coarse guard against pathological slowdowns (the budget is ~100x what an
 * optimised build needs, so sanitizer builds pass too). */
static void test_throughput(void **state) {
  (void)state;
  sf_jwt_claims in = claims(), out;
  char tok[1024];
  issue(&in, tok, sizeof tok);
  sf_jwt_config k = cfg();
  sf_err err = {0};
  uint64_t t0 = sf_mono_ns();
  for (int i = 0; i < 5000; i++) assert_int_equal(sf_jwt_verify(&k, tok, NOW, &out, &err), 0);
  double per_s = 5000 / ((double)(sf_mono_ns() - t0) / 1e9);
  print_message("sf_jwt_verify: %.0f/s on one thread\n", per_s);
  assert_true(per_s > 2000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_optional_claims_left_out),
      cmocka_unit_test(test_expired),
      cmocka_unit_test(test_not_yet_valid),
      cmocka_unit_test(test_wrong_issuer_and_audience),
      cmocka_unit_test(test_tampered_payload),
      cmocka_unit_test(test_tampered_signature),
      cmocka_unit_test(test_alg_none),
      cmocka_unit_test(test_other_algs),
      cmocka_unit_test(test_wrong_key),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_missing_or_bad_claims),
      cmocka_unit_test(test_issue_errors),
      cmocka_unit_test(test_throughput),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
