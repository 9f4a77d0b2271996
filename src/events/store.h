/* Event store: the events table is both the event store and the outbox.
 * Appends happen inside a writer transaction (sf_tx); the single writer makes
 * positions gap-free and in commit order. Each event stores
 * hash = SHA-256(previous hash, event) so tampering is detectable. The
 * chain's head is kept here (store.c), in step with the writer's
 * transactions through its hooks (store/writer.h, sf_writer_on_tx).
 * Strings in sf_event are borrowed: valid only during the callback. */
#ifndef SF_EVENTS_STORE_H
#define SF_EVENTS_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/err.h"
#include "store/db.h"
#include "store/writer.h"

typedef struct sf_event {
  int64_t position;
  const char *stream;
  int64_t version;
  const char *type;
  const char *id;
  const char *data; /* JSON text */
  const char *meta; /* JSON text */
  int64_t at;       /* ms since epoch */
  const char *hash;
} sf_event;

typedef struct sf_ev_meta {
  const char *actor; /* user id or "system" */
  const char *request_id;
  const char *traceparent;
} sf_ev_meta;

/* The metadata of events caused by who (borrowed strings). */
void sf_ev_meta_of(const sf_actor *who, sf_ev_meta *meta);

#define SF_EV_ANY_VERSION (-1)

/* Appends one event. expected_version (SF_EV_ANY_VERSION = no check; 0 = the
 * stream must not exist) mismatches give 409. data is borrowed. On success
 * *version_out (optional) is the event's stream version. */
int sf_ev_append(sf_tx *tx, const char *stream, int64_t expected_version, const char *type, const json_t *data,
                 const sf_ev_meta *meta, int64_t *version_out, sf_err *err);

/* Appends an event caused by who (NULL: the system) to stream
 * "<prefix>-<id>" at whatever version it is; takes data (NULL: {}). */
int sf_ev_emit(sf_tx *tx, const sf_actor *who, const char *prefix, const char *id, const char *type, json_t *data,
               sf_err *err);

/* Current version of a stream (0 = no events). */
int64_t sf_ev_stream_version(sf_db *db, const char *stream, sf_err *err);

typedef int (*sf_ev_visit)(const sf_event *ev, void *ud); /* non-zero stops */

/* Events with position > after, in order, at most limit (<=0: no limit). */
int sf_ev_read_all(sf_db *db, int64_t after, int limit, sf_ev_visit fn, void *ud, sf_err *err);
/* Events of one stream with version > after_version, in order. */
int sf_ev_read_stream(sf_db *db, const char *stream, int64_t after_version, int limit, sf_ev_visit fn, void *ud,
                      sf_err *err);
int64_t sf_ev_head(sf_db *db, sf_err *err);
/* The event filter by type (GET /api/v1/events?type=), both on the index
 * events(type, position). sf_ev_type_next: the smallest type in the log that
 * is > after and < below (byte order): 1 with it in out, 0 none, < 0 error;
 * called in a loop it lists a prefix's distinct types, one index seek each.
 * sf_ev_read_type_desc: events of type with position < before (with stream:
 * that stream's events of type with version < before), newest first, at
 * most limit (> 0). */
int sf_ev_type_next(sf_db *db, const char *after, const char *below, char *out, size_t cap, sf_err *err);
int sf_ev_read_type_desc(sf_db *db, const char *type, const char *stream, int64_t before, int limit, sf_ev_visit fn,
                         void *ud, sf_err *err);
/* The traceparent in the meta of the newest event of stream that has one
 * (the last HTTP request that acted on it) into out; "" when none. Work
 * done later for that request (a saga's provider call) continues its trace. */
int sf_ev_stream_traceparent(sf_db *db, const char *stream, char *out, size_t cap, sf_err *err);

/* The chain hash of ev given the previous event's hash. out: 64 hex + NUL. */
void sf_ev_hash(const char *prev_hash, const sf_event *ev, char out[65]);

/* Walks the whole log: positions contiguous from 1, every hash recomputed.
 * Fills *count; on a break returns -1 with the position named in err. */
int sf_ev_verify(sf_db *db, int64_t *count, sf_err *err);

/* Event as JSON for the API: {position, stream, version, type, id, data, meta, at}. */
json_t *sf_ev_to_json(const sf_event *ev);

#endif
