/* cmd.h - commands: the request a command sees, the table, and dispatch.
 *
 * A command handler is plain synchronous code. The table says on which thread
 * it runs:
 *   CMD_EXEC_LOOP  - on the loop thread (cheap commands: hello, ping, ...);
 *   CMD_EXEC_READ  - on a thread-pool thread, inside a fresh read transaction;
 *   CMD_EXEC_WRITE - on the writer thread, inside the shared write transaction,
 *                    replied to only after that transaction is durable.
 * A handler returns 0 after appending its reply fields to ctx->reply (the
 * dispatcher appends ok: 1.0), or a negative error with ctx->err filled (the
 * dispatcher builds {ok: 0, errmsg, code, codeName}). A handler may return
 * CMD_PARK (await-data getMore with nothing to return yet): the dispatcher
 * runs it again after the next commit or when ctx->is_await_expired. */
#ifndef TALLY_CMD_H
#define TALLY_CMD_H

#include "core/err.h"
#include "core/optime.h"
#include "storage/store.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct server;

#define CMD_PARK 1
/* A LOOP handler that will answer later returns CMD_ASYNC and calls
 * cmd_dispatch_finish(ctx, rc) exactly once, on the loop thread. */
#define CMD_ASYNC 2

struct cmd_request {
    const char *name;      /* first key of body (borrowed from body) */
    const char *db;        /* $db, or the OP_QUERY namespace's database (borrowed) */
    bson_t body;           /* the command, with OP_MSG kind-1 sequences merged in as arrays; owned */
    bool is_op_query;      /* arrived as OP_QUERY (reply with OP_REPLY) */
    bool is_secondary_ok;  /* OP_QUERY flag 4, or $readPreference.mode != "primary" */
    bool is_more_to_come;  /* OP_MSG moreToCome: send no reply */
    bool is_exhaust_allowed; /* OP_MSG exhaustAllowed: hello may stream replies (moreToCome) */
    int32_t request_id;
    int64_t connection_id;
    char client_addr[64];  /* "127.0.0.1:51234" */
};

struct cmd_ctx {
    struct server *srv;
    const struct cmd_request *req;
    struct store_txn *txn; /* READ: read transaction; WRITE: the write transaction; LOOP: NULL */
    bson_t reply;          /* handler appends its fields here */
    struct err err;
    int64_t now_ms;        /* wall clock when the command started */
    bool is_await_expired; /* a parked await-data getMore reached its deadline */
    int64_t await_deadline_ms; /* set by a handler that returns CMD_PARK (0 = 1 s default) */
    void *scratch;         /* handler-private state kept across CMD_PARK retries */
    struct optime last_optime; /* WRITE: optime of the last oplog entry the command wrote (replica sets) */
    bool is_awaiting;      /* waited by design (awaitable hello): never logged as a slow command */
};

enum cmd_exec { CMD_EXEC_LOOP, CMD_EXEC_READ, CMD_EXEC_WRITE };

#define CMD_FLAG_WRITE (1u << 0)      /* changes data: refused when not writable primary (later) */
#define CMD_FLAG_ADMIN_ONLY (1u << 1) /* must be sent to the admin database */
#define CMD_FLAG_READ (1u << 2)       /* reads user data: counted as a query, needs secondaryOk on secondaries */

typedef int (*cmd_handler_cb)(struct cmd_ctx *ctx);

struct cmd_def {
    const char *name;
    cmd_handler_cb handler;
    enum cmd_exec exec;
    unsigned flags;
};

/* The table row for name (exact, case-sensitive), or NULL. */
const struct cmd_def *cmd_lookup(const char *name);
/* Every row, sorted by name, for listCommands. */
const struct cmd_def *cmd_table(int *n_out);

/* Runs req and calls reply_cb on the loop thread with the reply document
 * (borrowed for the call; NULL when is_more_to_come). req is borrowed until
 * reply_cb runs. Loop thread only. */
typedef void (*cmd_reply_cb)(void *arg, struct cmd_request *req, const bson_t *reply);
void cmd_dispatch(struct server *srv, struct cmd_request *req, cmd_reply_cb reply_cb, void *arg);

/* Finishes a command whose handler returned CMD_ASYNC: rc 0 sends ctx->reply
 * (plus ok: 1), rc < 0 sends ctx->err. */
void cmd_dispatch_finish(struct cmd_ctx *ctx, int rc);

/* Wakes parked await-data getMores (called after each write commit). */
void cmd_dispatch_wake_parked(struct server *srv);

#endif
