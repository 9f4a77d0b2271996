/* TOTP (RFC 6238): HMAC-SHA1, 6 digits, 30 s step, on top of liboath.
 *
 * Secrets travel as RFC 4648 base32 text without padding (what authenticator
 * apps take). liboath keeps no state, so replay protection is the caller's:
 * store the step sf_totp_check returns and pass it back as last_step next
 * time; a code is then accepted at most once.
 *
 * Nothing here allocates memory the caller must free; all functions are
 * thread-safe (liboath is initialised once, on first use). */
#ifndef SF_SERVICES_IDENTITY_TOTP_H
#define SF_SERVICES_IDENTITY_TOTP_H

#include <stddef.h>
#include <stdint.h>

/* Buffer size that holds any secret this module accepts, NUL included. */
#define SF_TOTP_SECRET_MAX 64
#define SF_TOTP_STEP_S 30
#define SF_TOTP_DIGITS 6

#define SF_TOTP_INVALID (-1)
#define SF_TOTP_REPLAY (-2)

/* Fresh secret: 20 random bytes as 32 base32 characters. cap >= 33.
 * Returns 0, or -1 (buffer too small, liboath failure). */
int sf_totp_new_secret(char *base32_out, size_t cap);

/* Key URI for QR codes:
 * otpauth://totp/Issuer:account?secret=..&issuer=..&algorithm=SHA1&digits=6&period=30
 * with issuer and account percent-encoded (everything but RFC 3986
 * unreserved characters). issuer may be NULL or "" (then the label is just the
 * account and there is no issuer parameter). Returns 0, or -1 for a secret
 * that is not base32, a missing account or a too small buffer. */
int sf_totp_uri(const char *secret_b32, const char *issuer, const char *account, char *out, size_t cap);

/* The code for the step containing now_s (>= 0), for tests and tooling.
 * Returns 0, or -1 for a bad secret. */
int sf_totp_code(const char *secret_b32, int64_t now_s, char out[7]);

/* Accepts code (exactly 6 ASCII digits) if it matches step-1, step or step+1
 * of now_s and that step is > last_step (0 if the secret was never used).
 * Returns the matched step (> 0; the latest one if several match),
 * SF_TOTP_INVALID for a wrong or malformed code or a bad secret, or
 * SF_TOTP_REPLAY when the code only matches steps <= last_step. */
int64_t sf_totp_check(const char *secret_b32, const char *code, int64_t now_s, int64_t last_step);

#endif
