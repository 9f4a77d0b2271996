#include "events/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"

/* The hash input, written into one buffer and hashed in one call: OpenSSL's
 * SHA-256 uses the CPU's SHA instructions where it has them (0.5 us for a
 * typical event here, against 1.2 us for libsodium's portable code). */
typedef struct {
  char *p, *end;
} hbuf;

static void h_bytes(hbuf *b, const char *s, size_t n) {
  memcpy(b->p, s, n);
  b->p += n;
}

static void h_num(hbuf *b, uint64_t v, int neg, char sep) {
  char buf[24];
  int i = (int)sizeof buf;
  buf[--i] = sep;
  do buf[--i] = (char)('0' + v % 10);
  while ((v /= 10) > 0);
  if (neg) buf[--i] = '-';
  h_bytes(b, buf + i, sizeof buf - (size_t)i);
}

static void h_i64(hbuf *b, int64_t v, char sep) {
  h_num(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0, sep);
}

/* Length-prefixed text: no two different events serialise alike. */
static void h_field(hbuf *b, const char *s, size_t n, int last) {
  h_num(b, n, 0, ':');
  h_bytes(b, s, n);
  if (!last) h_bytes(b, "|", 1);
}

void sf_ev_hash(const char *prev_hash, const sf_event *ev, char out[65]) {
  /* prev|position|len:stream|version|len:type|len:id|at|len:data|len:meta
   * (the same bytes as the original printf form, so existing chains verify) */
  size_t lp = strlen(prev_hash), ls = strlen(ev->stream), lt = strlen(ev->type), li = strlen(ev->id),
         ld = strlen(ev->data), lm = strlen(ev->meta);
  size_t cap = lp + ls + lt + li + ld + lm + 8 * 24 + 16; /* 8 numbers, separators */
  char stack[4096];
  char *mem = cap <= sizeof stack ? stack : sf_malloc(cap);
  hbuf b = {mem, mem + cap};
  h_bytes(&b, prev_hash, lp);
  h_bytes(&b, "|", 1);
  h_i64(&b, ev->position, '|');
  h_field(&b, ev->stream, ls, 0);
  h_i64(&b, ev->version, '|');
  h_field(&b, ev->type, lt, 0);
  h_field(&b, ev->id, li, 0);
  h_i64(&b, ev->at, '|');
  h_field(&b, ev->data, ld, 0);
  h_field(&b, ev->meta, lm, 1);
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned int hl = 0;
  if (EVP_Digest(mem, (size_t)(b.p - mem), h, &hl, EVP_sha256(), NULL) != 1 || hl != 32) abort();
  if (mem != stack) free(mem);
  sf_hex_encode(h, 32, out);
}

int64_t sf_ev_stream_version(sf_db *db, const char *stream, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT coalesce(max(version), 0) FROM events WHERE stream = ?", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, stream);
  int rc = sf_stmt_step(st, err);
  int64_t v = rc == 1 ? sf_stmt_col_int(st, 0) : -1;
  sf_stmt_reset(st);
  return v;
}

/* Appends "key":"value" (JSON-escaped like jansson's compact output). */
static int put_str(char **p, char *end, const char *key, const char *v, int first) {
  int n = snprintf(*p, (size_t)(end - *p), "%s\"%s\":\"", first ? "" : ",", key);
  if (n < 0 || n >= end - *p) return -1;
  *p += n;
  for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
    if (end - *p < 8) return -1;
    if (*c == '"' || *c == '\\') {
      *(*p)++ = '\\';
      *(*p)++ = (char)*c;
    } else if (*c < 0x20) {
      static const char k_short[] = "btnvfr";
      if (*c >= '\b' && *c <= '\r' && *c != '\v') {
        *(*p)++ = '\\';
        *(*p)++ = k_short[*c - '\b'];
      } else {
        *p += snprintf(*p, 7, "\\u%04X", *c);
      }
    } else {
      *(*p)++ = (char)*c;
    }
  }
  if (end - *p < 2) return -1;
  *(*p)++ = '"';
  return 0;
}

static int meta_json(const sf_ev_meta *meta, char *out, size_t cap) {
  char *p = out, *end = out + cap;
  *p++ = '{';
  if (put_str(&p, end, "actor", meta && meta->actor && *meta->actor ? meta->actor : "system", 1)) return -1;
  if (meta && meta->request_id && *meta->request_id && put_str(&p, end, "request_id", meta->request_id, 0)) return -1;
  if (meta && meta->traceparent && *meta->traceparent && put_str(&p, end, "traceparent", meta->traceparent, 0))
    return -1;
  if (end - p < 2) return -1;
  *p++ = '}';
  *p = '\0';
  return 0;
}

/* The chain head: the position and hash of the newest event, which the
 * next append chains to. Only the writer thread appends, so the head lives
 * here, kept in step with the writer's transactions through its hooks
 * (store/writer.h, sf_writer_on_tx): read from the events table at the
 * first append of each batch, advanced by each append, saved at each
 * savepoint and put back by a rollback to it. */
typedef struct {
  int64_t position;
  char hash[65];
  int loaded; /* read in this batch's transaction */
} chain_head;

static struct chain_state {
  chain_head now;
  chain_head saved[2]; /* at the savepoint of each level (SF_DB_SAVEPOINT_*) */
  int64_t loaded_at;   /* the position when this batch read the head */
  uint64_t epoch;      /* moves on when appended events were rolled back: see vcache */
} chain;

/* Several writers (instances on one PostgreSQL database): the head is read
 * under a transaction-scoped advisory lock, held until COMMIT or ROLLBACK,
 * so batches that append run one at a time from their head read to their
 * commit: positions are handed out in lock order and become visible in that
 * order (a reader following the log never meets a lower position that
 * commits later), and each batch chains to the hash the previous one
 * committed. The key is store/pg/pg.h's SF_PG_WRITE_LOCK, which sf_db_begin
 * already holds there (taking it again in the same transaction is no
 * wait, and no round trip of its own: sf_stmt_run_later sends it with the
 * head read, which PostgreSQL runs after it, with a snapshot of its own);
 * the event store takes it itself so that its promise does not rest on
 * how the transaction began. Written as VALUES:
 * PostgreSQL-only SQL that the SQLite query-plan corpus does not collect.
 * SQLite needs nothing: its writer holds the file's write lock. */
static const char *const k_chain_lock_pg = "VALUES (pg_advisory_xact_lock(1397118802))";

static int is_sqlite(sf_db *db) { return strcmp(sf_db_backend_name(db), "sqlite") == 0; }

static int chain_lock(sf_db *db, sf_err *err) {
  if (is_sqlite(db)) return 0;
  sf_stmt *st = sf_db_prepare(db, k_chain_lock_pg, err);
  return st ? sf_stmt_run_later(st, err) : -1; /* sent with the head read: one round trip */
}

static int chain_load(sf_db *db, sf_err *err) {
  if (chain_lock(db, err)) return -1;
  sf_stmt *st = sf_db_prepare(db, "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1", err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  if (rc < 0) return rc;
  int64_t known = chain.now.position; /* the head this process last left */
  if (rc == 1) {
    chain.now.position = sf_stmt_col_int(st, 0);
    sf_stmt_col_copy(st, 1, chain.now.hash, sizeof chain.now.hash);
  } else {
    chain.now.position = 0;
    memset(chain.now.hash, '0', 64);
    chain.now.hash[64] = '\0';
  }
  sf_stmt_reset(st);
  /* another writer appended since: the stream versions we remember may be
   * stale (on PostgreSQL a failed INSERT cannot be retried in place) */
  if (chain.now.position != known) chain.epoch++;
  chain.now.loaded = 1;
  chain.loaded_at = chain.now.position;
  return 0;
}

static void chain_start(void *ud) {
  (void)ud;
  chain.epoch++; /* others may have written while no writer ran */
  chain.now.loaded = 0;
}

static void chain_begin(void *ud) {
  (void)ud;
  chain.now.loaded = 0; /* another process may have appended since the last batch */
}

static void chain_savepoint(void *ud, int level) {
  (void)ud;
  chain.saved[level] = chain.now;
}

static void chain_rollback_to(void *ud, int level) {
  (void)ud;
  const chain_head *at = &chain.saved[level];
  int64_t before = at->loaded ? at->position : chain.loaded_at;
  if (chain.now.loaded && chain.now.position != before) chain.epoch++;
  chain.now = *at;
}

static void chain_rollback(void *ud) {
  (void)ud;
  chain.epoch++;
  chain.now.loaded = 0;
}

/* The batch's head for the writer's commit hook, if it appended events. */
static int64_t chain_commit(void *ud) {
  (void)ud;
  return chain.now.loaded && chain.now.position != chain.loaded_at ? chain.now.position : 0;
}

static const sf_writer_tx_hooks chain_hooks = {
    .start = chain_start,
    .begin = chain_begin,
    .savepoint = chain_savepoint,
    .rollback_to = chain_rollback_to,
    .rollback = chain_rollback,
    .commit = chain_commit,
};

/* Before main: the writer knows the chain from its first batch on, in
 * every program that can append events (this file is linked in). */
__attribute__((constructor)) static void chain_attach(void) { sf_writer_on_tx(&chain_hooks, NULL); }

/* The writer's memory of stream versions: appending needs the stream's
 * current version, and looking it up in the (stream, version) index cost a
 * twentieth of a workflow transition. Only the writer thread appends, so an
 * entry stays true until appended events are rolled back (chain.epoch moves
 * on) or another process writes the file (a UNIQUE(stream, version)
 * violation or a conflicting expected version: looked up again). A slot
 * holds one stream; a colliding stream replaces it. */
#define VCACHE_SLOTS 2048 /* power of two */
#define VCACHE_KEY 88

static struct {
  char stream[VCACHE_KEY];
  int64_t version;
  uint64_t epoch;
  int used;
} stream_versions[VCACHE_SLOTS];

static unsigned vc_slot(const char *stream) {
  return (unsigned)(sf_fnv1a(stream, strlen(stream)) & (VCACHE_SLOTS - 1));
}

static int vc_get(const char *stream, int64_t *version) {
  unsigned i = vc_slot(stream);
  if (!stream_versions[i].used || stream_versions[i].epoch != chain.epoch ||
      strcmp(stream_versions[i].stream, stream) != 0)
    return 0;
  *version = stream_versions[i].version;
  return 1;
}

static void vc_put(const char *stream, int64_t version) {
  size_t n = strlen(stream);
  if (n >= VCACHE_KEY) return;
  unsigned i = vc_slot(stream);
  memcpy(stream_versions[i].stream, stream, n + 1);
  stream_versions[i].version = version;
  stream_versions[i].epoch = chain.epoch;
  stream_versions[i].used = 1;
}

static void vc_drop(const char *stream) { stream_versions[vc_slot(stream)].used = 0; }

int sf_ev_append(sf_tx *tx, const char *stream, int64_t expected_version, const char *type, const json_t *data,
                 const sf_ev_meta *meta, int64_t *version_out, sf_err *err) {
  if (!chain.now.loaded && chain_load(tx->db, err)) return -1;
  int64_t cur;
  int cached = vc_get(stream, &cur);
  if (cached && expected_version != SF_EV_ANY_VERSION && expected_version != cur) {
    vc_drop(stream); /* make sure before refusing */
    cached = 0;
  }
  if (!cached && (cur = sf_ev_stream_version(tx->db, stream, err)) < 0) return -1;
  if (expected_version != SF_EV_ANY_VERSION && expected_version != cur)
    return sf_err_set(err, 409, "version-conflict", "Version conflict",
                      "stream %s is at version %" PRId64 ", expected %" PRId64, stream, cur, expected_version);
  char id[SF_ID_MAX];
  sf_id_new("evt", id, sizeof id);
  char *data_s = data ? sf_json_dump(data, NULL) : strdup("{}");
  /* meta is a few short strings: written directly, without a JSON tree */
  char meta_buf[768];
  char *meta_s = meta_buf;
  if (meta_json(meta, meta_buf, sizeof meta_buf)) meta_s = NULL;
  if (!meta_s) { /* too long for the stack buffer: let jansson do it */
    json_t *m = json_object();
    json_object_set_new(m, "actor", json_string(meta && meta->actor && *meta->actor ? meta->actor : "system"));
    if (meta && meta->request_id && *meta->request_id)
      json_object_set_new(m, "request_id", json_string(meta->request_id));
    if (meta && meta->traceparent && *meta->traceparent)
      json_object_set_new(m, "traceparent", json_string(meta->traceparent));
    meta_s = sf_json_dump(m, NULL);
    json_decref(m);
  }

  sf_event ev = {.position = chain.now.position + 1,
                 .stream = stream,
                 .version = cur + 1,
                 .type = type,
                 .id = id,
                 .data = data_s,
                 .meta = meta_s,
                 .at = tx->now_ms};
  char hash[65];
  sf_ev_hash(chain.now.hash, &ev, hash);
  int rc = -1;
  sf_stmt *st = sf_db_prepare(tx->db,
                              "INSERT INTO events(position, stream, version, type, id, data, meta, at, hash)"
                              " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              err);
  if (st) {
    sf_stmt_int(st, 1, ev.position);
    sf_stmt_text_ref(st, 2, stream);
    sf_stmt_int(st, 3, ev.version);
    sf_stmt_text_ref(st, 4, type);
    sf_stmt_text_ref(st, 5, id);
    sf_stmt_text_ref(st, 6, data_s);
    sf_stmt_text_ref(st, 7, meta_s);
    sf_stmt_int(st, 8, ev.at);
    sf_stmt_text_ref(st, 9, hash);
    rc = sf_stmt_run(st, err);
  }
  if (rc == -409 && cached && is_sqlite(tx->db)) {
    /* another process appended to the stream: forget, look again, once
     * (the failed statement left the transaction as it was: SQLite only;
     * PostgreSQL aborts the transaction up to the command's savepoint, and
     * chain_load's epoch already made the cache forget) */
    vc_drop(stream);
    free(data_s);
    if (meta_s != meta_buf) free(meta_s);
    sf_err_clear(err);
    return sf_ev_append(tx, stream, expected_version, type, data, meta, version_out, err);
  }
  free(data_s);
  if (meta_s != meta_buf) free(meta_s);
  if (rc) return rc;
  vc_put(stream, ev.version);
  chain.now.position = ev.position;
  memcpy(chain.now.hash, hash, sizeof hash);
  if (version_out) *version_out = ev.version;
  return 0;
}

static void row_event(sf_stmt *st, sf_event *ev) {
  ev->position = sf_stmt_col_int(st, 0);
  ev->stream = sf_stmt_col_text(st, 1);
  ev->version = sf_stmt_col_int(st, 2);
  ev->type = sf_stmt_col_text(st, 3);
  ev->id = sf_stmt_col_text(st, 4);
  ev->data = sf_stmt_col_text(st, 5);
  ev->meta = sf_stmt_col_text(st, 6);
  ev->at = sf_stmt_col_int(st, 7);
  ev->hash = sf_stmt_col_text(st, 8);
}

static int visit_rows(sf_stmt *st, sf_ev_visit fn, void *ud, sf_err *err) {
  int rc;
  while ((rc = sf_stmt_step(st, err)) == 1) {
    sf_event ev;
    row_event(st, &ev);
    if (fn(&ev, ud)) break;
  }
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

#define EV_COLS "position, stream, version, type, id, data, meta, at, hash"

int sf_ev_read_all(sf_db *db, int64_t after, int limit, sf_ev_visit fn, void *ud, sf_err *err) {
  /* a negative limit is none: SQLite's reading of LIMIT -1, written out for PostgreSQL (which refuses it) */
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT " EV_COLS " FROM events WHERE position > ?1 ORDER BY position"
                              " LIMIT CASE WHEN ?2 < 0 THEN 9223372036854775807 ELSE ?2 END",
                              err);
  if (!st) return -1;
  sf_stmt_int(st, 1, after);
  sf_stmt_int(st, 2, limit > 0 ? limit : -1);
  return visit_rows(st, fn, ud, err);
}

int sf_ev_read_stream(sf_db *db, const char *stream, int64_t after_version, int limit, sf_ev_visit fn, void *ud,
                      sf_err *err) {
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT " EV_COLS " FROM events WHERE stream = ?1 AND version > ?2"
                              " ORDER BY version LIMIT CASE WHEN ?3 < 0 THEN 9223372036854775807 ELSE ?3 END",
                              err);
  if (!st) return -1;
  sf_stmt_text(st, 1, stream);
  sf_stmt_int(st, 2, after_version);
  sf_stmt_int(st, 3, limit > 0 ? limit : -1);
  return visit_rows(st, fn, ud, err);
}

int64_t sf_ev_head(sf_db *db, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT coalesce(max(position), 0) FROM events", err);
  if (!st) return -1;
  int64_t v = sf_stmt_step(st, err) == 1 ? sf_stmt_col_int(st, 0) : -1;
  sf_stmt_reset(st);
  return v;
}

int sf_ev_type_next(sf_db *db, const char *after, const char *below, char *out, size_t cap, sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT min(type) FROM events WHERE type > ?1 AND type < ?2", err);
  if (!st) return -1;
  sf_stmt_text(st, 1, after);
  sf_stmt_text(st, 2, below);
  int rc = sf_stmt_step(st, err);
  if (rc == 1 && !sf_stmt_col_is_null(st, 0)) {
    snprintf(out, cap, "%s", sf_stmt_col_text(st, 0));
    rc = 1;
  } else if (rc >= 0) {
    rc = 0;
  }
  sf_stmt_reset(st);
  return rc;
}

int sf_ev_read_type_desc(sf_db *db, const char *type, const char *stream, int64_t before, int limit, sf_ev_visit fn,
                         void *ud, sf_err *err) {
  sf_stmt *st = stream ? sf_db_prepare(db,
                                       "SELECT " EV_COLS " FROM events WHERE stream = ?1 AND type = ?2 AND version < ?3"
                                       " ORDER BY version DESC LIMIT ?4",
                                       err)
                       : sf_db_prepare(db,
                                       "SELECT " EV_COLS " FROM events WHERE type = ?2 AND position < ?3"
                                       " ORDER BY position DESC LIMIT ?4",
                                       err);
  if (!st) return -1;
  if (stream) sf_stmt_text(st, 1, stream);
  sf_stmt_text(st, 2, type);
  sf_stmt_int(st, 3, before);
  sf_stmt_int(st, 4, limit);
  return visit_rows(st, fn, ud, err);
}

int sf_ev_stream_traceparent(sf_db *db, const char *stream, char *out, size_t cap, sf_err *err) {
  out[0] = '\0';
  /* newest first through UNIQUE(stream, version); events written by the
   * saga or timers carry no trace and are stepped over */
  sf_stmt *st = sf_db_prepare(db,
                              "SELECT meta FROM events WHERE stream = ?1 AND meta LIKE '%\"traceparent\"%'"
                              " ORDER BY version DESC LIMIT 1",
                              err);
  if (!st) return -1;
  sf_stmt_text(st, 1, stream);
  int rc = sf_stmt_step(st, err);
  json_t *meta = rc == 1 ? json_loads(sf_stmt_col_text(st, 0), 0, NULL) : NULL;
  const char *tp = json_string_value(json_object_get(meta, "traceparent"));
  if (tp) snprintf(out, cap, "%s", tp);
  json_decref(meta);
  sf_stmt_reset(st);
  return rc < 0 ? -1 : 0;
}

typedef struct {
  int64_t count;
  char prev[65];
  sf_err *err;
  int broken;
} verify_state;

static int verify_one(const sf_event *ev, void *ud) {
  verify_state *v = ud;
  if (ev->position != v->count + 1) {
    sf_err_set(v->err, 500, "chain-broken", "Event log damaged",
               "gap in the event log: expected position %" PRId64 ", found %" PRId64, v->count + 1, ev->position);
    v->broken = 1;
    return 1;
  }
  char h[65];
  sf_ev_hash(v->prev, ev, h);
  if (strcmp(h, ev->hash) != 0) {
    sf_err_set(v->err, 500, "chain-broken", "Event log damaged",
               "hash mismatch at position %" PRId64 " (event %s): the event or one before it was altered", ev->position,
               ev->id);
    v->broken = 1;
    return 1;
  }
  memcpy(v->prev, h, sizeof h);
  v->count++;
  return 0;
}

int sf_ev_verify(sf_db *db, int64_t *count, sf_err *err) {
  verify_state v = {.err = err};
  memset(v.prev, '0', 64);
  v.prev[64] = '\0';
  sf_stmt *st = sf_db_prepare(db, "SELECT " EV_COLS " FROM events ORDER BY position", err);
  if (!st) return -1;
  int rc = visit_rows(st, verify_one, &v, err);
  *count = v.count;
  if (rc) return rc;
  return v.broken ? -1 : 0;
}

json_t *sf_ev_to_json(const sf_event *ev) {
  json_t *data = json_loads(ev->data, 0, NULL);
  json_t *meta = json_loads(ev->meta, 0, NULL);
  char at[32];
  sf_time_iso8601(ev->at, at, sizeof at);
  return json_pack("{s:I, s:s, s:I, s:s, s:s, s:o, s:o, s:s}", "position", (json_int_t)ev->position, "stream",
                   ev->stream, "version", (json_int_t)ev->version, "type", ev->type, "id", ev->id, "data",
                   data ? data : json_object(), "meta", meta ? meta : json_object(), "at", at);
}

void sf_ev_meta_of(const sf_actor *who, sf_ev_meta *meta) {
  if (!who) who = &sf_actor_system;
  meta->actor = who->user_id;
  meta->request_id = who->request_id;
  meta->traceparent = who->traceparent;
}

int sf_ev_emit(sf_tx *tx, const sf_actor *who, const char *prefix, const char *id, const char *type, json_t *data,
               sf_err *err) {
  char stream[160];
  snprintf(stream, sizeof stream, "%s-%s", prefix, id);
  sf_ev_meta meta = {0};
  sf_ev_meta_of(who, &meta);
  if (!data) data = json_object();
  int rc = sf_ev_append(tx, stream, SF_EV_ANY_VERSION, type, data, &meta, NULL, err);
  json_decref(data);
  return rc;
}
