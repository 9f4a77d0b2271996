/* Real-time streams: one subscription core (the hub) behind two transports,
 * WebSocket (GET /api/v1/stream/ws, RFC 6455 on an upgraded HTTP
 * connection) and Server-Sent Events (GET /api/v1/stream), on the server's
 * own port.
 *
 * Topics are declared by the services that own the data (sf_topic, listed in
 * their descriptor): "order:<id>", "request:<id>", "notifications", ... A
 * topic resolves, for who asks, to one or more topic keys, applying exactly
 * the authorization of the matching GET (the same 404 or 403); every
 * committed event maps to the keys it belongs to. The hub keeps an index
 * topic key -> subscriptions and is fed by a live subscriber of the
 * dispatcher (sf-live thread): each event is serialized once per topic and
 * the buffer shared by every connection that gets it (refcounted). A family
 * may send a small derived change for a key instead of the event (derive):
 * it keeps the event's id and position, so resume works the same.
 *
 * Every message carries its event position: a client resumes after a
 * reconnect from the last position it saw, with no gap and no duplicate (the
 * subscription is registered, buffering live events, before the log after
 * the client's position is read). A connection has a bounded queue; when it
 * is full the connection is cut (WebSocket close 4008, SSE `event: overflow`)
 * and never waited for. Heartbeats, an idle timeout, a per-user connection
 * limit (every instance's streams together with redis_url: stream_limit.c,
 * edge/ratelimit_slots.h), an Origin check and a per-connection topic limit guard the server;
 * a role change, a disabled user, a logout or an expired token ends the
 * subscriptions that are no longer allowed (4401/4403, SSE `event: revoked`).
 *
 * Threads: the live subscriber (sf-live) only computes an event's keys and
 * hands the events with keys to the sf-stream thread (a copy each, however
 * many subscribe); sf-stream queues them for every subscription, owns every
 * WebSocket socket (epoll, non-blocking writes outside the lock) and the
 * timers of all connections, at a priority below the writer's
 * (stream_nice); SSE answers are written by the HTTP threads from the same
 * queues. One mutex guards the index and the queues. */
#ifndef SF_EDGE_STREAM_H
#define SF_EDGE_STREAM_H

#include "core/actor.h"
#include "core/config.h"
#include "core/err.h"
#include "events/dispatch.h"
#include "events/store.h"

#define SF_TOPIC_KEY_MAX 128
#define SF_TOPIC_MAX_KEYS 8 /* keys one topic resolves to, or one event maps to per topic */

/* A topic family. A client names a topic "<name>" or "<name>:<arg>" (the
 * arg may itself hold colons: "queue:<type>:<state>"). Static and const. */
typedef struct sf_topic {
  const char *name;       /* "order" */
  const char *permission; /* checked by the edge's role table first; NULL: any signed-in user */
  /* The keys the topic is, for who, with the matching GET's authorization:
   * returns how many (1..max) or < 0 with err filled (404/403/422 as that
   * GET answers). Runs on an HTTP thread or sf-stream; may read through
   * sf_db_reader. */
  int (*resolve)(const sf_actor *who, const char *arg, char keys[][SF_TOPIC_KEY_MAX], int max, sf_err *err);
  /* The keys ev belongs to in this family (0: none). Runs on sf-live for
   * every committed event (and on catch-up reads): keep it cheap. */
  int (*keys)(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max);
  /* Optional (NULL: every event goes as it is). What a subscriber of key
   * (one keys() gave for ev) gets instead of the event itself, for an event
   * whose data that subscriber may not see: 1, a derived change, with *type
   * (a static string naming it, e.g. "stock.held") and *data (a new
   * reference, the change); 0, the event as it is; -1, nothing. It sees
   * only ev (no database read) and answers the same every time for the same
   * event: catch-up reads of the log then give what live delivery gave.
   * Runs on sf-stream under the hub's lock, and on catch-up: keep it cheap. */
  int (*derive)(const sf_event *ev, const char *key, const char **type, json_t **data);
} sf_topic;

/* Registers a service's topics (ending with {0}); main thread, before
 * sf_stream_start. */
void sf_stream_topics_add(const sf_topic *topics);
void sf_stream_topics_clear(void);

/* Reads the stream_* settings and the CORS origins (main thread). */
void sf_stream_configure(const sf_config *cfg);
/* The routes GET /api/v1/stream and GET /api/v1/stream/ws. */
void sf_stream_routes(void);
/* The live subscriber feeding the hub; register it with the dispatcher. */
extern const sf_subscriber sf_stream_subscriber;

/* Starts the sf-stream thread (after the dispatcher). */
int sf_stream_start(sf_err *err);
/* Ends every stream (WebSocket close 1001, SSE ended) and joins the thread.
 * Must run before sf_http_stop: a parked SSE answer would hold it. */
void sf_stream_stop(void);

#endif
