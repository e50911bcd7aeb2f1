/* test_exec.c - the shared executor, the cursor registry and the read
 * commands (find, getMore, killCursors, count, distinct, aggregate,
 * listCollections, listIndexes, listDatabases, collStats, dbStats), run
 * against a real store with hand-built command contexts. */
#include "cmd/cursor.h"
#include "cmd/exec.h"
#include "cmd/handlers.h"
#include "net/server.h"
#include "testhelp.h"

#include <bson/bson.h>

static struct store *st;
static struct server srv;

static void setup(void)
{
    struct store_options opt = {.is_nosync = true};
    struct err e;

    err_init(&e);
    memset(&srv, 0, sizeof srv);
    if (store_open(test_dir, &opt, &st, &e) < 0) {
        fprintf(stderr, "store_open: %s\n", e.msg);
        exit(2);
    }
    srv.store = st;
    srv.cursors = cursor_registry_create();
}

static void teardown(void)
{
    cursor_registry_destroy(srv.cursors);
    store_close(st);
}

static bson_t *json(const char *s)
{
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)s, -1, &be);

    if (!b) {
        fprintf(stderr, "bad json %s: %s\n", s, be.message);
        exit(2);
    }
    return b;
}

/* Inserts each document of the JSON array docs into db "test" coll (created when absent). */
static void insert_docs(const char *coll, const char *options, const char *docs)
{
    struct store_txn *t;
    struct coll_info *c = NULL;
    struct err e;
    bson_t *arr = json(docs);
    bson_iter_t it;

    err_init(&e);
    CHECK(store_txn_begin_write(st, &t, &e) == 0);
    CHECK(store_coll_find(t, "test", coll, &c, &e) == 0);
    if (!c) {
        bson_t *opts = json(options ? options : "{}");
        CHECK(store_coll_create(t, "test", coll, opts, &c, &e) == 0);
        bson_destroy(opts);
    }
    bson_iter_init(&it, arr);
    while (bson_iter_next(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_t doc;
        bson_iter_document(&it, &len, &data);
        bson_init_static(&doc, data, len);
        if (store_doc_insert(t, c, &doc, &e) != 0)
            fprintf(stderr, "insert: %s\n", e.msg);
    }
    coll_info_destroy(c);
    CHECK(store_txn_commit(t, &e) == 0);
    bson_destroy(arr);
}

static void create_index(const char *coll, const char *spec)
{
    struct store_txn *t;
    struct coll_info *c = NULL;
    struct err e;
    bson_t *s = json(spec);
    bool is_created = false;

    err_init(&e);
    CHECK(store_txn_begin_write(st, &t, &e) == 0);
    CHECK(store_coll_find(t, "test", coll, &c, &e) == 0);
    CHECK(c != NULL);
    if (c)
        CHECK(store_index_create(t, c, s, &is_created, &e) == 0);
    CHECK(is_created);
    coll_info_destroy(c);
    CHECK(store_txn_commit(t, &e) == 0);
    bson_destroy(s);
}

/* Runs handler on body (in db "test"), returns its code; *reply gets the
 * handler's fields, or the error reply. */
static int run_on(const char *db, cmd_handler_cb handler, const bson_t *body, bson_t *reply, bool is_await_expired)
{
    struct cmd_request req;
    struct cmd_ctx ctx;
    bson_iter_t it;
    int rc;

    memset(&req, 0, sizeof req);
    memset(&ctx, 0, sizeof ctx);
    bson_init(&req.body);
    bson_concat(&req.body, body);
    bson_iter_init(&it, &req.body);
    bson_iter_next(&it);
    req.name = bson_iter_key(&it);
    req.db = db;
    ctx.srv = &srv;
    ctx.req = &req;
    ctx.now_ms = 1000000;
    ctx.is_await_expired = is_await_expired;
    err_init(&ctx.err);
    bson_init(&ctx.reply);
    if (store_txn_begin_read(st, &ctx.txn, &ctx.err) < 0) {
        fprintf(stderr, "begin read: %s\n", ctx.err.msg);
        exit(2);
    }
    rc = handler(&ctx);
    store_txn_end(ctx.txn);
    bson_init(reply);
    if (rc < 0)
        err_append_reply(&ctx.err, reply);
    else
        bson_concat(reply, &ctx.reply);
    bson_destroy(&ctx.reply);
    err_clear(&ctx.err);
    bson_destroy(&req.body);
    return rc;
}

static int run(cmd_handler_cb handler, const char *body_json, bson_t *reply)
{
    bson_t *body = json(body_json);
    int rc = run_on("test", handler, body, reply, false);

    bson_destroy(body);
    return rc;
}

static int64_t get_int(const bson_t *b, const char *path)
{
    bson_iter_t it, d;

    if (bson_iter_init(&it, b) && bson_iter_find_descendant(&it, path, &d) && BSON_ITER_HOLDS_NUMBER(&d))
        return bson_iter_as_int64(&d);
    return -999;
}

static const char *get_str(const bson_t *b, const char *path)
{
    bson_iter_t it, d;

    if (bson_iter_init(&it, b) && bson_iter_find_descendant(&it, path, &d) && BSON_ITER_HOLDS_UTF8(&d))
        return bson_iter_utf8(&d, NULL);
    return "";
}

static bool is_type(const bson_t *b, const char *path, bson_type_t t)
{
    bson_iter_t it, d;

    return bson_iter_init(&it, b) && bson_iter_find_descendant(&it, path, &d) && bson_iter_type(&d) == t;
}

/* Number of documents in cursor.firstBatch / cursor.nextBatch. */
static int batch_len(const bson_t *reply)
{
    bson_iter_t it, d, a;
    const char *path = is_type(reply, "cursor.firstBatch", BSON_TYPE_ARRAY) ? "cursor.firstBatch" : "cursor.nextBatch";
    int n = 0;

    if (!bson_iter_init(&it, reply) || !bson_iter_find_descendant(&it, path, &d) || !bson_iter_recurse(&d, &a))
        return -1;
    while (bson_iter_next(&a))
        n++;
    return n;
}

static int get_more(int64_t id, const char *coll, int64_t batch_size, bson_t *reply, bool is_await_expired)
{
    bson_t body;
    int rc;

    bson_init(&body);
    BSON_APPEND_INT64(&body, "getMore", id);
    BSON_APPEND_UTF8(&body, "collection", coll);
    if (batch_size > 0)
        BSON_APPEND_INT64(&body, "batchSize", batch_size);
    rc = run_on("test", cmd_get_more, &body, reply, is_await_expired);
    bson_destroy(&body);
    return rc;
}

static void seed_people(void)
{
    insert_docs("people", NULL,
                "[{\"_id\": 1, \"name\": \"ann\", \"age\": 30, \"tags\": [\"a\", \"b\"]},"
                " {\"_id\": 2, \"name\": \"bob\", \"age\": 25, \"tags\": [\"b\"]},"
                " {\"_id\": 3, \"name\": \"cid\", \"age\": 35, \"tags\": []},"
                " {\"_id\": 4, \"name\": \"dee\", \"age\": 25},"
                " {\"_id\": 5, \"name\": \"eve\", \"age\": 40, \"tags\": [\"c\", \"a\"]}]");
}

/* --- executor --- */

static int scan_ids(const char *filter, bool is_reverse, int *ids, int max, char *summary, size_t cap)
{
    struct store_txn *t;
    struct coll_info *c = NULL;
    struct matcher *m = NULL;
    struct exec_scan *s = NULL;
    struct err e;
    bson_t *f = json(filter), doc;
    bson_iter_t it;
    int n = 0;

    err_init(&e);
    store_txn_begin_read(st, &t, &e);
    store_coll_find(t, "test", "people", &c, &e);
    CHECK(matcher_create(f, &m, &e) == 0);
    CHECK(exec_scan_open(t, c, m, is_reverse, NULL, &s, &e) == 0);
    while (exec_scan_next(s, &doc, NULL, &e) == 1)
        if (n < max && bson_iter_init_find(&it, &doc, "_id"))
            ids[n++] = (int)bson_iter_as_int64(&it);
    if (summary)
        snprintf(summary, cap, "%s", exec_scan_summary(s));
    exec_scan_close(s);
    matcher_destroy(m);
    coll_info_destroy(c);
    store_txn_end(t);
    bson_destroy(f);
    return n;
}

TEST(a_collection_scan_returns_matching_documents_in_id_order)
{
    int ids[10];
    char summary[64];

    setup();
    seed_people();
    CHECK_EQ_INT(scan_ids("{\"age\": 25}", false, ids, 10, summary, sizeof summary), 2);
    CHECK_EQ_INT(ids[0], 2);
    CHECK_EQ_INT(ids[1], 4);
    CHECK_EQ_STR(summary, "COLLSCAN");
    CHECK_EQ_INT(scan_ids("{}", true, ids, 10, NULL, 0), 5);
    CHECK_EQ_INT(ids[0], 5);
    CHECK_EQ_INT(ids[4], 1);
    teardown();
}

TEST(an_id_equality_filter_is_a_point_lookup)
{
    int ids[10];
    char summary[64];

    setup();
    seed_people();
    CHECK_EQ_INT(scan_ids("{\"_id\": 3}", false, ids, 10, summary, sizeof summary), 1);
    CHECK_EQ_INT(ids[0], 3);
    CHECK_EQ_STR(summary, "IDHACK");
    CHECK_EQ_INT(scan_ids("{\"_id\": 9}", false, ids, 10, NULL, 0), 0);
    teardown();
}

TEST(an_indexed_filter_uses_the_index_and_dedupes_multikey_entries)
{
    int ids[10];
    char summary[64];

    setup();
    seed_people();
    create_index("people", "{\"key\": {\"tags\": 1}, \"name\": \"tags_1\"}");
    CHECK_EQ_INT(scan_ids("{\"tags\": {\"$in\": [\"a\", \"b\", \"c\"]}}", false, ids, 10, summary, sizeof summary),
                 3);
    CHECK(strncmp(summary, "IXSCAN", 6) == 0);
    create_index("people", "{\"key\": {\"age\": 1}, \"name\": \"age_1\"}");
    CHECK_EQ_INT(scan_ids("{\"age\": {\"$gte\": 30}}", false, ids, 10, summary, sizeof summary), 3);
    CHECK(strstr(summary, "age") != NULL);
    CHECK_EQ_INT(ids[0], 1);
    CHECK_EQ_INT(ids[2], 5);
    teardown();
}

TEST(a_scan_resumes_after_its_position_in_a_new_transaction)
{
    struct store_txn *t;
    struct coll_info *c = NULL;
    struct matcher *m = NULL;
    struct exec_scan *s = NULL;
    struct keybuf pos;
    struct err e;
    bson_t *f, doc;
    bson_iter_t it;
    int n = 0, last = 0;

    setup();
    seed_people();
    err_init(&e);
    keybuf_init(&pos);
    f = json("{\"age\": {\"$gt\": 20}}");
    CHECK(matcher_create(f, &m, &e) == 0);
    store_txn_begin_read(st, &t, &e);
    store_coll_find(t, "test", "people", &c, &e);
    CHECK(exec_scan_open(t, c, m, false, NULL, &s, &e) == 0);
    CHECK(exec_scan_next(s, &doc, NULL, &e) == 1);
    CHECK(exec_scan_next(s, &doc, NULL, &e) == 1);
    keybuf_append(&pos, exec_scan_position(s)->data, exec_scan_position(s)->len);
    exec_scan_close(s);
    coll_info_destroy(c);
    store_txn_end(t);

    store_txn_begin_read(st, &t, &e);
    store_coll_find(t, "test", "people", &c, &e);
    CHECK(exec_scan_open(t, c, m, false, &pos, &s, &e) == 0);
    while (exec_scan_next(s, &doc, NULL, &e) == 1) {
        n++;
        if (bson_iter_init_find(&it, &doc, "_id"))
            last = bson_iter_int32(&it);
        if (n == 1)
            CHECK_EQ_INT(last, 3);
    }
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(last, 5);
    CHECK(exec_scan_n_examined(s) >= 3);
    exec_scan_close(s);
    coll_info_destroy(c);
    store_txn_end(t);
    matcher_destroy(m);
    keybuf_destroy(&pos);
    bson_destroy(f);
    teardown();
}

/* --- find / getMore / killCursors --- */

TEST(find_returns_everything_in_one_batch_with_cursor_id_zero)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"filter\": {\"age\": {\"$lt\": 31}}}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 3);
    CHECK(is_type(&r, "cursor.id", BSON_TYPE_INT64));
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    CHECK_EQ_STR(get_str(&r, "cursor.ns"), "test.people");
    bson_destroy(&r);
    teardown();
}

TEST(find_on_a_missing_collection_returns_an_empty_exhausted_cursor)
{
    bson_t r;

    setup();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"nothing\", \"filter\": {}}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 0);
    CHECK(is_type(&r, "cursor.id", BSON_TYPE_INT64));
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    CHECK_EQ_STR(get_str(&r, "cursor.ns"), "test.nothing");
    bson_destroy(&r);
    teardown();
}

TEST(find_applies_sort_skip_limit_and_projection)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find,
                     "{\"find\": \"people\", \"sort\": {\"age\": -1, \"_id\": 1}, \"skip\": 1, \"limit\": 3,"
                     " \"projection\": {\"name\": 1, \"_id\": 0}}",
                     &r),
                 0);
    CHECK_EQ_INT(batch_len(&r), 3);
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.0.name"), "cid");
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.1.name"), "ann");
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.2.name"), "bob");
    CHECK(!is_type(&r, "cursor.firstBatch.0._id", BSON_TYPE_INT32));
    CHECK(!is_type(&r, "cursor.firstBatch.0.age", BSON_TYPE_INT32));
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    teardown();
}

TEST(find_with_natural_minus_one_returns_reverse_order)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"sort\": {\"$natural\": -1}, \"limit\": 2}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    CHECK_EQ_INT(get_int(&r, "cursor.firstBatch.0._id"), 5);
    CHECK_EQ_INT(get_int(&r, "cursor.firstBatch.1._id"), 4);
    bson_destroy(&r);
    teardown();
}

TEST(find_batches_continue_through_get_more_until_exhausted)
{
    bson_t r;
    int64_t id;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"batchSize\": 2}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    id = get_int(&r, "cursor.id");
    CHECK(id > 0);
    bson_destroy(&r);
    CHECK_EQ_INT(cursor_registry_count(srv.cursors), 1);
    CHECK_EQ_INT(get_more(id, "people", 2, &r, false), 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    CHECK_EQ_INT(get_int(&r, "cursor.nextBatch.0._id"), 3);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), id);
    CHECK_EQ_STR(get_str(&r, "cursor.ns"), "test.people");
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(id, "people", 0, &r, false), 0);
    CHECK_EQ_INT(batch_len(&r), 1);
    CHECK_EQ_INT(get_int(&r, "cursor.nextBatch.0._id"), 5);
    CHECK(is_type(&r, "cursor.id", BSON_TYPE_INT64));
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    CHECK_EQ_INT(cursor_registry_count(srv.cursors), 0);
    CHECK_EQ_INT(get_more(id, "people", 0, &r, false), -ERR_CURSOR_NOT_FOUND);
    bson_destroy(&r);
    teardown();
}

TEST(a_batch_ending_exactly_at_the_last_document_closes_the_cursor)
{
    bson_t r;
    int64_t id;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"batchSize\": 5}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 5);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"batchSize\": 3}", &r), 0);
    id = get_int(&r, "cursor.id");
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(id, "people", 2, &r, false), 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    teardown();
}

TEST(a_multikey_index_scan_never_repeats_a_document_across_get_mores)
{
    bson_t r;
    int64_t id;
    int seen[8] = {0}, n = 0;

    setup();
    seed_people();
    create_index("people", "{\"key\": {\"tags\": 1}, \"name\": \"tags_1\"}");
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"filter\": {\"tags\": {\"$in\": [\"a\", \"b\", \"c\"]}},"
                     " \"batchSize\": 1}", &r), 0);
    id = get_int(&r, "cursor.id");
    if (batch_len(&r) == 1) {
        seen[get_int(&r, "cursor.firstBatch.0._id") & 7]++;
        n++;
    }
    bson_destroy(&r);
    while (id > 0 && n < 10) {
        CHECK_EQ_INT(get_more(id, "people", 1, &r, false), 0);
        if (batch_len(&r) == 1) {
            seen[get_int(&r, "cursor.nextBatch.0._id") & 7]++;
            n++;
        }
        id = get_int(&r, "cursor.id");
        bson_destroy(&r);
    }
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(seen[1], 1);
    CHECK_EQ_INT(seen[2], 1);
    CHECK_EQ_INT(seen[5], 1);
    teardown();
}

TEST(a_sorted_find_buffers_its_results_across_get_mores)
{
    bson_t r;
    int64_t id;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"sort\": {\"name\": -1}, \"batchSize\": 3}", &r), 0);
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.0.name"), "eve");
    id = get_int(&r, "cursor.id");
    CHECK(id > 0);
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(id, "people", 0, &r, false), 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    CHECK_EQ_STR(get_str(&r, "cursor.nextBatch.1.name"), "ann");
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    teardown();
}

TEST(limit_and_negative_limit_bound_the_results)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"limit\": 2, \"batchSize\": 1}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 1);
    {
        int64_t id = get_int(&r, "cursor.id");
        bson_destroy(&r);
        CHECK(id > 0);
        CHECK_EQ_INT(get_more(id, "people", 0, &r, false), 0);
        CHECK_EQ_INT(batch_len(&r), 1);
        CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    }
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"limit\": -3}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 3);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"limit\": 1, \"singleBatch\": true}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 1);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    teardown();
}

TEST(batch_size_zero_opens_a_cursor_without_documents)
{
    bson_t r;
    int64_t id;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"batchSize\": 0}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 0);
    id = get_int(&r, "cursor.id");
    CHECK(id > 0);
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(id, "people", 0, &r, false), 0);
    CHECK_EQ_INT(batch_len(&r), 5);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    teardown();
}

TEST(find_rejects_bad_options_with_mongod_errors)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"filter\": \"x\"}", &r), -ERR_TYPE_MISMATCH);
    CHECK(strstr(get_str(&r, "errmsg"), "find.filter") != NULL);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"bogus\": 1}", &r), -ERR_UNKNOWN_FIELD);
    CHECK_EQ_STR(get_str(&r, "errmsg"), "BSON field 'find.bogus' is an unknown field.");
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"skip\": -1}", &r), -ERR_NEGATIVE_VALUE);
    CHECK_EQ_STR(get_str(&r, "errmsg"), "BSON field 'skip' value must be >= 0, actual value '-1'");
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"batchSize\": -1}", &r), -ERR_NEGATIVE_VALUE);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"hint\": \"nope_1\"}", &r), -ERR_BAD_VALUE);
    CHECK_EQ_STR(get_str(&r, "errmsg"), "hint provided does not correspond to an existing index");
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"hint\": {\"_id\": 1}}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 5);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"hint\": \"_id_\"}", &r), 0);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"collation\": {\"locale\": \"fr\"}}", &r),
                 -ERR_NOT_IMPLEMENTED);
    CHECK_EQ_STR(get_str(&r, "errmsg"), "collation is not supported by this server yet");
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"tailable\": true}", &r), -ERR_BAD_VALUE);
    CHECK(strstr(get_str(&r, "errmsg"), "tailable cursor requested on non capped collection") != NULL);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"filter\": {\"a\": {\"$bogus\": 1}}}", &r), -ERR_BAD_VALUE);
    bson_destroy(&r);
    teardown();
}

TEST(get_more_checks_the_collection_and_kill_cursors_reports_each_id)
{
    bson_t r, body, ids;
    int64_t id;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"batchSize\": 1}", &r), 0);
    id = get_int(&r, "cursor.id");
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(id, "other", 0, &r, false), -ERR_UNAUTHORIZED);
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(12345, "people", 0, &r, false), -ERR_CURSOR_NOT_FOUND);
    CHECK_EQ_STR(get_str(&r, "errmsg"), "cursor id 12345 not found");
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_get_more, "{\"getMore\": 5, \"collection\": \"people\"}", &r), -ERR_TYPE_MISMATCH);
    bson_destroy(&r);

    bson_init(&body);
    BSON_APPEND_UTF8(&body, "killCursors", "people");
    bson_append_array_begin(&body, "cursors", -1, &ids);
    BSON_APPEND_INT64(&ids, "0", id);
    BSON_APPEND_INT64(&ids, "1", 777);
    bson_append_array_end(&body, &ids);
    CHECK_EQ_INT(run_on("test", cmd_kill_cursors, &body, &r, false), 0);
    CHECK_EQ_INT(get_int(&r, "cursorsKilled.0"), id);
    CHECK_EQ_INT(get_int(&r, "cursorsNotFound.0"), 777);
    CHECK(is_type(&r, "cursorsAlive", BSON_TYPE_ARRAY));
    CHECK(is_type(&r, "cursorsUnknown", BSON_TYPE_ARRAY));
    bson_destroy(&r);
    bson_destroy(&body);
    CHECK_EQ_INT(get_more(id, "people", 0, &r, false), -ERR_CURSOR_NOT_FOUND);
    bson_destroy(&r);
    teardown();
}

TEST(a_tailable_cursor_on_a_capped_collection_sees_new_documents)
{
    bson_t r;
    int64_t id;

    setup();
    insert_docs("log", "{\"capped\": true, \"size\": 100000}", "[{\"_id\": 1, \"m\": \"a\"}, {\"_id\": 2, \"m\": \"b\"}]");
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"log\", \"tailable\": true, \"awaitData\": true}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    id = get_int(&r, "cursor.id");
    CHECK(id > 0);
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(id, "log", 0, &r, false), CMD_PARK);
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(id, "log", 0, &r, true), 0);
    CHECK_EQ_INT(batch_len(&r), 0);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), id);
    bson_destroy(&r);
    insert_docs("log", NULL, "[{\"_id\": 3, \"m\": \"c\"}]");
    CHECK_EQ_INT(get_more(id, "log", 0, &r, false), 0);
    CHECK_EQ_INT(batch_len(&r), 1);
    CHECK_EQ_INT(get_int(&r, "cursor.nextBatch.0._id"), 3);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), id);
    bson_destroy(&r);
    teardown();
}

TEST(idle_cursors_are_reaped_after_ten_minutes)
{
    bson_t r;
    int64_t id;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"people\", \"batchSize\": 1}", &r), 0);
    id = get_int(&r, "cursor.id");
    bson_destroy(&r);
    cursor_registry_reap(srv.cursors, 1000000 + 60000);
    CHECK_EQ_INT(cursor_registry_count(srv.cursors), 1);
    cursor_registry_reap(srv.cursors, 1000000 + CURSOR_IDLE_TIMEOUT_MS + 1);
    CHECK_EQ_INT(cursor_registry_count(srv.cursors), 0);
    CHECK_EQ_INT(get_more(id, "people", 0, &r, false), -ERR_CURSOR_NOT_FOUND);
    bson_destroy(&r);
    teardown();
}

TEST(a_checked_out_cursor_cannot_be_used_twice_and_dies_at_checkin_when_killed)
{
    struct cursor *c = cursor_create("test", "x", "test.x"), *got = NULL, *again = NULL;
    struct err e;
    int64_t id;

    setup();
    err_init(&e);
    id = cursor_registry_add(srv.cursors, c, 0);
    CHECK(id > 0);
    CHECK_EQ_INT(cursor_registry_checkout(srv.cursors, id, 0, &got, &e), 0);
    CHECK(got == c);
    CHECK(cursor_registry_checkout(srv.cursors, id, 0, &again, &e) < 0);
    CHECK_EQ_INT(cursor_registry_kill(srv.cursors, id), 1);
    CHECK_EQ_INT(cursor_registry_count(srv.cursors), 1);
    cursor_registry_checkin(srv.cursors, got, 0);
    CHECK_EQ_INT(cursor_registry_count(srv.cursors), 0);
    CHECK_EQ_INT(cursor_registry_kill(srv.cursors, id), 0);
    teardown();
}

/* --- count / distinct --- */

TEST(count_uses_query_skip_and_limit)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"people\"}", &r), 0);
    CHECK_EQ_INT(get_int(&r, "n"), 5);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"people\", \"query\": {\"age\": 25}}", &r), 0);
    CHECK_EQ_INT(get_int(&r, "n"), 2);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"people\", \"skip\": 1, \"limit\": 3}", &r), 0);
    CHECK_EQ_INT(get_int(&r, "n"), 3);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"people\", \"skip\": 10}", &r), 0);
    CHECK_EQ_INT(get_int(&r, "n"), 0);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"missing\"}", &r), 0);
    CHECK_EQ_INT(get_int(&r, "n"), 0);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"people\", \"query\": 3}", &r), -ERR_TYPE_MISMATCH);
    bson_destroy(&r);
    teardown();
}

TEST(distinct_returns_sorted_unique_values_expanding_arrays)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_distinct, "{\"distinct\": \"people\", \"key\": \"tags\"}", &r), 0);
    CHECK_EQ_STR(get_str(&r, "values.0"), "a");
    CHECK_EQ_STR(get_str(&r, "values.1"), "b");
    CHECK_EQ_STR(get_str(&r, "values.2"), "c");
    CHECK(!is_type(&r, "values.3", BSON_TYPE_UTF8));
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_distinct, "{\"distinct\": \"people\", \"key\": \"age\", \"query\": {\"age\": {\"$lt\": 36}}}",
                     &r),
                 0);
    CHECK_EQ_INT(get_int(&r, "values.0"), 25);
    CHECK_EQ_INT(get_int(&r, "values.1"), 30);
    CHECK_EQ_INT(get_int(&r, "values.2"), 35);
    CHECK_EQ_INT(get_int(&r, "values.3"), -999);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_distinct, "{\"distinct\": \"people\"}", &r), -ERR_MISSING_FIELD);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_distinct, "{\"distinct\": \"missing\", \"key\": \"a\"}", &r), 0);
    CHECK(is_type(&r, "values", BSON_TYPE_ARRAY));
    bson_destroy(&r);
    teardown();
}

/* --- aggregate --- */

TEST(aggregate_runs_the_count_documents_pipeline_with_cursor_id_zero)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_aggregate,
                     "{\"aggregate\": \"people\", \"pipeline\": [{\"$match\": {\"age\": {\"$gte\": 30}}},"
                     " {\"$skip\": 1}, {\"$limit\": 5}, {\"$group\": {\"_id\": 1, \"n\": {\"$sum\": 1}}}],"
                     " \"cursor\": {}}",
                     &r),
                 0);
    CHECK_EQ_INT(batch_len(&r), 1);
    CHECK_EQ_INT(get_int(&r, "cursor.firstBatch.0.n"), 2);
    CHECK(is_type(&r, "cursor.id", BSON_TYPE_INT64));
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_aggregate, "{\"aggregate\": \"missing\", \"pipeline\": [{\"$match\": {}}], \"cursor\": {}}",
                     &r),
                 0);
    CHECK_EQ_INT(batch_len(&r), 0);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    teardown();
}

TEST(aggregate_results_beyond_the_first_batch_come_through_get_more)
{
    bson_t r;
    int64_t id;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_aggregate,
                     "{\"aggregate\": \"people\", \"pipeline\": [{\"$sort\": {\"age\": 1, \"_id\": 1}}],"
                     " \"cursor\": {\"batchSize\": 2}}",
                     &r),
                 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    id = get_int(&r, "cursor.id");
    CHECK(id > 0);
    bson_destroy(&r);
    CHECK_EQ_INT(get_more(id, "people", 0, &r, false), 0);
    CHECK_EQ_INT(batch_len(&r), 3);
    CHECK_EQ_INT(get_int(&r, "cursor.nextBatch.2._id"), 5);
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    teardown();
}

TEST(aggregate_rejects_a_missing_cursor_and_database_level_stages)
{
    bson_t r;

    setup();
    CHECK_EQ_INT(run(cmd_aggregate, "{\"aggregate\": \"people\", \"pipeline\": []}", &r), -ERR_FAILED_TO_PARSE);
    CHECK_EQ_STR(get_str(&r, "errmsg"),
                 "The 'cursor' option is required, except for aggregate with the explain argument");
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_aggregate, "{\"aggregate\": 1, \"pipeline\": [{\"$currentOp\": {}}], \"cursor\": {}}", &r),
                 -ERR_NOT_IMPLEMENTED);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_aggregate, "{\"aggregate\": \"people\", \"pipeline\": {}, \"cursor\": {}}", &r),
                 -ERR_TYPE_MISMATCH);
    bson_destroy(&r);
    teardown();
}

/* --- listings and stats --- */

TEST(list_collections_describes_each_collection)
{
    bson_t r;

    setup();
    seed_people();
    insert_docs("log", "{\"capped\": true, \"size\": 4096}", "[{\"_id\": 1}]");
    CHECK_EQ_INT(run(cmd_list_collections, "{\"listCollections\": 1, \"cursor\": {}}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    CHECK_EQ_STR(get_str(&r, "cursor.ns"), "test.$cmd.listCollections");
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.0.name"), "log");
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.0.type"), "collection");
    CHECK(is_type(&r, "cursor.firstBatch.0.options.capped", BSON_TYPE_BOOL));
    CHECK(is_type(&r, "cursor.firstBatch.1.info.uuid", BSON_TYPE_BINARY));
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.1.idIndex.name"), "_id_");
    CHECK_EQ_INT(get_int(&r, "cursor.id"), 0);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_list_collections,
                     "{\"listCollections\": 1, \"filter\": {\"name\": \"people\"}, \"nameOnly\": true}", &r),
                 0);
    CHECK_EQ_INT(batch_len(&r), 1);
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.0.name"), "people");
    CHECK(!is_type(&r, "cursor.firstBatch.0.options", BSON_TYPE_DOCUMENT));
    bson_destroy(&r);
    teardown();
}

TEST(list_indexes_returns_specs_or_namespace_not_found)
{
    bson_t r;

    setup();
    seed_people();
    create_index("people", "{\"key\": {\"age\": 1}, \"name\": \"age_1\"}");
    CHECK_EQ_INT(run(cmd_list_indexes, "{\"listIndexes\": \"people\", \"cursor\": {}}", &r), 0);
    CHECK_EQ_INT(batch_len(&r), 2);
    CHECK_EQ_STR(get_str(&r, "cursor.ns"), "test.$cmd.listIndexes.people");
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.0.name"), "_id_");
    CHECK_EQ_STR(get_str(&r, "cursor.firstBatch.1.name"), "age_1");
    CHECK_EQ_INT(get_int(&r, "cursor.firstBatch.1.key.age"), 1);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_list_indexes, "{\"listIndexes\": \"nope\", \"cursor\": {}}", &r), -ERR_NAMESPACE_NOT_FOUND);
    CHECK_EQ_STR(get_str(&r, "errmsg"), "ns does not exist: test.nope");
    bson_destroy(&r);
    teardown();
}

TEST(list_databases_derives_databases_from_collections)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_list_databases, "{\"listDatabases\": 1}", &r), 0);
    CHECK_EQ_STR(get_str(&r, "databases.0.name"), "test");
    CHECK(is_type(&r, "databases.0.empty", BSON_TYPE_BOOL));
    CHECK(is_type(&r, "totalSize", BSON_TYPE_INT64));
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_list_databases, "{\"listDatabases\": 1, \"filter\": {\"name\": \"zzz\"}}", &r), 0);
    CHECK(!is_type(&r, "databases.0", BSON_TYPE_DOCUMENT));
    bson_destroy(&r);
    teardown();
}

TEST(coll_stats_and_db_stats_report_counts)
{
    bson_t r;

    setup();
    seed_people();
    CHECK_EQ_INT(run(cmd_coll_stats, "{\"collStats\": \"people\"}", &r), 0);
    CHECK_EQ_STR(get_str(&r, "ns"), "test.people");
    CHECK_EQ_INT(get_int(&r, "count"), 5);
    CHECK_EQ_INT(get_int(&r, "nindexes"), 1);
    CHECK(get_int(&r, "size") > 0);
    CHECK(is_type(&r, "indexSizes._id_", BSON_TYPE_INT32) || is_type(&r, "indexSizes._id_", BSON_TYPE_INT64));
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_coll_stats, "{\"collStats\": \"nope\"}", &r), -ERR_NAMESPACE_NOT_FOUND);
    CHECK_EQ_STR(get_str(&r, "errmsg"), "Collection [test.nope] not found.");
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_db_stats, "{\"dbStats\": 1}", &r), 0);
    CHECK_EQ_STR(get_str(&r, "db"), "test");
    CHECK_EQ_INT(get_int(&r, "collections"), 1);
    CHECK_EQ_INT(get_int(&r, "objects"), 5);
    CHECK_EQ_INT(get_int(&r, "indexes"), 1);
    bson_destroy(&r);
    CHECK_EQ_INT(run(cmd_db_stats, "{\"dbStats\": 1, \"scale\": 0}", &r), -ERR_BAD_VALUE);
    bson_destroy(&r);
    teardown();
}

int main(void)
{
    RUN(a_collection_scan_returns_matching_documents_in_id_order);
    RUN(an_id_equality_filter_is_a_point_lookup);
    RUN(an_indexed_filter_uses_the_index_and_dedupes_multikey_entries);
    RUN(a_scan_resumes_after_its_position_in_a_new_transaction);
    RUN(find_returns_everything_in_one_batch_with_cursor_id_zero);
    RUN(find_on_a_missing_collection_returns_an_empty_exhausted_cursor);
    RUN(find_applies_sort_skip_limit_and_projection);
    RUN(find_with_natural_minus_one_returns_reverse_order);
    RUN(find_batches_continue_through_get_more_until_exhausted);
    RUN(a_batch_ending_exactly_at_the_last_document_closes_the_cursor);
    RUN(a_multikey_index_scan_never_repeats_a_document_across_get_mores);
    RUN(a_sorted_find_buffers_its_results_across_get_mores);
    RUN(limit_and_negative_limit_bound_the_results);
    RUN(batch_size_zero_opens_a_cursor_without_documents);
    RUN(find_rejects_bad_options_with_mongod_errors);
    RUN(get_more_checks_the_collection_and_kill_cursors_reports_each_id);
    RUN(a_tailable_cursor_on_a_capped_collection_sees_new_documents);
    RUN(idle_cursors_are_reaped_after_ten_minutes);
    RUN(a_checked_out_cursor_cannot_be_used_twice_and_dies_at_checkin_when_killed);
    RUN(count_uses_query_skip_and_limit);
    RUN(distinct_returns_sorted_unique_values_expanding_arrays);
    RUN(aggregate_runs_the_count_documents_pipeline_with_cursor_id_zero);
    RUN(aggregate_results_beyond_the_first_batch_come_through_get_more);
    RUN(aggregate_rejects_a_missing_cursor_and_database_level_stages);
    RUN(list_collections_describes_each_collection);
    RUN(list_indexes_returns_specs_or_namespace_not_found);
    RUN(list_databases_derives_databases_from_collections);
    RUN(coll_stats_and_db_stats_report_counts);
    return test_report();
}
