/* cursor.h - server-side cursors: the registry and batch filling.
 *
 * A cursor is what a find/aggregate/listCollections leaves behind when its
 * first batch did not hold every result. It keeps either a resumable scan
 * (matcher, projection, position in the collection) or a list of buffered
 * result documents (sorted finds, aggregation, listings), or both (a scan
 * whose next document did not fit in the previous batch).
 *
 * The registry is shared by all threads (one mutex). A getMore checks a
 * cursor out, so no other command can use or free it meanwhile, and checks it
 * back in (or releases it when exhausted). Cursors idle for more than
 * CURSOR_IDLE_TIMEOUT_MS are reaped (on each registry access and by
 * cursor_registry_reap, which the server may call periodically). */
#ifndef TALLY_CURSOR_H
#define TALLY_CURSOR_H

#include "cmd/cmd.h"
#include "cmd/exec.h"
#include "core/err.h"
#include "query/keyenc.h"
#include "query/match.h"
#include "query/project.h"
#include "storage/store.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#define CURSOR_IDLE_TIMEOUT_MS (10 * 60 * 1000)
/* A reply batch stops before its documents pass this many bytes (16 MiB
 * minus room for the reply envelope); a batch always holds at least one. */
#define CURSOR_BATCH_MAX_BYTES (16 * 1024 * 1024 - 16 * 1024)
#define CURSOR_NO_LIMIT INT64_MAX

struct cursor_registry;

struct cursor {
    int64_t id;       /* 0 until registered */
    char ns[300];     /* reported ns: "db.coll", "db.$cmd.listCollections" */
    char db[80];
    char coll[260];   /* what getMore's `collection` must equal */
    /* Resumable scan (has_scan): re-opened in each getMore's transaction. */
    bool has_scan;
    uint64_t coll_id;           /* the scanned collection's id (detects drop/recreate) */
    struct matcher *matcher;    /* owned */
    struct projection *proj;    /* owned, nullable */
    bool is_reverse;
    struct keybuf pos;          /* exec_scan_position of the last document examined */
    struct exec_seen *seen;     /* owned, nullable (multikey dedupe) */
    int64_t skip_left;
    /* Buffered results, returned before the scan continues. */
    bson_t **docs; /* owned copies */
    size_t n_docs, i_doc, cap_docs;
    int64_t limit_left; /* CURSOR_NO_LIMIT when none */
    bool is_tailable;
    bool is_await_data;
    bool is_no_timeout;
    /* Oplog cursors (cmd/oplog_read.c): getMore resumes from oplog_from
     * (inclusive or not) instead of a collection scan; oplog_hi bounds it. */
    bool is_oplog;
    bool is_oplog_from_inclusive;
    uint64_t oplog_from;
    uint64_t oplog_lo, oplog_hi; /* timestamp bounds taken from the filter (inclusive) */
    /* What a getMore verifies before resuming: the rollback id is unchanged
     * and (when oplog_from is an examined entry) that entry is still there
     * with its term. Otherwise CappedPositionLost: a tailing reader never
     * continues silently across a truncation onto another branch. */
    int32_t oplog_rbid;
    int64_t oplog_from_term;
    /* Registry state (under the registry mutex). */
    int64_t last_used_ms;
    bool is_in_use;
    bool is_killed;
    struct cursor *next;
};

struct cursor_registry *cursor_registry_create(void);
/* Frees every cursor (call when no command runs any more). */
void cursor_registry_destroy(struct cursor_registry *reg);

/* A blank cursor (owned; cursor_destroy unless handed to the registry). */
struct cursor *cursor_create(const char *db, const char *coll, const char *ns);
void cursor_destroy(struct cursor *c);
/* Appends a copy of doc to the buffered results. */
void cursor_buffer_push(struct cursor *c, const bson_t *doc);
/* True when nothing is buffered and there is no scan to continue. */
bool cursor_is_drained(const struct cursor *c);

/* Registers c (taken) with a fresh random positive id, checked in; returns the id. */
int64_t cursor_registry_add(struct cursor_registry *reg, struct cursor *c, int64_t now_ms);
/* Checks out cursor id: CursorNotFound "cursor id N not found" when absent,
 * OperationFailed when another command is using it. */
int cursor_registry_checkout(struct cursor_registry *reg, int64_t id, int64_t now_ms, struct cursor **out,
                             struct err *e);
/* Returns a checked-out cursor (freed instead if it was killed meanwhile). */
void cursor_registry_checkin(struct cursor_registry *reg, struct cursor *c, int64_t now_ms);
/* Removes and frees a checked-out cursor. */
void cursor_registry_release(struct cursor_registry *reg, struct cursor *c);
/* Kills cursor id: 1 killed (a checked-out one dies at check-in), 0 unknown. */
int cursor_registry_kill(struct cursor_registry *reg, int64_t id);
/* Frees cursors idle since before now_ms - CURSOR_IDLE_TIMEOUT_MS (unless noCursorTimeout). */
void cursor_registry_reap(struct cursor_registry *reg, int64_t now_ms);
/* Open cursors (for serverStatus metrics.cursor.open.total). */
int64_t cursor_registry_count(struct cursor_registry *reg);

/* Appends up to max_docs result documents of c to the array arr (keys "0",
 * "1", ...), within CURSOR_BATCH_MAX_BYTES: buffered ones first, then from
 * the scan resumed in t. *is_exhausted is set when no result is left (never
 * for tailable cursors). Returns the number appended or a negative error
 * (QueryPlanKilled when the scanned collection was dropped). */
int64_t cursor_fill_batch(struct cursor *c, struct store_txn *t, int64_t max_docs, bson_t *arr, bool *is_exhausted,
                          struct err *e);

/* Appends {cursor: {firstBatch|nextBatch: arr, id: Int64, ns}} to reply,
 * in mongod's field order. */
void cursor_append_reply(bson_t *reply, int64_t id, const char *ns, const bson_t *arr, bool is_first);

/* For killCursors (cmd_cursor.c): checks that every element of ids is a long
 * (TypeMismatch naming the first that is not, before killing anything), calls
 * kill_one(arg, id) for each (true: killed, false: not found) and appends
 * cursorsKilled, cursorsNotFound, cursorsAlive: [], cursorsUnknown: [] to reply. */
int cursor_kill_ids(bson_t *reply, const bson_t *ids, bool (*kill_one)(void *arg, int64_t id), void *arg,
                    struct err *e);

/* For every cursor-producing command (cmd_cursor.c): fills the first batch of
 * c (taken) in ctx->txn with up to batch_n documents, registers c in
 * ctx->srv->cursors unless it is exhausted or is_single_batch (then it is
 * freed and the id is 0), and appends the cursor reply. */
int cursor_reply_first(struct cmd_ctx *ctx, struct cursor *c, int64_t batch_n, bool is_single_batch);

#endif
