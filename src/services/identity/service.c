/* The identity service's descriptor (services/service.h). */
#include "services/service.h"

#include "services/identity/identity.h"
#include "services/identity/internal.h"
#include "services/identity/repo.h"

/* this folder's migrations.c */
extern const sf_db_step sf_identity_migrations[];

static const sf_edge_grant k_permissions[] = {
    {"users:self", "customer approver staff admin"},
    {"users:read", "staff admin"},
    {"users:admin", "admin"},
    {0},
};

/* the sign-in routes (auth.c) and the user routes (users.c) */
static void routes(void) {
  id_auth_routes();
  id_user_routes();
  id_account_routes();
}

/* the budget of account mails, the users cache and the session check */
static int start(const sf_config *cfg, sf_err *err) {
  if (id_account_start(cfg, err)) return -1;
  sf_identity_start();
  return 0;
}

static void stop(void) {
  sf_identity_stop();
  id_account_stop();
}

/* TOTP secrets are sealed with seal.keys; sessions signed with jwt.key */
static int holds_keyed(sf_db *db, sf_key_file key, sf_err *err) {
  if (key == SF_KEY_SEAL) return sf_user_any_totp_secret(db, err);
  if (key == SF_KEY_JWT) return sf_user_any_session_signed(db, err);
  return 0;
}

const sf_service sf_identity_service = {
    .name = "identity",
    .routes = routes,
    .permissions = k_permissions,
    .migrations = sf_identity_migrations,
    .configure = sf_identity_configure,
    .start = start,
    .stop = stop,
    .holds_keyed = holds_keyed,
    .phase = SF_SERVICE_MEMORY,
};
