/* Identity service: registration, login (password, TOTP MFA), refresh-token
 * rotation with reuse detection, profile, and user administration.
 * Every change to a user appends an event to stream "user-<id>". */
#ifndef SF_IDENTITY_H
#define SF_IDENTITY_H

#include "core/config.h"
#include "core/err.h"

/* Creates the user cache (and its metrics); stop frees it. */
void sf_identity_start(void);
void sf_identity_stop(void);
/* Registers the service's routes with the router. */
void sf_identity_routes(void);
/* Lockout and token settings come from the process config. */
void sf_identity_configure(const sf_config *cfg);

/* For the CLI: creates a user directly (the writer must be running, the
 * password hasher initialised). Fills id_out (>= 48 bytes). */
int sf_identity_create_user(const char *email, const char *password, const char *role,
                            const char *name, char *id_out, sf_err *err);

#endif
