/* The all-in-one process: opens the data directory, runs migrations, loads
 * keys, starts the writer, dispatcher and HTTP server, and shuts them down in
 * order. Used by main.c and by tests that want a whole server in-process. */
#ifndef SF_APP_H
#define SF_APP_H

#include "core/config.h"
#include "core/err.h"
#include "store/db.h"

/* Registers every route and every permission of the services
 * (services/list.h); the server and `serviceflow routes` use the same list.
 * Main thread, before serving. */
void sf_app_routes(void);
/* Brings db's schema up to date: the event store's, the edge's and every
 * service's tables (store/migrate.h). */
int sf_app_migrate(sf_db *db, sf_err *err);
/* Opens storage and starts the writer (no HTTP). For CLI commands. */
int sf_app_open(const sf_config *cfg, sf_err *err);
void sf_app_close(void);

/* Runs the server until SIGTERM/SIGINT, then shuts down gracefully: the
 * process's parts and the services start in order and stop in reverse. */
int sf_app_serve(const sf_config *cfg, sf_err *err);

/* Path of the database file for cfg (cap >= 600). */
void sf_app_db_path(const sf_config *cfg, char *out, size_t cap);

#endif
