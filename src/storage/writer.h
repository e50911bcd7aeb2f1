/* writer.h - the writer thread: one LMDB write transaction, group commit.
 *
 * The loop thread submits jobs. The writer takes every job queued so far,
 * runs them one after another inside a single write transaction, commits it
 * (with fsync), and only then hands every job back to the loop thread, whose
 * done callbacks send the replies. Jobs that arrive while a commit is in flight
 * go into the next transaction: that is group commit, and it is what makes a
 * reply imply durability without paying one fsync per write. */
#ifndef TALLY_WRITER_H
#define TALLY_WRITER_H

#include "core/err.h"
#include "storage/store.h"

#include <uv.h>

struct writer;
struct write_job;

/* Runs on the writer thread inside the shared write transaction. It may read
 * and change data through store.h and must record its own outcome in the job
 * owner's state. Returning a negative error marks the transaction poisoned
 * (only for storage failures such as a full disk): the whole batch is
 * aborted and every job's done callback receives the error. */
typedef int (*write_job_run_cb)(struct store_txn *t, struct write_job *job);
/* Runs on the loop thread after the batch committed (commit_rc 0) or failed
 * (commit_rc < 0 with commit_err describing it, borrowed). */
typedef void (*write_job_done_cb)(struct write_job *job, int commit_rc, const struct err *commit_err);

struct write_job {
    write_job_run_cb run;
    write_job_done_cb done;
    struct write_job *next; /* the writer's queue link; not for callers */
    int commit_rc;          /* the writer's use */
};

/* Starts the thread. loop is where done callbacks run. *out owned (writer_stop). */
int writer_start(struct store *s, uv_loop_t *loop, struct writer **out, struct err *e);
/* Queues job (borrowed until its done callback). Loop thread only. */
void writer_submit(struct writer *w, struct write_job *job);
/* Commits finished since start (for serverStatus). */
uint64_t writer_n_commits(const struct writer *w);
/* Holds the writer thread between two transactions: returns once no write
 * transaction is open and none will begin until writer_resume, so every
 * read transaction begun meanwhile sees the same, newest committed state
 * (storage/snapshot.c uses this to name a copy's exact optime). Jobs keep
 * queueing. Any thread except the writer's; keep the pause short. Pauses
 * nest (counted). */
void writer_pause(struct writer *w);
void writer_resume(struct writer *w);
/* Runs the queued jobs, stops and joins the thread, closes its async handle;
 * must be called from the loop thread while the loop still runs (the done
 * callbacks of the last batch run before it returns). */
void writer_stop(struct writer *w);

#endif
