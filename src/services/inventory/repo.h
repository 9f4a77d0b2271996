/* Inventory repository: all SQL of the inventory service (tables stock,
 * reservations, reservation_lines, and the reads of `serviceflow verify`).
 * Rows are snapshots; the service pairs every change with an event on
 * "stock-<product_id>" or "reservation-<id>". Called on whatever thread
 * holds db (an HTTP thread's reader, or the writer's tx->db). */
#ifndef SF_INVENTORY_REPO_H
#define SF_INVENTORY_REPO_H

#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "store/db.h"

#define SF_INV_MAX_LINES 50

typedef struct sf_stock {
  char product_id[SF_ID_MAX];
  int64_t on_hand, reserved, version;
} sf_stock;

typedef struct sf_reservation {
  char id[SF_ID_MAX];
  char owner[SF_ID_MAX];
  char status[16];                /* active | released | expired | committed */
  int64_t expires_at, created_at; /* expires_at 0: held until released or committed */
  int nlines;
  struct {
    char product_id[SF_ID_MAX];
    int64_t quantity;
  } lines[SF_INV_MAX_LINES];
} sf_reservation;

/* A product's stock; a missing row is nothing on hand (version 0). */
int sf_inv_repo_load_stock(sf_db *db, const char *product_id, sf_stock *s, sf_err *err);
/* Inserts or updates the stock row (updated_at = now_ms). */
int sf_inv_repo_save_stock(sf_db *db, const sf_stock *s, int64_t now_ms, sf_err *err);

/* A reservation with its lines; 404 when there is none. */
int sf_inv_repo_load_reservation(sf_db *db, const char *id, sf_reservation *r, sf_err *err);
/* Inserts an active reservation and its lines (created/updated at now_ms). */
int sf_inv_repo_insert_reservation(sf_db *db, const sf_reservation *r, int64_t now_ms, sf_err *err);
/* Sets a reservation's status (updated_at = now_ms). */
int sf_inv_repo_set_reservation_status(sf_db *db, const char *id, const char *status, int64_t now_ms, sf_err *err);

/* serviceflow verify's reads (in repo_verify.c, for verify.c): statements the caller steps and
 * resets; NULL with err when they cannot be prepared.
 * The events that shape stock and reservations, in order: position,
 * stream, type, data (JSON text), at. */
sf_stmt *sf_inv_repo_verify_events(sf_db *db, sf_err *err);
/* Every product's id (the catalog's table: each product has a stock). */
sf_stmt *sf_inv_repo_verify_products(sf_db *db, sf_err *err);
/* Every stock row: product_id, on_hand, reserved, version. */
sf_stmt *sf_inv_repo_verify_stock(sf_db *db, sf_err *err);
/* Every reservation: id, owner, status, expires_at, created_at. */
sf_stmt *sf_inv_repo_verify_reservations(sf_db *db, sf_err *err);
/* Every reservation line: reservation_id, product_id, quantity. */
sf_stmt *sf_inv_repo_verify_lines(sf_db *db, sf_err *err);

#endif
