/* cmd_failpoint.c - the test commands configureFailPoint and waitForFailPoint,
 * and the failCommand point's matching (failcmd.h).
 *
 * Both commands exist only when the server runs with --setParameter
 * enableTestCommands=1; otherwise they answer CommandNotFound exactly like an
 * unknown name, as mongod's test-only commands do. Shapes follow mongod:
 *   {configureFailPoint: "name", mode: "off" | "alwaysOn" | {times: N} |
 *    {skip: N} | {activationProbability: p}, data: {...}}  -> {count: <times
 *    the point fired before>, ok: 1}
 *   {waitForFailPoint: "name", timesEntered: N, maxTimeMS: M} -> {ok: 1} once
 *    the point has fired N times in total (MaxTimeMSExpired after M ms).
 * An unknown point name fails with FailPointSetFailed (266) naming it. */
#include "cmd/failcmd.h"
#include "cmd/handlers.h"

#include "core/failpoint.h"
#include "core/mem.h"
#include "net/server.h"

#include <string.h>
#include <strings.h>
#include <uv.h>

#define WAIT_POLL_MS 5

static bool is_enabled(struct cmd_ctx *ctx)
{
    return ctx->srv && ctx->srv->cfg.enable_test_commands;
}

static int not_found(struct cmd_ctx *ctx)
{
    return err_set(&ctx->err, ERR_COMMAND_NOT_FOUND, "no such command: '%s'", ctx->req->name);
}

static int check_admin(struct cmd_ctx *ctx)
{
    if (ctx->req->db == NULL || strcmp(ctx->req->db, "admin") != 0)
        return err_set(&ctx->err, ERR_UNAUTHORIZED, "%s may only be run against the admin database.",
                       ctx->req->name);
    return 0;
}

/* The point named by the command's first field, or an error naming it. */
static int find_point(struct cmd_ctx *ctx, enum failpoint_id *out)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_UTF8(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH, "BSON field '%s.%s' is the wrong type, expected type 'string'",
                       ctx->req->name, ctx->req->name);
    const char *name = bson_iter_utf8(&it, NULL);
    int id = failpoint_find(name);
    if (id < 0)
        return err_set(&ctx->err, ERR_FAIL_POINT_SET_FAILED, "%s not found", name);
    *out = (enum failpoint_id)id;
    return 0;
}

int cmd_configure_fail_point(struct cmd_ctx *ctx)
{
    enum failpoint_id id;
    bson_iter_t it;
    bson_value_t mode, data;
    bool has_mode = false, has_data = false;
    int64_t n_entered = 0;
    int rc;

    if (!is_enabled(ctx))
        return not_found(ctx);
    if ((rc = check_admin(ctx)) < 0 || (rc = find_point(ctx, &id)) < 0)
        return rc;
    if (bson_iter_init_find(&it, &ctx->req->body, "mode")) {
        bson_value_copy(bson_iter_value(&it), &mode);
        has_mode = true;
    }
    if (bson_iter_init_find(&it, &ctx->req->body, "data")) {
        bson_value_copy(bson_iter_value(&it), &data);
        has_data = true;
    }
    rc = failpoint_configure(id, has_mode ? &mode : NULL, has_data ? &data : NULL, &n_entered, &ctx->err);
    if (has_mode)
        bson_value_destroy(&mode);
    if (has_data)
        bson_value_destroy(&data);
    if (rc < 0)
        return rc;
    if (n_entered >= INT32_MIN && n_entered <= INT32_MAX)
        BSON_APPEND_INT32(&ctx->reply, "count", (int32_t)n_entered);
    else
        BSON_APPEND_INT64(&ctx->reply, "count", n_entered);
    return 0;
}

/* --- waitForFailPoint: polls the count on a loop timer --- */

struct fp_wait {
    uv_timer_t timer; /* first: the close callback frees the struct */
    struct cmd_ctx *ctx;
    enum failpoint_id id;
    int64_t target;
    uint64_t deadline_ns; /* 0: none */
    int64_t timeout_ms;
};

static void on_wait_closed(uv_handle_t *h)
{
    free(h);
}

static void on_wait_tick(uv_timer_t *t)
{
    struct fp_wait *w = (struct fp_wait *)t;
    int rc = 0;

    if (failpoint_n_entered(w->id) >= w->target) {
        rc = 0;
    } else if (w->ctx->srv->is_shutting_down) {
        rc = err_set(&w->ctx->err, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
    } else if (w->deadline_ns && uv_hrtime() >= w->deadline_ns) {
        rc = err_set(&w->ctx->err, ERR_MAX_TIME_MS_EXPIRED, "operation exceeded time limit (%lld ms) waiting for "
                     "fail point %s", (long long)w->timeout_ms, failpoint_name(w->id));
    } else {
        return;
    }
    uv_timer_stop(t);
    struct cmd_ctx *ctx = w->ctx;
    uv_close((uv_handle_t *)t, on_wait_closed);
    cmd_dispatch_finish(ctx, rc);
}

int cmd_wait_for_fail_point(struct cmd_ctx *ctx)
{
    enum failpoint_id id;
    bson_iter_t it;
    int64_t target, timeout_ms = 0;
    int rc;

    if (!is_enabled(ctx))
        return not_found(ctx);
    if ((rc = check_admin(ctx)) < 0 || (rc = find_point(ctx, &id)) < 0)
        return rc;
    if (!bson_iter_init_find(&it, &ctx->req->body, "timesEntered"))
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'waitForFailPoint.timesEntered' is missing but a required field");
    if (!BSON_ITER_HOLDS_NUMBER(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field 'waitForFailPoint.timesEntered' is the wrong type, expected a number");
    target = bson_iter_as_int64(&it);
    if (bson_iter_init_find(&it, &ctx->req->body, "maxTimeMS")) {
        if (!BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_int64(&it) < 0)
            return err_set(&ctx->err, ERR_BAD_VALUE, "maxTimeMS must be a non-negative number");
        timeout_ms = bson_iter_as_int64(&it);
    }
    if (failpoint_n_entered(id) >= target)
        return 0;
    struct fp_wait *w = xcalloc(1, sizeof *w);
    w->ctx = ctx;
    w->id = id;
    w->target = target;
    w->timeout_ms = timeout_ms;
    w->deadline_ns = timeout_ms > 0 ? uv_hrtime() + (uint64_t)timeout_ms * 1000000u : 0;
    uv_timer_init(ctx->srv->loop, &w->timer);
    uv_timer_start(&w->timer, on_wait_tick, WAIT_POLL_MS, WAIT_POLL_MS);
    return CMD_ASYNC;
}

/* --- failCommand --- */

/* Commands members send each other (mongod tells them by the connection's
 * internal-client flag; the command and database say the same here). */
static bool is_internal(const struct cmd_request *req)
{
    return strcmp(req->name, "replSetHeartbeat") == 0 || strcmp(req->name, "replSetRequestVotes") == 0 ||
           strcmp(req->name, "replSetUpdatePosition") == 0 || (req->db && strcmp(req->db, "local") == 0);
}

static bool names_command(const bson_t *data, const char *name)
{
    bson_iter_t it, arr;

    if (!bson_iter_init_find(&it, data, "failCommands") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return false;
    while (bson_iter_next(&arr))
        if (BSON_ITER_HOLDS_UTF8(&arr) && strcmp(bson_iter_utf8(&arr, NULL), name) == 0)
            return true;
    return false;
}

static bool data_bool(const bson_t *data, const char *key)
{
    bson_iter_t it;

    return bson_iter_init_find(&it, data, key) && bson_iter_as_bool(&it);
}

static bool matches_namespace(const bson_t *data, const struct cmd_request *req)
{
    const char *ns = failpoint_data_utf8(data, "namespace");
    bson_iter_t it;

    if (ns == NULL)
        return true;
    if (req->db == NULL || !bson_iter_init(&it, &req->body) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_UTF8(&it))
        return false;
    size_t db_len = strlen(req->db);
    return strncmp(ns, req->db, db_len) == 0 && ns[db_len] == '.' &&
           strcmp(ns + db_len + 1, bson_iter_utf8(&it, NULL)) == 0;
}

static bool pred_fail_command(const bson_t *data, void *arg)
{
    const struct cmd_request *req = arg;

    if (!names_command(data, req->name))
        return false;
    if (is_internal(req) && !data_bool(data, "failInternalCommands"))
        return false;
    /* The commands that configure points are never failed: a test must be
     * able to turn the point off again. */
    if (strcmp(req->name, "configureFailPoint") == 0 || strcmp(req->name, "waitForFailPoint") == 0)
        return false;
    return matches_namespace(data, req);
}

bool failcmd_check(const struct cmd_request *req, struct fail_command *out)
{
    bson_t data;
    bson_iter_t it;

    if (req->name == NULL || !failpoint_is_armed(FP_FAIL_COMMAND))
        return false;
    if (!failpoint_enter_if(FP_FAIL_COMMAND, pred_fail_command, (void *)req, &data))
        return false;
    memset(out, 0, sizeof *out);
    out->error_code = (int)failpoint_data_int64(&data, "errorCode", 0);
    out->is_close_connection = data_bool(&data, "closeConnection");
    if (data_bool(&data, "blockConnection"))
        out->block_ms = failpoint_data_int64(&data, "blockTimeMS", 0);
    if (bson_iter_init_find(&it, &data, "writeConcernError") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *p;
        uint32_t len;
        bson_t view;
        bson_iter_document(&it, &len, &p);
        if (bson_init_static(&view, p, len)) {
            bson_copy_to(&view, &out->wc_error);
            out->has_wc_error = true;
        }
    }
    if (bson_iter_init_find(&it, &data, "errorLabels") && BSON_ITER_HOLDS_ARRAY(&it)) {
        const uint8_t *p;
        uint32_t len;
        bson_t view;
        bson_iter_array(&it, &len, &p);
        if (bson_init_static(&view, p, len)) {
            bson_copy_to(&view, &out->error_labels);
            out->has_error_labels = true;
        }
    }
    bson_destroy(&data);
    return true;
}

void failcmd_clear(struct fail_command *fc)
{
    if (fc->has_wc_error)
        bson_destroy(&fc->wc_error);
    if (fc->has_error_labels)
        bson_destroy(&fc->error_labels);
    fc->has_wc_error = fc->has_error_labels = false;
}

int failcmd_error(const struct fail_command *fc, struct err *e)
{
    return err_set(e, fc->error_code, "Failing command via 'failCommand' failpoint");
}

void failcmd_append_wc_error(const struct fail_command *fc, bson_t *reply)
{
    bson_iter_t it;

    if (!fc->has_wc_error)
        return;
    if (bson_iter_init_find(&it, reply, "writeConcernError"))
        return; /* a real one already says more */
    BSON_APPEND_DOCUMENT(reply, "writeConcernError", &fc->wc_error);
}

void failcmd_set_labels(const struct fail_command *fc, bson_t *reply)
{
    bson_t copy = BSON_INITIALIZER;
    bson_iter_t it;

    if (!fc->has_error_labels)
        return;
    if (bson_iter_init(&it, reply))
        while (bson_iter_next(&it))
            if (strcmp(bson_iter_key(&it), "errorLabels") != 0)
                bson_append_value(&copy, bson_iter_key(&it), -1, bson_iter_value(&it));
    BSON_APPEND_ARRAY(&copy, "errorLabels", &fc->error_labels);
    bson_reinit(reply);
    bson_concat(reply, &copy);
    bson_destroy(&copy);
}

/* --- dropHeartbeats --- */

static bool pred_heartbeat_from(const bson_t *data, void *arg)
{
    const char *host = failpoint_data_utf8(data, "host");
    const char *from = arg;

    return host == NULL || strcasecmp(host, from) == 0;
}

bool failcmd_drop_heartbeat(const bson_t *body)
{
    bson_iter_t it;
    const char *from = "";

    if (!failpoint_is_armed(FP_DROP_HEARTBEATS))
        return false;
    if (bson_iter_init_find(&it, body, "from") && BSON_ITER_HOLDS_UTF8(&it))
        from = bson_iter_utf8(&it, NULL);
    return failpoint_enter_if(FP_DROP_HEARTBEATS, pred_heartbeat_from, (void *)from, NULL);
}
