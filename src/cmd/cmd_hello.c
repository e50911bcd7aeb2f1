/* cmd_hello.c - hello / isMaster / ismaster: the handshake and monitoring reply.
 *
 * Runs on the loop thread. The reply is a standalone's, with the exact BSON
 * types drivers check (wire-compat.md 2.2): int32 size and wire-version
 * fields, a date localTime, and topologyVersion {processId, counter}.
 * A replica-set member adds its role and set fields (repl_node_append_hello:
 * setName, hosts, primary, me, lastWrite, ...); a standalone is always a
 * writable primary without setName. The reply key is
 * isWritablePrimary for hello and ismaster for isMaster/ismaster, decided per
 * request. A second `client` document on one connection is refused, as mongod
 * does (ClientMetadataCannotBeMutated). A hello carrying the topologyVersion
 * it last saw and maxAwaitTimeMS waits for the next topology change
 * (hello_await.c); its fields are built when the wait ends. */
#include "cmd/handlers.h"

#include "cmd/hello_await.h"
#include "core/log.h"
#include "net/net.h"
#include "net/server.h"
#include "repl/node.h"
#include "wire/wire.h"

#include <string.h>
#include <time.h>

#define MIN_WIRE_VERSION 0
#define MAX_WIRE_VERSION 17
#define MAX_WRITE_BATCH 100000

/* Logs the driver name and version from hello.client, once per connection. */
static void log_client(const struct cmd_ctx *ctx, const bson_t *client)
{
    bson_iter_t it;
    const char *name = "unknown", *version = "";
    const char *app = "";

    if (bson_iter_init(&it, client) && bson_iter_find_descendant(&it, "driver.name", &it) &&
        BSON_ITER_HOLDS_UTF8(&it))
        name = bson_iter_utf8(&it, NULL);
    if (bson_iter_init(&it, client) && bson_iter_find_descendant(&it, "driver.version", &it) &&
        BSON_ITER_HOLDS_UTF8(&it))
        version = bson_iter_utf8(&it, NULL);
    if (bson_iter_init(&it, client) && bson_iter_find_descendant(&it, "application.name", &it) &&
        BSON_ITER_HOLDS_UTF8(&it))
        app = bson_iter_utf8(&it, NULL);
    if (!ctx->srv->cfg.is_quiet)
        log_info(LOGC_NETWORK, "conn%lld: client metadata from %s: driver %s %s%s%s", (long long)ctx->req->connection_id,
                 ctx->req->client_addr, name, version, *app ? ", application " : "", app);
}

/* The reply fields, built from the state at the moment the reply goes out
 * (an awaitable hello runs this when its wait ends, not when it arrived). */
static int append_reply(struct cmd_ctx *ctx)
{
    const struct cmd_request *req = ctx->req;
    bson_iter_t it;
    bool is_hello = strcmp(req->name, "hello") == 0;

    /* Settle the counter first: waking other waiters must not happen while
     * this reply is half built. */
    server_topology_changed(ctx->srv);
    if (bson_iter_init_find(&it, &req->body, "helloOk") && bson_iter_as_bool(&it))
        BSON_APPEND_BOOL(&ctx->reply, "helloOk", true);
    if (ctx->srv->repl)
        repl_node_append_hello(ctx->srv->repl, is_hello, &ctx->reply);
    else
        BSON_APPEND_BOOL(&ctx->reply, is_hello ? "isWritablePrimary" : "ismaster", true);
    hello_topology_append(ctx->srv, &ctx->reply);
    BSON_APPEND_INT32(&ctx->reply, "maxBsonObjectSize", WIRE_MAX_BSON_BYTES);
    BSON_APPEND_INT32(&ctx->reply, "maxMessageSizeBytes", WIRE_MAX_MESSAGE_BYTES);
    BSON_APPEND_INT32(&ctx->reply, "maxWriteBatchSize", MAX_WRITE_BATCH);
    BSON_APPEND_DATE_TIME(&ctx->reply, "localTime", ctx->now_ms);
    BSON_APPEND_INT32(&ctx->reply, "logicalSessionTimeoutMinutes", ctx->srv ? ctx->srv->cfg.session_timeout_minutes : 30);
    if (req->connection_id <= INT32_MAX)
        BSON_APPEND_INT32(&ctx->reply, "connectionId", (int32_t)req->connection_id);
    else
        BSON_APPEND_INT64(&ctx->reply, "connectionId", req->connection_id);
    BSON_APPEND_INT32(&ctx->reply, "minWireVersion", MIN_WIRE_VERSION);
    BSON_APPEND_INT32(&ctx->reply, "maxWireVersion", MAX_WIRE_VERSION);
    BSON_APPEND_BOOL(&ctx->reply, "readOnly", false);
    return 0;
}

/* The end of a wait: shutting down answers ShutdownInProgress (mongod's
 * quiesce reply: drivers mark the member Unknown at once), else the reply. */
static int answer_parked(struct cmd_ctx *ctx)
{
    struct timespec ts;

    if (ctx->srv->is_shutting_down)
        return err_set(&ctx->err, ERR_SHUTDOWN_IN_PROGRESS, "The server is in quiesce mode and will shut down");
    clock_gettime(CLOCK_REALTIME, &ts);
    ctx->now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return append_reply(ctx);
}

int cmd_hello(struct cmd_ctx *ctx)
{
    const struct cmd_request *req = ctx->req;
    struct hello_await_req await;
    bson_iter_t it;
    int rc;

    if ((rc = hello_await_parse(ctx, &await)) < 0)
        return rc;
    if (bson_iter_init_find(&it, &req->body, "client")) {
        bson_t client;
        uint32_t len;
        const uint8_t *data;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                           "BSON field '%s.client' is the wrong type, expected type 'object'", req->name);
        if (net_conn_mark_client_metadata(ctx->srv, req->connection_id))
            return err_set(&ctx->err, ERR_CLIENT_METADATA_CANNOT_BE_MUTATED,
                           "The client metadata document may only be sent in the first hello");
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&client, data, len))
            log_client(ctx, &client);
    }
    if ((rc = hello_await_must_wait(ctx->srv, &await, &ctx->err)) < 0)
        return rc;
    if (rc > 0 && !ctx->srv->is_shutting_down)
        return hello_await_park(ctx, await.max_await_ms, answer_parked);
    return append_reply(ctx);
}
