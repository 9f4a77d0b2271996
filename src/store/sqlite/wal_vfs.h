#ifndef SF_STORE_WAL_VFS_H
#define SF_STORE_WAL_VFS_H

#define SF_WAL_VFS_NAME "sf-wal"
#define SF_WAL_VFS_SYNCED_NAME "sf-wal-synced"

/* Registers (once) the WAL write-coalescing VFS shim and returns its name, or
 * NULL when the default VFS cannot be wrapped (then use the default). For
 * connections that write. */
const char *sf_wal_vfs(void);
/* The same shim, and the WALs opened through it are the ones
 * sf_wal_vfs_sync() syncs: for the writer's connection only. */
const char *sf_wal_vfs_synced(void);

/* fdatasync()s every WAL opened through sf_wal_vfs_synced(). 0 on success;
 * -1 if a sync failed or none is open (nothing could have been made
 * durable). May run on any thread, concurrently with the writer: every
 * commit whose COMMIT had returned before the call is on disk when it
 * returns 0 (the shim writes a commit out before COMMIT returns). */
int sf_wal_vfs_sync(void);

#endif
