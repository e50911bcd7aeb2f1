/* cmd_resync.c - {resync: 1} (admin): this member throws its data away in
 * favour of a fresh snapshot of its sync source, as old mongod's resync
 * did. Used for a member that fell off its source's oplog (RECOVERING,
 * tooStale: true). The work is repl/initial_sync.c's: the command marks the
 * sync pending (durably, so a crash restarts it) and starts it; the member
 * goes STARTUP2, copies, and restarts with the copy. The reply comes at the
 * start, not the end: watch replSetGetStatus.initialSyncStatus. */
#include "cmd/args.h"
#include "cmd/handlers.h"
#include "core/log.h"
#include "net/server.h"
#include "repl/initial_sync.h"

int cmd_resync(struct cmd_ctx *ctx)
{
    static const char *const fields[] = {NULL};
    int rc;

    if ((rc = args_check_known(ctx, fields)) < 0)
        return rc;
    log_info(LOGC_REPL, "resync requested by conn%lld (%s)", (long long)ctx->req->connection_id,
             ctx->req->client_addr);
    if ((rc = initial_sync_request_resync(ctx->srv, &ctx->err)) < 0)
        return rc;
    BSON_APPEND_UTF8(&ctx->reply, "info", "resync started: this member copies a snapshot of its sync source and "
                     "restarts with it");
    return 0;
}
