/* rollback.c - undoing our oplog entries that the sync source does not have.
 *
 * Entered from the fetcher when the source's oplog does not hold our newest
 * entry and is not simply past our history (digest 4). Steps:
 *   1. ROLLBACK state; walk our oplog newest first, asking the source for each
 *      timestamp ({find: oplog.rs, filter: {ts: X}}); the newest entry held by
 *      both with the same (ts, t) is the common point. Reaching our oldest
 *      entry without one means we cannot roll back.
 *   2. Every entry above the common point must be undoable: CRUD entries have
 *      undo records (written by the primary's oplog writer and by our
 *      applier), no-ops need nothing, a "create" drops the collection. Any
 *      other command cannot be undone: the member goes RECOVERING and needs a
 *      resync.
 *   3. One writer job, hook off: newest first, save the document's current
 *      version to <dbpath>/rollback/<db>.<coll>/removed.<time>.bson, apply the
 *      undo record; truncate the oplog after the common point; bump the rbid.
 *   4. OPTIMES rewound to the common point, SECONDARY, fetch again. */
#include "repl/fetcher_internal.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/peer.h"
#include "net/server.h"
#include "repl/node.h"
#include "repl/oplog_entry.h"
#include "storage/oplog.h"
#include "storage/writer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PROBE_TIMEOUT_MS 30000

struct rollback_job {
    struct write_job job; /* first */
    struct fetcher *f;
    struct optime common;
    char dir[1024];        /* <dbpath>/rollback */
    int64_t started_s;
    int rc;
    struct err err;
    int64_t n_undone;
    int64_t common_wall_ms;
};

static void set_state(struct fetcher *f, enum repl_member_state s)
{
    struct repl_event ev;

    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_SET_STATE;
    ev.peer = -1;
    ev.new_state = s;
    repl_node_feed(f->node, &ev);
}

static void fail(struct fetcher *f, const char *why)
{
    log_error(LOGC_REPL, "rollback failed: %s; this member stays RECOVERING and needs a resync", why);
    set_state(f, REPL_RECOVERING);
    fetcher_on_rollback_done(f, -1);
}

/* The newest entry of our oplog older than below (UINT64_MAX: the newest). */
static int local_entry_below(struct fetcher *f, uint64_t below, struct optime *out)
{
    struct store_txn *t = NULL;
    struct oplog_iter *it = NULL;
    struct err e;
    int rc;

    err_init(&e);
    if ((rc = store_txn_begin_read(f->srv->store, &t, &e)) < 0)
        return rc;
    rc = oplog_iter_open(t, below, below == UINT64_MAX, true, &it, &e);
    if (rc >= 0) {
        rc = oplog_iter_next(it, out, NULL, &e);
        oplog_iter_close(it);
    }
    store_txn_end(t);
    return rc;
}

/* --- step 1: the common point --- */

struct probe {
    struct fetch_req *req;
    struct optime ours;
};

static void probe(struct fetcher *f, struct optime ours);
static void rollback_undo(struct fetcher *f, struct optime common);

static void on_probe_reply(void *arg, const bson_t *reply, const struct err *e)
{
    struct probe *p = arg;
    struct fetcher *f = p->req->f;
    struct optime ours = p->ours, theirs = OPTIME_NULL, next;
    bson_iter_t it, cur, batch;
    const uint8_t *data;
    uint32_t len;
    bson_t doc;
    int rc;

    if (fetcher_req_is_stale(p->req)) {
        free(p);
        if (f->is_destroyed)
            fetcher_on_rollback_done(f, -1);
        return;
    }
    free(p->req);
    free(p);
    if (e || !bson_iter_init_find(&it, reply, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        fail(f, e ? e->msg : "the sync source refused the oplog query");
        return;
    }
    bson_iter_recurse(&it, &cur);
    if (bson_iter_find(&cur, "firstBatch") && BSON_ITER_HOLDS_ARRAY(&cur) && bson_iter_recurse(&cur, &batch) &&
        bson_iter_next(&batch) && BSON_ITER_HOLDS_DOCUMENT(&batch)) {
        bson_iter_document(&batch, &len, &data);
        if (bson_init_static(&doc, data, len))
            theirs = fetcher_entry_optime(&doc);
    }
    if (!optime_is_null(theirs) && optime_compare(theirs, ours) == 0) {
        rollback_undo(f, ours);
        return;
    }
    rc = local_entry_below(f, ours.ts, &next);
    if (rc < 0) {
        fail(f, "cannot read the local oplog");
        return;
    }
    if (rc == 0) {
        fail(f, "no common point with the sync source's oplog");
        return;
    }
    probe(f, next);
}

static void probe(struct fetcher *f, struct optime ours)
{
    struct probe *p = xmalloc(sizeof *p);
    bson_t cmd, filter;
    struct err e;

    p->req = fetcher_req_new(f);
    p->ours = ours;
    bson_init(&cmd);
    BSON_APPEND_UTF8(&cmd, "find", "oplog.rs");
    bson_append_document_begin(&cmd, "filter", -1, &filter);
    bson_append_timestamp(&filter, "ts", -1, optime_secs(ours), optime_inc(ours));
    bson_append_document_end(&cmd, &filter);
    BSON_APPEND_INT32(&cmd, "limit", 1);
    BSON_APPEND_BOOL(&cmd, "singleBatch", true);
    BSON_APPEND_UTF8(&cmd, "$db", "local");
    err_init(&e);
    if (!f->peer || peer_send(f->peer, &cmd, PROBE_TIMEOUT_MS, on_probe_reply, p, &e) < 0) {
        free(p->req);
        free(p);
        fail(f, f->peer ? e.msg : "no sync source");
    }
    bson_destroy(&cmd);
}

void rollback_start(struct fetcher *f)
{
    struct optime newest;
    int rc;

    log_info(LOGC_REPL, "Starting rollback: our oplog has diverged from %s", f->source);
    set_state(f, REPL_ROLLBACK);
    rc = local_entry_below(f, UINT64_MAX, &newest);
    if (rc <= 0) {
        fail(f, "the local oplog is empty");
        return;
    }
    probe(f, newest);
}

/* --- steps 2-4: undo above the common point --- */

/* Appends doc to <dir>/<ns>/removed.<time>.bson (best effort: logged). */
static void save_document(const struct rollback_job *j, const char *ns, const bson_t *doc)
{
    char path[1400];
    FILE *fp;

    if (mkdir(j->dir, 0700) < 0 && errno != EEXIST)
        return;
    snprintf(path, sizeof path, "%s/%s", j->dir, ns);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return;
    snprintf(path, sizeof path, "%s/%s/removed.%lld.bson", j->dir, ns, (long long)j->started_s);
    fp = fopen(path, "ab");
    if (!fp || fwrite(bson_get_data(doc), 1, doc->len, fp) != doc->len)
        log_warn(LOGC_REPL, "rollback: cannot write %s: %s", path, strerror(errno));
    if (fp)
        fclose(fp);
}

/* Saves the current version of the document an undo record restores. */
static int save_current(struct store_txn *t, const struct rollback_job *j, const bson_t *record, struct err *e)
{
    struct coll_info *ci = NULL;
    bson_iter_t it, id_it;
    const char *ns, *dot;
    char db[128];
    bson_t cur;
    bool found = false;
    int rc;

    if (!bson_iter_init_find(&it, record, "ns") || !BSON_ITER_HOLDS_UTF8(&it))
        return 0;
    ns = bson_iter_utf8(&it, NULL);
    dot = strchr(ns, '.');
    if (!dot || (size_t)(dot - ns) >= sizeof db)
        return 0;
    memcpy(db, ns, (size_t)(dot - ns));
    db[dot - ns] = '\0';
    if (!bson_iter_init(&it, record) || !bson_iter_find_descendant(&it, "o2._id", &id_it))
        return 0;
    if ((rc = store_coll_find(t, db, dot + 1, &ci, e)) < 0)
        return rc;
    if (!ci)
        return 0;
    rc = store_doc_get(t, ci, bson_iter_value(&id_it), &cur, &found, e);
    if (rc == 0 && found)
        save_document(j, ns, &cur);
    coll_info_destroy(ci);
    return rc < 0 ? rc : 0;
}

/* "create" is the one command rollback undoes: a collection created above
 * the common point (by an insert on a new collection, or by the first
 * retryable write's config.transactions) is dropped; the inserts into it were
 * undone before, as they are newer. */
static bool is_create(const bson_t *entry, const char **db_end, const char **coll)
{
    struct oplog_entry pe;
    struct err e;
    bson_iter_t it;
    bool is = false;

    err_init(&e);
    if (oplog_entry_parse(entry, &pe, &e) == 0 && pe.op == 'c' && bson_iter_init(&it, &pe.o) &&
        bson_iter_next(&it) && strcmp(bson_iter_key(&it), "create") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
        *coll = bson_iter_utf8(&it, NULL);
        *db_end = strchr(pe.ns, '.');
        is = *db_end != NULL;
    }
    err_clear(&e);
    return is;
}

static int undo_create(struct store_txn *t, const bson_t *entry, struct err *e)
{
    struct coll_info *ci = NULL;
    bson_iter_t it;
    const char *ns, *dot, *coll;
    char db[128];
    int rc;

    if (!is_create(entry, &dot, &coll) || !bson_iter_init_find(&it, entry, "ns") || !BSON_ITER_HOLDS_UTF8(&it))
        return 0;
    ns = bson_iter_utf8(&it, NULL);
    dot = strchr(ns, '.');
    if (!dot || (size_t)(dot - ns) >= sizeof db)
        return 0;
    memcpy(db, ns, (size_t)(dot - ns));
    db[dot - ns] = '\0';
    if ((rc = store_coll_find(t, db, coll, &ci, e)) < 0 || !ci)
        return rc < 0 ? rc : 0;
    rc = store_coll_drop(t, ci, e);
    coll_info_destroy(ci);
    return rc;
}

static int undo_run(struct store_txn *t, struct write_job *job)
{
    struct rollback_job *j = (struct rollback_job *)job;
    struct oplog_iter *it = NULL;
    struct optime ot;
    bson_t record;
    int rc;

    store_txn_set_hook_enabled(t, false);
    rc = oplog_iter_open(t, UINT64_MAX, true, true, &it, &j->err);
    bson_t entry;
    while (rc >= 0 && (rc = oplog_iter_next(it, &ot, &entry, &j->err)) > 0 && ot.ts > j->common.ts) {
        rc = oplog_undo_get(t, ot.ts, &record, &j->err);
        if (rc == 1) {
            if ((rc = save_current(t, j, &record, &j->err)) == 0)
                rc = oplog_entry_undo(t, &record, &j->err);
            j->n_undone++;
        } else if (rc == 0) {
            rc = undo_create(t, &entry, &j->err);
        }
    }
    if (it)
        oplog_iter_close(it);
    if (rc >= 0)
        rc = oplog_truncate_after(t, j->common.ts, NULL, &j->err);
    if (rc >= 0)
        rc = oplog_bump_rbid(t, NULL, &j->err);
    if (rc >= 0) {
        bson_t last;
        bson_iter_t w;
        if (oplog_last(t, NULL, &last, &j->err) == 1 && bson_iter_init_find(&w, &last, "wall") &&
            BSON_ITER_HOLDS_DATE_TIME(&w))
            j->common_wall_ms = bson_iter_date_time(&w);
    }
    store_txn_set_hook_enabled(t, true);
    j->rc = rc < 0 ? rc : 0;
    /* Half-undone data must not commit. */
    return rc < 0 ? -ERR_INTERNAL_ERROR : 0;
}

static void undo_done(struct write_job *job, int commit_rc, const struct err *commit_err)
{
    struct rollback_job *j = (struct rollback_job *)job;
    struct fetcher *f = j->f;
    struct repl_event ev;
    char msg[300];

    f->n_jobs--;
    if (commit_rc < 0 || j->rc < 0) {
        snprintf(msg, sizeof msg, "%.250s", j->err.code ? j->err.msg : commit_err ? commit_err->msg : "commit failed");
        err_clear(&j->err);
        free(j);
        if (f->is_destroyed)
            fetcher_on_rollback_done(f, -1);
        else
            fail(f, msg);
        return;
    }
    log_info(LOGC_REPL, "Rollback complete: undid %lld document changes above the common point "
             "{ts: Timestamp(%u, %u), t: %lld}",
             (long long)j->n_undone, optime_secs(j->common), optime_inc(j->common), (long long)j->common.term);
    if (!f->is_destroyed) {
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_OPTIMES;
        ev.peer = -1;
        ev.optimes.applied = ev.optimes.durable = j->common;
        ev.optimes.applied_wall_ms = ev.optimes.durable_wall_ms = j->common_wall_ms;
        repl_node_feed(f->node, &ev);
        set_state(f, REPL_SECONDARY);
    }
    err_clear(&j->err);
    free(j);
    fetcher_on_rollback_done(f, 0);
}

/* Checks that everything above common can be undone, then submits the job. */
static void rollback_undo(struct fetcher *f, struct optime common)
{
    struct store_txn *t = NULL;
    struct oplog_iter *it = NULL;
    struct rollback_job *j;
    struct oplog_entry pe;
    struct optime ot;
    bson_t entry;
    struct err e;
    int rc;
    bool has_command = false;

    log_info(LOGC_REPL, "Rollback common point is {ts: Timestamp(%u, %u), t: %lld}", optime_secs(common),
             optime_inc(common), (long long)common.term);
    err_init(&e);
    if ((rc = store_txn_begin_read(f->srv->store, &t, &e)) >= 0) {
        rc = oplog_iter_open(t, UINT64_MAX, true, true, &it, &e);
        while (rc >= 0 && (rc = oplog_iter_next(it, &ot, &entry, &e)) > 0 && ot.ts > common.ts) {
            const char *dot, *coll;
            if (oplog_entry_parse(&entry, &pe, &e) == 0 && pe.op == 'c' && !is_create(&entry, &dot, &coll))
                has_command = true;
        }
        if (it)
            oplog_iter_close(it);
        store_txn_end(t);
    }
    if (rc < 0) {
        fail(f, e.msg);
        err_clear(&e);
        return;
    }
    err_clear(&e);
    if (has_command) {
        fail(f, "rollback across a command needs a resync");
        return;
    }
    j = xcalloc(1, sizeof *j);
    j->job.run = undo_run;
    j->job.done = undo_done;
    j->f = f;
    j->common = common;
    j->started_s = (int64_t)time(NULL);
    snprintf(j->dir, sizeof j->dir, "%s/rollback", f->srv->cfg.dbpath ? f->srv->cfg.dbpath : ".");
    err_init(&j->err);
    f->n_jobs++;
    writer_submit(f->srv->writer, &j->job);
}
