#include "edge/ops.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/json.h"
#include "core/metrics.h"
#include "edge/edge.h"
#include "events/cluster.h"
#include "events/lease.h"
#include "events/relay.h"
#include "store/db.h"
#include "store/replica.h"
#include "store/writer.h"

/* The OpenAPI document, rendered once when the route table is frozen. */
static struct ops_state {
  char *openapi;
  size_t openapi_len;
  _Atomic int draining;
} ops;

void sf_ops_set_draining(void) { atomic_store(&ops.draining, 1); }

static void h_healthz(sf_req *req) { sf_req_reply_json(req, 200, json_pack("{s:s}", "status", "ok")); }

/* Not ready: a problem+json naming the failed checks, the checks beside. */
static void reply_not_ready(sf_req *req, json_t *checks, const char *detail) {
  sf_err e = {0};
  sf_err_set(&e, 503, "not-ready", "Not ready", "%s", detail);
  json_t *p = sf_json_problem(&e, "/readyz");
  json_object_set_new(p, "checks", checks);
  size_t len;
  char *s = sf_json_dump(p, &len);
  json_decref(p);
  sf_req_reply(req, 503, "application/problem+json", s, len);
}

/* Ready: the database answers and is not known to be damaged, the writer
 * runs, and the storage takes writes (not ready while the last write failed
 * for space or I/O, until a commit succeeds again: store/writer.h). Cheap
 * enough for a probe every second: the integrity verdict is cached
 * (store/db.h: the check at start, the periodic re-check, and any statement
 * that met a damaged page), never a check per probe. */
static void h_readyz(sf_req *req) {
  sf_err err = {0}, fault = {0};
  sf_db *db = sf_db_reader(&err);
  int db_ok = db && sf_db_schema_version(db) > 0;
  int intact = !sf_db_damaged();
  int writer_ok = sf_writer_running();
  int storage_ok = !sf_writer_storage_fault(&fault);
  int draining = atomic_load(&ops.draining);
  json_t *checks =
      json_pack("{s:s, s:s, s:s, s:s, s:s}", "serving", draining ? "draining" : "ok", "database", db_ok ? "ok" : "down",
                "integrity", intact ? "ok" : "damaged", "writer", writer_ok ? "ok" : "stopped", "storage",
                storage_ok            ? "ok"
                : fault.status == 507 ? "full"
                                      : "failing");
  /* Shared rate limits: reported; not ready only when Redis is down and
   * redis_fail = closed (every limited request would get 503). */
  int fail_closed = 0, redis = sf_edge_rl_redis_state(&fail_closed);
  if (redis >= 0)
    json_object_set_new(checks, "ratelimit_redis",
                        json_string(redis         ? "ok"
                                    : fail_closed ? "down"
                                                  : "down-local-limits"));
  int redis_ok = redis != 0 || !fail_closed;
  /* the NATS relay (when nats_url is set) is reported, never a reason to be unready: it falls behind */
  /* the read replica (database_read_url) is reported, never a reason to be
   * unready: lagging or down, its reads go to the primary */
  int replica = sf_replica_state();
  if (replica != SF_REPLICA_OFF)
    json_object_set_new(checks, "read_replica", json_string(sf_replica_state_name(replica)));
  json_t *relay = sf_relay_status_json();
  if (relay) json_object_set_new(checks, "relay", json_string(sf_relay_state()));
  /* instances sharing a database: which one runs the background work (both
   * ready), and whether this one hears the others' commits — without that
   * its caches and session answers may be stale: not ready */
  json_object_set_new(checks, "lease", json_string(sf_lease_held() ? "held" : "standby"));
  const char *cluster = sf_cluster_state();
  int cluster_ok = strcmp(cluster, "down") != 0;
  if (strcmp(cluster, "off") != 0) json_object_set_new(checks, "cluster", json_string(cluster));
  if (db_ok && intact && writer_ok && storage_ok && redis_ok && cluster_ok && !draining) {
    json_t *body = json_pack("{s:s, s:o}", "status", "ready", "checks", checks);
    if (relay) json_object_set_new(body, "relay", relay);
    sf_req_reply_json(req, 200, body);
    return;
  }
  json_decref(relay);
  char detail[200];
  if (draining)
    snprintf(detail, sizeof detail, "serving: draining before shutdown (SIGTERM)");
  else if (!db_ok || !writer_ok || !intact)
    snprintf(detail, sizeof detail, "%s",
             !db_ok    ? "database: not reachable"
             : !intact ? "integrity: the database is damaged"
                       : "writer: stopped");
  else if (!storage_ok)
    snprintf(detail, sizeof detail, "storage: the last write failed (%.150s)", fault.detail);
  else if (!cluster_ok)
    snprintf(detail, sizeof detail, "cluster: not hearing the other instances' commits (caches may be stale)");
  else
    snprintf(detail, sizeof detail, "ratelimit_redis: Redis does not answer and redis_fail is closed");
  reply_not_ready(req, checks, detail);
}

static void h_metrics(sf_req *req) {
  char *text = sf_metrics_render();
  sf_req_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

static void h_openapi(sf_req *req) {
  if (!ops.openapi) sf_ops_freeze();
  char *copy = sf_malloc(ops.openapi_len + 1);
  memcpy(copy, ops.openapi, ops.openapi_len + 1);
  sf_req_reply(req, 200, "application/json", copy, ops.openapi_len);
}

void sf_ops_routes(void) {
  static const sf_route routes[] = {
      {"GET", "/healthz", h_healthz, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops", "Liveness probe", NULL,
       "{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{\"status\":{\"const\":\"ok\"}}}", 200, 0},
      {"GET", "/readyz", h_readyz, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops",
       "Readiness probe: database (reachable, not found damaged) and writer, and Redis when rate limits are shared "
       "there (redis_url; not ready without it only when redis_fail = closed); 503 when not ready. With nats_url"
       " set, the NATS relay's state is reported, with database_read_url the read replica's (ok, lagging, down;"
       " never a reason to be unready)",
       NULL,
       "{\"type\":\"object\",\"required\":[\"status\",\"checks\"],\"properties\":{"
       "\"status\":{\"enum\":[\"ready\",\"not-ready\"]},\"checks\":{\"type\":\"object\"},"
       "\"relay\":{\"type\":\"object\",\"required\":[\"state\",\"published_position\",\"lag_events\"],"
       "\"properties\":{\"state\":{\"type\":\"string\"},\"published_position\":{\"type\":\"integer\"},"
       "\"lag_events\":{\"type\":\"integer\"},\"errors\":{\"type\":\"integer\"}}}}}",
       200, 0, .statuses = "503"},
      {"GET", "/metrics", h_metrics, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops",
       "Prometheus metrics (text exposition format)", NULL, NULL, 200, 0, .response_type = "text/plain"},
      {"GET", "/api/v1/openapi.json", h_openapi, SF_AUTH_PUBLIC, NULL, SF_ROUTE_RAW, "ops", "This OpenAPI 3.1 document",
       NULL, "{\"type\":\"object\"}", 200, 0},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) sf_router_add(&routes[i]);
}

void sf_ops_freeze(void) {
  if (ops.openapi) return;
  json_t *doc = sf_openapi_build();
  ops.openapi = sf_json_dump(doc, &ops.openapi_len);
  json_decref(doc);
}

void sf_ops_shutdown(void) {
  free(ops.openapi);
  ops.openapi = NULL;
}
