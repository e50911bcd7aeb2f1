/* listen.c - the listeners: one TCP socket per bind_ip address.
 *
 * Owns struct net (net_internal.h): the listeners and the list of open
 * connections. Guarantees: net_start either listens on every configured
 * address or leaves nothing open; net_stop closes listeners and connections
 * once, and connections freed later by their in-flight replies never touch a
 * freed listener. */
#include "net/net_internal.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_connection(uv_stream_t *listener, int status)
{
    struct net *n = listener->data;

    if (status < 0) {
        log_warn(LOGC_NETWORK, "Error accepting a connection: %s", uv_strerror(status));
        return;
    }
    if (n->is_stopped)
        return;
    conn_accept(n, listener);
}

static void on_listener_closed(uv_handle_t *h)
{
    free(h);
}

static void close_listeners(struct net *n)
{
    for (int i = 0; i < n->n_listeners; i++)
        uv_close((uv_handle_t *)n->listeners[i], on_listener_closed);
    n->n_listeners = 0;
}

/* Binds one address ("127.0.0.1", "::1", "localhost") at port. */
static int listen_one(struct net *n, const char *addr, int port, struct err *e)
{
    struct sockaddr_storage ss;
    uv_tcp_t *t;
    int rc;

    if (strcmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    if (strchr(addr, ':'))
        rc = uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        return err_set(e, ERR_BAD_VALUE, "Invalid bind_ip address '%s'", addr);
    t = xmalloc(sizeof *t);
    uv_tcp_init(n->srv->loop, t);
    t->data = n;
    n->listeners[n->n_listeners++] = t;
    rc = uv_tcp_bind(t, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)t, 511, on_connection);
    if (rc < 0)
        return err_set(e, ERR_HOST_UNREACHABLE, "Failed to set up listener on %s:%d: %s", addr, port,
                       uv_strerror(rc));
    if (port == 0) {
        /* Ephemeral port: every further address shares the one first bound. */
        struct sockaddr_storage bound;
        int len = sizeof bound;
        if (uv_tcp_getsockname(t, (struct sockaddr *)&bound, &len) == 0)
            n->srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                             : ((struct sockaddr_in *)&bound)->sin_port);
    }
    return 0;
}

int net_start(struct server *srv, struct err *e)
{
    struct net *n = xcalloc(1, sizeof *n);
    char *list = xstrdup(srv->cfg.bind_ip), *save = NULL, host[256];
    int n_addrs = 1, rc = 0;

    for (const char *p = list; *p; p++)
        n_addrs += *p == ',';
    n->srv = srv;
    n->listeners = xcalloc((size_t)n_addrs, sizeof *n->listeners);
    srv->net = n;
    srv->port = srv->cfg.port;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        for (char *end = tok + strlen(tok); end > tok && end[-1] == ' ';)
            *--end = '\0';
        if (*tok == '\0')
            continue;
        if ((rc = listen_one(n, tok, srv->port, e)) < 0)
            break;
        log_info(LOGC_NETWORK, "Listening on %s:%d", tok, srv->port);
    }
    free(list);
    if (rc == 0 && n->n_listeners == 0)
        rc = err_set(e, ERR_BAD_VALUE, "bind_ip lists no address");
    if (rc < 0) {
        close_listeners(n);
        n->is_stopped = true;
        return rc;
    }
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(srv->host_port, sizeof srv->host_port, "%s:%d", host, srv->port);
    return 0;
}

void net_stop(struct server *srv)
{
    struct net *n = srv->net;

    if (n == NULL || n->is_stopped)
        return;
    n->is_stopped = true;
    close_listeners(n);
    while (n->conns)
        conn_close(n->conns);
}

void net_destroy(struct server *srv)
{
    if (srv->net == NULL)
        return;
    free(srv->net->listeners);
    free(srv->net);
    srv->net = NULL;
}

bool net_conn_is_open(struct server *srv, int64_t conn_id)
{
    return srv->net != NULL && conn_find(srv->net, conn_id) != NULL;
}

bool net_conn_mark_client_metadata(struct server *srv, int64_t conn_id)
{
    struct conn *c;

    if (srv->net == NULL || (c = conn_find(srv->net, conn_id)) == NULL)
        return false;
    return conn_mark_client_metadata(c);
}
