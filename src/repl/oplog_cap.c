/* oplog_cap.c - keeps local.oplog.rs within its configured size.
 *
 * The size comes from --oplogSize / replication.oplogSizeMB; without it, 5%
 * of the data disk, between 990 MB and 50 GB (mongod's default rule), and
 * never more than half the LMDB map. Once a second the loop reads the
 * oplog's byte count in a read transaction (LMDB statistics and one counter:
 * no scan) and, when it is over the size, queues a trim job on the writer
 * thread, where it rides in the next group commit. The trim never removes an
 * entry newer than the commit point (replication.md 2.5: the oplog grows past
 * its size rather than lose what a majority has not yet confirmed), nor the
 * newest entry. A secondary that falls behind the oldest remaining entry of
 * its source becomes too stale and must resync (the fetcher says so). */
#include "repl/oplog_cap.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/server.h"
#include "repl/node_internal.h"
#include "storage/oplog.h"
#include "storage/writer.h"

#include <sys/statvfs.h>

#define CHECK_EVERY_MS 1000
#define MB ((int64_t)1024 * 1024)
#define AUTO_MIN_BYTES (990 * MB)
#define AUTO_MAX_BYTES (50 * 1024 * MB)

struct trim_job {
    struct write_job job;
    struct repl_node *n;
    int64_t max_bytes;
    uint64_t keep_after;
    int64_t n_removed;
    int rc;
    struct err err;
};

int64_t oplog_cap_bytes(const struct config *cfg)
{
    if (cfg->oplog_size_mb > 0)
        return (int64_t)cfg->oplog_size_mb * MB;
    int64_t bytes = AUTO_MIN_BYTES;
    struct statvfs fs;
    if (cfg->dbpath && statvfs(cfg->dbpath, &fs) == 0) {
        int64_t disk = (int64_t)fs.f_blocks * (int64_t)fs.f_frsize;
        bytes = disk / 20;
        if (bytes < AUTO_MIN_BYTES)
            bytes = AUTO_MIN_BYTES;
        if (bytes > AUTO_MAX_BYTES)
            bytes = AUTO_MAX_BYTES;
    }
    int64_t half_map = (int64_t)cfg->map_size_mb * MB / 2;
    return half_map > 0 && half_map < bytes ? half_map : bytes;
}

static int trim_run(struct store_txn *t, struct write_job *wj)
{
    struct trim_job *j = (struct trim_job *)wj;
    j->rc = oplog_trim(t, j->max_bytes, j->keep_after, &j->n_removed, &j->err);
    /* A trim that fails is logged and retried later; it must not abort the
     * client writes sharing its batch. */
    return 0;
}

static void trim_done(struct write_job *wj, int commit_rc, const struct err *commit_err)
{
    struct trim_job *j = (struct trim_job *)wj;
    struct repl_node *n = j->n;
    if (!n->is_stopped) {
        n->is_trim_in_flight = false;
        if (commit_rc < 0)
            log_warn(LOGC_REPL, "REPL: oplog trim not committed: %s", commit_err ? commit_err->msg : "write failed");
        else if (j->rc < 0)
            log_warn(LOGC_REPL, "REPL: cannot trim the oplog: %s", j->err.msg);
        else if (j->n_removed > 0)
            log_debug(LOGC_REPL, "REPL: oplog trimmed: %lld oldest entries removed (size %lld MB)",
                      (long long)j->n_removed, (long long)(j->max_bytes / MB));
    }
    free(j);
}

void oplog_cap_check(struct repl_node *n, int64_t now_ms)
{
    if (n->is_stopped || !n->is_started || n->is_trim_in_flight || now_ms < n->next_trim_check_ms ||
        n->srv->writer == NULL)
        return;
    n->next_trim_check_ms = now_ms + CHECK_EVERY_MS;
    if (optime_is_null(n->st.commit_point))
        return;
    int64_t max_bytes = oplog_cap_bytes(&n->srv->cfg);
    struct store_txn *t;
    struct err e;
    err_init(&e);
    if (store_txn_begin_read(n->srv->store, &t, &e) < 0) {
        log_warn(LOGC_REPL, "REPL: cannot read the oplog size: %s", e.msg);
        return;
    }
    struct oplog_stats stats;
    int rc = oplog_stats(t, &stats, &e);
    store_txn_end(t);
    if (rc < 0) {
        log_warn(LOGC_REPL, "REPL: cannot read the oplog size: %s", e.msg);
        return;
    }
    if (stats.n_bytes <= max_bytes)
        return;
    struct trim_job *j = xcalloc(1, sizeof *j);
    j->job.run = trim_run;
    j->job.done = trim_done;
    j->n = n;
    j->max_bytes = max_bytes;
    j->keep_after = n->st.commit_point.ts;
    err_init(&j->err);
    n->is_trim_in_flight = true;
    writer_submit(n->srv->writer, &j->job);
}
