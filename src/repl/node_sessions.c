/* node_sessions.c - the primary's reaper of expired session records.
 *
 * Retryable writes leave one record per session in config.transactions
 * (cmd/retryable.h), replicated with the writes. As on mongod, a record
 * whose lastWriteDate is older than the session lifetime (the larger of
 * localLogicalSessionTimeoutMinutes and TransactionRecordMinimumLifetimeMinutes,
 * 30 minutes by default) is removed, so the collection does not grow forever.
 * Once per logicalSessionRefreshMillis (5 minutes by default) a writable
 * primary queues a writer job that deletes them (retryable_reap); the deletes
 * are ordinary replicated deletes, so every member drops the same records and
 * secondaries never reap on their own. endSessions does not remove records:
 * like mongod, they stay until they expire. A retry of a statement whose
 * record expired runs as a new write (mongod documents the same).
 *
 * Guarantees: at most one reap job is queued; a job runs only while the
 * member is still the writable primary of the term it was queued in (it is
 * skipped otherwise, never logged in a term the member does not lead); a
 * failure is logged and retried at the next period. Loop thread, except
 * reap_run (writer thread). */
#include "repl/node_internal.h"

#include "cmd/retryable.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/server.h"
#include "repl/oplog_writer.h"
#include "storage/writer.h"

#include <stdlib.h>

/* Deletes per job: one reap must not hold the shared write transaction for
 * long; a job that stops at the limit asks for the next one at once. */
#define REAP_BATCH_MAX 1000

struct reap_job {
    struct write_job job;
    struct repl_node *n;
    struct oplog_writer *ow;
    int64_t term;
    int64_t cutoff_ms;
    int64_t n_removed;
    bool has_more;
    bool is_skipped;
    int rc;
    struct err err;
};

static int reap_run(struct store_txn *t, struct write_job *wj)
{
    struct reap_job *j = (struct reap_job *)wj;
    /* The member may have stepped down since the job was queued: its deletes
     * would have no term to be logged in. The next primary reaps instead. */
    if (oplog_writer_writable_term(j->ow) != j->term) {
        j->is_skipped = true;
        return 0;
    }
    j->rc = retryable_reap(t, j->cutoff_ms, REAP_BATCH_MAX, &j->n_removed, &j->has_more, &j->err);
    /* Only a storage failure poisons the shared transaction (writer.h). */
    if (j->rc == -ERR_OUT_OF_DISK_SPACE || j->rc == -ERR_INTERNAL_ERROR)
        return j->rc;
    return 0;
}

static void reap_done(struct write_job *wj, int commit_rc, const struct err *commit_err)
{
    struct reap_job *j = (struct reap_job *)wj;
    struct repl_node *n = j->n;
    if (!n->is_stopped) {
        n->is_reap_in_flight = false;
        if (commit_rc < 0)
            log_warn(LOGC_REPL, "REPL: expired session records not removed: %s",
                     commit_err ? commit_err->msg : "write failed");
        else if (j->rc < 0)
            log_warn(LOGC_REPL, "REPL: %s", j->err.msg);
        else if (j->n_removed > 0)
            log_info(LOGC_REPL, "REPL: removed %lld expired session record(s) from %s.%s", (long long)j->n_removed,
                     RETRYABLE_DB, RETRYABLE_COLL);
        if (commit_rc == 0 && j->rc == 0 && j->has_more)
            n->next_reap_ms = node_now_ms(n);
    }
    err_clear(&j->err);
    free(j);
}

void node_sessions_check(struct repl_node *n)
{
    if (n->is_stopped || !n->is_started || n->is_reap_in_flight || n->srv->writer == NULL)
        return;
    const struct config *cfg = &n->srv->cfg;
    int64_t now = node_now_ms(n);
    if (n->next_reap_ms == 0)
        n->next_reap_ms = now + cfg->session_refresh_ms;
    if (now < n->next_reap_ms)
        return;
    n->next_reap_ms = now + cfg->session_refresh_ms;
    /* Only the primary reaps; the others drop records through its deletes. */
    if (!repl_is_writable_primary(&n->st) || n->writable_term < 0)
        return;
    struct reap_job *j = xcalloc(1, sizeof *j);
    j->job.run = reap_run;
    j->job.done = reap_done;
    j->n = n;
    j->ow = n->ow;
    j->term = n->writable_term;
    j->cutoff_ms = node_wall_now_ms() - config_session_record_lifetime_ms(cfg);
    err_init(&j->err);
    n->is_reap_in_flight = true;
    writer_submit(n->srv->writer, &j->job);
}
