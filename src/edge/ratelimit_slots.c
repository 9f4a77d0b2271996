#include "edge/ratelimit_slots.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define KEY_CAP 512
#define BATCH 128 /* holders per refresh call: a script call stays short on the Redis server */

/* The Redis server's clock in ms (instances' clocks differ), then: drop the
 * expired holders, and add ARGV[1] expiring ARGV[3] ms from now unless
 * ARGV[2] hold the key already. Returns {added, holders}. */
static sf_rl_script take_script = {
    .text = "if redis.replicate_commands then redis.replicate_commands() end\n"
            "local t = redis.call('TIME')\n"
            "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
            "local ttl = tonumber(ARGV[3])\n"
            "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
            "local n = redis.call('ZCARD', KEYS[1])\n"
            "if n >= tonumber(ARGV[2]) and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {0, n} end\n"
            "redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])\n"
            "redis.call('PEXPIRE', KEYS[1], ttl)\n"
            "return {1, redis.call('ZCARD', KEYS[1])}\n"};

/* Each KEYS[i] gets ARGV[i + 1] expiring ARGV[1] ms from now. */
static sf_rl_script refresh_script = {.text = "if redis.replicate_commands then redis.replicate_commands() end\n"
                                              "local t = redis.call('TIME')\n"
                                              "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
                                              "local ttl = tonumber(ARGV[1])\n"
                                              "for i = 1, #KEYS do\n"
                                              "  redis.call('ZADD', KEYS[i], now + ttl, ARGV[i + 1])\n"
                                              "  redis.call('PEXPIRE', KEYS[i], ttl)\n"
                                              "end\n"
                                              "return #KEYS\n"};

static sf_rl_script release_script = {.text = "return redis.call('ZREM', KEYS[1], ARGV[1])\n"};

void sf_rl_slots_init(void) {
  sf_rl_script_init(&take_script);
  sf_rl_script_init(&refresh_script);
  sf_rl_script_init(&release_script);
}

static size_t key_of(sf_rl_redis *r, const char *name, const char *key, char out[KEY_CAP]) {
  int n = snprintf(out, KEY_CAP, "%sslots:%s:%s", sf_rl_redis_prefix(r), name, key);
  return n < 0 ? 0 : (size_t)n >= KEY_CAP ? KEY_CAP - 1 : (size_t)n; /* ids: never longer */
}

/* ---- take ---- */

typedef struct take_reply {
  int added, count;
} take_reply;

static int read_take(const redisReply *rep, void *arg) {
  take_reply *t = arg;
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_INTEGER ||
      rep->element[1]->type != REDIS_REPLY_INTEGER)
    return -1;
  t->added = rep->element[0]->integer == 1;
  t->count = (int)rep->element[1]->integer;
  return 0;
}

int sf_rl_slots_take(sf_rl_redis *r, const char *name, const char *key, const char *member, int max, int ttl_ms,
                     int *count) {
  char k[KEY_CAP], nmax[16], nttl[16];
  const char *argv[7] = {NULL, NULL, "1", k, member, nmax, nttl};
  size_t len[7] = {0,
                   0,
                   1,
                   key_of(r, name, key, k),
                   strlen(member),
                   (size_t)snprintf(nmax, sizeof nmax, "%d", max),
                   (size_t)snprintf(nttl, sizeof nttl, "%d", ttl_ms)};
  take_reply t = {0};
  if (sf_rl_redis_eval(r, &take_script, 7, argv, len, read_take, &t)) return -1;
  if (count) *count = t.count;
  return t.added;
}

/* ---- release ---- */

static int read_integer(const redisReply *rep, void *arg) {
  (void)arg;
  return rep->type == REDIS_REPLY_INTEGER ? 0 : -1;
}

int sf_rl_slots_release(sf_rl_redis *r, const char *name, const char *key, const char *member) {
  char k[KEY_CAP];
  const char *argv[5] = {NULL, NULL, "1", k, member};
  size_t len[5] = {0, 0, 1, key_of(r, name, key, k), strlen(member)};
  return sf_rl_redis_eval(r, &release_script, 5, argv, len, read_integer, NULL);
}

/* ---- refresh ---- */

/* One call's arguments: the command and script, the key count, BATCH keys,
 * the ttl and BATCH members. */
typedef struct refresh_args {
  const char *argv[4 + 2 * BATCH];
  size_t len[4 + 2 * BATCH];
  char nkeys[16], nttl[16];
  char keys[BATCH][KEY_CAP];
} refresh_args;

static int refresh_batch(sf_rl_redis *r, refresh_args *a, const char *name, const sf_rl_slot *s, int n, int ttl_ms) {
  int argc = 2;
  a->argv[argc] = a->nkeys;
  a->len[argc++] = (size_t)snprintf(a->nkeys, sizeof a->nkeys, "%d", n);
  for (int i = 0; i < n; i++) {
    a->len[argc] = key_of(r, name, s[i].key, a->keys[i]);
    a->argv[argc++] = a->keys[i];
  }
  a->argv[argc] = a->nttl;
  a->len[argc++] = (size_t)snprintf(a->nttl, sizeof a->nttl, "%d", ttl_ms);
  for (int i = 0; i < n; i++) {
    a->argv[argc] = s[i].member;
    a->len[argc++] = strlen(s[i].member);
  }
  return sf_rl_redis_eval(r, &refresh_script, argc, a->argv, a->len, read_integer, NULL);
}

int sf_rl_slots_refresh(sf_rl_redis *r, const char *name, const sf_rl_slot *s, int n, int ttl_ms) {
  if (n <= 0) return 0;
  refresh_args *a = sf_malloc(sizeof *a);
  int rc = 0;
  for (int at = 0; at < n && rc == 0; at += BATCH)
    rc = refresh_batch(r, a, name, s + at, n - at < BATCH ? n - at : BATCH, ttl_ms);
  free(a);
  return rc;
}
