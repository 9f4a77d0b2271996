/* Identity repository: all SQL for users and refresh tokens. The users row
 * is the snapshot of the user aggregate; every change to it is paired with an
 * event on stream "user-<id>" by the service layer. */
#ifndef SF_IDENTITY_REPO_H
#define SF_IDENTITY_REPO_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "store/db.h"

typedef struct sf_user {
  char id[SF_ID_MAX];
  char email[256];
  char password_hash[160];
  char name[404]; /* 100 code points of UTF-8 */
  char role[16];
  char status[16]; /* active | disabled */
  int failed_logins;
  int64_t locked_until;  /* ms */
  char totp_secret[256]; /* sealed; empty = none */
  int totp_enabled;
  int64_t totp_last_step;
  int email_verified;
  int64_t version;
  int64_t created_at, updated_at;
  /* role and status as read from the row (empty for a user not yet stored):
   * lets the service tell whether a save changes what a session may do */
  char loaded_role[16], loaded_status[16];
} sf_user;

/* 0 found, -404 not found, other negative = error. */
int sf_user_by_id(sf_db *db, const char *id, sf_user *u, sf_err *err);
int sf_user_by_email(sf_db *db, const char *email, sf_user *u, sf_err *err);
int sf_user_insert(sf_db *db, const sf_user *u, sf_err *err); /* 409 on duplicate email */
int sf_user_update(sf_db *db, const sf_user *u, sf_err *err); /* writes every mutable column */
/* Page of users ordered newest first; cursor is "created_at:id" of the last row;
 * prefix (NULL: all): only those whose email or name starts with it, ASCII
 * case-insensitive (at most 127 bytes are used); role (NULL: any): only
 * that role's. */
int sf_user_list(sf_db *db, const char *cursor, const char *prefix, const char *role, int limit, json_t *out_array,
                 char *next_cursor, size_t cap, sf_err *err);

json_t *sf_user_json(const sf_user *u);

typedef struct sf_refresh {
  char id[SF_ID_MAX];
  char family[SF_ID_MAX];
  char user_id[SF_ID_MAX];
  char status[16]; /* active | rotated | revoked */
  int64_t expires_at;
} sf_refresh;

int sf_refresh_insert(sf_db *db, const sf_refresh *r, const char *token_hash, int64_t now, sf_err *err);
int sf_refresh_by_hash(sf_db *db, const char *token_hash, sf_refresh *r, sf_err *err); /* -404 */
int sf_refresh_set_status(sf_db *db, const char *id, const char *status, sf_err *err);
/* Revokes every still-usable token of a family; returns the count or <0. */
int sf_refresh_revoke_family(sf_db *db, const char *family, sf_err *err);
/* Revokes every still-usable token of the user except those of family keep
 * (NULL or "": none kept); returns the count or <0. */
int sf_refresh_revoke_user(sf_db *db, const char *user_id, const char *keep, sf_err *err);

/* A single-use token of an e-mailed link (repo_tokens.c). Only the SHA-256
 * (hex) of the token is stored; the token itself exists in the mail alone. */
typedef struct sf_acct_token {
  char id[SF_ID_MAX];
  char user_id[SF_ID_MAX];
  char purpose[16]; /* verify_email | reset */
  char status[16];  /* active | used | revoked */
  int64_t expires_at, created_at;
} sf_acct_token;

int sf_acct_token_insert(sf_db *db, const sf_acct_token *t, const char *token_hash, sf_err *err);
int sf_acct_token_by_hash(sf_db *db, const char *token_hash, sf_acct_token *t, sf_err *err); /* -404 */
int sf_acct_token_set_status(sf_db *db, const char *id, const char *status, sf_err *err);
/* Revokes user_id's active tokens of purpose; returns the count or <0. */
int sf_acct_token_revoke_user(sf_db *db, const char *user_id, const char *purpose, sf_err *err);
/* Deletes user_id's used and revoked tokens of purpose (a new one is made:
 * the table keeps at most the last round per user and purpose; the events
 * keep the history). */
int sf_acct_token_forget_user(sf_db *db, const char *user_id, const char *purpose, sf_err *err);

/* What the edge needs to know about a session: the user's role and status,
 * and whether family (the session) still has a usable token of that user.
 * 0 found, -404 no such user, other negative = error. */
typedef struct sf_session_state {
  char role[16];
  char status[16];
  int live;
} sf_session_state;
int sf_session_lookup(sf_db *db, const char *user_id, const char *family, sf_session_state *s, sf_err *err);

/* Key-file probes (the descriptor's holds_keyed, asked at open when the
 * file is missing; they may read the whole table): 1 yes, 0 no, <0 with err.
 * A user has a TOTP secret (sealed with seal.keys). */
int sf_user_any_totp_secret(sf_db *db, sf_err *err);
/* There is a user or a refresh token: sessions signed with jwt.key. */
int sf_user_any_session_signed(sf_db *db, sf_err *err);

/* serviceflow verify's reads (in repo_verify.c, for verify.c): statements the caller steps and
 * resets; NULL with err when they cannot be prepared.
 * The user-* events that shape the users rows, in order:
 * position, stream, type, data (JSON text). */
sf_stmt *sf_user_verify_events(sf_db *db, sf_err *err);
/* Every users row: id, email, name, role, status, totp_enabled, email_verified. */
sf_stmt *sf_user_verify_rows(sf_db *db, sf_err *err);

#endif
