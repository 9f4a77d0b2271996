/* Identity service: registration, login (password, TOTP MFA), refresh-token
 * rotation with reuse detection, profile, and user administration.
 * Every change to a user appends an event to stream "user-<id>". */
#ifndef SF_IDENTITY_H
#define SF_IDENTITY_H

#include <jansson.h>

#include "core/actor.h"
#include "core/config.h"
#include "core/err.h"
#include "core/http.h"
#include "events/verify.h"
#include "store/db.h"
#include "store/writer.h"

/* Creates the user cache (and its metrics); stop frees it. */
void sf_identity_start(void);
void sf_identity_stop(void);
/* Lockout and token settings come from the process config. */
void sf_identity_configure(const sf_config *cfg);

/* For the CLI: creates a user directly (the writer must be running, the
 * password hasher initialised). Fills id_out (>= SF_ID_MAX bytes). */
int sf_identity_create_user(const char *email, const char *password, const char *role, const char *name, char *id_out,
                            sf_err *err);

/* serviceflow verify (verify.c): folds every "user-<id>" stream into role,
 * status, email, name and mfa_enabled and compares them with the users rows
 * (one read transaction on db, see events/verify.h). Differences go into r;
 * returns < 0 with err only when the database cannot be read. */
int sf_identity_verify(sf_db *db, sf_verify_report *r, sf_err *err);

/* A login hook: other services act in the login (and registration)
 * transaction without identity knowing them (carts: a guest cart becomes the
 * user's). capture runs in the route handler on the HTTP thread and copies
 * what run will need from the request (NULL when nothing); run runs in the
 * writer once tokens are issued, may add fields to the reply, and gets who
 * acts (anonymous at login) and what capture returned; release frees that
 * when the login is finished (after commit or on failure). */
typedef struct sf_login_hook {
  void *(*capture)(const sf_req *req);
  int (*run)(sf_tx *tx, const sf_actor *who, const char *user_id, const void *captured, json_t *reply, sf_err *err);
  void (*release)(void *captured);
} sf_login_hook;
/* Startup only; hook must outlive the service (a static). One hook. */
void sf_identity_on_login(const sf_login_hook *hook);

#endif
