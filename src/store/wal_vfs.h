#ifndef SF_STORE_WAL_VFS_H
#define SF_STORE_WAL_VFS_H

#define SF_WAL_VFS_NAME "sf-wal"

/* Registers (once) the WAL write-coalescing VFS shim and returns its name, or
 * NULL when the default VFS cannot be wrapped (then use the default). Only for
 * the connection that writes. */
const char *sf_wal_vfs(void);

/* fdatasync()s every WAL opened through the shim. 0 on success; -1 if a sync
 * failed or no WAL is open (nothing could have been made durable). May run on
 * any thread, concurrently with the writer's writes: frames written before
 * the call are on disk when it returns 0. */
int sf_wal_vfs_sync(void);

#endif
