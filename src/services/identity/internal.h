/* Shared between the identity service's source files; not for other modules. */
#ifndef SF_IDENTITY_INTERNAL_H
#define SF_IDENTITY_INTERNAL_H

#include <jansson.h>

#include "core/config.h"
#include "core/http.h"
#include "core/json.h"
#include "edge/command.h"
#include "services/identity/repo.h"
#include "store/writer.h"

typedef struct id_settings {
  int access_ttl_s, refresh_ttl_s;
  int lockout_threshold, lockout_base_s;
} id_settings;
extern id_settings id_cfg;

#define MFA_TOKEN_TTL_S 300

/* Appends an event about user u caused by who (NULL: the system; the actor
 * recorded is u itself when who is not signed in). */
int id_event(sf_tx *tx, const sf_actor *who, const sf_user *u, const char *type, json_t *data_stolen, sf_err *err);
/* Signs a JWT of type typ ("access" or "mfa") for u, valid ttl_s seconds;
 * an access token names its session (sid: the refresh-token family). */
int id_sign(const sf_tx *tx, const sf_user *u, const char *typ, const char *sid, int ttl_s, char *out, size_t cap,
            sf_err *err);
/* Issues an access token and a refresh token (new family when family is
 * NULL or empty) and builds the token response (new reference in *out). */
int id_issue_tokens(sf_tx *tx, const sf_user *u, const char *family, json_t **out, sf_err *err);
/* Writes the user row; once the transaction commits, drops its cached JSON
 * and, when role or status differ from what was loaded, the edge's cached
 * session answers (id_changed). */
int id_save(sf_tx *tx, const sf_user *u, sf_err *err);
/* After this transaction commits (before it is answered), every HTTP thread
 * checks user_id's sessions afresh: call it with any change to a user or its
 * sessions. */
void id_changed(sf_tx *tx, const char *user_id);
/* Revokes one session (family) of user_id; returns how many tokens, or -1. */
int id_revoke_session(sf_tx *tx, const char *user_id, const char *family, sf_err *err);
/* Revokes every session of user_id but keep (NULL: all); count or -1. */
int id_revoke_sessions(sf_tx *tx, const char *user_id, const char *keep, sf_err *err);
/* Route handlers: replies with the user's JSON and ETag, from the cache or
 * the database. */
void id_reply_user_by_id(sf_req *req, const char *id);
/* Loads a user inside the transaction; 404 if gone. */
int id_load(sf_tx *tx, const char *id, sf_user *u, sf_err *err);
/* Inserts a new user and its user.registered event. */
int id_create(sf_tx *tx, const sf_actor *who, const char *email, const char *name, const char *role,
              const char *password_hash, sf_user *out, sf_err *err);

/* Validates and lower-cases an email into out (cap >= 256). */
int id_normalize_email(const char *in, char *out, size_t cap, sf_err *err);
/* The user and its ETag as a command's result. */
void id_user_result(sf_result *out, int status, const sf_user *u);

void id_auth_routes(void);
void id_user_routes(void);

#endif
