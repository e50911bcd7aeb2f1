/* writer.c - the writer thread and group commit.
 *
 * The loop thread appends jobs to a mutex-protected queue and signals a
 * condition variable. The writer thread takes the whole queue as one batch,
 * runs every job in order inside one write transaction, commits (fsync), and
 * moves the batch with its outcome to a "done" list, waking the loop through
 * a uv_async_t; the loop then runs the done callbacks in submission order.
 * Jobs queued while a commit is in flight form the next batch, so one fsync
 * covers many writes. A job failing with a storage error aborts the whole
 * batch, and every job of it (including those already run) gets the error. */
#include "storage/writer.h"

#include "core/failpoint.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/store_unsynced.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

struct batch {
    struct write_job *jobs; /* in submission order */
    int rc;
    struct err err;
    struct batch *next;
};

struct writer {
    struct store *s;
    uv_loop_t *loop;
    uv_async_t async;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct write_job *queue_head; /* guarded by mu */
    struct write_job *queue_tail;
    struct batch *done_head; /* guarded by mu */
    struct batch *done_tail;
    bool is_stopping; /* guarded by mu */
    int n_pause;      /* guarded by mu: writer_pause calls not yet resumed */
    bool is_paused;   /* guarded by mu: the thread waits between batches */
    pthread_cond_t pause_cv;
    _Atomic uint64_t n_commits;
};

/* A job's run callback has no struct err to describe a poisoned transaction:
 * it returns the negative code and the batch error is worded from that. */
static void writer_run_batch(struct writer *w, struct batch *b)
{
    struct store_txn *t;
    err_init(&b->err);
    b->rc = store_txn_begin_write(w->s, &t, &b->err);
    if (b->rc < 0)
        return;
    for (struct write_job *j = b->jobs; j; j = j->next) {
        int rc = j->run(t, j);
        if (rc < 0) {
            b->rc = rc;
            if (rc == -ERR_OUT_OF_DISK_SPACE)
                err_set(&b->err, -rc, "the data file is full: raise storage map size (storage.mapSizeMB)");
            else
                err_set(&b->err, -rc, "write aborted by a storage failure (%s)", err_code_name(-rc));
            store_txn_end(t);
            log_error(LOGC_STORAGE, "write batch aborted: %s", b->err.msg);
            return;
        }
    }
    failpoint_pause(FP_WRITER_BEFORE_COMMIT);
    store_unsynced_before_commit(w->s);
    b->rc = store_txn_commit(t, &b->err);
    if (b->rc < 0)
        log_error(LOGC_STORAGE, "write batch commit failed: %s", b->err.msg);
    else
        atomic_fetch_add(&w->n_commits, 1);
    failpoint_pause(FP_WRITER_AFTER_COMMIT_BEFORE_ACK);
}

/* Called with mu held before each batch: while a pause is requested the
 * thread sits between transactions (none open), which is what
 * writer_pause's caller relies on. */
static void writer_wait_unpaused(struct writer *w)
{
    while (w->n_pause > 0) {
        if (!w->is_paused) {
            w->is_paused = true;
            pthread_cond_broadcast(&w->pause_cv);
        }
        pthread_cond_wait(&w->cv, &w->mu);
    }
    w->is_paused = false;
}

/* One lock round per batch: publishing the finished batch and taking the
 * next queue share a critical section, and the loop is woken outside it so
 * it never blocks on a lock the writer holds across a system call. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct write_job *jobs;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->queue_head == NULL && !w->is_stopping) {
            /* Idle is between transactions: a pause is acknowledged at once. */
            w->is_paused = w->n_pause > 0;
            if (w->is_paused)
                pthread_cond_broadcast(&w->pause_cv);
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (w->queue_head == NULL)
            break;
        writer_wait_unpaused(w);
        jobs = w->queue_head;
        w->queue_head = w->queue_tail = NULL;
        pthread_mutex_unlock(&w->mu);

        while (jobs != NULL) {
            struct batch *b = xcalloc(1, sizeof *b);
            b->jobs = jobs;
            writer_run_batch(w, b);

            pthread_mutex_lock(&w->mu);
            if (w->done_tail)
                w->done_tail->next = b;
            else
                w->done_head = b;
            w->done_tail = b;
            /* Jobs that queued during this commit form the next batch. */
            if (w->queue_head != NULL)
                writer_wait_unpaused(w);
            jobs = w->queue_head;
            w->queue_head = w->queue_tail = NULL;
            pthread_mutex_unlock(&w->mu);
            uv_async_send(&w->async);
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void writer_deliver(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    struct batch *b = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (b) {
        struct batch *next_b = b->next;
        struct write_job *j = b->jobs;
        while (j) {
            /* The done callback may free the job: read the link first. */
            struct write_job *next_j = j->next;
            j->commit_rc = b->rc;
            j->next = NULL;
            j->done(j, b->rc, b->rc < 0 ? &b->err : NULL);
            j = next_j;
        }
        err_clear(&b->err);
        free(b);
        b = next_b;
    }
}

static void writer_on_async(uv_async_t *h)
{
    writer_deliver(h->data);
}

static void writer_on_close(uv_handle_t *h)
{
    struct writer *w = h->data;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->pause_cv);
    free(w);
}

int writer_start(struct store *s, uv_loop_t *loop, struct writer **out, struct err *e)
{
    struct writer *w = xcalloc(1, sizeof *w);
    w->s = s;
    w->loop = loop;
    atomic_init(&w->n_commits, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->pause_cv, NULL);
    int rc = uv_async_init(loop, &w->async, writer_on_async);
    if (rc != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->pause_cv);
        free(w);
        return err_set(e, ERR_INTERNAL_ERROR, "cannot create writer wake-up handle: %s", uv_strerror(rc));
    }
    w->async.data = w;
    rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        uv_close((uv_handle_t *)&w->async, writer_on_close);
        return err_set(e, ERR_INTERNAL_ERROR, "cannot start writer thread: %s", strerror(rc));
    }
    *out = w;
    return 0;
}

void writer_submit(struct writer *w, struct write_job *job)
{
    job->next = NULL;
    job->commit_rc = 0;
    pthread_mutex_lock(&w->mu);
    if (w->queue_tail)
        w->queue_tail->next = job;
    else
        w->queue_head = job;
    w->queue_tail = job;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

uint64_t writer_n_commits(const struct writer *w)
{
    return atomic_load(&((struct writer *)w)->n_commits);
}

void writer_pause(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->n_pause++;
    /* Wake an idle thread so it acknowledges; a busy one does at the end of its batch. */
    pthread_cond_broadcast(&w->cv);
    while (!w->is_paused && !w->is_stopping)
        pthread_cond_wait(&w->pause_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void writer_resume(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->n_pause > 0)
        w->n_pause--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void writer_stop(struct writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->is_stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_cond_broadcast(&w->pause_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    writer_deliver(w);
    uv_close((uv_handle_t *)&w->async, writer_on_close);
}
