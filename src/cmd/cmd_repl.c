/* cmd_repl.c - the user-facing replSet* commands: initiate, config, status,
 * reconfig, stepDown, stepUp, freeze, syncFrom, abortPrimaryCatchUp.
 *
 * Thin LOOP handlers: they validate the command document the way mongod
 * does, then hand the request to the replica-set member (repl/node.h), which
 * answers at once or later through cmd_repl_reply (CMD_ASYNC). Without
 * --replSet every one of them fails with NoReplicationEnabled (76), as
 * mongod's do. The member-to-member commands live in cmd_repl_internal.c. */
#include "cmd/cmd_repl.h"

#include "net/server.h"
#include "repl/node.h"

#include <string.h>

#define DEFAULT_STEPDOWN_SECS 60
#define DEFAULT_CATCH_UP_SECS 10

int cmd_repl_require(struct cmd_ctx *ctx)
{
    if (ctx->srv->repl == NULL)
        return err_set(&ctx->err, ERR_NO_REPLICATION_ENABLED, "not running with --replSet");
    return 0;
}

void cmd_repl_reply(void *arg, int rc, const struct err *e, const bson_t *fields)
{
    struct cmd_ctx *ctx = arg;
    bson_iter_t it;

    if (rc < 0) {
        err_set(&ctx->err, e && e->code ? e->code : -rc, "%s", e ? e->msg : "replication command failed");
        if (e && e->has_info)
            bson_concat(err_info(&ctx->err), &e->info);
        cmd_dispatch_finish(ctx, -ctx->err.code);
        return;
    }
    if (fields && bson_iter_init(&it, fields))
        while (bson_iter_next(&it))
            if (strcmp(bson_iter_key(&it), "ok") != 0)
                bson_append_iter(&ctx->reply, NULL, 0, &it);
    cmd_dispatch_finish(ctx, 0);
}

int cmd_repl_result(int rc)
{
    return rc == REPL_ASYNC ? CMD_ASYNC : rc;
}

/* Reads an integer option (any numeric type, whole). 1: absent, 0: read, <0: error. */
int cmd_repl_get_int(const struct cmd_ctx *ctx, const char *field, int64_t *out, struct err *e)
{
    bson_iter_t it;
    double v;

    if (!bson_iter_init_find(&it, &ctx->req->body, field))
        return 1;
    if (!BSON_ITER_HOLDS_NUMBER(&it))
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field '%s.%s' is the wrong type, expected a number",
                       ctx->req->name, field);
    v = bson_iter_as_double(&it);
    if (v != v || v > 9.0e15 || v < -9.0e15)
        return err_set(e, ERR_BAD_VALUE, "'%s' is out of range", field);
    *out = bson_iter_as_int64(&it);
    return 0;
}

static bool get_bool(const struct cmd_ctx *ctx, const char *field)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, &ctx->req->body, field) && bson_iter_as_bool(&it);
}

/* Borrows the document value of the command's first field, or NULL. */
static bool first_value_doc(const struct cmd_ctx *ctx, bson_t *out, bool *is_doc)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;

    *is_doc = false;
    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it))
        return false;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it))
        return true;
    bson_iter_document(&it, &len, &data);
    if (!bson_init_static(out, data, len))
        return false;
    *is_doc = true;
    return true;
}

int cmd_repl_set_initiate(struct cmd_ctx *ctx)
{
    bson_t cfg;
    bool is_doc;
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    if (!first_value_doc(ctx, &cfg, &is_doc))
        return err_set(&ctx->err, ERR_INVALID_BSON, "replSetInitiate: invalid command document");
    /* {replSetInitiate: {}} or a non-document value: a one-member config
     * built from this member's own host name (rs.initiate() with no argument). */
    if (!is_doc || bson_empty(&cfg))
        return cmd_repl_result(
            repl_node_initiate(ctx->srv->repl, NULL, &ctx->reply, &ctx->err, cmd_repl_reply, ctx));
    /* The documented rs.initiate({_id, members}) names no version: 1 is implied. */
    if (!bson_has_field(&cfg, "version")) {
        bson_t with_version;
        bson_copy_to(&cfg, &with_version);
        BSON_APPEND_INT32(&with_version, "version", 1);
        rc = repl_node_initiate(ctx->srv->repl, &with_version, &ctx->reply, &ctx->err, cmd_repl_reply, ctx);
        bson_destroy(&with_version);
        return cmd_repl_result(rc);
    }
    rc = repl_node_initiate(ctx->srv->repl, &cfg, &ctx->reply, &ctx->err, cmd_repl_reply, ctx);
    return cmd_repl_result(rc);
}

int cmd_repl_set_get_config(struct cmd_ctx *ctx)
{
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    return repl_node_append_config(ctx->srv->repl, &ctx->reply, &ctx->err);
}

int cmd_repl_set_get_status(struct cmd_ctx *ctx)
{
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    return repl_node_append_status(ctx->srv->repl, &ctx->reply, &ctx->err);
}

int cmd_repl_set_reconfig(struct cmd_ctx *ctx)
{
    bson_t cfg;
    bool is_doc;
    int64_t max_time_ms = 0;
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    if (!first_value_doc(ctx, &cfg, &is_doc) || !is_doc)
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field 'replSetReconfig' is the wrong type, expected type 'object'");
    /* Digest 6.3: maxTimeMS bounds the wait for the current config to commit. */
    if ((rc = cmd_repl_get_int(ctx, "maxTimeMS", &max_time_ms, &ctx->err)) < 0)
        return rc;
    if (max_time_ms < 0)
        return err_set(&ctx->err, ERR_BAD_VALUE, "BSON field 'maxTimeMS' value must be >= 0, actual value '%lld'",
                       (long long)max_time_ms);
    rc = repl_node_reconfig_within(ctx->srv->repl, &cfg, get_bool(ctx, "force"), max_time_ms, &ctx->reply,
                                   &ctx->err, cmd_repl_reply, ctx);
    return cmd_repl_result(rc);
}

/* {replSetStepDown: secs} or {replSetStepDown: secs, secondaryCatchUpPeriodSecs, force}. */
int cmd_repl_set_step_down(struct cmd_ctx *ctx)
{
    bool is_force = get_bool(ctx, "force");
    int64_t secs = DEFAULT_STEPDOWN_SECS, catch_up = is_force ? 0 : DEFAULT_CATCH_UP_SECS;
    bson_iter_t it;
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    if (bson_iter_init(&it, &ctx->req->body) && bson_iter_next(&it) && BSON_ITER_HOLDS_NUMBER(&it))
        secs = bson_iter_as_int64(&it);
    if ((rc = cmd_repl_get_int(ctx, "secondaryCatchUpPeriodSecs", &catch_up, &ctx->err)) < 0)
        return rc;
    if (secs <= 0)
        return err_set(&ctx->err, ERR_BAD_VALUE, "stepdown period must be a positive integer");
    if (catch_up < 0)
        return err_set(&ctx->err, ERR_BAD_VALUE, "secondaryCatchUpPeriodSecs must be a non-negative integer");
    if (catch_up > secs)
        return err_set(&ctx->err, ERR_BAD_VALUE,
                       "stepdown period must be longer than secondaryCatchUpPeriodSecs");
    rc = repl_node_step_down(ctx->srv->repl, secs, catch_up, is_force, &ctx->reply, &ctx->err, cmd_repl_reply, ctx);
    return cmd_repl_result(rc);
}

int cmd_repl_set_step_up(struct cmd_ctx *ctx)
{
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    rc = repl_node_step_up(ctx->srv->repl, get_bool(ctx, "skipDryRun"), &ctx->reply, &ctx->err, cmd_repl_reply,
                           ctx);
    return cmd_repl_result(rc);
}

int cmd_repl_set_freeze(struct cmd_ctx *ctx)
{
    bson_iter_t it;
    int64_t secs;
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_NUMBER(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field 'replSetFreeze' is the wrong type, expected a number of seconds");
    secs = bson_iter_as_int64(&it);
    if (secs < 0)
        return err_set(&ctx->err, ERR_BAD_VALUE, "replSetFreeze: the number of seconds must not be negative");
    rc = repl_node_freeze(ctx->srv->repl, secs, &ctx->reply, &ctx->err, cmd_repl_reply, ctx);
    return cmd_repl_result(rc);
}

/* replSetSyncFrom: validated as mongod does, then the member takes the host
 * as its next sync source (the core keeps it while it serves; with chaining
 * off the primary takes over again at the next choice). */
int cmd_repl_set_sync_from(struct cmd_ctx *ctx)
{
    const struct repl_state *st;
    struct repl_event ev;
    bson_iter_t it;
    const char *host;
    int rc, target = -1;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_UTF8(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field 'replSetSyncFrom' is the wrong type, expected type 'string'");
    host = bson_iter_utf8(&it, NULL);
    st = repl_node_state(ctx->srv->repl);
    if (!st->has_config || st->self < 0)
        return err_set(&ctx->err, ERR_NOT_YET_INITIALIZED, "no replset config has been received");
    if (st->config.members[st->self].is_arbiter)
        return err_set(&ctx->err, ERR_NOT_SECONDARY, "arbiters don't sync");
    if (st->member_state == REPL_PRIMARY)
        return err_set(&ctx->err, ERR_NOT_SECONDARY, "primaries don't sync");
    for (int i = 0; i < st->config.n_members; i++)
        if (strcmp(st->config.members[i].host, host) == 0)
            target = i;
    if (target < 0)
        return err_set(&ctx->err, ERR_NODE_NOT_FOUND, "Could not find member \"%s\" in replica set", host);
    if (target == st->self)
        return err_set(&ctx->err, ERR_INVALID_OPTIONS, "I cannot sync from myself");
    if (st->config.members[target].is_arbiter)
        return err_set(&ctx->err, ERR_INVALID_OPTIONS, "Cannot sync from \"%s\" because it is an arbiter", host);
    if (!st->peers[target].is_up)
        return err_set(&ctx->err, ERR_HOST_UNREACHABLE, "I cannot reach the requested member: %s", host);
    BSON_APPEND_UTF8(&ctx->reply, "syncFromRequested", host);
    if (st->sync_source >= 0 && st->sync_source < st->config.n_members)
        BSON_APPEND_UTF8(&ctx->reply, "prevSyncTarget", st->config.members[st->sync_source].host);
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_SYNC_FROM;
    ev.now_ms = ctx->now_ms;
    ev.peer = target;
    repl_node_feed(ctx->srv->repl, &ev);
    return 0;
}

int cmd_repl_set_abort_primary_catch_up(struct cmd_ctx *ctx)
{
    const struct repl_state *st;
    struct repl_event ev;
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    st = repl_node_state(ctx->srv->repl);
    if (st->member_state != REPL_PRIMARY)
        return err_set(&ctx->err, ERR_NOT_WRITABLE_PRIMARY, "We are not primary-elect: cannot abort catch-up");
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_ABORT_CATCH_UP;
    ev.now_ms = ctx->now_ms;
    ev.peer = -1;
    repl_node_feed(ctx->srv->repl, &ev);
    return 0;
}
