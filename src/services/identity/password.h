/* Password hashing: argon2id (libsodium crypto_pwhash) behind a bounded gate.
 *
 * Each hash or verify allocates its whole memory cost (up to tens of MiB), so
 * at most `concurrency` of them run at any moment in the process, whether they
 * come from the async API (a private sf_pool with that many workers) or from
 * the synchronous calls (which wait for a free slot). The async API exists so
 * HTTP threads and the writer never block on a hash.
 *
 * Ownership: the module owns its pool and a dummy hash, created by sf_pw_init
 * and released by sf_pw_shutdown. Async calls copy the password (and hash)
 * they are given and wipe the password copy before freeing it; the `hash`
 * handed to a callback is only valid during the call. Callers own every
 * buffer they pass. sf_pw_init and sf_pw_shutdown are not thread-safe and
 * must not race with other calls; everything else is. */
#ifndef SF_SERVICES_IDENTITY_PASSWORD_H
#define SF_SERVICES_IDENTITY_PASSWORD_H

#include "core/err.h"

/* Large enough for any libsodium pwhash string (crypto_pwhash_STRBYTES). */
#define SF_PW_HASH_MAX 128

/* memlimit in KiB, opslimit passes, concurrency = number of hashes that may
 * run at once (and of worker threads). Call once at start-up, before any
 * other sf_pw_ call (calls sodium_init). Returns 0, or negative with err on
 * bad parameters or when already initialised. */
int sf_pw_init(int memlimit_kib, int opslimit, int concurrency, sf_err *err);

/* Runs the queued async jobs (their callbacks fire), then releases the pool.
 * Safe to call when not initialised; sf_pw_init may be called again after. */
void sf_pw_shutdown(void);

/* Synchronous (CLI, tests): blocks the caller for a whole hash. out must hold
 * SF_PW_HASH_MAX bytes. Returns 0, or negative with err. */
int sf_pw_hash(const char *password, char *out, sf_err *err);

/* 1 match, 0 mismatch, malformed hash, or module not initialised. */
int sf_pw_verify(const char *hash, const char *password);

/* 1 if hash was made with other parameters than the current ones (or is not
 * a well-formed argon2id hash, or the module is not initialised) and should
 * be replaced after a successful verify; 0 if it is current. Only the
 * parameters are read, so a damaged digest can still report 0. */
int sf_pw_needs_rehash(const char *hash);

/* Asynchronous: queued on the bounded pool; cb is called on a pool thread,
 * exactly once per call that returned 0. For hash: ok=1 and hash filled, or
 * ok=0 and hash NULL on failure. For verify: ok = 1 match / 0 mismatch, hash
 * NULL. Each returns 0, -400 for a NULL password, or -503 when the module is
 * not initialised or shutting down (cb will then not be called). */
typedef void (*sf_pw_cb)(void *ud, int ok, const char *hash);
int sf_pw_hash_async(const char *password, sf_pw_cb cb, void *ud);
int sf_pw_verify_async(const char *hash, const char *password, sf_pw_cb cb, void *ud);
/* Verifies against a fixed dummy hash made with the current parameters and
 * always reports ok=0, so a login for an unknown user takes as long as one
 * for a known user with a wrong password. */
int sf_pw_verify_dummy_async(const char *password, sf_pw_cb cb, void *ud);

/* Diagnostic: the most hashes/verifies seen running at once since
 * sf_pw_init. Never exceeds the configured concurrency. */
int sf_pw_max_observed_concurrency(void);

#endif
