/* fetcher.h - a secondary's pull of the oplog, and the applier behind it.
 *
 * The fetcher keeps a tailable, await-data cursor on the sync source's
 * local.oplog.rs (its own peer connection, so long polls never delay
 * heartbeats). The first batch must start with our newest entry (same ts and
 * term); otherwise the member has diverged and rolls back to the common point
 * (undo records, rollback/ files), or is too stale (RECOVERING). Each batch is
 * applied with the oplog entries written in the same writer transaction
 * (change hook off), then the node hears REPL_EV_OPTIMES and the reporter sends
 * replSetUpdatePosition upstream. Commit point and term travel back in each
 * reply's $replData (REPL_EV_SYNC_SOURCE_META). Loop thread only. */
#ifndef TALLY_FETCHER_H
#define TALLY_FETCHER_H

#include "core/err.h"

#include <bson/bson.h>

#include <stdbool.h>

struct repl_node;
struct fetcher;

int fetcher_create(struct repl_node *node, struct fetcher **out, struct err *e);
/* Starts pulling from host_port (stopping any current source); NULL stops. */
void fetcher_set_source(struct fetcher *f, const char *host_port);
/* Sends replSetUpdatePosition with the core's position entries to the source. */
void fetcher_report_position(struct fetcher *f);
void fetcher_destroy(struct fetcher *f);
/* {resync: 1}: marks the initial sync pending and starts it from the current
 * source (or the next one chosen). ERR_OPERATION_FAILED while a batch or a
 * rollback runs (retry). */
int fetcher_resync(struct fetcher *f, struct err *e);
/* replSetGetStatus: initialSyncStatus while an initial sync runs or failed. */
void fetcher_append_initial_sync_status(const struct fetcher *f, bson_t *reply);
/* True while the member fell off the end of its source's oplog (our newest
 * entry is older than the source's oldest): it stays RECOVERING and
 * replSetGetStatus shows tooStale: true until a source that still holds our
 * newest entry is found or the member is resynced. f may be NULL. */
bool fetcher_is_too_stale(const struct fetcher *f);

#endif
