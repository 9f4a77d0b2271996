/* Support for `serviceflow verify`: rebuilding aggregates from their events
 * and comparing them with the state rows written beside those events.
 *
 * Each service owns its folds (e.g. sf_inv_verify, sf_orders_verify): one pass
 * over the events in position order, state kept in memory keyed by aggregate
 * id (sf_vindex), then one pass over the state tables. Differences go into an
 * sf_verify_report: all are counted, the first SF_VERIFY_MAX_DETAILS are
 * described. Run the folds inside one read transaction (BEGIN ... COMMIT on
 * the connection) so events and state rows come from the same snapshot even
 * while the server is writing. */
#ifndef SF_EVENTS_VERIFY_H
#define SF_EVENTS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#define SF_VERIFY_MAX_DETAILS 20

typedef struct sf_verify_report {
  int64_t checked;    /* aggregates compared */
  int64_t mismatches; /* differences found */
  int ndetails;
  char details[SF_VERIFY_MAX_DETAILS][256];
} sf_verify_report;

/* Counts one difference and describes it while there is room. */
void sf_verify_mismatch(sf_verify_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "<kind> <id> <field>: state row 'a' vs events 'b'" when a and b differ
 * (NULL reads as ""). */
void sf_verify_str(sf_verify_report *r, const char *kind, const char *id, const char *field, const char *row,
                   const char *events);
void sf_verify_int(sf_verify_report *r, const char *kind, const char *id, const char *field, int64_t row,
                   int64_t events);

/* String -> slot index (open addressing) for folds over many aggregates.
 * Slots are numbered 0, 1, 2… in insertion order, so a caller keeps its
 * per-aggregate state in a parallel array. Also usable to intern repeated
 * strings (names, SKUs). The index owns copies of its keys. Zero-initialise;
 * sf_vindex_free releases everything. */
typedef struct sf_vindex {
  char *keys; /* all keys, NUL-terminated, back to back */
  size_t klen, kcap;
  size_t *key_at; /* slot -> offset in keys */
  int64_t n, ncap;
  int64_t *table; /* slot + 1; 0 = empty */
  size_t tcap;    /* power of two */
} sf_vindex;

/* Slot of key, or -1. */
int64_t sf_vindex_find(const sf_vindex *ix, const char *key);
/* Slot of key, adding it when absent (*added, optional, tells which). */
int64_t sf_vindex_add(sf_vindex *ix, const char *key, int *added);
/* The key of a slot (valid until the next add). */
const char *sf_vindex_key(const sf_vindex *ix, int64_t slot);
void sf_vindex_free(sf_vindex *ix);

/* Grows a caller's parallel array (*arr of *cap elements of size elem) so
 * that index n is valid; new elements are zeroed. */
void sf_verify_grow(void **arr, int64_t *cap, int64_t n, size_t elem);

#endif
