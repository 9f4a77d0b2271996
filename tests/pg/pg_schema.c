/* Prints every owner's migration steps as PostgreSQL runs them (each
 * step's `pg` text, or its `sql` when that serves both: store/migrate.h),
 * owners in the order sf_app_migrate gives them, for the PostgreSQL corpus
 * check (tests/pg/corpus.py) that applies them with psql. With "sqlite" as
 * argument prints SQLite's texts instead.
 * Output: per step a line "\x1e<owner> <version>" then its text. */
#include <stdio.h>
#include <string.h>

#include "events/migrations.h"
#include "edge/migrations.h"
#include "services/services.h"
#include "store/migrate.h"

static void print_owner(const char *owner, const sf_db_step *steps, int pg) {
  for (int i = 0; steps && steps[i].sql; i++)
    printf("\x1e%s %d\n%s\n", owner, i + 1, pg && steps[i].pg ? steps[i].pg : steps[i].sql);
}

int main(int argc, char **argv) {
  int pg = !(argc > 1 && strcmp(argv[1], "sqlite") == 0);
  print_owner("events", sf_ev_migrations, pg);
  print_owner("edge", sf_edge_migrations, pg);
  for (size_t i = 0; i < sf_services_count; i++)
    if (sf_services[i]->migrations) print_owner(sf_services[i]->name, sf_services[i]->migrations, pg);
  return 0;
}
