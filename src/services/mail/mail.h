/* The mail service: e-mail from templates, sent over SMTP or kept in the dev
 * mailbox.
 *
 * Other services queue a message inside their own writer transaction; the
 * message is rendered there from the template of its kind (the stored text an
 * admin edited, or the default shipped for that kind), stored with a stable
 * Message-ID, and sent after the commit by the outbound engine
 * (events/outbound.h) with retries (backoff with jitter) until it is sent or
 * dead. With no SMTP server configured, messages are kept in the dev mailbox
 * an admin reads through the API. Queueing the same id twice keeps the first:
 * a notification or token makes at most one message, and a retry of its
 * delivery carries the same Message-ID.
 *
 * Template kinds (a default subject, text and HTML body ship for each):
 *   request.notify, approval.requested, approval.decided, sla.warning,
 *   sla.breached, request.commented, request.assigned, order.placed,
 *   order.paid, order.cancelled, order.shipped, order.delivered,
 *   order.refunded, stock.low, account.verify_email, account.password_reset,
 *   account.password_changed.
 * Templates use {{name}} and {{a.b}} for members of vars; in the HTML body the
 * values are escaped. Every template also sees {{app.name}} and {{app.url}}
 * (settings app_name, app_url), and {{to.name}} / {{to.address}} (the
 * recipient; empty in sf_mail_render_text). A missing name renders as
 * nothing; {{#if name}}...{{else}}...{{/if}} keeps a part when the value is
 * present and not null/false/""/0. Numbers render as they are (pass money
 * already formatted, e.g. "12.50"). The variables the default of each kind
 * reads (links are built from them: {{app.url}}/requests/{{request.id}}):
 *   request.notify       request.{id,title,type,state}, message, subject
 *   approval.requested   request.{id,title,type}, level, requester.name
 *   approval.decided     request.{id,title}, decision ("approved"/"rejected"), by.name, comment
 *   sla.warning,
 *   sla.breached         request.{id,title,type,state}, due_at, sla.name
 *   request.commented    request.{id,title}, comment.{author,body}
 *   request.assigned     request.{id,title,type}, assignee.name
 *   order.placed, order.paid, order.delivered
 *                        order.{id,total,currency}   ({{app.url}}/orders/{{order.id}})
 *   order.cancelled      order.{id}, reason
 *   order.shipped        order.{id}, tracking
 *   order.refunded       order.{id,currency}, refund.amount, reason
 *   stock.low            product.{id,name,sku}, stock.{available,threshold}
 *   account.verify_email,
 *   account.password_reset  link (the whole URL with the token), expires_in ("1 hour")
 *   account.password_changed changed_at
 *
 * Settings (core/config.h): smtp_url (empty: the dev mailbox, read with
 * GET /api/v1/mail/messages?status=kept), smtp_user, smtp_password,
 * smtp_from, smtp_tls, smtp_ca_file, smtp_timeout_ms, mail_max_attempts, mail_backoff_ms,
 * mail_concurrency, app_url, app_name. */
#ifndef SF_SERVICES_MAIL_MAIL_H
#define SF_SERVICES_MAIL_MAIL_H

#include <jansson.h>

#include "core/err.h"
#include "store/writer.h"

#define SF_MAIL_SUBJECT_MAX 256

typedef struct sf_mail {
  const char *id;      /* stable and unique (a notification's or token's id): Message-ID <id@host> */
  const char *kind;    /* a template kind above */
  const char *to;      /* recipient address */
  const char *to_name; /* optional display name */
  const char *user_id; /* optional: the recipient's user */
  const json_t *vars;  /* template variables (borrowed; may be NULL) */
} sf_mail;

/* Renders m's template and stores the message in tx, to be sent after the
 * commit. 0 when stored or when a message with m->id already exists; <0 with
 * err (unknown kind, bad address). Writer thread (inside a command or a
 * durable subscriber's apply). */
int sf_mail_queue(sf_tx *tx, const sf_mail *m, sf_err *err);

/* The subject and text body kind renders to with vars (the same text an
 * e-mail of that kind would carry): for in-app notifications. Fills
 * subject (cap SF_MAIL_SUBJECT_MAX) and *text (malloc'd, caller frees).
 * Any thread. */
int sf_mail_render_text(const char *kind, const json_t *vars, char *subject, char **text, sf_err *err);

#endif
