/* The shape of a service: one descriptor says everything the process needs
 * to wire it in. The process (app.c) walks the table of services
 * (services/services.h) once for each concern: routes, permissions,
 * migrations, timer kinds, subscribers, configure, then start in table order
 * and stop in reverse. Adding a service is a folder with its descriptor and
 * one line in services/list.h (docs/adding-a-service.md).
 *
 * Every field but name is optional (NULL / 0: the service has none).
 * Descriptors are static and const; the process never frees them. */
#ifndef SF_SERVICES_SERVICE_H
#define SF_SERVICES_SERVICE_H

#include "core/config.h"
#include "core/err.h"
#include "edge/edge.h"
#include "edge/stream.h"
#include "events/dispatch.h"
#include "store/db.h"
#include "store/migrate.h"

/* Where a service's start and stop fall among the process's own parts.
 * Start goes down this list, stop comes back up it:
 *   MEMORY services → storage (the writer) → OUTBOUND services → dispatcher
 *   → timers → hashing → ACTIVE services → HTTP.
 * So HTTP stops first, then ACTIVE services, hashing, timers, the
 * dispatcher, OUTBOUND services, the writer, and MEMORY services last. */
typedef enum {
  /* makes commands of its own (a saga thread): starts once events and
   * timers flow, stops before them while the writer still commits */
  SF_SERVICE_ACTIVE = 0,
  /* sends what subscribers queue (webhook deliveries): starts before the
   * dispatcher and stops after it, so the last rows queued are still sent,
   * and before the writer, so their outcomes commit */
  SF_SERVICE_OUTBOUND,
  /* in-memory state and hooks only (caches): starts before storage opens
   * and stops after the writer stopped, so no commit hook finds it gone */
  SF_SERVICE_MEMORY,
} sf_service_phase;

/* The key files of the data directory that stored data depends on: the
 * process refuses to start when one is missing while the database holds
 * data made with it (app.c), rather than make a new key that cannot open
 * or check that data. */
typedef enum {
  SF_KEY_SEAL = 0, /* seal.keys: sealed values */
  SF_KEY_JWT,      /* jwt.key: signed sessions */
  SF_KEY_WEBHOOK,  /* webhook.key: signed webhooks (their receivers hold it) */
} sf_key_file;

typedef struct sf_service {
  const char *name; /* also its key in schema_migrations: never rename; "events" and "edge" are taken */
  /* Registers its routes with sf_router_add (core/router.h). Main thread. */
  void (*routes)(void);
  /* The permissions it defines and the roles that hold them, ending with
   * {0}; the edge refuses (403) a route whose permission the caller's role
   * lacks. The four roles (customer, approver, staff, admin) are the edge's. */
  const sf_edge_grant *permissions;
  /* Its tables: ordered, append-only steps, ending with {0}
   * (store/migrate.h). Steps may refer to tables of services listed
   * before it and to the event store's. */
  const sf_db_step *migrations;
  /* Durable or live subscribers it registers with the dispatcher, ending
   * with NULL (events/dispatch.h). */
  const sf_subscriber *const *subscribers;
  /* Registers its timer kinds with sf_timer_register (events/timers.h). */
  void (*timers)(void);
  /* Reads settings, resets in-memory state. Runs at every open of the
   * database, for CLI commands and the server alike; starts no thread. */
  void (*configure)(const sf_config *cfg);
  /* Server only: starts threads, caches, hooks (cfg carries the resolved
   * secrets, e.g. webhook_secret). 0, or <0 with err filled: the services
   * started before it are stopped in reverse and the server does not start. */
  int (*start)(const sf_config *cfg, sf_err *err);
  void (*stop)(void); /* undoes start; called only after a successful start */
  /* 1 when its tables hold data made with that key file, 0 when not, <0
   * with err. Asked at open, only when the file is missing (it may read
   * whole tables: nothing else runs yet), on the opening thread. */
  int (*holds_keyed)(sf_db *db, sf_key_file key, sf_err *err);
  sf_service_phase phase;
  /* The real-time topics it owns, ending with {0} (edge/stream.h): each
   * resolves with the authorization of the matching GET and maps events to
   * topic keys. */
  const sf_topic *topics;
} sf_service;

#endif
