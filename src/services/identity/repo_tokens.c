/* Identity repository, continued: the single-use tokens of e-mailed links
 * (verification, password reset). Looked up by the hash's unique index;
 * revoked per user through account_tokens_user. */
#include "services/identity/repo.h"

int sf_acct_token_insert(sf_db *db, const sf_acct_token *t, const char *token_hash, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "INSERT INTO account_tokens(id, user_id, purpose, token_hash, status, expires_at,"
                              " created_at) VALUES(?,?,?,?,?,?,?)",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, t->id);
  sf_stmt_text(st, 2, t->user_id);
  sf_stmt_text(st, 3, t->purpose);
  sf_stmt_text(st, 4, token_hash);
  sf_stmt_text(st, 5, t->status);
  sf_stmt_int(st, 6, t->expires_at);
  sf_stmt_int(st, 7, t->created_at);
  return sf_stmt_run(st, err);
}

int sf_acct_token_by_hash(sf_db *db, const char *token_hash, sf_acct_token *t, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT id, user_id, purpose, status, expires_at, created_at FROM account_tokens"
                              " WHERE token_hash = ?",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, token_hash);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) {
    sf_stmt_col_copy(st, 0, t->id, sizeof t->id);
    sf_stmt_col_copy(st, 1, t->user_id, sizeof t->user_id);
    sf_stmt_col_copy(st, 2, t->purpose, sizeof t->purpose);
    sf_stmt_col_copy(st, 3, t->status, sizeof t->status);
    t->expires_at = sf_stmt_col_int(st, 4);
    t->created_at = sf_stmt_col_int(st, 5);
  }
  sf_stmt_reset(st);
  if (rc == 0) return sf_err_not_found(err, "token");
  return rc < 0 ? rc : 0;
}

int sf_acct_token_set_status(sf_db *db, const char *id, const char *status, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "UPDATE account_tokens SET status = ? WHERE id = ?", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, status);
  sf_stmt_text(st, 2, id);
  return sf_stmt_run(st, err);
}

int sf_acct_token_revoke_user(sf_db *db, const char *user_id, const char *purpose, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "UPDATE account_tokens SET status = 'revoked' WHERE user_id = ? AND purpose = ?"
                              " AND status = 'active'",
                              err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user_id);
  sf_stmt_text(st, 2, purpose);
  int rc = sf_stmt_run(st, err);
  return rc < 0 ? rc : (int)sf_db_changes(db);
}

int sf_acct_token_forget_user(sf_db *db, const char *user_id, const char *purpose, sf_err *err) {
  sf_stmt *st =
      sf_db_prepare(db, "DELETE FROM account_tokens WHERE user_id = ? AND purpose = ? AND status <> 'active'", err);
  if (!st) return -500;
  sf_stmt_text(st, 1, user_id);
  sf_stmt_text(st, 2, purpose);
  return sf_stmt_run(st, err);
}
