/* cmd_repl.h - helpers shared by cmd_repl.c and cmd_repl_internal.c (private
 * to cmd/). The handlers themselves are declared in handlers.h. */
#ifndef TALLY_CMD_REPL_H
#define TALLY_CMD_REPL_H

#include "cmd/handlers.h"

/* 0 with --replSet, else NoReplicationEnabled (76) "not running with --replSet". */
int cmd_repl_require(struct cmd_ctx *ctx);
/* The repl_reply_cb of every asynchronous node call; arg is the cmd_ctx.
 * Copies the reply fields (or the error) and calls cmd_dispatch_finish. */
void cmd_repl_reply(void *arg, int rc, const struct err *e, const bson_t *fields);
/* Maps a node answer (0, < 0, REPL_ASYNC) to a handler result (CMD_ASYNC). */
int cmd_repl_result(int rc);
/* Reads a whole-number option from the command body: 1 absent, 0 read, < 0 error. */
int cmd_repl_get_int(const struct cmd_ctx *ctx, const char *field, int64_t *out, struct err *e);

#endif
