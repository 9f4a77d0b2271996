/* Who is told what: the pure part of the notifications service. Given one
 * event (its type and parsed data) and what the service knows of the
 * event's subject (the request's requester and assignee, earlier
 * commenters, the order's customer), a plan names the notification's kind
 * (a mail template kind, services/mail/mail.h), its preference category and
 * its targets (users, or every active member of a role). The subscriber
 * (notifications.c) expands roles, drops the actor where the plan says so,
 * checks preferences and writes the rows. No I/O here; any thread. Every
 * string a plan holds is borrowed from data or the context. */
#ifndef SF_SERVICES_NOTIFICATIONS_RULES_H
#define SF_SERVICES_NOTIFICATIONS_RULES_H

#include <jansson.h>

/* The categories a user turns on and off per channel. */
typedef enum {
  NTF_CAT_REQUESTS = 0, /* workflow notify actions, comments, assignment */
  NTF_CAT_APPROVALS,    /* approval requested / decided */
  NTF_CAT_SLA,          /* SLA warnings and breaches */
  NTF_CAT_ORDERS,       /* the customer's orders */
  NTF_CAT_STOCK,        /* stock below the threshold (staff) */
  NTF_NCATS
} ntf_category;

extern const char *const ntf_categories[NTF_NCATS];
/* The index of name in ntf_categories, or -1. */
int ntf_category_index(const char *name);
/* Default of a channel ("in_app" 1, "email" 1 except stock, which staff see
 * in the app: a mail per product running low is noise). */
int ntf_default_on(ntf_category c, int email);

#define NTF_MAX_TARGETS 72 /* a request's people: requester, assignee, up to 64 commenters */

typedef struct ntf_target {
  const char *user; /* a user id, or NULL */
  const char *role; /* every active user with this role, or NULL */
} ntf_target;

/* What the subscriber knows of the event's subject ("" or NULL: unknown). */
typedef struct ntf_context {
  const char *actor; /* the event's meta.actor ("system" for the system) */
  const char *requester, *assignee_user, *assignee_role;
  const char *const *commenters; /* earlier commenters of the request */
  int ncommenters;
  const char *customer; /* the order's customer */
} ntf_context;

typedef struct ntf_plan {
  const char *kind; /* NULL: the event tells nobody anything */
  ntf_category category;
  ntf_target targets[NTF_MAX_TARGETS];
  int ntargets;
  int skip_actor;        /* the actor is not told of what they did themselves */
  const char *skip_user; /* nor this user (the requester, who approves nothing of their own) */
  int sla_step;          /* keyed by the SLA step it belongs to (warning, breach and their notify actions) */
} ntf_plan;

/* Fills out for an event of type with data (NULL: {}). Returns 1 when
 * someone is to be told, 0 when not. */
int ntf_rules_plan(const char *type, const json_t *data, const ntf_context *cx, ntf_plan *out);

/* The template variables of a notification (a new object), as the mail
 * service's default templates read them (services/mail/mail.h): request
 * {id, title, type, state}, message, level,
 * requester.name, decision, by.name, comment, sla.name, comment {author,
 * body}, assignee.name, order {id, total, currency} (money as "12.50"),
 * reason, refund.amount, product {id, name, sku}, stock {available,
 * threshold}; plus recipient {id, name, email}, actor, link and the event's
 * own data under "event". No "subject": request.notify's template reads it
 * as a subject line of its own. */
typedef struct ntf_vars_in {
  const char *type;
  const json_t *data;
  const char *actor;
  const char *subject_type, *subject_id, *link;
  const char *request_title, *request_type, *request_state; /* "" unknown */
  const char *user_id, *user_name, *user_email;
  /* names of the people the event involves ("" unknown): the requester, who
   * acted (decided, commented), the new assignee (a user's name or a role) */
  const char *requester_name, *actor_name, *assignee_name;
} ntf_vars_in;
json_t *ntf_rules_vars(const ntf_vars_in *in);

/* A notification's id (out: cap >= SF_ID_MAX), derived from what caused it
 * (key: "ev:<event id>..." or another stable key) and the recipient, so a
 * replayed event cannot make a second row. A key that names one event leads
 * with that event id's time part: notifications made one after another sort
 * one after another, so the inserts of a batch share the index's last pages
 * instead of each dirtying a page of its own (a WAL frame each). */
void ntf_id(const char *key, const char *user, char *out, size_t cap);

#endif
