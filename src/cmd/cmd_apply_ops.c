/* cmd_apply_ops.c - applyOps and tallyResetReplicationState: the two commands
 * a restore drives on a temporary standalone server (docs/backups.md).
 *
 * applyOps {applyOps: [oplog entries]} runs on the writer thread and applies
 * each entry with the secondary's code (oplog_entry_apply, recovering mode,
 * so re-applying is harmless) and appends it to the local oplog, all in the
 * one write transaction. Entries whose timestamp is not above the oplog's
 * newest are skipped: the data already reflects them, and replaying an old
 * insert after a later delete would bring a document back. So a restore can
 * send the same slice twice and the result is the same. Every entry is
 * checked before the first one is applied: a malformed batch changes
 * nothing. Only on a standalone: on a member, its own oplog hook would log
 * the changes a second time under new timestamps.
 *
 * tallyResetReplicationState {tallyResetReplicationState: 1} empties the
 * oplog and its undo records and forgets the term, vote, config and commit
 * point, so the data directory can seed a new replica set (start it with
 * --replSet and run replSetInitiate). Standalone only, for the same reason. */
#include "cmd/handlers.h"

#include "net/server.h"
#include "repl/oplog_entry.h"
#include "storage/oplog.h"

#include <stdio.h>
#include <string.h>

/* Largest batch one command applies: a restore sends slices in pieces. */
#define APPLY_OPS_MAX_ENTRIES 100000

static int refuse_on_member(struct cmd_ctx *ctx, const char *what)
{
    if (ctx->srv->cfg.repl_set == NULL)
        return 0;
    return err_set(&ctx->err, ERR_ILLEGAL_OPERATION,
                   "%s is only allowed on a standalone server; this one runs as a member of replica set '%s' "
                   "(restart it without --replSet)",
                   what, ctx->srv->cfg.repl_set);
}

/* Validates every element before anything is applied. */
static int check_entries(struct cmd_ctx *ctx, const bson_iter_t *arr, int *n_out)
{
    bson_iter_t it = *arr;
    int n = 0;
    while (bson_iter_next(&it)) {
        if (++n > APPLY_OPS_MAX_ENTRIES)
            return err_set(&ctx->err, ERR_BAD_VALUE, "applyOps takes at most %d entries per command",
                           APPLY_OPS_MAX_ENTRIES);
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "applyOps entry %d is not an object", n - 1);
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&it, &len, &data);
        bson_t doc;
        if (!bson_init_static(&doc, data, len))
            return err_set(&ctx->err, ERR_INVALID_BSON, "applyOps entry %d is not valid BSON", n - 1);
        struct oplog_entry en;
        int rc = oplog_entry_parse(&doc, &en, &ctx->err);
        if (rc < 0)
            return err_set(&ctx->err, -rc, "applyOps entry %d: %s", n - 1, ctx->err.msg);
    }
    *n_out = n;
    return 0;
}

int cmd_apply_ops(struct cmd_ctx *ctx)
{
    int rc = refuse_on_member(ctx, "applyOps");
    if (rc < 0)
        return rc;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &ctx->req->body, "applyOps") || !BSON_ITER_HOLDS_ARRAY(&it))
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "applyOps needs an array of oplog entries");
    bson_iter_t arr;
    bson_iter_recurse(&it, &arr);
    int n = 0;
    if ((rc = check_entries(ctx, &arr, &n)) < 0)
        return rc;

    struct optime last = OPTIME_NULL;
    rc = oplog_last(ctx->txn, &last, NULL, &ctx->err);
    if (rc < 0)
        return rc;
    int applied = 0, skipped = 0, idx = 0;
    while (bson_iter_next(&arr)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&arr, &len, &data);
        bson_t doc;
        bson_init_static(&doc, data, len);
        struct oplog_entry en;
        if ((rc = oplog_entry_parse(&doc, &en, &ctx->err)) < 0)
            return rc;
        if (rc == 0 && en.optime.ts <= last.ts && !optime_is_null(last)) {
            skipped++;
            idx++;
            continue;
        }
        rc = oplog_entry_apply(ctx->txn, &doc, OPLOG_APPLY_RECOVERING, &ctx->err);
        if (rc == 0)
            rc = oplog_append(ctx->txn, &doc, &ctx->err);
        if (rc < 0) {
            /* Earlier entries stay applied and logged: the oplog says how far
             * the data got, so a retry resumes after them. */
            return err_set(&ctx->err, -rc, "applyOps entry %d (%d applied before it): %s", idx, applied,
                           ctx->err.msg);
        }
        last = en.optime;
        applied++;
        idx++;
    }
    BSON_APPEND_INT32(&ctx->reply, "applied", applied);
    BSON_APPEND_INT32(&ctx->reply, "skipped", skipped);
    bson_t results;
    BSON_APPEND_ARRAY_BEGIN(&ctx->reply, "results", &results);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        BSON_APPEND_BOOL(&results, key, true);
    }
    bson_append_array_end(&ctx->reply, &results);
    if (!optime_is_null(last))
        optime_append(&ctx->reply, "lastApplied", last);
    return 0;
}

int cmd_reset_replication_state(struct cmd_ctx *ctx)
{
    int rc = refuse_on_member(ctx, "tallyResetReplicationState");
    if (rc < 0)
        return rc;
    int64_t n_removed = 0;
    if ((rc = oplog_truncate_after(ctx->txn, 0, &n_removed, &ctx->err)) < 0)
        return rc;
    if ((rc = oplog_clear_repl_state(ctx->txn, &ctx->err)) < 0)
        return rc;
    BSON_APPEND_INT64(&ctx->reply, "oplogEntriesRemoved", n_removed);
    return 0;
}
