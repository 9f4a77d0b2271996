/* The workflows service's tables (store/migrate.h). Append only: never edit
 * a step that has shipped, add one. `legacy`: the step of the old single
 * list of migrations that held it (0 for steps added since). */
#include "store/migrate.h"

const sf_db_step sf_workflows_migrations[] = {
    /* workflow definitions, one row per published version */
    {"CREATE TABLE workflows("
     "  id TEXT PRIMARY KEY,"
     "  type TEXT NOT NULL,"
     "  version INTEGER NOT NULL CHECK(version > 0),"
     "  name TEXT NOT NULL,"
     "  definition TEXT NOT NULL,"
     "  source TEXT NOT NULL,"
     "  created_by TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  UNIQUE(type, version));",
     5,
     .pg = "CREATE TABLE workflows("
           "  id text PRIMARY KEY,"
           "  type text NOT NULL,"
           "  version bigint NOT NULL CHECK(version > 0),"
           "  name text NOT NULL,"
           "  definition text NOT NULL,"
           "  source text NOT NULL,"
           "  created_by text NOT NULL,"
           "  created_at bigint NOT NULL,"
           "  UNIQUE(type, version));"},
    {0},
};
