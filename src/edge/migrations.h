/* The edge's tables (edge/migrations.c): stored Idempotency-Key answers. */
#ifndef SF_EDGE_MIGRATIONS_H
#define SF_EDGE_MIGRATIONS_H

#include "store/migrate.h"

extern const sf_db_step sf_edge_migrations[];

#endif
