/* `serviceflow copy-to-postgres`: the command's wiring (flags, the
 * server's migrations and verify folds as hooks, the printed report) around
 * the store's copy (store/pg/copy.h). Main thread, no server running in
 * this process. */
#ifndef SF_CLI_COPY_H
#define SF_CLI_COPY_H

#include "core/config.h"

/* Copies the SQLite database (db_file, or <data_dir>/serviceflow.db; or
 * database_url when that names a file) into the empty PostgreSQL database
 * at `to`. Prints the JSON report on stdout. Returns the exit status: 0
 * copied and checked, 1 failed or did not check out (nothing kept), 2 bad
 * arguments, 3 the target is not empty (nothing changed). */
int sf_cli_copy_to_postgres(const sf_config *cfg, const char *db_file, const char *to);

#endif
