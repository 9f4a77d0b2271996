/* Password reset by an e-mailed single-use link.
 *
 * Asking (POST /auth/password-reset) answers 202 with the same body whether
 * or not the address has an account, and does the same work either way: a
 * writer command that commits (a token and its mail, or a record that
 * nothing was sent), so neither the answer nor its time tells them apart.
 * Confirming (POST /auth/password-reset/confirm) hashes the new password on
 * the hash pool, then in one command sets it, uses the token up, ends every
 * session of the user, clears the lockout and mails that the password
 * changed. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/input.h"
#include "services/identity/internal.h"
#include "services/identity/password.h"

/* A request's work in flight, carried through the hash pool into the command. */
typedef struct {
  sf_req *req;
  char email[256];
  char token_hash[65];
  char new_password[129]; /* until hashed */
  char new_hash[SF_PW_HASH_MAX];
} reset_job;

static void job_free(void *p) {
  sodium_memzero(p, sizeof(reset_job));
  free(p);
}

/* ---- POST /auth/password-reset ---- */

static const sf_json_field k_request[] = {
    {"email", SF_JSON_STRING, 1, 1, 254},
    {0},
};

static int request_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  reset_job *j = data;
  sf_user u;
  int rc = sf_user_by_email(tx->db, j->email, &u, err);
  if (rc && rc != -404) return rc;
  sf_err_clear(err);
  if (rc == 0 && strcmp(u.status, "active") == 0) {
    char expires[32];
    if (id_mail_token(tx, &u, ID_PURPOSE_RESET, id_cfg.reset_ttl_s, "/password-reset", "account.password_reset",
                      expires, sizeof expires, err) ||
        id_event(tx, who, &u, "user.password_reset_requested", json_pack("{s:s}", "expires_at", expires), err))
      return -1;
  } else if (id_no_mail(tx, who, "password_reset", err)) {
    return -1;
  }
  id_accepted(out);
  return 0;
}

static void h_request(sf_req *req) {
  json_t *b = sf_in_body(req, k_request);
  if (!b) return;
  sf_err err = {0};
  reset_job *j = sf_calloc(1, sizeof *j);
  char key[300];
  if (id_normalize_email(sf_json_str(b, "email"), j->email, sizeof j->email, &err)) goto fail;
  snprintf(key, sizeof key, "address:%s", j->email);
  if (id_mail_budget(key, &err)) goto fail;
  json_decref(b);
  sf_req_submit(req, request_exec, j, job_free);
  return;
fail:
  json_decref(b);
  job_free(j);
  sf_req_reply_problem(req, &err);
}

/* ---- POST /auth/password-reset/confirm ---- */

static const sf_json_field k_confirm[] = {
    {"token", SF_JSON_STRING, 1, 1, 128},
    {"new_password", SF_JSON_STRING, 1, 8, 128}, /* as at registration */
    {0},
};

/* The token is checked again here: another confirm may have used it since
 * the handler looked. */
static int confirm_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  reset_job *j = data;
  sf_acct_token t;
  sf_user u;
  int rc = id_token_usable(tx->db, j->token_hash, ID_PURPOSE_RESET, tx->now_ms, &t, err);
  if (rc || (rc = id_load(tx, t.user_id, &u, err))) return rc;
  if (strcmp(u.status, "active") != 0)
    return id_token_invalid(err); /* its link was sent while the account was active */
  snprintf(u.password_hash, sizeof u.password_hash, "%s", j->new_hash);
  u.failed_logins = 0;
  u.locked_until = 0;
  u.version++;
  u.updated_at = tx->now_ms;
  /* the link reached the address: it is the user's */
  if (sf_acct_token_set_status(tx->db, t.id, "used", err) ||
      sf_acct_token_revoke_user(tx->db, u.id, ID_PURPOSE_RESET, err) < 0 || id_mark_verified(tx, who, &u, err) ||
      id_save(tx, &u, err))
    return -1;
  int n = id_revoke_sessions(tx, u.id, NULL, err);
  if (n < 0 || id_event(tx, who, &u, "user.password_reset", json_pack("{s:i}", "sessions_revoked", n), err) ||
      id_mail_password_changed(tx, &u, err))
    return -1;
  sf_result_json(out, 204, NULL);
  return 0;
}

static void reply_err_resume(sf_req *req, sf_err *err) {
  sf_req_reply_problem(req, err);
  sf_req_resume_durable(req); /* the answer may rest on reads */
}

/* On a hashing thread. */
static void confirm_hashed(void *ud, int ok, const char *hash) {
  reset_job *j = ud;
  if (!ok) {
    sf_err err = {0};
    sf_err_internal(&err, "password hashing failed");
    reply_err_resume(j->req, &err);
    job_free(j);
    return;
  }
  snprintf(j->new_hash, sizeof j->new_hash, "%s", hash);
  sf_req_submit(j->req, confirm_exec, j, job_free);
}

/* A token that cannot work is refused before any hashing. */
static void h_confirm(sf_req *req) {
  json_t *b = sf_in_body(req, k_confirm);
  if (!b) return;
  sf_err err = {0};
  reset_job *j = sf_calloc(1, sizeof *j);
  j->req = req;
  const char *token = sf_json_str(b, "token");
  sf_sha256_hex(token, strlen(token), j->token_hash);
  snprintf(j->new_password, sizeof j->new_password, "%s", sf_json_str(b, "new_password"));
  json_decref(b);
  sf_acct_token t;
  sf_db *db = sf_db_reader(&err);
  if (!db || id_token_usable(db, j->token_hash, ID_PURPOSE_RESET, sf_now_ms(), &t, &err)) {
    job_free(j);
    sf_req_reply_problem(req, &err);
    return;
  }
  sf_req_suspend(req);
  int rc = sf_pw_hash_async(j->new_password, confirm_hashed, j);
  sodium_memzero(j->new_password, sizeof j->new_password);
  if (rc) {
    sf_err_set(&err, 503, "unavailable", "Service unavailable", "the server is shutting down");
    job_free(j);
    reply_err_resume(req, &err);
  }
}

/* ---- routes ---- */

void id_reset_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/auth/password-reset", h_request, SF_AUTH_PUBLIC, NULL, SF_ROUTE_LOGIN_LIMIT, "auth",
       "Mail a single-use password reset link to `email` (the same answer whether or not it has an account)",
       "{\"type\":\"object\",\"required\":[\"email\"],\"additionalProperties\":false,"
       "\"properties\":{\"email\":{\"type\":\"string\",\"maxLength\":254}}}",
       "{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{\"status\":{\"const\":\"accepted\"}}}", 202, 0},
      {"POST", "/api/v1/auth/password-reset/confirm", h_confirm, SF_AUTH_PUBLIC, NULL, SF_ROUTE_LOGIN_LIMIT, "auth",
       "Set a new password with the token of a reset link (single use; ends every session of the user)",
       "{\"type\":\"object\",\"required\":[\"token\",\"new_password\"],\"additionalProperties\":false,"
       "\"properties\":{\"token\":{\"type\":\"string\",\"maxLength\":128},"
       "\"new_password\":{\"type\":\"string\",\"minLength\":8,\"maxLength\":128}}}",
       NULL, 204, 0, .statuses = "400"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
