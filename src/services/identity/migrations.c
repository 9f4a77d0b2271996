/* The identity service's tables (store/migrate.h). Append only: never edit
 * a step that has shipped, add one. `legacy`: the step of the old single
 * list of migrations that held it (0 for steps added since). */
#include "store/migrate.h"

const sf_db_step sf_identity_migrations[] = {
    /* users and their refresh tokens (one family per session) */
    {"CREATE TABLE users("
     "  id TEXT PRIMARY KEY,"
     "  email TEXT NOT NULL UNIQUE,"
     "  password_hash TEXT NOT NULL,"
     "  name TEXT NOT NULL DEFAULT '',"
     "  role TEXT NOT NULL,"
     "  status TEXT NOT NULL DEFAULT 'active',"
     "  failed_logins INTEGER NOT NULL DEFAULT 0,"
     "  locked_until INTEGER NOT NULL DEFAULT 0,"
     "  totp_secret TEXT,"
     "  totp_enabled INTEGER NOT NULL DEFAULT 0,"
     "  totp_last_step INTEGER NOT NULL DEFAULT 0,"
     "  version INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE INDEX users_created ON users(created_at, id);"
     "CREATE TABLE refresh_tokens("
     "  id TEXT PRIMARY KEY,"
     "  family TEXT NOT NULL,"
     "  user_id TEXT NOT NULL REFERENCES users(id),"
     "  token_hash TEXT NOT NULL UNIQUE,"
     "  status TEXT NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX refresh_tokens_family ON refresh_tokens(family);",
     1,
     .pg = "CREATE TABLE users("
           "  id text PRIMARY KEY,"
           "  email text NOT NULL UNIQUE,"
           "  password_hash text NOT NULL,"
           "  name text NOT NULL DEFAULT '',"
           "  role text NOT NULL,"
           "  status text NOT NULL DEFAULT 'active',"
           "  failed_logins bigint NOT NULL DEFAULT 0,"
           "  locked_until bigint NOT NULL DEFAULT 0,"
           "  totp_secret text,"
           "  totp_enabled bigint NOT NULL DEFAULT 0,"
           "  totp_last_step bigint NOT NULL DEFAULT 0,"
           "  version bigint NOT NULL,"
           "  created_at bigint NOT NULL,"
           "  updated_at bigint NOT NULL);"
           "CREATE INDEX users_created ON users(created_at, id);"
           "CREATE TABLE refresh_tokens("
           "  id text PRIMARY KEY,"
           "  family text NOT NULL,"
           "  user_id text NOT NULL REFERENCES users(id),"
           "  token_hash text NOT NULL UNIQUE,"
           "  status text NOT NULL,"
           "  expires_at bigint NOT NULL,"
           "  created_at bigint NOT NULL);"
           "CREATE INDEX refresh_tokens_family ON refresh_tokens(family);"},
    /* revoking every session of a user (disable, password change)
     * finds its refresh tokens by user */
    {"CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id, status);", 9},
    /* account self-service: the e-mail verification flag, and the single-use
     * tokens of verification and password-reset links (only their SHA-256
     * is kept). Users from before verification existed count as verified:
     * turning `email_verification = required` on must not lock them out. */
    {"ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;"
     "UPDATE users SET email_verified = 1;"
     "CREATE TABLE account_tokens("
     "  id TEXT PRIMARY KEY,"
     "  user_id TEXT NOT NULL REFERENCES users(id),"
     "  purpose TEXT NOT NULL,"
     "  token_hash TEXT NOT NULL UNIQUE,"
     "  status TEXT NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX account_tokens_user ON account_tokens(user_id, purpose, status);",
     0,
     .pg = "ALTER TABLE users ADD COLUMN email_verified bigint NOT NULL DEFAULT 0;"
           "UPDATE users SET email_verified = 1;"
           "CREATE TABLE account_tokens("
           "  id text PRIMARY KEY,"
           "  user_id text NOT NULL REFERENCES users(id),"
           "  purpose text NOT NULL,"
           "  token_hash text NOT NULL UNIQUE,"
           "  status text NOT NULL,"
           "  expires_at bigint NOT NULL,"
           "  created_at bigint NOT NULL);"
           "CREATE INDEX account_tokens_user ON account_tokens(user_id, purpose, status);"},
    /* GET /users?q=: a prefix of the address or the name, case-insensitive */
    {"CREATE INDEX users_email_lower ON users(lower(email));"
     "CREATE INDEX users_name_lower ON users(lower(name));"},
    /* GET /users?role=: one role's users, newest first */
    {"CREATE INDEX users_role ON users(role, created_at, id);"},
    {0},
};
