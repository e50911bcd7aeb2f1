/* linearizable.c - the no-op and majority wait behind readConcern
 * "linearizable" (see linearizable.h).
 *
 * The no-op goes through the writer like any write: its job checks, on the
 * writer thread and inside the transaction, that the oplog writer still has
 * a writable term, and appends the entry in that term. Once committed, the
 * loop reports it as a local write (the primary's own optimes move) and waits
 * on it with {w: "majority"} through the same waiter queue as client writes,
 * whose wtimeout is the read's remaining maxTimeMS. A writeConcernError from
 * that wait becomes the read's error. */
#include "cmd/linearizable.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/server.h"
#include "repl/node.h"
#include "repl/oplog_writer.h"
#include "repl/write_concern.h"
#include "storage/writer.h"

#include <string.h>

struct lin_wait {
    struct write_job job; /* first: the writer hands it back */
    struct server *srv;
    struct oplog_writer *ow;
    int64_t timeout_ms;
    uint64_t start_ns;
    linearizable_done_cb cb;
    void *arg;
    /* Written on the writer thread, read after the commit. */
    int rc;
    struct err err;
    struct optime op;
    int64_t wall_ms;
};

static void complete(struct lin_wait *w, int rc, const struct err *e)
{
    linearizable_done_cb cb = w->cb;
    void *arg = w->arg;

    cb(arg, rc, e);
    err_clear(&w->err);
    free(w);
}

static int job_run(struct store_txn *t, struct write_job *job)
{
    struct lin_wait *w = (struct lin_wait *)job;
    int64_t term = oplog_writer_writable_term(w->ow);
    bson_t msg = BSON_INITIALIZER;

    /* The member stepped down between the read and this job. */
    if (term < 0) {
        w->rc = err_set(&w->err, ERR_NOT_WRITABLE_PRIMARY,
                        "No longer primary when waiting for linearizable read concern");
        return 0;
    }
    BSON_APPEND_UTF8(&msg, "msg", "linearizable read");
    w->rc = oplog_writer_append_noop(w->ow, t, term, &msg, &w->op, &w->err);
    bson_destroy(&msg);
    if (w->rc == 0)
        w->wall_ms = oplog_writer_last_wall_ms(w->ow);
    /* Only a storage failure poisons the shared transaction. */
    return w->rc == -ERR_OUT_OF_DISK_SPACE ? w->rc : 0;
}

/* The writeConcernError of the majority wait, as the read's error. */
static void on_majority(void *arg, int rc, const struct err *e, const bson_t *fields)
{
    struct lin_wait *w = arg;
    bson_iter_t it, sub;

    if (rc < 0) {
        complete(w, rc, e);
        return;
    }
    if (fields && bson_iter_init_find(&it, fields, "writeConcernError") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "code")) {
        int code = (int)bson_iter_as_int64(&sub);
        if (code == ERR_WRITE_CONCERN_FAILED)
            rc = err_set(&w->err, ERR_MAX_TIME_MS_EXPIRED,
                         "operation exceeded time limit: the linearizable read's no-op was not majority-committed "
                         "within %lld ms (no majority of the replica set may be reachable)",
                         (long long)w->timeout_ms);
        else if (code == ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE || code == ERR_PRIMARY_STEPPED_DOWN)
            rc = err_set(&w->err, code, "operation was interrupted because a replica set state change occurred "
                         "while waiting for linearizable read concern");
        else
            rc = err_set(&w->err, code > 0 ? code : ERR_INTERNAL_ERROR,
                         "Failed to confirm that read was linearizable");
        complete(w, rc, &w->err);
        return;
    }
    complete(w, 0, NULL);
}

static void job_done(struct write_job *job, int commit_rc, const struct err *commit_err)
{
    struct lin_wait *w = (struct lin_wait *)job;
    struct repl_node *n = w->srv->repl;
    struct write_concern wc;

    if (commit_rc < 0) {
        err_set(&w->err, commit_err && commit_err->code ? commit_err->code : -commit_rc, "%s",
                commit_err ? commit_err->msg : "write transaction failed");
        complete(w, -w->err.code, &w->err);
        return;
    }
    if (w->rc < 0) {
        complete(w, w->rc, &w->err);
        return;
    }
    if (n == NULL || w->srv->is_shutting_down) {
        complete(w, err_set(&w->err, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down"), &w->err);
        return;
    }
    repl_node_note_local_write(n, w->op, w->wall_ms);
    write_concern_init(&wc);
    wc.has_w = true;
    wc.w_kind = WRITE_CONCERN_W_MAJORITY;
    if (w->timeout_ms > 0) {
        int64_t spent_ms = (int64_t)((uv_hrtime() - w->start_ns) / 1000000u);
        wc.has_wtimeout = true;
        wc.wtimeout_ms = w->timeout_ms - spent_ms > 0 ? w->timeout_ms - spent_ms : 1;
    }
    if (repl_node_wait_write_concern(n, &wc, w->op, on_majority, w) != REPL_ASYNC)
        complete(w, 0, NULL);
}

/* Defers an early answer to the next loop turn, so cb never runs inside
 * linearizable_wait itself. */
static void on_early_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void on_early_timer(uv_timer_t *t)
{
    struct lin_wait *w = t->data;
    uv_close((uv_handle_t *)t, on_early_timer_closed);
    complete(w, -w->err.code, &w->err);
}

void linearizable_wait(struct server *srv, int64_t timeout_ms, linearizable_done_cb cb, void *arg)
{
    struct lin_wait *w = xcalloc(1, sizeof *w);

    w->srv = srv;
    w->timeout_ms = timeout_ms;
    w->start_ns = uv_hrtime();
    w->cb = cb;
    w->arg = arg;
    err_init(&w->err);
    if (srv->repl == NULL || srv->writer == NULL || srv->is_shutting_down || !repl_node_is_writable_primary(srv->repl)) {
        if (srv->repl == NULL || srv->writer == NULL || srv->is_shutting_down)
            err_set(&w->err, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
        else
            err_set(&w->err, ERR_NOT_WRITABLE_PRIMARY, "No longer primary when waiting for linearizable read concern");
        uv_timer_t *t = xmalloc(sizeof *t);
        uv_timer_init(srv->loop, t);
        t->data = w;
        uv_timer_start(t, on_early_timer, 0, 0);
        return;
    }
    w->ow = repl_node_oplog_writer(srv->repl);
    w->job.run = job_run;
    w->job.done = job_done;
    writer_submit(srv->writer, &w->job);
}
