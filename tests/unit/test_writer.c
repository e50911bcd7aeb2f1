/* test_writer.c - the writer thread: group commit, ordering, failure
 * propagation to every job of a batch, and stop. */
#include "storage/writer.h"

#include "core/mem.h"
#include "testhelp.h"

#include <time.h>

#define N_JOBS 200

struct test_job {
    struct write_job job; /* first: the callbacks cast back */
    int n;
    int done_rc;
    int done_code;
    bool is_done;
    bool is_poison; /* run() fails like a storage error */
    int *n_done;
    int *order; /* done order log */
};

static struct coll_info *g_coll;
static int g_order_pos;

static int job_run(struct store_txn *t, struct write_job *job)
{
    struct test_job *tj = (struct test_job *)job;
    if (tj->n == 0) {
        /* Hold the first transaction open so the others pile up behind it. */
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (tj->is_poison)
        return -ERR_OUT_OF_DISK_SPACE;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT32(&doc, "_id", tj->n);
    struct err e;
    err_init(&e);
    int rc = store_doc_insert(t, g_coll, &doc, &e);
    bson_destroy(&doc);
    err_clear(&e);
    /* A logical error is the job's own outcome, not a poisoned transaction. */
    return rc == -ERR_DUPLICATE_KEY ? 0 : rc;
}

static void job_done(struct write_job *job, int commit_rc, const struct err *commit_err)
{
    struct test_job *tj = (struct test_job *)job;
    tj->is_done = true;
    tj->done_rc = commit_rc;
    tj->done_code = commit_err ? commit_err->code : 0;
    (*tj->n_done)++;
    if (tj->order)
        tj->order[g_order_pos++] = tj->n;
}

struct stopper {
    uv_timer_t timer;
    struct writer *w;
    int *n_done;
    int n_expected;
    bool is_stopped;
    uint64_t n_commits; /* read just before stopping */
};

static void stopper_tick(uv_timer_t *h)
{
    struct stopper *st = h->data;
    if (*st->n_done < st->n_expected)
        return;
    st->n_commits = writer_n_commits(st->w);
    writer_stop(st->w);
    st->is_stopped = true;
    uv_close((uv_handle_t *)h, NULL);
}

static struct store *open_store(void)
{
    struct store_options opt = {0, false}; /* real fsync: the batching case that matters */
    struct store *s = NULL;
    struct err e;
    err_init(&e);
    if (store_open(test_dir, &opt, &s, &e) != 0)
        fprintf(stderr, "  store_open: %s\n", e.msg);
    struct store_txn *t;
    store_txn_begin_write(s, &t, &e);
    g_coll = NULL;
    store_coll_create(t, "db", "w", NULL, &g_coll, &e);
    store_txn_commit(t, &e);
    err_clear(&e);
    return s;
}

TEST(many_jobs_share_few_commits_and_all_done_callbacks_run_in_order)
{
    struct store *s = open_store();
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct writer *w = NULL;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(writer_start(s, &loop, &w, &e), 0);
    struct test_job *jobs = xcalloc(N_JOBS, sizeof *jobs);
    int order[N_JOBS];
    int n_done = 0;
    g_order_pos = 0;
    for (int i = 0; i < N_JOBS; i++) {
        jobs[i] = (struct test_job){.job = {job_run, job_done, NULL, 0}, .n = i, .n_done = &n_done, .order = order};
        writer_submit(w, &jobs[i].job);
    }
    struct stopper st = {.w = w, .n_done = &n_done, .n_expected = N_JOBS};
    uv_timer_init(&loop, &st.timer);
    st.timer.data = &st;
    uv_timer_start(&st.timer, stopper_tick, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    uint64_t commits_seen = st.n_commits;
    CHECK(st.is_stopped);
    CHECK_EQ_INT(n_done, N_JOBS);
    CHECK(commits_seen >= 1);
    CHECK(commits_seen < N_JOBS);
    bool is_in_order = true;
    for (int i = 0; i < N_JOBS; i++) {
        if (!jobs[i].is_done || jobs[i].done_rc != 0)
            is_in_order = false;
        if (order[i] != i)
            is_in_order = false;
    }
    CHECK(is_in_order);

    struct store_txn *t;
    CHECK_EQ_INT(store_txn_begin_read(s, &t, &e), 0);
    struct coll_stats cs;
    CHECK_EQ_INT(store_coll_stats(t, g_coll, &cs, &e), 0);
    CHECK_EQ_INT(cs.n_docs, N_JOBS);
    store_txn_end(t);
    uv_loop_close(&loop);
    free(jobs);
    coll_info_destroy(g_coll);
    store_close(s);
    err_clear(&e);
}

TEST(a_poisoned_job_aborts_its_whole_batch_and_every_job_gets_the_error)
{
    struct store *s = open_store();
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct writer *w = NULL;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(writer_start(s, &loop, &w, &e), 0);
    struct test_job jobs[6];
    int n_done = 0;
    /* Job 0 sleeps, so 1..5 form one batch; job 3 poisons it. */
    for (int i = 0; i < 6; i++) {
        jobs[i] = (struct test_job){.job = {job_run, job_done, NULL, 0}, .n = i, .n_done = &n_done};
        jobs[i].is_poison = i == 3;
    }
    writer_submit(w, &jobs[0].job);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (int i = 1; i < 6; i++)
        writer_submit(w, &jobs[i].job);
    struct stopper st = {.w = w, .n_done = &n_done, .n_expected = 6};
    uv_timer_init(&loop, &st.timer);
    st.timer.data = &st;
    uv_timer_start(&st.timer, stopper_tick, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(n_done, 6);
    /* Job 0 normally commits alone; on a very slow machine it may share the poisoned batch. */
    CHECK(jobs[0].done_rc == 0 || jobs[0].done_rc == -ERR_OUT_OF_DISK_SPACE);
    for (int i = 1; i < 6; i++) {
        CHECK_EQ_INT(jobs[i].done_rc, -ERR_OUT_OF_DISK_SPACE);
        CHECK_EQ_INT(jobs[i].done_code, ERR_OUT_OF_DISK_SPACE);
    }
    struct store_txn *t;
    CHECK_EQ_INT(store_txn_begin_read(s, &t, &e), 0);
    struct coll_stats cs;
    CHECK_EQ_INT(store_coll_stats(t, g_coll, &cs, &e), 0);
    CHECK_EQ_INT(cs.n_docs, jobs[0].done_rc == 0 ? 1 : 0);
    store_txn_end(t);
    uv_loop_close(&loop);
    coll_info_destroy(g_coll);
    store_close(s);
    err_clear(&e);
}

TEST(stop_runs_jobs_still_queued_and_their_callbacks)
{
    struct store *s = open_store();
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct writer *w = NULL;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(writer_start(s, &loop, &w, &e), 0);
    struct test_job jobs[10];
    int n_done = 0;
    for (int i = 0; i < 10; i++) {
        jobs[i] = (struct test_job){.job = {job_run, job_done, NULL, 0}, .n = i, .n_done = &n_done};
        writer_submit(w, &jobs[i].job);
    }
    /* Stop at once, from the loop thread, before the loop ever ran. */
    writer_stop(w);
    CHECK_EQ_INT(n_done, 10);
    uv_run(&loop, UV_RUN_DEFAULT); /* lets the async handle close */
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    struct store_txn *t;
    CHECK_EQ_INT(store_txn_begin_read(s, &t, &e), 0);
    struct coll_stats cs;
    CHECK_EQ_INT(store_coll_stats(t, g_coll, &cs, &e), 0);
    CHECK_EQ_INT(cs.n_docs, 10);
    store_txn_end(t);
    coll_info_destroy(g_coll);
    store_close(s);
    err_clear(&e);
}

int main(void)
{
    RUN(many_jobs_share_few_commits_and_all_done_callbacks_run_in_order);
    RUN(a_poisoned_job_aborts_its_whole_batch_and_every_job_gets_the_error);
    RUN(stop_runs_jobs_still_queued_and_their_callbacks);
    return test_report();
}
