/* cmd_hello.c - hello / isMaster / ismaster: the handshake and monitoring reply.
 *
 * Runs on the loop thread. The reply is a standalone's, with the exact BSON
 * types drivers check (wire-compat.md 2.2): int32 size and wire-version
 * fields, a date localTime, no topologyVersion (polling monitoring only).
 * A replica-set member adds its role and set fields (repl_node_append_hello:
 * setName, hosts, primary, me, lastWrite, ...); a standalone is always a
 * writable primary without setName. The reply key is
 * isWritablePrimary for hello and ismaster for isMaster/ismaster, decided per
 * request. A second `client` document on one connection is refused, as mongod
 * does (ClientMetadataCannotBeMutated). */
#include "cmd/handlers.h"

#include "core/log.h"
#include "net/net.h"
#include "net/server.h"
#include "repl/node.h"
#include "wire/wire.h"

#include <string.h>

#define MIN_WIRE_VERSION 0
#define MAX_WIRE_VERSION 17
#define MAX_WRITE_BATCH 100000
#define SESSION_TIMEOUT_MINUTES 30

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

int cmd_hello(struct cmd_ctx *ctx)
{
    const struct cmd_request *req = ctx->req;
    bson_iter_t it;
    bool is_hello = strcmp(req->name, "hello") == 0;

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
    if (bson_iter_init_find(&it, &req->body, "helloOk") && bson_iter_as_bool(&it))
        BSON_APPEND_BOOL(&ctx->reply, "helloOk", true);
    if (ctx->srv->repl)
        repl_node_append_hello(ctx->srv->repl, is_hello, &ctx->reply);
    else
        BSON_APPEND_BOOL(&ctx->reply, is_hello ? "isWritablePrimary" : "ismaster", true);
    BSON_APPEND_INT32(&ctx->reply, "maxBsonObjectSize", WIRE_MAX_BSON_BYTES);
    BSON_APPEND_INT32(&ctx->reply, "maxMessageSizeBytes", WIRE_MAX_MESSAGE_BYTES);
    BSON_APPEND_INT32(&ctx->reply, "maxWriteBatchSize", MAX_WRITE_BATCH);
    BSON_APPEND_DATE_TIME(&ctx->reply, "localTime", ctx->now_ms);
    BSON_APPEND_INT32(&ctx->reply, "logicalSessionTimeoutMinutes", SESSION_TIMEOUT_MINUTES);
    if (req->connection_id <= INT32_MAX)
        BSON_APPEND_INT32(&ctx->reply, "connectionId", (int32_t)req->connection_id);
    else
        BSON_APPEND_INT64(&ctx->reply, "connectionId", req->connection_id);
    BSON_APPEND_INT32(&ctx->reply, "minWireVersion", MIN_WIRE_VERSION);
    BSON_APPEND_INT32(&ctx->reply, "maxWireVersion", MAX_WIRE_VERSION);
    BSON_APPEND_BOOL(&ctx->reply, "readOnly", false);
    return 0;
}
