/* The event chain's head, anchored outside the table it protects.
 *
 * The hash chain shows an event altered or removed in the middle of the log,
 * but not the newest events removed: a shorter chain is as valid as a longer
 * one. The anchor file (<data_dir>/events.head, one line
 * "v1 <position> <hash>") records a head the log once reached; a log that
 * ends before that position, or holds a different event there, was
 * truncated or rewritten (or restored from an older backup).
 *
 * What it guarantees: the server anchors the head at start, at most once a
 * second while events are appended, and at a clean stop (the exact head).
 * CLI commands (seed, user create) do not: beside a running server they
 * would see its commits before they are durable; their events are anchored
 * when the server next runs. Only durable positions are anchored, so a
 * crash never leaves the anchor ahead of the log; deleting any event at or
 * below the anchored position is detected, the events appended since the
 * last anchor (about a second's worth after a kill -9 or a power loss) are
 * not. A write is tmp file + fsync + rename: a crash leaves the old anchor
 * or the new one. Costs: one indexed read a second on the main thread, and
 * two fsyncs (file, directory) in a second with appends.
 *
 * Against whom: changes made to the database alone (a sqlite3 shell, a file
 * copied or restored over it, someone with database access but not the data
 * directory). Whoever can write the data directory can rewrite both; the
 * server also logs each anchor at start and stop ("events anchored"), so a
 * log kept elsewhere holds the head too. A keyed MAC in the database would
 * not help: an attacker who keeps an old (head, MAC) row can put it back
 * after truncating, and the key would live in the same directory.
 *
 * Thread: any; each call uses the connection it is given. */
#ifndef SF_EVENTS_ANCHOR_H
#define SF_EVENTS_ANCHOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

/* <data_dir>/events.head (cap >= 600). */
void sf_ev_anchor_path(const char *data_dir, char *out, size_t cap);

/* 0 = read, 1 = there is no anchor file, <0 = unreadable (err names it). */
int sf_ev_anchor_read(const char *path, int64_t *position, char hash[65], sf_err *err);

/* Does db's log reach the anchor with the same event there? 0 = yes, or no
 * anchor (*anchored = -1); <0 = events missing or different, err (status
 * 500, type "chain-truncated") says which. Call inside a read transaction
 * when the log may be growing. */
int sf_ev_anchor_check(sf_db *db, const char *path, int64_t *anchored, sf_err *err);

/* Anchors db's current head if it is past the last one this process wrote:
 * reads the head, waits until it is durable (sf_writer_barrier), writes.
 * *position (optional) is the head anchored. */
int sf_ev_anchor_update(sf_db *db, const char *path, int64_t *position, sf_err *err);

#endif
