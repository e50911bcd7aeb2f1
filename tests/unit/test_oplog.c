/* test_oplog.c - the oplog, undo records and replication state in a real LMDB
 * environment (storage/oplog.h). */
#include "storage/oplog.h"

#include "store_testhelp.h"

#define TS(secs, inc) ((uint64_t)(secs) << 32 | (uint32_t)(inc))

static uint32_t ts_secs(bson_iter_t *it)
{
    uint32_t secs = 0, inc;
    if (BSON_ITER_HOLDS_TIMESTAMP(it))
        bson_iter_timestamp(it, &secs, &inc);
    return secs;
}

/* A no-op entry at ts with term, padded to make sizes differ when pad > 0. */
static bson_t *entry_at(uint64_t ts, int64_t term, int pad)
{
    bson_t *b = bson_new();
    BSON_APPEND_TIMESTAMP(b, "ts", (uint32_t)(ts >> 32), (uint32_t)ts);
    BSON_APPEND_INT64(b, "t", term);
    BSON_APPEND_INT32(b, "v", 2);
    BSON_APPEND_UTF8(b, "op", "n");
    BSON_APPEND_UTF8(b, "ns", "");
    bson_t o;
    BSON_APPEND_DOCUMENT_BEGIN(b, "o", &o);
    if (pad > 0) {
        char *s = xmalloc((size_t)pad + 1);
        memset(s, 'x', (size_t)pad);
        s[pad] = '\0';
        BSON_APPEND_UTF8(&o, "msg", s);
        free(s);
    }
    bson_append_document_end(b, &o);
    BSON_APPEND_DATE_TIME(b, "wall", 1000);
    return b;
}

static int append(struct store_txn *t, uint64_t ts, int64_t term, struct err *e)
{
    bson_t *b = entry_at(ts, term, 0);
    int rc = oplog_append(t, b, e);
    bson_destroy(b);
    return rc;
}

/* Appends entries at seconds 1..n (inc 0), term 1, and commits. */
static void fill(struct store *s, int n)
{
    struct store_txn *t = wtxn(s);
    struct err e;
    err_init(&e);
    for (int i = 1; i <= n; i++)
        CHECK_EQ_INT(append(t, TS(i, 0), 1, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
}

/* Seconds of every entry an iterator returns, as "1,2,3". */
static void iter_collect(struct store_txn *t, uint64_t from, bool is_inclusive, bool is_reverse, char *out, size_t n)
{
    struct err e;
    err_init(&e);
    struct oplog_iter *it;
    out[0] = '\0';
    if (oplog_iter_open(t, from, is_inclusive, is_reverse, &it, &e) != 0) {
        snprintf(out, n, "open error");
        return;
    }
    struct optime o;
    bson_t entry;
    int rc;
    while ((rc = oplog_iter_next(it, &o, &entry, &e)) == 1) {
        size_t len = strlen(out);
        bson_iter_t bi;
        bool is_same = bson_iter_init_find(&bi, &entry, "ts") && ts_secs(&bi) == optime_secs(o);
        snprintf(out + len, n - len, "%s%u%s", len ? "," : "", optime_secs(o), is_same ? "" : "!");
    }
    if (rc < 0)
        snprintf(out, n, "error: %.100s", e.msg);
    oplog_iter_close(it);
}

TEST(append_keeps_entries_in_timestamp_order_and_first_last_find_see_them)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(oplog_last(t, NULL, NULL, &e), 0);
    CHECK_EQ_INT(oplog_first(t, NULL, NULL, &e), 0);
    CHECK_EQ_INT(append(t, TS(5, 1), 1, &e), 0);
    CHECK_EQ_INT(append(t, TS(5, 2), 1, &e), 0);
    CHECK_EQ_INT(append(t, TS(7, 0), 2, &e), 0);
    CHECK_EQ_INT(commit(t), 0);

    t = rtxn(s);
    struct optime o;
    bson_t entry;
    CHECK_EQ_INT(oplog_last(t, &o, &entry, &e), 1);
    CHECK(o.ts == TS(7, 0));
    CHECK_EQ_INT(o.term, 2);
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, &entry, "op") && strcmp(bson_iter_utf8(&it, NULL), "n") == 0);
    CHECK_EQ_INT(oplog_first(t, &o, NULL, &e), 1);
    CHECK(o.ts == TS(5, 1));
    CHECK_EQ_INT(oplog_find(t, TS(5, 2), &entry, &e), 1);
    CHECK(bson_iter_init_find(&it, &entry, "ts") && ts_secs(&it) == 5);
    CHECK_EQ_INT(oplog_find(t, TS(6, 0), NULL, &e), 0);
    store_txn_end(t);
    store_close(s);
}

TEST(append_refuses_a_timestamp_not_after_the_last_one_and_writes_nothing)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(append(t, TS(10, 5), 1, &e), 0);
    CHECK_EQ_INT(append(t, TS(10, 5), 1, &e), -ERR_INTERNAL_ERROR);
    CHECK(strstr(e.msg, "oplog invariant") != NULL);
    CHECK(strstr(e.msg, "Timestamp(10, 5)") != NULL);
    CHECK_EQ_INT(append(t, TS(10, 4), 2, &e), -ERR_INTERNAL_ERROR);
    CHECK_EQ_INT(append(t, TS(9, 99), 2, &e), -ERR_INTERNAL_ERROR);
    struct oplog_stats st;
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    CHECK_EQ_INT(st.n_entries, 1);
    CHECK_EQ_INT(append(t, TS(10, 6), 1, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    err_clear(&e);
    store_close(s);
}

TEST(append_refuses_entries_without_ts_or_term_and_read_transactions)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    bson_t *b = J("{\"op\": \"n\", \"t\": 1}");
    CHECK_EQ_INT(oplog_append(t, b, &e), -ERR_BAD_VALUE);
    bson_destroy(b);
    b = bson_new();
    BSON_APPEND_TIMESTAMP(b, "ts", 3, 0);
    BSON_APPEND_UTF8(b, "t", "one");
    CHECK_EQ_INT(oplog_append(t, b, &e), -ERR_BAD_VALUE);
    bson_destroy(b);
    b = entry_at(0, 1, 0);
    CHECK_EQ_INT(oplog_append(t, b, &e), -ERR_BAD_VALUE);
    bson_destroy(b);
    CHECK_EQ_INT(commit(t), 0);
    t = rtxn(s);
    CHECK_EQ_INT(append(t, TS(1, 0), 1, &e), -ERR_INTERNAL_ERROR);
    CHECK(strstr(e.msg, "write transaction") != NULL);
    int64_t n;
    CHECK_EQ_INT(oplog_truncate_after(t, 0, &n, &e), -ERR_INTERNAL_ERROR);
    CHECK_EQ_INT(oplog_trim(t, 0, 0, &n, &e), -ERR_INTERNAL_ERROR);
    CHECK_EQ_INT(oplog_put_term(t, 3, &e), -ERR_INTERNAL_ERROR);
    store_txn_end(t);
    err_clear(&e);
    store_close(s);
}

TEST(iterators_start_at_a_timestamp_inclusive_or_exclusive_in_both_directions)
{
    struct store *s = open_ok();
    fill(s, 5);
    struct store_txn *t = rtxn(s);
    char buf[128];
    iter_collect(t, 0, true, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "1,2,3,4,5");
    iter_collect(t, TS(3, 0), true, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "3,4,5");
    iter_collect(t, TS(3, 0), false, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "4,5");
    iter_collect(t, TS(3, 7), true, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "4,5");
    iter_collect(t, TS(5, 0), false, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    iter_collect(t, UINT64_MAX, true, true, buf, sizeof buf);
    CHECK_EQ_STR(buf, "5,4,3,2,1");
    iter_collect(t, TS(3, 0), true, true, buf, sizeof buf);
    CHECK_EQ_STR(buf, "3,2,1");
    iter_collect(t, TS(3, 0), false, true, buf, sizeof buf);
    CHECK_EQ_STR(buf, "2,1");
    iter_collect(t, TS(3, 7), false, true, buf, sizeof buf);
    CHECK_EQ_STR(buf, "3,2,1");
    iter_collect(t, TS(1, 0), false, true, buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    iter_collect(t, TS(9, 0), false, true, buf, sizeof buf);
    CHECK_EQ_STR(buf, "5,4,3,2,1");
    store_txn_end(t);
    store_close(s);
}

TEST(iterator_stays_at_its_end_when_called_again)
{
    struct store *s = open_ok();
    fill(s, 3);
    struct err e;
    err_init(&e);
    struct store_txn *t = rtxn(s);
    struct oplog_iter *it;
    struct optime o;
    CHECK_EQ_INT(oplog_iter_open(t, TS(9, 0), true, false, &it, &e), 0);
    CHECK_EQ_INT(oplog_iter_next(it, &o, NULL, &e), 0);
    CHECK_EQ_INT(oplog_iter_next(it, &o, NULL, &e), 0);
    oplog_iter_close(it);
    CHECK_EQ_INT(oplog_iter_open(t, TS(2, 0), false, false, &it, &e), 0);
    CHECK_EQ_INT(oplog_iter_next(it, &o, NULL, &e), 1);
    CHECK(o.ts == TS(3, 0));
    CHECK_EQ_INT(oplog_iter_next(it, &o, NULL, &e), 0);
    CHECK_EQ_INT(oplog_iter_next(it, &o, NULL, &e), 0);
    oplog_iter_close(it);
    store_txn_end(t);
    store_close(s);
}

TEST(iterator_over_an_empty_oplog_ends_at_once)
{
    struct store *s = open_ok();
    struct store_txn *t = rtxn(s);
    char buf[64];
    iter_collect(t, 0, true, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    iter_collect(t, UINT64_MAX, true, true, buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    store_txn_end(t);
    store_close(s);
}

TEST(truncate_after_removes_newer_entries_and_their_undo_records_and_allows_new_appends)
{
    struct store *s = open_ok();
    fill(s, 6);
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    bson_t *rec = J("{\"ns\": \"d.c\", \"o2\": {\"_id\": 1}, \"pre\": null}");
    for (int i = 3; i <= 6; i++)
        CHECK_EQ_INT(oplog_undo_put(t, TS(i, 0), rec, &e), 0);
    bson_destroy(rec);
    struct oplog_stats before;
    CHECK_EQ_INT(oplog_stats(t, &before, &e), 0);
    int64_t n = -1;
    CHECK_EQ_INT(oplog_truncate_after(t, TS(4, 0), &n, &e), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(commit(t), 0);

    t = wtxn(s);
    char buf[64];
    iter_collect(t, 0, true, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "1,2,3,4");
    CHECK_EQ_INT(oplog_undo_get(t, TS(4, 0), NULL, &e), 1);
    CHECK_EQ_INT(oplog_undo_get(t, TS(5, 0), NULL, &e), 0);
    CHECK_EQ_INT(oplog_undo_get(t, TS(6, 0), NULL, &e), 0);
    struct oplog_stats st;
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    CHECK_EQ_INT(st.n_entries, 4);
    CHECK_EQ_INT(st.n_bytes, before.n_bytes / 6 * 4);
    CHECK(st.last.ts == TS(4, 0));
    /* The rolled-back timestamps can be reused by the new history. */
    CHECK_EQ_INT(append(t, TS(5, 0), 2, &e), 0);
    CHECK_EQ_INT(oplog_truncate_after(t, UINT64_MAX, &n, &e), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(oplog_truncate_after(t, 0, &n, &e), 0);
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    CHECK_EQ_INT(st.n_entries, 0);
    CHECK_EQ_INT(st.n_bytes, 0);
    CHECK(optime_is_null(st.first) && optime_is_null(st.last));
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(stats_count_entries_and_bytes_exactly)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    int64_t total = 0;
    for (int i = 1; i <= 4; i++) {
        bson_t *b = entry_at(TS(i, 0), 3, i * 10);
        total += b->len;
        CHECK_EQ_INT(oplog_append(t, b, &e), 0);
        bson_destroy(b);
    }
    struct oplog_stats st;
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    CHECK_EQ_INT(st.n_entries, 4);
    CHECK_EQ_INT(st.n_bytes, total);
    CHECK(st.first.ts == TS(1, 0) && st.first.term == 3);
    CHECK(st.last.ts == TS(4, 0) && st.last.term == 3);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(trim_removes_oldest_entries_down_to_the_size_but_never_past_keep_after_nor_the_newest)
{
    struct store *s = open_ok();
    fill(s, 10);
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    bson_t *rec = J("{\"ns\": \"d.c\", \"o2\": {\"_id\": 1}, \"pre\": null}");
    for (int i = 1; i <= 10; i++)
        CHECK_EQ_INT(oplog_undo_put(t, TS(i, 0), rec, &e), 0);
    bson_destroy(rec);
    struct oplog_stats st;
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    int64_t one = st.n_bytes / 10;
    int64_t n = -1;
    /* Under the size: nothing goes. */
    CHECK_EQ_INT(oplog_trim(t, st.n_bytes, UINT64_MAX, &n, &e), 0);
    CHECK_EQ_INT(n, 0);
    /* Room for 7 entries: the 3 oldest go. */
    CHECK_EQ_INT(oplog_trim(t, one * 7, UINT64_MAX, &n, &e), 0);
    CHECK_EQ_INT(n, 3);
    char buf[64];
    iter_collect(t, 0, true, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "4,5,6,7,8,9,10");
    CHECK_EQ_INT(oplog_undo_get(t, TS(3, 0), NULL, &e), 0);
    CHECK_EQ_INT(oplog_undo_get(t, TS(4, 0), NULL, &e), 1);
    /* Room for 2, but the commit point is at 6: entries after it stay. */
    CHECK_EQ_INT(oplog_trim(t, one * 2, TS(6, 0), &n, &e), 0);
    CHECK_EQ_INT(n, 3);
    iter_collect(t, 0, true, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "7,8,9,10");
    /* Size 0 with everything committed: the newest entry still stays. */
    CHECK_EQ_INT(oplog_trim(t, 0, UINT64_MAX, &n, &e), 0);
    CHECK_EQ_INT(n, 3);
    iter_collect(t, 0, true, false, buf, sizeof buf);
    CHECK_EQ_STR(buf, "10");
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    CHECK_EQ_INT(st.n_entries, 1);
    CHECK_EQ_INT(st.n_bytes, one);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(oplog_and_undo_records_survive_reopen)
{
    struct store *s = open_ok();
    fill(s, 3);
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    bson_t *rec = J("{\"ns\": \"d.c\", \"o2\": {\"_id\": 7}, \"pre\": {\"_id\": 7, \"a\": 1}}");
    CHECK_EQ_INT(oplog_undo_put(t, TS(3, 0), rec, &e), 0);
    bson_destroy(rec);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);

    s = open_ok();
    t = rtxn(s);
    struct oplog_stats st;
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    CHECK_EQ_INT(st.n_entries, 3);
    CHECK(st.n_bytes > 0);
    bson_t got;
    CHECK_EQ_INT(oplog_undo_get(t, TS(3, 0), &got, &e), 1);
    bson_iter_t it;
    CHECK(bson_iter_init(&it, &got) && bson_iter_find_descendant(&it, "pre.a", &it) && bson_iter_as_int64(&it) == 1);
    store_txn_end(t);
    store_close(s);
}

TEST(undo_records_are_replaced_by_put_and_removed_up_to_the_commit_point)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    for (int i = 1; i <= 5; i++) {
        bson_t *rec = bson_new();
        BSON_APPEND_INT32(rec, "n", i);
        CHECK_EQ_INT(oplog_undo_put(t, TS(i, 0), rec, &e), 0);
        bson_destroy(rec);
    }
    bson_t *rec = J("{\"n\": 33}");
    CHECK_EQ_INT(oplog_undo_put(t, TS(3, 0), rec, &e), 0);
    bson_destroy(rec);
    bson_t got;
    bson_iter_t it;
    CHECK_EQ_INT(oplog_undo_get(t, TS(3, 0), &got, &e), 1);
    CHECK(bson_iter_init_find(&it, &got, "n") && bson_iter_int32(&it) == 33);
    int64_t n = -1;
    CHECK_EQ_INT(oplog_undo_delete_upto(t, TS(3, 0), &n, &e), 0);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(oplog_undo_get(t, TS(3, 0), NULL, &e), 0);
    CHECK_EQ_INT(oplog_undo_get(t, TS(4, 0), &got, &e), 1);
    CHECK(bson_iter_init_find(&it, &got, "n") && bson_iter_int32(&it) == 4);
    CHECK_EQ_INT(oplog_undo_delete_upto(t, TS(3, 0), &n, &e), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(replication_state_has_defaults_and_survives_reopen)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = rtxn(s);
    int64_t term = 0;
    CHECK_EQ_INT(oplog_get_term(t, &term, &e), 0);
    CHECK_EQ_INT(term, -1);
    struct oplog_last_vote lv;
    CHECK_EQ_INT(oplog_get_last_vote(t, &lv, &e), 0);
    CHECK(lv.term == -1 && lv.candidate_index == -1);
    bson_t cfg;
    CHECK_EQ_INT(oplog_get_config(t, &cfg, &e), 0);
    struct optime o;
    CHECK_EQ_INT(oplog_get_commit_point(t, &o, &e), 0);
    CHECK(optime_is_null(o));
    int32_t rbid = -5;
    CHECK_EQ_INT(oplog_get_rbid(t, &rbid, &e), 0);
    CHECK_EQ_INT(rbid, 0);
    CHECK_EQ_INT(oplog_get_min_valid(t, &o, &e), 0);
    CHECK(optime_is_null(o));
    uint64_t tap = 9;
    CHECK_EQ_INT(oplog_get_truncate_after_point(t, &tap, &e), 0);
    CHECK(tap == 0);
    store_txn_end(t);

    t = wtxn(s);
    CHECK_EQ_INT(oplog_put_term(t, 4, &e), 0);
    struct oplog_last_vote vote = {4, 2};
    CHECK_EQ_INT(oplog_put_last_vote(t, &vote, &e), 0);
    bson_t *conf = J("{\"_id\": \"rs0\", \"version\": 3, \"term\": 4, \"members\": [{\"_id\": 0, \"host\": "
                     "\"127.0.0.1:27017\"}]}");
    CHECK_EQ_INT(oplog_put_config(t, conf, &e), 0);
    CHECK_EQ_INT(oplog_put_commit_point(t, (struct optime){TS(20, 1), 4}, &e), 0);
    CHECK_EQ_INT(oplog_bump_rbid(t, &rbid, &e), 0);
    CHECK_EQ_INT(rbid, 1);
    CHECK_EQ_INT(oplog_bump_rbid(t, NULL, &e), 0);
    CHECK_EQ_INT(oplog_put_min_valid(t, (struct optime){TS(30, 0), 4}, &e), 0);
    CHECK_EQ_INT(oplog_put_truncate_after_point(t, TS(19, 2), &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);

    s = open_ok();
    t = rtxn(s);
    CHECK_EQ_INT(oplog_get_term(t, &term, &e), 0);
    CHECK_EQ_INT(term, 4);
    CHECK_EQ_INT(oplog_get_last_vote(t, &lv, &e), 0);
    CHECK(lv.term == 4 && lv.candidate_index == 2);
    CHECK_EQ_INT(oplog_get_config(t, &cfg, &e), 1);
    CHECK(bson_equal(&cfg, conf));
    bson_destroy(&cfg);
    bson_destroy(conf);
    CHECK_EQ_INT(oplog_get_commit_point(t, &o, &e), 0);
    CHECK(o.ts == TS(20, 1) && o.term == 4);
    CHECK_EQ_INT(oplog_get_rbid(t, &rbid, &e), 0);
    CHECK_EQ_INT(rbid, 2);
    CHECK_EQ_INT(oplog_get_min_valid(t, &o, &e), 0);
    CHECK(o.ts == TS(30, 0) && o.term == 4);
    CHECK_EQ_INT(oplog_get_truncate_after_point(t, &tap, &e), 0);
    CHECK(tap == TS(19, 2));
    store_txn_end(t);
    store_close(s);
}

TEST(term_never_decreases_and_commit_point_never_moves_backwards)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(oplog_put_term(t, 5, &e), 0);
    CHECK_EQ_INT(oplog_put_term(t, 5, &e), 0);
    CHECK_EQ_INT(oplog_put_term(t, 4, &e), -ERR_INTERNAL_ERROR);
    CHECK(strstr(e.msg, "must not decrease") != NULL);
    int64_t term;
    CHECK_EQ_INT(oplog_get_term(t, &term, &e), 0);
    CHECK_EQ_INT(term, 5);

    struct optime o;
    CHECK_EQ_INT(oplog_put_commit_point(t, (struct optime){TS(10, 0), 2}, &e), 0);
    /* Older by timestamp, then older by term although its timestamp is newer: both ignored. */
    CHECK_EQ_INT(oplog_put_commit_point(t, (struct optime){TS(9, 0), 2}, &e), 0);
    CHECK_EQ_INT(oplog_put_commit_point(t, (struct optime){TS(11, 0), 1}, &e), 0);
    CHECK_EQ_INT(oplog_get_commit_point(t, &o, &e), 0);
    CHECK(o.ts == TS(10, 0) && o.term == 2);
    CHECK_EQ_INT(oplog_put_commit_point(t, (struct optime){TS(8, 0), 3}, &e), 0);
    CHECK_EQ_INT(oplog_get_commit_point(t, &o, &e), 0);
    CHECK(o.ts == TS(8, 0) && o.term == 3);

    /* Null values clear minValid and the truncate-after point. */
    CHECK_EQ_INT(oplog_put_min_valid(t, (struct optime){TS(3, 0), 1}, &e), 0);
    CHECK_EQ_INT(oplog_put_min_valid(t, OPTIME_NULL, &e), 0);
    CHECK_EQ_INT(oplog_get_min_valid(t, &o, &e), 0);
    CHECK(optime_is_null(o));
    uint64_t tap;
    CHECK_EQ_INT(oplog_put_truncate_after_point(t, TS(3, 0), &e), 0);
    CHECK_EQ_INT(oplog_put_truncate_after_point(t, 0, &e), 0);
    CHECK_EQ_INT(oplog_get_truncate_after_point(t, &tap, &e), 0);
    CHECK(tap == 0);
    CHECK_EQ_INT(commit(t), 0);
    err_clear(&e);
    store_close(s);
}

TEST(an_uncommitted_write_leaves_no_oplog_entry_or_state)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(append(t, TS(1, 0), 1, &e), 0);
    CHECK_EQ_INT(oplog_put_term(t, 7, &e), 0);
    store_txn_end(t);
    t = rtxn(s);
    CHECK_EQ_INT(oplog_last(t, NULL, NULL, &e), 0);
    int64_t term;
    CHECK_EQ_INT(oplog_get_term(t, &term, &e), 0);
    CHECK_EQ_INT(term, -1);
    struct oplog_stats st;
    CHECK_EQ_INT(oplog_stats(t, &st, &e), 0);
    CHECK_EQ_INT(st.n_bytes, 0);
    store_txn_end(t);
    store_close(s);
}

TEST(a_collection_can_adopt_a_given_uuid_durably)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "d", "c", NULL);
    uint8_t uuid[16];
    for (int i = 0; i < 16; i++)
        uuid[i] = (uint8_t)(0xa0 + i);
    CHECK_EQ_INT(oplog_coll_set_uuid(t, c, uuid, &e), 0);
    CHECK(memcmp(c->uuid, uuid, 16) == 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    coll_info_destroy(c);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
    s = open_ok();
    t = rtxn(s);
    c = find_coll(t, "d", "c");
    CHECK(c != NULL && memcmp(c->uuid, uuid, 16) == 0);
    CHECK_EQ_INT(n_docs(t, c), 1);
    coll_info_destroy(c);
    store_txn_end(t);
    store_close(s);
}

int main(void)
{
    RUN(append_keeps_entries_in_timestamp_order_and_first_last_find_see_them);
    RUN(append_refuses_a_timestamp_not_after_the_last_one_and_writes_nothing);
    RUN(append_refuses_entries_without_ts_or_term_and_read_transactions);
    RUN(iterators_start_at_a_timestamp_inclusive_or_exclusive_in_both_directions);
    RUN(iterator_stays_at_its_end_when_called_again);
    RUN(iterator_over_an_empty_oplog_ends_at_once);
    RUN(truncate_after_removes_newer_entries_and_their_undo_records_and_allows_new_appends);
    RUN(stats_count_entries_and_bytes_exactly);
    RUN(trim_removes_oldest_entries_down_to_the_size_but_never_past_keep_after_nor_the_newest);
    RUN(oplog_and_undo_records_survive_reopen);
    RUN(undo_records_are_replaced_by_put_and_removed_up_to_the_commit_point);
    RUN(replication_state_has_defaults_and_survives_reopen);
    RUN(term_never_decreases_and_commit_point_never_moves_backwards);
    RUN(an_uncommitted_write_leaves_no_oplog_entry_or_state);
    RUN(a_collection_can_adopt_a_given_uuid_durably);
    return test_report();
}
