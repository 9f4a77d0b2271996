/* Account self-service routes: e-mail verification (follow the mailed link,
 * ask for a new one). Password reset is in reset.c; the tokens and mails
 * both use are in account_mail.c.
 *
 * The link's token is the credential: the routes that take one are public
 * and rate-limited per client address (the edge's login limit); those that
 * send mail also spend the address's (or user's) budget of account mails. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/input.h"
#include "services/identity/internal.h"

typedef struct {
  char token[160];
  char email[256];
  char user_id[SF_ID_MAX];
} account_job;

static void job_free(void *p) {
  sodium_memzero(p, sizeof(account_job));
  free(p);
}

void id_accepted(sf_result *out) { sf_result_json(out, 202, json_pack("{s:s}", "status", "accepted")); }

/* ---- POST /auth/verify-email ---- */

static const sf_json_field k_verify[] = {
    {"token", SF_JSON_STRING, 1, 1, 128},
    {0},
};

static int verify_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  account_job *j = data;
  char hash[65];
  sf_sha256_hex(j->token, strlen(j->token), hash);
  sf_acct_token t;
  sf_user u;
  int rc = id_token_usable(tx->db, hash, ID_PURPOSE_VERIFY, tx->now_ms, &t, err);
  if (rc || (rc = id_load(tx, t.user_id, &u, err))) return rc;
  u.version++;
  u.updated_at = tx->now_ms;
  if (sf_acct_token_set_status(tx->db, t.id, "used", err) || id_mark_verified(tx, who, &u, err) || id_save(tx, &u, err))
    return -1;
  id_user_result(out, 200, &u);
  return 0;
}

static void h_verify(sf_req *req) {
  json_t *b = sf_in_body(req, k_verify);
  if (!b) return;
  account_job *j = sf_calloc(1, sizeof *j);
  snprintf(j->token, sizeof j->token, "%s", sf_json_str(b, "token"));
  json_decref(b);
  sf_req_submit(req, verify_exec, j, job_free);
}

/* ---- POST /auth/verify-email/resend ---- */

static const sf_json_field k_resend[] = {
    {"email", SF_JSON_STRING, 0, 1, 254},
    {0},
};

/* Signed in: a clear answer about the caller. By address: the same answer
 * whether or not it names an account waiting for verification. */
static int resend_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  account_job *j = data;
  sf_user u;
  int rc = j->user_id[0] ? id_load(tx, j->user_id, &u, err) : sf_user_by_email(tx->db, j->email, &u, err);
  if (j->user_id[0] && rc) return rc;
  if (j->user_id[0] && u.email_verified) return sf_err_conflict(err, "the e-mail address is already verified");
  if (rc && rc != -404) return rc;
  sf_err_clear(err);
  if (rc == 0 && !u.email_verified && strcmp(u.status, "active") == 0) {
    if (id_send_verification(tx, who, &u, 1, err)) return -1;
  } else if (id_no_mail(tx, who, "verify_email", err)) {
    return -1;
  }
  id_accepted(out);
  return 0;
}

static void h_resend(sf_req *req) {
  sf_err err = {0};
  char key[300];
  account_job *j = sf_calloc(1, sizeof *j);
  if (id_cfg.verification == ID_VERIFY_OFF) {
    sf_err_conflict(&err, "e-mail verification is turned off on this server");
    goto fail;
  }
  if (req->principal.authenticated) {
    snprintf(j->user_id, sizeof j->user_id, "%s", req->principal.user_id);
    snprintf(key, sizeof key, "user:%s", j->user_id);
  } else {
    json_t *b = sf_in_body(req, k_resend);
    if (!b) {
      job_free(j);
      return;
    }
    const char *email = sf_json_str(b, "email");
    if (!email)
      sf_err_invalid(&err, "email", "is required when not signed in");
    else
      id_normalize_email(email, j->email, sizeof j->email, &err);
    json_decref(b);
    if (err.status) goto fail;
    snprintf(key, sizeof key, "address:%s", j->email);
  }
  if (id_mail_budget(key, &err)) goto fail;
  sf_req_submit(req, resend_exec, j, job_free);
  return;
fail:
  job_free(j);
  sf_req_reply_problem(req, &err);
}

/* ---- routes ---- */

#define ACCEPTED_SCHEMA                                                                                                \
  "{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{\"status\":{\"const\":\"accepted\"}}}"

void id_account_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/auth/verify-email", h_verify, SF_AUTH_PUBLIC, NULL, SF_ROUTE_LOGIN_LIMIT, "auth",
       "Confirm an e-mail address with the token of the mailed link (single use)",
       "{\"type\":\"object\",\"required\":[\"token\"],\"additionalProperties\":false,"
       "\"properties\":{\"token\":{\"type\":\"string\",\"maxLength\":128}}}",
       "{\"$ref\":\"#/components/schemas/User\"}", 200, 0, .statuses = "400"},
      {"POST", "/api/v1/auth/verify-email/resend", h_resend, SF_AUTH_OPTIONAL, NULL, SF_ROUTE_LOGIN_LIMIT, "auth",
       "Mail a new verification link: to the caller when signed in, else to `email` (the same answer whether or "
       "not it names an account waiting for verification)",
       "{\"type\":\"object\",\"additionalProperties\":false,"
       "\"properties\":{\"email\":{\"type\":\"string\",\"maxLength\":254}}}",
       ACCEPTED_SCHEMA, 202, 0, .statuses = "409"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
  id_reset_routes();
}
