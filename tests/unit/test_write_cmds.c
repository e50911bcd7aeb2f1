/* test_write_cmds.c - the write command handlers end to end over a real store:
 * insert, update, delete, create/drop/dropDatabase/renameCollection,
 * createIndexes/dropIndexes. Each test runs handlers inside one write
 * transaction, as the writer thread does. */
#include "write_cmd_testhelp.h"

TEST(insert_creates_the_collection_and_counts_documents)
{
    setup();
    CHECK_EQ_INT(run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 1}, {\"a\": 2}]}"), 0);
    CHECK_EQ_INT(reply_int("n"), 2);
    CHECK(!reply_has("writeErrors"));
    CHECK_EQ_INT(count_docs("c", "{}"), 2);
    teardown();
}

TEST(ordered_insert_stops_at_the_first_duplicate_key)
{
    setup();
    run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 1}]}");
    CHECK_EQ_INT(run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 2}, {\"_id\": 1}, {\"_id\": 3}]}"), 0);
    CHECK_EQ_INT(reply_int("n"), 1);
    CHECK_EQ_INT(reply_int("writeErrors.0.index"), 1);
    CHECK_EQ_INT(reply_int("writeErrors.0.code"), 11000);
    CHECK(reply_has("writeErrors.0.keyPattern"));
    CHECK(!reply_has("writeErrors.1"));
    CHECK_EQ_INT(count_docs("c", "{}"), 2);
    teardown();
}

TEST(unordered_insert_continues_after_errors)
{
    setup();
    CHECK_EQ_INT(run(cmd_insert, "{\"insert\": \"c\", \"ordered\": false, \"documents\": [{\"_id\": 1}, {\"_id\": 1}, "
                                 "{\"_id\": [1]}, {\"_id\": 4}]}"),
                 0);
    CHECK_EQ_INT(reply_int("n"), 2);
    CHECK_EQ_INT(reply_int("writeErrors.0.index"), 1);
    CHECK_EQ_INT(reply_int("writeErrors.1.index"), 2);
    CHECK_EQ_INT(reply_int("writeErrors.1.code"), ERR_INVALID_ID_FIELD);
    teardown();
}

TEST(insert_rejects_empty_batches_system_collections_and_non_documents)
{
    setup();
    CHECK_EQ_INT(run(cmd_insert, "{\"insert\": \"c\", \"documents\": []}"), -ERR_INVALID_LENGTH);
    CHECK_EQ_INT(run(cmd_insert, "{\"insert\": \"system.x\", \"documents\": [{}]}"), -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(run(cmd_insert, "{\"insert\": \"c\", \"documents\": [1]}"), -ERR_TYPE_MISMATCH);
    CHECK_EQ_INT(run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{}], \"bogus\": 1}"), -ERR_UNKNOWN_FIELD);
    teardown();
}

TEST(update_counts_matches_and_real_modifications)
{
    setup();
    run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 1, \"a\": 1}, {\"_id\": 2, \"a\": 2}, "
                    "{\"_id\": 3, \"a\": 3}]}");
    CHECK_EQ_INT(run(cmd_update, "{\"update\": \"c\", \"updates\": [{\"q\": {}, \"u\": {\"$set\": {\"a\": 2}}, "
                                 "\"multi\": true}]}"),
                 0);
    CHECK_EQ_INT(reply_int("n"), 3);
    CHECK_EQ_INT(reply_int("nModified"), 2);
    CHECK_EQ_INT(count_docs("c", "{\"a\": 2}"), 3);
    CHECK_EQ_INT(run(cmd_update, "{\"update\": \"c\", \"updates\": [{\"q\": {}, \"u\": {\"$set\": {\"b\": 1}}}]}"), 0);
    CHECK_EQ_INT(reply_int("n"), 1);
    CHECK_EQ_INT(count_docs("c", "{\"b\": 1}"), 1);
    teardown();
}

TEST(multi_update_on_an_indexed_field_changes_each_document_once)
{
    setup();
    run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 1, \"a\": 1}, {\"_id\": 2, \"a\": 2}]}");
    CHECK_EQ_INT(run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}, "
                                         "\"name\": \"a_1\"}]}"),
                 0);
    CHECK_EQ_INT(run(cmd_update, "{\"update\": \"c\", \"updates\": [{\"q\": {\"a\": {\"$gte\": 1}}, "
                                 "\"u\": {\"$inc\": {\"a\": 10}}, \"multi\": true}]}"),
                 0);
    CHECK_EQ_INT(reply_int("nModified"), 2);
    CHECK_EQ_INT(count_docs("c", "{\"a\": 11}"), 1);
    CHECK_EQ_INT(count_docs("c", "{\"a\": 12}"), 1);
    teardown();
}

TEST(upsert_inserts_and_reports_the_new_id)
{
    setup();
    CHECK_EQ_INT(run(cmd_update, "{\"update\": \"c\", \"updates\": [{\"q\": {\"x\": 5}, \"u\": {\"$set\": {\"y\": 1}}, "
                                 "\"upsert\": true}, {\"q\": {\"_id\": 9}, \"u\": {\"z\": 1}, \"upsert\": true}]}"),
                 0);
    CHECK_EQ_INT(reply_int("n"), 2);
    CHECK_EQ_INT(reply_int("nModified"), 0);
    CHECK_EQ_INT(reply_int("upserted.0.index"), 0);
    CHECK(reply_has("upserted.0._id"));
    CHECK_EQ_INT(reply_int("upserted.1.index"), 1);
    CHECK_EQ_INT(reply_int("upserted.1._id"), 9);
    CHECK_EQ_INT(count_docs("c", "{\"x\": 5, \"y\": 1}"), 1);
    CHECK_EQ_INT(count_docs("c", "{\"_id\": 9, \"z\": 1}"), 1);
    teardown();
}

TEST(update_statement_errors_become_write_errors)
{
    setup();
    run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 1, \"a\": 1}]}");
    CHECK_EQ_INT(run(cmd_update, "{\"update\": \"c\", \"ordered\": false, \"updates\": ["
                                 "{\"q\": {}, \"u\": {\"b\": 1}, \"multi\": true},"
                                 "{\"q\": {\"a\": {\"$bogus\": 1}}, \"u\": {\"$set\": {\"b\": 1}}},"
                                 "{\"q\": {}, \"u\": {\"$set\": {\"_id\": 2}}},"
                                 "{\"q\": {}, \"u\": {\"$set\": {\"c\": 1}}}]}"),
                 0);
    CHECK_EQ_INT(reply_int("writeErrors.0.index"), 0);
    CHECK_EQ_INT(reply_int("writeErrors.0.code"), ERR_FAILED_TO_PARSE);
    CHECK_EQ_INT(reply_int("writeErrors.1.index"), 1);
    CHECK_EQ_INT(reply_int("writeErrors.2.index"), 2);
    CHECK_EQ_INT(reply_int("writeErrors.2.code"), ERR_IMMUTABLE_FIELD);
    CHECK_EQ_INT(reply_int("n"), 1);
    CHECK_EQ_INT(count_docs("c", "{\"_id\": 1, \"c\": 1}"), 1);
    CHECK_EQ_INT(run(cmd_update, "{\"update\": \"c\", \"updates\": [{\"u\": {}}]}"), -ERR_MISSING_FIELD);
    teardown();
}

TEST(update_on_a_missing_collection_matches_nothing)
{
    setup();
    CHECK_EQ_INT(run(cmd_update, "{\"update\": \"nope\", \"updates\": [{\"q\": {}, \"u\": {\"$set\": {\"a\": 1}}}]}"), 0);
    CHECK_EQ_INT(reply_int("n"), 0);
    CHECK_EQ_INT(reply_int("nModified"), 0);
    teardown();
}

TEST(delete_honours_limit_and_rejects_other_limits)
{
    setup();
    run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"a\": 1}, {\"a\": 1}, {\"a\": 1}, {\"a\": 2}]}");
    CHECK_EQ_INT(run(cmd_delete, "{\"delete\": \"c\", \"deletes\": [{\"q\": {\"a\": 1}, \"limit\": 1}]}"), 0);
    CHECK_EQ_INT(reply_int("n"), 1);
    CHECK_EQ_INT(run(cmd_delete, "{\"delete\": \"c\", \"deletes\": [{\"q\": {\"a\": 1}, \"limit\": 0}]}"), 0);
    CHECK_EQ_INT(reply_int("n"), 2);
    CHECK_EQ_INT(count_docs("c", "{}"), 1);
    CHECK_EQ_INT(run(cmd_delete, "{\"delete\": \"c\", \"deletes\": [{\"q\": {}, \"limit\": 2}]}"), -ERR_FAILED_TO_PARSE);
    CHECK_EQ_STR(last_err.msg, "The limit field in delete objects must be 0 or 1. Got 2");
    CHECK_EQ_INT(run(cmd_delete, "{\"delete\": \"none\", \"deletes\": [{\"q\": {}, \"limit\": 0}]}"), 0);
    CHECK_EQ_INT(reply_int("n"), 0);
    teardown();
}

TEST(create_checks_options_and_existing_collections)
{
    setup();
    CHECK_EQ_INT(run(cmd_create, "{\"create\": \"c\"}"), 0);
    CHECK_EQ_INT(run(cmd_create, "{\"create\": \"c\"}"), -ERR_NAMESPACE_EXISTS);
    CHECK_EQ_STR(last_err.msg, "Collection db.c already exists.");
    CHECK_EQ_INT(run(cmd_create, "{\"create\": \"cap\", \"capped\": true}"), -ERR_INVALID_OPTIONS);
    CHECK_EQ_STR(last_err.msg, "the 'size' field is required when 'capped' is true");
    CHECK_EQ_INT(run(cmd_create, "{\"create\": \"cap\", \"capped\": true, \"size\": 10000, \"max\": 5}"), 0);
    CHECK_EQ_INT(run(cmd_create, "{\"create\": \"v\", \"viewOn\": \"c\", \"pipeline\": []}"), -ERR_NOT_IMPLEMENTED);
    CHECK_EQ_INT(run(cmd_create, "{\"create\": \"w\", \"validationLevel\": \"bogus\"}"), -ERR_BAD_VALUE);
    CHECK_EQ_INT(run(cmd_create, "{\"create\": \"w\", \"validator\": {\"a\": {\"$gt\": 1}}}"), 0);
    teardown();
}

TEST(drop_reports_indexes_and_missing_namespaces)
{
    setup();
    run(cmd_create, "{\"create\": \"c\"}");
    CHECK_EQ_INT(run(cmd_drop, "{\"drop\": \"c\"}"), 0);
    CHECK_EQ_INT(reply_int("nIndexesWas"), 1);
    CHECK(reply_has("ns"));
    CHECK_EQ_INT(run(cmd_drop, "{\"drop\": \"c\"}"), -ERR_NAMESPACE_NOT_FOUND);
    CHECK_EQ_STR(last_err.msg, "ns not found");
    run(cmd_insert, "{\"insert\": \"d\", \"documents\": [{}]}");
    CHECK_EQ_INT(run(cmd_drop_database, "{\"dropDatabase\": 1}"), 0);
    CHECK_EQ_INT(count_docs("d", "{}"), 0);
    CHECK_EQ_INT(run(cmd_drop_database, "{\"dropDatabase\": 1, \"$db\": \"admin\"}"), -ERR_ILLEGAL_OPERATION);
    teardown();
}

TEST(rename_moves_the_collection_and_checks_both_names)
{
    setup();
    run(cmd_insert, "{\"insert\": \"a\", \"documents\": [{\"_id\": 1}]}");
    run(cmd_insert, "{\"insert\": \"b\", \"documents\": [{\"_id\": 2}]}");
    CHECK_EQ_INT(run(cmd_rename_collection, "{\"renameCollection\": \"db.a\", \"to\": \"db.a\"}"),
                 -ERR_ILLEGAL_OPERATION);
    CHECK_EQ_INT(run(cmd_rename_collection, "{\"renameCollection\": \"db.x\", \"to\": \"db.y\"}"),
                 -ERR_NAMESPACE_NOT_FOUND);
    CHECK_EQ_INT(run(cmd_rename_collection, "{\"renameCollection\": \"db.a\", \"to\": \"db.b\"}"),
                 -ERR_NAMESPACE_EXISTS);
    CHECK_EQ_INT(run(cmd_rename_collection, "{\"renameCollection\": \"db.a\", \"to\": \"db.c\"}"), 0);
    CHECK_EQ_INT(count_docs("c", "{\"_id\": 1}"), 1);
    CHECK_EQ_INT(count_docs("a", "{}"), 0);
    CHECK_EQ_INT(run(cmd_rename_collection, "{\"renameCollection\": \"db.c\", \"to\": \"db.b\", \"dropTarget\": true}"),
                 0);
    CHECK_EQ_INT(count_docs("b", "{\"_id\": 1}"), 1);
    CHECK_EQ_INT(count_docs("b", "{\"_id\": 2}"), 0);
    teardown();
}

TEST(create_indexes_reports_counts_and_requires_names)
{
    setup();
    CHECK_EQ_INT(run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}}]}"),
                 -ERR_FAILED_TO_PARSE);
    CHECK_EQ_STR(last_err.msg, "Error in specification { key: { a: 1 } } :: caused by :: The 'name' field is a "
                               "required property of an index specification");
    CHECK_EQ_INT(run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}, \"name\": "
                                         "\"a_1\"}, {\"key\": {\"b\": -1}, \"name\": \"b_-1\", \"unique\": true}]}"),
                 0);
    CHECK_EQ_INT(reply_int("numIndexesBefore"), 1);
    CHECK_EQ_INT(reply_int("numIndexesAfter"), 3);
    CHECK_EQ_INT(reply_int("createdCollectionAutomatically"), 1);
    CHECK(!reply_has("note"));
    CHECK_EQ_INT(run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}, \"name\": "
                                         "\"a_1\"}]}"),
                 0);
    CHECK_EQ_INT(reply_int("numIndexesAfter"), 3);
    CHECK(reply_has("note"));
    CHECK_EQ_INT(run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"t\": \"text\"}, "
                                         "\"name\": \"t\"}]}"),
                 -ERR_NOT_IMPLEMENTED);
    CHECK_EQ_INT(run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"t\": true}, "
                                         "\"name\": \"t\"}]}"),
                 -ERR_CANNOT_CREATE_INDEX);
    teardown();
}

TEST(a_failed_unique_build_leaves_no_index_from_the_same_command)
{
    setup();
    run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"a\": 1, \"b\": 1}, {\"a\": 2, \"b\": 1}]}");
    CHECK_EQ_INT(run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}, \"name\": "
                                         "\"a_1\"}, {\"key\": {\"b\": 1}, \"name\": \"b_1\", \"unique\": true}]}"),
                 -ERR_DUPLICATE_KEY);
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"c\", \"index\": \"a_1\"}"), -ERR_INDEX_NOT_FOUND);
    teardown();
}

TEST(unique_index_violations_on_insert_and_update_are_write_errors)
{
    setup();
    run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"u\": 1}, \"name\": \"u_1\", "
                            "\"unique\": true}]}");
    run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 1, \"u\": 1}, {\"_id\": 2, \"u\": 2}]}");
    CHECK_EQ_INT(run(cmd_insert, "{\"insert\": \"c\", \"documents\": [{\"_id\": 3, \"u\": 1}]}"), 0);
    CHECK_EQ_INT(reply_int("writeErrors.0.code"), 11000);
    CHECK_EQ_INT(reply_int("writeErrors.0.keyValue.u"), 1);
    CHECK_EQ_INT(run(cmd_update, "{\"update\": \"c\", \"updates\": [{\"q\": {\"_id\": 2}, \"u\": {\"$set\": "
                                 "{\"u\": 1}}}]}"),
                 0);
    CHECK_EQ_INT(reply_int("writeErrors.0.code"), 11000);
    CHECK_EQ_INT(reply_int("nModified"), 0);
    CHECK_EQ_INT(count_docs("c", "{\"u\": 2}"), 1);
    teardown();
}

TEST(drop_indexes_by_name_key_list_and_star)
{
    setup();
    run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}, \"name\": \"a_1\"}, "
                            "{\"key\": {\"b\": 1}, \"name\": \"b_1\"}, {\"key\": {\"d\": 1}, \"name\": \"d_1\"}, "
                            "{\"key\": {\"e\": 1}, \"name\": \"e_1\"}]}");
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"c\", \"index\": \"_id_\"}"), -ERR_INVALID_OPTIONS);
    CHECK_EQ_STR(last_err.msg, "cannot drop _id index");
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"c\", \"index\": \"zz\"}"), -ERR_INDEX_NOT_FOUND);
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"c\", \"index\": \"a_1\"}"), 0);
    CHECK_EQ_INT(reply_int("nIndexesWas"), 5);
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"c\", \"index\": {\"b\": 1}}"), 0);
    CHECK_EQ_INT(reply_int("nIndexesWas"), 4);
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"c\", \"index\": [\"d_1\", \"e_1\"]}"), 0);
    CHECK_EQ_INT(reply_int("nIndexesWas"), 3);
    run(cmd_create_indexes, "{\"createIndexes\": \"c\", \"indexes\": [{\"key\": {\"a\": 1}, \"name\": \"a_1\"}]}");
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"c\", \"index\": \"*\"}"), 0);
    CHECK_EQ_INT(reply_int("nIndexesWas"), 2);
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"c\", \"index\": \"*\"}"), 0);
    CHECK_EQ_INT(reply_int("nIndexesWas"), 1);
    CHECK_EQ_INT(run(cmd_drop_indexes, "{\"dropIndexes\": \"zz\", \"index\": \"*\"}"), -ERR_NAMESPACE_NOT_FOUND);
    teardown();
}

int main(void)
{
    RUN(insert_creates_the_collection_and_counts_documents);
    RUN(ordered_insert_stops_at_the_first_duplicate_key);
    RUN(unordered_insert_continues_after_errors);
    RUN(insert_rejects_empty_batches_system_collections_and_non_documents);
    RUN(update_counts_matches_and_real_modifications);
    RUN(multi_update_on_an_indexed_field_changes_each_document_once);
    RUN(upsert_inserts_and_reports_the_new_id);
    RUN(update_statement_errors_become_write_errors);
    RUN(update_on_a_missing_collection_matches_nothing);
    RUN(delete_honours_limit_and_rejects_other_limits);
    RUN(create_checks_options_and_existing_collections);
    RUN(drop_reports_indexes_and_missing_namespaces);
    RUN(rename_moves_the_collection_and_checks_both_names);
    RUN(create_indexes_reports_counts_and_requires_names);
    RUN(a_failed_unique_build_leaves_no_index_from_the_same_command);
    RUN(unique_index_violations_on_insert_and_update_are_write_errors);
    RUN(drop_indexes_by_name_key_list_and_star);
    return test_report();
}
