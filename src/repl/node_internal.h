/* node_internal.h - private to src/repl/node*.c: the replica-set member's
 * struct and the functions its files share.
 *
 * node.c owns life (create/start/stop/destroy), the clock, the tick timer and
 * the peers; node_actions.c runs repl_step and carries out its actions;
 * node_persist.c owns the writer jobs; node_cmd.c the commands and the table
 * of pending requests; node_wc.c the write-concern waiters; node_status.c the
 * hello / replSetGetStatus / replSetGetConfig documents. Loop thread only,
 * except the run callbacks of writer jobs (node_persist.c). */
#ifndef TALLY_REPL_NODE_INTERNAL_H
#define TALLY_REPL_NODE_INTERNAL_H

#include "repl/node.h"

#include "storage/writer.h"

#include <pthread.h>
#include <uv.h>

struct peer;
struct fetcher;
struct oplog_writer;
struct node_request;
struct node_waiter;
struct node_reconfig;
struct node_job;
struct node_quorum;

#define NODE_TICK_MS 50
#define NODE_PERIODIC_NOOP_MS 10000
#define NODE_COMMIT_PERSIST_MS 1000

struct repl_node {
    struct server *srv;
    char set_name[REPL_SET_NAME_MAX];
    struct repl_state st;
    int64_t wall_offset_ms; /* wall clock = monotonic now + offset */
    int64_t start_mono_ms;

    struct oplog_writer *ow;
    struct fetcher *fetcher;
    bool is_started;
    bool is_stopped;
    int feed_depth;

    uv_timer_t *tick;       /* heap handle: its close callback frees only itself */

    /* One heartbeat/vote client per other member, by config index. */
    struct peer *peers[REPL_MAX_MEMBERS];
    char peer_hosts[REPL_MAX_MEMBERS][REPL_HOST_MAX];
    uint64_t peer_gen;      /* bumped whenever the peers are rebuilt; stale replies are ignored */
    int peers_cfg_version;  /* config (version, term) the peers were built for */
    int64_t peers_cfg_term;
    int64_t peer_first_up_ms[REPL_MAX_MEMBERS]; /* for members[].uptime */

    /* Bootstrap of an uninitialised member through a member that heartbeats us. */
    struct peer *boot_peer;
    char boot_host[REPL_HOST_MAX];
    int64_t boot_last_ms;
    bool is_boot_in_flight;

    /* Persistence. */
    struct node_job *deferred;  /* jobs made before repl_node_start (no writer yet), in order */
    int n_jobs_in_flight;
    bool is_config_persisting;  /* initiate / reconfig / bootstrap config job outstanding */
    bool is_commit_dirty;
    int64_t commit_persisted_ms;
    struct optime commit_persisted;
    bool is_noop_in_flight;
    bool is_trim_in_flight;     /* an oplog trim job is queued (oplog_cap.c) */
    int64_t next_trim_check_ms;
    int64_t last_write_ms;      /* monotonic ms of the newest local write (periodic no-op) */
    int64_t writable_term;      /* last value handed to oplog_writer_set_writable_term */
    bool is_reap_in_flight;     /* a session-record reap job is queued (node_sessions.c) */
    int64_t next_reap_ms;       /* monotonic ms of the next reap; 0 = not scheduled yet */

    /* The commit point as other threads see it (node_committed.c). */
    pthread_mutex_t committed_mu;
    pthread_cond_t committed_cv;
    struct optime committed;
    bool is_committed_closed;

    /* Commands waiting for the core (COMMAND_RESULT, REPLY_HEARTBEAT, REPLY_VOTE). */
    struct node_request *requests;
    uint64_t next_request_id;
    struct node_reconfig *reconfig; /* a reconfig waiting for the current config to commit */
    struct node_quorum *quorum;     /* replSetInitiate's quorum check in flight (node_quorum.c) */

    /* Write-concern waiters, ordered by target optime. */
    struct node_waiter *waiters;
    bool is_primary_seen; /* for failing waiters when primacy ends */
};

/* node.c */
int64_t node_now_ms(const struct repl_node *n);
int64_t node_wall_ms(const struct repl_node *n, int64_t mono_ms);
int64_t node_wall_now_ms(void);
/* Sets st.self_host to the member host of cfg that names this process (exact
 * host_port first, then localhost / 127.0.0.1 / hostname with our port).
 * Returns the member index or -1 (self_host then stays host_port). */
int node_pick_self_host(struct repl_node *n, const struct repl_config *cfg);
/* Rebuilds the peer clients when the config's members changed. */
void node_sync_peers(struct repl_node *n);
/* Closes a heap-allocated handle and frees it (nothing else) afterwards. */
void node_close_free(uv_handle_t *h);

/* node_actions.c */
void node_execute(struct repl_node *n, struct repl_actions *acts);
void node_after_step(struct repl_node *n);
/* Uninitialised member: ask the member that heartbeats us for its config. */
void node_bootstrap_from(struct repl_node *n, const struct repl_hb_request *req);

/* node_persist.c */
void node_persist_vote(struct repl_node *n, uint64_t seq, int64_t term);
/* Persists cfg (owned, taken) then feeds CONFIG_INSTALLED; with request_id != 0
 * answers that request once installed. With is_initiate also writes the
 * "initiating set" no-op. */
void node_persist_config(struct repl_node *n, struct repl_config *cfg, bool is_initiate, uint64_t request_id);
void node_write_noop(struct repl_node *n, int64_t term, const char *msg, bool is_new_primary);
void node_persist_commit_point(struct repl_node *n);
/* Submits the jobs queued before the writer existed. */
void node_flush_deferred(struct repl_node *n);

/* node_cmd.c */
/* Completes the pending request request_id: rc 0 with fields (nullable), or
 * rc < 0 with e. Unknown ids are ignored (the caller went away). */
void node_request_complete(struct repl_node *n, uint64_t request_id, int rc, const struct err *e,
                           const bson_t *fields);
void node_requests_fail_all(struct repl_node *n, int code, const char *msg);
void node_reconfig_check(struct repl_node *n);

/* node_sessions.c */
/* Called after every step (loop thread): once per logicalSessionRefreshMillis,
 * a writable primary queues a job that deletes expired session records. */
void node_sessions_check(struct repl_node *n);

/* node_quorum.c */
/* replSetInitiate's quorum check (digest 6.2): heartbeats with checkEmpty to
 * every other member of cfg (taken); self is this member's index. When all
 * answered well, persists cfg and answers request_id through node_persist_config;
 * otherwise fails request_id naming the members and why. No other member:
 * persists at once. */
void node_quorum_start(struct repl_node *n, struct repl_config *cfg, int self, uint64_t request_id);
/* Ends a check in flight without installing its config (the node stops);
 * its request is answered by the caller (node_requests_fail_all). */
void node_quorum_cancel(struct repl_node *n);
/* A member without a config answers a checkEmpty heartbeat itself (the core
 * only knows it has no config): 1 when it answered (0 with reply fields, or
 * *rc < 0 with e), 0 when body is an ordinary heartbeat. */
int node_quorum_answer(struct repl_node *n, const bson_t *body, bson_t *reply, struct err *e, int *rc);
/* True when a replSetHeartbeat body is a quorum probe (checkEmpty: true). */
bool node_quorum_is_probe(const bson_t *body);

/* node_wc.c */
void node_wc_check(struct repl_node *n);
void node_wc_fail_all(struct repl_node *n, int code, const char *msg);

/* node_committed.c */
void node_committed_init(struct repl_node *n);
void node_committed_publish(struct repl_node *n);
void node_committed_close(struct repl_node *n);
void node_committed_destroy(struct repl_node *n);

#endif
