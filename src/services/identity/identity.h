/* Identity service: registration, login (password, TOTP MFA), refresh-token
 * rotation with reuse detection, profile, and user administration.
 * Every change to a user appends an event to stream "user-<id>". */
#ifndef SF_IDENTITY_H
#define SF_IDENTITY_H

#include <jansson.h>

#include "core/config.h"
#include "core/err.h"
#include "core/http.h"
#include "events/verify.h"
#include "store/db.h"
#include "store/writer.h"

/* Creates the user cache (and its metrics); stop frees it. */
void sf_identity_start(void);
void sf_identity_stop(void);
/* Registers the service's routes with the router. */
void sf_identity_routes(void);
/* Lockout and token settings come from the process config. */
void sf_identity_configure(const sf_config *cfg);

/* For the CLI: creates a user directly (the writer must be running, the
 * password hasher initialised). Fills id_out (>= 48 bytes). */
int sf_identity_create_user(const char *email, const char *password, const char *role, const char *name, char *id_out,
                            sf_err *err);

/* serviceflow verify (verify.c): folds every "user-<id>" stream into role,
 * status, email, name and mfa_enabled and compares them with the users rows
 * (one read transaction on db, see events/verify.h). Differences go into r;
 * returns < 0 with err only when the database cannot be read. */
int sf_identity_verify(sf_db *db, sf_verify_report *r, sf_err *err);

/* Runs inside the login (and registration) transaction once tokens are
 * issued; may add fields to the reply. Other services use it without
 * identity knowing them (carts: a guest cart becomes the user's). */
typedef int (*sf_login_hook)(sf_tx *tx, const sf_req *req, const char *user_id, json_t *reply, sf_err *err);
void sf_identity_on_login(sf_login_hook fn);

#endif
