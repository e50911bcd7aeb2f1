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
 * command may have done part of its work, so it poisons the transaction. */
#include "repl/fetcher_internal.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/server.h"
#include "repl/node.h"
#include "repl/oplog_entry.h"
#include "repl/oplog_writer.h"
#include "storage/oplog.h"
#include "storage/writer.h"

#include <string.h>

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
};

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
    err_clear(&j->err);
    free(j);
    fetcher_on_applied(f, rc, msg, last, wall);
}

void applier_submit(struct fetcher *f, bson_t **docs, int n)
{
    struct apply_job *j = xcalloc(1, sizeof *j);

    j->job.run = job_run;
    j->job.done = job_done;
    j->f = f;
    j->ow = repl_node_oplog_writer(f->node);
    j->docs = docs;
    j->n = n;
    j->last = OPTIME_NULL;
    err_init(&j->err);
    writer_submit(f->srv->writer, &j->job);
}
