/* Webhooks repository: all SQL of the webhooks service (table
 * webhook_deliveries) and its two reads of the requests service's tables.
 * Called on whatever thread holds db: the writer's tx->db for the
 * subscriber, the timer and recording an outcome; an HTTP thread's reader
 * for the delivery log. Statements returned are owned by db's statement
 * cache: the caller steps them and resets them, never finalizes. */
#ifndef SF_WEBHOOKS_REPO_H
#define SF_WEBHOOKS_REPO_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

/* The request's row as JSON (id, type, title, state, data, version,
 * workflow {id, version}) in *out (the caller's reference), or just {id}
 * when there is none. Reads the requests service's tables. 0 or <0. */
int sf_webhooks_repo_request_json(sf_db *db, const char *id, json_t **out, sf_err *err);
/* 1 when the request exists, 0 when not, <0 with err. Reads the requests
 * service's table. */
int sf_webhooks_repo_request_exists(sf_db *db, const char *id, sf_err *err);

/* Inserts a pending delivery (no attempt yet, next_at = created_at = now_ms)
 * unless one exists for event_id. 1 when inserted, 0 when it was there, <0. */
int sf_webhooks_repo_insert_delivery(sf_db *db, const char *id, const char *event_id, const char *request_id,
                                     const char *url, const char *body, const char *traceparent, int64_t now_ms,
                                     sf_err *err);
/* The pending delivery id, bound and ready to step (1: the row, 0: none
 * pending): event_id, request_id, url, body, attempts, traceparent. */
sf_stmt *sf_webhooks_repo_pending_delivery(sf_db *db, const char *id, sf_err *err);
/* Every pending delivery, ready to step: id, next_at, by next_at. */
sf_stmt *sf_webhooks_repo_pending_all(sf_db *db, sf_err *err);
/* Records an attempt's outcome on a delivery still pending after `seen`
 * attempts: status, attempts, next_at, last_error (NULL keeps the last),
 * updated_at = now_ms. 1 when recorded, 0 when the row had moved on, <0. */
int sf_webhooks_repo_record_attempt(sf_db *db, const char *id, int seen, const char *status, int attempts,
                                    int64_t next_at, const char *error, int64_t now_ms, sf_err *err);
/* A request's deliveries, oldest first, at most limit, ready to step: id,
 * event_id, url, status, attempts, next_at, last_error, created_at,
 * updated_at. */
sf_stmt *sf_webhooks_repo_list(sf_db *db, const char *request_id, int limit, sf_err *err);

/* The key-file probe (the descriptor's holds_keyed): a delivery exists, so
 * webhooks were signed with webhook.key. 1 yes, 0 no, <0 with err. */
int sf_webhooks_repo_any_delivery(sf_db *db, sf_err *err);

#endif
