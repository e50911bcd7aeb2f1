/* conn.c - one client connection: read messages, dispatch them, write replies.
 *
 * Sits between the listener (listen.c) and the dispatcher (cmd/dispatch.c).
 * Guarantees: one message is processed at a time, in arrival order (drivers
 * never pipeline except moreToCome, whose messages get no reply); the socket
 * stays in read mode between requests and a request normally arrives in one
 * read into a loop-wide buffer and is decoded in place; bytes beyond what is
 * processed are kept per connection only while needed, and while a command
 * is in flight at most one further complete message is buffered (reading
 * pauses), so an idle connection costs only this struct; messageLength is
 * checked before any allocation; the struct is reference-counted (one
 * reference for the open handle, one per command or queued write in flight)
 * and freed only after uv_close has completed and no reply is pending. A
 * hello exhaust stream (hello_await.h) keeps the connection busy: each reply
 * goes out with moreToCome and the request runs again, until the client
 * sends something else or leaves; a closing connection answers (and so
 * frees) its parked hello at once. */
#include "net/net_internal.h"

#include "cmd/cmd.h"
#include "cmd/hello_await.h"
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
    bool is_busy;     /* a command or its reply is in flight */
    bool is_reading;  /* uv_read_start is in effect */
    bool is_draining; /* drain() is on the stack: re-entry only sets flags */
    bool is_eof;      /* the peer half-closed while a command was in flight */
    uint8_t *in;      /* received bytes not yet processed; NULL when none */
    size_t n_in;
    size_t in_cap;
    char addr[64];
    struct conn *prev, *next;
};

struct conn_write {
    uv_write_t req;
    struct conn *c;
    uint8_t *buf;
    bool is_final; /* the command's last reply: the connection goes idle once written */
};

/* Most reads land here first: a whole request usually arrives in one read,
 * is decoded straight from this buffer and never copied. Loop thread only;
 * libuv calls on_alloc and on_read back to back, so one buffer serves every
 * connection. */
#define READ_BUF_BYTES (64 * 1024)
static uint8_t read_buf[READ_BUF_BYTES];

static void drain(struct conn *c);
static void update_reading(struct conn *c);

static void conn_release(struct conn *c)
{
    if (--c->refs > 0)
        return;
    free(c->in);
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
    if (c->is_busy && srv->is_shutting_down) {
        /* A parked awaitable hello gets its ShutdownInProgress answer out
         * before the socket goes (answering may close c itself). */
        hello_await_release_conn(srv, c->id);
        if (c->is_closing)
            return;
    }
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
    if (c->is_busy)
        hello_await_release_conn(srv, c->id); /* frees a parked hello now; its reply is dropped */
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

/* The command and its reply are done: take the next buffered message. */
static void become_idle(struct conn *c)
{
    c->is_busy = false;
    drain(c);
}

static void on_written(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct conn *c = w->c;

    bool is_final = w->is_final;

    free(w->buf);
    free(w);
    if (status < 0)
        conn_close(c);
    else if (!c->is_closing && is_final)
        become_idle(c);
    conn_release(c);
}

/* Takes buf (owned) and writes it; the connection stays busy until every
 * byte is with the kernel, and after that too unless is_final (an exhaust
 * stream's replies with moreToCome). Most replies fit in the socket buffer at
 * once, so uv_try_write finishes them without a write request or a loop
 * turn; libuv keeps queued writes in order. */
static void send_bytes(struct conn *c, uint8_t *buf, size_t len, bool is_final)
{
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int n;

    atomic_fetch_add(&c->net->srv->counters.n_bytes_out, (int_fast64_t)len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len) {
        free(buf);
        if (is_final)
            become_idle(c);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        free(buf);
        conn_close(c);
        return;
    }
    if (n > 0)
        b = uv_buf_init((char *)buf + n, (unsigned)(len - (size_t)n));
    struct conn_write *w = xmalloc(sizeof *w);
    w->c = c;
    w->buf = buf;
    w->is_final = is_final;
    c->refs++;
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

static bool has_complete_message(const struct conn *c);
static void on_reply(void *arg, struct cmd_request *req, const bson_t *reply);

/* One reply of a hello exhaust stream: sent with moreToCome, then the same
 * request (rewritten by hello_await_exhaust_next) runs again and answers
 * the reply just sent (responseTo = its requestID). */
static void stream_reply(struct conn *c, struct cmd_request *req, const bson_t *reply)
{
    uint8_t *buf;
    size_t len;
    int32_t sent_id;

    wire_encode_streamed_reply(req, reply, &buf, &len, &sent_id);
    req->request_id = sent_id;
    send_bytes(c, buf, len, false);
    if (c->is_closing) {
        free_request(req);
        return;
    }
    c->refs++;
    cmd_dispatch(c->net->srv, req, on_reply, c);
}

static void on_reply(void *arg, struct cmd_request *req, const bson_t *reply)
{
    struct conn *c = arg;
    uint8_t *buf;
    size_t len;

    if (!c->is_closing) {
        /* The stream goes on while the client only listens: a client that
         * sent something else or hung up gets this reply as the last one. */
        if (reply && req->is_exhaust_allowed && !c->is_eof && !has_complete_message(c) &&
            hello_await_exhaust_next(c->net->srv, req, reply)) {
            stream_reply(c, req, reply);
            req = NULL;
        } else if (reply) {
            wire_encode_reply(req, reply, &buf, &len);
            free_request(req);
            req = NULL;
            send_bytes(c, buf, len, true);
        } else {
            become_idle(c);
        }
    }
    if (req)
        free_request(req);
    conn_release(c);
}

/* One complete message (msg, len: borrowed; wire_decode copies what the
 * request needs): decode it, then dispatch or answer. The connection is busy
 * from here until the reply is written. */
static void process_message(struct conn *c, const uint8_t *msg, size_t len)
{
    struct server *srv = c->net->srv;
    struct cmd_request *req = xcalloc(1, sizeof *req);
    enum wire_status st;
    struct err e;
    uint8_t *buf;
    size_t n;

    err_init(&e);
    bson_init(&req->body);
    req->connection_id = c->id;
    snprintf(req->client_addr, sizeof req->client_addr, "%s", c->addr);
    st = wire_decode(msg, len, req, &e);
    atomic_fetch_add(&srv->counters.n_requests, 1);
    c->is_busy = true;
    switch (st) {
    case WIRE_DISPATCH:
        c->refs++;
        cmd_dispatch(srv, req, on_reply, c);
        break;
    case WIRE_REPLY_ERROR:
        if (req->is_more_to_come) {
            free_request(req);
            become_idle(c);
        } else {
            bson_t reply = BSON_INITIALIZER;
            err_append_reply(&e, &reply);
            wire_encode_reply(req, &reply, &buf, &n);
            bson_destroy(&reply);
            free_request(req);
            send_bytes(c, buf, n, true);
        }
        break;
    case WIRE_QUERY_FAILURE:
        wire_encode_query_failure(req->request_id, &e, &buf, &n);
        free_request(req);
        send_bytes(c, buf, n, true);
        break;
    case WIRE_CLOSE:
        log_warn(LOGC_NETWORK, "conn%lld: closing the connection from %s: %s", (long long)c->id, c->addr, e.msg);
        free_request(req);
        conn_close(c);
        break;
    }
    err_clear(&e);
}

/* Length of the message at the start of p[0..n) once its header is there:
 * 0 while the header is incomplete, -1 (after closing c) if it is invalid. */
static int64_t message_length(struct conn *c, const uint8_t *p, size_t n)
{
    uint32_t len;

    if (n < WIRE_HEADER_LEN)
        return 0;
    len = wire_check_length(p);
    if (len == 0) {
        log_warn(LOGC_NETWORK, "conn%lld: closing the connection from %s: invalid messageLength", (long long)c->id,
                 c->addr);
        conn_close(c);
        return -1;
    }
    return len;
}

/* Keeps p[0..n) as the start of c->in, with room for the whole message when
 * its length is known (so the rest of a large message can be read in place). */
static void keep_bytes(struct conn *c, const uint8_t *p, size_t n, size_t want)
{
    size_t cap = want > n ? want : n;

    if (n == 0 && c->in != NULL) {
        /* Back to idle size between messages. */
        free(c->in);
        c->in = NULL;
        c->n_in = c->in_cap = 0;
        return;
    }
    if (n == 0)
        return;
    if (c->in == NULL || c->in_cap < cap) {
        uint8_t *in = xmalloc(cap);
        memcpy(in, p, n);
        free(c->in);
        c->in = in;
        c->in_cap = cap;
    } else if (p != c->in) {
        memmove(c->in, p, n);
    }
    c->n_in = n;
}

/* Processes complete messages from p[0..n) while the connection is idle and
 * returns how many bytes were consumed; stops at an incomplete message, when
 * a command goes in flight, or when the connection closes. */
static size_t process_bytes(struct conn *c, const uint8_t *p, size_t n, int64_t *next_len)
{
    size_t off = 0;

    *next_len = 0;
    while (!c->is_busy && !c->is_closing) {
        int64_t len = message_length(c, p + off, n - off);
        if (len <= 0) {
            *next_len = len;
            break;
        }
        if ((size_t)len > n - off) {
            *next_len = len;
            break;
        }
        process_message(c, p + off, (size_t)len);
        off += (size_t)len;
    }
    if (c->is_busy && !c->is_closing)
        *next_len = message_length(c, p + off, n - off);
    return off;
}

/* Runs the buffered messages while the connection is idle. A command that
 * completes synchronously calls back into become_idle -> drain: the nested
 * call returns at once and this loop carries on, so the stack stays flat
 * however many messages a client pipelines. */
static void drain(struct conn *c)
{
    if (c->is_draining)
        return;
    c->is_draining = true;
    while (!c->is_busy && !c->is_closing && c->n_in > 0) {
        int64_t next_len;
        size_t used = process_bytes(c, c->in, c->n_in, &next_len);
        if (c->is_closing)
            break;
        keep_bytes(c, c->in + used, c->n_in - used, next_len > 0 ? (size_t)next_len : 0);
        if (used == 0)
            break;
    }
    c->is_draining = false;
    if (c->is_closing)
        return;
    if (!c->is_busy && (c->is_eof || c->net->is_stopped)) {
        conn_close(c);
        return;
    }
    update_reading(c);
}

static bool has_complete_message(const struct conn *c)
{
    return c->n_in >= WIRE_HEADER_LEN && wire_check_length(c->in) != 0 && c->n_in >= wire_check_length(c->in);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;

    (void)suggested;
    /* The rest of a large message goes straight into its own buffer. */
    if (c->in != NULL && c->in_cap - c->n_in >= READ_BUF_BYTES)
        *buf = uv_buf_init((char *)c->in + c->n_in, (unsigned)(c->in_cap - c->n_in));
    else
        *buf = uv_buf_init((char *)read_buf, READ_BUF_BYTES);
}

/* A parked awaitable hello (or an exhaust stream) does not outwait its
 * client: when the client sends another message or hangs up, it answers now,
 * and that reply ends the stream. Drivers never do the former; this keeps a
 * confused client from waiting maxAwaitTimeMS for its next reply. */
static void interrupt_wait(struct conn *c)
{
    if (c->is_busy && !c->is_closing && (c->is_eof || has_complete_message(c)))
        hello_await_release_conn(c->net->srv, c->id);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    if (nread == UV_EOF) {
        /* Answer what is in flight, then close (a half-closed client may
         * still read the reply). */
        c->is_eof = true;
        drain(c);
        interrupt_wait(c);
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    atomic_fetch_add(&c->net->srv->counters.n_bytes_in, (int_fast64_t)nread);
    if ((uint8_t *)buf->base != read_buf) {
        c->n_in += (size_t)nread;
        drain(c);
        interrupt_wait(c);
        return;
    }
    if (c->n_in == 0) {
        /* The common case: decode straight from read_buf. */
        int64_t next_len;
        c->is_draining = true;
        size_t used = process_bytes(c, read_buf, (size_t)nread, &next_len);
        c->is_draining = false;
        if (c->is_closing)
            return;
        keep_bytes(c, read_buf + used, (size_t)nread - used, next_len > 0 ? (size_t)next_len : 0);
    } else {
        size_t need = c->n_in + (size_t)nread;
        if (need > c->in_cap) {
            c->in = xrealloc(c->in, need);
            c->in_cap = need;
        }
        memcpy(c->in + c->n_in, read_buf, (size_t)nread);
        c->n_in = need;
    }
    drain(c);
    interrupt_wait(c);
}

/* Reads while the connection may take more bytes: always when idle, and
 * while busy until one complete message is buffered (drivers do not pipeline
 * except moreToCome, so this bounds what a misbehaving client can queue). */
static void update_reading(struct conn *c)
{
    bool want = !c->is_closing && !c->is_eof && !(c->is_busy && has_complete_message(c));

    if (want == c->is_reading)
        return;
    if (want) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
            conn_close(c);
            return;
        }
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    c->is_reading = want;
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
    update_reading(c);
}
