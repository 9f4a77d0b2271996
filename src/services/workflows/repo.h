/* The workflows service's repository: every statement on the workflows
 * table. Writer thread for what takes an sf_tx; any thread with its own db
 * otherwise. */
#ifndef SF_SERVICES_WORKFLOWS_REPO_H
#define SF_SERVICES_WORKFLOWS_REPO_H

#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "store/db.h"
#include "store/writer.h"

/* One stored version; definition and source are owned (wf_clear). */
typedef struct wf_workflow {
  char id[SF_ID_MAX];
  char type[48];
  char name[408];
  int64_t version, created_at;
  char created_by[SF_ID_MAX];
  char *definition; /* JSON text */
  char *source;
} wf_workflow;

void wf_clear(wf_workflow *w);

/* The version after the latest of type (1 for a new type) into *version. */
int wf_repo_next_version(sf_db *db, const char *type, int64_t *version, sf_err *err);
int wf_repo_insert(sf_tx *tx, const wf_workflow *w, sf_err *err);
/* version 0: the latest. 0, 404 or < 0; w cleared by the caller on 0. */
int wf_repo_load(sf_db *db, const char *type, int64_t version, wf_workflow *w, sf_err *err);
/* The latest version of every type, by type (up to 1,000): fn for each
 * (w is valid for the call). 0 or < 0. */
int wf_repo_latest_each(sf_db *db, void (*fn)(const wf_workflow *w, void *ud), void *ud, sf_err *err);

/* The catalog: latest versions of types after `after`, by type, up to
 * limit + 1 rows: fn(type, name, version, definition JSON text, ud) for
 * each. Returns the count, or < 0. */
typedef void (*wf_type_fn)(const char *type, const char *name, int64_t version, const char *definition, void *ud);
int wf_repo_types(sf_db *db, const char *after, int limit, wf_type_fn fn, void *ud, sf_err *err);

#endif
