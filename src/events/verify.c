#include "events/verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

void sf_verify_mismatch(sf_verify_report *r, const char *fmt, ...) {
  r->mismatches++;
  if (r->ndetails >= SF_VERIFY_MAX_DETAILS) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->details[r->ndetails++], sizeof r->details[0], fmt, ap);
  va_end(ap);
}

void sf_verify_str(sf_verify_report *r, const char *kind, const char *id, const char *field, const char *row,
                   const char *events) {
  if (!row) row = "";
  if (!events) events = "";
  if (strcmp(row, events) != 0)
    sf_verify_mismatch(r, "%s %s %s: state row '%s' vs events '%s'", kind, id, field, row, events);
}

void sf_verify_int(sf_verify_report *r, const char *kind, const char *id, const char *field, int64_t row,
                   int64_t events) {
  if (row != events)
    sf_verify_mismatch(r, "%s %s %s: state row %lld vs events %lld", kind, id, field, (long long)row,
                       (long long)events);
}

/* FNV-1a: short ASCII ids, no adversary (the data is our own database). */
static uint64_t hash_str(const char *s) { return sf_fnv1a(s, strlen(s)); }

int64_t sf_vindex_find(const sf_vindex *ix, const char *key) {
  if (!ix->tcap) return -1;
  size_t mask = ix->tcap - 1;
  for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
    int64_t e = ix->table[i];
    if (!e) return -1;
    if (strcmp(ix->keys + ix->key_at[e - 1], key) == 0) return e - 1;
  }
}

static void place(sf_vindex *ix, int64_t slot) {
  size_t mask = ix->tcap - 1;
  size_t i = hash_str(ix->keys + ix->key_at[slot]) & mask;
  while (ix->table[i]) i = (i + 1) & mask;
  ix->table[i] = slot + 1;
}

int64_t sf_vindex_add(sf_vindex *ix, const char *key, int *added) {
  int64_t slot = sf_vindex_find(ix, key);
  if (added) *added = slot < 0;
  if (slot >= 0) return slot;
  /* keep the load factor under 1/2 so probes stay short */
  if ((size_t)(ix->n + 1) * 2 > ix->tcap) {
    free(ix->table);
    ix->tcap = ix->tcap ? ix->tcap * 2 : 1024;
    ix->table = sf_calloc(ix->tcap, sizeof *ix->table);
    for (int64_t s = 0; s < ix->n; s++) place(ix, s);
  }
  size_t len = strlen(key) + 1;
  if (ix->klen + len > ix->kcap) {
    while (ix->klen + len > ix->kcap) ix->kcap = ix->kcap ? ix->kcap * 2 : 16384;
    ix->keys = sf_realloc(ix->keys, ix->kcap);
  }
  memcpy(ix->keys + ix->klen, key, len);
  sf_verify_grow((void **)&ix->key_at, &ix->ncap, ix->n, sizeof *ix->key_at);
  slot = ix->n++;
  ix->key_at[slot] = ix->klen;
  ix->klen += len;
  place(ix, slot);
  return slot;
}

const char *sf_vindex_key(const sf_vindex *ix, int64_t slot) { return ix->keys + ix->key_at[slot]; }

void sf_vindex_free(sf_vindex *ix) {
  free(ix->keys);
  free(ix->key_at);
  free(ix->table);
  memset(ix, 0, sizeof *ix);
}

void sf_verify_grow(void **arr, int64_t *cap, int64_t n, size_t elem) {
  if (n < *cap) return;
  int64_t ncap = *cap ? *cap : 256;
  while (ncap <= n) ncap *= 2;
  *arr = sf_realloc(*arr, (size_t)ncap * elem);
  memset((char *)*arr + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
  *cap = ncap;
}
