/* The all-in-one process: opens the data directory, runs migrations, loads
 * keys, starts the writer, dispatcher and HTTP server, and shuts them down in
 * order. Used by main.c and by tests that want a whole server in-process. */
#ifndef SF_APP_H
#define SF_APP_H

#include "core/config.h"
#include "core/err.h"

/* Opens storage and starts the writer (no HTTP). For CLI commands. */
/* Registers every route (the server and `serviceflow routes` use the same list). */
void sf_app_routes(void);
int sf_app_open(const sf_config *cfg, sf_err *err);
void sf_app_close(void);

/* Runs the server until SIGTERM/SIGINT, then shuts down gracefully. */
int sf_app_serve(const sf_config *cfg, sf_err *err);

/* Path of the database file for cfg (cap >= 600). */
void sf_app_db_path(const sf_config *cfg, char *out, size_t cap);

#endif
