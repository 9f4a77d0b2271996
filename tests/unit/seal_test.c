/* sf_seal: AES-256-GCM round trips, tamper and context checks, key rotation,
 * key files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/seal.h"
#include "core/util.h"

static const unsigned char k_key1[32] = "key-one-key-one-key-one-key-one";
static const unsigned char k_key2[32] = "key-two-key-two-key-two-key-two";

static sf_keyring *ring1(void) {
  sf_keyring *k = sf_keyring_new();
  assert_int_equal(sf_keyring_add(k, "k1", k_key1), 0);
  return k;
}

static void expect_open(const sf_keyring *k, const char *sealed, const char *aad, const char *want) {
  sf_err err = {0};
  char *p = sf_unseal(k, sealed, aad, &err);
  if (!p) fail_msg("unseal failed: %s", err.detail);
  assert_string_equal(p, want);
  free(p);
}

static void expect_fail(const sf_keyring *k, const char *sealed, const char *aad) {
  sf_err err = {0};
  char *p = sf_unseal(k, sealed, aad, &err);
  if (p) fail_msg("opened '%s' as '%s'", sealed ? sealed : "(null)", p);
  assert_int_equal(err.status, 500);
}

static void test_round_trip(void **state) {
  (void)state;
  sf_keyring *k = ring1();
  static const char *values[] = {"", "x", "JBSWY3DPEHPK3PXP", "{\"json\":true,\"n\":\"ü\"}"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    sf_err err = {0};
    char *s = sf_seal(k, values[i], "usr_1", &err);
    assert_non_null(s);
    assert_true(strncmp(s, "v1.k1.", 6) == 0);
    if (strlen(values[i]) >= 8) assert_null(strstr(s, values[i])); /* not in the clear */
    expect_open(k, s, "usr_1", values[i]);
    free(s);
  }
  /* Long values, and NULL aad meaning "". */
  char *big = malloc(100001);
  memset(big, 'q', 100000);
  big[100000] = '\0';
  sf_err err = {0};
  char *s = sf_seal(k, big, NULL, &err);
  assert_non_null(s);
  expect_open(k, s, NULL, big);
  expect_open(k, s, "", big);
  free(s);
  free(big);
  /* The nonce is fresh each time. */
  char *a = sf_seal(k, "same", "ctx", &err), *b = sf_seal(k, "same", "ctx", &err);
  assert_string_not_equal(a, b);
  free(a);
  free(b);
  sf_keyring_free(k);
}

static void test_tamper(void **state) {
  (void)state;
  sf_keyring *k = ring1();
  sf_err err = {0};
  char *s = sf_seal(k, "top secret value", "usr_1", &err);
  assert_non_null(s);
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i++) {
    char *t = strdup(s);
    t[i] = t[i] == 'A' ? 'B' : 'A';
    expect_fail(k, t, "usr_1");
    free(t);
  }
  /* Truncated and extended. */
  for (size_t cut = 0; cut < n; cut++) {
    char *t = strndup(s, cut);
    expect_fail(k, t, "usr_1");
    free(t);
  }
  char ext[512];
  snprintf(ext, sizeof ext, "%sAAAA", s);
  expect_fail(k, ext, "usr_1");
  expect_fail(k, NULL, "usr_1");
  expect_fail(k, "v2.k1.AAAA", "usr_1");
  free(s);
  sf_keyring_free(k);
}

static void test_wrong_aad(void **state) {
  (void)state;
  sf_keyring *k = ring1();
  sf_err err = {0};
  char *s = sf_seal(k, "secret", "usr_1", &err);
  expect_fail(k, s, "usr_2");
  expect_fail(k, s, NULL);
  expect_fail(k, s, "usr_1 ");
  expect_open(k, s, "usr_1", "secret");
  free(s);
  s = sf_seal(k, "secret", NULL, &err);
  expect_fail(k, s, "usr_1");
  free(s);
  sf_keyring_free(k);
}

static void test_rotation(void **state) {
  (void)state;
  sf_keyring *k = ring1();
  sf_err err = {0};
  char *old = sf_seal(k, "sealed before rotation", "ctx", &err);
  assert_int_equal(sf_keyring_add(k, "k2", k_key2), 0);
  char *neu = sf_seal(k, "sealed after rotation", "ctx", &err);
  assert_true(strncmp(neu, "v1.k2.", 6) == 0);
  expect_open(k, old, "ctx", "sealed before rotation");
  expect_open(k, neu, "ctx", "sealed after rotation");

  /* A ring without k1 cannot open the old value, and says why. */
  sf_keyring *only2 = sf_keyring_new();
  assert_int_equal(sf_keyring_add(only2, "k2", k_key2), 0);
  char *p = sf_unseal(only2, old, "ctx", &err);
  assert_null(p);
  assert_non_null(strstr(err.detail, "unknown key id k1"));
  /* Same id, different key: authentication fails. */
  sf_keyring *impostor = sf_keyring_new();
  assert_int_equal(sf_keyring_add(impostor, "k1", k_key2), 0);
  expect_fail(impostor, old, "ctx");

  free(old);
  free(neu);
  sf_keyring_free(k);
  sf_keyring_free(only2);
  sf_keyring_free(impostor);
}

static void test_keyring_add_rules(void **state) {
  (void)state;
  sf_keyring *k = sf_keyring_new();
  sf_err err = {0};
  assert_null(sf_seal(k, "x", NULL, &err)); /* empty ring */
  assert_int_equal(err.status, 500);
  assert_int_equal(sf_keyring_add(k, "", k_key1), -1);
  assert_int_equal(sf_keyring_add(k, "has space", k_key1), -1);
  assert_int_equal(sf_keyring_add(k, "dot.ted", k_key1), -1);
  assert_int_equal(sf_keyring_add(k, "abcdefghijklmnopq", k_key1), -1); /* 17 chars */
  assert_int_equal(sf_keyring_add(k, "abcdefghijklmnop", k_key1), 0);   /* 16 chars */
  assert_int_equal(sf_keyring_add(k, "abcdefghijklmnop", k_key2), -1);  /* duplicate */
  /* Many keys (grows the ring); the last one seals, all open. */
  char *sealed[20];
  for (int i = 0; i < 20; i++) {
    char kid[8];
    unsigned char key[32];
    snprintf(kid, sizeof kid, "r%d", i);
    sf_random_bytes(key, sizeof key);
    assert_int_equal(sf_keyring_add(k, kid, key), 0);
    sealed[i] = sf_seal(k, kid, NULL, &err);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "v1.%s.", kid);
    assert_true(strncmp(sealed[i], prefix, strlen(prefix)) == 0);
  }
  for (int i = 0; i < 20; i++) {
    char kid[8];
    snprintf(kid, sizeof kid, "r%d", i);
    expect_open(k, sealed[i], NULL, kid);
    free(sealed[i]);
  }
  sf_keyring_free(k);
}

static char g_dir[64];

static int make_dir(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/sf_seal_test.XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  assert_int_equal(chmod(path, mode), 0);
}

static void test_key_file_create_and_reload(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/keys", g_dir);
  sf_err err = {0};
  sf_keyring *k = sf_keyring_new();
  if (sf_keyring_load_file(k, path, &err)) fail_msg("%s", err.detail);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char *s = sf_seal(k, "persisted", "ctx", &err);
  assert_non_null(s);
  sf_keyring_free(k);

  /* Reload: the same key opens it, and nothing was rewritten. */
  sf_keyring *again = sf_keyring_new();
  if (sf_keyring_load_file(again, path, &err)) fail_msg("%s", err.detail);
  expect_open(again, s, "ctx", "persisted");
  sf_keyring_free(again);

  /* Rotate by appending a line: new seals use it, old values still open. */
  FILE *f = fopen(path, "a");
  char b64[64];
  sf_b64url_encode(k_key2, sizeof k_key2, b64, sizeof b64);
  fprintf(f, "\n# rotated\nk-new %s\n", b64);
  fclose(f);
  sf_keyring *rotated = sf_keyring_new();
  if (sf_keyring_load_file(rotated, path, &err)) fail_msg("%s", err.detail);
  expect_open(rotated, s, "ctx", "persisted");
  char *s2 = sf_seal(rotated, "after", NULL, &err);
  assert_true(strncmp(s2, "v1.k-new.", 9) == 0);
  free(s2);
  sf_keyring_free(rotated);
  free(s);
  unlink(path);
}

static void test_key_file_errors(void **state) {
  (void)state;
  char path[128], b64[64], text[256];
  snprintf(path, sizeof path, "%s/bad", g_dir);
  sf_b64url_encode(k_key1, sizeof k_key1, b64, sizeof b64);
  /* '@' stands for a valid base64url key. */
  static const char *bad[] = {
      "", "# only a comment\n", "k1\n", "k1 AAAA\n", "bad.kid @\n", "k1 @\nk1 @\n", "k1 @ extra\n", "k1 @=\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    text[0] = '\0';
    for (const char *p = bad[i]; *p; p++) {
      if (*p == '@')
        strcat(text, b64);
      else
        strncat(text, p, 1);
    }
    write_file(path, text, 0600);
    sf_keyring *k = sf_keyring_new();
    sf_err err = {0};
    if (sf_keyring_load_file(k, path, &err) == 0) fail_msg("accepted key file %zu", i);
    assert_int_equal(err.status, 400);
    /* All or nothing: a bad file adds no keys. */
    assert_null(sf_seal(k, "x", NULL, &err));
    sf_keyring_free(k);
  }
  /* Group-writable files are refused. */
  snprintf(text, sizeof text, "k1 %s\n", b64);
  write_file(path, text, 0620);
  sf_keyring *k = sf_keyring_new();
  sf_err err = {0};
  assert_true(sf_keyring_load_file(k, path, &err) < 0);
  assert_non_null(strstr(err.detail, "writable"));
  /* CRLF and surrounding blanks are fine. */
  snprintf(text, sizeof text, "  k1 %s  \r\n", b64);
  write_file(path, text, 0600);
  assert_int_equal(sf_keyring_load_file(k, path, &err), 0);
  char *s = sf_seal(k, "v", NULL, &err);
  assert_true(strncmp(s, "v1.k1.", 6) == 0);
  free(s);
  sf_keyring_free(k);
  /* A directory that does not exist cannot hold a new key file. */
  k = sf_keyring_new();
  assert_true(sf_keyring_load_file(k, "/nonexistent-dir/keys", &err) < 0);
  sf_keyring_free(k);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_tamper),
      cmocka_unit_test(test_wrong_aad),         cmocka_unit_test(test_rotation),
      cmocka_unit_test(test_keyring_add_rules), cmocka_unit_test(test_key_file_create_and_reload),
      cmocka_unit_test(test_key_file_errors),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
