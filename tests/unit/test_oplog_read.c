/* test_oplog_read.c - reads of local.oplog.rs and local.system.replset
 * through the command handlers (find, getMore, count, aggregate,
 * listCollections, collStats) over a real store with a real cursor registry. */
#include "cmd/cursor.h"
#include "cmd/handlers.h"
#include "cmd/oplog_read.h"
#include "net/server.h"
#include "repl/oplog_entry.h"
#include "storage/oplog.h"
#include "testhelp.h"

#define TS(secs, inc) ((uint64_t)(secs) << 32 | (uint32_t)(inc))

static struct store *st;
static struct server srv;
static bson_t last_reply;
static struct err last_err;
static bool last_await_expired;

static void setup(void)
{
    struct store_options opt = {0, true};
    struct err e;

    err_init(&e);
    if (store_open(test_dir, &opt, &st, &e) < 0) {
        fprintf(stderr, "store: %s\n", e.msg);
        exit(2);
    }
    memset(&srv, 0, sizeof srv);
    srv.store = st;
    srv.cursors = cursor_registry_create();
    bson_init(&last_reply);
    err_init(&last_err);
    last_await_expired = false;
}

static void teardown(void)
{
    cursor_registry_destroy(srv.cursors);
    store_close(st);
    bson_destroy(&last_reply);
    err_clear(&last_err);
}

/* Appends a no-op or insert entry at Timestamp(secs, 1) in term t. */
static void append_entry(uint32_t secs, int64_t term, bool is_insert)
{
    struct oplog_stamp stamp = {{TS(secs, 1), term}, 1700000000000LL + secs, NULL, 0, 0};
    struct store_txn *t = NULL;
    bson_t entry, msg, doc;
    struct err e;

    err_init(&e);
    bson_init(&entry);
    bson_init(&msg);
    bson_init(&doc);
    if (is_insert) {
        BSON_APPEND_INT32(&doc, "_id", (int32_t)secs);
        oplog_entry_insert(&entry, &stamp, "db.c", NULL, &doc);
    } else {
        BSON_APPEND_UTF8(&msg, "msg", "periodic noop");
        oplog_entry_noop(&entry, &stamp, &msg);
    }
    if (store_txn_begin_write(st, &t, &e) < 0 || oplog_append(t, &entry, &e) < 0 || store_txn_commit(t, &e) < 0)
        fprintf(stderr, "  append: %s\n", e.msg);
    bson_destroy(&entry);
    bson_destroy(&msg);
    bson_destroy(&doc);
}

/* Entries at seconds 1..n, alternating inserts (odd) and no-ops (even). */
static void fill(int n)
{
    for (int i = 1; i <= n; i++)
        append_entry((uint32_t)i, 1, i % 2 == 1);
}

static void put_config(void)
{
    struct store_txn *t = NULL;
    bson_error_t error;
    bson_t *cfg = bson_new_from_json((const uint8_t *)"{\"_id\": \"rs0\", \"version\": 1, \"members\": [{\"_id\": 0, "
                                                      "\"host\": \"localhost:27017\"}]}",
                                     -1, &error);
    struct err e;

    err_init(&e);
    if (store_txn_begin_write(st, &t, &e) < 0 || oplog_put_config(t, cfg, &e) < 0 || store_txn_commit(t, &e) < 0)
        fprintf(stderr, "  config: %s\n", e.msg);
    bson_destroy(cfg);
}

/* Runs one command in database "local" (unless $db says otherwise) in a
 * fresh read transaction; keeps the reply and error. */
static int run(cmd_handler_cb handler, const char *body_json)
{
    bson_error_t error;
    bson_t *body = bson_new_from_json((const uint8_t *)body_json, -1, &error);
    struct cmd_request req;
    struct cmd_ctx ctx;
    struct store_txn *t = NULL;
    bson_iter_t it;
    int rc;

    if (body == NULL) {
        fprintf(stderr, "bad json %s: %s\n", body_json, error.message);
        exit(2);
    }
    memset(&req, 0, sizeof req);
    bson_init(&req.body);
    bson_concat(&req.body, body);
    bson_destroy(body);
    bson_iter_init(&it, &req.body);
    bson_iter_next(&it);
    req.name = bson_iter_key(&it);
    req.db = bson_iter_init_find(&it, &req.body, "$db") ? bson_iter_utf8(&it, NULL) : "local";
    memset(&ctx, 0, sizeof ctx);
    ctx.srv = &srv;
    ctx.req = &req;
    ctx.now_ms = 1700000000000;
    ctx.is_await_expired = last_await_expired;
    bson_init(&ctx.reply);
    err_init(&ctx.err);
    if (store_txn_begin_read(st, &t, &ctx.err) < 0) {
        fprintf(stderr, "read txn: %s\n", ctx.err.msg);
        exit(2);
    }
    ctx.txn = t;
    rc = handler(&ctx);
    store_txn_end(t);
    bson_destroy(&last_reply);
    bson_init(&last_reply);
    bson_concat(&last_reply, &ctx.reply);
    bson_destroy(&ctx.reply);
    err_move(&last_err, &ctx.err);
    bson_destroy(&req.body);
    return rc;
}

static int64_t reply_int(const char *path)
{
    bson_iter_t it, f;

    if (!bson_iter_init(&it, &last_reply) || !bson_iter_find_descendant(&it, path, &f))
        return -999;
    if (BSON_ITER_HOLDS_BOOL(&f))
        return bson_iter_bool(&f);
    return bson_iter_as_int64(&f);
}

static bool reply_has(const char *path)
{
    bson_iter_t it, f;
    return bson_iter_init(&it, &last_reply) && bson_iter_find_descendant(&it, path, &f);
}

static const char *reply_str(const char *path)
{
    bson_iter_t it, f;

    if (!bson_iter_init(&it, &last_reply) || !bson_iter_find_descendant(&it, path, &f) || !BSON_ITER_HOLDS_UTF8(&f))
        return NULL;
    return bson_iter_utf8(&f, NULL);
}

/* Seconds of the ts at path (e.g. "cursor.firstBatch.0.ts"), -1 when absent. */
static int64_t reply_ts_secs(const char *path)
{
    bson_iter_t it, f;
    uint32_t secs, inc;

    if (!bson_iter_init(&it, &last_reply) || !bson_iter_find_descendant(&it, path, &f) ||
        !BSON_ITER_HOLDS_TIMESTAMP(&f))
        return -1;
    bson_iter_timestamp(&f, &secs, &inc);
    return secs;
}

static int64_t batch_len(const char *which)
{
    bson_iter_t it, f;
    bson_t arr;
    char path[64];
    const uint8_t *data;
    uint32_t len;

    snprintf(path, sizeof path, "cursor.%s", which);
    if (!bson_iter_init(&it, &last_reply) || !bson_iter_find_descendant(&it, path, &f) || !BSON_ITER_HOLDS_ARRAY(&f))
        return -1;
    bson_iter_array(&f, &len, &data);
    bson_init_static(&arr, data, len);
    return bson_count_keys(&arr);
}

static int64_t cursor_id(void)
{
    return reply_int("cursor.id");
}

static int get_more(int64_t id, const char *extra)
{
    char body[256];

    snprintf(body, sizeof body, "{\"getMore\": {\"$numberLong\": \"%lld\"}, \"collection\": \"oplog.rs\"%s}",
             (long long)id, extra);
    return run(cmd_get_more, body);
}

TEST(find_with_ts_gte_starts_at_that_entry_in_ts_order)
{
    setup();
    fill(6);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {\"ts\": {\"$gte\": {\"$timestamp\": {\"t\": 3, "
                               "\"i\": 1}}}}}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 4);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.0.ts"), 3);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.3.ts"), 6);
    CHECK_EQ_INT(reply_int("cursor.firstBatch.0.t"), 1);
    CHECK_EQ_STR(reply_str("cursor.ns"), "local.oplog.rs");
    CHECK_EQ_INT(cursor_id(), 0);
    teardown();
}

TEST(find_with_gt_and_lt_bounds_returns_the_open_range)
{
    setup();
    fill(6);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {\"ts\": {\"$gt\": {\"$timestamp\": {\"t\": 2, "
                               "\"i\": 1}}, \"$lt\": {\"$timestamp\": {\"t\": 5, \"i\": 1}}}}}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 2);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.0.ts"), 3);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.1.ts"), 4);
    teardown();
}

TEST(find_by_exact_ts_returns_that_entry_or_nothing)
{
    setup();
    fill(5);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {\"ts\": {\"$timestamp\": {\"t\": 4, \"i\": 1}}}}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 1);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.0.ts"), 4);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {\"ts\": {\"$timestamp\": {\"t\": 4, \"i\": 2}}}}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 0);
    CHECK_EQ_INT(cursor_id(), 0);
    teardown();
}

TEST(find_filters_on_other_fields_through_the_matcher)
{
    setup();
    fill(6);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {\"op\": \"i\"}}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 3);
    CHECK_EQ_STR(reply_str("cursor.firstBatch.0.ns"), "db.c");
    CHECK_EQ_INT(reply_int("cursor.firstBatch.2.o._id"), 5);
    teardown();
}

TEST(reverse_natural_order_with_limit_one_gives_the_newest_entry)
{
    setup();
    fill(4);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"sort\": {\"$natural\": -1}, \"limit\": 1}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 1);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.0.ts"), 4);
    CHECK_EQ_INT(cursor_id(), 0);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"sort\": {\"$natural\": -1}, \"filter\": {\"ts\": {\"$lte\": "
                               "{\"$timestamp\": {\"t\": 2, \"i\": 1}}}}}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 2);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.0.ts"), 2);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.1.ts"), 1);
    teardown();
}

TEST(small_batches_continue_with_get_more_and_close_at_the_end)
{
    setup();
    fill(5);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"batchSize\": 2}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 2);
    int64_t id = cursor_id();
    CHECK(id != 0);
    CHECK_EQ_INT(get_more(id, ", \"batchSize\": 2"), 0);
    CHECK_EQ_INT(batch_len("nextBatch"), 2);
    CHECK_EQ_INT(reply_ts_secs("cursor.nextBatch.0.ts"), 3);
    CHECK_EQ_INT(cursor_id(), id);
    CHECK_EQ_INT(get_more(id, ""), 0);
    CHECK_EQ_INT(batch_len("nextBatch"), 1);
    CHECK_EQ_INT(reply_ts_secs("cursor.nextBatch.0.ts"), 5);
    CHECK_EQ_INT(cursor_id(), 0);
    CHECK(get_more(id, "") < 0);
    CHECK_EQ_INT(last_err.code, ERR_CURSOR_NOT_FOUND);
    teardown();
}

TEST(a_full_last_batch_of_a_plain_cursor_already_reports_id_zero)
{
    setup();
    fill(3);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"batchSize\": 3}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 3);
    CHECK_EQ_INT(cursor_id(), 0);
    teardown();
}

TEST(tailable_await_cursor_parks_when_idle_and_returns_new_entries)
{
    setup();
    fill(3);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {\"ts\": {\"$gte\": {\"$timestamp\": {\"t\": 3, "
                               "\"i\": 1}}}}, \"tailable\": true, \"awaitData\": true}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 1);
    int64_t id = cursor_id();
    CHECK(id != 0);
    CHECK_EQ_INT(get_more(id, ", \"maxTimeMS\": 50"), CMD_PARK);
    last_await_expired = true;
    CHECK_EQ_INT(get_more(id, ""), 0);
    last_await_expired = false;
    CHECK_EQ_INT(batch_len("nextBatch"), 0);
    CHECK_EQ_INT(cursor_id(), id);
    append_entry(4, 1, true);
    append_entry(5, 2, false);
    CHECK_EQ_INT(get_more(id, ""), 0);
    CHECK_EQ_INT(batch_len("nextBatch"), 2);
    CHECK_EQ_INT(reply_ts_secs("cursor.nextBatch.0.ts"), 4);
    CHECK_EQ_INT(reply_int("cursor.nextBatch.1.t"), 2);
    CHECK_EQ_INT(cursor_id(), id);
    teardown();
}

TEST(tailable_cursor_past_the_newest_entry_stays_open_and_empty)
{
    setup();
    fill(2);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {\"ts\": {\"$gte\": {\"$timestamp\": {\"t\": 9, "
                               "\"i\": 1}}}}, \"tailable\": true, \"awaitData\": true}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 0);
    int64_t id = cursor_id();
    CHECK(id != 0);
    append_entry(9, 1, false);
    CHECK_EQ_INT(get_more(id, ""), 0);
    CHECK_EQ_INT(batch_len("nextBatch"), 1);
    CHECK_EQ_INT(reply_ts_secs("cursor.nextBatch.0.ts"), 9);
    teardown();
}

TEST(a_tailable_cursor_on_an_empty_oplog_sees_the_first_entries)
{
    setup();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {}, \"tailable\": true}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 0);
    int64_t id = cursor_id();
    CHECK(id != 0);
    fill(2);
    CHECK_EQ_INT(get_more(id, ""), 0);
    CHECK_EQ_INT(batch_len("nextBatch"), 2);
    teardown();
}

TEST(bad_options_are_refused)
{
    setup();
    fill(2);
    CHECK(run(cmd_find, "{\"find\": \"oplog.rs\", \"sort\": {\"ts\": 1}}") < 0);
    CHECK_EQ_INT(last_err.code, ERR_BAD_VALUE);
    CHECK(run(cmd_find, "{\"find\": \"oplog.rs\", \"tailable\": true, \"sort\": {\"$natural\": -1}}") < 0);
    CHECK_EQ_INT(last_err.code, ERR_BAD_VALUE);
    CHECK(run(cmd_find, "{\"find\": \"oplog.rs\", \"awaitData\": true}") < 0);
    CHECK_EQ_INT(last_err.code, ERR_FAILED_TO_PARSE);
    CHECK(run(cmd_find, "{\"find\": \"oplog.rs\", \"filter\": {\"ts\": {\"$bogus\": 1}}}") < 0);
    CHECK(run(cmd_find, "{\"find\": \"oplog.rs\", \"limit\": \"x\"}") < 0);
    CHECK_EQ_INT(last_err.code, ERR_TYPE_MISMATCH);
    CHECK(run(cmd_find, "{\"find\": \"system.replset\", \"tailable\": true}") < 0);
    CHECK_EQ_INT(last_err.code, ERR_BAD_VALUE);
    teardown();
}

TEST(skip_limit_and_projection_apply)
{
    setup();
    fill(6);
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"oplog.rs\", \"skip\": 1, \"limit\": 2, \"projection\": {\"ts\": 1, "
                               "\"_id\": 0}}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 2);
    CHECK_EQ_INT(reply_ts_secs("cursor.firstBatch.0.ts"), 2);
    CHECK(!reply_has("cursor.firstBatch.0.op"));
    CHECK_EQ_INT(cursor_id(), 0);
    teardown();
}

TEST(count_counts_all_entries_or_the_matching_ones)
{
    setup();
    fill(7);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"oplog.rs\"}"), 0);
    CHECK_EQ_INT(reply_int("n"), 7);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"oplog.rs\", \"query\": {\"ts\": {\"$gt\": {\"$timestamp\": {\"t\": 5, "
                                "\"i\": 1}}}}}"),
                 0);
    CHECK_EQ_INT(reply_int("n"), 2);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"oplog.rs\", \"query\": {\"op\": \"n\"}, \"limit\": 2}"), 0);
    CHECK_EQ_INT(reply_int("n"), 2);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"system.replset\"}"), 0);
    CHECK_EQ_INT(reply_int("n"), 0);
    teardown();
}

TEST(system_replset_holds_the_stored_config)
{
    setup();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"system.replset\"}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 0);
    put_config();
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"system.replset\"}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 1);
    CHECK_EQ_STR(reply_str("cursor.firstBatch.0._id"), "rs0");
    CHECK_EQ_STR(reply_str("cursor.ns"), "local.system.replset");
    CHECK_EQ_INT(run(cmd_find, "{\"find\": \"system.replset\", \"filter\": {\"_id\": \"other\"}}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 0);
    CHECK_EQ_INT(run(cmd_count, "{\"count\": \"system.replset\", \"query\": {}}"), 0);
    CHECK_EQ_INT(reply_int("n"), 1);
    teardown();
}

TEST(aggregate_count_documents_sees_the_config_and_the_oplog)
{
    setup();
    put_config();
    fill(3);
    CHECK_EQ_INT(run(cmd_aggregate, "{\"aggregate\": \"system.replset\", \"pipeline\": [{\"$match\": {}}, {\"$group\": "
                                    "{\"_id\": 1, \"n\": {\"$sum\": 1}}}], \"cursor\": {}}"),
                 0);
    CHECK_EQ_INT(reply_int("cursor.firstBatch.0.n"), 1);
    CHECK_EQ_INT(run(cmd_aggregate, "{\"aggregate\": \"oplog.rs\", \"pipeline\": [{\"$match\": {\"op\": \"i\"}}, "
                                    "{\"$group\": {\"_id\": 1, \"n\": {\"$sum\": 1}}}], \"cursor\": {}}"),
                 0);
    CHECK_EQ_INT(reply_int("cursor.firstBatch.0.n"), 2);
    teardown();
}

TEST(coll_stats_describes_the_oplog_as_capped)
{
    setup();
    fill(4);
    CHECK_EQ_INT(run(cmd_coll_stats, "{\"collStats\": \"oplog.rs\"}"), 0);
    CHECK_EQ_INT(reply_int("count"), 4);
    CHECK_EQ_INT(reply_int("capped"), 1);
    CHECK(reply_int("size") > 0);
    CHECK(reply_int("maxSize") > 0);
    CHECK(reply_has("storageSize"));
    CHECK(run(cmd_coll_stats, "{\"collStats\": \"system.replset\"}") < 0);
    CHECK_EQ_INT(last_err.code, ERR_NAMESPACE_NOT_FOUND);
    teardown();
}

TEST(list_collections_on_local_lists_the_oplog_and_the_config)
{
    setup();
    CHECK_EQ_INT(run(cmd_list_collections, "{\"listCollections\": 1}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 0);
    fill(1);
    put_config();
    CHECK_EQ_INT(run(cmd_list_collections, "{\"listCollections\": 1}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 2);
    CHECK_EQ_STR(reply_str("cursor.firstBatch.0.name"), "oplog.rs");
    CHECK_EQ_INT(reply_int("cursor.firstBatch.0.options.capped"), 1);
    CHECK_EQ_STR(reply_str("cursor.firstBatch.1.name"), "system.replset");
    CHECK_EQ_INT(run(cmd_list_collections, "{\"listCollections\": 1, \"filter\": {\"name\": \"system.replset\"}, "
                                           "\"nameOnly\": true}"),
                 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 1);
    CHECK(!reply_has("cursor.firstBatch.0.options"));
    CHECK_EQ_INT(run(cmd_list_collections, "{\"listCollections\": 1, \"$db\": \"other\"}"), 0);
    CHECK_EQ_INT(batch_len("firstBatch"), 0);
    teardown();
}

TEST(only_find_and_get_more_on_the_oplog_want_repl_data)
{
    struct cmd_request req;
    bson_error_t error;
    bson_t *b;

    memset(&req, 0, sizeof req);
    req.db = "local";
    req.name = "find";
    b = bson_new_from_json((const uint8_t *)"{\"find\": \"oplog.rs\"}", -1, &error);
    bson_init_static(&req.body, bson_get_data(b), b->len);
    CHECK(oplog_read_is_oplog_request(&req));
    req.db = "db";
    CHECK(!oplog_read_is_oplog_request(&req));
    bson_destroy(b);
    req.db = "local";
    req.name = "getMore";
    b = bson_new_from_json((const uint8_t *)"{\"getMore\": 1, \"collection\": \"oplog.rs\"}", -1, &error);
    bson_init_static(&req.body, bson_get_data(b), b->len);
    CHECK(oplog_read_is_oplog_request(&req));
    bson_destroy(b);
    b = bson_new_from_json((const uint8_t *)"{\"getMore\": 1, \"collection\": \"system.replset\"}", -1, &error);
    bson_init_static(&req.body, bson_get_data(b), b->len);
    CHECK(!oplog_read_is_oplog_request(&req));
    bson_destroy(b);
    CHECK(oplog_read_is_ns("local", "oplog.rs"));
    CHECK(!oplog_read_is_ns("local", "startup_log"));
}

int main(void)
{
    RUN(find_with_ts_gte_starts_at_that_entry_in_ts_order);
    RUN(find_with_gt_and_lt_bounds_returns_the_open_range);
    RUN(find_by_exact_ts_returns_that_entry_or_nothing);
    RUN(find_filters_on_other_fields_through_the_matcher);
    RUN(reverse_natural_order_with_limit_one_gives_the_newest_entry);
    RUN(small_batches_continue_with_get_more_and_close_at_the_end);
    RUN(a_full_last_batch_of_a_plain_cursor_already_reports_id_zero);
    RUN(tailable_await_cursor_parks_when_idle_and_returns_new_entries);
    RUN(tailable_cursor_past_the_newest_entry_stays_open_and_empty);
    RUN(a_tailable_cursor_on_an_empty_oplog_sees_the_first_entries);
    RUN(bad_options_are_refused);
    RUN(skip_limit_and_projection_apply);
    RUN(count_counts_all_entries_or_the_matching_ones);
    RUN(system_replset_holds_the_stored_config);
    RUN(aggregate_count_documents_sees_the_config_and_the_oplog);
    RUN(coll_stats_describes_the_oplog_as_capped);
    RUN(list_collections_on_local_lists_the_oplog_and_the_config);
    RUN(only_find_and_get_more_on_the_oplog_want_repl_data);
    return test_report();
}
