/* conn.c - one client connection: read a message, dispatch it, write the reply.
 *
 * Sits between the listener (listen.c) and the dispatcher (cmd/dispatch.c).
 * Guarantees: one message is processed at a time (reading stops while a
 * command is in flight; drivers never pipeline except moreToCome, whose
 * messages get no reply); messageLength is checked before any allocation; the
 * message buffer exists only while a message is read, so an idle connection
 * costs only this struct; the struct is reference-counted (one reference for
 * the open handle, one per command or write in flight) and freed only after
 * uv_close has completed and no reply is pending. */
#include "net/net_internal.h"

#include "cmd/cmd.h"
#include "core/log.h"
#include "core/mem.h"
#include "wire/wire.h"

#include <stdio.h>
#include <string.h>

struct conn {
    uv_tcp_t tcp;
    struct net *net;
    int64_t id;
    int refs;
    bool is_closing;
    bool has_client_metadata;
    uint8_t header[WIRE_HEADER_LEN];
    size_t n_header;
    uint8_t *msg;     /* the message being read; NULL between messages */
    size_t msg_len;
    size_t n_msg;
    char addr[64];
    struct conn *prev, *next;
};

struct conn_write {
    uv_write_t req;
    struct conn *c;
    uint8_t *buf;
};

static void start_reading(struct conn *c);

static void conn_release(struct conn *c)
{
    if (--c->refs > 0)
        return;
    free(c->msg);
    free(c);
}

static void on_closed(uv_handle_t *h)
{
    conn_release(h->data);
}

void conn_close(struct conn *c)
{
    struct server *srv = c->net->srv;

    if (c->is_closing)
        return;
    c->is_closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->net->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    atomic_fetch_sub(&srv->counters.n_connections_current, 1);
    if (!srv->cfg.is_quiet)
        log_info(LOGC_NETWORK, "conn%lld: connection ended (%s, %lld connections now open)", (long long)c->id,
                 c->addr, (long long)atomic_load(&srv->counters.n_connections_current));
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

struct conn *conn_find(struct net *n, int64_t id)
{
    for (struct conn *c = n->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

bool conn_mark_client_metadata(struct conn *c)
{
    bool had = c->has_client_metadata;
    c->has_client_metadata = true;
    return had;
}

static void on_written(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct conn *c = w->c;

    free(w->buf);
    free(w);
    if (status < 0)
        conn_close(c);
    else
        start_reading(c);
    conn_release(c);
}

/* Takes buf (owned) and writes it; reading resumes when the write is done. */
static void send_bytes(struct conn *c, uint8_t *buf, size_t len)
{
    struct conn_write *w = xmalloc(sizeof *w);
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);

    w->c = c;
    w->buf = buf;
    c->refs++;
    atomic_fetch_add(&c->net->srv->counters.n_bytes_out, (int_fast64_t)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        free(buf);
        free(w);
        conn_close(c);
        conn_release(c);
    }
}

static void free_request(struct cmd_request *req)
{
    wire_request_clear(req);
    bson_destroy(&req->body);
    free(req);
}

static void on_reply(void *arg, struct cmd_request *req, const bson_t *reply)
{
    struct conn *c = arg;
    uint8_t *buf;
    size_t len;

    if (!c->is_closing) {
        if (reply) {
            wire_encode_reply(req, reply, &buf, &len);
            send_bytes(c, buf, len);
        } else {
            start_reading(c);
        }
    }
    free_request(req);
    conn_release(c);
}

/* A complete message is in c->msg: decode it, then dispatch or answer. */
static void process_message(struct conn *c)
{
    struct server *srv = c->net->srv;
    struct cmd_request *req = xcalloc(1, sizeof *req);
    enum wire_status st;
    struct err e;
    uint8_t *buf;
    size_t len;

    err_init(&e);
    bson_init(&req->body);
    req->connection_id = c->id;
    snprintf(req->client_addr, sizeof req->client_addr, "%s", c->addr);
    st = wire_decode(c->msg, c->msg_len, req, &e);
    /* The request owns copies of everything it needs: shrink back to idle size. */
    free(c->msg);
    c->msg = NULL;
    c->msg_len = c->n_msg = c->n_header = 0;
    atomic_fetch_add(&srv->counters.n_requests, 1);
    switch (st) {
    case WIRE_DISPATCH:
        c->refs++;
        cmd_dispatch(srv, req, on_reply, c);
        break;
    case WIRE_REPLY_ERROR:
        if (req->is_more_to_come) {
            start_reading(c);
        } else {
            bson_t reply = BSON_INITIALIZER;
            err_append_reply(&e, &reply);
            wire_encode_reply(req, &reply, &buf, &len);
            bson_destroy(&reply);
            send_bytes(c, buf, len);
        }
        free_request(req);
        break;
    case WIRE_QUERY_FAILURE:
        wire_encode_query_failure(req->request_id, &e, &buf, &len);
        send_bytes(c, buf, len);
        free_request(req);
        break;
    case WIRE_CLOSE:
        log_warn(LOGC_NETWORK, "conn%lld: closing the connection from %s: %s", (long long)c->id, c->addr, e.msg);
        free_request(req);
        conn_close(c);
        break;
    }
    err_clear(&e);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;

    (void)suggested;
    /* Read exactly what the current message still needs, never past it. */
    if (c->msg == NULL)
        *buf = uv_buf_init((char *)c->header + c->n_header, (unsigned)(WIRE_HEADER_LEN - c->n_header));
    else
        *buf = uv_buf_init((char *)c->msg + c->n_msg, (unsigned)(c->msg_len - c->n_msg));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    uint32_t len;

    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    atomic_fetch_add(&c->net->srv->counters.n_bytes_in, (int_fast64_t)nread);
    if (c->msg == NULL) {
        c->n_header += (size_t)nread;
        if (c->n_header < WIRE_HEADER_LEN)
            return;
        len = wire_check_length(c->header);
        if (len == 0) {
            log_warn(LOGC_NETWORK, "conn%lld: closing the connection from %s: invalid messageLength", (long long)c->id,
                     c->addr);
            conn_close(c);
            return;
        }
        c->msg = xmalloc(len);
        memcpy(c->msg, c->header, WIRE_HEADER_LEN);
        c->msg_len = len;
        c->n_msg = WIRE_HEADER_LEN;
    } else {
        c->n_msg += (size_t)nread;
    }
    if (c->n_msg < c->msg_len)
        return;
    uv_read_stop(s);
    process_message(c);
}

static void start_reading(struct conn *c)
{
    if (c->is_closing)
        return;
    if (c->net->is_stopped) {
        conn_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void format_peer(uv_tcp_t *tcp, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int n = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &n) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(out, cap, "%s:%d", ip, port);
}

static void on_refused(uv_handle_t *h)
{
    free(h);
}

void conn_accept(struct net *n, uv_stream_t *listener)
{
    struct server *srv = n->srv;
    struct conn *c;

    if (atomic_load(&srv->counters.n_connections_current) >= srv->cfg.max_conns) {
        uv_tcp_t *t = xmalloc(sizeof *t);
        uv_tcp_init(srv->loop, t);
        if (uv_accept(listener, (uv_stream_t *)t) == 0)
            log_warn(LOGC_NETWORK, "Connection refused because too many open connections (%d)", srv->cfg.max_conns);
        uv_close((uv_handle_t *)t, on_refused);
        return;
    }
    c = xcalloc(1, sizeof *c);
    c->net = n;
    c->refs = 1;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        c->is_closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->id = ++n->next_conn_id;
    format_peer(&c->tcp, c->addr, sizeof c->addr);
    c->next = n->conns;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    atomic_fetch_add(&srv->counters.n_connections_current, 1);
    atomic_fetch_add(&srv->counters.n_connections_total, 1);
    if (!srv->cfg.is_quiet)
        log_info(LOGC_NETWORK, "conn%lld: connection accepted from %s (%lld connections now open)", (long long)c->id,
                 c->addr, (long long)atomic_load(&srv->counters.n_connections_current));
    start_reading(c);
}
