/* A VFS shim that turns SQLite's many small WAL writes into few large ones,
 * and lets another thread make the WAL durable.
 *
 * SQLite appends a commit to the WAL as two pwrite() calls per page (a 24-byte
 * frame header, then the page), so a group commit that dirties 40 pages costs
 * 80 system calls. On virtual machines a system call is expensive, and the
 * writer thread spent a fifth of its time in pwrite.
 *
 * This shim wraps the default VFS. Files other than WALs pass through
 * untouched (the real file object is handed back as is). For a WAL, writes
 * that continue the previous one are collected in a buffer and written with
 * one call when anything else happens (a write elsewhere, a read, a size
 * query, a truncate, a sync, a file-control or close) and at the end of a
 * commit: a frame header whose "database size" field is not zero belongs to
 * the last frame of a transaction, and SQLite publishes the commit in the
 * wal-index only after the writes that follow it (see w_write for the two
 * ways a commit ends). So whatever the synchronous setting, every frame a
 * reader can be told about, and the whole commit an fsync is asked to make
 * durable, is in the file (the page cache) before COMMIT returns; order
 * between writes and syncs is kept. (A WAL whose database file lacks
 * powersafe overwrite is written straight through: SQLite then pads each
 * commit and writes the end of a frame after the sync in its middle.) Write connections use the shim; other
 * connections read the WAL through their own handles.
 *
 * Pipelined commits (store/writer.c) run the writer with synchronous=NORMAL,
 * under which SQLite does not sync the WAL at commit (it still syncs it
 * before every checkpoint). The writer's sync thread calls sf_wal_vfs_sync(),
 * which fdatasync()s every WAL the shim has open through a descriptor of its
 * own (fsync flushes the file, whichever descriptor wrote the pages); a
 * commit is acknowledged only after a sync that started after its frames
 * were written. */
#include "store/sqlite/wal_vfs.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The unix VFS writes at most 0x1ffff bytes per pwrite() call (it masks the
 * length with 0x1ffff) and reports a write it cannot finish as SQLITE_FULL,
 * so one flush must stay below 128 KiB: 31 WAL frames of 4 KiB pages. */
#define WAL_BUF_CAP 0x1ffff

#define WAL_FRAME_HDR 24 /* SQLite's WAL_FRAME_HDRSIZE */

typedef struct wal_file wal_file;
struct wal_file {
  sqlite3_file base;  /* our methods */
  sqlite3_file *real; /* the wrapped file, stored right after this struct */
  char *buf;
  sqlite3_int64 buf_off;
  int buf_len;
  int commit_page_next;   /* the last header written was a commit frame's */
  sqlite3_int64 last_end; /* end of the last write, -1 after a read */
  int write_through;      /* no powersafe overwrite: SQLite pads commits, splitting frames at a sync */
  int sync_fd;            /* our own descriptor of the file, for sf_wal_vfs_sync */
  wal_file *next_open;    /* registry of open WALs */
};

/* The shim's registration and its registry of open WALs. */
static struct wal_vfs_state {
  pthread_mutex_t open_mu;
  wal_file *open;              /* open WALs of the synced VFS (sf_wal_vfs_sync) */
  sqlite3_vfs vfs, vfs_synced; /* the second registers its WALs for sf_wal_vfs_sync */
  sqlite3_vfs *real;           /* the default VFS underneath */
  sqlite3_io_methods methods;
  int rc; /* of the registration */
  pthread_once_t once;
} shim = {.open_mu = PTHREAD_MUTEX_INITIALIZER, .rc = SQLITE_ERROR, .once = PTHREAD_ONCE_INIT};

static int flush(wal_file *f) {
  if (f->buf_len == 0) return SQLITE_OK;
  int rc = f->real->pMethods->xWrite(f->real, f->buf, f->buf_len, f->buf_off);
  f->buf_len = 0;
  return rc;
}

static int w_close(sqlite3_file *pf) {
  wal_file *f = (wal_file *)pf;
  pthread_mutex_lock(&shim.open_mu);
  for (wal_file **pp = &shim.open; *pp; pp = &(*pp)->next_open)
    if (*pp == f) {
      *pp = f->next_open;
      break;
    }
  pthread_mutex_unlock(&shim.open_mu);
  if (f->sync_fd >= 0) close(f->sync_fd);
  f->sync_fd = -1;
  int rc = flush(f);
  int rc2 = f->real->pMethods->xClose(f->real);
  free(f->buf);
  f->buf = NULL;
  return rc != SQLITE_OK ? rc : rc2;
}

static int w_read(sqlite3_file *pf, void *out, int amt, sqlite3_int64 off) {
  wal_file *f = (wal_file *)pf;
  int rc = flush(f);
  f->last_end = -1;
  return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

static int buffer(wal_file *f, const void *data, int amt, sqlite3_int64 off) {
  if (f->buf_len > 0 && off == f->buf_off + f->buf_len && f->buf_len + amt <= WAL_BUF_CAP) {
    memcpy(f->buf + f->buf_len, data, (size_t)amt);
    f->buf_len += amt;
    return SQLITE_OK;
  }
  int rc = flush(f);
  if (rc != SQLITE_OK) return rc;
  if (amt >= WAL_BUF_CAP) return f->real->pMethods->xWrite(f->real, data, amt, off);
  memcpy(f->buf, data, (size_t)amt);
  f->buf_off = off;
  f->buf_len = amt;
  return SQLITE_OK;
}

/* The end of a commit. Appending, SQLite writes the commit frame's header
 * and then its page, right after the frames before it: the buffer is
 * written after that page. But a transaction that overwrote spilled frames
 * ends by rewriting the checksums of the frames from the first overwritten
 * one on, header by header (each after a read, so each starts a new run),
 * the commit frame's last, with no page after it: a commit-frame header that
 * does not continue the buffered run is written at once. */
static int w_write(sqlite3_file *pf, const void *data, int amt, sqlite3_int64 off) {
  wal_file *f = (wal_file *)pf;
  if (f->write_through) return f->real->pMethods->xWrite(f->real, data, amt, off);
  int commit_page = f->commit_page_next;
  /* bytes 4-7 of a frame header: the database size after a commit, else 0 */
  const unsigned char *h = data;
  int commit_header = amt == WAL_FRAME_HDR && (h[4] | h[5] | h[6] | h[7]) != 0;
  int continues = off == f->last_end;
  f->last_end = off + amt;
  f->commit_page_next = commit_header;
  int rc = buffer(f, data, amt, off);
  if (rc != SQLITE_OK) return rc;
  return commit_page || (commit_header && !continues) ? flush(f) : SQLITE_OK;
}

static int w_truncate(sqlite3_file *pf, sqlite3_int64 size) {
  wal_file *f = (wal_file *)pf;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int w_sync(sqlite3_file *pf, int flags) {
  wal_file *f = (wal_file *)pf;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int w_file_size(sqlite3_file *pf, sqlite3_int64 *size) {
  wal_file *f = (wal_file *)pf;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int w_lock(sqlite3_file *pf, int level) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xLock(f->real, level);
}

static int w_unlock(sqlite3_file *pf, int level) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xUnlock(f->real, level);
}

static int w_check_reserved(sqlite3_file *pf, int *out) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int w_file_control(sqlite3_file *pf, int op, void *arg) {
  wal_file *f = (wal_file *)pf;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int w_sector_size(sqlite3_file *pf) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xSectorSize(f->real);
}

static int w_device_characteristics(sqlite3_file *pf) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* A WAL file is never memory-mapped or used for shared memory; the methods
 * are still forwarded so that the shim is transparent. */
static int w_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend, void volatile **pp) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int w_shm_lock(sqlite3_file *pf, int offset, int n, int flags) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void w_shm_barrier(sqlite3_file *pf) {
  wal_file *f = (wal_file *)pf;
  f->real->pMethods->xShmBarrier(f->real);
}

static int w_shm_unmap(sqlite3_file *pf, int del) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xShmUnmap(f->real, del);
}

static int w_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp) {
  wal_file *f = (wal_file *)pf;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, amt, pp);
}

static int w_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p) {
  wal_file *f = (wal_file *)pf;
  return f->real->pMethods->xUnfetch(f->real, off, p);
}

static int v_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf, int flags, int *out_flags) {
  if (!(flags & SQLITE_OPEN_WAL)) return shim.real->xOpen(shim.real, name, pf, flags, out_flags);
  wal_file *f = (wal_file *)pf;
  memset(f, 0, sizeof *f);
  f->sync_fd = -1;
  f->real = (sqlite3_file *)(f + 1);
  f->buf = malloc(WAL_BUF_CAP);
  if (!f->buf) return SQLITE_NOMEM;
  int rc = shim.real->xOpen(shim.real, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    free(f->buf);
    f->buf = NULL;
    return rc; /* pMethods stays NULL: SQLite will not call xClose */
  }
  if (f->real->pMethods->iVersion < 3) {
    f->real->pMethods->xClose(f->real);
    free(f->buf);
    f->buf = NULL;
    return SQLITE_CANTOPEN;
  }
  f->base.pMethods = &shim.methods;
  f->last_end = -1;
  /* SQLite pads commits (splitting the last frame at a sync) when the
   * database file lacks powersafe overwrite (walOpen asks the db file) */
  sqlite3_file *dbf = sqlite3_database_file_object(name);
  f->write_through =
      dbf && dbf->pMethods && !(dbf->pMethods->xDeviceCharacteristics(dbf) & SQLITE_IOCAP_POWERSAFE_OVERWRITE);
  if (vfs != &shim.vfs_synced) return SQLITE_OK;
  f->sync_fd = open(name, O_RDONLY | O_CLOEXEC);
  if (f->sync_fd < 0) {
    f->base.pMethods = NULL;
    f->real->pMethods->xClose(f->real);
    free(f->buf);
    f->buf = NULL;
    return SQLITE_CANTOPEN;
  }
  pthread_mutex_lock(&shim.open_mu);
  f->next_open = shim.open;
  shim.open = f;
  pthread_mutex_unlock(&shim.open_mu);
  return SQLITE_OK;
}

int sf_wal_vfs_sync(void) {
  int rc = 0, n = 0;
  pthread_mutex_lock(&shim.open_mu);
  for (wal_file *f = shim.open; f; f = f->next_open, n++)
    if (fdatasync(f->sync_fd) != 0) rc = -1;
  pthread_mutex_unlock(&shim.open_mu);
  return n ? rc : -1;
}

/* Everything but xOpen goes straight to the real VFS. */
static int v_delete(sqlite3_vfs *v, const char *n, int s) {
  (void)v;
  return shim.real->xDelete(shim.real, n, s);
}
static int v_access(sqlite3_vfs *v, const char *n, int f, int *o) {
  (void)v;
  return shim.real->xAccess(shim.real, n, f, o);
}
static int v_full(sqlite3_vfs *v, const char *n, int c, char *o) {
  (void)v;
  return shim.real->xFullPathname(shim.real, n, c, o);
}
static void *v_dlopen(sqlite3_vfs *v, const char *n) {
  (void)v;
  return shim.real->xDlOpen(shim.real, n);
}
static void v_dlerror(sqlite3_vfs *v, int c, char *o) {
  (void)v;
  shim.real->xDlError(shim.real, c, o);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) {
  (void)v;
  return shim.real->xDlSym(shim.real, h, s);
}
static void v_dlclose(sqlite3_vfs *v, void *h) {
  (void)v;
  shim.real->xDlClose(shim.real, h);
}
static int v_random(sqlite3_vfs *v, int n, char *o) {
  (void)v;
  return shim.real->xRandomness(shim.real, n, o);
}
static int v_sleep(sqlite3_vfs *v, int us) {
  (void)v;
  return shim.real->xSleep(shim.real, us);
}
static int v_time(sqlite3_vfs *v, double *o) {
  (void)v;
  return shim.real->xCurrentTime(shim.real, o);
}
static int v_last_error(sqlite3_vfs *v, int c, char *o) {
  (void)v;
  return shim.real->xGetLastError(shim.real, c, o);
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *o) {
  (void)v;
  return shim.real->xCurrentTimeInt64(shim.real, o);
}

static void register_once(void) {
  shim.real = sqlite3_vfs_find(NULL);
  if (!shim.real || shim.real->iVersion < 2) return;
  shim.methods = (sqlite3_io_methods){.iVersion = 3,
                                      .xClose = w_close,
                                      .xRead = w_read,
                                      .xWrite = w_write,
                                      .xTruncate = w_truncate,
                                      .xSync = w_sync,
                                      .xFileSize = w_file_size,
                                      .xLock = w_lock,
                                      .xUnlock = w_unlock,
                                      .xCheckReservedLock = w_check_reserved,
                                      .xFileControl = w_file_control,
                                      .xSectorSize = w_sector_size,
                                      .xDeviceCharacteristics = w_device_characteristics,
                                      .xShmMap = w_shm_map,
                                      .xShmLock = w_shm_lock,
                                      .xShmBarrier = w_shm_barrier,
                                      .xShmUnmap = w_shm_unmap,
                                      .xFetch = w_fetch,
                                      .xUnfetch = w_unfetch};
  shim.vfs = (sqlite3_vfs){.iVersion = 2,
                           .szOsFile = (int)sizeof(wal_file) + shim.real->szOsFile,
                           .mxPathname = shim.real->mxPathname,
                           .zName = SF_WAL_VFS_NAME,
                           .xOpen = v_open,
                           .xDelete = v_delete,
                           .xAccess = v_access,
                           .xFullPathname = v_full,
                           .xDlOpen = v_dlopen,
                           .xDlError = v_dlerror,
                           .xDlSym = v_dlsym,
                           .xDlClose = v_dlclose,
                           .xRandomness = v_random,
                           .xSleep = v_sleep,
                           .xCurrentTime = v_time,
                           .xGetLastError = v_last_error,
                           .xCurrentTimeInt64 = v_time64};
  shim.vfs_synced = shim.vfs;
  shim.vfs_synced.zName = SF_WAL_VFS_SYNCED_NAME;
  shim.rc = sqlite3_vfs_register(&shim.vfs, 0);
  if (shim.rc == SQLITE_OK) shim.rc = sqlite3_vfs_register(&shim.vfs_synced, 0);
}

const char *sf_wal_vfs(void) {
  pthread_once(&shim.once, register_once);
  return shim.rc == SQLITE_OK ? SF_WAL_VFS_NAME : NULL;
}

const char *sf_wal_vfs_synced(void) {
  pthread_once(&shim.once, register_once);
  return shim.rc == SQLITE_OK ? SF_WAL_VFS_SYNCED_NAME : NULL;
}
