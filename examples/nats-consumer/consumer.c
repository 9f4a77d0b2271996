/* An example consumer of Service Flow's JetStream stream (docs/nats.md).
 *
 * It follows the stream with a pull consumer (durable with --durable NAME:
 * JetStream keeps its place across restarts), prints each event as one
 * JSON line and acknowledges it. JetStream delivers at least once: a
 * message not acknowledged within the consumer's ack wait (the consumer
 * crashed, the ack was lost, the server restarted) is delivered again, and
 * the relay may publish an event twice across a crash (the stream's
 * duplicate window drops most of those). So the consumer dedupes by the
 * event id (the Nats-Msg-Id header): an id seen before is acknowledged and
 * skipped. A real consumer keeps that memory beside its own effects (e.g.
 * the last Sf-Position it applied, in the same transaction as the effect);
 * this one keeps the ids of this run in memory.
 *
 * Positions are gap-free and in stream order, so a consumer of the whole
 * stream checks continuity: a position past last + 1 means its place is
 * past messages it never got (a server restart can keep the consumer's
 * state further than the stream's messages, which the relay then publishes
 * again), and an idle consumer while the stream is past its last position
 * means a lost pull. Either way it deletes its consumer and makes it again
 * from the position after its last one (deduping as above). A hole the
 * stream really has (the re-read starts past it) is reported and passed.
 *
 *   nats_consumer [--url nats://127.0.0.1:4222] [--stream SERVICEFLOW]
 *                 [--subject sf.>] [--durable NAME] [--start-position N]
 *                 [--start-seq N] [--idle-exit MS] [--raw]
 *
 * --start-position N: the first message whose Sf-Position is >= N (looked
 * up by binary search over stream sequences: the relay publishes in
 * position order); --start-seq N: from stream sequence N. A durable
 * consumer that already exists keeps its own place. --idle-exit MS: exit
 * once nothing came for MS milliseconds. --raw: print every message, dupes
 * too (each line says "duplicate"), e.g. to inspect the stream.
 *
 * Output, one line per message:
 *   {"seq":S,"position":P,"id":"...","subject":"...","delivered":D,"duplicate":false,"event":{...}} */
#include <nats/nats.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  const char *url, *stream, *subject, *durable;
  int64_t start_position;
  uint64_t start_seq;
  int idle_exit_ms, raw;
  int whole; /* the subject is the whole stream's: positions arrive gap-free */
} options;

/* Where this run stands: the last position (and its stream sequence) it
 * handled, 0 before the first. A real consumer keeps these beside its
 * effects; they decide where to re-read from after a gap. */
static struct follow_state {
  int64_t last_pos;
  uint64_t last_seq;
  uint64_t reread_seq; /* where the last re-read started: a gap there is a hole the stream really has */
  int idle_behind;     /* idle fetches in a row with the stream ahead of last_pos */
} follow;

/* ---- the ids seen in this run: an open-addressing set of strings ---- */

static struct seen_set {
  char **slots;
  size_t cap, n;
} seen;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void seen_grow(void) {
  struct seen_set old = seen;
  seen.cap = old.cap ? old.cap * 2 : 1024;
  seen.slots = calloc(seen.cap, sizeof *seen.slots);
  seen.n = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i]) {
      size_t at = hash_str(old.slots[i]) & (seen.cap - 1);
      while (seen.slots[at]) at = (at + 1) & (seen.cap - 1);
      seen.slots[at] = old.slots[i];
      seen.n++;
    }
  free(old.slots);
}

/* 1 if id was seen before; else remembers it and returns 0. */
static int seen_before(const char *id) {
  if ((seen.n + 1) * 10 > seen.cap * 7) seen_grow();
  size_t at = hash_str(id) & (seen.cap - 1);
  for (; seen.slots[at]; at = (at + 1) & (seen.cap - 1))
    if (strcmp(seen.slots[at], id) == 0) return 1;
  seen.slots[at] = strdup(id);
  seen.n++;
  return 0;
}

/* ---- start from a position ---- */

static int64_t position_at(jsCtx *js, const char *stream, uint64_t seq) {
  natsMsg *m = NULL;
  const char *v = NULL;
  int64_t pos = -1;
  if (js_GetMsg(&m, js, stream, seq, NULL, NULL) == NATS_OK && natsMsgHeader_Get(m, "Sf-Position", &v) == NATS_OK)
    pos = strtoll(v, NULL, 10);
  natsMsg_Destroy(m);
  return pos;
}

/* The first stream sequence whose Sf-Position is >= position (LastSeq + 1
 * when none is yet; 0 when the server does not answer): positions grow
 * with sequences. */
static uint64_t seq_of_position(jsCtx *js, const char *stream, int64_t position) {
  jsStreamInfo *si = NULL;
  if (js_GetStreamInfo(&si, js, stream, NULL, NULL) != NATS_OK) return 0;
  uint64_t lo = si->State.FirstSeq, hi = si->State.LastSeq + 1;
  jsStreamInfo_Destroy(si);
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    int64_t p = position_at(js, stream, mid);
    if (p < 0) { /* a deleted sequence: look just after it */
      for (uint64_t s = mid + 1; s < hi && (p = position_at(js, stream, s)) < 0;) s++;
      if (p < 0) p = INT64_MAX;
    }
    if (p >= position)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* ---- one message ---- */

/* Handles one message: 0, or -1 on a gap (a position after last_pos + 1
 * on a whole-stream consumer: JetStream lost messages, or the consumer's
 * place is past messages the relay published again after a server
 * restart). On a gap the message is neither printed nor acknowledged. */
static int handle(natsMsg *m, const options *o) {
  const char *id = "", *pos = "0";
  natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
  natsMsgHeader_Get(m, "Sf-Position", &pos);
  jsMsgMetaData *meta = NULL;
  uint64_t seq = 0, delivered = 0;
  if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
    seq = meta->Sequence.Stream;
    delivered = meta->NumDelivered;
    jsMsgMetaData_Destroy(meta);
  }
  int64_t position = strtoll(pos, NULL, 10);
  if (o->whole && follow.last_pos > 0 && position > follow.last_pos + 1 && seq == follow.reread_seq)
    fprintf(stderr, "nats_consumer: the stream does not hold positions %lld to %lld: going on\n",
            (long long)follow.last_pos + 1, (long long)position - 1);
  else if (o->whole && follow.last_pos > 0 && position > follow.last_pos + 1) {
    fprintf(stderr, "nats_consumer: gap: position %lld (seq %llu) after %lld: re-reading\n", (long long)position,
            (unsigned long long)seq, (long long)follow.last_pos);
    return -1;
  }
  if (position > follow.last_pos) follow.last_pos = position, follow.last_seq = seq;
  int dup = seen_before(id);
  if (!dup || o->raw)
    printf("{\"seq\":%llu,\"position\":%s,\"id\":\"%s\",\"subject\":\"%s\",\"delivered\":%llu,\"duplicate\":%s,"
           "\"event\":%.*s}\n",
           (unsigned long long)seq, pos, id, natsMsg_GetSubject(m), (unsigned long long)delivered,
           dup ? "true" : "false", natsMsg_GetDataLength(m), natsMsg_GetData(m));
  fflush(stdout);
  natsMsg_Ack(m, NULL); /* after the effect (printing): a crash before it means a redelivery, deduped */
  return 0;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse(int argc, char **argv, options *o) {
  *o = (options){"nats://127.0.0.1:4222", "SERVICEFLOW", "sf.>", NULL, 0, 0, 0, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--raw") == 0) {
      o->raw = 1;
      continue;
    }
    if (!v) return -1;
    i++;
    if (strcmp(a, "--url") == 0)
      o->url = v;
    else if (strcmp(a, "--stream") == 0)
      o->stream = v;
    else if (strcmp(a, "--subject") == 0)
      o->subject = v;
    else if (strcmp(a, "--durable") == 0)
      o->durable = v;
    else if (strcmp(a, "--start-position") == 0)
      o->start_position = strtoll(v, NULL, 10);
    else if (strcmp(a, "--start-seq") == 0)
      o->start_seq = strtoull(v, NULL, 10);
    else if (strcmp(a, "--idle-exit") == 0)
      o->idle_exit_ms = atoi(v);
    else
      return -1;
  }
  return 0;
}

static natsStatus connect_all(const options *o, natsConnection **nc, jsCtx **js) {
  natsOptions *no = NULL;
  natsStatus s = natsOptions_Create(&no);
  if (s == NATS_OK) s = natsOptions_SetURL(no, o->url);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(no, -1); /* follow the server through restarts */
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(no, 250);
  if (s == NATS_OK) s = natsConnection_Connect(nc, no);
  if (s == NATS_OK) s = natsConnection_JetStream(js, *nc, NULL);
  natsOptions_Destroy(no);
  return s;
}

/* A pull subscription on the stream: bound to the durable consumer when
 * it exists (it keeps its place), else a new one from the start options.
 * Also learns whether the subject is the whole stream's. */
static int subscribe(jsCtx *js, options *o, natsSubscription **sub) {
  jsStreamInfo *si = NULL;
  if (js_GetStreamInfo(&si, js, o->stream, NULL, NULL) == NATS_OK) {
    o->whole = si->Config && si->Config->SubjectsLen == 1 && strcmp(si->Config->Subjects[0], o->subject) == 0;
    jsStreamInfo_Destroy(si);
  }
  if (o->start_position > 0) {
    uint64_t seq = seq_of_position(js, o->stream, o->start_position);
    if (seq == 0) return -1; /* the server does not answer: the caller tries again */
    o->start_seq = seq;
    o->start_position = 0; /* looked up once */
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = o->stream;
  if (o->start_seq > 0) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = o->start_seq;
  }
  jsErrCode jerr = 0;
  natsStatus s = js_PullSubscribe(sub, js, o->subject, o->durable, NULL, &so, &jerr);
  if (s == NATS_OK) return 0;
  fprintf(stderr, "nats_consumer: subscribe: %s (jetstream error %d)\n", natsStatus_GetText(s), (int)jerr);
  *sub = NULL;
  return -1;
}

/* Re-reads from the position after the last one handled: the consumer
 * is deleted and made again there (what comes twice is deduped by id). */
static int reposition(jsCtx *js, options *o, natsSubscription **sub) {
  if (*sub) natsSubscription_Unsubscribe(*sub); /* deletes a consumer this run created */
  natsSubscription_Destroy(*sub);
  *sub = NULL;
  if (o->durable) js_DeleteConsumer(js, o->stream, o->durable, NULL, NULL);
  o->start_position = follow.last_pos + 1;
  o->start_seq = 0;
  follow.idle_behind = 0;
  int rc = subscribe(js, o, sub);
  follow.reread_seq = rc == 0 ? o->start_seq : 0;
  return rc;
}

/* Checked when a fetch brings nothing: does the stream hold what this
 * consumer will not be sent? Either the stream lost the message at the
 * last sequence handled (a server restart; any consumer can see that), or,
 * for a whole-stream consumer, the stream's last position stays ahead of
 * the last one handled (its place is past messages the relay published
 * again, and nothing later arrived to show the gap). */
static int behind(jsCtx *js, const options *o) {
  if (follow.last_pos == 0) return 0;
  jsStreamInfo *si = NULL;
  if (js_GetStreamInfo(&si, js, o->stream, NULL, NULL) != NATS_OK) return 0;
  uint64_t last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  if (last < follow.last_seq || position_at(js, o->stream, follow.last_seq) != follow.last_pos) {
    fprintf(stderr, "nats_consumer: the stream lost seq %llu (position %lld): re-reading\n",
            (unsigned long long)follow.last_seq, (long long)follow.last_pos);
    return 1;
  }
  if (!o->whole) return 0;
  follow.idle_behind = position_at(js, o->stream, last) > follow.last_pos ? follow.idle_behind + 1 : 0;
  if (follow.idle_behind < 2) return 0; /* twice in a row: not a message just published */
  fprintf(stderr, "nats_consumer: the stream is past position %lld and nothing comes: re-reading\n",
          (long long)follow.last_pos);
  return 1;
}

int main(int argc, char **argv) {
  options o;
  if (parse(argc, argv, &o)) {
    fprintf(stderr,
            "usage: %s [--url U] [--stream S] [--subject SUBJ] [--durable NAME] [--start-position N]"
            " [--start-seq N] [--idle-exit MS] [--raw]\n",
            argv[0]);
    return 2;
  }
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  natsSubscription *sub = NULL;
  natsStatus s = connect_all(&o, &nc, &js);
  if (s != NATS_OK || subscribe(js, &o, &sub)) {
    fprintf(stderr, "nats_consumer: cannot connect to %s: %s\n", o.url, natsStatus_GetText(s));
    return 1;
  }
  int64_t last = now_ms();
  int failures = 0;
  for (;;) {
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    s = sub ? natsSubscription_Fetch(&list, sub, 64, 500, &jerr) : NATS_INVALID_SUBSCRIPTION;
    int gap = 0;
    for (int i = 0; i < list.Count && !gap; i++) gap = handle(list.Msgs[i], &o);
    if (list.Count) last = now_ms();
    natsMsgList_Destroy(&list); /* after a gap, the rest goes unacknowledged with the old consumer */
    if (o.idle_exit_ms > 0 && now_ms() - last >= o.idle_exit_ms) break;
    if (gap || (s == NATS_TIMEOUT && behind(js, &o))) {
      reposition(js, &o, &sub);
      continue;
    }
    if (s == NATS_OK || s == NATS_TIMEOUT) {
      failures = 0;
      continue;
    }
    /* the server is restarting (nats.c reconnects by itself); after a while
     * subscribe again, in case the consumer did not survive the restart: from
     * the position after the last one handled (else from the start options) */
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL);
    if (++failures % 10 == 0) {
      fprintf(stderr, "nats_consumer: fetch: %s (%d in a row): subscribing again\n", natsStatus_GetText(s), failures);
      if (follow.last_pos > 0) {
        reposition(js, &o, &sub);
        continue;
      }
      natsSubscription_Destroy(sub);
      sub = NULL;
      subscribe(js, &o, &sub);
    }
  }
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  nats_Close();
  return 0;
}
