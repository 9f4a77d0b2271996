/* The auth routes: register, login (+ MFA step), refresh rotation, logout, MFA
 * setup, password change.
 * Password hashing runs on the bounded hash pool, never on an HTTP thread or
 * the writer; the state change that follows runs as a writer command. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/seal.h"
#include "core/util.h"
#include "edge/edge.h"
#include "edge/input.h"
#include "services/identity/identity.h"
#include "services/identity/internal.h"
#include "services/identity/password.h"
#include "services/identity/totp.h"

/* A request's work in flight: built by the handler, carried through the hash
 * pool (whose callbacks answer or submit req) into the writer command. The
 * commands themselves read only the fields below req. */
typedef struct {
  sf_req *req;
  void *hook_data; /* the login hook's capture (identity.h), released with the job */
  char email[256];
  char name[404];
  char user_id[SF_ID_MAX];
  char hash[160];         /* as sf_user.password_hash: new (register), or the one checked against */
  char new_hash[160];     /* password change */
  char new_password[129]; /* password change, until hashed */
  char code[16];
  char token[128];
  int password_ok;
} auth_job;

static struct auth_state { const sf_login_hook *login_hook; } auth;

void sf_identity_on_login(const sf_login_hook *hook) { auth.login_hook = hook; }

static auth_job *job_new(sf_req *req) {
  auth_job *j = sf_calloc(1, sizeof *j);
  j->req = req;
  return j;
}

/* A job for a request that may end in a login: the hook captures what it needs. */
static auth_job *login_job_new(sf_req *req) {
  auth_job *j = job_new(req);
  if (auth.login_hook && auth.login_hook->capture) j->hook_data = auth.login_hook->capture(req);
  return j;
}

static void job_free(void *p) {
  auth_job *j = p;
  if (j->hook_data && auth.login_hook && auth.login_hook->release) auth.login_hook->release(j->hook_data);
  sodium_memzero(p, sizeof(auth_job));
  free(p);
}

static void reply_err_resume(sf_req *req, sf_err *err) {
  sf_req_reply_problem(req, err);
  sf_req_resume_durable(req); /* the answer may rest on reads */
}

/* On failure the reply (tokens) is freed. */
static int run_login_hook(sf_tx *tx, const sf_actor *who, const auth_job *j, const sf_user *u, json_t *reply,
                          sf_err *err) {
  if (!auth.login_hook || auth.login_hook->run(tx, who, u->id, j->hook_data, reply, err) == 0) return 0;
  json_decref(reply);
  return -1;
}

/* ---- register ---- */

static const sf_json_field k_register[] = {
    {"email", SF_JSON_STRING, 1, 3, 254},
    {"password", SF_JSON_STRING, 1, 8, 128},
    {"name", SF_JSON_STRING, 0, 0, 100},
    {0},
};

static int register_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  auth_job *j = data;
  sf_user u;
  json_t *tokens;
  if (id_create(tx, who, j->email, j->name, "customer", j->hash, 0, &u, err)) return -1;
  if (id_cfg.verification != ID_VERIFY_OFF && id_send_verification(tx, who, &u, 0, err)) return -1;
  if (id_cfg.verification == ID_VERIFY_REQUIRED) {
    /* no session before the address is confirmed (and no guest cart claimed:
     * it becomes the user's at the first login) */
    sf_result_json(out, 201, json_pack("{s:o, s:b}", "user", sf_user_json(&u), "email_verification_required", 1));
    return 0;
  }
  if (id_issue_tokens(tx, &u, NULL, &tokens, err)) return -1;
  if (run_login_hook(tx, who, j, &u, tokens, err)) return -1;
  sf_result_json(out, 201, tokens);
  return 0;
}

/* A new password's hash is in (on a hashing thread): into dst, then the
 * command exec; a failed hash answers 500. */
static void submit_hashed(auth_job *j, int ok, const char *hash, char *dst, size_t cap, sf_cmd_exec_fn exec) {
  if (!ok) {
    sf_err err = {0};
    sf_err_internal(&err, "password hashing failed");
    reply_err_resume(j->req, &err);
    job_free(j);
    return;
  }
  snprintf(dst, cap, "%s", hash);
  sf_req_submit(j->req, exec, j, job_free);
}

static void register_hashed(void *ud, int ok, const char *hash) {
  auth_job *j = ud;
  submit_hashed(j, ok, hash, j->hash, sizeof j->hash, register_exec);
}

static void h_register(sf_req *req) {
  json_t *b = sf_in_body(req, k_register);
  if (!b) return;
  sf_err err = {0};
  auth_job *j = login_job_new(req);
  const char *name = sf_json_str(b, "name");
  snprintf(j->name, sizeof j->name, "%s", name ? name : "");
  if (id_normalize_email(sf_json_str(b, "email"), j->email, sizeof j->email, &err)) goto fail;
  sf_db *db = sf_db_reader(&err);
  sf_user existing;
  if (!db) goto fail;
  int rc = sf_user_by_email(db, j->email, &existing, &err);
  if (rc == 0) {
    sf_err_conflict(&err, "a user with this email already exists");
    goto fail;
  }
  if (rc != -404) goto fail;
  sf_req_suspend(req);
  if (sf_pw_hash_async(sf_json_str(b, "password"), register_hashed, j)) {
    sf_err_set(&err, 503, "unavailable", "Service unavailable", "the server is shutting down");
    job_free(j);
    json_decref(b);
    reply_err_resume(req, &err);
    return;
  }
  json_decref(b);
  return;
fail:
  job_free(j);
  json_decref(b);
  sf_req_reply_problem(req, &err);
}

/* ---- login ---- */

static const sf_json_field k_login[] = {
    {"email", SF_JSON_STRING, 1, 1, 254},
    {"password", SF_JSON_STRING, 1, 1, 1024},
    {0},
};

static void bad_credentials(sf_err *err) {
  sf_err_set(err, 401, "invalid-credentials", "Invalid credentials", "email or password is wrong");
}

static int locked_error(const sf_user *u, int64_t now_ms, sf_err *err) {
  int secs = (int)((u->locked_until - now_ms + 999) / 1000);
  sf_err_set(err, 429, "account-locked", "Account locked", "too many failed logins; try again in %d s", secs);
  err->retry_after = secs > 0 ? secs : 1;
  return -429;
}

/* Records one failed attempt; locks the account past the threshold with a
 * lock period that doubles for every further failure (capped at a day). */
static int record_failure(sf_tx *tx, const sf_actor *who, sf_user *u, const char *reason, sf_err *err) {
  u->failed_logins++;
  int over = u->failed_logins - id_cfg.lockout_threshold;
  if (id_event(tx, who, u, "user.login_failed",
               json_pack("{s:s, s:i}", "reason", reason, "failed_logins", u->failed_logins), err))
    return -1;
  if (over >= 0) {
    int64_t secs = (int64_t)id_cfg.lockout_base_s << (over > 12 ? 12 : over);
    if (secs > 86400) secs = 86400;
    u->locked_until = tx->now_ms + secs * 1000;
    char until[32];
    sf_time_iso8601(u->locked_until, until, sizeof until);
    if (id_event(tx, who, u, "user.locked", json_pack("{s:s, s:I}", "until", until, "seconds", (json_int_t)secs), err))
      return -1;
  }
  return id_save(tx, u, err);
}

/* With email_verification = required, no tokens for an address not yet
 * confirmed (told only to whoever knows the password): 1 with err. */
static int unverified(const sf_user *u, sf_err *err) {
  if (id_cfg.verification != ID_VERIFY_REQUIRED || u->email_verified) return 0;
  sf_err_set(err, 403, "email-not-verified", "E-mail address not verified",
             "confirm your e-mail address with the link we sent (POST /api/v1/auth/verify-email/resend sends a new "
             "one)");
  return 1;
}

/* The password was checked; finish the login: tokens or the MFA step. */
static int finish_login(const sf_actor *who, sf_tx *tx, const auth_job *j, sf_user *u, int mfa_done, sf_result *out,
                        sf_err *err) {
  if (u->failed_logins || u->locked_until) {
    u->failed_logins = 0;
    u->locked_until = 0;
    if (id_save(tx, u, err)) return -1;
  }
  if (unverified(u, err)) return 0; /* the password was right: the reset lockout commits */
  if (u->totp_enabled && !mfa_done) {
    char tok[1024];
    if (id_sign(tx, u, "mfa", NULL, MFA_TOKEN_TTL_S, tok, sizeof tok, err)) return -1;
    sf_result_json(out, 200,
                   json_pack("{s:b, s:s, s:i}", "mfa_required", 1, "mfa_token", tok, "expires_in", MFA_TOKEN_TTL_S));
    return 0;
  }
  json_t *tokens;
  if (id_issue_tokens(tx, u, NULL, &tokens, err)) return -1;
  if (run_login_hook(tx, who, j, u, tokens, err)) return -1;
  if (id_event(tx, who, u, "user.logged_in", json_pack("{s:b}", "mfa", mfa_done), err)) {
    json_decref(tokens);
    return -1;
  }
  sf_result_json(out, 200, tokens);
  return 0;
}

/* Answers with an error but commits (command.h): a failure is counted, and
 * the answers around it come from the same transaction. */
static int login_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  auth_job *j = data;
  sf_user u;
  int rc = id_load(tx, j->user_id, &u, err);
  if (rc == -404) {
    sf_err_clear(err);
    bad_credentials(err);
    return 0;
  }
  if (rc) return rc;
  if (u.locked_until > tx->now_ms) {
    locked_error(&u, tx->now_ms, err);
    return 0;
  }
  if (!j->password_ok) {
    if (record_failure(tx, who, &u, "password", err)) return -1;
    bad_credentials(err);
    return 0;
  }
  if (strcmp(u.status, "active") != 0) {
    sf_err_set(err, 403, "account-disabled", "Account disabled", "this account is disabled");
    return 0;
  }
  return finish_login(who, tx, j, &u, 0, out, err);
}

static void login_verified(void *ud, int ok, const char *unused) {
  (void)unused;
  auth_job *j = ud;
  j->password_ok = ok;
  sf_req_submit(j->req, login_exec, j, job_free);
}

static void unknown_user_verified(void *ud, int ok, const char *unused) {
  (void)ok, (void)unused;
  auth_job *j = ud;
  sf_err err = {0};
  bad_credentials(&err);
  reply_err_resume(j->req, &err);
  job_free(j);
}

static void h_login(sf_req *req) {
  json_t *b = sf_in_body(req, k_login);
  if (!b) return;
  sf_err err = {0};
  auth_job *j = login_job_new(req);
  sf_user u;
  const char *password = sf_json_str(b, "password");
  sf_db *db = sf_db_reader(&err);
  int rc = -1;
  if (!db) goto fail;
  if (id_normalize_email(sf_json_str(b, "email"), j->email, sizeof j->email, &err)) {
    /* not an address we could have registered: same answer as a wrong password */
    sf_err_clear(&err);
    rc = -404;
  } else {
    rc = sf_user_by_email(db, j->email, &u, &err);
    if (rc && rc != -404) goto fail;
  }
  if (rc == 0 && u.locked_until > sf_now_ms()) {
    locked_error(&u, sf_now_ms(), &err);
    goto fail;
  }
  sf_req_suspend(req);
  if (rc == 0) {
    snprintf(j->user_id, sizeof j->user_id, "%s", u.id);
    rc = sf_pw_verify_async(u.password_hash, password, login_verified, j);
  } else {
    rc = sf_pw_verify_dummy_async(password, unknown_user_verified, j);
  }
  json_decref(b);
  if (rc) {
    sf_err_set(&err, 503, "unavailable", "Service unavailable", "the server is shutting down");
    job_free(j);
    reply_err_resume(req, &err);
  }
  return;
fail:
  job_free(j);
  json_decref(b);
  sf_req_reply_problem(req, &err);
}

/* ---- MFA login step ---- */

static const sf_json_field k_mfa_login[] = {
    {"mfa_token", SF_JSON_STRING, 1, 1, 2048},
    {"code", SF_JSON_STRING, 1, 1, 16},
    {0},
};

/* Checks a TOTP code against u's sealed secret; on success moves the replay
 * guard forward. Returns 0, or -401 with err (invalid-code / code-replayed). */
static int check_code(sf_user *u, const char *code, int64_t now_ms, sf_err *err) {
  if (!u->totp_secret[0]) return sf_err_set(err, 409, "mfa-not-enrolled", "MFA not enrolled", "enroll in MFA first");
  char *secret = sf_unseal(sf_edge_keyring(), u->totp_secret, u->id, err);
  if (!secret) return -500;
  int64_t step = sf_totp_check(secret, code, now_ms / 1000, u->totp_last_step);
  memset(secret, 0, strlen(secret));
  free(secret);
  if (step == SF_TOTP_REPLAY)
    return sf_err_set(err, 401, "code-replayed", "Code already used",
                      "this code was already used; wait for the next one");
  if (step < 0) return sf_err_set(err, 401, "invalid-code", "Invalid code", "the code is wrong or expired");
  u->totp_last_step = step;
  return 0;
}

static int mfa_login_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  auth_job *j = data;
  sf_user u;
  int rc = id_load(tx, j->user_id, &u, err);
  if (rc) return rc == -404 ? sf_err_set(err, 401, "invalid-token", "Unauthorized", "unknown user") : rc;
  if (u.locked_until > tx->now_ms) {
    locked_error(&u, tx->now_ms, err);
    return 0;
  }
  if (strcmp(u.status, "active") != 0)
    return sf_err_set(err, 403, "account-disabled", "Account disabled", "this account is disabled");
  if (!u.totp_enabled)
    return sf_err_set(err, 401, "invalid-token", "Unauthorized", "MFA is not enabled for this account");
  rc = check_code(&u, j->code, tx->now_ms, err);
  if (rc == -401) {
    sf_err code_err = *err;
    if (record_failure(tx, who, &u, "mfa", err)) return -1;
    *err = code_err; /* counted, committed, and answered with the code's error */
    return 0;
  }
  if (rc) return rc;
  if (id_save(tx, &u, err)) return -1;
  return finish_login(who, tx, j, &u, 1, out, err);
}

static void h_mfa_login(sf_req *req) {
  json_t *b = sf_in_body(req, k_mfa_login);
  if (!b) return;
  sf_err err = {0};
  sf_jwt_claims c;
  if (sf_jwt_verify(sf_edge_jwt(), sf_json_str(b, "mfa_token"), sf_now_ms() / 1000, &c, &err) == 0 &&
      strcmp(c.typ, "mfa") != 0)
    sf_err_set(&err, 401, "invalid-token", "Unauthorized", "not an MFA token");
  if (!err.status && strlen(c.sub) >= SF_ID_MAX) /* we sign only our own ids */
    sf_err_set(&err, 401, "invalid-token", "Unauthorized", "unknown user");
  if (err.status) {
    json_decref(b);
    sf_req_reply_problem(req, &err);
    return;
  }
  auth_job *j = login_job_new(req);
  sf_strlcpy(j->user_id, c.sub, sizeof j->user_id);
  snprintf(j->code, sizeof j->code, "%s", sf_json_str(b, "code"));
  json_decref(b);
  sf_req_submit(req, mfa_login_exec, j, job_free);
}

/* ---- refresh / logout ---- */

static const sf_json_field k_refresh[] = {
    {"refresh_token", SF_JSON_STRING, 1, 1, 256},
    {0},
};

static int invalid_refresh(sf_err *err, const char *why) {
  return sf_err_set(err, 401, "invalid-token", "Unauthorized", "%s", why);
}

static int refresh_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  auth_job *j = data;
  char hash[65];
  sf_sha256_hex(j->token, strlen(j->token), hash);
  sf_refresh r;
  int rc = sf_refresh_by_hash(tx->db, hash, &r, err);
  if (rc == -404) return invalid_refresh(err, "unknown refresh token");
  if (rc) return rc;
  sf_user u;
  if ((rc = id_load(tx, r.user_id, &u, err))) return rc;
  if (strcmp(r.status, "rotated") == 0) {
    /* A rotated token came back: someone holds a copy. Kill the family. */
    if (id_revoke_session(tx, u.id, r.family, err) < 0) return -1;
    if (id_event(tx, who, &u, "user.token_reuse_detected", json_pack("{s:s}", "family", r.family), err)) return -1;
    sf_err_set(err, 401, "token-reused", "Refresh token reused",
               "this refresh token was already used; all sessions of this login were revoked");
    return 0; /* the revocation commits; err is the answer */
  }
  if (strcmp(r.status, "active") != 0) return invalid_refresh(err, "refresh token revoked");
  if (r.expires_at <= tx->now_ms) return invalid_refresh(err, "refresh token expired");
  if (strcmp(u.status, "active") != 0) return invalid_refresh(err, "account disabled");
  if (unverified(&u, err)) return -403;
  if (sf_refresh_set_status(tx->db, r.id, "rotated", err)) return -1;
  json_t *tokens;
  if (id_issue_tokens(tx, &u, r.family, &tokens, err)) return -1;
  if (id_event(tx, who, &u, "user.token_refreshed", json_pack("{s:s}", "family", r.family), err)) {
    json_decref(tokens);
    return -1;
  }
  sf_result_json(out, 200, tokens);
  return 0;
}

static int logout_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  auth_job *j = data;
  char hash[65];
  sf_sha256_hex(j->token, strlen(j->token), hash);
  sf_refresh r;
  int rc = sf_refresh_by_hash(tx->db, hash, &r, err);
  if (rc == -404) return invalid_refresh(err, "unknown refresh token");
  if (rc) return rc;
  sf_user u;
  if ((rc = id_load(tx, r.user_id, &u, err))) return rc;
  int n = id_revoke_session(tx, u.id, r.family, err);
  if (n < 0) return -1;
  if (n > 0 && id_event(tx, who, &u, "user.logged_out", json_pack("{s:s}", "family", r.family), err)) return -1;
  sf_result_json(out, 204, NULL);
  return 0;
}

static void token_command(sf_req *req, sf_cmd_exec_fn fn) {
  json_t *b = sf_in_body(req, k_refresh);
  if (!b) return;
  auth_job *j = job_new(req);
  snprintf(j->token, sizeof j->token, "%s", sf_json_str(b, "refresh_token"));
  json_decref(b);
  sf_req_submit(req, fn, j, job_free);
}

static void h_refresh(sf_req *req) { token_command(req, refresh_exec); }
static void h_logout(sf_req *req) { token_command(req, logout_exec); }

/* ---- MFA enrolment (authenticated) ---- */

static const sf_json_field k_code[] = {
    {"code", SF_JSON_STRING, 1, 1, 16},
    {0},
};

static int enroll_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  (void)data;
  sf_user u;
  int rc = id_load(tx, who->user_id, &u, err);
  if (rc) return rc;
  if (u.totp_enabled) return sf_err_conflict(err, "MFA is already enabled");
  char secret[SF_TOTP_SECRET_MAX], uri[512];
  if (sf_totp_new_secret(secret, sizeof secret) || sf_totp_uri(secret, "ServiceFlow", u.email, uri, sizeof uri))
    return sf_err_internal(err, "cannot create a TOTP secret");
  char *sealed = sf_seal(sf_edge_keyring(), secret, u.id, err);
  if (!sealed) return -1;
  snprintf(u.totp_secret, sizeof u.totp_secret, "%s", sealed);
  free(sealed);
  u.totp_last_step = 0;
  u.updated_at = tx->now_ms;
  if (id_save(tx, &u, err) || id_event(tx, who, &u, "user.mfa_enrolled", json_object(), err)) return -1;
  sf_result_json(out, 200, json_pack("{s:s, s:s}", "secret", secret, "otpauth_uri", uri));
  return 0;
}

/* Turns MFA on (enrolment confirmed) or off for the loaded caller u. A wrong
 * code for turning it off counts into the lockout as one at MFA login does. */
static int mfa_toggle(const sf_actor *who, sf_tx *tx, sf_user *u, const char *code, int enable, sf_result *out,
                      sf_err *err) {
  if (enable && u->totp_enabled) return sf_err_conflict(err, "MFA is already enabled");
  if (!enable && !u->totp_enabled) return sf_err_conflict(err, "MFA is not enabled");
  int rc = check_code(u, code, tx->now_ms, err);
  if (rc == -401 && !enable) {
    sf_err code_err = *err;
    if (record_failure(tx, who, u, "mfa", err)) return -1;
    *err = code_err; /* counted, committed, and answered with the code's error */
    return 0;
  }
  if (rc) return rc;
  u->totp_enabled = enable;
  if (!enable) {
    u->totp_secret[0] = '\0';
    u->totp_last_step = 0;
    u->failed_logins = 0; /* password and code were right: as a login */
    u->locked_until = 0;
  }
  u->version++;
  u->updated_at = tx->now_ms;
  if (id_save(tx, u, err) ||
      id_event(tx, who, u, enable ? "user.mfa_enabled" : "user.mfa_disabled", json_object(), err))
    return -1;
  sf_result_json(out, 200, json_pack("{s:b}", "mfa_enabled", enable));
  return 0;
}

static int verify_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  sf_user u;
  int rc = id_load(tx, who->user_id, &u, err);
  return rc ? rc : mfa_toggle(who, tx, &u, ((auth_job *)data)->code, 1, out, err);
}

static void h_mfa_enroll(sf_req *req) { sf_req_submit(req, enroll_exec, NULL, NULL); }

static void code_command(sf_req *req, sf_cmd_exec_fn fn) {
  json_t *b = sf_in_body(req, k_code);
  if (!b) return;
  auth_job *j = job_new(req);
  snprintf(j->code, sizeof j->code, "%s", sf_json_str(b, "code"));
  json_decref(b);
  sf_req_submit(req, fn, j, job_free);
}
static void h_mfa_verify(sf_req *req) { code_command(req, verify_exec); }

/* ---- re-authenticated: MFA off, password change ----
 * Both need the caller's password (checked on the hash pool, then the change
 * runs in the writer). A wrong password, like a wrong code, counts into the
 * same lockout as logging in, and a locked account gets the login's 429. */

/* Checks password against the caller's hash, then calls then(j, ok) on a pool thread. */
static void reauth(sf_req *req, auth_job *j, const char *password, sf_pw_cb then) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  sf_user u;
  if (!db || sf_user_by_id(db, req->principal.user_id, &u, &err)) goto fail;
  if (u.locked_until > sf_now_ms()) {
    locked_error(&u, sf_now_ms(), &err);
    goto fail;
  }
  snprintf(j->hash, sizeof j->hash, "%s", u.password_hash);
  sf_req_suspend(req);
  if (sf_pw_verify_async(u.password_hash, password, then, j) == 0) return;
  sf_err_set(&err, 503, "unavailable", "Service unavailable", "the server is shutting down");
  job_free(j);
  reply_err_resume(req, &err);
  return;
fail:
  job_free(j);
  sf_req_reply_problem(req, &err);
}

/* In the writer: loads the caller into u. Returns 0 to go on, 1 when err is
 * the answer but the command commits (locked, or a wrong password, now
 * counted), or < 0. */
static int reauth_exec(const sf_actor *who, sf_tx *tx, const auth_job *j, sf_user *u, sf_err *err) {
  int rc = id_load(tx, who->user_id, u, err);
  if (rc) return rc;
  if (u->locked_until > tx->now_ms) {
    locked_error(u, tx->now_ms, err);
    return 1;
  }
  if (strcmp(u->password_hash, j->hash) != 0)
    return sf_err_conflict(err, "the password was changed meanwhile; try again");
  if (j->password_ok) return 0;
  if (record_failure(tx, who, u, "password", err)) return -1;
  bad_credentials(err);
  return 1;
}

static int disable_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  sf_user u;
  int rc = reauth_exec(who, tx, data, &u, err);
  if (rc) return rc > 0 ? 0 : rc;
  return mfa_toggle(who, tx, &u, ((auth_job *)data)->code, 0, out, err);
}

static void reauth_checked(void *ud, int ok, const char *unused, sf_cmd_exec_fn fn) {
  (void)unused;
  auth_job *j = ud;
  j->password_ok = ok;
  sf_req_submit(j->req, fn, j, job_free);
}

static void disable_checked(void *ud, int ok, const char *unused) { reauth_checked(ud, ok, unused, disable_exec); }

static const sf_json_field k_mfa_disable[] = {
    {"password", SF_JSON_STRING, 1, 1, 1024},
    {"code", SF_JSON_STRING, 1, 1, 16},
    {0},
};

static void h_mfa_disable(sf_req *req) {
  json_t *b = sf_in_body(req, k_mfa_disable);
  if (!b) return;
  auth_job *j = job_new(req);
  snprintf(j->code, sizeof j->code, "%s", sf_json_str(b, "code"));
  reauth(req, j, sf_json_str(b, "password"), disable_checked);
  json_decref(b);
}

static const sf_json_field k_password[] = {
    {"current_password", SF_JSON_STRING, 1, 1, 1024},
    {"new_password", SF_JSON_STRING, 1, 8, 128}, /* as at registration */
    {0},
};

/* The caller's other sessions end with the change: whoever knew the old
 * password is logged out everywhere but here. */
static int password_exec(const sf_actor *who, sf_tx *tx, void *data, sf_result *out, sf_err *err) {
  auth_job *j = data;
  sf_user u;
  int rc = reauth_exec(who, tx, j, &u, err);
  if (rc) return rc > 0 ? 0 : rc;
  snprintf(u.password_hash, sizeof u.password_hash, "%s", j->new_hash);
  u.failed_logins = 0;
  u.locked_until = 0;
  u.updated_at = tx->now_ms;
  if (id_save(tx, &u, err)) return -1;
  int n = id_revoke_sessions(tx, u.id, who->session, err);
  if (n < 0 || id_event(tx, who, &u, "user.password_changed", json_pack("{s:i}", "sessions_revoked", n), err) ||
      id_mail_password_changed(tx, &u, err))
    return -1;
  sf_result_json(out, 204, NULL);
  return 0;
}

static void password_hashed(void *ud, int ok, const char *hash) {
  auth_job *j = ud;
  submit_hashed(j, ok, hash, j->new_hash, sizeof j->new_hash, password_exec);
}

/* A wrong current password goes to the writer to be counted; a right one
 * first has the new password hashed (on the pool, like every hash). */
static void password_checked(void *ud, int ok, const char *unused) {
  auth_job *j = ud;
  if (!ok) {
    reauth_checked(ud, ok, unused, password_exec);
    return;
  }
  j->password_ok = 1;
  int rc = sf_pw_hash_async(j->new_password, password_hashed, j);
  sodium_memzero(j->new_password, sizeof j->new_password);
  if (rc) {
    sf_err err = {0};
    sf_err_set(&err, 503, "unavailable", "Service unavailable", "the server is shutting down");
    reply_err_resume(j->req, &err);
    job_free(j);
  }
}

static void h_password(sf_req *req) {
  json_t *b = sf_in_body(req, k_password);
  if (!b) return;
  auth_job *j = job_new(req);
  snprintf(j->new_password, sizeof j->new_password, "%s", sf_json_str(b, "new_password"));
  reauth(req, j, sf_json_str(b, "current_password"), password_checked);
  json_decref(b);
}

/* ---- routes ---- */

#define TOKENS_SCHEMA "{\"$ref\":\"#/components/schemas/TokenPair\"}"

void id_auth_routes(void) {
  static const sf_route routes[] = {
      {"POST", "/api/v1/auth/register", h_register, SF_AUTH_PUBLIC, NULL, SF_ROUTE_LOGIN_LIMIT, "auth",
       "Register a customer account and start a session (with email_verification = required: no session until the "
       "address is confirmed)",
       "{\"type\":\"object\",\"required\":[\"email\",\"password\"],\"additionalProperties\":false,"
       "\"properties\":{\"email\":{\"type\":\"string\",\"format\":\"email\",\"maxLength\":254},"
       "\"password\":{\"type\":\"string\",\"minLength\":8,\"maxLength\":128},"
       "\"name\":{\"type\":\"string\",\"maxLength\":100}}}",
       "{\"oneOf\":[" TOKENS_SCHEMA ",{\"$ref\":\"#/components/schemas/PendingVerification\"}]}", 201, 0,
       .statuses = "409", .headers = "Cart-Token"},
      {"POST", "/api/v1/auth/login", h_login, SF_AUTH_PUBLIC, NULL, SF_ROUTE_LOGIN_LIMIT, "auth",
       "Log in with email and password (returns tokens, or an MFA challenge)",
       "{\"type\":\"object\",\"required\":[\"email\",\"password\"],\"additionalProperties\":false,"
       "\"properties\":{\"email\":{\"type\":\"string\"},\"password\":{\"type\":\"string\"}}}",
       "{\"oneOf\":[" TOKENS_SCHEMA ",{\"$ref\":\"#/components/schemas/MfaChallenge\"}]}", 200, 0,
       .statuses = "401 403", .headers = "Cart-Token"},
      {"POST", "/api/v1/auth/mfa/login", h_mfa_login, SF_AUTH_PUBLIC, NULL, SF_ROUTE_LOGIN_LIMIT, "auth",
       "Complete a login with a TOTP code",
       "{\"type\":\"object\",\"required\":[\"mfa_token\",\"code\"],\"additionalProperties\":false,"
       "\"properties\":{\"mfa_token\":{\"type\":\"string\"},\"code\":{\"type\":\"string\"}}}",
       TOKENS_SCHEMA, 200, 0, .statuses = "401 403", .headers = "Cart-Token"},
      {"POST", "/api/v1/auth/refresh", h_refresh, SF_AUTH_PUBLIC, NULL, 0, "auth",
       "Rotate a refresh token (reuse of a rotated token revokes its family)",
       "{\"type\":\"object\",\"required\":[\"refresh_token\"],\"additionalProperties\":false,"
       "\"properties\":{\"refresh_token\":{\"type\":\"string\"}}}",
       TOKENS_SCHEMA, 200, 0, .statuses = "401 403"},
      {"POST", "/api/v1/auth/logout", h_logout, SF_AUTH_PUBLIC, NULL, 0, "auth",
       "Log out: revoke the refresh token's family",
       "{\"type\":\"object\",\"required\":[\"refresh_token\"],\"additionalProperties\":false,"
       "\"properties\":{\"refresh_token\":{\"type\":\"string\"}}}",
       NULL, 204, 0},
      {"POST", "/api/v1/auth/mfa/enroll", h_mfa_enroll, SF_AUTH_PERMISSION, "users:self", 0, "auth",
       "Start TOTP enrolment: returns the secret and an otpauth URI", NULL,
       "{\"type\":\"object\",\"required\":[\"secret\",\"otpauth_uri\"],\"properties\":{\"secret\":{\"type\":\"string\"}"
       ","
       "\"otpauth_uri\":{\"type\":\"string\"}}}",
       200, 0},
      {"POST", "/api/v1/auth/mfa/verify", h_mfa_verify, SF_AUTH_PERMISSION, "users:self", 0, "auth",
       "Confirm enrolment with a code: turns MFA on",
       "{\"type\":\"object\",\"required\":[\"code\"],\"additionalProperties\":false,"
       "\"properties\":{\"code\":{\"type\":\"string\"}}}",
       "{\"type\":\"object\",\"required\":[\"mfa_enabled\"],\"properties\":{\"mfa_enabled\":{\"type\":\"boolean\"}}}",
       200, 0},
      {"POST", "/api/v1/auth/mfa/disable", h_mfa_disable, SF_AUTH_PERMISSION, "users:self", 0, "auth",
       "Turn MFA off (needs the password and a current code; failures count into the login lockout)",
       "{\"type\":\"object\",\"required\":[\"password\",\"code\"],\"additionalProperties\":false,"
       "\"properties\":{\"password\":{\"type\":\"string\"},\"code\":{\"type\":\"string\"}}}",
       "{\"type\":\"object\",\"required\":[\"mfa_enabled\"],\"properties\":{\"mfa_enabled\":{\"type\":\"boolean\"}}}",
       200, 0},
      {"POST", "/api/v1/auth/password", h_password, SF_AUTH_PERMISSION, "users:self", 0, "auth",
       "Change the password (needs the current one; ends every other session of the caller)",
       "{\"type\":\"object\",\"required\":[\"current_password\",\"new_password\"],"
       "\"additionalProperties\":false,\"properties\":{\"current_password\":{\"type\":\"string\"},"
       "\"new_password\":{\"type\":\"string\",\"minLength\":8,\"maxLength\":128}}}",
       NULL, 204, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}
