/* test_initial_sync.c - the startup half of initial sync: a READY copy is
 * swapped in with this member's identity (term, LastVote, newer config,
 * rollback id) and without the source's minValid; an unfinished copy is
 * removed and the pending marker kept. */
#include "repl/initial_sync.h"
#include "storage/oplog.h"

#include "store_testhelp.h"

#include <sys/stat.h>

static struct store *open_at(const char *dir)
{
    struct store *s = NULL;
    struct err e;
    err_init(&e);
    if (store_open(dir, &nosync, &s, &e) != 0)
        fprintf(stderr, "  store_open %s: %s\n", dir, e.msg);
    err_clear(&e);
    return s;
}

static bson_t *config_doc(int version, int64_t term)
{
    bson_t *b = bson_new();
    BSON_APPEND_UTF8(b, "_id", "rs0");
    BSON_APPEND_INT32(b, "version", version);
    BSON_APPEND_INT64(b, "term", term);
    return b;
}

/* A data directory with this identity and one document {_id: tag} in db.c. */
static void make_member(const char *dir, int64_t term, int64_t vote_term, int32_t vote_cand, int cfg_version,
                        int32_t n_rbid_bumps, bool has_min_valid, int tag)
{
    struct store *s = open_at(dir);
    struct store_txn *t = wtxn(s);
    struct err e;
    err_init(&e);
    struct oplog_last_vote v = {vote_term, vote_cand};
    CHECK_EQ_INT(oplog_put_term(t, term, &e), 0);
    CHECK_EQ_INT(oplog_put_last_vote(t, &v, &e), 0);
    bson_t *cfg = config_doc(cfg_version, 1);
    CHECK_EQ_INT(oplog_put_config(t, cfg, &e), 0);
    bson_destroy(cfg);
    for (int i = 0; i < n_rbid_bumps; i++)
        CHECK_EQ_INT(oplog_bump_rbid(t, NULL, &e), 0);
    if (has_min_valid) {
        struct optime mv = {(uint64_t)5 << 32, 1};
        CHECK_EQ_INT(oplog_put_min_valid(t, mv, &e), 0);
        CHECK_EQ_INT(oplog_put_truncate_after_point(t, (uint64_t)4 << 32, &e), 0);
    }
    struct coll_info *c = NULL;
    CHECK_EQ_INT(store_coll_create(t, "db", "c", NULL, &c, &e), 0);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT32(&doc, "_id", tag);
    CHECK_EQ_INT(store_doc_insert(t, c, &doc, &e), 0);
    bson_destroy(&doc);
    coll_info_destroy(c);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
    err_clear(&e);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int only_doc_id(struct store_txn *t)
{
    struct coll_info *c = NULL;
    struct err e;
    err_init(&e);
    store_coll_find(t, "db", "c", &c, &e);
    if (c == NULL)
        return -1;
    struct store_iter *it = NULL;
    int id = -1;
    bson_t doc;
    bson_iter_t bi;
    if (store_iter_open_coll(t, c, false, NULL, &it, &e) == 0 && store_iter_next(it, &doc, &e) == 1 &&
        bson_iter_init_find(&bi, &doc, "_id"))
        id = bson_iter_int32(&bi);
    store_iter_close(it);
    coll_info_destroy(c);
    return id;
}

TEST(a_ready_copy_is_swapped_in_with_this_members_identity)
{
    char copy[300], path[400];
    struct err e;
    err_init(&e);
    snprintf(copy, sizeof copy, "%s/initialsync", test_dir);
    mkdir(copy, 0700);
    /* Ours: term 7, voted for 2 in term 7, config version 3, rbid 4. */
    make_member(test_dir, 7, 7, 2, 3, 4, false, 1);
    /* The source's: term 5, voted for 0 in 5, config version 2, rbid 1, minValid set. */
    make_member(copy, 5, 5, 0, 2, 1, true, 2);
    snprintf(path, sizeof path, "%s/READY", copy);
    touch(path);
    CHECK_EQ_INT(initial_sync_mark_pending(test_dir, &e), 0);
    CHECK(initial_sync_is_pending(test_dir));

    CHECK_EQ_INT(initial_sync_prepare_dbpath(test_dir, &e), 0);
    CHECK(!initial_sync_is_pending(test_dir));
    CHECK(!file_exists(copy));

    struct store *s = open_at(test_dir);
    struct store_txn *t = rtxn(s);
    int64_t term = 0;
    struct oplog_last_vote v;
    bson_t cfg;
    int32_t rbid = 0;
    struct optime mv;
    uint64_t tap = 1;
    CHECK_EQ_INT(only_doc_id(t), 2); /* the copy's data */
    CHECK_EQ_INT(oplog_get_term(t, &term, &e), 0);
    CHECK_EQ_INT(term, 7);
    CHECK_EQ_INT(oplog_get_last_vote(t, &v, &e), 0);
    CHECK_EQ_INT(v.term, 7);
    CHECK_EQ_INT(v.candidate_index, 2);
    CHECK_EQ_INT(oplog_get_config(t, &cfg, &e), 1);
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, &cfg, "version") && bson_iter_as_int64(&it) == 3);
    bson_destroy(&cfg);
    CHECK_EQ_INT(oplog_get_rbid(t, &rbid, &e), 0);
    CHECK_EQ_INT(rbid, 5);
    CHECK_EQ_INT(oplog_get_min_valid(t, &mv, &e), 0);
    CHECK(optime_is_null(mv));
    CHECK_EQ_INT(oplog_get_truncate_after_point(t, &tap, &e), 0);
    CHECK_EQ_INT(tap, 0);
    store_txn_end(t);
    store_close(s);
    err_clear(&e);
}

TEST(a_newer_config_and_term_of_the_source_are_kept)
{
    char copy[300], path[400];
    struct err e;
    err_init(&e);
    snprintf(copy, sizeof copy, "%s/initialsync", test_dir);
    mkdir(copy, 0700);
    make_member(test_dir, -1 + 1, -1, -1, 1, 0, false, 1);
    make_member(copy, 9, 9, 1, 4, 0, false, 2);
    snprintf(path, sizeof path, "%s/READY", copy);
    touch(path);
    CHECK_EQ_INT(initial_sync_prepare_dbpath(test_dir, &e), 0);
    struct store *s = open_at(test_dir);
    struct store_txn *t = rtxn(s);
    int64_t term = 0;
    struct oplog_last_vote v;
    bson_t cfg;
    bson_iter_t it;
    CHECK_EQ_INT(oplog_get_term(t, &term, &e), 0);
    CHECK_EQ_INT(term, 9);
    CHECK_EQ_INT(oplog_get_last_vote(t, &v, &e), 0);
    CHECK_EQ_INT(v.term, -1); /* the source's vote is not ours */
    CHECK_EQ_INT(oplog_get_config(t, &cfg, &e), 1);
    CHECK(bson_iter_init_find(&it, &cfg, "version") && bson_iter_as_int64(&it) == 4);
    bson_destroy(&cfg);
    store_txn_end(t);
    store_close(s);
    err_clear(&e);
}

TEST(an_unfinished_copy_is_removed_and_the_sync_stays_pending)
{
    char copy[300];
    struct err e;
    err_init(&e);
    snprintf(copy, sizeof copy, "%s/initialsync", test_dir);
    mkdir(copy, 0700);
    make_member(test_dir, 3, 3, 0, 1, 0, false, 1);
    make_member(copy, 3, 3, 0, 1, 0, false, 2);
    CHECK_EQ_INT(initial_sync_mark_pending(test_dir, &e), 0);
    CHECK_EQ_INT(initial_sync_prepare_dbpath(test_dir, &e), 0);
    CHECK(!file_exists(copy));
    CHECK(initial_sync_is_pending(test_dir));
    struct store *s = open_at(test_dir);
    struct store_txn *t = rtxn(s);
    CHECK_EQ_INT(only_doc_id(t), 1); /* our own data, untouched */
    store_txn_end(t);
    store_close(s);
    /* Nothing to do: no error, nothing changes. */
    CHECK_EQ_INT(initial_sync_prepare_dbpath(test_dir, &e), 0);
    err_clear(&e);
}

int main(void)
{
    RUN(a_ready_copy_is_swapped_in_with_this_members_identity);
    RUN(a_newer_config_and_term_of_the_source_are_kept);
    RUN(an_unfinished_copy_is_removed_and_the_sync_stays_pending);
    return test_report();
}
