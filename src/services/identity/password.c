#include "services/identity/password.h"

#include <errno.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"

_Static_assert(SF_PW_HASH_MAX >= crypto_pwhash_STRBYTES, "SF_PW_HASH_MAX too small for libsodium");

#define MAX_CONCURRENCY 256

enum { OP_HASH, OP_VERIFY, OP_VERIFY_DUMMY };

typedef struct pw_job {
  int op;
  sf_pw_cb cb;
  void *ud;
  char hash[SF_PW_HASH_MAX]; /* verify: the stored hash; hash: the result */
  size_t pwlen;
  char password[]; /* wiped before the job is freed */
} pw_job;

/* The one piece of process state: parameters, the pool and the gate. */
static struct hasher_state {
  int ready;
  size_t memlimit; /* bytes */
  unsigned long long opslimit;
  sf_pool *pool;
  sem_t gate; /* `concurrency` slots: bounds the memory of hashes in flight */
  char dummy[SF_PW_HASH_MAX];
  atomic_int active, max_active;
} hasher;

/* ---- the gate: every argon2 computation runs between enter and leave ---- */

static void gate_enter(void) {
  while (sem_wait(&hasher.gate) != 0 && errno == EINTR) {}
  int now = atomic_fetch_add(&hasher.active, 1) + 1;
  int seen = atomic_load(&hasher.max_active);
  while (now > seen && !atomic_compare_exchange_weak(&hasher.max_active, &seen, now)) {}
}

static void gate_leave(void) {
  atomic_fetch_sub(&hasher.active, 1);
  sem_post(&hasher.gate);
}

static int hash_raw(const char *pw, size_t len, char out[SF_PW_HASH_MAX]) {
  gate_enter();
  int rc = crypto_pwhash_str_alg(out, pw, len, hasher.opslimit, hasher.memlimit, crypto_pwhash_ALG_ARGON2ID13);
  gate_leave();
  return rc;
}

/* 1 match, 0 otherwise. A hash that does not fit SF_PW_HASH_MAX cannot be
 * one of ours and is rejected before libsodium reads a fixed-size string. */
static int verify_raw(const char *hash, const char *pw, size_t len) {
  if (strnlen(hash, SF_PW_HASH_MAX) == SF_PW_HASH_MAX) return 0;
  gate_enter();
  int rc = crypto_pwhash_str_verify(hash, pw, len);
  gate_leave();
  return rc == 0;
}

/* ---- lifecycle ---- */

static int bad_config(sf_err *err, const char *what) {
  return sf_err_set(err, 400, "config", "Bad configuration", "password hashing: %s", what);
}

int sf_pw_init(int memlimit_kib, int opslimit, int concurrency, sf_err *err) {
  if (hasher.ready) return sf_err_internal(err, "password hashing already initialised");
  if (sodium_init() < 0) return sf_err_internal(err, "libsodium failed to initialise");
  if (memlimit_kib <= 0 || (size_t)memlimit_kib * 1024 < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
      (size_t)memlimit_kib > crypto_pwhash_argon2id_MEMLIMIT_MAX / 1024)
    return bad_config(err, "memlimit out of range");
  if (opslimit < (int)crypto_pwhash_argon2id_OPSLIMIT_MIN) return bad_config(err, "opslimit too small");
  if (concurrency < 1 || concurrency > MAX_CONCURRENCY) return bad_config(err, "concurrency must be 1-256");

  hasher.memlimit = (size_t)memlimit_kib * 1024;
  hasher.opslimit = (unsigned long long)opslimit;
  atomic_store(&hasher.active, 0);
  atomic_store(&hasher.max_active, 0);
  if (sem_init(&hasher.gate, 0, (unsigned)concurrency) != 0)
    return sf_err_internal(err, "password gate: %s", strerror(errno));
  hasher.pool = sf_pool_new(concurrency);
  if (!hasher.pool) {
    sem_destroy(&hasher.gate);
    return sf_err_internal(err, "cannot start password hashing threads");
  }
  /* A random password nobody knows, hashed with the live parameters so that
   * verifying against it costs exactly what a real verify costs. */
  unsigned char secret[32];
  randombytes_buf(secret, sizeof secret);
  int rc = hash_raw((const char *)secret, sizeof secret, hasher.dummy);
  sodium_memzero(secret, sizeof secret);
  if (rc != 0) {
    sf_pool_free(hasher.pool);
    hasher.pool = NULL;
    sem_destroy(&hasher.gate);
    return sf_err_internal(err, "password hashing failed (memlimit too large?)");
  }
  hasher.ready = 1;
  return 0;
}

void sf_pw_shutdown(void) {
  if (!hasher.ready) return;
  sf_pool_free(hasher.pool); /* queued jobs still pass through the gate */
  hasher.pool = NULL;
  sem_destroy(&hasher.gate);
  hasher.ready = 0;
}

/* ---- synchronous ---- */

int sf_pw_hash(const char *password, char *out, sf_err *err) {
  if (!hasher.ready) return sf_err_internal(err, "password hashing not initialised");
  if (!password) return sf_err_bad_request(err, "password missing");
  if (hash_raw(password, strlen(password), out) != 0) return sf_err_internal(err, "password hashing failed");
  return 0;
}

int sf_pw_verify(const char *hash, const char *password) {
  if (!hasher.ready || !hash || !password) return 0;
  return verify_raw(hash, password, strlen(password));
}

int sf_pw_needs_rehash(const char *hash) {
  if (!hasher.ready || !hash || strnlen(hash, SF_PW_HASH_MAX) == SF_PW_HASH_MAX) return 1;
  return crypto_pwhash_argon2id_str_needs_rehash(hash, hasher.opslimit, hasher.memlimit) != 0;
}

int sf_pw_max_observed_concurrency(void) { return atomic_load(&hasher.max_active); }

/* ---- asynchronous ---- */

static void run_job(void *arg) {
  pw_job *j = arg;
  int ok;
  if (j->op == OP_HASH) {
    ok = hash_raw(j->password, j->pwlen, j->hash) == 0;
  } else {
    ok = verify_raw(j->hash, j->password, j->pwlen);
    if (j->op == OP_VERIFY_DUMMY) ok = 0;
  }
  /* The secret is no longer needed; wipe it before user code runs. */
  sodium_memzero(j->password, j->pwlen);
  j->cb(j->ud, ok, j->op == OP_HASH && ok ? j->hash : NULL);
  free(j);
}

static int submit(int op, const char *hash, const char *password, sf_pw_cb cb, void *ud) {
  if (!hasher.ready) return -503;
  if (!password) return -400;
  size_t len = strlen(password);
  pw_job *j = sf_malloc(sizeof *j + len + 1);
  j->op = op;
  j->cb = cb;
  j->ud = ud;
  j->hash[0] = '\0';
  if (hash) {
    /* An over-long hash is kept unterminated on purpose: verify_raw then
     * rejects it as malformed instead of checking a truncated prefix. */
    size_t hl = strnlen(hash, SF_PW_HASH_MAX);
    memcpy(j->hash, hash, hl);
    if (hl < SF_PW_HASH_MAX) j->hash[hl] = '\0';
  }
  j->pwlen = len;
  memcpy(j->password, password, len + 1);
  int rc = sf_pool_submit(hasher.pool, run_job, j);
  if (rc) {
    sodium_memzero(j->password, len);
    free(j);
  }
  return rc;
}

int sf_pw_hash_async(const char *password, sf_pw_cb cb, void *ud) { return submit(OP_HASH, NULL, password, cb, ud); }

int sf_pw_verify_async(const char *hash, const char *password, sf_pw_cb cb, void *ud) {
  return submit(OP_VERIFY, hash ? hash : "", password, cb, ud);
}

int sf_pw_verify_dummy_async(const char *password, sf_pw_cb cb, void *ud) {
  return submit(OP_VERIFY_DUMMY, hasher.dummy, password, cb, ud);
}
