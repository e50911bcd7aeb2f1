/* test_write_common.c - document validation, _id placement, statement checks
 * and the writeErrors accumulator of the write commands (write_common.c). */
#include "cmd/write_common.h"
#include "testhelp.h"

static bson_t *json(const char *s)
{
    bson_error_t error;
    bson_t *b = bson_new_from_json((const uint8_t *)s, -1, &error);
    if (b == NULL)
        fprintf(stderr, "bad test json %s: %s\n", s, error.message);
    return b;
}

static const char *first_key(const bson_t *b)
{
    static char key[64];
    bson_iter_t it;
    if (!bson_iter_init(&it, b) || !bson_iter_next(&it))
        return "";
    snprintf(key, sizeof key, "%s", bson_iter_key(&it));
    return key;
}

static int prepare(const char *doc_json, bson_t *out, struct err *e)
{
    bson_t *doc = json(doc_json);
    int rc = write_doc_prepare_insert(doc, out, e);
    bson_destroy(doc);
    return rc;
}

TEST(insert_generates_an_objectid_id_first_when_missing)
{
    struct err e;
    bson_t out;
    bson_iter_t it;

    err_init(&e);
    CHECK_EQ_INT(prepare("{\"a\": 1, \"b\": \"x\"}", &out, &e), 0);
    CHECK_EQ_STR(first_key(&out), "_id");
    CHECK(bson_iter_init_find(&it, &out, "_id") && BSON_ITER_HOLDS_OID(&it));
    CHECK_EQ_INT(bson_count_keys(&out), 3);
    CHECK(bson_iter_init_find(&it, &out, "b") && strcmp(bson_iter_utf8(&it, NULL), "x") == 0);
    bson_destroy(&out);
    err_clear(&e);
}

TEST(insert_moves_a_late_id_to_the_front_and_keeps_field_order)
{
    struct err e;
    bson_t out;
    bson_iter_t it;

    err_init(&e);
    CHECK_EQ_INT(prepare("{\"a\": 1, \"_id\": 7, \"c\": 3}", &out, &e), 0);
    bson_iter_init(&it, &out);
    CHECK(bson_iter_next(&it) && strcmp(bson_iter_key(&it), "_id") == 0 && bson_iter_int32(&it) == 7);
    CHECK(bson_iter_next(&it) && strcmp(bson_iter_key(&it), "a") == 0);
    CHECK(bson_iter_next(&it) && strcmp(bson_iter_key(&it), "c") == 0);
    CHECK(!bson_iter_next(&it));
    bson_destroy(&out);
    err_clear(&e);
}

TEST(insert_keeps_only_the_first_of_duplicate_id_fields)
{
    struct err e;
    bson_t out, in = BSON_INITIALIZER;
    bson_iter_t it;

    err_init(&e);
    BSON_APPEND_INT32(&in, "_id", 1);
    BSON_APPEND_INT32(&in, "_id", 2);
    CHECK_EQ_INT(write_doc_prepare_insert(&in, &out, &e), 0);
    CHECK_EQ_INT(bson_count_keys(&out), 1);
    CHECK(bson_iter_init_find(&it, &out, "_id") && bson_iter_int32(&it) == 1);
    bson_destroy(&out);
    bson_destroy(&in);
    err_clear(&e);
}

TEST(insert_accepts_an_existing_id_of_any_storable_type)
{
    struct err e;
    bson_t out;

    err_init(&e);
    CHECK_EQ_INT(prepare("{\"_id\": {\"a\": 1, \"b\": [1, 2]}, \"x\": 1}", &out, &e), 0);
    bson_destroy(&out);
    CHECK_EQ_INT(prepare("{\"_id\": null}", &out, &e), 0);
    bson_destroy(&out);
    CHECK_EQ_INT(prepare("{\"_id\": \"s\", \"\": 1}", &out, &e), 0); /* empty names are allowed */
    bson_destroy(&out);
    err_clear(&e);
}

TEST(insert_refuses_an_array_id_with_invalid_id_field)
{
    struct err e;
    bson_t out;

    err_init(&e);
    CHECK_EQ_INT(prepare("{\"_id\": [1, 2]}", &out, &e), -ERR_INVALID_ID_FIELD);
    CHECK_EQ_STR(e.msg, "The '_id' value cannot be of type array");
    err_clear(&e);
}

TEST(insert_refuses_regex_and_undefined_ids)
{
    struct err e;
    bson_t out;

    err_init(&e);
    CHECK_EQ_INT(prepare("{\"_id\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}}", &out, &e),
                 -ERR_INVALID_ID_FIELD);
    CHECK_EQ_STR(e.msg, "The '_id' value cannot be of type regex");
    CHECK_EQ_INT(prepare("{\"_id\": {\"$undefined\": true}}", &out, &e), -ERR_INVALID_ID_FIELD);
    CHECK_EQ_STR(e.msg, "The '_id' value cannot be of type undefined");
    err_clear(&e);
}

TEST(insert_refuses_an_id_document_with_dollar_fields)
{
    struct err e;
    bson_t out;

    err_init(&e);
    CHECK_EQ_INT(prepare("{\"_id\": {\"$gt\": 1}}", &out, &e), -ERR_DOLLAR_PREFIXED_FIELD_NAME);
    CHECK(strstr(e.msg, "$gt") != NULL);
    err_clear(&e);
}

TEST(insert_refuses_top_level_dollar_field_names)
{
    struct err e;
    bson_t out;

    err_init(&e);
    CHECK_EQ_INT(prepare("{\"a\": 1, \"$set\": {\"b\": 1}}", &out, &e), -ERR_DOLLAR_PREFIXED_FIELD_NAME);
    CHECK_EQ_STR(e.msg, "Document can't have $ prefixed field names: $set");
    CHECK_EQ_INT(e.code, 52);
    err_clear(&e);
}

TEST(insert_allows_dollar_names_below_the_top_level)
{
    struct err e;
    bson_t out;

    err_init(&e);
    CHECK_EQ_INT(prepare("{\"a\": {\"$x\": 1}}", &out, &e), 0);
    bson_destroy(&out);
    err_clear(&e);
}

static bson_t *nested(int levels)
{
    /* levels counts the root: 1 = {}, 2 = {a: {}}, ... */
    bson_t *docs = calloc((size_t)levels, sizeof *docs);
    bson_t *root;

    bson_init(&docs[levels - 1]);
    for (int i = levels - 2; i >= 0; i--) {
        bson_init(&docs[i]);
        BSON_APPEND_DOCUMENT(&docs[i], "a", &docs[i + 1]);
    }
    root = bson_copy(&docs[0]);
    for (int i = 0; i < levels; i++)
        bson_destroy(&docs[i]);
    free(docs);
    return root;
}

TEST(insert_accepts_100_levels_and_refuses_101_with_overflow)
{
    struct err e;
    bson_t out;
    bson_t *ok = nested(WRITE_MAX_DEPTH), *deep = nested(WRITE_MAX_DEPTH + 1);

    err_init(&e);
    CHECK_EQ_INT(write_doc_prepare_insert(ok, &out, &e), 0);
    bson_destroy(&out);
    CHECK_EQ_INT(write_doc_prepare_insert(deep, &out, &e), -ERR_OVERFLOW);
    CHECK_EQ_STR(e.msg, "cannot insert document because it exceeds 100 levels of nesting");
    bson_destroy(ok);
    bson_destroy(deep);
    err_clear(&e);
}

TEST(insert_refuses_documents_over_16_mib)
{
    struct err e;
    bson_t out, big = BSON_INITIALIZER;
    size_t n = WRITE_MAX_BSON_BYTES;
    char *s = malloc(n);

    err_init(&e);
    memset(s, 'x', n - 1);
    s[n - 1] = '\0';
    BSON_APPEND_UTF8(&big, "s", s);
    CHECK_EQ_INT(write_doc_prepare_insert(&big, &out, &e), -ERR_BSON_OBJECT_TOO_LARGE);
    CHECK(strncmp(e.msg, "object to insert too large. size in bytes: ", 43) == 0);
    CHECK(strstr(e.msg, "max size: 16777216") != NULL);
    bson_destroy(&big);
    free(s);
    err_clear(&e);
}

TEST(insert_refuses_malformed_bson_without_reading_past_it)
{
    struct err e;
    bson_t out, bad;
    /* Declares an int64 element but the document ends early. */
    static const uint8_t bytes[] = {12, 0, 0, 0, 0x12, 'a', 0, 1, 0, 0, 0, 0};
    static const uint8_t bad_type[] = {12, 0, 0, 0, 0x7e, 'a', 0, 1, 0, 0, 0, 0};

    err_init(&e);
    CHECK(bson_init_static(&bad, bytes, sizeof bytes));
    CHECK_EQ_INT(write_doc_prepare_insert(&bad, &out, &e), -ERR_INVALID_BSON);
    CHECK(bson_init_static(&bad, bad_type, sizeof bad_type));
    CHECK_EQ_INT(write_doc_prepare_insert(&bad, &out, &e), -ERR_INVALID_BSON);
    err_clear(&e);
}

TEST(updated_documents_are_checked_for_id_and_size)
{
    struct err e;
    bson_t *good = json("{\"_id\": 1, \"a\": [1, 2]}"), *bad_id = json("{\"_id\": [1]}");

    err_init(&e);
    CHECK_EQ_INT(write_doc_check_updated(good, &e), 0);
    CHECK_EQ_INT(write_doc_check_updated(bad_id, &e), -ERR_INVALID_ID_FIELD);
    bson_destroy(good);
    bson_destroy(bad_id);
    err_clear(&e);
}

TEST(batch_size_must_be_between_1_and_100000)
{
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(write_check_batch_size(1, &e), 0);
    CHECK_EQ_INT(write_check_batch_size(100000, &e), 0);
    CHECK_EQ_INT(write_check_batch_size(0, &e), -ERR_INVALID_LENGTH);
    CHECK_EQ_INT(write_check_batch_size(100001, &e), -ERR_INVALID_LENGTH);
    CHECK_EQ_STR(e.msg, "Write batch sizes must be between 1 and 100000. Got 100001 operations.");
    err_clear(&e);
}

TEST(system_collections_are_not_writable)
{
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(write_check_ns_writable("db", "users", &e), 0);
    CHECK_EQ_INT(write_check_ns_writable("local", "things", &e), 0);
    CHECK_EQ_INT(write_check_ns_writable("db", "system.views", &e), -ERR_INVALID_NAMESPACE);
    CHECK_EQ_STR(e.msg, "cannot write to 'db.system.views'");
    err_clear(&e);
}

TEST(collation_is_accepted_only_when_simple)
{
    struct err e;
    bson_t *simple = json("{\"c\": {\"locale\": \"simple\"}}"), *fr = json("{\"c\": {\"locale\": \"fr\"}}");
    bson_iter_t it;

    err_init(&e);
    CHECK_EQ_INT(write_check_collation(NULL, &e), 0);
    bson_iter_init_find(&it, simple, "c");
    CHECK_EQ_INT(write_check_collation(bson_iter_value(&it), &e), 0);
    bson_iter_init_find(&it, fr, "c");
    CHECK_EQ_INT(write_check_collation(bson_iter_value(&it), &e), -ERR_NOT_IMPLEMENTED);
    bson_destroy(simple);
    bson_destroy(fr);
    err_clear(&e);
}

static struct cmd_request test_req;

static void ctx_for(struct cmd_ctx *ctx, const char *body_json)
{
    bson_t *b = json(body_json);
    bson_iter_t it;

    memset(&test_req, 0, sizeof test_req);
    bson_init(&test_req.body);
    bson_concat(&test_req.body, b);
    bson_destroy(b);
    bson_iter_init(&it, &test_req.body);
    bson_iter_next(&it);
    test_req.name = bson_iter_key(&it);
    test_req.db = "db";
    memset(ctx, 0, sizeof *ctx);
    ctx->req = &test_req;
    err_init(&ctx->err);
}

TEST(statements_must_be_a_present_array_of_documents)
{
    struct cmd_ctx ctx;
    bson_t arr;
    int64_t n = -1;

    ctx_for(&ctx, "{\"insert\": \"c\", \"documents\": [{\"a\": 1}, {\"b\": 2}]}");
    CHECK_EQ_INT(write_get_statements(&ctx, "documents", &arr, &n), 0);
    CHECK_EQ_INT(n, 2);
    bson_destroy(&test_req.body);

    ctx_for(&ctx, "{\"insert\": \"c\"}");
    CHECK_EQ_INT(write_get_statements(&ctx, "documents", &arr, &n), -ERR_MISSING_FIELD);
    CHECK_EQ_STR(ctx.err.msg, "BSON field 'insert.documents' is missing but a required field");
    bson_destroy(&test_req.body);

    ctx_for(&ctx, "{\"insert\": \"c\", \"documents\": [{\"a\": 1}, 5]}");
    CHECK_EQ_INT(write_get_statements(&ctx, "documents", &arr, &n), -ERR_TYPE_MISMATCH);
    CHECK_EQ_STR(ctx.err.msg, "BSON field 'insert.documents.1' is the wrong type 'int', expected type 'object'");
    bson_destroy(&test_req.body);

    ctx_for(&ctx, "{\"insert\": \"c\", \"documents\": {\"a\": 1}}");
    CHECK_EQ_INT(write_get_statements(&ctx, "documents", &arr, &n), -ERR_TYPE_MISMATCH);
    bson_destroy(&test_req.body);
    err_clear(&ctx.err);
}

TEST(unknown_statement_fields_are_named_in_the_error)
{
    static const char *const allowed[] = {"q", "limit", NULL};
    struct cmd_ctx ctx;
    bson_t *ok = json("{\"q\": {}, \"limit\": 1}"), *bad = json("{\"q\": {}, \"limitt\": 1}");

    ctx_for(&ctx, "{\"delete\": \"c\"}");
    CHECK_EQ_INT(write_check_stmt_fields(&ctx, "deletes", ok, allowed), 0);
    CHECK_EQ_INT(write_check_stmt_fields(&ctx, "deletes", bad, allowed), -ERR_UNKNOWN_FIELD);
    CHECK_EQ_STR(ctx.err.msg, "BSON field 'delete.deletes.limitt' is an unknown field.");
    bson_destroy(ok);
    bson_destroy(bad);
    bson_destroy(&test_req.body);
    err_clear(&ctx.err);
}

TEST(write_result_builds_mongod_reply_with_write_errors_and_upserts)
{
    struct write_result r;
    struct err e;
    bson_t reply = BSON_INITIALIZER;
    bson_value_t id;
    bson_iter_t it, sub;
    char *s;

    write_result_init(&r);
    r.n = 2;
    r.n_modified = 1;
    id.value_type = BSON_TYPE_INT32;
    id.value.v_int32 = 42;
    write_result_add_upserted(&r, 3, &id);
    err_init(&e);
    err_set(&e, ERR_DUPLICATE_KEY, "E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1 }");
    BSON_APPEND_INT32(err_info(&e), "keyPattern", 1);
    write_result_add_error(&r, 4, &e);
    write_result_append_reply(&r, &reply, true);

    s = bson_as_relaxed_extended_json(&reply, NULL);
    CHECK_EQ_STR(s, "{ \"n\" : 2, \"nModified\" : 1, \"upserted\" : [ { \"index\" : 3, \"_id\" : 42 } ], "
                    "\"writeErrors\" : [ { \"index\" : 4, \"code\" : 11000, \"keyPattern\" : 1, \"errmsg\" : "
                    "\"E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1 }\" } ] }");
    bson_free(s);
    CHECK(bson_iter_init_find(&it, &reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it));
    CHECK(bson_iter_recurse(&it, &sub) && bson_iter_next(&sub) && strcmp(bson_iter_key(&sub), "0") == 0);
    bson_destroy(&reply);
    write_result_destroy(&r);
    err_clear(&e);
}

TEST(write_result_for_inserts_omits_update_fields_and_empty_errors)
{
    struct write_result r;
    bson_t reply = BSON_INITIALIZER;
    char *s;

    write_result_init(&r);
    r.n = 5;
    write_result_append_reply(&r, &reply, false);
    s = bson_as_relaxed_extended_json(&reply, NULL);
    CHECK_EQ_STR(s, "{ \"n\" : 5 }");
    bson_free(s);
    bson_destroy(&reply);
    write_result_destroy(&r);
}

TEST(documents_are_formatted_like_mongod_messages)
{
    char buf[128], small[16];
    bson_t *d = json("{\"key\": {\"a\": 1, \"b\": -1}, \"name\": \"a_1\", \"arr\": [1, true, null], \"e\": {}}");

    CHECK_EQ_STR(write_format_doc(d, buf, sizeof buf),
                 "{ key: { a: 1, b: -1 }, name: \"a_1\", arr: [ 1, true, null ], e: {} }");
    write_format_doc(d, small, sizeof small);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
    CHECK(strcmp(small + sizeof small - 4, "...") == 0);
    bson_destroy(d);
}

int main(void)
{
    RUN(insert_generates_an_objectid_id_first_when_missing);
    RUN(insert_moves_a_late_id_to_the_front_and_keeps_field_order);
    RUN(insert_keeps_only_the_first_of_duplicate_id_fields);
    RUN(insert_accepts_an_existing_id_of_any_storable_type);
    RUN(insert_refuses_an_array_id_with_invalid_id_field);
    RUN(insert_refuses_regex_and_undefined_ids);
    RUN(insert_refuses_an_id_document_with_dollar_fields);
    RUN(insert_refuses_top_level_dollar_field_names);
    RUN(insert_allows_dollar_names_below_the_top_level);
    RUN(insert_accepts_100_levels_and_refuses_101_with_overflow);
    RUN(insert_refuses_documents_over_16_mib);
    RUN(insert_refuses_malformed_bson_without_reading_past_it);
    RUN(updated_documents_are_checked_for_id_and_size);
    RUN(batch_size_must_be_between_1_and_100000);
    RUN(system_collections_are_not_writable);
    RUN(collation_is_accepted_only_when_simple);
    RUN(statements_must_be_a_present_array_of_documents);
    RUN(unknown_statement_fields_are_named_in_the_error);
    RUN(write_result_builds_mongod_reply_with_write_errors_and_upserts);
    RUN(write_result_for_inserts_omits_update_fields_and_empty_errors);
    RUN(documents_are_formatted_like_mongod_messages);
    return test_report();
}
