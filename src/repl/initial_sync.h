/* initial_sync.h - snapshot-based initial sync and resync.
 *
 * A member in STARTUP2 without data (or with the "initial sync pending"
 * marker) streams a tallySnapshot of its sync source into
 * <dbpath>/initialsync/data.mdb, checks its length and SHA-256, fsyncs it and
 * writes initialsync/READY; then the process shuts down cleanly and re-execs
 * itself. At startup, before the store opens, initial_sync_prepare_dbpath
 * finishes a READY copy: it carries this member's own identity over (term,
 * LastVote, a newer config, a new rollback id; the source's minValid and
 * truncate point are dropped), renames it over data.mdb and removes the
 * markers; an unfinished copy is deleted, and the pending marker makes the
 * member start over. The member then comes up SECONDARY holding everything up
 * to the snapshot's optime and fetches the oplog from there.
 *
 * Files in the data directory:
 *   initialsync.pending   - a sync must run (created first, removed after the swap)
 *   initialsync/data.mdb  - the copy being received
 *   initialsync/READY     - the copy is complete, verified and durable
 * Loop thread only, except initial_sync_prepare_dbpath (startup, no loop). */
#ifndef TALLY_INITIAL_SYNC_H
#define TALLY_INITIAL_SYNC_H

#include "core/err.h"
#include "core/optime.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct server;
struct initial_sync;

/* Startup, before store_open: completes or discards an earlier initial sync's
 * files (see above). 0, or a negative error when a file operation failed. */
int initial_sync_prepare_dbpath(const char *dbpath, struct err *e);
/* Whether dbpath carries the pending marker. */
bool initial_sync_is_pending(const char *dbpath);
/* Creates the pending marker durably (fsync of file and directory). */
int initial_sync_mark_pending(const char *dbpath, struct err *e);

/* The attempt ended: rc 0 means the copy is READY and the server is shutting
 * down to re-exec; rc < 0 with e (borrowed) says why it failed. Not called
 * after initial_sync_cancel. */
typedef void (*initial_sync_done_cb)(void *arg, int rc, const struct err *e);

/* Starts one attempt from source ("host:port"). *out owned until the done
 * callback or initial_sync_cancel. */
int initial_sync_start(struct server *srv, const char *source, initial_sync_done_cb cb, void *arg,
                       struct initial_sync **out, struct err *e);
/* Stops an attempt (its callback is not called); frees it once its file I/O ends. */
void initial_sync_cancel(struct initial_sync *is);

/* Counters a member keeps across attempts, for replSetGetStatus. */
struct initial_sync_stats {
    int n_failed;
    int64_t first_start_ms;  /* wall ms of the first attempt (0: none yet) */
    char last_error[200];
};

/* replSetGetStatus: initialSyncStatus {failedInitialSyncAttempts,
 * maxFailedInitialSyncAttempts, initialSyncStart, totalInitialSyncElapsedMillis,
 * initialSyncAttempts, approxTotalDataSize, approxTotalBytesCopied, syncSource,
 * snapshotOptime}. is (the running attempt) is nullable. */
void initial_sync_append_status(const struct initial_sync *is, const struct initial_sync_stats *stats,
                                bson_t *reply);

/* Whether a finished copy asked the process to re-exec after shutdown (main.c). */
bool initial_sync_is_reexec_requested(void);

/* The {resync: 1} command: marks the sync pending and starts it now on a
 * member that is not primary (NotYetInitialized / IllegalOperation else). */
int initial_sync_request_resync(struct server *srv, struct err *e);

#endif
