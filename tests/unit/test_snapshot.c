/* test_snapshot.c - hot snapshots of the store: the stream opens as a data
 * directory, names exactly its newest oplog entry (also while the writer
 * commits), its checksum is right, aborting is clean, and writer_pause holds
 * writes. */
#include "storage/oplog.h"
#include "storage/snapshot.h"
#include "storage/writer.h"

#include "store_testhelp.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#define TS(s, i) ((uint64_t)(s) << 32 | (uint32_t)(i))

static int append_entry(struct store_txn *t, uint64_t ts, struct err *e)
{
    bson_t *b = bson_new();
    bson_t o;
    BSON_APPEND_TIMESTAMP(b, "ts", (uint32_t)(ts >> 32), (uint32_t)ts);
    BSON_APPEND_INT64(b, "t", 1);
    BSON_APPEND_INT32(b, "v", 2);
    BSON_APPEND_UTF8(b, "op", "n");
    BSON_APPEND_UTF8(b, "ns", "");
    BSON_APPEND_DOCUMENT_BEGIN(b, "o", &o);
    bson_append_document_end(b, &o);
    BSON_APPEND_DATE_TIME(b, "wall", (int64_t)(ts >> 32) * 1000);
    int rc = oplog_append(t, b, e);
    bson_destroy(b);
    return rc;
}

/* One document {_id: i, pad} and one oplog entry at second i, in t. */
static int write_pair(struct store_txn *t, int i, struct err *e)
{
    struct coll_info *c = NULL;
    int rc = store_coll_find(t, "db", "c", &c, e);
    if (rc == 0 && c == NULL) {
        rc = store_coll_create(t, "db", "c", NULL, &c, e);
    }
    if (rc < 0)
        return rc;
    bson_t doc = BSON_INITIALIZER;
    char pad[200];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    BSON_APPEND_INT32(&doc, "_id", i);
    BSON_APPEND_UTF8(&doc, "pad", pad);
    rc = store_doc_insert(t, c, &doc, e);
    bson_destroy(&doc);
    coll_info_destroy(c);
    if (rc < 0)
        return rc;
    return append_entry(t, TS(i, 0), e);
}

/* Streams sn into dir/data.mdb; returns the byte count or -1. */
static int64_t stream_to(struct snapshot *sn, const char *dir, size_t chunk, char *hex_out)
{
    char path[400];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    uint8_t *buf = xmalloc(chunk);
    struct snapshot_hash *h = snapshot_hash_new();
    int64_t total = 0;
    struct err e;
    err_init(&e);
    for (;;) {
        int64_t n = snapshot_read(sn, buf, chunk, 10000, &e);
        if (n < 0) {
            fprintf(stderr, "  snapshot_read: %s\n", e.msg);
            total = -1;
            break;
        }
        if (n == 0)
            break;
        snapshot_hash_update(h, buf, (size_t)n);
        if (write(fd, buf, (size_t)n) != n) {
            total = -1;
            break;
        }
        total += n;
    }
    snapshot_hash_final(h, hex_out);
    close(fd);
    free(buf);
    err_clear(&e);
    return total;
}

static struct store *open_dir(const char *dir)
{
    struct store *s = NULL;
    struct err e;
    err_init(&e);
    if (store_open(dir, &nosync, &s, &e) != 0)
        fprintf(stderr, "  store_open %s: %s\n", dir, e.msg);
    err_clear(&e);
    return s;
}

/* Documents in db.c and oplog entries of the copy in dir, and its newest entry. */
static void count_copy(const char *dir, int64_t *n_docs, int64_t *n_entries, struct optime *last)
{
    struct store *s = open_dir(dir);
    *n_docs = *n_entries = -1;
    if (s == NULL)
        return;
    struct store_txn *t = rtxn(s);
    struct coll_info *c = NULL;
    struct err e;
    struct oplog_stats st;
    err_init(&e);
    CHECK_EQ_INT(store_coll_find(t, "db", "c", &c, &e), 0);
    if (c) {
        struct coll_stats cs;
        CHECK_EQ_INT(store_coll_stats(t, c, &cs, &e), 0);
        *n_docs = cs.n_docs;
        coll_info_destroy(c);
    } else {
        *n_docs = 0;
    }
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    *n_entries = st.n_entries;
    *last = st.last;
    store_txn_end(t);
    store_close(s);
    err_clear(&e);
}

static void make_subdir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", test_dir, name);
    mkdir(out, 0700);
}

TEST(a_snapshot_opens_as_a_data_directory_and_names_its_newest_oplog_entry)
{
    char src[300], dst[300], hex[65], hex2[65];
    make_subdir(src, sizeof src, "src");
    make_subdir(dst, sizeof dst, "dst");
    struct store *s = open_dir(src);
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    for (int i = 1; i <= 500; i++)
        CHECK_EQ_INT(write_pair(t, i, &e), 0);
    CHECK_EQ_INT(commit(t), 0);

    struct snapshot *sn = NULL;
    struct snapshot_meta meta;
    CHECK_EQ_INT(snapshot_start(s, NULL, &sn, &meta, &e), 0);
    CHECK_EQ_INT(meta.optime.ts, TS(500, 0));
    CHECK_EQ_INT(meta.optime.term, 1);
    CHECK_EQ_INT(meta.wall_ms, 500000);
    CHECK(meta.data_bytes > 0);
    int64_t n = stream_to(sn, dst, 64 * 1024, hex);
    CHECK(n > 0);
    CHECK_EQ_INT((int64_t)snapshot_n_bytes(sn), n);
    snapshot_sha256_hex(sn, hex2);
    CHECK_EQ_STR(hex, hex2);
    CHECK_EQ_INT(strlen(hex), 64);
    snapshot_destroy(sn);

    int64_t n_docs, n_entries;
    struct optime last;
    count_copy(dst, &n_docs, &n_entries, &last);
    CHECK_EQ_INT(n_docs, 500);
    CHECK_EQ_INT(n_entries, 500);
    CHECK_EQ_INT(last.ts, TS(500, 0));
    store_close(s);
    err_clear(&e);
}

TEST(a_destroyed_snapshot_stops_its_copy_and_the_store_stays_usable)
{
    char src[300], dst[300], hex[65];
    make_subdir(src, sizeof src, "src");
    make_subdir(dst, sizeof dst, "dst");
    struct store *s = open_dir(src);
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    for (int i = 1; i <= 20000; i++)
        CHECK_EQ_INT(write_pair(t, i, &e), 0);
    CHECK_EQ_INT(commit(t), 0);

    struct snapshot *sn = NULL;
    struct snapshot_meta meta;
    uint8_t buf[4096];
    CHECK_EQ_INT(snapshot_start(s, NULL, &sn, &meta, &e), 0);
    CHECK_EQ_INT(snapshot_read(sn, buf, sizeof buf, 10000, &e), (int64_t)sizeof buf);
    snapshot_destroy(sn); /* mid-stream: the copy thread is blocked on a full pipe */

    t = wtxn(s);
    CHECK_EQ_INT(write_pair(t, 20001, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(snapshot_start(s, NULL, &sn, &meta, &e), 0);
    CHECK_EQ_INT(meta.optime.ts, TS(20001, 0));
    CHECK(stream_to(sn, dst, 1 << 20, hex) > 0);
    snapshot_destroy(sn);
    int64_t n_docs, n_entries;
    struct optime last;
    count_copy(dst, &n_docs, &n_entries, &last);
    CHECK_EQ_INT(n_docs, 20001);
    CHECK_EQ_INT(last.ts, TS(20001, 0));
    store_close(s);
    err_clear(&e);
}

/* --- with a writer thread committing while snapshots are taken --- */

struct pair_job {
    struct write_job job;
    int i;
};

struct feeder {
    struct store *s;
    struct writer *w;
    uv_loop_t loop;
    uv_timer_t timer;
    uv_async_t stop;
    int next;
    atomic_int n_done;
    atomic_bool is_run_seen;
};

static int pair_run(struct store_txn *t, struct write_job *job)
{
    struct err e;
    err_init(&e);
    int rc = write_pair(t, ((struct pair_job *)job)->i, &e);
    err_clear(&e);
    return rc;
}

static struct feeder *g_feeder;

static void pair_done(struct write_job *job, int rc, const struct err *e)
{
    (void)e;
    CHECK_EQ_INT(rc, 0);
    atomic_fetch_add(&g_feeder->n_done, 1);
    free(job);
}

static void feed_tick(uv_timer_t *h)
{
    struct feeder *f = h->data;
    for (int k = 0; k < 5; k++) {
        struct pair_job *j = xcalloc(1, sizeof *j);
        j->job.run = pair_run;
        j->job.done = pair_done;
        j->i = ++f->next;
        writer_submit(f->w, &j->job);
    }
}

static void feed_stop(uv_async_t *h)
{
    struct feeder *f = h->data;
    uv_timer_stop(&f->timer);
    writer_stop(f->w);
    uv_close((uv_handle_t *)&f->timer, NULL);
    uv_close((uv_handle_t *)&f->stop, NULL);
}

static void *feeder_main(void *arg)
{
    struct feeder *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

TEST(snapshots_taken_while_the_writer_commits_hold_exactly_the_state_of_their_optime)
{
    char src[300], dst[300], hex[65];
    make_subdir(src, sizeof src, "src");
    struct feeder f;
    memset(&f, 0, sizeof f);
    g_feeder = &f;
    f.s = open_dir(src);
    struct err e;
    err_init(&e);
    uv_loop_init(&f.loop);
    CHECK_EQ_INT(writer_start(f.s, &f.loop, &f.w, &e), 0);
    uv_timer_init(&f.loop, &f.timer);
    f.timer.data = &f;
    uv_async_init(&f.loop, &f.stop, feed_stop);
    f.stop.data = &f;
    uv_timer_start(&f.timer, feed_tick, 0, 1);
    pthread_t th;
    pthread_create(&th, NULL, feeder_main, &f);

    for (int round = 0; round < 4; round++) {
        struct timespec ts = {0, 30 * 1000 * 1000};
        nanosleep(&ts, NULL);
        char name[32];
        snprintf(name, sizeof name, "dst%d", round);
        make_subdir(dst, sizeof dst, name);
        struct snapshot *sn = NULL;
        struct snapshot_meta meta;
        CHECK_EQ_INT(snapshot_start(f.s, f.w, &sn, &meta, &e), 0);
        CHECK(stream_to(sn, dst, 256 * 1024, hex) > 0);
        snapshot_destroy(sn);
        int64_t n_docs, n_entries;
        struct optime last;
        count_copy(dst, &n_docs, &n_entries, &last);
        /* Exactly the pairs up to the named entry, and nothing after it. */
        CHECK_EQ_INT(last.ts, meta.optime.ts);
        CHECK_EQ_INT(n_docs, n_entries);
        CHECK_EQ_INT((int64_t)(meta.optime.ts >> 32), n_entries);
        CHECK(n_entries > 0);
    }
    uv_async_send(&f.stop);
    pthread_join(th, NULL);
    uv_loop_close(&f.loop);
    CHECK(atomic_load(&f.n_done) > 0);
    store_close(f.s);
    err_clear(&e);
}

struct flag_job {
    struct write_job job;
    atomic_bool is_run;
    bool is_done;
};

static int flag_run(struct store_txn *t, struct write_job *job)
{
    (void)t;
    atomic_store(&((struct flag_job *)job)->is_run, true);
    return 0;
}

static void flag_done(struct write_job *job, int rc, const struct err *e)
{
    (void)rc;
    (void)e;
    ((struct flag_job *)job)->is_done = true;
}

TEST(a_paused_writer_runs_no_job_until_resumed)
{
    struct store *s = open_ok();
    uv_loop_t loop;
    struct writer *w = NULL;
    struct err e;
    err_init(&e);
    uv_loop_init(&loop);
    CHECK_EQ_INT(writer_start(s, &loop, &w, &e), 0);
    struct flag_job j;
    memset(&j, 0, sizeof j);
    j.job.run = flag_run;
    j.job.done = flag_done;
    writer_pause(w);
    writer_pause(w); /* nested */
    writer_submit(w, &j.job);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(!atomic_load(&j.is_run));
    writer_resume(w);
    nanosleep(&ts, NULL);
    CHECK(!atomic_load(&j.is_run));
    writer_resume(w);
    for (int i = 0; i < 200 && !j.is_done; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct timespec tick = {0, 10 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    CHECK(atomic_load(&j.is_run));
    CHECK(j.is_done);
    writer_stop(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    store_close(s);
    err_clear(&e);
}

TEST(the_sha256_helper_matches_a_known_digest)
{
    char hex[65];
    struct snapshot_hash *h = snapshot_hash_new();
    snapshot_hash_update(h, "ab", 2);
    snapshot_hash_update(h, "c", 1);
    snapshot_hash_final(h, hex);
    CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    RUN(a_snapshot_opens_as_a_data_directory_and_names_its_newest_oplog_entry);
    RUN(a_destroyed_snapshot_stops_its_copy_and_the_store_stays_usable);
    RUN(snapshots_taken_while_the_writer_commits_hold_exactly_the_state_of_their_optime);
    RUN(a_paused_writer_runs_no_job_until_resumed);
    RUN(the_sha256_helper_matches_a_known_digest);
    return test_report();
}
