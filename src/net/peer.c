/* peer.c - one member's client connection to another member, on libuv.
 *
 * Owns the socket, the request queue and the timer of a struct peer (see
 * peer.h for the contract and the state diagram). Encoding and decoding are
 * wire_client.c's. Everything runs on the loop thread. Guarantees: every
 * accepted request completes exactly once, never from inside peer_send and
 * never after peer_destroy returns; at most one request is on the wire, and a
 * reply is accepted only for that request's id; memory handed to libuv
 * (connections, writes, address lookups) lives until libuv's own callback,
 * which frees it even when the peer is gone (their `peer` pointer is NULL). */
#include "net/peer.h"

#include "core/log.h"
#include "core/mem.h"
#include "wire/wire.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_FIRST_MS 25
#define BACKOFF_MAX_MS 1000
#define READ_CHUNK 65536
/* A buffer grown for a big reply is released rather than kept while idle. */
#define READ_KEEP_MAX (1u << 20)
#define CMD_NAME_MAX 64

enum peer_state {
    PEER_IDLE,       /* no connection and no reason to wait before opening one */
    PEER_BACKOFF,    /* the last connection failed; no new one before connect_at_ms */
    PEER_RESOLVING,  /* uv_getaddrinfo in flight */
    PEER_CONNECTING, /* uv_tcp_connect in flight to one of the resolved addresses */
    PEER_CONNECTED,  /* connection open; at most one request on it */
};

static const char *const state_names[] = {"idle", "backoff", "resolving", "connecting", "connected"};

struct peer_request {
    struct peer_request *next;
    uint8_t *msg; /* encoded OP_MSG; owned until handed to a write */
    size_t len;
    int32_t request_id;
    uint64_t deadline_ms; /* loop time; 0 = none */
    int64_t timeout_ms;
    peer_reply_cb cb;
    void *arg;
    char cmd_name[CMD_NAME_MAX];
};

struct peer_conn {
    uv_tcp_t tcp; /* first: libuv hands back &tcp */
    uv_connect_t connect_req;
    struct peer *peer; /* NULL once abandoned (closing) */
    uint8_t *buf;
    size_t len, cap;
    size_t msg_len; /* messageLength of the reply being read; 0 until the header is in */
};

struct peer_resolve {
    uv_getaddrinfo_t req;
    struct peer *peer; /* NULL once abandoned */
};

struct peer_write {
    uv_write_t req;
    uint8_t *msg;
};

struct peer {
    uv_loop_t *loop;
    char *host_port;
    char *host;
    char port[8];
    uv_timer_t timer; /* deadlines, backoff, and deferred work after peer_send */
    enum peer_state state;
    bool is_destroyed;
    struct peer_conn *conn;       /* current connection or attempt */
    struct peer_resolve *resolve; /* current lookup */
    struct addrinfo *ai_list, *ai_next;
    int last_connect_status; /* libuv error of the last failed address */
    struct peer_request *head, *tail; /* queued, not yet sent */
    struct peer_request *inflight;    /* on the wire */
    struct peer_request *doomed;      /* taken off the queue, callbacks about to run */
    size_t n_pending;
    int n_failures; /* consecutive failures since the last good reply */
    uint64_t connect_at_ms;
    int32_t next_request_id;
};

static void peer_kick(struct peer *p);
static void peer_rearm(struct peer *p);

static void set_state(struct peer *p, enum peer_state to, const char *reason)
{
    if (p->state == to)
        return;
    log_debug(LOGC_NETWORK, "Peer %s: %s -> %s (%s)", p->host_port, state_names[p->state], state_names[to],
              reason);
    p->state = to;
}

/* Splits "host:port" or "[v6]:port"; the port must be 1..65535. */
static int parse_host_port(const char *s, char **host_out, char port_out[8], struct err *e)
{
    const char *colon, *host = s, *host_end;
    char *end;
    long port;

    if (s[0] == '[') {
        host = s + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL || host_end[1] != ':')
            return err_set(e, ERR_FAILED_TO_PARSE, "Bad peer address '%s': expected [ipv6]:port", s);
        colon = host_end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return err_set(e, ERR_FAILED_TO_PARSE, "Bad peer address '%s': expected host:port", s);
        host_end = colon;
    }
    if (host_end == host)
        return err_set(e, ERR_FAILED_TO_PARSE, "Bad peer address '%s': empty host", s);
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535)
        return err_set(e, ERR_FAILED_TO_PARSE, "Bad peer address '%s': port must be a number in 1..65535", s);
    *host_out = xstrndup(host, (size_t)(host_end - host));
    snprintf(port_out, 8, "%ld", port);
    return 0;
}

static void on_timer(uv_timer_t *t);

int peer_create(uv_loop_t *loop, const char *host_port, struct peer **out, struct err *e)
{
    struct peer *p;
    char *host = NULL;
    char port[8];
    int rc;

    if ((rc = parse_host_port(host_port, &host, port, e)) < 0)
        return rc;
    p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->host_port = xstrdup(host_port);
    p->host = host;
    memcpy(p->port, port, sizeof p->port);
    p->state = PEER_IDLE;
    p->next_request_id = 1;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    *out = p;
    return 0;
}

const char *peer_host_port(const struct peer *p)
{
    return p->host_port;
}

size_t peer_n_pending(const struct peer *p)
{
    return p->n_pending;
}

/* Runs req's callback with reply or e, then frees req. req is already
 * unlinked. The caller must check p->is_destroyed afterwards. */
static void complete(struct peer *p, struct peer_request *req, const bson_t *reply, const struct err *e)
{
    p->n_pending--;
    req->cb(req->arg, reply, e);
    free(req->msg);
    free(req);
}

static void fail_request(struct peer *p, struct peer_request *req, int code, const char *msg)
{
    struct err e;

    err_init(&e);
    err_set(&e, code, "%s", msg);
    complete(p, req, NULL, &e);
    err_clear(&e);
}

/* Fails every queued request. The queue is set aside first, so a callback
 * that sends again queues for the next connection instead of failing in this
 * loop; one that destroys the peer stops it (peer_destroy fails the rest). */
static void fail_queue(struct peer *p, int code, const char *msg)
{
    struct peer_request *req;

    p->doomed = p->head;
    p->head = p->tail = NULL;
    while ((req = p->doomed) != NULL && !p->is_destroyed) {
        p->doomed = req->next;
        fail_request(p, req, code, msg);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct peer_conn *c = (struct peer_conn *)h;

    free(c->buf);
    free(c);
}

/* Abandons the current connection or attempt; libuv frees it later. */
static void drop_conn(struct peer *p)
{
    struct peer_conn *c = p->conn;

    if (c == NULL)
        return;
    p->conn = NULL;
    c->peer = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void free_addresses(struct peer *p)
{
    if (p->ai_list)
        uv_freeaddrinfo(p->ai_list);
    p->ai_list = p->ai_next = NULL;
}

static void note_failure(struct peer *p, const char *reason)
{
    uint64_t delay = BACKOFF_FIRST_MS;

    for (int i = 0; i < p->n_failures && delay < BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    p->n_failures++;
    p->connect_at_ms = uv_now(p->loop) + delay;
    set_state(p, PEER_BACKOFF, reason);
}

/* The connection could not be opened: every queued request fails with why. */
static void connect_failed(struct peer *p, int code, const char *msg)
{
    log_debug(LOGC_NETWORK, "Cannot connect to peer %s: %s", p->host_port, msg);
    drop_conn(p);
    free_addresses(p);
    note_failure(p, msg);
    fail_queue(p, code, msg);
    if (!p->is_destroyed)
        peer_rearm(p);
}

/* An open connection broke: the request on it fails; queued ones wait for
 * the reconnect after the backoff. */
static void connection_lost(struct peer *p, int code, const char *msg)
{
    struct peer_request *req = p->inflight;

    log_debug(LOGC_NETWORK, "Connection to peer %s closed: %s", p->host_port, msg);
    drop_conn(p);
    p->inflight = NULL;
    note_failure(p, msg);
    if (req) {
        fail_request(p, req, code, msg);
        if (p->is_destroyed)
            return;
    }
    peer_rearm(p);
}

static void try_next_address(struct peer *p);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_connect(uv_connect_t *creq, int status)
{
    struct peer_conn *c = (struct peer_conn *)creq->handle;
    struct peer *p = c->peer;

    if (p == NULL)
        return; /* abandoned: its close is already under way */
    if (status < 0) {
        p->last_connect_status = status;
        drop_conn(p);
        try_next_address(p);
        return;
    }
    free_addresses(p);
    uv_tcp_nodelay(&c->tcp, 1);
    set_state(p, PEER_CONNECTED, "connected");
    if ((status = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "Cannot read from %s: %s", p->host_port, uv_strerror(status));
        connection_lost(p, ERR_HOST_UNREACHABLE, msg);
        return;
    }
    peer_kick(p);
}

static void try_next_address(struct peer *p)
{
    char msg[300];

    while (p->ai_next) {
        struct addrinfo *ai = p->ai_next;
        struct peer_conn *c;
        int rc;

        p->ai_next = ai->ai_next;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        c = xcalloc(1, sizeof *c);
        c->peer = p;
        uv_tcp_init(p->loop, &c->tcp);
        p->conn = c;
        rc = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr, on_connect);
        if (rc == 0) {
            set_state(p, PEER_CONNECTING, "address resolved");
            return;
        }
        p->last_connect_status = rc;
        drop_conn(p);
    }
    snprintf(msg, sizeof msg, "Error connecting to %s :: caused by :: %s", p->host_port,
             uv_strerror(p->last_connect_status ? p->last_connect_status : UV_EADDRNOTAVAIL));
    connect_failed(p, ERR_HOST_UNREACHABLE, msg);
}

static void on_resolved(uv_getaddrinfo_t *greq, int status, struct addrinfo *res)
{
    struct peer_resolve *r = (struct peer_resolve *)greq;
    struct peer *p = r->peer;
    char msg[300];

    free(r);
    if (p == NULL) {
        if (res)
            uv_freeaddrinfo(res);
        return;
    }
    p->resolve = NULL;
    if (status < 0) {
        snprintf(msg, sizeof msg, "Could not find address for %s: %s", p->host_port, uv_strerror(status));
        connect_failed(p, ERR_HOST_NOT_FOUND, msg);
        return;
    }
    p->ai_list = p->ai_next = res;
    p->last_connect_status = 0;
    try_next_address(p);
}

static void start_connect(struct peer *p)
{
    struct addrinfo hints;
    struct peer_resolve *r;
    char msg[300];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    r = xcalloc(1, sizeof *r);
    r->peer = p;
    set_state(p, PEER_RESOLVING, "a request is waiting");
    rc = uv_getaddrinfo(p->loop, &r->req, on_resolved, p->host, p->port, &hints);
    if (rc < 0) {
        free(r);
        snprintf(msg, sizeof msg, "Could not find address for %s: %s", p->host_port, uv_strerror(rc));
        connect_failed(p, ERR_HOST_NOT_FOUND, msg);
        return;
    }
    p->resolve = r;
}

static void on_write(uv_write_t *wreq, int status)
{
    struct peer_write *w = (struct peer_write *)wreq;
    struct peer_conn *c = (struct peer_conn *)wreq->handle;
    struct peer *p = c->peer;
    char msg[300];

    free(w->msg);
    free(w);
    if (status >= 0 || p == NULL)
        return;
    snprintf(msg, sizeof msg, "Error sending to %s: %s", p->host_port, uv_strerror(status));
    connection_lost(p, ERR_HOST_UNREACHABLE, msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct peer_conn *c = (struct peer_conn *)h;
    size_t want = c->msg_len > c->len ? c->msg_len - c->len : READ_CHUNK;

    (void)suggested;
    if (c->cap - c->len < want) {
        c->cap = c->len + want;
        c->buf = xrealloc(c->buf, c->cap);
    }
    buf->base = (char *)c->buf + c->len;
    buf->len = c->cap - c->len;
}

static void reset_read_buffer(struct peer_conn *c)
{
    c->len = 0;
    c->msg_len = 0;
    if (c->cap > READ_KEEP_MAX) {
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
}

/* A whole reply is in c->buf: decode it and complete the request on the wire. */
static void finish_reply(struct peer *p, struct peer_conn *c)
{
    struct peer_request *req = p->inflight;
    bson_t reply;
    struct err e;
    char msg[ERR_MSG_MAX + 64];
    int rc;

    err_init(&e);
    rc = wire_decode_reply(c->buf, c->msg_len, req->request_id, &reply, &e);
    reset_read_buffer(c);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "Bad reply from %s: %s", p->host_port, e.msg);
        err_clear(&e);
        connection_lost(p, -rc, msg);
        return;
    }
    p->inflight = NULL;
    p->n_failures = 0;
    complete(p, req, &reply, NULL);
    bson_destroy(&reply);
    if (!p->is_destroyed)
        peer_kick(p);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct peer_conn *c = (struct peer_conn *)s;
    struct peer *p = c->peer;
    char msg[300];

    (void)buf;
    if (p == NULL || nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && p->inflight == NULL) {
            log_debug(LOGC_NETWORK, "Idle connection to peer %s closed by the server", p->host_port);
            drop_conn(p);
            set_state(p, PEER_IDLE, "closed by the server while idle");
            peer_kick(p);
            return;
        }
        snprintf(msg, sizeof msg, "Connection to %s closed: %s", p->host_port,
                 nread == UV_EOF ? "the server closed it" : uv_strerror((int)nread));
        connection_lost(p, ERR_HOST_UNREACHABLE, msg);
        return;
    }
    c->len += (size_t)nread;
    if (p->inflight == NULL) {
        snprintf(msg, sizeof msg, "Unexpected data from %s with no request outstanding", p->host_port);
        connection_lost(p, ERR_PROTOCOL_ERROR, msg);
        return;
    }
    if (c->msg_len == 0 && c->len >= WIRE_HEADER_LEN) {
        int32_t n = (int32_t)((uint32_t)c->buf[0] | (uint32_t)c->buf[1] << 8 | (uint32_t)c->buf[2] << 16 |
                              (uint32_t)c->buf[3] << 24);
        if (n > WIRE_MAX_MESSAGE_BYTES) {
            snprintf(msg, sizeof msg, "Reply from %s of %d bytes exceeds the %d-byte message limit", p->host_port, n,
                     WIRE_MAX_MESSAGE_BYTES);
            connection_lost(p, ERR_PROTOCOL_ERROR, msg);
            return;
        }
        if (n < WIRE_HEADER_LEN + 5) {
            snprintf(msg, sizeof msg, "Reply from %s has an invalid length %d", p->host_port, n);
            connection_lost(p, ERR_PROTOCOL_ERROR, msg);
            return;
        }
        c->msg_len = (size_t)n;
    }
    if (c->msg_len == 0 || c->len < c->msg_len)
        return;
    /* One request at a time: a server never sends more than its one reply. */
    if (c->len > c->msg_len) {
        snprintf(msg, sizeof msg, "Unexpected data from %s after its reply", p->host_port);
        connection_lost(p, ERR_PROTOCOL_ERROR, msg);
        return;
    }
    finish_reply(p, c);
}

/* Puts the head of the queue on the wire. */
static void send_next(struct peer *p)
{
    struct peer_request *req = p->head;
    struct peer_write *w;
    uv_buf_t b;
    char msg[300];
    int rc;

    p->head = req->next;
    if (p->head == NULL)
        p->tail = NULL;
    req->next = NULL;
    p->inflight = req;
    req->request_id = p->next_request_id;
    p->next_request_id = p->next_request_id == INT32_MAX ? 1 : p->next_request_id + 1;
    wire_set_request_id(req->msg, req->request_id);
    w = xmalloc(sizeof *w);
    w->msg = req->msg;
    b = uv_buf_init((char *)w->msg, (unsigned)req->len);
    req->msg = NULL;
    rc = uv_write(&w->req, (uv_stream_t *)&p->conn->tcp, &b, 1, on_write);
    if (rc == 0)
        return;
    free(w->msg);
    free(w);
    snprintf(msg, sizeof msg, "Error sending to %s: %s", p->host_port, uv_strerror(rc));
    connection_lost(p, ERR_HOST_UNREACHABLE, msg);
}

/* Moves the connection forward: opens one when requests wait, or sends. */
static void peer_kick(struct peer *p)
{
    if (p->is_destroyed)
        return;
    if (p->head != NULL) {
        switch (p->state) {
        case PEER_BACKOFF:
            if (uv_now(p->loop) < p->connect_at_ms)
                break;
            start_connect(p);
            break;
        case PEER_IDLE: start_connect(p); break;
        case PEER_CONNECTED:
            if (p->inflight == NULL)
                send_next(p);
            break;
        case PEER_RESOLVING:
        case PEER_CONNECTING: break;
        }
    }
    if (!p->is_destroyed)
        peer_rearm(p);
}

/* Arms the timer for the earliest deadline or the end of the backoff. */
static void peer_rearm(struct peer *p)
{
    uint64_t now = uv_now(p->loop), next = 0;

    if (p->inflight && p->inflight->deadline_ms)
        next = p->inflight->deadline_ms;
    for (struct peer_request *r = p->head; r; r = r->next)
        if (r->deadline_ms && (next == 0 || r->deadline_ms < next))
            next = r->deadline_ms;
    if (p->head && p->state == PEER_BACKOFF && (next == 0 || p->connect_at_ms < next))
        next = p->connect_at_ms;
    if (next == 0) {
        uv_timer_stop(&p->timer);
        return;
    }
    uv_timer_start(&p->timer, on_timer, next > now ? next - now : 0, 0);
}

static void timeout_message(struct peer *p, struct peer_request *req, char *msg, size_t size)
{
    snprintf(msg, size, "Request '%s' to %s timed out after %lld ms", req->cmd_name, p->host_port,
             (long long)req->timeout_ms);
}

static void on_timer(uv_timer_t *t)
{
    struct peer *p = t->data;
    uint64_t now = uv_now(p->loop);
    char msg[300];

    for (;;) {
        struct peer_request **link = &p->head, *req = NULL, *prev = NULL;
        for (; *link; prev = *link, link = &(*link)->next)
            if ((*link)->deadline_ms && (*link)->deadline_ms <= now)
                break;
        if (*link == NULL)
            break;
        req = *link;
        *link = req->next;
        if (p->tail == req)
            p->tail = prev;
        timeout_message(p, req, msg, sizeof msg);
        fail_request(p, req, ERR_NETWORK_TIMEOUT, msg);
        if (p->is_destroyed)
            return;
    }
    /* The reply may still be on its way: only a fresh connection is safe. */
    if (p->inflight && p->inflight->deadline_ms && p->inflight->deadline_ms <= now) {
        timeout_message(p, p->inflight, msg, sizeof msg);
        connection_lost(p, ERR_NETWORK_TIMEOUT, msg);
        if (p->is_destroyed)
            return;
    }
    peer_kick(p);
}

int peer_send(struct peer *p, const bson_t *cmd, int64_t timeout_ms, peer_reply_cb cb, void *arg, struct err *e)
{
    struct peer_request *req;
    bson_iter_t it;
    uint8_t *msg;
    size_t len;
    int rc;

    if (p->is_destroyed)
        return err_set(e, ERR_SHUTDOWN_IN_PROGRESS, "Peer %s is being destroyed", p->host_port);
    if (timeout_ms < 0)
        return err_set(e, ERR_BAD_VALUE, "Timeout must not be negative, got %lld ms", (long long)timeout_ms);
    if ((rc = wire_encode_request(0, cmd, &msg, &len, e)) < 0)
        return rc;
    req = xcalloc(1, sizeof *req);
    req->msg = msg;
    req->len = len;
    req->cb = cb;
    req->arg = arg;
    req->timeout_ms = timeout_ms;
    req->deadline_ms = timeout_ms > 0 ? uv_now(p->loop) + (uint64_t)timeout_ms : 0;
    if (bson_iter_init(&it, cmd) && bson_iter_next(&it))
        snprintf(req->cmd_name, sizeof req->cmd_name, "%s", bson_iter_key(&it));
    if (p->tail)
        p->tail->next = req;
    else
        p->head = req;
    p->tail = req;
    p->n_pending++;
    /* Work happens from the timer so that no callback runs inside peer_send. */
    uv_timer_start(&p->timer, on_timer, 0, 0);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct peer *p = h->data;

    free(p->host_port);
    free(p->host);
    free(p);
}

void peer_destroy(struct peer *p)
{
    static const char why[] = "Peer connection closed while the request was pending";
    struct peer_request *req;

    if (p == NULL || p->is_destroyed)
        return;
    p->is_destroyed = true;
    log_debug(LOGC_NETWORK, "Peer %s: destroyed in state %s with %zu requests pending", p->host_port,
              state_names[p->state], p->n_pending);
    drop_conn(p);
    if (p->resolve) {
        /* The lookup's callback always runs (UV_EAI_CANCELED if cancelled) and frees it. */
        p->resolve->peer = NULL;
        uv_cancel((uv_req_t *)&p->resolve->req);
        p->resolve = NULL;
    }
    free_addresses(p);
    req = p->inflight;
    p->inflight = NULL;
    if (req)
        fail_request(p, req, ERR_SHUTDOWN_IN_PROGRESS, why);
    while ((req = p->doomed) != NULL) {
        p->doomed = req->next;
        fail_request(p, req, ERR_SHUTDOWN_IN_PROGRESS, why);
    }
    while ((req = p->head) != NULL) {
        p->head = req->next;
        if (p->head == NULL)
            p->tail = NULL;
        fail_request(p, req, ERR_SHUTDOWN_IN_PROGRESS, why);
    }
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}
