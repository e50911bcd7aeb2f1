/* test_find_and_modify.c - findAndModify over a real store: remove, update,
 * upsert, pre/post images, sort, projection, and its request rules. */
#include "write_cmd_testhelp.h"


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
