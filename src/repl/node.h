/* node.h - a replica-set member: the protocol core wired to the world.
 *
 * Owns the pure core (core.h) on the loop thread and carries out its actions:
 * heartbeats and vote requests through peer clients (net/peer.h), persistence
 * of term / last vote / config through writer jobs (writer.h, oplog.h), the
 * new-primary and periodic no-ops, the writable term of the oplog writer,
 * the sync source of the fetcher (fetcher.h), and the write-concern waiters.
 * Created by main.c only when --replSet is given; server.repl is NULL for a
 * standalone. Every function here runs on the loop thread.
 *
 * Commands answer in one of three ways: 0 (reply fields appended to `reply`),
 * a negative error (e filled), or REPL_ASYNC: `cb` will be called exactly once
 * later, on the loop thread, with the outcome. */
#ifndef TALLY_REPL_NODE_H
#define TALLY_REPL_NODE_H

#include "core/err.h"
#include "repl/config.h"
#include "repl/core.h"
#include "core/optime.h"
#include "repl/write_concern.h"

#include <bson/bson.h>
#include <stdbool.h>

struct server;
struct repl_node;

#define REPL_ASYNC 2

/* rc 0: fields (borrowed, may be NULL) are the reply's; rc < 0: e says why. */
typedef void (*repl_reply_cb)(void *arg, int rc, const struct err *e, const bson_t *fields);

/* Loads the persisted config, term, last vote and oplog position, installs the
 * oplog writer's hook on the store (before the writer starts), and arms the
 * timers. Without a persisted config the member waits for replSetInitiate. */
int repl_node_create(struct server *srv, const char *set_name, struct repl_node **out, struct err *e);
/* Called once the writer runs (persistence and no-ops go through it). */
void repl_node_start(struct repl_node *n);
/* Shutdown, first half, while the loop still runs and BEFORE writer_stop:
 * stops the timer, peers and fetcher, refuses further writes (writable term
 * -1) and answers pending callbacks with ShutdownInProgress. Idempotent. */
void repl_node_stop(struct repl_node *n);
/* Second half, AFTER writer_stop (the oplog writer's hook must outlive the
 * writer thread): removes the hook and frees everything. Calls
 * repl_node_stop first if it was not called. */
void repl_node_destroy(struct repl_node *n);

/* --- state for dispatch, hello and status --- */
const struct repl_state *repl_node_state(const struct repl_node *n);
bool repl_node_is_writable_primary(const struct repl_node *n);
/* True when this member hears from members holding a majority of the votes. */
bool repl_node_sees_majority(const struct repl_node *n);
const char *repl_node_set_name(const struct repl_node *n);
/* hello / isMaster fields for a replica-set member (wire-compat.md 2.2):
 * isWritablePrimary|ismaster, secondary, setName, setVersion, hosts, passives,
 * arbiters, primary, me, electionId (primary only), lastWrite, arbiterOnly,
 * passive, hidden, tags, or isreplicaset/info when not initiated or removed. */
void repl_node_append_hello(const struct repl_node *n, bool is_hello, bson_t *reply);
/* replSetGetStatus fields (replication digest 8.1). NotYetInitialized when no config. */
int repl_node_append_status(const struct repl_node *n, bson_t *reply, struct err *e);
/* replSetGetConfig: {config: {...}}. NotYetInitialized when no config. */
int repl_node_append_config(const struct repl_node *n, bson_t *reply, struct err *e);
/* The oplog writer (for the dispatcher's writable-term check on the writer thread). */
struct oplog_writer *repl_node_oplog_writer(const struct repl_node *n);

/* --- commands --- */
int repl_node_initiate(struct repl_node *n, const bson_t *config_or_null, bson_t *reply, struct err *e,
                       repl_reply_cb cb, void *arg);
int repl_node_reconfig(struct repl_node *n, const bson_t *config, bool is_force, bson_t *reply, struct err *e,
                       repl_reply_cb cb, void *arg);
/* The same, waiting at most max_wait_ms (replSetReconfig's maxTimeMS; <= 0:
 * the default 30 s) for the current config to be committed before giving up
 * with ConfigurationInProgress (109). */
int repl_node_reconfig_within(struct repl_node *n, const bson_t *config, bool is_force, int64_t max_wait_ms,
                              bson_t *reply, struct err *e, repl_reply_cb cb, void *arg);
int repl_node_step_down(struct repl_node *n, int64_t secs, int64_t catch_up_secs, bool is_force, bson_t *reply,
                        struct err *e, repl_reply_cb cb, void *arg);
int repl_node_step_up(struct repl_node *n, bool skip_dry_run, bson_t *reply, struct err *e, repl_reply_cb cb,
                      void *arg);
int repl_node_freeze(struct repl_node *n, int64_t secs, bson_t *reply, struct err *e, repl_reply_cb cb, void *arg);
/* Internal commands from other members (bodies borrowed). */
int repl_node_heartbeat(struct repl_node *n, const bson_t *body, bson_t *reply, struct err *e, repl_reply_cb cb,
                        void *arg);
int repl_node_request_votes(struct repl_node *n, const bson_t *body, bson_t *reply, struct err *e,
                            repl_reply_cb cb, void *arg);
int repl_node_update_position(struct repl_node *n, const bson_t *body, bson_t *reply, struct err *e);

/* --- write concern --- */
/* The default for a write that names none: the implicit default of digest 3.7. */
void repl_node_default_write_concern(const struct repl_node *n, struct write_concern *out);
/* Waits until wc holds for target (the optime of the write's last entry), then
 * calls cb with rc 0; on wtimeout with rc 0 and fields {writeConcernError: {...}};
 * when the member stops being primary with rc 0 and a writeConcernError of code
 * 11602 (InterruptedDueToReplStateChange). Returns 0 when wc already holds
 * (cb not called) or REPL_ASYNC. */
int repl_node_wait_write_concern(struct repl_node *n, const struct write_concern *wc, struct optime target,
                                 repl_reply_cb cb, void *arg);

/* The dispatcher calls this after the commit of every client write on a
 * primary (op = ctx->last_optime, the write's last entry; wall_ms its wall
 * time): the primary's own applied and durable optimes advance (a commit is
 * fsync'd), which moves the commit point and wakes write-concern waiters.
 * Call it BEFORE repl_node_wait_write_concern for that write. */
void repl_node_note_local_write(struct repl_node *n, struct optime op, int64_t wall_ms);

/* --- majority reads (any thread) --- */
/* Blocks until this member's commit point reaches target, or timeout_ms
 * passes (MaxTimeMSExpired), or the node stops (ShutdownInProgress). */
int repl_node_wait_committed(struct repl_node *n, struct optime target, int64_t timeout_ms, struct err *e);

/* --- for the fetcher and applier (same loop thread) --- */
/* Feeds one event to the core and carries out the resulting actions. */
void repl_node_feed(struct repl_node *n, struct repl_event *ev);
struct server *repl_node_server(const struct repl_node *n);
/* The metadata a sync source adds to oplog getMore replies: {$replData: {term,
 * lastOpCommitted: {ts, t}, primaryIndex, configVersion}}. */
void repl_node_append_repl_data(const struct repl_node *n, bson_t *reply);

#endif
