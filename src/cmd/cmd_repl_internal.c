/* cmd_repl_internal.c - commands members send each other: replSetHeartbeat,
 * replSetRequestVotes, replSetUpdatePosition.
 *
 * LOOP handlers that pass the command body to the member (repl/node.h),
 * which decodes it (repl/messages.h) and answers at once or later. They need
 * --replSet like every replSet* command; the role check never blocks them
 * (their table rows carry no READ/WRITE flag), since elections and progress
 * reports must work in every member state. */
#include "cmd/cmd_repl.h"
#include "cmd/failcmd.h"

#include "net/server.h"
#include "repl/node.h"

int cmd_repl_set_heartbeat(struct cmd_ctx *ctx)
{
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    if (failcmd_drop_heartbeat(&ctx->req->body))
        return err_set(&ctx->err, ERR_HOST_UNREACHABLE, "heartbeat refused by the dropHeartbeats fail point");
    rc = repl_node_heartbeat(ctx->srv->repl, &ctx->req->body, &ctx->reply, &ctx->err, cmd_repl_reply, ctx);
    return cmd_repl_result(rc);
}

int cmd_repl_set_request_votes(struct cmd_ctx *ctx)
{
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    rc = repl_node_request_votes(ctx->srv->repl, &ctx->req->body, &ctx->reply, &ctx->err, cmd_repl_reply, ctx);
    return cmd_repl_result(rc);
}

int cmd_repl_set_update_position(struct cmd_ctx *ctx)
{
    int rc;

    if ((rc = cmd_repl_require(ctx)) < 0)
        return rc;
    return repl_node_update_position(ctx->srv->repl, &ctx->req->body, &ctx->reply, &ctx->err);
}
