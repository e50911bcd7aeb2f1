/* net_internal.h - state shared by listen.c and conn.c (not for other modules). */
#ifndef TALLY_NET_INTERNAL_H
#define TALLY_NET_INTERNAL_H

#include "net/net.h"

#include <uv.h>

struct conn;

struct net {
    struct server *srv;
    uv_tcp_t **listeners; /* each freed in its close callback */
    int n_listeners;
    struct conn *conns;   /* open connections, doubly linked */
    int64_t next_conn_id;
    bool is_stopped;
};

/* Accepts one pending connection on listener and starts reading from it. */
void conn_accept(struct net *n, uv_stream_t *listener);
/* Starts closing c (idempotent); c is freed once no command holds it. */
void conn_close(struct conn *c);
/* The connection with this id, or NULL. */
struct conn *conn_find(struct net *n, int64_t id);
/* Sets the client-metadata mark; returns the old value. */
bool conn_mark_client_metadata(struct conn *c);

#endif
