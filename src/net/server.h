/* server.h - the process-wide server state every command can reach.
 *
 * Owned by main.c; created before the loop starts and destroyed after it
 * stops. Fields are set up once; the counters are atomics because read
 * commands run on thread-pool threads. */
#ifndef TALLY_SERVER_H
#define TALLY_SERVER_H

#include "core/config.h"
#include "storage/store.h"
#include "storage/writer.h"

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

struct cursor_registry;
struct repl_node;
struct net;
struct hello_waiter;

struct server_counters {
    atomic_int_fast64_t n_insert;
    atomic_int_fast64_t n_query;
    atomic_int_fast64_t n_update;
    atomic_int_fast64_t n_delete;
    atomic_int_fast64_t n_getmore;
    atomic_int_fast64_t n_command;
    atomic_int_fast64_t n_connections_current;
    atomic_int_fast64_t n_connections_total;
    atomic_int_fast64_t n_bytes_in;
    atomic_int_fast64_t n_bytes_out;
    atomic_int_fast64_t n_requests; /* messages decoded (serverStatus network.numRequests) */
};

/* hello's topologyVersion (cmd/hello_await.c); loop thread only. */
struct server_topology {
    uint8_t process_id[12];        /* ObjectId, made on first use: new per process start */
    bool has_process_id;
    int64_t counter;               /* bumped on every change hello reports (role, config) */
    uint64_t fingerprint;          /* digest of those hello fields when counter was last set */
    bool has_fingerprint;
    struct hello_waiter *waiters;  /* parked awaitable hellos, doubly linked */
};

struct server {
    struct config cfg;                /* parsed options (flags over YAML) */
    uv_loop_t *loop;
    struct store *store;
    struct writer *writer;
    struct cursor_registry *cursors;
    int64_t start_time_ms;
    bool is_shutting_down;
    struct server_counters counters;
    char host_port[300]; /* "host:port" this server answers as (hello.me) */
    struct net *net;     /* listeners and connections (net/net.h) */
    int port;            /* the port actually bound (cfg.port, or the ephemeral one for port 0) */
    struct repl_node *repl; /* replica-set member state (repl/node.h); NULL for a standalone */
    struct server_topology topology;
};

/* Re-reads what hello reports about this member (state, writability, config,
 * primary); when it changed, bumps topologyVersion.counter and answers every
 * parked awaitable hello. Cheap; call it after anything that may change the
 * role or config (the replica-set glue does after every protocol step). Loop
 * thread only. Implemented in cmd/hello_await.c. */
void server_topology_changed(struct server *srv);

#endif
