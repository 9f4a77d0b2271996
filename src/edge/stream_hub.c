/* The hub's subscriptions over time: subscribe (authorized like the GET),
 * resume from a position, unsubscribe, revocation after identity events,
 * and the once-a-tick chores (heartbeats, idle, token expiry). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "edge/edge.h"
#include "edge/stream_internal.h"

/* Catch-up reads the log in batches this big (one read transaction each). */
#define CATCH_UP_BATCH 512

static struct hub_time_state { int recheck_due; /* under the lock: some conn has recheck set */ } hub_time;

/* ---- subscribe ---- */

static const sf_topic *parse_topic(const char *topic, const char **arg, int *index, sf_err *err) {
  if (!topic || !topic[0] || strlen(topic) >= SF_TOPIC_KEY_MAX) {
    sf_err_invalid(err, "topic", "must be a topic name of 1-%d characters", SF_TOPIC_KEY_MAX - 1);
    return NULL;
  }
  const char *colon = strchr(topic, ':');
  size_t n = colon ? (size_t)(colon - topic) : strlen(topic);
  const sf_topic *fam = hub_topic_find(topic, n, index);
  if (!fam) {
    sf_err_invalid(err, "topic",
                   "no such topic '%.*s' (order:<id>, request:<id>, notifications, approvals, "
                   "queue:<type>[:<state>], stock:<product_id>)",
                   (int)(n > 64 ? 64 : n), topic);
    return NULL;
  }
  *arg = colon ? colon + 1 : "";
  return fam;
}

static void actor_of(const hub_conn *c, sf_actor *who) {
  *who = (sf_actor){.user_id = c->user_id,
                    .role = c->role,
                    .email = "",
                    .session = c->session,
                    .request_id = "",
                    .traceparent = "",
                    .client_ip = ""};
}

/* The keys of topic for c's user now, with the GET's authorization. */
static int resolve(const hub_conn *c, const char *topic, char keys[][SF_TOPIC_KEY_MAX], int *family, sf_err *err) {
  const char *arg = "";
  const sf_topic *fam = parse_topic(topic, &arg, family, err);
  if (!fam) return -1;
  if (fam->permission && !sf_edge_role_allows(c->role, fam->permission))
    return sf_err_set(err, 403, "forbidden", "Forbidden", "role '%s' lacks permission '%s'", c->role, fam->permission);
  sf_actor who;
  actor_of(c, &who);
  int n = fam->resolve(&who, arg, keys, SF_TOPIC_MAX_KEYS, err);
  if (n <= 0 && !err->status) sf_err_internal(err, "topic %s resolved to no key", topic);
  return n > 0 ? n : -1;
}

hub_sub *hub_subscribe(hub_conn *c, const char *topic, int64_t *head, sf_err *err) {
  if (c->nsubs >= hub_cfg.max_topics) {
    sf_err_invalid(err, "topic", "at most %d topics per connection", hub_cfg.max_topics);
    return NULL;
  }
  for (hub_sub *s = c->subs; s && topic; s = s->next)
    if (strcmp(s->topic, topic) == 0) {
      sf_err_conflict(err, "already subscribed to %s", topic);
      return NULL;
    }
  char keys[SF_TOPIC_MAX_KEYS][SF_TOPIC_KEY_MAX];
  int family = 0;
  int n = resolve(c, topic, keys, &family, err);
  if (n < 0) return NULL;
  hub_sub *s = sf_calloc(1, sizeof *s);
  s->conn = c;
  s->family = family;
  snprintf(s->topic, sizeof s->topic, "%s", topic);
  s->nkeys = n;
  s->entries = sf_calloc((size_t)n, sizeof *s->entries);
  s->buffering = 1;
  hub_lock();
  hub_sub_link(s, keys);
  *head = hub_live_pos();
  s->last_pos = *head;
  hub_unlock();
  return s;
}

int hub_unsubscribe(hub_conn *c, const char *topic) {
  hub_lock();
  hub_sub *s = c->subs;
  while (s && strcmp(s->topic, topic) != 0) s = s->next;
  if (s) hub_sub_unlink(s);
  hub_unlock();
  if (!s) return -1;
  hub_sub_free(s);
  return 0;
}

/* ---- resume ---- */

typedef struct catch_up {
  hub_conn *c;
  hub_sub *only;
  int64_t head, last;
  uint64_t families; /* of the subscriptions catching up */
} catch_up;

/* The first of s's keys among the event's keys, or NULL. */
static const char *sub_match(const hub_sub *s, char keys[][SF_TOPIC_KEY_MAX], int n) {
  for (int i = 0; i < s->nkeys; i++)
    for (int k = 0; k < n; k++)
      if (strcmp(s->entries[i].node->key, keys[k]) == 0) return keys[k];
  return NULL;
}

/* One event of the log after the client's position: queued for each of the
 * catching-up subscriptions it belongs to, made by the same fanout as live
 * delivery (the same derived changes, one SSE message per payload). */
static int catch_up_visit(const sf_event *ev, void *ud) {
  catch_up *cu = ud;
  if (ev->position > cu->head) return 1;
  cu->last = ev->position;
  char keys[32][SF_TOPIC_KEY_MAX];
  int n = hub_event_keys(ev, cu->families, keys, 32);
  hub_fanout f = {.ev = ev};
  hub_conn *c = cu->c;
  for (hub_sub *s = c->subs; s && n; s = s->next) {
    if (!s->buffering || (cu->only && s != cu->only)) continue;
    const char *key = sub_match(s, keys, n);
    int own;
    hub_msg *m = key ? hub_fanout_msg(&f, s, key, &own) : NULL;
    if (!m) continue;
    hub_lock();
    if (c->kind == CONN_WS || hub_sse_admit(c, m)) hub_push(c, m, 1); /* bounded by resume_max */
    hub_unlock();
    if (own) hub_msg_unref(m);
  }
  hub_fanout_free(&f);
  return 0;
}

static int read_log(catch_up *cu, int64_t after) {
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  cu->last = after;
  while (db && cu->last < cu->head) {
    int64_t before = cu->last;
    if (sf_ev_read_all(db, cu->last, CATCH_UP_BATCH, catch_up_visit, cu, &err)) break;
    if (cu->last == before) return 0; /* nothing more before head */
  }
  if (err.status) sf_log_warn("stream catch-up failed", "\"detail\":\"%s\"", err.detail);
  return err.status ? -1 : 0;
}

void hub_catch_up(hub_conn *c, hub_sub *only, int64_t after, int64_t head,
                  void (*reset)(hub_conn *c, const hub_sub *only, int64_t head)) {
  int reset_needed = 0;
  if (after >= 0 && after < head) {
    catch_up cu = {c, only, head, after, 0};
    for (hub_sub *s = c->subs; s; s = s->next)
      if (s->buffering && (!only || s == only)) cu.families |= 1ull << s->family;
    reset_needed = head - after > hub_cfg.resume_max || read_log(&cu, after) != 0;
  }
  hub_lock();
  if (reset_needed) reset(c, only, head);
  for (hub_sub *s = c->subs; s; s = s->next)
    if (!only || s == only) s->buffering = 0;
  for (int i = 0; i < c->npending; i++) {
    hub_msg *m = c->pending[i];
    if (c->kind == CONN_WS || hub_sse_admit(c, m)) hub_push(c, m, 1);
    hub_msg_unref(m);
  }
  c->npending = 0;
  hub_unlock();
  hub_wake();
}

/* ---- revocation ---- */

static void revoke(hub_conn *c, int code, const char *reason) {
  hub_count_revoked();
  hub_close(c, code, reason);
}

/* Identity events that can take access away. Others (logins, refreshes,
 * profile edits) do not wake the check. */
static int may_revoke(const char *type) {
  static const char *const k[] = {"user.role_changed",         "user.status_changed",   "user.logged_out",
                                  "user.token_reuse_detected", "user.password_changed", "user.password_reset",
                                  "user.sessions_revoked",     "user.deleted"};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
    if (strcmp(type, k[i]) == 0) return 1;
  return strstr(type, "revoked") != NULL;
}

int hub_identity_event(const sf_event *ev) {
  if (strncmp(ev->stream, "user-", 5) != 0 || !may_revoke(ev->type)) return 0;
  const char *user = ev->stream + 5;
  int any = 0;
  for (hub_conn *c = hub_conns(); c; c = c->next)
    if (strcmp(c->user_id, user) == 0) {
      c->recheck = 1;
      hub_time.recheck_due = any = 1;
    }
  return any;
}

/* Does s still stand for exactly these keys? */
static int same_keys(const hub_sub *s, char keys[][SF_TOPIC_KEY_MAX], int n) {
  if (n != s->nkeys) return 0;
  for (int i = 0; i < n; i++)
    if (strcmp(s->entries[i].node->key, keys[i]) != 0) return 0;
  return 1;
}

/* Under the lock: c's session still live, and each topic still allowed for
 * the role the user has now (resolve as at subscribe). A topic whose keys
 * depend on the role ("approvals") and changed with it ends too: the client
 * subscribes again and gets the new role's. */
static void recheck(hub_conn *c) {
  char role[16];
  sf_err err = {0};
  int rc = sf_edge_session_check(c->user_id, c->session, role, sizeof role, &err);
  if (rc == -401) {
    revoke(c, 4401, err.detail[0] ? err.detail : "session ended");
    return;
  }
  if (rc || strcmp(role, c->role) == 0) return; /* cannot tell now, or unchanged */
  snprintf(c->role, sizeof c->role, "%s", role);
  for (hub_sub *s = c->subs; s; s = s->next) {
    char keys[SF_TOPIC_MAX_KEYS][SF_TOPIC_KEY_MAX];
    sf_err e = {0};
    int family;
    int n = resolve(c, s->topic, keys, &family, &e);
    if (n < 0 || !same_keys(s, keys, n)) {
      char why[96];
      if (n < 0)
        snprintf(why, sizeof why, "%.40s: no longer allowed (%d)", s->topic, e.status);
      else
        snprintf(why, sizeof why, "%.40s: changed with your role; subscribe again", s->topic);
      revoke(c, 4403, why);
      return;
    }
  }
}

void hub_recheck_due(void) {
  hub_lock();
  if (hub_time.recheck_due) {
    hub_time.recheck_due = 0;
    for (hub_conn *c = hub_conns(); c; c = c->next)
      if (c->recheck && !c->closing) {
        c->recheck = 0;
        recheck(c);
      }
  }
  hub_unlock();
}

/* ---- the tick ---- */

/* The heartbeats of one tick: one message per transport, shared. */
typedef struct beats {
  hub_msg *ws, *sse;
} beats;

static void heartbeat(hub_conn *c, int64_t now, beats *b) {
  static const char k_comment[] = ": keep-alive\n\n";
  if (c->kind == CONN_WS && !b->ws) b->ws = hub_ws_control(SF_WS_PING, "", 0);
  if (c->kind == CONN_SSE && !b->sse) {
    b->sse = hub_msg_new(sizeof k_comment - 1, 0);
    memcpy(b->sse->data, k_comment, sizeof k_comment - 1);
  }
  hub_push(c, c->kind == CONN_WS ? b->ws : b->sse, 1);
  c->last_tx_ms = now;
  if (c->kind == CONN_WS) c->ping_ms = now;
}

/* A WebSocket peer is idle when it has sent nothing for the idle timeout
 * although a ping went out after its last word and it had a heartbeat to
 * answer. It is never closed unasked: not when events keep flowing to it (no
 * keep-alive was due, but the peer still gets its pings once a heartbeat),
 * nor when this thread ran late (a starved tick pings first). */
static int ws_idle(const hub_conn *c, int64_t now) {
  return c->kind == CONN_WS && now - c->last_rx_ms > hub_cfg.idle_timeout_ms && c->ping_ms > c->last_rx_ms &&
         now - c->ping_ms >= hub_cfg.heartbeat_ms;
}

/* A heartbeat is due when nothing went out for one (a keep-alive for the
 * peer and the proxies between), and for a WebSocket peer that said nothing
 * for one and was not pinged within it. */
static int beat_due(const hub_conn *c, int64_t now) {
  if (now - c->last_tx_ms >= hub_cfg.heartbeat_ms) return 1;
  return c->kind == CONN_WS && now - c->last_rx_ms >= hub_cfg.heartbeat_ms && now - c->ping_ms >= hub_cfg.heartbeat_ms;
}

hub_conn *hub_tick(int64_t now) {
  int64_t now_s = sf_now_ms() / 1000;
  hub_conn *expired = NULL;
  beats b = {0};
  hub_places places = {0};
  int refresh = hub_limit_due(now); /* with redis_url, once a heartbeat */
  hub_lock();
  for (hub_conn *c = hub_conns(); c; c = c->next) {
    if (refresh) hub_places_add(&places, c); /* a closing one holds its place until freed */
    if (c->closing) {
      if (now <= c->deadline_ms) continue;
      if (c->kind == CONN_WS) {
        c->expired_next = expired;
        expired = c;
      } else if (c->hs && !c->gone) {
        sf_http_stream_abort(c->hs); /* a client that reads nothing does not hold it */
        c->deadline_ms = INT64_MAX;
      }
      continue;
    }
    if (c->token_exp && now_s >= c->token_exp)
      revoke(c, 4401, "access token expired; reconnect with a new one");
    else if (ws_idle(c, now))
      hub_close(c, SF_WS_GOING_AWAY, "idle timeout");
    else if (beat_due(c, now))
      heartbeat(c, now, &b);
  }
  hub_unlock();
  if (refresh) hub_limit_refresh(&places);
  hub_msg_unref(b.ws);
  hub_msg_unref(b.sse);
  return expired;
}
