/* hello_await.h - topologyVersion, awaitable hello and its exhaust stream.
 *
 * The server side of the streaming monitoring protocol (wire-compat.md 2.6):
 * every hello reply and every state-change error carries topologyVersion
 * {processId, counter}; a hello that sends back the topologyVersion it last
 * saw plus maxAwaitTimeMS waits (parked, no CPU) until the counter moves or
 * the time is up; with exhaustAllowed the connection keeps streaming replies
 * with moreToCome. The counter moves in server_topology_changed (server.h).
 * Everything here runs on the loop thread. */
#ifndef TALLY_HELLO_AWAIT_H
#define TALLY_HELLO_AWAIT_H

#include "cmd/cmd.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

/* What a hello request asks for beyond a plain reply. */
struct hello_await_req {
    bool is_awaitable;      /* topologyVersion and maxAwaitTimeMS were both given */
    uint8_t process_id[12]; /* the client's topologyVersion */
    int64_t counter;
    int64_t max_await_ms;
};

/* Parses topologyVersion / maxAwaitTimeMS of a hello (mongod's rules and
 * codes: one without the other 31368, negative wait 31373, exhaustAllowed
 * without maxAwaitTimeMS 51756, malformed topologyVersion 14/40414/40415). */
int hello_await_parse(struct cmd_ctx *ctx, struct hello_await_req *out);

/* 1 when the reply must wait (same process, same counter), 0 when it goes
 * now (another process or an older counter), or -31382 when the client
 * claims a counter of this process that was never reached. */
int hello_await_must_wait(struct server *srv, const struct hello_await_req *a, struct err *e);

/* Builds the reply of a hello: rc 0 with fields in ctx->reply, or an error. */
typedef int (*hello_answer_fn)(struct cmd_ctx *ctx);

/* Parks ctx (whose handler then returns CMD_ASYNC, which is what this
 * returns) until the counter moves, max_await_ms passes, the connection's
 * client sends more or goes away, or the server shuts down; then calls
 * answer(ctx) and cmd_dispatch_finish with its result. */
int hello_await_park(struct cmd_ctx *ctx, int64_t max_await_ms, hello_answer_fn answer);

/* Answers the parked hello of connection conn_id now, if there is one. */
void hello_await_release_conn(struct server *srv, int64_t conn_id);

/* Appends topologyVersion: {processId: ObjectId, counter: Int64} (current). */
void hello_topology_append(struct server *srv, bson_t *doc);

/* Appends topologyVersion to an error reply whose code, or whose
 * writeConcernError's code, is a state-change error (NotPrimary or shutdown
 * family), as mongod does; any other reply is left alone. */
void hello_topology_append_on_state_error(struct server *srv, bson_t *reply);

/* After reply was produced for req: true when it is one reply of an exhaust
 * stream (req is an awaitable hello sent with exhaustAllowed, reply has ok: 1
 * and topologyVersion, the server is not shutting down). Then req's body is
 * rewritten for the next round: topologyVersion becomes the one just sent
 * (so the next round waits for a change) and a `client` document is dropped.
 * The caller sends reply with moreToCome and dispatches req again. */
bool hello_await_exhaust_next(struct server *srv, struct cmd_request *req, const bson_t *reply);

#endif
