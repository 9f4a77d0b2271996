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
#include "core/util.h"
#include "store/db.h"

/* What a subscription delivery keeps of its event. */
typedef struct sf_event_ref {
  const char *id, *type;
  int64_t position;
} sf_event_ref;

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
 * attempts: status, attempts, next_at, last_status (the HTTP status, 0 =
 * none), last_error (NULL keeps the last), updated_at = now_ms. sub: a
 * subscription's delivery (else a workflow's). 1 when recorded, 0 when the
 * row had moved on, <0. */
typedef struct sf_webhooks_attempt {
  const char *id;
  int seen, attempts;
  const char *status;
  int64_t next_at;
  long last_status;
  const char *error;
} sf_webhooks_attempt;
int sf_webhooks_repo_record_attempt(sf_db *db, int sub, const sf_webhooks_attempt *a, int64_t now_ms, sf_err *err);
/* A new attempt sequence for a delivery that is not pending (resend): 1
 * done, 0 when it is pending or does not exist. */
int sf_webhooks_repo_restart(sf_db *db, int sub, const char *id, int64_t now_ms, sf_err *err);
/* 1 when delivery id exists in its table, 0 when not. */
int sf_webhooks_repo_delivery_exists(sf_db *db, int sub, const char *id, sf_err *err);
/* A request's deliveries, oldest first, at most limit, ready to step: id,
 * event_id, url, status, attempts, next_at, last_error, created_at,
 * updated_at, last_status (NULL: none recorded). */
sf_stmt *sf_webhooks_repo_list(sf_db *db, const char *request_id, int limit, sf_err *err);

/* ---- subscriptions (repo_subs.c) ---- */

typedef struct sf_webhooks_sub {
  char id[SF_ID_MAX];
  char *url, *events, *description, *secret; /* events: a JSON array; secret: sealed; owned */
  int active;
  int64_t from_position, version, created_at, updated_at;
} sf_webhooks_sub;
void sf_webhooks_sub_clear(sf_webhooks_sub *s);

int sf_webhooks_repo_sub_insert(sf_db *db, const sf_webhooks_sub *s, sf_err *err);
/* 1 and *out filled (the caller clears it), 0 when there is none, <0. */
int sf_webhooks_repo_sub_load(sf_db *db, const char *id, sf_webhooks_sub *out, sf_err *err);
/* Writes url, events, description, active, secret, version, updated_at. */
int sf_webhooks_repo_sub_update(sf_db *db, const sf_webhooks_sub *s, sf_err *err);
/* Deletes the subscription and all its deliveries. */
int sf_webhooks_repo_sub_delete(sf_db *db, const char *id, sf_err *err);
/* Newest first, after the cursor (created_at, id), at most limit rows, ready to step; columns as
 * sf_webhooks_repo_sub_row reads them. */
sf_stmt *sf_webhooks_repo_sub_list(sf_db *db, int64_t c_at, const char *c_id, int limit, sf_err *err);
void sf_webhooks_repo_sub_row(sf_stmt *st, sf_webhooks_sub *out);
/* Active subscriptions, ready to step: id, events, from_position. */
sf_stmt *sf_webhooks_repo_sub_active(sf_db *db, sf_err *err);
/* 1 when an active subscription exists, 0 when not, <0. */
int sf_webhooks_repo_sub_any_active(sf_db *db, sf_err *err);
/* The subscriptions' change stamp (0 before any change): read, and set to
 * a new value in the transaction of a change. */
int sf_webhooks_repo_sub_stamp(sf_db *db, int64_t *out, sf_err *err);
int sf_webhooks_repo_sub_stamp_set(sf_db *db, int64_t stamp, sf_err *err);
int sf_webhooks_repo_any_subscription(sf_db *db, sf_err *err);

/* One delivery of an event to a subscription, pending and due now, unless
 * there is one for the pair already. 1 inserted, 0 there, <0. */
int sf_webhooks_repo_sub_delivery_insert(sf_db *db, const char *id, const char *sub_id, const sf_event_ref *ev,
                                         int64_t now_ms, sf_err *err);
/* The pending subscription delivery id with its subscription, ready to
 * step: subscription_id, event_id, event_position, event_type, attempts,
 * url (NULL: the subscription is gone), sealed secret. */
sf_stmt *sf_webhooks_repo_sub_pending(sf_db *db, const char *id, sf_err *err);
int sf_webhooks_repo_sub_delivery_drop(sf_db *db, const char *id, sf_err *err);
/* Every pending subscription delivery, ready to step: id, next_at. */
sf_stmt *sf_webhooks_repo_sub_pending_all(sf_db *db, sf_err *err);
/* A subscription's deliveries, newest first, after the cursor, status NULL
 * = any, ready to step: id, event_id, event_type, event_position, status,
 * attempts, next_at, last_status, last_error, created_at, updated_at. */
sf_stmt *sf_webhooks_repo_sub_deliveries(sf_db *db, const char *sub_id, const char *status, int64_t c_at,
                                         const char *c_id, int limit, sf_err *err);

/* The key-file probe (the descriptor's holds_keyed): a delivery exists, so
 * webhooks were signed with webhook.key. 1 yes, 0 no, <0 with err. */
int sf_webhooks_repo_any_delivery(sf_db *db, sf_err *err);

#endif
