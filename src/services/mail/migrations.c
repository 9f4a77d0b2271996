/* The mail service's tables (store/migrate.h). Append only: never edit a
 * step that has shipped, add one. */
#include "store/migrate.h"

const sf_db_step sf_mail_migrations[] = {
    /* admin-edited templates, one row per kind ever edited; NULL texts: back
     * to the shipped default (the version keeps counting, so an ETag is
     * never reused). Messages: the outbound queue, the delivery log and the
     * dev mailbox (status kept). */
    {"CREATE TABLE mail_templates("
     "  kind TEXT PRIMARY KEY,"
     "  subject TEXT,"
     "  body_text TEXT,"
     "  body_html TEXT,"
     "  version INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  updated_by TEXT);"
     "CREATE TABLE mail_messages("
     "  id TEXT PRIMARY KEY,"
     "  kind TEXT NOT NULL,"
     "  to_addr TEXT NOT NULL,"
     "  to_name TEXT,"
     "  user_id TEXT,"
     "  subject TEXT NOT NULL,"
     "  body_text TEXT NOT NULL,"
     "  body_html TEXT NOT NULL,"
     "  message_id TEXT NOT NULL,"
     "  status TEXT NOT NULL CHECK(status IN ('pending', 'sent', 'dead', 'kept')),"
     "  attempts INTEGER NOT NULL,"
     "  next_at INTEGER NOT NULL,"
     "  last_error TEXT,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  sent_at INTEGER);"
     "CREATE INDEX mail_messages_created ON mail_messages(created_at, id);"
     "CREATE INDEX mail_messages_status ON mail_messages(status, created_at, id);"
     "CREATE INDEX mail_messages_user ON mail_messages(user_id, created_at) WHERE user_id IS NOT NULL;",
     0,
     .pg = "CREATE TABLE mail_templates("
           "  kind text PRIMARY KEY,"
           "  subject text,"
           "  body_text text,"
           "  body_html text,"
           "  version bigint NOT NULL,"
           "  updated_at bigint NOT NULL,"
           "  updated_by text);"
           "CREATE TABLE mail_messages("
           "  id text PRIMARY KEY,"
           "  kind text NOT NULL,"
           "  to_addr text NOT NULL,"
           "  to_name text,"
           "  user_id text,"
           "  subject text NOT NULL,"
           "  body_text text NOT NULL,"
           "  body_html text NOT NULL,"
           "  message_id text NOT NULL,"
           "  status text NOT NULL CHECK(status IN ('pending', 'sent', 'dead', 'kept')),"
           "  attempts bigint NOT NULL,"
           "  next_at bigint NOT NULL,"
           "  last_error text,"
           "  created_at bigint NOT NULL,"
           "  updated_at bigint NOT NULL,"
           "  sent_at bigint);"
           "CREATE INDEX mail_messages_created ON mail_messages(created_at, id);"
           "CREATE INDEX mail_messages_status ON mail_messages(status, created_at, id);"
           "CREATE INDEX mail_messages_user ON mail_messages(user_id, created_at) WHERE user_id IS NOT NULL;"},
    /* the dev mailbox and the log by recipient (?to=) */
    {"CREATE INDEX mail_messages_to ON mail_messages(to_addr, created_at, id);"},
    /* no query reads by user_id, and an index keyed by user puts every
     * queued message on a page of its own in it: one more WAL frame per
     * mail the writer commits */
    {"DROP INDEX IF EXISTS mail_messages_user;"},
    {0},
};
