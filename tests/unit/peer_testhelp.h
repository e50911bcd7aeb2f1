/* peer_testhelp.h - shared by test_peer.c and test_peer_replies.c: run a
 * uv loop until requests complete, record each callback, and check that a
 * test's loop ends with no handle left open. */
#ifndef TALLY_PEER_TESTHELP_H
#define TALLY_PEER_TESTHELP_H

#include "testhelp.h"

#include "core/mem.h"
#include "net/peer.h"
#include "wire/wire.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <uv.h>

struct result {
    int n_calls;
    int code; /* 0 when a reply came */
    char msg[ERR_MSG_MAX];
    bson_t reply;
    int order; /* completion rank, from next_order */
};

static int next_order;

static inline void on_reply(void *arg, const bson_t *reply, const struct err *e)
{
    struct result *r = arg;

    r->n_calls++;
    r->order = next_order++;
    CHECK((reply == NULL) != (e == NULL));
    if (reply) {
        r->code = 0;
        bson_destroy(&r->reply);
        bson_copy_to(reply, &r->reply);
    } else {
        r->code = e->code;
        snprintf(r->msg, sizeof r->msg, "%s", e->msg);
    }
}

static inline void result_init(struct result *r, int n)
{
    for (int i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof r[i]);
        bson_init(&r[i].reply);
        r[i].code = -1;
    }
}

static inline void result_destroy(struct result *r, int n)
{
    for (int i = 0; i < n; i++)
        bson_destroy(&r[i].reply);
}

static bool guard_fired;
static inline void on_guard(uv_timer_t *t)
{
    (void)t;
    guard_fired = true;
}

static inline int n_called(const struct result *r, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += r[i].n_calls > 0;
    return c;
}

/* Runs loop until every one of r[0..n) has completed or limit_ms passed. */
static inline bool run_until_done(uv_loop_t *loop, struct result *r, int n, int64_t limit_ms)
{
    uv_timer_t guard;

    guard_fired = false;
    uv_timer_init(loop, &guard);
    uv_timer_start(&guard, on_guard, (uint64_t)limit_ms, 0);
    while (n_called(r, n) < n && !guard_fired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return n_called(r, n) == n;
}

/* Destroys p (if any), drains the loop, and checks that nothing leaked. */
static inline void finish_loop(uv_loop_t *loop, struct peer *p)
{
    if (p)
        peer_destroy(p);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(loop), 0);
}

static inline int send_cmd(struct peer *p, bson_t *cmd, int64_t timeout_ms, struct result *r)
{
    struct err e;
    int rc;

    err_init(&e);
    rc = peer_send(p, cmd, timeout_ms, on_reply, r, &e);
    if (rc < 0)
        fprintf(stderr, "  peer_send: %s\n", e.msg);
    err_clear(&e);
    bson_destroy(cmd);
    return rc;
}

static inline struct peer *make_peer(uv_loop_t *loop, const char *host, int port)
{
    char hp[300];
    struct peer *p = NULL;
    struct err e;

    err_init(&e);
    snprintf(hp, sizeof hp, "%s:%d", host, port);
    if (peer_create(loop, hp, &p, &e) < 0)
        fprintf(stderr, "  peer_create(%s): %s\n", hp, e.msg);
    err_clear(&e);
    return p;
}

static inline double reply_ok(const struct result *r)
{
    bson_iter_t it;
    if (r->code != 0 || !bson_iter_init_find(&it, &r->reply, "ok"))
        return -1;
    return bson_iter_as_double(&it);
}

static inline bson_t *ping_cmd(void) { return BCON_NEW("ping", BCON_INT32(1), "$db", BCON_UTF8("admin")); }

#endif
