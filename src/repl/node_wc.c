/* node_wc.c - write-concern waiters: writes that committed locally and now
 * wait for w:"majority" / w:N / a tag mode, until satisfied, wtimeout, or the
 * end of this member's primacy.
 *
 * One queue ordered by target optime; after every step of the core (member
 * optimes, commit point) node_wc_check evaluates it with
 * write_concern_evaluate. Every waiter's callback runs exactly once, on the
 * loop thread, never from inside repl_node_wait_write_concern: rc 0 with no
 * fields (satisfied), or rc 0 with {writeConcernError: {...}} (code 64 on
 * wtimeout, 11602 when primacy ended, 79/100 when the concern can never hold,
 * 91 at shutdown). */
#include "repl/node_internal.h"

#include "core/mem.h"
#include "net/server.h"

#include <stdlib.h>
#include <string.h>

struct node_waiter {
    struct repl_node *n;
    struct write_concern wc;
    struct optime target;
    repl_reply_cb cb;
    void *arg;
    uv_timer_t *timer; /* wtimeout or an immediate answer; NULL when none */
    bool has_fields;   /* immediate answer: fields below */
    bson_t fields;
    struct node_waiter *next;
};

void repl_node_default_write_concern(const struct repl_node *n, struct write_concern *out)
{
    write_concern_init(out);
    if (n->st.has_config)
        write_concern_apply_default(out, &n->st.config);
}

static int evaluate(const struct repl_node *n, const struct write_concern *wc, struct optime target, bool *is_ok,
                    struct err *e)
{
    const struct repl_state *st = &n->st;
    struct write_concern_member_progress prog[REPL_MAX_MEMBERS];
    int k = 0;
    for (int i = 0; i < st->config.n_members; i++) {
        if (i == st->self)
            continue;
        prog[k].member_id = st->config.members[i].id;
        repl_member_optimes(st, i, &prog[k].applied, &prog[k].durable);
        k++;
    }
    struct write_concern_view view = {
        .cfg = &st->config,
        .self_index = st->self,
        .self_applied = st->applied,
        .self_durable = st->durable,
        .members = prog,
        .n_members = k,
        .commit_point = st->commit_point,
    };
    return write_concern_evaluate(wc, &view, target, is_ok, e);
}

static void append_wce(bson_t *fields, int code, const char *msg)
{
    bson_t wce;
    BSON_APPEND_DOCUMENT_BEGIN(fields, "writeConcernError", &wce);
    BSON_APPEND_INT32(&wce, "code", code);
    BSON_APPEND_UTF8(&wce, "codeName", err_code_name(code));
    BSON_APPEND_UTF8(&wce, "errmsg", msg);
    bson_append_document_end(fields, &wce);
}

static void unlink_waiter(struct repl_node *n, struct node_waiter *w)
{
    for (struct node_waiter **pp = &n->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    w->next = NULL;
}

/* Answers w (already unlinked) and frees it. */
static void waiter_answer(struct node_waiter *w, const bson_t *fields)
{
    if (w->timer) {
        uv_timer_stop(w->timer);
        w->timer->data = NULL;
        node_close_free((uv_handle_t *)w->timer);
        w->timer = NULL;
    }
    repl_reply_cb cb = w->cb;
    void *arg = w->arg;
    if (w->has_fields)
        bson_destroy(&w->fields);
    free(w);
    cb(arg, 0, NULL, fields);
}

static void on_timer(uv_timer_t *h)
{
    struct node_waiter *w = h->data;
    if (!w)
        return;
    unlink_waiter(w->n, w);
    bson_t fields = BSON_INITIALIZER;
    if (w->has_fields)
        bson_concat(&fields, &w->fields);
    else
        write_concern_append_timeout_error(&w->wc, &fields);
    waiter_answer(w, &fields);
    bson_destroy(&fields);
}

static void insert_sorted(struct repl_node *n, struct node_waiter *w)
{
    struct node_waiter **pp = &n->waiters;
    while (*pp && optime_compare((*pp)->target, w->target) <= 0)
        pp = &(*pp)->next;
    w->next = *pp;
    *pp = w;
}

int repl_node_wait_write_concern(struct repl_node *n, const struct write_concern *wc_in, struct optime target,
                                 repl_reply_cb cb, void *arg)
{
    struct write_concern wc = *wc_in;
    if (n->is_stopped || !n->st.has_config || n->st.self < 0 || !cb)
        return 0;
    if (!wc.has_w)
        write_concern_apply_default(&wc, &n->st.config);
    if (wc.w_kind == WRITE_CONCERN_W_NUMBER && wc.w == 0)
        return 0;
#ifdef TALLY_MUTATION_ACK_BEFORE_MAJORITY
    if (wc.w_kind == WRITE_CONCERN_W_MAJORITY) /* deliberately broken build, tests/faults/test_mutant.py */
        return 0;
#endif
    bool is_ok = false;
    struct err e;
    err_init(&e);
    int rc = evaluate(n, &wc, target, &is_ok, &e);
    if (rc == 0 && is_ok) {
        err_clear(&e);
        return 0;
    }
    struct node_waiter *w = xcalloc(1, sizeof *w);
    w->n = n;
    w->wc = wc;
    w->target = target;
    w->cb = cb;
    w->arg = arg;
    int64_t timeout = -1;
    if (rc < 0) {
        bson_init(&w->fields);
        w->has_fields = true;
        append_wce(&w->fields, e.code, e.msg);
        timeout = 0;
    } else if (!repl_is_writable_primary(&n->st)) {
        bson_init(&w->fields);
        w->has_fields = true;
        append_wce(&w->fields, ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE,
                   "operation was interrupted because a replica set state change occurred");
        timeout = 0;
    } else if (wc.has_wtimeout && wc.wtimeout_ms > 0) {
        timeout = wc.wtimeout_ms;
    }
    err_clear(&e);
    if (timeout >= 0) {
        w->timer = xcalloc(1, sizeof *w->timer);
        uv_timer_init(n->srv->loop, w->timer);
        w->timer->data = w;
        uv_timer_start(w->timer, on_timer, (uint64_t)timeout, 0);
    }
    insert_sorted(n, w);
    return REPL_ASYNC;
}

void node_wc_check(struct repl_node *n)
{
    if (!n->waiters || !n->st.has_config || n->st.self < 0)
        return;
    /* Collect first: callbacks may add waiters. */
    struct node_waiter *done = NULL, **tail = &done;
    struct node_waiter **pp = &n->waiters;
    while (*pp) {
        struct node_waiter *w = *pp;
        bool is_ok = false;
        struct err e;
        err_init(&e);
        if (!w->has_fields && evaluate(n, &w->wc, w->target, &is_ok, &e) == 0 && is_ok) {
            *pp = w->next;
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        } else {
            pp = &w->next;
        }
        err_clear(&e);
    }
    while (done) {
        struct node_waiter *w = done;
        done = w->next;
        waiter_answer(w, NULL);
    }
}

void node_wc_fail_all(struct repl_node *n, int code, const char *msg)
{
    struct node_waiter *all = n->waiters;
    n->waiters = NULL;
    while (all) {
        struct node_waiter *w = all;
        all = w->next;
        bson_t fields = BSON_INITIALIZER;
        if (w->has_fields)
            bson_concat(&fields, &w->fields);
        else
            append_wce(&fields, code, msg);
        waiter_answer(w, &fields);
        bson_destroy(&fields);
    }
}
