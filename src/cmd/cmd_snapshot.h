/* cmd_snapshot.h - the tallySnapshot command and its cursor.
 *
 * {tallySnapshot: 1, chunkBytes?: 64 KiB..16 MiB (default 4 MiB), $db: "admin"}
 * answers {cursor: {id, ns: "admin.$snapshot", firstBatch: [{meta: {format:
 * "tally-lmdb-1", optime: {ts, t}, wall, setName, host, dataSize}}]}}; each
 * getMore {getMore: id, collection: "$snapshot"} returns chunks {seq, data:
 * BinData} of the compacted LMDB environment, and the last batch ends with
 * {end: true, bytes, sha256} and cursor id 0 (storage/snapshot.h). These
 * cursors live in their own registry: getMore and killCursors on
 * "$snapshot" come here (cmd_cursor.c asks first). A closed connection, a
 * killCursors or 10 idle minutes stop the copy. */
#ifndef TALLY_CMD_SNAPSHOT_H
#define TALLY_CMD_SNAPSHOT_H

#include "cmd/cmd.h"

#include <stdbool.h>

/* The ns tail every snapshot cursor reports, and getMore names. */
#define CMD_SNAPSHOT_COLL "$snapshot"

/* Whether the getMore / killCursors in ctx names the "$snapshot" collection
 * (then cmd_snapshot_get_more / cmd_snapshot_kill_cursors answer it). */
bool cmd_snapshot_is_get_more(const struct cmd_ctx *ctx);
bool cmd_snapshot_is_kill_cursors(const struct cmd_ctx *ctx);
/* READ thread (blocks while the copy produces the next chunk). */
int cmd_snapshot_get_more(struct cmd_ctx *ctx);
int cmd_snapshot_kill_cursors(struct cmd_ctx *ctx);
/* Shutdown (loop thread, before the store closes): stops every copy not in
 * a getMore right now and marks the others to stop when it ends. */
void cmd_snapshot_shutdown(void);

#endif
