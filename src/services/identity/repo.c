#include "services/identity/repo.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define USER_COLS                                                                                                      \
  "id, email, password_hash, name, role, status, failed_logins, locked_until, totp_secret, "                           \
  "totp_enabled, totp_last_step, version, created_at, updated_at, email_verified"

static void row_user(sf_stmt *st, sf_user *u) {
  sf_stmt_col_copy(st, 0, u->id, sizeof u->id);
  sf_stmt_col_copy(st, 1, u->email, sizeof u->email);
  sf_stmt_col_copy(st, 2, u->password_hash, sizeof u->password_hash);
  sf_stmt_col_copy(st, 3, u->name, sizeof u->name);
  sf_stmt_col_copy(st, 4, u->role, sizeof u->role);
  sf_stmt_col_copy(st, 5, u->status, sizeof u->status);
  u->failed_logins = (int)sf_stmt_col_int(st, 6);
  u->locked_until = sf_stmt_col_int(st, 7);
  sf_stmt_col_copy(st, 8, u->totp_secret, sizeof u->totp_secret);
  u->totp_enabled = (int)sf_stmt_col_int(st, 9);
  u->totp_last_step = sf_stmt_col_int(st, 10);
  u->version = sf_stmt_col_int(st, 11);
  u->created_at = sf_stmt_col_int(st, 12);
  u->updated_at = sf_stmt_col_int(st, 13);
  u->email_verified = (int)sf_stmt_col_int(st, 14);
  memcpy(u->loaded_role, u->role, sizeof u->role);
  memcpy(u->loaded_status, u->status, sizeof u->status);
}

static int one_user(sf_stmt *st, sf_user *u, sf_err *err) {
  int rc = sf_stmt_step(st, err);
  if (rc == 1) row_user(st, u);
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "user");
  return rc < 0 ? rc : 0;
}

int sf_user_by_id(sf_db *db, const char *id, sf_user *u, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT " USER_COLS " FROM users WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, id);
  return one_user(st, u, err);
}

int sf_user_by_email(sf_db *db, const char *email, sf_user *u, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT " USER_COLS " FROM users WHERE email = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, email);
  return one_user(st, u, err);
}

int sf_user_insert(sf_db *db, const sf_user *u, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "INSERT INTO users(" USER_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, u->id);
  sf_stmt_text(st, 2, u->email);
  sf_stmt_text(st, 3, u->password_hash);
  sf_stmt_text(st, 4, u->name);
  sf_stmt_text(st, 5, u->role);
  sf_stmt_text(st, 6, u->status);
  sf_stmt_int(st, 7, u->failed_logins);
  sf_stmt_int(st, 8, u->locked_until);
  sf_stmt_text(st, 9, u->totp_secret[0] ? u->totp_secret : NULL);
  sf_stmt_int(st, 10, u->totp_enabled);
  sf_stmt_int(st, 11, u->totp_last_step);
  sf_stmt_int(st, 12, u->version);
  sf_stmt_int(st, 13, u->created_at);
  sf_stmt_int(st, 14, u->updated_at);
  sf_stmt_int(st, 15, u->email_verified);
  int rc = sf_stmt_run(st, err);
  if (rc == -409) sf_err_conflict(err, "a user with this email already exists");
  return rc;
}

int sf_user_update(sf_db *db, const sf_user *u, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE users SET password_hash = ?, name = ?, role = ?, status = ?,"
                              " failed_logins = ?, locked_until = ?, totp_secret = ?, totp_enabled = ?,"
                              " totp_last_step = ?, version = ?, updated_at = ?, email_verified = ? WHERE id = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, u->password_hash);
  sf_stmt_text(st, 2, u->name);
  sf_stmt_text(st, 3, u->role);
  sf_stmt_text(st, 4, u->status);
  sf_stmt_int(st, 5, u->failed_logins);
  sf_stmt_int(st, 6, u->locked_until);
  sf_stmt_text(st, 7, u->totp_secret[0] ? u->totp_secret : NULL);
  sf_stmt_int(st, 8, u->totp_enabled);
  sf_stmt_int(st, 9, u->totp_last_step);
  sf_stmt_int(st, 10, u->version);
  sf_stmt_int(st, 11, u->updated_at);
  sf_stmt_int(st, 12, u->email_verified);
  sf_stmt_text(st, 13, u->id);
  return sf_stmt_run(st, err);
}

/* The page's statement: all users, or those whose address or name starts
 * with prefix (?4, lowercased; ?5 the prefix and U+10FFFF, the largest
 * code point, whose UTF-8 sorts above every character's in byte order:
 * the range of the lower(...) indexes; valid UTF-8 for PostgreSQL); with
 * role, only that role's (?6; without a prefix on users(role, created_at, id)). */
static sf_stmt *list_statement(sf_db *db, const char *prefix, const char *role, sf_err *err) {
  if (!prefix && !role)
    return sf_db_prepare(db,
                         "SELECT " USER_COLS " FROM users WHERE (created_at, id) < (?1, ?2)"
                         " ORDER BY created_at DESC, id DESC LIMIT ?3",
                         err);
  if (!prefix)
    return sf_db_prepare(db,
                         "SELECT " USER_COLS " FROM users WHERE role = ?6 AND (created_at, id) < (?1, ?2)"
                         " ORDER BY created_at DESC, id DESC LIMIT ?3",
                         err);
  if (role)
    return sf_db_prepare(db,
                         "SELECT " USER_COLS " FROM users WHERE ((lower(email) >= ?4 AND lower(email) < ?5)"
                         " OR (lower(name) >= ?4 AND lower(name) < ?5)) AND role = ?6 AND (created_at, id) < (?1, ?2)"
                         " ORDER BY created_at DESC, id DESC LIMIT ?3",
                         err);
  return sf_db_prepare(db,
                       "SELECT " USER_COLS " FROM users WHERE ((lower(email) >= ?4 AND lower(email) < ?5)"
                       " OR (lower(name) >= ?4 AND lower(name) < ?5)) AND (created_at, id) < (?1, ?2)"
                       " ORDER BY created_at DESC, id DESC LIMIT ?3",
                       err);
}

int sf_user_list(sf_db *db, const char *cursor, const char *prefix, const char *role, int limit, json_t *out,
                 char *next_cursor, size_t cap, sf_err *err) {
  int64_t c_at = INT64_MAX;
  char c_id[64] = "\x7f";
  if (cursor && *cursor) {
    char *end;
    c_at = strtoll(cursor, &end, 10);
    if (*end != ':' || strlen(end + 1) >= sizeof c_id || !end[1])
      return sf_err_invalid(err, "cursor", "is not a cursor returned by this list");
    snprintf(c_id, sizeof c_id, "%s", end + 1);
  }
  char lo[128], hi[133];
  if (prefix) {
    size_t i = 0;
    for (; prefix[i] && i < sizeof lo - 1; i++) lo[i] = (char)tolower((unsigned char)prefix[i]);
    lo[i] = '\0';
    snprintf(hi, sizeof hi, "%s\xf4\x8f\xbf\xbf", lo);
  }
  sf_stmt *st = list_statement(db, prefix, role, err);
  if (!st) return -500;
  if (role) sf_stmt_text(st, 6, role);
  sf_stmt_int(st, 1, c_at);
  sf_stmt_text(st, 2, c_id);
  sf_stmt_int(st, 3, limit + 1);
  if (prefix) {
    sf_stmt_text(st, 4, lo);
    sf_stmt_text(st, 5, hi);
  }
  int rc, n = 0;
  sf_user u;
  next_cursor[0] = '\0';
  while ((rc = sf_stmt_step(st, err)) == 1) {
    if (n == limit) {
      snprintf(next_cursor, cap, "%" PRId64 ":%s", u.created_at, u.id);
      break;
    }
    row_user(st, &u);
    json_array_append_new(out, sf_user_json(&u));
    n++;
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

json_t *sf_user_json(const sf_user *u) {
  char created[32], updated[32];
  sf_time_iso8601(u->created_at, created, sizeof created);
  sf_time_iso8601(u->updated_at, updated, sizeof updated);
  return json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:b, s:I, s:s, s:s}", "id", u->id, "email", u->email,
                   "email_verified", u->email_verified, "name", u->name, "role", u->role, "status", u->status,
                   "mfa_enabled", u->totp_enabled, "version", (json_int_t)u->version, "created_at", created,
                   "updated_at", updated);
}

int sf_refresh_insert(sf_db *db, const sf_refresh *r, const char *token_hash, int64_t now, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO refresh_tokens(id, family, user_id, token_hash, status,"
                              " expires_at, created_at) VALUES(?,?,?,?,?,?,?)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, r->id);
  sf_stmt_text(st, 2, r->family);
  sf_stmt_text(st, 3, r->user_id);
  sf_stmt_text(st, 4, token_hash);
  sf_stmt_text(st, 5, r->status);
  sf_stmt_int(st, 6, r->expires_at);
  sf_stmt_int(st, 7, now);
  return sf_stmt_run(st, err);
}

int sf_refresh_by_hash(sf_db *db, const char *token_hash, sf_refresh *r, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT id, family, user_id, status, expires_at FROM refresh_tokens"
                              " WHERE token_hash = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, token_hash);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_stmt_col_copy(st, 0, r->id, sizeof r->id);
    sf_stmt_col_copy(st, 1, r->family, sizeof r->family);
    sf_stmt_col_copy(st, 2, r->user_id, sizeof r->user_id);
    sf_stmt_col_copy(st, 3, r->status, sizeof r->status);
    r->expires_at = sf_stmt_col_int(st, 4);
  }
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "refresh token");
  return rc < 0 ? rc : 0;
}

int sf_refresh_set_status(sf_db *db, const char *id, const char *status, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "UPDATE refresh_tokens SET status = ? WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, status);
  sf_stmt_text(st, 2, id);
  return sf_stmt_run(st, err);
}

int sf_refresh_revoke_family(sf_db *db, const char *family, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE refresh_tokens SET status = 'revoked' WHERE family = ?"
                              " AND status <> 'revoked'",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, family);
  int rc = sf_stmt_run(st, err);
  return rc < 0 ? rc : (int)sf_db_changes(db);
}

int sf_refresh_revoke_user(sf_db *db, const char *user_id, const char *keep, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE refresh_tokens SET status = 'revoked' WHERE user_id = ?"
                              " AND family <> ? AND status <> 'revoked'",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user_id);
  sf_stmt_text(st, 2, keep ? keep : "");
  int rc = sf_stmt_run(st, err);
  return rc < 0 ? rc : (int)sf_db_changes(db);
}

int sf_session_lookup(sf_db *db, const char *user_id, const char *family, sf_session_state *s, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT u.role, u.status, CAST(EXISTS(SELECT 1 FROM refresh_tokens r"
                              " WHERE r.family = ?2 AND r.user_id = u.id AND r.status = 'active') AS INTEGER)"
                              " FROM users u WHERE u.id = ?1",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user_id);
  sf_stmt_text(st, 2, family);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_stmt_col_copy(st, 0, s->role, sizeof s->role);
    sf_stmt_col_copy(st, 1, s->status, sizeof s->status);
    s->live = sf_stmt_col_int(st, 2) != 0;
  }
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "user");
  return rc < 0 ? rc : 0;
}

int sf_user_any_totp_secret(sf_db *db, sf_err *err) {
  return sf_stmt_true(
      sf_db_prepare(db, "SELECT CAST(EXISTS(SELECT 1 FROM users WHERE totp_secret IS NOT NULL) AS INTEGER)", err), err);
}

int sf_user_any_session_signed(sf_db *db, sf_err *err) {
  return sf_stmt_true(
      sf_db_prepare(db, "SELECT CAST(EXISTS(SELECT 1 FROM users) OR EXISTS(SELECT 1 FROM refresh_tokens) AS INTEGER)",
                    err),
      err);
}
