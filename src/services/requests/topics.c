/* The requests service's real-time topics (edge/stream.h), each with the
 * rules of its GET:
 *   request:<id>              stream request-<id>; GET /requests/{id} (its
 *                             creator, assignee, an approver, or
 *                             workflows:read; anyone else gets that 404).
 *                             Two keys: "request:<id>" carries every event
 *                             but internal comments (request.noted), which
 *                             go to "request:<id>:staff" alone; only those
 *                             who see internal notes resolve to both, so the
 *                             requester is never sent one (a role change
 *                             changes the keys: the hub ends the topic)
 *   queue:<type>[:<state>]    request events of a type (in a state), for
 *                             staff (workflows:read), as GET /requests?type=&state=
 *   approvals                 approval events of the requests whose tasks are
 *                             the caller's or the caller's role's, as GET /approvals
 * keys() runs on sf-live: a request event's type and state, and an approval
 * event's assignees, are read from the request's rows (one indexed read). */
#include <stdio.h>
#include <string.h>

#include "events/store.h"
#include "services/requests/internal.h"
#include "services/service.h"

static int request_resolve(const sf_actor *who, const char *arg, char keys[][SF_TOPIC_KEY_MAX], int max, sf_err *err) {
  sf_db *db = sf_db_reader(err);
  sf_flow_request r;
  if (!db || srq_load(db, arg, &r, err)) return -1;
  int ok = srq_may_see(db, who, &r);
  sf_flow_request_clear(&r);
  if (!ok) return sf_err_not_found(err, "request");
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "request:%s", arg);
  if (max < 2 || !srq_sees_notes(who)) return 1;
  snprintf(keys[1], SF_TOPIC_KEY_MAX, "request:%s:staff", arg);
  return 2;
}

static const char *request_of(const sf_event *ev) {
  return strncmp(ev->stream, "request-", 8) == 0 ? ev->stream + 8 : NULL;
}

static int request_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  const char *id = request_of(ev);
  if (!id || max < 1) return 0;
  snprintf(keys[0], SF_TOPIC_KEY_MAX, strcmp(ev->type, SRQ_NOTED) == 0 ? "request:%s:staff" : "request:%s", id);
  return 1;
}

/* queue:<type> or queue:<type>:<state>; the permission was checked by the hub. */
static int queue_resolve(const sf_actor *who, const char *arg, char keys[][SF_TOPIC_KEY_MAX], int max, sf_err *err) {
  size_t n = strlen(arg);
  if (n == 0 || n > 96 || arg[0] == ':' || arg[n - 1] == ':')
    return sf_err_invalid(err, "topic", "must be queue:<type> or queue:<type>:<state>");
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "queue:%s", arg);
  return 1;
}

/* Loads the request of a request event from a reader of this thread. */
static int load_request(const sf_event *ev, sf_flow_request *r) {
  const char *id = request_of(ev);
  sf_err err = {0};
  sf_db *db = id ? sf_db_reader(&err) : NULL;
  return db && srq_load(db, id, r, &err) == 0 ? 0 : -1;
}

static int queue_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  sf_flow_request r;
  if (max < 2 || load_request(ev, &r)) return 0;
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "queue:%s", r.type);
  snprintf(keys[1], SF_TOPIC_KEY_MAX, "queue:%s:%s", r.type, r.state);
  sf_flow_request_clear(&r);
  return 2;
}

static int approvals_resolve(const sf_actor *who, const char *arg, char keys[][SF_TOPIC_KEY_MAX], int max,
                             sf_err *err) {
  if (arg[0]) return sf_err_invalid(err, "topic", "approvals takes no argument");
  snprintf(keys[0], SF_TOPIC_KEY_MAX, "approvals:user:%s", who->user_id);
  snprintf(keys[1], SF_TOPIC_KEY_MAX, "approvals:role:%s", who->role);
  return 2;
}

static int add_key(char keys[][SF_TOPIC_KEY_MAX], int n, int max, const char *kind, const char *who) {
  char k[SF_TOPIC_KEY_MAX];
  snprintf(k, sizeof k, "approvals:%s:%s", kind, who);
  for (int i = 0; i < n; i++)
    if (strcmp(keys[i], k) == 0) return n;
  if (n == max) return n;
  memcpy(keys[n], k, sizeof k);
  return n + 1;
}

/* Every assignee of the request's latest approval chain: a decision or a
 * new level changes each of their inboxes. */
static int approvals_keys(const sf_event *ev, char keys[][SF_TOPIC_KEY_MAX], int max) {
  sf_flow_request r;
  if (strncmp(ev->type, "request.approval_", 17) != 0 || load_request(ev, &r)) return 0;
  sf_err err = {0};
  sf_db *db = sf_db_reader(&err);
  int64_t chain = 0, plevel = -1;
  json_t *c = db ? srq_latest_chain(db, &r, &chain) : NULL;
  json_t *tasks = c ? srq_chain_tasks(db, &r, chain, &plevel) : NULL;
  int n = 0;
  size_t i;
  json_t *t;
  json_array_foreach(tasks, i, t) {
    json_t *a = json_object_get(t, "assignee");
    const char *user = json_string_value(json_object_get(a, "user"));
    const char *role = json_string_value(json_object_get(a, "role"));
    if (user) n = add_key(keys, n, max, "user", user);
    if (role && role[0]) n = add_key(keys, n, max, "role", role);
  }
  json_decref(tasks);
  json_decref(c);
  sf_flow_request_clear(&r);
  return n;
}

const sf_topic sf_requests_topics[] = {
    {"request", NULL, request_resolve, request_keys},
    {"queue", "workflows:read", queue_resolve, queue_keys},
    {"approvals", NULL, approvals_resolve, approvals_keys},
    {0},
};
