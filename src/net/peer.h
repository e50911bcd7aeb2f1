/* peer.h - an asynchronous MongoDB wire client for member-to-member traffic.
 *
 * A struct peer talks to one other member ("host:port") over ONE TCP
 * connection on the caller's libuv loop, and is used only from that loop's
 * thread. Commands are OP_MSG requests sent strictly one at a time: while one
 * waits for its reply, later ones queue in FIFO order. A member that needs a
 * long-polling oplog fetch beside heartbeats and votes creates two peers to
 * the same host, so a slow getMore never delays a heartbeat.
 *
 * Connection life:
 *   IDLE --send--> RESOLVING --(uv_getaddrinfo)--> CONNECTING --> CONNECTED
 *   any failure --> BACKOFF --(delay elapsed and a request waits)--> RESOLVING
 *   - the connection opens lazily, when the first request is queued;
 *   - every resolved address is tried in order; TCP_NODELAY is set;
 *   - when it cannot be opened, every queued request fails with the reason
 *     (HostNotFound 7 or HostUnreachable 6) and the next attempt waits a short
 *     backoff (25 ms, doubling per consecutive failure, at most 1 s);
 *   - when an open connection breaks (EOF, I/O error, malformed reply, reply
 *     over 48 MB, wrong responseTo) the request on it fails and the
 *     connection is closed; queued requests wait for the reconnect;
 *   - a request whose timeout expires fails with NetworkTimeout (89); if it
 *     was on the wire the connection is closed too (its reply may still come).
 *   - a successful reply resets the backoff; an idle connection stays open.
 * State changes are logged at debug level (NETWORK). Like the server, a
 * process using peers must ignore SIGPIPE (tallyd's main does). */
#ifndef TALLY_PEER_H
#define TALLY_PEER_H

#include "core/err.h"

#include <bson/bson.h>
#include <stdint.h>
#include <uv.h>

struct peer;

/* Completion of one peer_send: exactly one of reply and e is non-NULL.
 * reply is the server's reply document (which may itself say ok: 0; that is
 * the caller's to interpret); e is a local failure (network error, timeout,
 * connection refused, reply too large or malformed, peer destroyed). Both are
 * borrowed for the duration of the call. The callback may call peer_send and
 * peer_destroy on this peer (or any other). */
typedef void (*peer_reply_cb)(void *arg, const bson_t *reply, const struct err *e);

/* Creates a peer for host_port ("10.0.0.5:27017", "localhost:27018",
 * "[::1]:27017") on loop. Nothing is connected yet. Returns 0 with *out owned
 * (release with peer_destroy), or -ERR_FAILED_TO_PARSE for a malformed
 * host_port (e filled, *out untouched). */
int peer_create(uv_loop_t *loop, const char *host_port, struct peer **out, struct err *e);

/* Queues cmd (borrowed; copied before return) to be sent. cmd must contain a
 * string "$db". timeout_ms counts from this call, including time spent in the
 * queue and connecting; 0 means no timeout. Returns 0, after which cb runs
 * exactly once, never from inside peer_send. Returns -ERR_FAILED_TO_PARSE (no
 * $db), -ERR_BSON_OBJECT_TOO_LARGE, -ERR_BAD_VALUE (negative timeout) or
 * -ERR_SHUTDOWN_IN_PROGRESS (peer being destroyed) with e filled; cb then
 * never runs. */
int peer_send(struct peer *p, const bson_t *cmd, int64_t timeout_ms, peer_reply_cb cb, void *arg, struct err *e);

/* Destroys p (taken). Every request not yet completed has its callback run,
 * inside this call, with ShutdownInProgress (91); no callback of p runs after
 * peer_destroy returns. Handles close asynchronously: run the loop until it
 * has no more work before uv_loop_close. Safe from inside p's own callbacks. */
void peer_destroy(struct peer *p);

/* "host:port" as given to peer_create (borrowed, lives as long as p). */
const char *peer_host_port(const struct peer *p);

/* Number of requests queued or on the wire (completed ones excluded). */
size_t peer_n_pending(const struct peer *p);

#endif
