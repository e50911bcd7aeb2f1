/* cmd_cursor.c - getMore, killCursors, and the first-batch reply every
 * cursor-producing command shares.
 *
 * getMore checks its cursor out of the registry for the whole command, so a
 * concurrent getMore or killCursors cannot use or free it underneath. A
 * tailable await-data cursor with nothing new parks (CMD_PARK) after checking
 * the cursor back in; the dispatcher re-runs the command after the next
 * commit, and on its final run (deadline passed) it answers an empty batch
 * with the cursor still open. */
#include "cmd/args.h"
#include "cmd/cmd_snapshot.h"
#include "cmd/cursor.h"
#include "cmd/handlers.h"
#include "cmd/oplog_read.h"
#include "net/server.h"

#include <string.h>

#define DEFAULT_AWAIT_MS 1000

int cursor_reply_first(struct cmd_ctx *ctx, struct cursor *c, int64_t batch_n, bool is_single_batch)
{
    bson_t arr;
    bool is_exhausted = false;
    int64_t n, id = 0;
    char ns[sizeof c->ns];

    memcpy(ns, c->ns, sizeof ns);
    bson_init(&arr);
    n = cursor_fill_batch(c, ctx->txn, batch_n, &arr, &is_exhausted, &ctx->err);
    if (n < 0) {
        bson_destroy(&arr);
        cursor_destroy(c);
        return (int)n;
    }
    if (is_exhausted || is_single_batch || !ctx->srv || !ctx->srv->cursors)
        cursor_destroy(c);
    else
        id = cursor_registry_add(ctx->srv->cursors, c, ctx->now_ms);
    cursor_append_reply(&ctx->reply, id, ns, &arr, true);
    bson_destroy(&arr);
    return 0;
}

static const char *const get_more_fields[] = {"collection", "batchSize", "term", "lastKnownCommittedOpTime",
                                              NULL};

int cmd_get_more(struct cmd_ctx *ctx)
{
    struct cursor_registry *reg = ctx->srv ? ctx->srv->cursors : NULL;
    struct cursor *c = NULL;
    const char *coll = NULL;
    int64_t batch_size = 0, max_time_ms = 0, n, id;
    bool is_exhausted = false;
    bson_iter_t it;
    char ns[300];
    bson_t arr;
    int rc;

    if (cmd_snapshot_is_get_more(ctx))
        return cmd_snapshot_get_more(ctx);
    if ((rc = args_check_known(ctx, get_more_fields)) < 0)
        return rc;
    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it))
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "empty command");
    if (!BSON_ITER_HOLDS_INT64(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field 'getMore.getMore' is the wrong type '%s', expected type 'long'",
                       BSON_ITER_HOLDS_INT32(&it) ? "int" : "non-long");
    id = bson_iter_int64(&it);
    if ((rc = args_utf8(ctx, "collection", &coll)) < 0)
        return rc;
    if (!coll)
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'getMore.collection' is missing but a required field");
    if ((rc = args_int64(ctx, "batchSize", &batch_size)) < 0 || (rc = args_int64(ctx, "maxTimeMS", &max_time_ms)) < 0)
        return rc;
    if (batch_size < 0)
        return err_set(&ctx->err, ERR_NEGATIVE_VALUE, "BSON field \'batchSize\' value must be >= 0, actual value '%lld'",
                       (long long)batch_size);
    if (max_time_ms < 0)
        return err_set(&ctx->err, ERR_NEGATIVE_VALUE, "BSON field \'maxTimeMS\' value must be >= 0, actual value '%lld'",
                       (long long)max_time_ms);
    if (!reg)
        return err_set(&ctx->err, ERR_CURSOR_NOT_FOUND, "cursor id %lld not found", (long long)id);
    if ((rc = cursor_registry_checkout(reg, id, ctx->now_ms, &c, &ctx->err)) < 0)
        return rc;
    /* mongod refuses a getMore naming another namespace than the cursor's. */
    if (strcmp(c->db, ctx->req->db) != 0 || strcmp(c->coll, coll) != 0) {
        snprintf(ns, sizeof ns, "%s.%s", ctx->req->db, coll);
        rc = err_set(&ctx->err, ERR_UNAUTHORIZED,
                     "Requested getMore on namespace '%s', but cursor belongs to a different namespace %s", ns,
                     c->ns);
        cursor_registry_checkin(reg, c, ctx->now_ms);
        return rc;
    }
    if (c->is_oplog)
        return oplog_read_get_more(ctx, c, batch_size, max_time_ms);
    bson_init(&arr);
    n = cursor_fill_batch(c, ctx->txn, batch_size > 0 ? batch_size : CURSOR_NO_LIMIT, &arr, &is_exhausted,
                          &ctx->err);
    if (n < 0) {
        bson_destroy(&arr);
        cursor_registry_release(reg, c);
        return (int)n;
    }
    if (n == 0 && c->is_tailable && c->is_await_data && !is_exhausted && !ctx->is_await_expired) {
        bson_destroy(&arr);
        cursor_registry_checkin(reg, c, ctx->now_ms);
        ctx->await_deadline_ms = ctx->now_ms + (max_time_ms > 0 ? max_time_ms : DEFAULT_AWAIT_MS);
        return CMD_PARK;
    }
    snprintf(ns, sizeof ns, "%s", c->ns);
    if (is_exhausted) {
        cursor_registry_release(reg, c);
        id = 0;
    } else {
        cursor_registry_checkin(reg, c, ctx->now_ms);
    }
    cursor_append_reply(&ctx->reply, id, ns, &arr, false);
    bson_destroy(&arr);
    return 0;
}

int cursor_kill_ids(bson_t *reply, const bson_t *ids, bool (*kill_one)(void *arg, int64_t id), void *arg, struct err *e)
{
    bson_t killed, not_found, empty;
    int n_killed = 0, n_not_found = 0;
    char key[24];
    bson_iter_t it;

    if (!bson_iter_init(&it, ids))
        return err_set(e, ERR_INVALID_BSON, "killCursors.cursors is not valid BSON");
    while (bson_iter_next(&it))
        if (!BSON_ITER_HOLDS_INT64(&it))
            return err_set(e, ERR_TYPE_MISMATCH,
                           "BSON field 'killCursors.cursors.%s' is the wrong type, expected type 'long'",
                           bson_iter_key(&it));
    bson_init(&killed);
    bson_init(&not_found);
    bson_iter_init(&it, ids);
    while (bson_iter_next(&it)) {
        int64_t id = bson_iter_int64(&it);
        bool is_killed = kill_one(arg, id);
        snprintf(key, sizeof key, "%d", is_killed ? n_killed++ : n_not_found++);
        bson_append_int64(is_killed ? &killed : &not_found, key, -1, id);
    }
    bson_init(&empty);
    bson_append_array(reply, "cursorsKilled", -1, &killed);
    bson_append_array(reply, "cursorsNotFound", -1, &not_found);
    bson_append_array(reply, "cursorsAlive", -1, &empty);
    bson_append_array(reply, "cursorsUnknown", -1, &empty);
    bson_destroy(&killed);
    bson_destroy(&not_found);
    bson_destroy(&empty);
    return 0;
}

static bool registry_kill(void *arg, int64_t id)
{
    struct cursor_registry *reg = arg;
    return reg && cursor_registry_kill(reg, id);
}

static const char *const kill_cursors_fields[] = {"cursors", NULL};

int cmd_kill_cursors(struct cmd_ctx *ctx)
{
    struct cursor_registry *reg = ctx->srv ? ctx->srv->cursors : NULL;
    bson_t ids;
    bool is_present = false;
    const char *coll = NULL;
    int rc;

    if (cmd_snapshot_is_kill_cursors(ctx))
        return cmd_snapshot_kill_cursors(ctx);
    if ((rc = args_check_known(ctx, kill_cursors_fields)) < 0 || (rc = args_collection(ctx, &coll)) < 0 ||
        (rc = args_array(ctx, "cursors", &ids, &is_present)) < 0)
        return rc;
    if (!is_present)
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'killCursors.cursors' is missing but a required field");
    return cursor_kill_ids(&ctx->reply, &ids, registry_kill, reg, &ctx->err);
}
