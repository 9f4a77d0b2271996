#ifndef SF_STORE_WAL_VFS_H
#define SF_STORE_WAL_VFS_H

#define SF_WAL_VFS_NAME "sf-wal"

/* Registers (once) the WAL write-coalescing VFS shim and returns its name, or
 * NULL when the default VFS cannot be wrapped (then use the default). Only for
 * connections that run with synchronous=FULL. */
const char *sf_wal_vfs(void);

#endif
