#include "core/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define PREFIX "v1."
#define LINE_MAX_LEN 256

typedef struct seal_key {
  char kid[SF_SEAL_KID_MAX + 1];
  unsigned char key[KEY_LEN];
} seal_key;

struct sf_keyring {
  seal_key *keys; /* keys[n - 1] is the active one */
  size_t n, cap;
};

/* ---- keyring ---- */

sf_keyring *sf_keyring_new(void) { return sf_calloc(1, sizeof(sf_keyring)); }

void sf_keyring_free(sf_keyring *k) {
  if (!k) return;
  if (k->keys) sodium_memzero(k->keys, k->cap * sizeof *k->keys);
  free(k->keys);
  free(k);
}

static int kid_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int kid_valid(const char *kid, size_t n) {
  if (n == 0 || n > SF_SEAL_KID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!kid_char(kid[i])) return 0;
  return 1;
}

static const seal_key *find(const sf_keyring *k, const char *kid, size_t n) {
  for (size_t i = 0; i < k->n; i++)
    if (strlen(k->keys[i].kid) == n && memcmp(k->keys[i].kid, kid, n) == 0) return &k->keys[i];
  return NULL;
}

int sf_keyring_add(sf_keyring *k, const char *kid, const unsigned char key[32]) {
  if (!k || !kid || !key) return -1;
  size_t n = strnlen(kid, SF_SEAL_KID_MAX + 1);
  if (!kid_valid(kid, n) || find(k, kid, n)) return -1;
  if (k->n == k->cap) {
    /* Grow by copy rather than realloc so the old block can be wiped. */
    size_t cap = k->cap ? k->cap * 2 : 4;
    seal_key *keys = sf_calloc(cap, sizeof *keys);
    if (k->keys) {
      memcpy(keys, k->keys, k->n * sizeof *keys);
      sodium_memzero(k->keys, k->cap * sizeof *k->keys);
      free(k->keys);
    }
    k->keys = keys;
    k->cap = cap;
  }
  seal_key *slot = &k->keys[k->n++];
  memcpy(slot->kid, kid, n);
  slot->kid[n] = '\0';
  memcpy(slot->key, key, KEY_LEN);
  return 0;
}

/* ---- key file ---- */

static int parse_line(char *line, sf_keyring *into, const char *path, int lineno, sf_err *err) {
  line[strcspn(line, "\r\n")] = '\0';
  char *p = line + strspn(line, " \t");
  if (*p == '\0' || *p == '#') return 0;
  size_t kid_len = strcspn(p, " \t");
  char *b64 = p + kid_len + strspn(p + kid_len, " \t");
  size_t b64_len = strcspn(b64, " \t");
  if (b64[b64_len + strspn(b64 + b64_len, " \t")] != '\0' || b64_len == 0)
    return sf_err_set(err, 400, "config", "Bad configuration", "%s:%d: expected \"<kid> <base64url key>\"", path,
                      lineno);
  unsigned char key[KEY_LEN + 1];
  int n = sf_b64url_decode(b64, b64_len, key, sizeof key);
  p[kid_len] = '\0';
  int rc = n == KEY_LEN ? sf_keyring_add(into, p, key) : -2;
  sodium_memzero(key, sizeof key);
  if (rc == -2)
    return sf_err_set(err, 400, "config", "Bad configuration", "%s:%d: key must be 32 bytes in base64url", path,
                      lineno);
  if (rc)
    return sf_err_set(err, 400, "config", "Bad configuration", "%s:%d: key id must be 1-16 of [A-Za-z0-9_-] and unique",
                      path, lineno);
  return 0;
}

static int parse_file(FILE *f, sf_keyring *into, const char *path, sf_err *err) {
  char line[LINE_MAX_LEN];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(f))
      rc = sf_err_set(err, 400, "config", "Bad configuration", "%s:%d: line too long", path, lineno);
    else
      rc = parse_line(line, into, path, lineno, err);
  }
  sodium_memzero(line, sizeof line);
  if (rc == 0 && ferror(f)) rc = sf_err_set(err, 400, "config", "Bad configuration", "%s: read error", path);
  if (rc == 0 && into->n == 0) rc = sf_err_set(err, 400, "config", "Bad configuration", "%s: no keys", path);
  return rc;
}

/* Takes ownership of fd. All-or-nothing: k is only touched if the whole file
 * is good. */
static int load_fd(sf_keyring *k, const char *path, int fd, sf_err *err) {
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return sf_err_set(err, 400, "config", "Bad configuration", "%s: not a regular file", path);
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    close(fd);
    return sf_err_set(err, 400, "config", "Bad configuration", "%s: writable by group or others (chmod 600)", path);
  }
  FILE *f = fdopen(fd, "r");
  if (!f) {
    close(fd);
    return sf_err_set(err, 400, "config", "Bad configuration", "%s: %s", path, strerror(errno));
  }
  sf_keyring *tmp = sf_keyring_new();
  int rc = parse_file(f, tmp, path, err);
  fclose(f);
  for (size_t i = 0; rc == 0 && i < tmp->n; i++)
    if (find(k, tmp->keys[i].kid, strlen(tmp->keys[i].kid)))
      rc = sf_err_set(err, 400, "config", "Bad configuration", "%s: key id %s already loaded", path, tmp->keys[i].kid);
  for (size_t i = 0; rc == 0 && i < tmp->n; i++) sf_keyring_add(k, tmp->keys[i].kid, tmp->keys[i].key);
  sf_keyring_free(tmp);
  return rc;
}

static void sync_parent_dir(const char *path) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Writes a one-key file under a temporary name and links it into place, so a
 * reader never sees a half-written file and a concurrent creator's file wins
 * intact. Losing this file loses every value sealed with it, hence the fsyncs. */
static int create_file(const char *path, sf_err *err) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return sf_err_set(err, 400, "config", "Bad configuration", "%s: path too long", path);
  unsigned char key[KEY_LEN];
  char line[64 + SF_SEAL_KID_MAX];
  sf_random_bytes(key, sizeof key);
  int n = snprintf(line, sizeof line, "k%lld ", (long long)(sf_now_ms() / 1000));
  n += sf_b64url_encode(key, sizeof key, line + n, sizeof line - (size_t)n - 1);
  line[n++] = '\n';
  sodium_memzero(key, sizeof key);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  int ok = fd >= 0 && write_all(fd, line, (size_t)n) == 0 && fsync(fd) == 0;
  int saved = errno;
  sodium_memzero(line, sizeof line);
  if (fd >= 0) ok = close(fd) == 0 && ok;
  if (ok && link(tmp, path) != 0 && errno != EEXIST) {
    ok = 0;
    saved = errno;
  }
  unlink(tmp);
  if (!ok)
    return sf_err_set(err, 400, "config", "Bad configuration", "%s: cannot create key file: %s", path, strerror(saved));
  sync_parent_dir(path);
  return 0;
}

int sf_keyring_load_file(sf_keyring *k, const char *path, sf_err *err) {
  if (!k || !path || !*path) return sf_err_set(err, 400, "config", "Bad configuration", "no key file given");
  for (int attempt = 0; attempt < 2; attempt++) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return load_fd(k, path, fd, err);
    if (errno != ENOENT || attempt > 0) break;
    int rc = create_file(path, err);
    if (rc) return rc;
  }
  return sf_err_set(err, 400, "config", "Bad configuration", "%s: %s", path, strerror(errno));
}

/* ---- sealing ---- */

/* One AES-256-GCM pass. in/out may be the same length; tag is written when
 * sealing and checked when opening. Returns 0 or -1 (for opening: forged). */
static int gcm(int enc, const unsigned char *key, const unsigned char *nonce, const char *aad, const unsigned char *in,
               size_t n, unsigned char *out, unsigned char *tag) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) sf_oom();
  int len = 0, ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, enc) == 1;
  size_t aad_len = aad ? strlen(aad) : 0;
  if (ok && aad_len) ok = EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)aad_len) == 1;
  if (ok && n) ok = EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1;
  if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
  if (ok) ok = EVP_CipherFinal_ex(ctx, out + n, &len) == 1;
  if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok ? 0 : -1;
}

/* Lengths go through OpenSSL as int. */
#define SEAL_MAX ((size_t)INT_MAX / 2)

char *sf_seal(const sf_keyring *k, const char *plaintext, const char *aad, sf_err *err) {
  if (!k || k->n == 0) {
    sf_err_internal(err, "no sealing key configured");
    return NULL;
  }
  size_t n = plaintext ? strlen(plaintext) : SEAL_MAX;
  if (n >= SEAL_MAX || (aad && strlen(aad) >= SEAL_MAX)) {
    sf_err_internal(err, "value cannot be sealed");
    return NULL;
  }
  const seal_key *key = &k->keys[k->n - 1];
  size_t raw_len = NONCE_LEN + n + TAG_LEN;
  unsigned char *raw = sf_malloc(raw_len);
  sf_random_bytes(raw, NONCE_LEN);
  if (gcm(1, key->key, raw, aad, (const unsigned char *)plaintext, n, raw + NONCE_LEN, raw + NONCE_LEN + n)) {
    free(raw);
    sf_err_internal(err, "sealing failed");
    return NULL;
  }
  size_t head = strlen(PREFIX) + strlen(key->kid) + 1, b64 = (raw_len * 4 + 2) / 3;
  char *out = sf_malloc(head + b64 + 1);
  snprintf(out, head + 1, PREFIX "%s.", key->kid);
  sf_b64url_encode(raw, raw_len, out + head, b64 + 1);
  free(raw);
  return out;
}

static char *unseal_fail(sf_err *err, const char *why) {
  sf_err_internal(err, "sealed value %s", why);
  return NULL;
}

char *sf_unseal(const sf_keyring *k, const char *sealed, const char *aad, sf_err *err) {
  size_t plen = strlen(PREFIX);
  if (!k || !sealed || strncmp(sealed, PREFIX, plen) != 0) return unseal_fail(err, "is malformed");
  const char *kid = sealed + plen, *dot = strchr(kid, '.');
  if (!dot || !kid_valid(kid, (size_t)(dot - kid))) return unseal_fail(err, "is malformed");
  const seal_key *key = find(k, kid, (size_t)(dot - kid));
  if (!key) {
    sf_err_internal(err, "sealed value uses unknown key id %.*s", (int)(dot - kid), kid);
    return NULL;
  }
  const char *b64 = dot + 1;
  size_t b64_len = strlen(b64), cap = b64_len / 4 * 3 + 3;
  if (aad && strlen(aad) >= SEAL_MAX) return unseal_fail(err, "has an oversized context");
  if (b64_len / 4 * 3 >= SEAL_MAX) return unseal_fail(err, "is too large");
  unsigned char *raw = sf_malloc(cap);
  int raw_len = sf_b64url_decode(b64, b64_len, raw, cap);
  if (raw_len < NONCE_LEN + TAG_LEN) {
    free(raw);
    return unseal_fail(err, "is malformed");
  }
  size_t n = (size_t)raw_len - NONCE_LEN - TAG_LEN;
  unsigned char *pt = sf_malloc(n + 1);
  int rc = gcm(0, key->key, raw, aad, raw + NONCE_LEN, n, pt, raw + NONCE_LEN + n);
  free(raw);
  /* sf_seal takes C strings, so an embedded NUL cannot come from it. */
  if (rc || memchr(pt, '\0', n)) {
    sodium_memzero(pt, n);
    free(pt);
    return unseal_fail(err, "failed authentication (tampered, or wrong key or context)");
  }
  pt[n] = '\0';
  return (char *)pt;
}
