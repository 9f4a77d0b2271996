/* Shared by the orders files; the public contract is orders.h.
 *
 * One file per job, and who runs it:
 *   orders.c     HTTP handlers and routes, start/stop wiring   HTTP threads
 *   waiters.c    `Prefer: wait`: suspended requests answered  saga thread,
 *                when their order settles (edge level)        completion thread
 *   placement.c  placing an order (POST /orders, checkout)    writer thread
 *   lifecycle.c  staff transitions and refunds                writer thread
 *   saga.c       the saga thread: provider calls in batches   saga thread
 *                its wake-up (live subscriber order_saga)     dispatcher thread
 *   steps.c      a provider result applied to the order       writer thread
 *   sales.c      the sales_daily projection                   writer (dispatcher)
 *   order.c      the order's JSON form, result and events     any
 *   repo.c       all SQL of orders, order_lines, payments and sales_daily
 *
 * Only orders.c and waiters.c know the HTTP request (sf_req); the domain
 * files take who acts (sf_actor) and fill an sf_result. Calls go one way:
 * orders.c -> placement/lifecycle/waiters/saga -> steps -> order/repo; the
 * saga reaches the waiters only through the hooks it was started with. */
#ifndef SF_SERVICES_ORDERS_INTERNAL_H
#define SF_SERVICES_ORDERS_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/config.h"
#include "core/err.h"
#include "core/seal.h"
#include "core/util.h"
#include "edge/input.h" /* sf_if_match, sf_precondition: values, no request */
#include "services/carts/carts.h"
#include "services/inventory/inventory.h"
#include "services/payments/payments.h"
#include "store/db.h"
#include "store/writer.h"

#define ORD_MAX_LINES 50
#define ORD_RETRY_KIND "order.saga_retry"
/* an id as a client typed it (sf_in_item, a cart line): the catalog says if it exists */
#define ORD_INPUT_ID_MAX 48

/* ---- the order (order.c) ---- */

typedef struct order_line {
  char product_id[SF_ID_MAX];
  char sku[72];
  char name[208];
  int64_t unit_price, quantity;
} order_line;

typedef struct order {
  char id[SF_ID_MAX];
  char customer_id[SF_ID_MAX];
  char status[16];
  char saga_step[16];
  int saga_attempts;
  char currency[4];
  int64_t total;
  char reservation_id[SF_ID_MAX];
  char card_last4[8];
  int64_t refund_pending;
  char failure_reason[64];
  int64_t version, created_at, updated_at;
  int nlines;
  order_line *lines; /* malloc'd (order_clear) */
  /* payment */
  char payment_id[SF_ID_MAX];
  char pay_status[24];
  int64_t captured, refunded;
  char auth_ref[64];
} order;

/* Frees the lines (the order itself is the caller's). */
void order_clear(order *o);
/* 1 when the saga has nothing left to do (saga_step "done"). */
int order_settled(const order *o);
/* The order as the API shows it (new reference). */
json_t *order_json(const order *o);
/* status, the order as body and its ETag into out. */
void order_result(sf_result *out, int status, const order *o);
/* Appends an event on the order's stream "order-<id>"; who NULL: the system.
 * Takes data (NULL: {}). */
int order_event(sf_tx *tx, const sf_actor *who, const order *o, const char *type, json_t *data, sf_err *err);
/* The order's lines as inventory lines (pointing into o); returns their number. */
int order_inv_lines(const order *o, sf_inv_line *out);

/* ---- repository (repo.c): every SQL statement of the service ---- */

/* 404 when there is no such order. */
int ord_repo_load(sf_db *db, const char *id, order *o, int with_lines, sf_err *err);
/* Bumps version and updated_at, writes the order and its payment rows. */
int ord_repo_save(sf_tx *tx, order *o, sf_err *err);
/* A new order: its row (with the sealed card), its lines and its payment row
 * at the named provider. */
int ord_repo_insert(sf_tx *tx, const order *o, const char *card_sealed, const char *provider, sf_err *err);
/* The sealed card of an order still to be authorized into *sealed
 * (malloc'd; NULL when there is none). -1 only when it cannot be asked. */
int ord_repo_card_sealed(sf_db *db, const char *id, char **sealed, sf_err *err);
/* 1 when the order is settled, or cannot be read (a waiter then gets an
 * answer rather than a hang); 0 while its saga runs. */
int ord_repo_settled(sf_db *db, const char *id);
/* Calls fn for every order whose saga is not done; returns their number or < 0. */
int ord_repo_unfinished(sf_db *db, void (*fn)(const char *id), sf_err *err);

typedef struct ord_list_query {
  const char *customer; /* NULL: everyone's */
  const char *status;   /* NULL: any */
  int64_t cursor_at;    /* (created_at, id) strictly before this */
  const char *cursor_id;
  int limit;
} ord_list_query;
/* Newest first, up to q->limit orders with their lines into rows (room for
 * q->limit; order_clear each of the *n); next set to the cursor after the
 * last one when more follow, "" otherwise. */
int ord_repo_list(sf_db *db, const ord_list_query *q, order *rows, int *n, char *next, size_t next_cap, sf_err *err);

/* sales_daily: adds one paid line to its day, product and currency. */
int ord_repo_sales_add(sf_tx *tx, const char *day, const char *product_id, int64_t quantity, int64_t revenue,
                       const char *currency, sf_err *err);
int ord_repo_sales_reset(sf_tx *tx, sf_err *err);
/* The rows between from and to (YYYY-MM-DD, NULL: open), as a JSON array. */
json_t *ord_repo_sales(sf_db *db, const char *from, const char *to, sf_err *err);

/* ---- placement (placement.c), on the writer thread ---- */

typedef struct ord_place_input {
  int nlines;
  struct {
    char product_id[ORD_INPUT_ID_MAX];
    int64_t quantity;
    int64_t snapshot_price; /* from a cart: the price the customer saw */
  } lines[ORD_MAX_LINES];
  char cart_id[ORD_INPUT_ID_MAX];     /* placing from a cart: lines are read in the command */
  char cart_token[SF_CART_TOKEN_MAX]; /* the Cart-Token presented (a guest cart), "" when none */
  char card_last4[8];
  char *card_sealed; /* sealed on the HTTP thread, bound to the order id */
  int wait_s;
  int deferred; /* Prefer: wait without Idempotency-Key: the body is built later */
  char order_id[SF_ID_MAX];
  int placed; /* set by ord_place once the order is written */
} ord_place_input;

void ord_place_input_free(void *in);
/* sf_cmd_exec_fn: prices the lines, holds the stock, writes the order and
 * its payment, appends order.placed (which wakes the saga through its
 * subscriber once committed). Answers
 * 201 with the order (no body when deferred), its ETag and Location. */
int ord_place(const sf_actor *who, sf_tx *tx, void *in, sf_result *out, sf_err *err);

/* ---- lifecycle (lifecycle.c), on the writer thread ---- */

typedef struct ord_change_input {
  char id[SF_ID_MAX];
  const char *to;       /* transitions: the status to move to (static) */
  sf_if_match if_match; /* edge/input.h's parsed If-Match */
  int64_t amount;       /* refunds: 0 = the rest */
  int wait_s;
} ord_change_input;

/* paid -> fulfilled -> shipped -> delivered: 200 with the order, 409 otherwise. */
int ord_transition(const sf_actor *who, sf_tx *tx, void *in, sf_result *out, sf_err *err);
/* Starts a refund (saga step "refund"): 202 with the order. */
int ord_refund(const sf_actor *who, sf_tx *tx, void *in, sf_result *out, sf_err *err);

/* ---- the saga (saga.c, steps.c) ---- */

/* What the saga tells the layer that started it; both run on the saga
 * thread (and on the stopping thread during ord_saga_stop). */
typedef struct ord_saga_hooks {
  void (*touched)(const char *order_id); /* its saga state changed or was looked at */
  void (*idle)(void);                    /* after every pass, at most ~50 ms apart */
  /* an event of the order committed, on this instance or another sharing
   * the database (on the dispatcher's live thread, sf-live); optional */
  void (*changed)(const char *order_id);
} ord_saga_hooks;

/* Opens the payment provider, resumes every unfinished saga and starts the
 * saga thread (after the writer). ring unseals cards; hooks is static. */
int ord_saga_start(const sf_config *cfg, const sf_keyring *ring, const ord_saga_hooks *hooks, sf_err *err);
/* Joins the thread, lets results in flight commit, reports the orders they
 * touched, closes the provider. */
void ord_saga_stop(void);
/* The provider's name for new payment rows ("none" before start). */
const char *ord_saga_provider(void);
void ord_saga_timers(void);

/* One order of a batch: the step read, the provider's answer. */
typedef struct ord_saga_item {
  order o; /* as read before the provider call (no lines) */
  sf_pay_op op;
  int skip; /* nothing to do (settled, gone) */
  /* queued by a resume (start, lease taken): an instance before may have
   * acted on its step without recording it (steps.c, apply_authorize) */
  int resumed;
  /* an authorization that succeeded is captured in the same round: both
   * provider calls are idempotent by key, so recording them together is safe */
  sf_pay_op capture;
  int has_capture;
} ord_saga_item;

typedef struct ord_step_outcome {
  int touched; /* the order changed: its waiters may be answered */
  int next;    /* run its saga again at once (the next step) */
} ord_step_outcome;

/* Applies a provider result to the order, if it is still at the step and
 * version it was read at (a stale result only asks for another pass). */
int ord_step_apply(sf_tx *tx, const ord_saga_item *it, ord_step_outcome *out, sf_err *err);
/* Sets the saga's durable retry timer: exponential backoff by attempt, with jitter. */
int ord_step_retry_later(sf_tx *tx, const order *o, sf_err *err);

#endif
