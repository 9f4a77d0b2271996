/* Carts service: shopping carts with a price snapshot per line.
 *
 * A signed-in customer has at most one open cart. Anyone may create a guest
 * cart: its creation returns a secret token, and every later request on it
 * sends the token in the Cart-Token header (the cart id alone grants
 * nothing). Logging in or registering with a Cart-Token header makes the
 * guest cart the user's — or merges its lines into the user's open cart.
 *
 * Each line keeps the price it was added at; checkout (in the orders
 * service) refuses with 409 price-changed when the catalog price moved since,
 * and updating the line takes the new price.
 *
 * Events go to stream "cart-<id>": cart.created, cart.line_added,
 * cart.line_updated, cart.line_removed, cart.claimed, cart.merged (on the
 * user's cart), cart.merged_into (on the guest cart), cart.checked_out. */
#ifndef SF_CARTS_H
#define SF_CARTS_H

#include <stdint.h>

#include "core/actor.h"
#include "core/err.h"
#include "core/http.h"
#include "store/writer.h"

#define SF_CART_MAX_LINES 50

void sf_carts_routes(void);
/* Makes login and registration claim the caller's guest cart. */
void sf_carts_start(void);

typedef struct sf_cart_line {
  char product_id[48];
  int64_t quantity;
  int64_t unit_price; /* the snapshot */
} sf_cart_line;

/* The Cart-Token a request presents, copied into out ("" when none, or too
 * long to be one). For route handlers (HTTP thread) that pass it down to
 * sf_cart_checkout_lines. */
#define SF_CART_TOKEN_MAX 128
void sf_cart_token_of(const sf_req *req, char out[SF_CART_TOKEN_MAX]);

/* For checkout, inside the order command: the lines of an open cart who may
 * use (its owner, or anyone presenting the guest cart's token; token NULL or
 * "": none). 404 when there is no such cart for the caller, 409 when it is
 * not open, 422 when it is empty. */
int sf_cart_checkout_lines(sf_db *db, const sf_actor *who, const char *token, const char *cart_id, sf_cart_line *lines,
                           int *n, sf_err *err);
/* Marks the cart checked out by order_id (same transaction as the order);
 * a guest cart checked out by a signed-in who becomes theirs. who NULL: the
 * system. */
int sf_cart_mark_checked_out(sf_tx *tx, const sf_actor *who, const char *cart_id, const char *order_id, sf_err *err);

#endif
