#include "events/anchor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/writer.h"

#define LINE_MAX_LEN 128

/* The highest position this process anchored: the file only moves forward
 * from here (another process may still write an older head: the anchor then
 * lags, which is allowed). */
static struct {
  pthread_mutex_t mu;
  int64_t written;
  char path[600]; /* the file "written" is about */
} anchor_state = {.mu = PTHREAD_MUTEX_INITIALIZER, .written = -1};

void sf_ev_anchor_path(const char *data_dir, char *out, size_t cap) { snprintf(out, cap, "%s/events.head", data_dir); }

static int is_hex64(const char *s) {
  if (strlen(s) != 64) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static int unreadable(const char *path, const char *why, sf_err *err) {
  return sf_err_set(err, 500, "chain-anchor", "Event log anchor damaged",
                    "%s %s: restore it from a backup, or delete it to anchor "
                    "the log as it stands"
                    " (truncation before now then goes unnoticed)",
                    path, why);
}

int sf_ev_anchor_read(const char *path, int64_t *position, char hash[65], sf_err *err) {
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 1 : unreadable(path, strerror(errno), err);
  char line[LINE_MAX_LEN] = {0}, h[LINE_MAX_LEN] = {0};
  long long pos = -1;
  int ok = fgets(line, sizeof line, f) && sscanf(line, "v1 %lld %127s", &pos, h) == 2 && pos >= 0 && is_hex64(h);
  fclose(f);
  if (!ok) return unreadable(path, "is not \"v1 <position> <hash>\"", err);
  *position = pos;
  memcpy(hash, h, 65);
  return 0;
}

/* Head of the log: position 0 and an empty hash when there are no events. */
static int read_head(sf_db *db, int64_t *position, char hash[65], sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1", err);
  if (!st) return -1;
  int rc = sf_stmt_step(st, err);
  *position = rc == 1 ? sf_stmt_col_int(st, 0) : 0;
  snprintf(hash, 65, "%s", rc == 1 && sf_stmt_col_text(st, 1) ? sf_stmt_col_text(st, 1) : "");
  sf_stmt_reset(st);
  return rc < 0 ? rc : 0;
}

/* 1 = found (hash filled), 0 = no event there. */
static int hash_at(sf_db *db, int64_t position, char hash[65], sf_err *err) {
  sf_stmt *st = sf_db_prepare(db, "SELECT hash FROM events WHERE position = ?", err);
  if (!st) return -1;
  sf_stmt_int(st, 1, position);
  int rc = sf_stmt_step(st, err);
  if (rc == 1) snprintf(hash, 65, "%s", sf_stmt_col_text(st, 0) ? sf_stmt_col_text(st, 0) : "");
  sf_stmt_reset(st);
  return rc;
}

int sf_ev_anchor_check(sf_db *db, const char *path, int64_t *anchored, sf_err *err) {
  const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path; /* details stay short */
  char want[65], have[65], head_hash[65];
  int64_t pos = -1, head = 0;
  *anchored = -1;
  int rc = sf_ev_anchor_read(path, &pos, want, err);
  if (rc) return rc > 0 ? 0 : -1;
  *anchored = pos;
  if (pos == 0) return 0;
  if (read_head(db, &head, head_hash, err)) return -1;
  if (head < pos)
    return sf_err_set(err, 500, "chain-truncated", "Event log truncated",
                      "events missing: the log ends at position %" PRId64 " but %s anchors position %" PRId64
                      " (the newest %" PRId64 " events were deleted, or the database was restored from an"
                      " older backup)",
                      head, name, pos, pos - head);
  if ((rc = hash_at(db, pos, have, err)) < 0) return -1;
  if (rc == 0)
    return sf_err_set(err, 500, "chain-truncated", "Event log truncated",
                      "event %" PRId64 " anchored in %s is missing from the log", pos, name);
  if (strcmp(have, want) != 0)
    return sf_err_set(err, 500, "chain-truncated", "Event log rewritten",
                      "event %" PRId64 " differs from the one anchored in %s: the log was rewritten", pos, name);
  return 0;
}

static void sync_dir_of(const char *path) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else
    slash[slash == dir] = '\0'; /* "/x" keeps "/" */
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* tmp + fsync + rename: a reader (or a crash) sees the old line or the new. */
static int write_file(const char *path, int64_t position, const char *hash, sf_err *err) {
  char tmp[640], line[LINE_MAX_LEN];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  int n = snprintf(line, sizeof line, "v1 %" PRId64 " %s\n", position, hash);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  int ok = fd >= 0 && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
  int saved = errno;
  if (fd >= 0) ok = close(fd) == 0 && ok;
  if (ok && rename(tmp, path) != 0) ok = 0, saved = errno;
  if (!ok) {
    unlink(tmp);
    return sf_err_internal(err, "cannot write %s: %s", path, strerror(saved));
  }
  sync_dir_of(path);
  return 0;
}

int sf_ev_anchor_update(sf_db *db, const char *path, int64_t *position, sf_err *err) {
  int64_t head = 0;
  char hash[65];
  if (read_head(db, &head, hash, err)) return -1;
  if (position) *position = head;
  pthread_mutex_lock(&anchor_state.mu);
  int rc = 0;
  if (strcmp(anchor_state.path, path) != 0) {
    snprintf(anchor_state.path, sizeof anchor_state.path, "%s", path);
    anchor_state.written = -1;
  }
  if (head > 0 && head > anchor_state.written) {
    sf_writer_barrier(); /* anchor only what is on disk */
    rc = write_file(path, head, hash, err);
    anchor_state.written = rc ? -1 : head;
  }
  pthread_mutex_unlock(&anchor_state.mu);
  return rc;
}
