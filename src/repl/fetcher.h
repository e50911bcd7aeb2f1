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

struct repl_node;
struct fetcher;

int fetcher_create(struct repl_node *node, struct fetcher **out, struct err *e);
/* Starts pulling from host_port (stopping any current source); NULL stops. */
void fetcher_set_source(struct fetcher *f, const char *host_port);
/* Sends replSetUpdatePosition with the core's position entries to the source. */
void fetcher_report_position(struct fetcher *f);
void fetcher_destroy(struct fetcher *f);

#endif
