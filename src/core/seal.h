/* Field encryption: AES-256-GCM with key ids, so keys can rotate.
 *
 * A keyring holds 32-byte keys, each under a short id. The newest key (the
 * last one added) seals; any key in the ring unseals, so values sealed before
 * a rotation keep opening as long as their key stays in the ring.
 *
 * Sealed format: "v1.<kid>.<base64url(nonce[12] | ciphertext | tag[16])>",
 * with a random nonce per value. The optional aad ("additional authenticated
 * data", e.g. the owning user's id) is authenticated but not stored: a value
 * only opens with the same aad, so it cannot be moved to another row. A NULL
 * aad is the same as "".
 *
 * Ownership: the keyring owns copies of its keys and wipes them in
 * sf_keyring_free. sf_seal/sf_unseal return malloc'd strings the caller
 * frees with free(). A keyring is not locked: fill it at startup, after
 * which concurrent sf_seal/sf_unseal calls are safe. */
#ifndef SF_CORE_SEAL_H
#define SF_CORE_SEAL_H

#include "core/err.h"

#define SF_SEAL_KID_MAX 16

typedef struct sf_keyring sf_keyring;

sf_keyring *sf_keyring_new(void);
/* kid: 1-16 characters of [A-Za-z0-9_-], unique in the ring. The key becomes
 * the active one. Returns 0, or -1 for a bad or duplicate kid. */
int sf_keyring_add(sf_keyring *k, const char *kid, const unsigned char key[32]);
/* Loads a key file: one "kid base64urlkey" per line (blank lines and lines
 * starting with '#' are skipped); the last key is the active one. A missing
 * file is created (mode 0600) with one fresh key. A file writable by group
 * or others is refused, since whoever can write it can plant keys.
 * Returns 0, or a negative status with err. */
int sf_keyring_load_file(sf_keyring *k, const char *path, sf_err *err);
void sf_keyring_free(sf_keyring *k);

/* Seals plaintext under the active key. Returns the sealed string (caller
 * frees), or NULL with err (empty ring). */
char *sf_seal(const sf_keyring *k, const char *plaintext, const char *aad, sf_err *err);
/* Returns the plaintext (caller frees), or NULL with err (status 500) for an
 * unknown key id, a malformed or tampered value, or a different aad. */
char *sf_unseal(const sf_keyring *k, const char *sealed, const char *aad, sf_err *err);

#endif
