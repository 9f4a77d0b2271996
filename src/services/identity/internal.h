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

/* email_verification: off (no mail, no flag checked), optional (a link is
 * mailed, everything works before it is followed), required (no tokens
 * until the address is verified: registration answers without them and
 * login answers 403 email-not-verified). */
enum { ID_VERIFY_OFF, ID_VERIFY_OPTIONAL, ID_VERIFY_REQUIRED };

typedef struct id_settings {
  int access_ttl_s, refresh_ttl_s;
  int lockout_threshold, lockout_base_s;
  int verification; /* ID_VERIFY_* */
  int verify_ttl_s, reset_ttl_s;
  int mails_per_hour;
  char app_url[512];
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
/* Inserts a new user and its user.registered event; email_verified: the
 * address is known to be the user's (an operator created the account). */
int id_create(sf_tx *tx, const sf_actor *who, const char *email, const char *name, const char *role,
              const char *password_hash, int email_verified, sf_user *out, sf_err *err);

/* ---- account self-service (account.c, reset.c, account_mail.c) ---- */

/* The token purposes (sf_acct_token.purpose). */
#define ID_PURPOSE_VERIFY "verify_email"
#define ID_PURPOSE_RESET "reset"

/* Makes a single-use token of purpose for u that expires in ttl_s (u's
 * earlier unused ones of that purpose are revoked), stores its hash, and
 * queues the mail of kind whose link is app_url + path + "?token=<token>",
 * all in tx. The token lives only in the mail. Fills expires (ISO 8601,
 * cap >= 32). Writer thread. */
int id_mail_token(sf_tx *tx, const sf_user *u, const char *purpose, int ttl_s, const char *path, const char *kind,
                  char *expires, size_t cap, sf_err *err);
/* Queues account.password_changed to u. Writer thread. */
int id_mail_password_changed(sf_tx *tx, const sf_user *u, sf_err *err);
/* Loads the token whose SHA-256 is hash when it is active, of purpose and
 * not expired at now_ms: 0, or -400 with the one answer every unknown,
 * used or expired token gets (problem type invalid-or-expired-token). */
int id_token_usable(sf_db *db, const char *hash, const char *purpose, int64_t now_ms, sf_acct_token *t, sf_err *err);
/* That answer alone (a token that cannot be used for another reason). */
int id_token_invalid(sf_err *err);
/* Marks the address verified (with its event, revoking u's other
 * verification tokens) when it was not; the caller bumps u's version and
 * saves it. Writer thread. */
int id_mark_verified(sf_tx *tx, const sf_actor *who, sf_user *u, sf_err *err);
/* Mails u a verification link; announce: with a user.email_verification_sent
 * event (a resend; at registration user.registered tells it). */
int id_send_verification(sf_tx *tx, const sf_actor *who, const sf_user *u, int announce, sf_err *err);
/* The per-address (or per-user) budget of account mails, taken on an HTTP
 * thread before the command, shared by every instance when redis_url is set
 * (sf_edge_rl_take): 0, or -429 with err (Retry-After set), or -503 when
 * redis_fail = closed and Redis cannot answer. */
int id_mail_budget(const char *key, sf_err *err);
/* Records a request that mails nothing (unknown address, nothing to send),
 * so it writes and commits like one that does. Writer thread. */
int id_no_mail(sf_tx *tx, const sf_actor *who, const char *what, sf_err *err);
/* The limiter of id_mail_budget: start creates it (server only), stop frees it. */
int id_account_start(const sf_config *cfg, sf_err *err);
void id_account_stop(void);

/* The 202 answer of a request that may send a mail: {"status": "accepted"}. */
void id_accepted(sf_result *out);

void id_account_routes(void); /* account.c: verification; calls id_reset_routes */
void id_reset_routes(void);   /* reset.c: password reset */

/* Validates and lower-cases an email into out (cap >= 256). */
int id_normalize_email(const char *in, char *out, size_t cap, sf_err *err);
/* The user and its ETag as a command's result. */
void id_user_result(sf_result *out, int status, const sf_user *u);

void id_auth_routes(void);
void id_user_routes(void);

#endif
