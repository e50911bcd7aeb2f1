/* applier.c - applies one fetched batch of oplog entries in a writer job.
 *
 * For each entry, in the writer's transaction and with the change hook off
 * (these changes must not be logged a second time): parse it, capture the
 * undo record from the document's current state (so this member can roll the
 * entry back later, like a primary can), apply it in steady-state mode and
 * append it to our oplog. Data and oplog therefore commit together: after a
 * crash the oplog's newest entry is exactly the last applied one. The loop
 * thread hears the outcome in fetcher_on_applied.
 *
 * A CRUD entry that fails leaves the transaction as it was (oplog_entry.h),
 * so the batch stops there and the entries before it still commit; a failing
 * command may have done part of its work, so it poisons the transaction.
 *
 * A delayed member (members[].secondaryDelaySecs) holds each batch and
 * applies an entry only once its wall time plus the delay has passed: the
 * ripe prefix goes to the writer, a loop timer waits for the next entry to
 * ripen (never blocking heartbeats or the loop), and every applied part is
 * reported upstream at once. The fetcher asks for its next batch when the
 * whole batch is applied: Tally writes an entry to its oplog together with
 * its data, so there is no durable place for fetched-but-unapplied entries,
 * and a delayed member's optimes (which write concern counts) trail the
 * primary by the delay. A source change, a config without delay, or
 * shutdown ends the hold at once; the rest is fetched again later. */
#include "repl/fetcher_internal.h"

#include "cmd/cmd.h"
#include "core/failpoint.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/wallclock.h"
#include "net/server.h"
#include "repl/node.h"
#include "repl/oplog_entry.h"
#include "repl/oplog_writer.h"
#include "storage/oplog.h"
#include "storage/writer.h"

#include <string.h>

/* How often a hold looks for a source change or shutdown while it waits. */
#define HOLD_POLL_MS 200

struct delay_hold;

struct apply_job {
    struct write_job job; /* first: the writer hands it back */
    struct fetcher *f;
    struct oplog_writer *ow;
    bson_t **docs;
    int n;
    /* Outcome, written on the writer thread, read after the commit. */
    int rc;
    struct err err;
    struct optime last;
    int64_t last_wall_ms;
    struct delay_hold *hold; /* NULL: the whole batch, straight to the fetcher */
};

/* A batch of a delayed member waiting for its entries to ripen. */
struct delay_hold {
    uv_timer_t timer;
    struct fetcher *f;
    bson_t **docs; /* docs[next..n) still wait; earlier slots are NULL */
    int n;
    int next;
    struct optime last; /* newest entry applied from this batch */
    int64_t last_wall_ms;
};

static void hold_step(struct delay_hold *h);
static void hold_on_chunk_done(struct delay_hold *h, int rc, const char *msg, struct optime last, int64_t wall);

static int64_t entry_wall(const bson_t *entry)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, entry, "wall") && BSON_ITER_HOLDS_DATE_TIME(&it))
        return bson_iter_date_time(&it);
    return 0;
}

static int apply_one(struct store_txn *t, const bson_t *doc, struct err *e)
{
    struct oplog_entry pe;
    bool has_undo = false;
    bson_t undo;
    int rc;

    if ((rc = oplog_entry_parse(doc, &pe, e)) < 0)
        return rc;
    bson_init(&undo);
    rc = oplog_entry_undo_capture(t, doc, &undo, &has_undo, e);
    if (rc == 0 && has_undo)
        rc = oplog_undo_put(t, pe.optime.ts, &undo, e);
    bson_destroy(&undo);
    if (rc == 0)
        rc = oplog_entry_apply(t, doc, OPLOG_APPLY_STEADY, e);
    if (rc == 0)
        rc = oplog_append(t, doc, e);
    return rc;
}

static int job_run(struct store_txn *t, struct write_job *job)
{
    struct apply_job *j = (struct apply_job *)job;
    int rc = 0;

    if (failpoint_enter(FP_RS_SYNC_APPLY_STOP, NULL)) {
        j->rc = err_set(&j->err, ERR_OPERATION_FAILED, "the rsSyncApplyStop fail point is on");
        return 0;
    }
    store_txn_set_hook_enabled(t, false);
    for (int i = 0; i < j->n; i++) {
        struct oplog_entry pe;
        rc = apply_one(t, j->docs[i], &j->err);
        if (rc < 0) {
            j->rc = rc;
            /* A command may be half done; a CRUD entry left nothing behind. */
            struct err ignored;
            err_init(&ignored);
            if (oplog_entry_parse(j->docs[i], &pe, &ignored) == 0 && pe.op != 'c' && rc != -ERR_INTERNAL_ERROR &&
                rc != -ERR_OUT_OF_DISK_SPACE)
                rc = 0;
            err_clear(&ignored);
            break;
        }
        j->last = fetcher_entry_optime(j->docs[i]);
        j->last_wall_ms = entry_wall(j->docs[i]);
    }
    store_txn_set_hook_enabled(t, true);
    if (rc == 0 && j->ow && !optime_is_null(j->last))
        oplog_writer_observe(j->ow, j->last, j->last_wall_ms);
    return rc < 0 ? -ERR_INTERNAL_ERROR : 0;
}

static void job_done(struct write_job *job, int commit_rc, const struct err *commit_err)
{
    struct apply_job *j = (struct apply_job *)job;
    struct fetcher *f = j->f;
    char msg[sizeof j->err.msg];
    struct optime last = j->last;

    if (commit_rc < 0) {
        snprintf(msg, sizeof msg, "%s", j->err.code ? j->err.msg : commit_err ? commit_err->msg : "commit failed");
        last = OPTIME_NULL;
    } else {
        snprintf(msg, sizeof msg, "%s", j->err.msg);
    }
    for (int i = 0; i < j->n; i++)
        bson_destroy(j->docs[i]);
    free(j->docs);
    int rc = commit_rc < 0 ? commit_rc : j->rc;
    int64_t wall = j->last_wall_ms;
    struct delay_hold *hold = j->hold;
    err_clear(&j->err);
    free(j);
    if (hold)
        hold_on_chunk_done(hold, rc, msg, last, wall);
    else
        fetcher_on_applied(f, rc, msg, last, wall);
}

static void submit_job(struct fetcher *f, bson_t **docs, int n, struct delay_hold *hold)
{
    struct apply_job *j = xcalloc(1, sizeof *j);

    j->job.run = job_run;
    j->job.done = job_done;
    j->f = f;
    j->ow = repl_node_oplog_writer(f->node);
    j->docs = docs;
    j->n = n;
    j->last = OPTIME_NULL;
    j->hold = hold;
    err_init(&j->err);
    writer_submit(f->srv->writer, &j->job);
}

/* ---- delayed members ---- */

static int64_t self_delay_ms(const struct fetcher *f)
{
    const struct repl_state *st = repl_node_state(f->node);

    if (!st->has_config || st->self < 0 || st->self >= st->config.n_members)
        return 0;
    return st->config.members[st->self].secondary_delay_secs * 1000;
}

static void hold_free(uv_handle_t *handle)
{
    free(handle->data);
}

/* Ends the hold: entries not yet applied are dropped (the fetcher fetches
 * them again from its newest entry) and the fetcher hears the outcome. */
static void hold_finish(struct delay_hold *h, int rc, const char *msg)
{
    struct fetcher *f = h->f;
    struct optime last = h->last;
    int64_t wall = h->last_wall_ms;

    for (int i = h->next; i < h->n; i++)
        bson_destroy(h->docs[i]);
    free(h->docs);
    h->docs = NULL;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, hold_free);
    fetcher_on_applied(f, rc, msg, last, wall);
}

/* A part of the batch is durable: the node and the source hear it now, as
 * fetcher_on_applied would tell them for a whole batch. */
static void hold_note_progress(struct delay_hold *h)
{
    struct fetcher *f = h->f;
    struct repl_event ev;

    if (optime_compare(h->last, f->last) == 0)
        return;
    f->last = h->last;
    f->last_wall_ms = h->last_wall_ms;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_OPTIMES;
    ev.peer = -1;
    ev.optimes.applied = ev.optimes.durable = h->last;
    ev.optimes.applied_wall_ms = ev.optimes.durable_wall_ms = h->last_wall_ms;
    repl_node_feed(f->node, &ev);
    cmd_dispatch_wake_parked(f->srv);
    if (!f->is_destroyed)
        fetcher_report_position(f);
}

static void on_hold_timer(uv_timer_t *t)
{
    hold_step(t->data);
}

static void hold_step(struct delay_hold *h)
{
    struct fetcher *f = h->f;

    if (f->is_destroyed || f->has_wanted_source || f->phase != FETCH_APPLYING) {
        hold_finish(h, 0, "");
        return;
    }
    int64_t delay_ms = self_delay_ms(f);
    int64_t now = wallclock_now_ms();
    int k = 0;
    /* Digest 6.1 secondaryDelaySecs: an entry applies once wall + delay <= now. */
    while (h->next + k < h->n && entry_wall(h->docs[h->next + k]) + delay_ms <= now)
        k++;
    if (k > 0) {
        bson_t **part = xmalloc((size_t)k * sizeof *part);
        memcpy(part, h->docs + h->next, (size_t)k * sizeof *part);
        for (int i = 0; i < k; i++)
            h->docs[h->next + i] = NULL;
        h->next += k;
        submit_job(f, part, k, h);
        return;
    }
    int64_t wait_ms = entry_wall(h->docs[h->next]) + delay_ms - now;
    if (wait_ms > HOLD_POLL_MS)
        wait_ms = HOLD_POLL_MS;
    uv_timer_start(&h->timer, on_hold_timer, (uint64_t)(wait_ms > 0 ? wait_ms : 1), 0);
}

static void hold_on_chunk_done(struct delay_hold *h, int rc, const char *msg, struct optime last, int64_t wall)
{
    if (!optime_is_null(last)) {
        h->last = last;
        h->last_wall_ms = wall;
    }
    if (rc < 0 || h->next == h->n || h->f->is_destroyed) {
        hold_finish(h, rc, msg);
        return;
    }
    hold_note_progress(h);
    hold_step(h);
}

void applier_submit(struct fetcher *f, bson_t **docs, int n)
{
    int64_t delay_ms = self_delay_ms(f);

    if (delay_ms <= 0 || entry_wall(docs[n - 1]) + delay_ms <= wallclock_now_ms()) {
        submit_job(f, docs, n, NULL);
        return;
    }
    struct delay_hold *h = xcalloc(1, sizeof *h);
    h->f = f;
    h->docs = docs;
    h->n = n;
    h->last = OPTIME_NULL;
    uv_timer_init(f->srv->loop, &h->timer);
    h->timer.data = h;
    hold_step(h);
}

bool fetcher_is_too_stale(const struct fetcher *f)
{
    return f != NULL && !f->is_destroyed && f->phase == FETCH_STALE;
}
