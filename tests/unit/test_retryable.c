/* test_retryable.c - retryable writes (cmd/retryable.c): which commands may
 * carry txnNumber, the session record in config.transactions, replay of the
 * stored reply, TransactionTooOld, and retriedStmtIds. */
#include "cmd/retryable.h"

#include "core/mem.h"
#include "store_testhelp.h"

/* lsid.id = bytes 0..15 */
#define LSID "\"lsid\": {\"id\": {\"$binary\": {\"base64\": \"AAECAwQFBgcICQoLDA0ODw==\", \"subType\": \"04\"}}}"
#define TXN(n) "\"txnNumber\": {\"$numberLong\": \"" #n "\"}"

static struct cmd_request *req_new(const char *json)
{
    struct cmd_request *r = xcalloc(1, sizeof *r);
    bson_error_t be;
    bson_iter_t it;

    if (!bson_init_from_json(&r->body, json, -1, &be)) {
        fprintf(stderr, "bad test json %s: %s\n", json, be.message);
        abort();
    }
    if (bson_iter_init(&it, &r->body) && bson_iter_next(&it))
        r->name = bson_iter_key(&it);
    r->db = "test";
    return r;
}

static void req_free(struct cmd_request *r)
{
    bson_destroy(&r->body);
    free(r);
}

/* retryable_check_request on json: the return code; *rw filled. */
static int check(const char *json, bool is_repl, struct retryable_write *rw, struct err *e)
{
    struct cmd_request *r = req_new(json);
    int rc;

    err_clear(e);
    rc = retryable_check_request(r, is_repl, rw, e);
    req_free(r);
    return rc;
}

static struct retryable_write active_rw(int64_t txn)
{
    struct retryable_write rw;

    memset(&rw, 0, sizeof rw);
    rw.is_active = true;
    for (int i = 0; i < RETRYABLE_SESSION_ID_BYTES; i++)
        rw.session_id[i] = (uint8_t)i;
    rw.txn_number = txn;
    return rw;
}

static int64_t int_at(const bson_t *doc, const char *path)
{
    bson_iter_t it, sub;

    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &sub) || !BSON_ITER_HOLDS_NUMBER(&sub))
        return -999;
    return bson_iter_as_int64(&sub);
}

static bool has_field(const bson_t *doc, const char *path)
{
    bson_iter_t it, sub;

    return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &sub);
}

TEST(commands_without_txnNumber_are_not_retryable_writes)
{
    struct retryable_write rw;
    struct err e;

    err_init(&e);
    rw.is_active = true;
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], " LSID "}", true, &rw, &e), 0);
    CHECK(!rw.is_active);
    CHECK_EQ_INT(check("{\"find\": \"c\"}", false, &rw, &e), 0);
    CHECK(!rw.is_active);
    err_clear(&e);
}

TEST(a_write_with_lsid_and_txnNumber_on_a_replica_set_member_is_retryable)
{
    struct retryable_write rw;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], " LSID ", " TXN(42) "}", true, &rw, &e), 0);
    CHECK(rw.is_active);
    CHECK_EQ_INT(rw.txn_number, 42);
    CHECK_EQ_INT(rw.session_id[0], 0);
    CHECK_EQ_INT(rw.session_id[15], 15);
    CHECK_EQ_INT(check("{\"findAndModify\": \"c\", \"query\": {}, \"remove\": true, " LSID ", " TXN(1) "}", true,
                       &rw, &e),
                 0);
    CHECK(rw.is_active);
    CHECK_EQ_INT(check("{\"update\": \"c\", \"updates\": [{\"q\": {}, \"u\": {}, \"multi\": false}], " LSID
                       ", " TXN(1) "}",
                       true, &rw, &e),
                 0);
    CHECK(rw.is_active);
    CHECK_EQ_INT(check("{\"delete\": \"c\", \"deletes\": [{\"q\": {}, \"limit\": 1}], " LSID ", " TXN(1) "}", true,
                       &rw, &e),
                 0);
    CHECK(rw.is_active);
    err_clear(&e);
}

TEST(a_standalone_refuses_transaction_numbers_as_mongod_does)
{
    struct retryable_write rw;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], " LSID ", " TXN(1) "}", false, &rw, &e),
                 -ERR_ILLEGAL_OPERATION);
    /* Drivers recognise this prefix and say retryable writes are unsupported. */
    CHECK(strncmp(e.msg, "Transaction numbers", 19) == 0);
    err_clear(&e);
}

TEST(malformed_session_fields_are_refused_with_mongods_codes)
{
    struct retryable_write rw;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], " LSID ", \"txnNumber\": 1}", true, &rw, &e),
                 -ERR_TYPE_MISMATCH);
    CHECK(strstr(e.msg, "'long'") != NULL);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], " LSID ", " TXN(-1) "}", true, &rw, &e),
                 -ERR_BAD_VALUE);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], " TXN(1) "}", true, &rw, &e), -ERR_INVALID_OPTIONS);
    CHECK(strstr(e.msg, "session ID") != NULL);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], \"lsid\": 5, " TXN(1) "}", true, &rw, &e),
                 -ERR_TYPE_MISMATCH);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], \"lsid\": {}, " TXN(1) "}", true, &rw, &e),
                 -ERR_MISSING_FIELD);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], \"lsid\": {\"id\": \"x\"}, " TXN(1) "}", true, &rw,
                       &e),
                 -ERR_TYPE_MISMATCH);
    /* Binary of the wrong subtype or length is not a UUID. */
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], \"lsid\": {\"id\": {\"$binary\": {\"base64\": "
                       "\"AAECAwQFBgcICQoLDA0ODw==\", \"subType\": \"00\"}}}, " TXN(1) "}",
                       true, &rw, &e),
                 -ERR_BAD_VALUE);
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], \"lsid\": {\"id\": {\"$binary\": {\"base64\": "
                       "\"AAEC\", \"subType\": \"04\"}}}, " TXN(1) "}",
                       true, &rw, &e),
                 -ERR_BAD_VALUE);
    err_clear(&e);
}

TEST(only_single_document_writes_may_carry_a_txnNumber)
{
    struct retryable_write rw;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(check("{\"find\": \"c\", " LSID ", " TXN(1) "}", true, &rw, &e),
                 -ERR_NOT_A_RETRYABLE_WRITE_COMMAND);
    CHECK(strstr(e.msg, "find is not a retryable write command") != NULL);
    CHECK_EQ_INT(check("{\"update\": \"c\", \"updates\": [{\"q\": {}, \"u\": {}}, {\"q\": {}, \"u\": {}, "
                       "\"multi\": true}], " LSID ", " TXN(1) "}",
                       true, &rw, &e),
                 -ERR_INVALID_OPTIONS);
    CHECK_EQ_STR(e.msg, "Cannot use (or request) retryable writes with multi=true");
    CHECK_EQ_INT(check("{\"delete\": \"c\", \"deletes\": [{\"q\": {}, \"limit\": 0}], " LSID ", " TXN(1) "}", true,
                       &rw, &e),
                 -ERR_INVALID_OPTIONS);
    CHECK_EQ_STR(e.msg, "Cannot use (or request) retryable writes with limit=0");
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], \"autocommit\": true, " LSID ", " TXN(1) "}", true,
                       &rw, &e),
                 -ERR_INVALID_OPTIONS);
    /* autocommit: false is a transaction, refused by the dispatcher itself. */
    CHECK_EQ_INT(check("{\"insert\": \"c\", \"documents\": [{}], \"autocommit\": false, " LSID ", " TXN(1) "}", true,
                       &rw, &e),
                 0);
    CHECK(!rw.is_active);
    err_clear(&e);
}

TEST(a_session_without_a_record_runs_and_creates_nothing_until_recorded)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct retryable_write rw = active_rw(1);
    struct cmd_request *r = req_new("{\"insert\": \"c\", \"documents\": [{}]}");
    bson_t reply = BSON_INITIALIZER;
    bool is_replayed = true;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(retryable_lookup(t, &rw, r, &reply, &is_replayed, &e), 0);
    CHECK(!is_replayed);
    CHECK(bson_empty(&reply));
    CHECK(find_coll(t, "config", "transactions") == NULL);
    store_txn_end(t);
    store_close(s);
    bson_destroy(&reply);
    req_free(r);
    err_clear(&e);
}

TEST(a_recorded_txnNumber_replays_its_result_and_an_older_one_is_too_old)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct retryable_write rw = active_rw(5);
    struct cmd_request *r = req_new("{\"insert\": \"c\", \"documents\": [{}, {}, {}]}");
    bson_t *result = J("{\"n\": 3}");
    bson_t reply = BSON_INITIALIZER;
    bool is_replayed = false;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(retryable_record(t, &rw, result, (struct optime){(uint64_t)7 << 32 | 3, 2}, 1000, &e), 0);
    CHECK_EQ_INT(commit(t), 0);

    t = wtxn(s);
    CHECK_EQ_INT(retryable_lookup(t, &rw, r, &reply, &is_replayed, &e), 0);
    CHECK(is_replayed);
    CHECK_EQ_INT(int_at(&reply, "n"), 3);
    CHECK_EQ_INT(int_at(&reply, "retriedStmtIds.0"), 0);
    CHECK_EQ_INT(int_at(&reply, "retriedStmtIds.2"), 2);
    CHECK(!has_field(&reply, "retriedStmtIds.3"));

    struct retryable_write older = active_rw(4);
    bson_reinit(&reply);
    CHECK_EQ_INT(retryable_lookup(t, &older, r, &reply, &is_replayed, &e), -ERR_TRANSACTION_TOO_OLD);
    CHECK(strstr(e.msg, "txnNumber 4 is prohibited on session 00010203-0405-0607-0809-0a0b0c0d0e0f") != NULL);
    CHECK(strstr(e.msg, "txnNumber 5 has already started") != NULL);
    CHECK(bson_empty(&reply));

    struct retryable_write newer = active_rw(6);
    CHECK_EQ_INT(retryable_lookup(t, &newer, r, &reply, &is_replayed, &e), 0);
    CHECK(!is_replayed);
    store_txn_end(t);
    store_close(s);
    bson_destroy(&reply);
    bson_destroy(result);
    req_free(r);
    err_clear(&e);
}

TEST(the_record_has_the_session_uuid_as_id_and_a_newer_txnNumber_replaces_it)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct retryable_write rw = active_rw(1);
    bson_t *r1 = J("{\"n\": 1}"), *r2 = J("{\"n\": 0, \"nModified\": 0}");
    struct err e;
    struct coll_info *c;

    err_init(&e);
    CHECK_EQ_INT(retryable_record(t, &rw, r1, (struct optime){(uint64_t)9 << 32 | 1, 3}, 1234, &e), 0);
    rw.txn_number = 2;
    CHECK_EQ_INT(retryable_record(t, &rw, r2, OPTIME_NULL, 5678, &e), 0);
    CHECK_EQ_INT(commit(t), 0);

    t = rtxn(s);
    c = find_coll(t, "config", "transactions");
    CHECK(c != NULL);
    if (c) {
        struct store_iter *it;
        bson_t doc;
        bson_iter_t f;
        CHECK_EQ_INT(n_docs(t, c), 1);
        CHECK_EQ_INT(store_iter_open_coll(t, c, false, NULL, &it, &e), 0);
        CHECK_EQ_INT(store_iter_next(it, &doc, &e), 1);
        CHECK(bson_iter_init(&f, &doc) && bson_iter_next(&f) && strcmp(bson_iter_key(&f), "_id") == 0 &&
              BSON_ITER_HOLDS_BINARY(&f));
        if (BSON_ITER_HOLDS_BINARY(&f)) {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t *data;
            bson_iter_binary(&f, &st, &len, &data);
            CHECK_EQ_INT(st, BSON_SUBTYPE_UUID);
            CHECK_EQ_INT(len, 16);
        }
        CHECK_EQ_INT(int_at(&doc, "txnNum"), 2);
        CHECK_EQ_INT(int_at(&doc, "result.nModified"), 0);
        CHECK_EQ_INT(int_at(&doc, "lastWriteOpTime.t"), -1);
        CHECK(bson_iter_init_find(&f, &doc, "lastWriteDate") && BSON_ITER_HOLDS_DATE_TIME(&f) &&
              bson_iter_date_time(&f) == 5678);
        store_iter_close(it);
    }
    coll_info_destroy(c);
    store_txn_end(t);
    store_close(s);
    bson_destroy(r1);
    bson_destroy(r2);
    err_clear(&e);
}

TEST(retriedStmtIds_leave_out_failed_statements_and_stop_at_an_ordered_failure)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct retryable_write rw = active_rw(1);
    bson_t *result = J("{\"n\": 2, \"writeErrors\": [{\"index\": 1, \"code\": 11000, \"errmsg\": \"dup\"}]}");
    struct cmd_request *unordered = req_new("{\"insert\": \"c\", \"documents\": [{}, {}, {}], \"ordered\": false}");
    struct cmd_request *ordered = req_new("{\"insert\": \"c\", \"documents\": [{}, {}, {}]}");
    struct cmd_request *fam = req_new("{\"findAndModify\": \"c\", \"query\": {}}");
    bson_t reply = BSON_INITIALIZER;
    bool is_replayed;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(retryable_record(t, &rw, result, OPTIME_NULL, 1, &e), 0);
    CHECK_EQ_INT(retryable_lookup(t, &rw, unordered, &reply, &is_replayed, &e), 0);
    CHECK(is_replayed);
    CHECK_EQ_INT(int_at(&reply, "writeErrors.0.code"), 11000);
    CHECK_EQ_INT(int_at(&reply, "retriedStmtIds.0"), 0);
    CHECK_EQ_INT(int_at(&reply, "retriedStmtIds.1"), 2);
    CHECK(!has_field(&reply, "retriedStmtIds.2"));
    bson_reinit(&reply);
    CHECK_EQ_INT(retryable_lookup(t, &rw, ordered, &reply, &is_replayed, &e), 0);
    CHECK_EQ_INT(int_at(&reply, "retriedStmtIds.0"), 0);
    CHECK(!has_field(&reply, "retriedStmtIds.1"));
    bson_reinit(&reply);
    CHECK_EQ_INT(retryable_lookup(t, &rw, fam, &reply, &is_replayed, &e), 0);
    CHECK_EQ_INT(int_at(&reply, "retriedStmtId"), 0);
    CHECK(!has_field(&reply, "retriedStmtIds"));
    store_txn_end(t);
    store_close(s);
    bson_destroy(&reply);
    bson_destroy(result);
    req_free(unordered);
    req_free(ordered);
    req_free(fam);
    err_clear(&e);
}

/* A session whose lsid.id is 16 copies of byte b. */
static struct retryable_write session_rw(uint8_t b, int64_t txn)
{
    struct retryable_write rw = active_rw(txn);
    memset(rw.session_id, b, sizeof rw.session_id);
    return rw;
}

/* The txnNum of session b's record, -1 when it has none. */
static int64_t txn_of(struct store *s, uint8_t b)
{
    struct store_txn *t = rtxn(s);
    struct retryable_write rw = session_rw(b, 0);
    struct cmd_request *r = req_new("{\"insert\": \"c\", \"documents\": [{}]}");
    bson_t reply = BSON_INITIALIZER;
    bool is_replayed = false;
    struct err e;
    int64_t txn = -1;

    err_init(&e);
    /* txnNumber 0 is older than any recorded one: TransactionTooOld names it. */
    rw.txn_number = 0;
    if (retryable_lookup(t, &rw, r, &reply, &is_replayed, &e) == -ERR_TRANSACTION_TOO_OLD) {
        const char *p = strstr(e.msg, "newer retryable write with txnNumber ");
        if (p)
            txn = strtoll(p + strlen("newer retryable write with txnNumber "), NULL, 10);
    } else if (is_replayed) {
        txn = 0;
    }
    store_txn_end(t);
    bson_destroy(&reply);
    req_free(r);
    err_clear(&e);
    return txn;
}

TEST(reaping_removes_only_records_whose_last_write_is_before_the_cutoff)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    bson_t *result = J("{\"n\": 1}");
    int64_t n_removed = -1;
    bool has_more = true;
    struct err e;

    err_init(&e);
    for (uint8_t b = 1; b <= 4; b++) {
        struct retryable_write rw = session_rw(b, 10 + b);
        /* sessions 1 and 2 last wrote at 1000 and 1999, 3 at 2000, 4 at 5000 */
        int64_t when = b == 1 ? 1000 : b == 2 ? 1999 : b == 3 ? 2000 : 5000;
        CHECK_EQ_INT(retryable_record(t, &rw, result, OPTIME_NULL, when, &e), 0);
    }
    CHECK_EQ_INT(commit(t), 0);

    t = wtxn(s);
    CHECK_EQ_INT(retryable_reap(t, 2000, 100, &n_removed, &has_more, &e), 0);
    CHECK_EQ_INT(n_removed, 2);
    CHECK(!has_more);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(txn_of(s, 1), -1);
    CHECK_EQ_INT(txn_of(s, 2), -1);
    CHECK_EQ_INT(txn_of(s, 3), 13);
    CHECK_EQ_INT(txn_of(s, 4), 14);

    /* Nothing left to expire at the same cutoff: a second reap is a no-op. */
    t = wtxn(s);
    CHECK_EQ_INT(retryable_reap(t, 2000, 100, &n_removed, &has_more, &e), 0);
    CHECK_EQ_INT(n_removed, 0);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
    bson_destroy(result);
    err_clear(&e);
}

TEST(an_expired_sessions_retry_runs_as_a_new_write)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct retryable_write rw = session_rw(7, 3);
    struct cmd_request *r = req_new("{\"insert\": \"c\", \"documents\": [{}]}");
    bson_t *result = J("{\"n\": 1}");
    bson_t reply = BSON_INITIALIZER;
    bool is_replayed = false, has_more;
    int64_t n_removed;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(retryable_record(t, &rw, result, OPTIME_NULL, 100, &e), 0);
    CHECK_EQ_INT(retryable_lookup(t, &rw, r, &reply, &is_replayed, &e), 0);
    CHECK(is_replayed);
    CHECK_EQ_INT(retryable_reap(t, 101, 10, &n_removed, &has_more, &e), 0);
    CHECK_EQ_INT(n_removed, 1);
    bson_reinit(&reply);
    CHECK_EQ_INT(retryable_lookup(t, &rw, r, &reply, &is_replayed, &e), 0);
    CHECK(!is_replayed);
    CHECK(bson_empty(&reply));
    /* An older txnNumber is no longer known to be too old either. */
    rw.txn_number = 1;
    CHECK_EQ_INT(retryable_lookup(t, &rw, r, &reply, &is_replayed, &e), 0);
    CHECK(!is_replayed);
    store_txn_end(t);
    store_close(s);
    bson_destroy(&reply);
    bson_destroy(result);
    req_free(r);
    err_clear(&e);
}

TEST(reaping_stops_at_the_batch_limit_and_says_more_remain)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    bson_t *result = J("{\"n\": 1}");
    int64_t n_removed = 0;
    bool has_more = false;
    struct err e;

    err_init(&e);
    for (uint8_t b = 1; b <= 5; b++) {
        struct retryable_write rw = session_rw(b, 1);
        CHECK_EQ_INT(retryable_record(t, &rw, result, OPTIME_NULL, 10, &e), 0);
    }
    CHECK_EQ_INT(retryable_reap(t, 50, 3, &n_removed, &has_more, &e), 0);
    CHECK_EQ_INT(n_removed, 3);
    CHECK(has_more);
    CHECK_EQ_INT(retryable_reap(t, 50, 3, &n_removed, &has_more, &e), 0);
    CHECK_EQ_INT(n_removed, 2);
    CHECK(!has_more);
    struct coll_info *c = find_coll(t, "config", "transactions");
    CHECK(c != NULL);
    if (c)
        CHECK_EQ_INT(n_docs(t, c), 0);
    coll_info_destroy(c);
    store_txn_end(t);
    store_close(s);
    bson_destroy(result);
    err_clear(&e);
}

TEST(reaping_without_a_transactions_collection_or_with_a_bad_batch_size)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    int64_t n_removed = -1;
    bool has_more = true;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(retryable_reap(t, INT64_MAX, 10, &n_removed, &has_more, &e), 0);
    CHECK_EQ_INT(n_removed, 0);
    CHECK(!has_more);
    CHECK(find_coll(t, "config", "transactions") == NULL);
    CHECK_EQ_INT(retryable_reap(t, 0, 0, &n_removed, &has_more, &e), -ERR_BAD_VALUE);
    store_txn_end(t);
    store_close(s);
    err_clear(&e);
}

TEST(a_record_without_a_last_write_date_cannot_be_dated_and_expires)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "config", "transactions", NULL);
    int64_t n_removed = 0;
    bool has_more;
    struct err e;

    err_init(&e);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"txnNum\": 1}", &e), 0);
        CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2, \"lastWriteDate\": \"yesterday\"}", &e), 0);
        CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 3, \"lastWriteDate\": {\"$date\": 900}}", &e), 0);
    }
    coll_info_destroy(c);
    CHECK_EQ_INT(retryable_reap(t, 500, 10, &n_removed, &has_more, &e), 0);
    CHECK_EQ_INT(n_removed, 2);
    c = find_coll(t, "config", "transactions");
    if (c)
        CHECK_EQ_INT(n_docs(t, c), 1);
    coll_info_destroy(c);
    store_txn_end(t);
    store_close(s);
    err_clear(&e);
}

int main(void)
{
    RUN(commands_without_txnNumber_are_not_retryable_writes);
    RUN(a_write_with_lsid_and_txnNumber_on_a_replica_set_member_is_retryable);
    RUN(a_standalone_refuses_transaction_numbers_as_mongod_does);
    RUN(malformed_session_fields_are_refused_with_mongods_codes);
    RUN(only_single_document_writes_may_carry_a_txnNumber);
    RUN(a_session_without_a_record_runs_and_creates_nothing_until_recorded);
    RUN(a_recorded_txnNumber_replays_its_result_and_an_older_one_is_too_old);
    RUN(the_record_has_the_session_uuid_as_id_and_a_newer_txnNumber_replaces_it);
    RUN(retriedStmtIds_leave_out_failed_statements_and_stop_at_an_ordered_failure);
    RUN(reaping_removes_only_records_whose_last_write_is_before_the_cutoff);
    RUN(an_expired_sessions_retry_runs_as_a_new_write);
    RUN(reaping_stops_at_the_batch_limit_and_says_more_remain);
    RUN(reaping_without_a_transactions_collection_or_with_a_bad_batch_size);
    RUN(a_record_without_a_last_write_date_cannot_be_dated_and_expires);
    return test_report();
}
