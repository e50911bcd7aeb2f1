/* test_peer_replies.c - the member-to-member client (net/peer.c) against a
 * fake server in the test's own loop that answers with what tallyd never
 * sends: split, late, oversized, misaddressed and corrupt replies, and
 * connections closed mid-request. Each bad answer must fail its own request
 * only, and the next request must get its own reply on a fresh connection. */
#include "peer_testhelp.h"

#include <netinet/in.h>
#include <signal.h>

enum fake_mode {
    FAKE_OK,        /* a proper reply {ok: 1, seq: n} */
    FAKE_SPLIT,     /* the proper reply in two writes 50 ms apart */
    FAKE_DELAY,     /* the proper reply after 300 ms */
    FAKE_TOO_LARGE, /* a header claiming 48,000,001 bytes */
    FAKE_WRONG_ID,  /* a proper reply to another request id */
    FAKE_BAD_BSON,  /* a body whose element type is unknown */
    FAKE_CLOSE,     /* close the connection instead of answering */
};

struct fake_client;

struct fake {
    uv_tcp_t server;
    int port;
    enum fake_mode modes[8]; /* per request, in order; FAKE_OK after */
    int n_requests;
    int n_conns;
    struct fake_client *clients;
};

struct fake_client {
    uv_tcp_t tcp;
    struct fake *f;
    struct fake_client *next;
    bool is_closing;
    uint8_t buf[4096];
    size_t len;
    uv_timer_t timer; /* FAKE_SPLIT and FAKE_DELAY */
    uint8_t pending[256];
    size_t pending_len;
};

static void fake_put_i32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

struct fake_write {
    uv_write_t req;
    uint8_t data[256];
};

static void on_fake_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void fake_write(struct fake_client *c, const uint8_t *data, size_t len)
{
    struct fake_write *w = xmalloc(sizeof *w);
    uv_buf_t b;

    memcpy(w->data, data, len);
    b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_fake_written) < 0)
        free(w);
}

static void on_fake_client_closed(uv_handle_t *h)
{
    struct fake_client *c = h->data;
    if (h == (uv_handle_t *)&c->tcp)
        uv_close((uv_handle_t *)&c->timer, on_fake_client_closed);
    else
        free(c);
}

static void fake_client_close(struct fake_client *c)
{
    if (c->is_closing)
        return;
    c->is_closing = true;
    uv_timer_stop(&c->timer);
    for (struct fake_client **link = &c->f->clients; *link; link = &(*link)->next)
        if (*link == c) {
            *link = c->next;
            break;
        }
    uv_close((uv_handle_t *)&c->tcp, on_fake_client_closed);
}

static void on_fake_timer(uv_timer_t *t)
{
    struct fake_client *c = t->data;
    fake_write(c, c->pending, c->pending_len);
}

/* Builds the reply to request_id for mode into out; returns its length. */
static size_t fake_reply(enum fake_mode mode, int32_t request_id, int seq, uint8_t *out)
{
    bson_t *b = BCON_NEW("ok", BCON_DOUBLE(1.0), "seq", BCON_INT32(seq));
    size_t len = 21 + b->len;

    fake_put_i32(out, (int32_t)len);
    fake_put_i32(out + 4, 1000 + seq);
    fake_put_i32(out + 8, mode == FAKE_WRONG_ID ? request_id + 1 : request_id);
    fake_put_i32(out + 12, WIRE_OP_MSG);
    fake_put_i32(out + 16, 0);
    out[20] = 0;
    memcpy(out + 21, bson_get_data(b), b->len);
    if (mode == FAKE_BAD_BSON)
        out[21 + 4] = 0x77;
    if (mode == FAKE_TOO_LARGE)
        fake_put_i32(out, WIRE_MAX_MESSAGE_BYTES + 1);
    bson_destroy(b);
    return len;
}

static void on_fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct fake_client *c = h->data;
    (void)suggested;
    buf->base = (char *)c->buf + c->len;
    buf->len = sizeof c->buf - c->len;
}

static void on_fake_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct fake_client *c = s->data;
    struct fake *f = c->f;
    uint8_t out[256];
    int32_t msg_len, request_id;
    enum fake_mode mode;
    size_t n;

    (void)buf;
    if (nread < 0) {
        fake_client_close(c);
        return;
    }
    c->len += (size_t)nread;
    if (c->len < 16)
        return;
    msg_len = (int32_t)((uint32_t)c->buf[0] | (uint32_t)c->buf[1] << 8 | (uint32_t)c->buf[2] << 16 |
                        (uint32_t)c->buf[3] << 24);
    if ((size_t)msg_len > c->len)
        return;
    request_id = (int32_t)((uint32_t)c->buf[4] | (uint32_t)c->buf[5] << 8 | (uint32_t)c->buf[6] << 16 |
                           (uint32_t)c->buf[7] << 24);
    memmove(c->buf, c->buf + msg_len, c->len - (size_t)msg_len);
    c->len -= (size_t)msg_len;
    mode = f->n_requests < 8 ? f->modes[f->n_requests] : FAKE_OK;
    n = fake_reply(mode, request_id, f->n_requests++, out);
    switch (mode) {
    case FAKE_CLOSE: fake_client_close(c); break;
    case FAKE_SPLIT:
        fake_write(c, out, 7);
        memcpy(c->pending, out + 7, n - 7);
        c->pending_len = n - 7;
        uv_timer_start(&c->timer, on_fake_timer, 50, 0);
        break;
    case FAKE_DELAY:
        memcpy(c->pending, out, n);
        c->pending_len = n;
        uv_timer_start(&c->timer, on_fake_timer, 300, 0);
        break;
    default: fake_write(c, out, n); break;
    }
}

static void on_fake_connection(uv_stream_t *server, int status)
{
    struct fake *f = server->data;
    struct fake_client *c;

    if (status < 0)
        return;
    c = xcalloc(1, sizeof *c);
    c->f = f;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        fake_client_close(c);
        return;
    }
    c->next = f->clients;
    f->clients = c;
    f->n_conns++;
    uv_read_start((uv_stream_t *)&c->tcp, on_fake_alloc, on_fake_read);
}

static bool fake_start(uv_loop_t *loop, struct fake *f)
{
    struct sockaddr_in a;
    struct sockaddr_storage bound;
    int n = sizeof bound;

    memset(f, 0, sizeof *f);
    uv_tcp_init(loop, &f->server);
    f->server.data = f;
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_bind(&f->server, (const struct sockaddr *)&a, 0) < 0 ||
        uv_listen((uv_stream_t *)&f->server, 16, on_fake_connection) < 0 ||
        uv_tcp_getsockname(&f->server, (struct sockaddr *)&bound, &n) < 0)
        return false;
    f->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return true;
}

static void fake_stop(struct fake *f)
{
    while (f->clients)
        fake_client_close(f->clients);
    uv_close((uv_handle_t *)&f->server, NULL);
}

static int reply_seq(const struct result *r)
{
    bson_iter_t it;
    if (r->code != 0 || !bson_iter_init_find(&it, &r->reply, "seq"))
        return -1;
    return (int)bson_iter_as_int64(&it);
}

/* Sends request 0 (answered in `mode`) then request 1 (answered properly);
 * returns the fake's connection count. */
static int bad_then_good(enum fake_mode mode, struct result r[2], int64_t timeout_ms)
{
    uv_loop_t loop;
    struct fake f;
    struct peer *p;
    int n_conns;

    uv_loop_init(&loop);
    CHECK(fake_start(&loop, &f));
    f.modes[0] = mode;
    p = make_peer(&loop, "127.0.0.1", f.port);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), timeout_ms, &r[0]), 0);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[1]), 0);
    CHECK(run_until_done(&loop, r, 2, 10000));
    CHECK_EQ_INT(r[0].n_calls, 1);
    CHECK_EQ_INT(r[1].n_calls, 1);
    n_conns = f.n_conns;
    peer_destroy(p);
    fake_stop(&f);
    finish_loop(&loop, NULL);
    return n_conns;
}

TEST(a_reply_split_across_reads_is_reassembled)
{
    struct result r[2];

    result_init(r, 2);
    CHECK_EQ_INT(bad_then_good(FAKE_SPLIT, r, 5000), 1);
    CHECK_EQ_INT(reply_seq(&r[0]), 0);
    CHECK_EQ_INT(reply_seq(&r[1]), 1);
    result_destroy(r, 2);
}

TEST(a_reply_over_48_mb_fails_and_the_next_request_uses_a_new_connection)
{
    struct result r[2];

    result_init(r, 2);
    CHECK_EQ_INT(bad_then_good(FAKE_TOO_LARGE, r, 5000), 2);
    CHECK_EQ_INT(r[0].code, ERR_PROTOCOL_ERROR);
    CHECK(strstr(r[0].msg, "exceeds") != NULL);
    CHECK_EQ_INT(reply_seq(&r[1]), 1);
    result_destroy(r, 2);
}

TEST(a_reply_to_another_request_id_fails_the_request)
{
    struct result r[2];

    result_init(r, 2);
    CHECK_EQ_INT(bad_then_good(FAKE_WRONG_ID, r, 5000), 2);
    CHECK_EQ_INT(r[0].code, ERR_PROTOCOL_ERROR);
    CHECK(strstr(r[0].msg, "expected a reply to request") != NULL);
    CHECK_EQ_INT(reply_seq(&r[1]), 1);
    result_destroy(r, 2);
}

TEST(a_reply_with_invalid_bson_fails_the_request)
{
    struct result r[2];

    result_init(r, 2);
    CHECK_EQ_INT(bad_then_good(FAKE_BAD_BSON, r, 5000), 2);
    CHECK_EQ_INT(r[0].code, ERR_INVALID_BSON);
    CHECK_EQ_INT(reply_seq(&r[1]), 1);
    result_destroy(r, 2);
}

TEST(a_connection_closed_before_the_reply_fails_the_request)
{
    struct result r[2];

    result_init(r, 2);
    CHECK_EQ_INT(bad_then_good(FAKE_CLOSE, r, 5000), 2);
    CHECK_EQ_INT(r[0].code, ERR_HOST_UNREACHABLE);
    CHECK_EQ_INT(reply_seq(&r[1]), 1);
    result_destroy(r, 2);
}

TEST(a_late_reply_after_a_timeout_never_reaches_the_next_request)
{
    struct result r[2];

    result_init(r, 2);
    CHECK_EQ_INT(bad_then_good(FAKE_DELAY, r, 100), 2);
    CHECK_EQ_INT(r[0].code, ERR_NETWORK_TIMEOUT);
    /* seq 0 was the late answer on the abandoned connection. */
    CHECK_EQ_INT(reply_seq(&r[1]), 1);
    result_destroy(r, 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(a_reply_split_across_reads_is_reassembled);
    RUN(a_reply_over_48_mb_fails_and_the_next_request_uses_a_new_connection);
    RUN(a_reply_to_another_request_id_fails_the_request);
    RUN(a_reply_with_invalid_bson_fails_the_request);
    RUN(a_connection_closed_before_the_reply_fails_the_request);
    RUN(a_late_reply_after_a_timeout_never_reaches_the_next_request);
    return test_report();
}
