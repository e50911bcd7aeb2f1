/* node_persist.c - the member's writer jobs: term + LastVote (PERSIST_VOTE),
 * the config (PERSIST_CONFIG, replSetInitiate, replSetReconfig, bootstrap),
 * the new-primary and periodic no-ops, and the commit point (lazily, riding
 * on the next job or a small job of its own).
 *
 * The run callbacks execute on the writer thread inside the shared write
 * transaction and touch only their job; the done callbacks run on the loop
 * thread after the fsync'd commit and only then feed PERSISTED /
 * CONFIG_INSTALLED / NOOP_WRITTEN. The writer keeps submission order, so
 * PERSIST_VOTE jobs become durable (and are reported) strictly in order. */
#include "repl/node_internal.h"

#include "core/failpoint.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/server.h"
#include "repl/oplog_writer.h"
#include "storage/oplog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum job_kind { JOB_VOTE, JOB_CONFIG, JOB_NOOP, JOB_COMMIT };

struct node_job {
    struct write_job job; /* first: the writer hands this pointer back */
    struct repl_node *n;
    struct oplog_writer *ow;
    enum job_kind kind;
    struct node_job *deferred_next;
    /* inputs */
    uint64_t seq;
    int64_t term;
    struct oplog_last_vote vote;
    struct repl_config *cfg; /* JOB_CONFIG, owned */
    bson_t config_doc;
    bool is_initiate;
    uint64_t request_id;
    bool has_commit;
    struct optime commit;
    char msg[64];
    bool is_new_primary;
    /* outputs */
    int rc;
    struct err err;
    struct optime op;
    int64_t op_wall_ms;
};

static void job_free(struct node_job *j)
{
    if (j->cfg) {
        repl_config_destroy(j->cfg);
        free(j->cfg);
    }
    if (j->kind == JOB_CONFIG)
        bson_destroy(&j->config_doc);
    err_clear(&j->err);
    free(j);
}

static int is_storage_failure(int rc)
{
    return rc == -ERR_OUT_OF_DISK_SPACE;
}

static int run_noop(struct node_job *j, struct store_txn *t, int64_t term, const char *msg)
{
    bson_t o = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&o, "msg", msg);
    int rc = oplog_writer_append_noop(j->ow, t, term, &o, &j->op, &j->err);
    bson_destroy(&o);
    if (rc == 0)
        j->op_wall_ms = oplog_writer_last_wall_ms(j->ow);
    return rc;
}

/* Writer thread. Logical failures are kept in the job (rc) and do not
 * poison the batch; only a full disk aborts it. */
static int job_run(struct store_txn *t, struct write_job *wj)
{
    struct node_job *j = (struct node_job *)wj;
    int rc = 0;
    if (j->has_commit) {
        rc = oplog_put_commit_point(t, j->commit, &j->err);
        if (rc == 0)
            rc = oplog_undo_delete_upto(t, j->commit.ts, NULL, &j->err);
        if (rc < 0)
            goto out;
    }
    switch (j->kind) {
    case JOB_VOTE: {
        int64_t stored = -1;
        failpoint_pause(FP_HANG_BEFORE_PERSIST_VOTE);
        rc = oplog_get_term(t, &stored, &j->err);
        if (rc == 0 && j->term > stored)
            rc = oplog_put_term(t, j->term, &j->err);
        if (rc == 0)
            rc = oplog_put_last_vote(t, &j->vote, &j->err);
        break;
    }
    case JOB_CONFIG:
        rc = oplog_put_config(t, &j->config_doc, &j->err);
        if (rc == 0 && j->is_initiate) {
            /* The initial term is 0 (the config's term): the first election makes it 1. */
            int64_t stored = -1;
            rc = oplog_get_term(t, &stored, &j->err);
            if (rc == 0 && stored < 0)
                rc = oplog_put_term(t, 0, &j->err);
            if (rc == 0)
                rc = run_noop(j, t, -1, "initiating set");
        }
        break;
    case JOB_NOOP:
        /* Checked here, at append time: the member may have stepped down or
         * seen a newer term since the job was queued, and an entry of a term
         * it no longer leads would land in a secondary's oplog. */
        if (!oplog_writer_leads_term(j->ow, j->term)) {
            rc = err_set(&j->err, ERR_NOT_WRITABLE_PRIMARY, "no longer primary in term %lld",
                         (long long)j->term);
            break;
        }
        rc = run_noop(j, t, j->term, j->msg);
        break;
    case JOB_COMMIT:
        break;
    }
out:
    j->rc = rc < 0 ? rc : 0;
    return is_storage_failure(rc) ? rc : 0;
}

static void feed_optimes(struct repl_node *n, struct optime op, int64_t wall_ms)
{
    if (optime_compare(op, n->st.applied) <= 0 && optime_compare(op, n->st.durable) <= 0)
        return;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_OPTIMES;
    ev.peer = -1;
    ev.optimes.applied = optime_compare(op, n->st.applied) > 0 ? op : n->st.applied;
    ev.optimes.durable = optime_compare(op, n->st.durable) > 0 ? op : n->st.durable;
    ev.optimes.applied_wall_ms = ev.optimes.durable_wall_ms = wall_ms;
    repl_node_feed(n, &ev);
}

static void done_config(struct repl_node *n, struct node_job *j)
{
    n->is_config_persisting = false;
    if (j->rc < 0) {
        log_error(LOGC_REPL, "REPL: cannot store config version %d: %s", j->cfg->version, j->err.msg);
        if (j->request_id)
            node_request_complete(n, j->request_id, j->rc, &j->err, NULL);
        return;
    }
    if (j->is_initiate) {
        if (n->st.term < 0)
            n->st.term = 0; /* persisted above; no event carries it */
        feed_optimes(n, j->op, j->op_wall_ms);
    }
    node_pick_self_host(n, j->cfg);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.peer = -1;
    ev.config = j->cfg;
    repl_node_feed(n, &ev);
    if (j->request_id)
        node_request_complete(n, j->request_id, 0, NULL, NULL);
}

static void job_done(struct write_job *wj, int commit_rc, const struct err *commit_err)
{
    struct node_job *j = (struct node_job *)wj;
    struct repl_node *n = j->n;
    n->n_jobs_in_flight--;
    if (n->is_stopped) {
        job_free(j);
        return;
    }
    if (commit_rc < 0 && j->rc == 0) {
        j->rc = commit_rc;
        err_set(&j->err, -commit_rc, "%s", commit_err ? commit_err->msg : "write batch failed");
    }
    if (j->has_commit && j->rc == 0 && optime_compare(j->commit, n->commit_persisted) > 0)
        n->commit_persisted = j->commit;
    switch (j->kind) {
    case JOB_VOTE:
        if (j->rc < 0) {
            log_error(LOGC_REPL, "REPL: cannot persist term %lld and last vote: %s (votes stay withheld)",
                      (long long)j->term, j->err.msg);
        } else {
            struct repl_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = REPL_EV_PERSISTED;
            ev.peer = -1;
            ev.persisted_seq = j->seq;
            repl_node_feed(n, &ev);
        }
        break;
    case JOB_CONFIG:
        done_config(n, j);
        break;
    case JOB_NOOP:
        n->is_noop_in_flight = false;
        n->last_write_ms = node_now_ms(n);
        if (j->rc == -ERR_NOT_WRITABLE_PRIMARY) {
            log_info(LOGC_REPL, "REPL: the %s no-op of term %lld is not written: %s", j->msg, (long long)j->term,
                     j->err.msg);
            break;
        }
        if (j->rc < 0) {
            log_warn(LOGC_REPL, "REPL: cannot write the %s no-op: %s", j->msg, j->err.msg);
            break;
        }
        if (j->is_new_primary) {
            struct repl_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = REPL_EV_NOOP_WRITTEN;
            ev.peer = -1;
            ev.noop_optime = j->op;
            repl_node_feed(n, &ev);
        }
        feed_optimes(n, j->op, j->op_wall_ms);
        break;
    case JOB_COMMIT:
        if (j->rc < 0)
            log_warn(LOGC_REPL, "REPL: cannot persist the commit point: %s", j->err.msg);
        break;
    }
    job_free(j);
}

static struct node_job *job_new(struct repl_node *n, enum job_kind kind)
{
    struct node_job *j = xcalloc(1, sizeof *j);
    j->job.run = job_run;
    j->job.done = job_done;
    j->n = n;
    j->ow = n->ow;
    j->kind = kind;
    err_init(&j->err);
    if (n->is_commit_dirty && !optime_is_null(n->st.commit_point)) {
        j->has_commit = true;
        j->commit = n->st.commit_point;
        n->is_commit_dirty = false;
        n->commit_persisted_ms = node_now_ms(n);
    }
    return j;
}

static void submit(struct repl_node *n, struct node_job *j)
{
    if (n->is_stopped) {
        job_free(j);
        return;
    }
    n->n_jobs_in_flight++;
    if (n->is_started && n->srv->writer) {
        writer_submit(n->srv->writer, &j->job);
        return;
    }
    struct node_job **pp = &n->deferred;
    while (*pp)
        pp = &(*pp)->deferred_next;
    *pp = j;
}

void node_flush_deferred(struct repl_node *n)
{
    struct node_job *j = n->deferred;
    n->deferred = NULL;
    while (j) {
        struct node_job *next = j->deferred_next;
        if (n->is_stopped || !n->srv->writer) {
            n->n_jobs_in_flight--;
            job_free(j);
        } else {
            writer_submit(n->srv->writer, &j->job);
        }
        j = next;
    }
}

void node_persist_vote(struct repl_node *n, uint64_t seq, int64_t term)
{
    struct node_job *j = job_new(n, JOB_VOTE);
    j->seq = seq;
    j->term = term;
    /* The state already holds the newest vote; writing it with an earlier
     * sequence only makes it durable sooner. */
    j->vote.term = n->st.last_vote_term;
    j->vote.candidate_index = n->st.last_vote_candidate;
    submit(n, j);
}

void node_persist_config(struct repl_node *n, struct repl_config *cfg, bool is_initiate, uint64_t request_id)
{
    struct node_job *j = job_new(n, JOB_CONFIG);
    j->cfg = cfg;
    bson_init(&j->config_doc);
    repl_config_to_bson(cfg, &j->config_doc);
    j->is_initiate = is_initiate;
    j->request_id = request_id;
    n->is_config_persisting = true;
    log_info(LOGC_REPL, "REPL: storing config version %d term %lld of set %s", cfg->version, (long long)cfg->term,
             cfg->set_name);
    submit(n, j);
}

void node_write_noop(struct repl_node *n, int64_t term, const char *msg, bool is_new_primary)
{
    struct node_job *j = job_new(n, JOB_NOOP);
    j->term = term;
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    j->is_new_primary = is_new_primary;
    n->is_noop_in_flight = true;
    if (is_new_primary)
        oplog_writer_set_leader_term(n->ow, term);
    submit(n, j);
}

void node_persist_commit_point(struct repl_node *n)
{
    if (!n->is_commit_dirty)
        return;
    submit(n, job_new(n, JOB_COMMIT));
}
