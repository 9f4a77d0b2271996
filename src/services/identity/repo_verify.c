/* The identity repository's whole-table reads for `serviceflow verify`
 * (repo.h), apart from the rest: they run offline, read every row on purpose,
 * and the query-plan test exempts them by this file's name. */
#include "services/identity/repo.h"

sf_stmt *sf_user_verify_events(sf_db *db, sf_err *err) {
  return sf_db_prepare(db,
                       "SELECT position, stream, type, data FROM events"
                       " WHERE substr(stream, 1, 5) = 'user-' AND type IN ('user.registered',"
                       " 'user.role_changed', 'user.status_changed', 'user.profile_updated',"
                       " 'user.mfa_enabled', 'user.mfa_disabled', 'user.email_verified')"
                       " ORDER BY position",
                       err);
}

sf_stmt *sf_user_verify_rows(sf_db *db, sf_err *err) {
  return sf_db_prepare(db, "SELECT id, email, name, role, status, totp_enabled, email_verified FROM users", err);
}
