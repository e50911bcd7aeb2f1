/* test_find_and_modify.c - findAndModify over a real store: remove, update,
 * upsert, pre/post images, sort, projection, and its request rules. */
#include "cmd/handlers.h"
#include "cmd/write_common.h"
#include "storage/store.h"
#include "testhelp.h"

#include <inttypes.h>

static struct store *st;
static struct store_txn *txn;
static bson_t last_reply;
static struct err last_err;

static void setup(void)
{
    struct store_options opt = {0, true};
    struct err e;

    err_init(&e);
    if (store_open(test_dir, &opt, &st, &e) < 0 || store_txn_begin_write(st, &txn, &e) < 0) {
        fprintf(stderr, "store: %s\n", e.msg);
        exit(2);
    }
    bson_init(&last_reply);
    err_init(&last_err);
}

static void teardown(void)
{
    store_txn_end(txn);
    store_close(st);
    bson_destroy(&last_reply);
    err_clear(&last_err);
}

/* Runs one command (JSON body, database "db" unless body has $db) with the
 * handler its first key names; keeps the reply and error for checks. */
static int run(cmd_handler_cb handler, const char *body_json)
{
    bson_error_t error;
    bson_t *body = bson_new_from_json((const uint8_t *)body_json, -1, &error);
    struct cmd_request req;
    struct cmd_ctx ctx;
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
    req.db = bson_iter_init_find(&it, &req.body, "$db") ? bson_iter_utf8(&it, NULL) : "db";
    memset(&ctx, 0, sizeof ctx);
    ctx.req = &req;
    ctx.txn = txn;
    ctx.now_ms = 1700000000000;
    bson_init(&ctx.reply);
    err_init(&ctx.err);
    rc = handler(&ctx);
    bson_destroy(&last_reply);
    bson_init(&last_reply);
    bson_concat(&last_reply, &ctx.reply);
    bson_destroy(&ctx.reply);
    err_move(&last_err, &ctx.err);
    bson_destroy(&req.body);
    return rc;
}

/* Integer at a dotted path of the last reply, or -999 when absent. */
static int64_t reply_int(const char *path)
{
    bson_iter_t it, f;

    if (!bson_iter_init(&it, &last_reply) || !bson_iter_find_descendant(&it, path, &f))
        return -999;
    return bson_iter_as_int64(&f);
}

static bool reply_has(const char *path)
{
    bson_iter_t it, f;
    return bson_iter_init(&it, &last_reply) && bson_iter_find_descendant(&it, path, &f);
}

/* Documents of db.coll matching filter_json, counted through the executor. */
static int64_t count_docs(const char *coll, const char *filter_json)
{
    struct coll_info *c = NULL;
    struct matcher *m = NULL;
    struct write_target *t = NULL;
    struct err e;
    bson_error_t error;
    bson_t *f = bson_new_from_json((const uint8_t *)filter_json, -1, &error);
    int n = -1;

    err_init(&e);
    if (store_coll_find(txn, "db", coll, &c, &e) == 0 && c != NULL && matcher_create(f, &m, &e) == 0)
        write_targets_collect(txn, c, m, 0, &t, &n, &e);
    else if (c == NULL)
        n = 0;
    write_targets_free(t, n > 0 ? n : 0);
    if (m)
        matcher_destroy(m);
    if (c)
        coll_info_destroy(c);
    bson_destroy(f);
    err_clear(&e);
    return n;
}


static const char *reply_str(const char *path)
{
    bson_iter_t it, f;

    if (!bson_iter_init(&it, &last_reply) || !bson_iter_find_descendant(&it, path, &f) || !BSON_ITER_HOLDS_UTF8(&f))
        return NULL;
    return bson_iter_utf8(&f, NULL);
}

static bool reply_is_null(const char *path)
{
    bson_iter_t it, f;
    return bson_iter_init(&it, &last_reply) && bson_iter_find_descendant(&it, path, &f) && BSON_ITER_HOLDS_NULL(&f);
}

static void seed(void)
{
    run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 1, \"a\": 3, \"s\": \"x\"}, "
                    "{\"_id\": 2, \"a\": 1, \"s\": \"y\"}, {\"_id\": 3, \"a\": 2, \"s\": \"z\"}]}");
}

TEST(remove_returns_the_deleted_document)
{
    setup();
    seed();
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {\"_id\": 2}, \"remove\": true}"), 0);
    CHECK_EQ_INT(reply_int("lastErrorObject.n"), 1);
    CHECK(!reply_has("lastErrorObject.updatedExisting"));
    CHECK_EQ_INT(reply_int("value._id"), 2);
    CHECK_EQ_INT(count_docs("c", "{\"_id\": 2}"), 0);
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {\"_id\": 2}, \"remove\": true}"), 0);
    CHECK_EQ_INT(reply_int("lastErrorObject.n"), 0);
    CHECK(reply_is_null("value"));
    teardown();
}

TEST(update_returns_the_pre_image_unless_new_is_set)
{
    setup();
    seed();
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {\"_id\": 1}, "
                                          "\"update\": {\"$inc\": {\"a\": 1}}}"),
                 0);
    CHECK_EQ_INT(reply_int("lastErrorObject.n"), 1);
    CHECK_EQ_INT(reply_int("lastErrorObject.updatedExisting"), 1);
    CHECK_EQ_INT(reply_int("value.a"), 3);
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findandmodify\": \"c\", \"query\": {\"_id\": 1}, "
                                          "\"update\": {\"$inc\": {\"a\": 1}}, \"new\": true}"),
                 0);
    CHECK_EQ_INT(reply_int("value.a"), 5);
    CHECK_EQ_INT(count_docs("c", "{\"_id\": 1, \"a\": 5}"), 1);
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {\"_id\": 1}, "
                                          "\"update\": {\"s\": \"replaced\"}, \"new\": true}"),
                 0);
    CHECK_EQ_STR(reply_str("value.s"), "replaced");
    CHECK(!reply_has("value.a"));
    teardown();
}

TEST(update_without_a_match_and_without_upsert_returns_null)
{
    setup();
    seed();
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {\"_id\": 99}, "
                                          "\"update\": {\"$set\": {\"a\": 1}}}"),
                 0);
    CHECK_EQ_INT(reply_int("lastErrorObject.n"), 0);
    CHECK_EQ_INT(reply_int("lastErrorObject.updatedExisting"), 0);
    CHECK(reply_is_null("value"));
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"missing\", \"query\": {}, \"remove\": true}"), 0);
    CHECK(reply_is_null("value"));
    teardown();
}

TEST(upsert_inserts_and_reports_the_upserted_id)
{
    setup();
    seed();
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {\"_id\": 7}, "
                                          "\"update\": {\"$set\": {\"a\": 70}}, \"upsert\": true}"),
                 0);
    CHECK_EQ_INT(reply_int("lastErrorObject.n"), 1);
    CHECK_EQ_INT(reply_int("lastErrorObject.updatedExisting"), 0);
    CHECK_EQ_INT(reply_int("lastErrorObject.upserted"), 7);
    CHECK(reply_is_null("value"));
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"new\", \"query\": {\"k\": 1}, "
                                          "\"update\": {\"$set\": {\"a\": 1}}, \"upsert\": true, \"new\": true}"),
                 0);
    CHECK_EQ_INT(reply_int("value.k"), 1);
    CHECK_EQ_INT(reply_int("value.a"), 1);
    CHECK_EQ_INT(count_docs("new", "{\"k\": 1, \"a\": 1}"), 1);
    teardown();
}

TEST(request_rules_reject_contradictory_options)
{
    setup();
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {}}"), -ERR_FAILED_TO_PARSE);
    CHECK_EQ_STR(last_err.msg, "Either an update or remove=true must be specified");
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"remove\": true, \"update\": {\"a\": 1}}"),
                 -ERR_FAILED_TO_PARSE);
    CHECK_EQ_STR(last_err.msg, "Cannot specify both an update and remove=true");
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"remove\": true, \"new\": true}"),
                 -ERR_FAILED_TO_PARSE);
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"remove\": true, \"upsert\": true}"),
                 -ERR_FAILED_TO_PARSE);
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"update\": 5}"), -ERR_FAILED_TO_PARSE);
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"remove\": true, \"bogus\": 1}"),
                 -ERR_UNKNOWN_FIELD);
    teardown();
}

TEST(duplicate_key_is_a_command_error_with_key_details)
{
    setup();
    seed();
    run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"s\": 1}, \"name\": \"s_1\", "
                            "\"unique\": true}]}");
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {\"_id\": 1}, "
                                          "\"update\": {\"$set\": {\"s\": \"y\"}}}"),
                 -ERR_DUPLICATE_KEY);
    CHECK(last_err.has_info);
    CHECK_EQ_INT(count_docs("c", "{\"_id\": 1, \"s\": \"x\"}"), 1);
    teardown();
}

TEST(sort_picks_the_first_document_in_sort_order)
{
    setup();
    seed();
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {}, \"sort\": {\"a\": 1}, "
                                          "\"remove\": true}"),
                 0);
    CHECK_EQ_INT(reply_int("value._id"), 2);
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {}, \"sort\": {\"a\": -1}, "
                                          "\"update\": {\"$set\": {\"top\": true}}}"),
                 0);
    CHECK_EQ_INT(reply_int("value._id"), 1);
    CHECK_EQ_INT(count_docs("c", "{\"_id\": 1, \"top\": true}"), 1);
    teardown();
}

TEST(fields_projects_the_returned_document)
{
    setup();
    seed();
    CHECK_EQ_INT(run(cmd_find_and_modify, "{\"findAndModify\": \"c\", \"query\": {\"_id\": 3}, \"fields\": "
                                          "{\"s\": 1, \"_id\": 0}, \"update\": {\"$set\": {\"a\": 9}}, \"new\": true}"),
                 0);
    CHECK_EQ_STR(reply_str("value.s"), "z");
    CHECK(!reply_has("value._id"));
    CHECK(!reply_has("value.a"));
    teardown();
}

int main(void)
{
    RUN(remove_returns_the_deleted_document);
    RUN(update_returns_the_pre_image_unless_new_is_set);
    RUN(update_without_a_match_and_without_upsert_returns_null);
    RUN(upsert_inserts_and_reports_the_upserted_id);
    RUN(request_rules_reject_contradictory_options);
    RUN(duplicate_key_is_a_command_error_with_key_details);
    RUN(sort_picks_the_first_document_in_sort_order);
    RUN(fields_projects_the_returned_document);
    return test_report();
}
