/* test_match.c - the filter language against MongoDB's documented semantics. */
#include "query/match.h"

#include "testhelp.h"

/* libbson's JSON reader takes {"$TYPE": ...} for legacy binary, so tests
 * write "$TYPE" and this copy renames it. */
static void copy_renaming(const bson_t *src, bson_t *dst)
{
    bson_iter_t it;
    bson_iter_init(&it, src);
    while (bson_iter_next(&it)) {
        const char *k = strcmp(bson_iter_key(&it), "$TYPE") == 0 ? "$type" : bson_iter_key(&it);
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            const bson_value_t *v = bson_iter_value(&it);
            bson_t sub, child;
            bson_init_static(&sub, v->value.v_doc.data, v->value.v_doc.data_len);
            if (BSON_ITER_HOLDS_ARRAY(&it))
                bson_append_array_begin(dst, k, -1, &child);
            else
                bson_append_document_begin(dst, k, -1, &child);
            copy_renaming(&sub, &child);
            if (BSON_ITER_HOLDS_ARRAY(&it))
                bson_append_array_end(dst, &child);
            else
                bson_append_document_end(dst, &child);
        } else {
            bson_append_value(dst, k, -1, bson_iter_value(&it));
        }
    }
}

static bson_t *json(const char *s)
{
    bson_error_t error;
    bson_t *b = bson_new_from_json((const uint8_t *)s, -1, &error);
    if (!b) {
        fprintf(stderr, "  bad json %s: %s\n", s, error.message);
        exit(2);
    }
    bson_t *out = bson_new();
    copy_renaming(b, out);
    bson_destroy(b);
    return out;
}

/* 1 match, 0 no match, negative error code. */
static int run(const char *filter, const char *doc)
{
    bson_t *f = json(filter), *d = json(doc);
    struct matcher *m;
    struct err e;
    err_init(&e);
    int rc = matcher_create(f, &m, &e);
    if (rc == 0) {
        rc = matcher_match(m, d) ? 1 : 0;
        matcher_destroy(m);
    }
    err_clear(&e);
    bson_destroy(f);
    bson_destroy(d);
    return rc;
}

#define M(filter, doc) CHECK_EQ_INT(run(filter, doc), 1)
#define N(filter, doc) CHECK_EQ_INT(run(filter, doc), 0)

static int create_error(const char *filter, char *msg, size_t msg_len)
{
    bson_t *f = json(filter);
    struct matcher *m = NULL;
    struct err e;
    err_init(&e);
    int rc = matcher_create(f, &m, &e);
    if (rc == 0)
        matcher_destroy(m);
    snprintf(msg, msg_len, "%s", e.msg);
    err_clear(&e);
    bson_destroy(f);
    return rc;
}

TEST(empty_filter_matches_everything)
{
    M("{}", "{\"a\": 1}");
    M("{}", "{}");
}

TEST(equality_matches_scalars_array_elements_and_whole_arrays)
{
    M("{\"a\": 2}", "{\"a\": 2}");
    M("{\"a\": 2}", "{\"a\": 2.0}");
    M("{\"a\": 2}", "{\"a\": [1, 2]}");
    N("{\"a\": 3}", "{\"a\": [1, 2]}");
    M("{\"a\": [1, 2]}", "{\"a\": [1, 2]}");
    M("{\"a\": [1, 2]}", "{\"a\": [[1, 2], 3]}");
    N("{\"a\": [1, 2]}", "{\"a\": [2, 1]}");
    N("{\"a\": \"2\"}", "{\"a\": 2}");
    M("{\"a\": {\"b\": 1}}", "{\"a\": {\"b\": 1}}");
    N("{\"a\": {\"b\": 1}}", "{\"a\": {\"b\": 1, \"c\": 2}}");
    M("{\"a\": {\"$eq\": 5}}", "{\"a\": [4, 5]}");
}

TEST(null_matches_null_and_missing_but_not_empty_arrays)
{
    M("{\"a\": null}", "{\"a\": null}");
    M("{\"a\": null}", "{\"b\": 1}");
    M("{\"a\": null}", "{\"a\": [1, null]}");
    N("{\"a\": null}", "{\"a\": []}");
    N("{\"a\": null}", "{\"a\": 0}");
    M("{\"a.b\": null}", "{\"a\": [{\"b\": 1}, {\"c\": 1}]}");
    N("{\"a.b\": null}", "{\"a\": [{\"b\": 1}]}");
    M("{\"a\": {\"$ne\": null}}", "{\"a\": 1}");
    N("{\"a\": {\"$ne\": null}}", "{\"b\": 1}");
    M("{\"a\": {\"$gte\": null}}", "{}");
    N("{\"a\": {\"$gt\": null}}", "{}");
}

TEST(comparisons_respect_type_bracketing)
{
    M("{\"a\": {\"$gt\": 5}}", "{\"a\": 6}");
    N("{\"a\": {\"$gt\": 5}}", "{\"a\": \"6\"}");
    N("{\"a\": {\"$gt\": 5}}", "{\"a\": 5}");
    M("{\"a\": {\"$gte\": 5}}", "{\"a\": 5}");
    M("{\"a\": {\"$lt\": 5}}", "{\"a\": [9, 4]}");
    N("{\"a\": {\"$lt\": 5}}", "{\"a\": [9, \"a\"]}");
    M("{\"a\": {\"$lte\": \"b\"}}", "{\"a\": \"abc\"}");
    N("{\"a\": {\"$lt\": 5}}", "{}");
    M("{\"a\": {\"$gt\": {\"$minKey\": 1}}}", "{\"a\": \"x\"}");
    M("{\"a\": {\"$lt\": {\"$date\": {\"$numberLong\": \"10\"}}}}", "{\"a\": {\"$date\": {\"$numberLong\": \"5\"}}}");
    N("{\"a\": {\"$lt\": {\"$date\": {\"$numberLong\": \"10\"}}}}", "{\"a\": 5}");
    M("{\"a\": {\"$gt\": {\"$numberLong\": \"9007199254740992\"}}}", "{\"a\": {\"$numberLong\": \"9007199254740993\"}}");
}

TEST(range_conditions_may_be_satisfied_by_different_array_elements)
{
    M("{\"a\": {\"$gt\": 5, \"$lt\": 3}}", "{\"a\": [1, 10]}");
    N("{\"a\": {\"$elemMatch\": {\"$gt\": 5, \"$lt\": 3}}}", "{\"a\": [1, 10]}");
    M("{\"a\": {\"$elemMatch\": {\"$gt\": 5, \"$lt\": 13}}}", "{\"a\": [1, 10]}");
}

TEST(nan_equals_only_nan)
{
    M("{\"a\": {\"$numberDouble\": \"NaN\"}}", "{\"a\": {\"$numberDouble\": \"NaN\"}}");
    N("{\"a\": {\"$lt\": 0}}", "{\"a\": {\"$numberDouble\": \"NaN\"}}");
    N("{\"a\": {\"$gt\": {\"$numberDouble\": \"NaN\"}}}", "{\"a\": 1}");
    M("{\"a\": {\"$gte\": {\"$numberDouble\": \"NaN\"}}}", "{\"a\": {\"$numberDouble\": \"NaN\"}}");
}

TEST(in_and_nin_handle_arrays_null_and_regexes)
{
    M("{\"a\": {\"$in\": [1, 2]}}", "{\"a\": 2}");
    M("{\"a\": {\"$in\": [1, 2]}}", "{\"a\": [5, 1]}");
    N("{\"a\": {\"$in\": []}}", "{\"a\": 1}");
    M("{\"a\": {\"$in\": [null]}}", "{}");
    M("{\"a\": {\"$in\": [{\"$regularExpression\": {\"pattern\": \"^x\", \"options\": \"\"}}]}}",
      "{\"a\": \"xyz\"}");
    N("{\"a\": {\"$nin\": [1, 2]}}", "{\"a\": [3, 2]}");
    M("{\"a\": {\"$nin\": [1, 2]}}", "{\"a\": [3, 4]}");
    M("{\"a\": {\"$nin\": [1]}}", "{}");
    N("{\"a\": {\"$nin\": [null]}}", "{}");
    N("{\"a\": {\"$ne\": 2}}", "{\"a\": [1, 2]}");
    M("{\"a\": {\"$ne\": 3}}", "{\"a\": [1, 2]}");
}

TEST(logical_operators_combine_conditions)
{
    M("{\"$or\": [{\"a\": 1}, {\"b\": 2}]}", "{\"b\": 2}");
    N("{\"$or\": [{\"a\": 1}, {\"b\": 2}]}", "{\"b\": 3}");
    M("{\"$and\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1, \"b\": 2}");
    N("{\"$and\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1}");
    M("{\"$nor\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 2}");
    N("{\"$nor\": [{\"a\": 1}, {\"b\": 2}]}", "{\"a\": 1}");
    M("{\"a\": {\"$not\": {\"$gt\": 5}}}", "{\"a\": 3}");
    M("{\"a\": {\"$not\": {\"$gt\": 5}}}", "{\"a\": \"x\"}");
    M("{\"a\": {\"$not\": {\"$gt\": 5}}}", "{}");
    N("{\"a\": {\"$not\": {\"$gt\": 5}}}", "{\"a\": 6}");
    N("{\"a\": {\"$not\": {\"$regularExpression\": {\"pattern\": \"^x\", \"options\": \"\"}}}}", "{\"a\": \"xy\"}");
    M("{\"a\": 1, \"$comment\": \"hi\"}", "{\"a\": 1}");
}

TEST(exists_and_type_check_presence_and_bson_types)
{
    M("{\"a\": {\"$exists\": true}}", "{\"a\": null}");
    N("{\"a\": {\"$exists\": true}}", "{\"b\": 1}");
    M("{\"a\": {\"$exists\": false}}", "{\"b\": 1}");
    M("{\"a.b\": {\"$exists\": true}}", "{\"a\": [{\"c\": 1}, {\"b\": 2}]}");
    N("{\"a.b\": {\"$exists\": true}}", "{\"a\": [1, 2]}");
    M("{\"a\": {\"$exists\": 1}}", "{\"a\": 0}");
    M("{\"a\": {\"$TYPE\": \"string\"}}", "{\"a\": \"x\"}");
    M("{\"a\": {\"$TYPE\": 2}}", "{\"a\": [1, \"x\"]}");
    M("{\"a\": {\"$TYPE\": \"number\"}}", "{\"a\": {\"$numberLong\": \"3\"}}");
    M("{\"a\": {\"$TYPE\": \"array\"}}", "{\"a\": []}");
    N("{\"a\": {\"$TYPE\": \"array\"}}", "{\"a\": 1}");
    M("{\"a\": {\"$TYPE\": [\"int\", \"string\"]}}", "{\"a\": \"s\"}");
    N("{\"a\": {\"$TYPE\": \"double\"}}", "{\"a\": 1}");
    M("{\"a\": {\"$TYPE\": \"null\"}}", "{\"a\": null}");
    N("{\"a\": {\"$TYPE\": \"null\"}}", "{}");
    M("{\"a\": {\"$TYPE\": -1}}", "{\"a\": {\"$minKey\": 1}}");
}

TEST(all_size_and_elem_match_work_on_arrays)
{
    M("{\"a\": {\"$all\": [1, 2]}}", "{\"a\": [2, 3, 1]}");
    N("{\"a\": {\"$all\": [1, 2]}}", "{\"a\": [2, 3]}");
    N("{\"a\": {\"$all\": []}}", "{\"a\": [1]}");
    M("{\"a\": {\"$all\": [1]}}", "{\"a\": 1}");
    M("{\"a\": {\"$all\": [{\"$elemMatch\": {\"b\": 1}}]}}", "{\"a\": [{\"b\": 1}]}");
    M("{\"a\": {\"$size\": 2}}", "{\"a\": [1, [2, 3]]}");
    N("{\"a\": {\"$size\": 2}}", "{\"a\": [1]}");
    N("{\"a\": {\"$size\": 0}}", "{}");
    M("{\"a\": {\"$size\": 0}}", "{\"a\": []}");
    M("{\"a\": {\"$elemMatch\": {\"b\": 1, \"c\": {\"$gt\": 1}}}}", "{\"a\": [{\"b\": 1, \"c\": 0}, {\"b\": 1, \"c\": 5}]}");
    N("{\"a\": {\"$elemMatch\": {\"b\": 1, \"c\": {\"$gt\": 1}}}}", "{\"a\": [{\"b\": 1, \"c\": 0}, {\"b\": 2, \"c\": 5}]}");
    N("{\"a\": {\"$elemMatch\": {\"b\": 1}}}", "{\"a\": {\"b\": 1}}");
    M("{\"a\": {\"$elemMatch\": {\"$in\": [3, 4]}}}", "{\"a\": [1, 4]}");
    M("{\"a\": {\"$elemMatch\": {\"$not\": {\"$gt\": 3}}}}", "{\"a\": [5, 2]}");
    M("{\"a.b\": {\"$elemMatch\": {\"$eq\": 2}}}", "{\"a\": [{\"b\": [1, 2]}]}");
}

TEST(regex_matches_strings_and_array_elements_with_options)
{
    M("{\"a\": {\"$regex\": \"^ab\"}}", "{\"a\": \"abc\"}");
    N("{\"a\": {\"$regex\": \"^ab\"}}", "{\"a\": \"ABC\"}");
    M("{\"a\": {\"$regex\": \"^ab\", \"$options\": \"i\"}}", "{\"a\": \"ABC\"}");
    M("{\"a\": {\"$regularExpression\": {\"pattern\": \"b$\", \"options\": \"m\"}}}", "{\"a\": \"ab\\ncd\"}");
    N("{\"a\": {\"$regex\": \"b$\"}}", "{\"a\": \"ab\\ncd\"}");
    M("{\"a\": {\"$regex\": \"a.c\", \"$options\": \"s\"}}", "{\"a\": \"a\\nc\"}");
    M("{\"a\": {\"$regex\": \"a b # comment\", \"$options\": \"x\"}}", "{\"a\": \"ab\"}");
    M("{\"a\": {\"$regex\": \"z\"}}", "{\"a\": [\"x\", \"yz\"]}");
    N("{\"a\": {\"$regex\": \"1\"}}", "{\"a\": 1}");
    M("{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}",
      "{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}");
    M("{\"a\": {\"$regex\": \"é\"}}", "{\"a\": \"café\"}");
}

TEST(regex_operator_accepts_a_bson_regex_value)
{
    bson_t *f = BCON_NEW("a", "{", "$regex", BCON_REGEX("^A", "i"), "}");
    bson_t *d = BCON_NEW("a", BCON_UTF8("abc"));
    struct matcher *m;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    CHECK(matcher_match(m, d));
    matcher_destroy(m);
    bson_destroy(f);
    f = BCON_NEW("a", "{", "$regex", BCON_REGEX("^A", "i"), "$options", BCON_UTF8("m"), "}");
    CHECK_EQ_INT(matcher_create(f, &m, &e), -ERR_BAD_VALUE);
    bson_destroy(f);
    f = BCON_NEW("a", "{", "$options", BCON_UTF8("i"), "}");
    CHECK_EQ_INT(matcher_create(f, &m, &e), -ERR_BAD_VALUE);
    CHECK_EQ_STR(e.msg, "$options needs a $regex");
    bson_destroy(f);
    f = BCON_NEW("a", "{", "$regex", BCON_UTF8("a"), "$options", BCON_UTF8("q"), "}");
    CHECK_EQ_INT(matcher_create(f, &m, &e), -ERR_BAD_VALUE);
    CHECK_EQ_STR(e.msg, "invalid flag in regex options: q");
    bson_destroy(f);
    f = BCON_NEW("a", "{", "$regex", BCON_UTF8("^X"), "$options", BCON_UTF8("i"), "}");
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    CHECK(matcher_match(m, d) == false);
    matcher_destroy(m);
    bson_destroy(f);
    f = BCON_NEW("a", "{", "$regex", BCON_UTF8("^A"), "$options", BCON_UTF8("i"), "}");
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    CHECK(matcher_match(m, d));
    matcher_destroy(m);
    bson_destroy(f);
    bson_destroy(d);
}

TEST(mod_matches_numbers_by_truncated_remainder)
{
    M("{\"a\": {\"$mod\": [4, 1]}}", "{\"a\": 5}");
    M("{\"a\": {\"$mod\": [4, 1]}}", "{\"a\": 5.9}");
    N("{\"a\": {\"$mod\": [4, 1]}}", "{\"a\": 6}");
    M("{\"a\": {\"$mod\": [4, -1]}}", "{\"a\": -5}");
    N("{\"a\": {\"$mod\": [4, 1]}}", "{\"a\": \"5\"}");
    M("{\"a\": {\"$mod\": [-1, 0]}}", "{\"a\": {\"$numberLong\": \"-9223372036854775808\"}}");
}

TEST(dotted_paths_traverse_subdocuments_arrays_and_indexes)
{
    M("{\"a.b\": 1}", "{\"a\": {\"b\": 1}}");
    M("{\"a.b\": 1}", "{\"a\": [{\"b\": 2}, {\"b\": 1}]}");
    M("{\"a.b\": 1}", "{\"a\": [{\"b\": [0, 1]}]}");
    M("{\"a.0.b\": 1}", "{\"a\": [{\"b\": 1}, {\"b\": 2}]}");
    N("{\"a.1.b\": 1}", "{\"a\": [{\"b\": 1}, {\"b\": 2}]}");
    M("{\"a.1\": 5}", "{\"a\": [4, 5]}");
    N("{\"a.b\": 1}", "{\"a\": [[{\"b\": 1}]]}");
    M("{\"a.b.c\": 3}", "{\"a\": [{\"b\": [{\"c\": 3}]}]}");
}

TEST(invalid_filters_are_rejected_with_mongod_messages)
{
    char msg[ERR_MSG_MAX];
    CHECK_EQ_INT(create_error("{\"a\": {\"$foo\": 1}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_STR(msg, "unknown operator: $foo");
    CHECK_EQ_INT(create_error("{\"$foo\": 1}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strncmp(msg, "unknown top level operator: $foo", 32) == 0);
    CHECK_EQ_INT(create_error("{\"$expr\": {\"$nope\": [1, 1]}}", msg, sizeof msg), -ERR_INVALID_PIPELINE_OPERATOR);
    CHECK_EQ_STR(msg, "Unrecognized expression '$nope'");
    CHECK_EQ_INT(create_error("{\"a\": {\"$elemMatch\": {\"$expr\": true}}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_STR(msg, "$expr can only be applied to the top-level document");
    CHECK_EQ_INT(create_error("{\"a\": {\"$expr\": true}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_STR(msg, "unknown operator: $expr");
    CHECK_EQ_INT(create_error("{\"$where\": \"1\"}", msg, sizeof msg), -ERR_NOT_IMPLEMENTED);
    CHECK_EQ_INT(create_error("{\"$text\": {\"$search\": \"x\"}}", msg, sizeof msg), -ERR_NOT_IMPLEMENTED);
    CHECK_EQ_INT(create_error("{\"a\": {\"$geoWithin\": {}}}", msg, sizeof msg), -ERR_NOT_IMPLEMENTED);
    CHECK(strstr(msg, "$geoWithin") != NULL);
    CHECK_EQ_INT(create_error("{\"a\": {\"$regex\": \"(\"}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strstr(msg, "Regular expression is invalid") != NULL);
    CHECK_EQ_INT(create_error("{\"a\": {\"$in\": 1}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_STR(msg, "$in needs an array");
    CHECK_EQ_INT(create_error("{\"$or\": []}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_STR(msg, "$or must be a nonempty array");
    CHECK_EQ_INT(create_error("{\"$and\": [1]}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$mod\": [0, 1]}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_STR(msg, "divisor cannot be 0");
    CHECK_EQ_INT(create_error("{\"a\": {\"$mod\": [1]}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$size\": -1}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$size\": \"x\"}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$TYPE\": \"nope\"}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$TYPE\": 99}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$not\": {}}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$not\": 1}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$elemMatch\": 1}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$all\": 1}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK_EQ_INT(create_error("{\"a\": {\"$in\": [{\"$gt\": 1}]}}", msg, sizeof msg), -ERR_BAD_VALUE);
}

TEST(expr_compares_fields_of_the_same_document)
{
    M("{\"$expr\": {\"$gt\": [\"$a\", \"$b\"]}}", "{\"a\": 5, \"b\": 3}");
    N("{\"$expr\": {\"$gt\": [\"$a\", \"$b\"]}}", "{\"a\": 1, \"b\": 3}");
    M("{\"$expr\": {\"$eq\": [\"$a.b\", 2]}, \"c\": 1}", "{\"a\": {\"b\": 2}, \"c\": 1}");
    N("{\"$expr\": {\"$eq\": [\"$a.b\", 2]}, \"c\": 1}", "{\"a\": {\"b\": 2}, \"c\": 2}");
    M("{\"$or\": [{\"$expr\": false}, {\"c\": 1}]}", "{\"c\": 1}");
    N("{\"$or\": [{\"$expr\": false}, {\"c\": 2}]}", "{\"c\": 1}");
    N("{\"$nor\": [{\"$expr\": {\"$eq\": [\"$c\", 1]}}]}", "{\"c\": 1}");
    M("{\"$expr\": {\"$lt\": [{\"$add\": [\"$a\", \"$b\"]}, 10]}}", "{\"a\": 4, \"b\": 5}");
}

TEST(expr_truthiness_follows_mongod)
{
    N("{\"$expr\": \"$a\"}", "{\"a\": 0}");
    N("{\"$expr\": \"$a\"}", "{\"a\": 0.0}");
    N("{\"$expr\": \"$a\"}", "{\"a\": {\"$numberLong\": \"0\"}}");
    N("{\"$expr\": \"$a\"}", "{\"a\": {\"$numberDecimal\": \"-0.00\"}}");
    N("{\"$expr\": \"$a\"}", "{\"a\": null}");
    N("{\"$expr\": \"$a\"}", "{\"a\": false}");
    N("{\"$expr\": \"$a\"}", "{}");
    M("{\"$expr\": \"$a\"}", "{\"a\": {\"$numberDecimal\": \"0.01\"}}");
    M("{\"$expr\": \"$a\"}", "{\"a\": {\"$numberDecimal\": \"NaN\"}}");
    M("{\"$expr\": \"$a\"}", "{\"a\": {\"$numberDouble\": \"NaN\"}}");
    M("{\"$expr\": \"$a\"}", "{\"a\": \"\"}");
    M("{\"$expr\": \"$a\"}", "{\"a\": []}");
    M("{\"$expr\": \"$a\"}", "{\"a\": {}}");
    M("{\"$expr\": \"$a\"}", "{\"a\": -1}");
    M("{\"$expr\": true}", "{}");
    N("{\"$expr\": null}", "{}");
    M("{\"$expr\": {\"x\": 0}}", "{}");
}

TEST(expr_that_fails_on_a_document_does_not_match_it)
{
    N("{\"$expr\": {\"$gt\": [{\"$divide\": [1, \"$z\"]}, 0]}}", "{\"z\": 0}");
    M("{\"$expr\": {\"$gt\": [{\"$divide\": [1, \"$z\"]}, 0]}}", "{\"z\": 2}");
}

TEST(bounds_and_id_point_ignore_expr)
{
    bson_t *f = json("{\"$expr\": {\"$eq\": [\"$a\", 1]}, \"a\": 1}");
    struct matcher *m;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    struct match_bound b[4];
    CHECK_EQ_INT(matcher_bounds_for_path(m, "a", b, 4), 1);
    CHECK_EQ_STR(b[0].op, "$eq");
    matcher_destroy(m);
    bson_destroy(f);
    f = json("{\"_id\": 5, \"$expr\": true}");
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    bson_value_t id;
    CHECK(!matcher_is_id_point(m, &id));
    matcher_destroy(m);
    bson_destroy(f);
}

/* 0x0A: bits 1 and 3. */
#define BIN_0A "{\"$binary\": {\"base64\": \"Cg==\", \"subType\": \"00\"}}"

TEST(bitwise_operators_test_integers_by_positions_and_masks)
{
    const char *ten = "{\"f\": 10}", *six = "{\"f\": 6}";
    M("{\"f\": {\"$bitsAllSet\": [1, 3]}}", ten);
    N("{\"f\": {\"$bitsAllSet\": [1, 3]}}", six);
    M("{\"f\": {\"$bitsAnySet\": 4}}", six);
    N("{\"f\": {\"$bitsAnySet\": 4}}", ten);
    M("{\"f\": {\"$bitsAllClear\": [0]}}", ten);
    M("{\"f\": {\"$bitsAllClear\": [0]}}", six);
    M("{\"f\": {\"$bitsAnyClear\": [3]}}", six);
    N("{\"f\": {\"$bitsAnyClear\": [3]}}", ten);
    M("{\"f\": {\"$bitsAllSet\": 10}}", ten);
    N("{\"f\": {\"$bitsAllSet\": 11}}", ten);
    M("{\"f\": {\"$bitsAllClear\": 5}}", ten);
    M("{\"f\": {\"$bitsAllSet\": " BIN_0A "}}", ten);
    N("{\"f\": {\"$bitsAllSet\": " BIN_0A "}}", six);
    /* No positions: "all" holds, "any" does not. */
    M("{\"f\": {\"$bitsAllSet\": []}}", ten);
    M("{\"f\": {\"$bitsAllClear\": 0}}", ten);
    N("{\"f\": {\"$bitsAnySet\": []}}", ten);
    N("{\"f\": {\"$bitsAnyClear\": 0}}", ten);
    M("{\"f\": {\"$not\": {\"$bitsAllSet\": [0]}}}", ten);
}

TEST(bitwise_operators_use_twos_complement_and_integral_values_only)
{
    M("{\"f\": {\"$bitsAllSet\": [0, 5, 63, 64, 1000]}}", "{\"f\": -1}");
    N("{\"f\": {\"$bitsAnyClear\": [0, 200]}}", "{\"f\": -1}");
    M("{\"f\": {\"$bitsAllSet\": [1, 63, 100]}}", "{\"f\": -2}");
    N("{\"f\": {\"$bitsAnySet\": [0]}}", "{\"f\": -2}");
    M("{\"f\": {\"$bitsAllClear\": [63, 200]}}", "{\"f\": 1}");
    M("{\"f\": {\"$bitsAllSet\": [40]}}", "{\"f\": {\"$numberLong\": \"1099511627776\"}}");
    M("{\"f\": {\"$bitsAllSet\": [1, 3]}}", "{\"f\": 10.0}");
    M("{\"f\": {\"$bitsAllSet\": [1, 3]}}", "{\"f\": {\"$numberDecimal\": \"10\"}}");
    N("{\"f\": {\"$bitsAllClear\": [0]}}", "{\"f\": 10.5}");
    N("{\"f\": {\"$bitsAllClear\": [0]}}", "{\"f\": {\"$numberDouble\": \"NaN\"}}");
    N("{\"f\": {\"$bitsAllClear\": [0]}}", "{\"f\": 1e300}");
    N("{\"f\": {\"$bitsAllClear\": [0]}}", "{\"f\": \"10\"}");
    N("{\"f\": {\"$bitsAllClear\": [0]}}", "{\"f\": null}");
    N("{\"f\": {\"$bitsAllClear\": [0]}}", "{}");
    /* Array fields: any element may match. */
    M("{\"f\": {\"$bitsAllSet\": [1, 3]}}", "{\"f\": [1, \"x\", 10]}");
    N("{\"f\": {\"$bitsAllSet\": [1, 3]}}", "{\"f\": [1, 6]}");
    M("{\"g.f\": {\"$bitsAnySet\": [2]}}", "{\"g\": [{\"f\": 1}, {\"f\": 6}]}");
    M("{\"f\": {\"$elemMatch\": {\"$bitsAllSet\": [1, 3], \"$gt\": 10}}}", "{\"f\": [10, 26]}");
    N("{\"f\": {\"$elemMatch\": {\"$bitsAllSet\": [1, 3], \"$gt\": 30}}}", "{\"f\": [10, 26]}");
}

TEST(bitwise_operators_test_bindata_fields_little_endian)
{
    const char *doc = "{\"f\": " BIN_0A "}";
    M("{\"f\": {\"$bitsAllSet\": [1, 3]}}", doc);
    M("{\"f\": {\"$bitsAllSet\": 10}}", doc);
    N("{\"f\": {\"$bitsAnySet\": [0, 2, 4]}}", doc);
    M("{\"f\": {\"$bitsAllClear\": [0, 8, 100]}}", doc);
    M("{\"f\": {\"$bitsAnyClear\": [9]}}", doc);
    /* 0x00 0x01: bit 8 is bit 0 of the second byte. */
    M("{\"f\": {\"$bitsAllSet\": [8]}}", "{\"f\": {\"$binary\": {\"base64\": \"AAE=\", \"subType\": \"00\"}}}");
    M("{\"f\": {\"$bitsAllSet\": " BIN_0A "}}", doc);
}

TEST(bitwise_operators_reject_bad_masks)
{
    char msg[ERR_MSG_MAX];
    CHECK_EQ_INT(create_error("{\"f\": {\"$bitsAllSet\": -1}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strstr(msg, "$bitsAllSet") != NULL);
    CHECK_EQ_INT(create_error("{\"f\": {\"$bitsAnySet\": 1.5}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strstr(msg, "Expected an integer") != NULL);
    CHECK_EQ_INT(create_error("{\"f\": {\"$bitsAllClear\": \"x\"}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strstr(msg, "takes an Array, a number, or a BinData") != NULL);
    CHECK_EQ_INT(create_error("{\"f\": {\"$bitsAnyClear\": [-1]}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strstr(msg, "bit positions cannot be negative") != NULL);
    CHECK_EQ_INT(create_error("{\"f\": {\"$bitsAnyClear\": [1.5]}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strstr(msg, "bit positions must be an integer") != NULL);
    CHECK_EQ_INT(create_error("{\"f\": {\"$bitsAnyClear\": [\"a\"]}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strstr(msg, "bit positions must be an integer") != NULL);
    CHECK_EQ_INT(create_error("{\"f\": {\"$bitsAnyClear\": [2147483648]}}", msg, sizeof msg), -ERR_BAD_VALUE);
    CHECK(strstr(msg, "32-bit signed integer") != NULL);
    CHECK_EQ_INT(create_error("{\"f\": {\"$bitsAnyClear\": [2147483647, 2.0]}}", msg, sizeof msg), 0);
}

static bson_t *nest_and(int depth)
{
    bson_t *inner = bson_new();
    for (int i = 0; i < depth; i++) {
        bson_t *outer = bson_new(), arr;
        bson_append_array_begin(outer, "$and", -1, &arr);
        bson_append_document(&arr, "0", -1, inner);
        bson_append_array_end(outer, &arr);
        bson_destroy(inner);
        inner = outer;
    }
    return inner;
}

TEST(deeply_nested_filters_fail_cleanly)
{
    bson_t *f = nest_and(300);
    struct matcher *m = NULL;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(matcher_create(f, &m, &e), -ERR_BAD_VALUE);
    bson_destroy(f);
    f = nest_and(50);
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    matcher_destroy(m);
    bson_destroy(f);
}

static int positional(const char *filter, const char *doc)
{
    bson_t *f = json(filter), *d = json(doc);
    struct matcher *m;
    struct err e;
    err_init(&e);
    int idx = -2;
    if (matcher_create(f, &m, &e) == 0) {
        if (!matcher_match_positional(m, d, &idx))
            idx = -3;
        matcher_destroy(m);
    }
    bson_destroy(f);
    bson_destroy(d);
    return idx;
}

TEST(positional_index_names_the_first_matching_array_element)
{
    CHECK_EQ_INT(positional("{\"a\": 3}", "{\"a\": [1, 2, 3]}"), 2);
    CHECK_EQ_INT(positional("{\"a.b\": 5}", "{\"a\": [{\"b\": 1}, {\"b\": 5}]}"), 1);
    CHECK_EQ_INT(positional("{\"a\": {\"$elemMatch\": {\"$gt\": 1}}}", "{\"a\": [0, 1, 7]}"), 2);
    CHECK_EQ_INT(positional("{\"x\": 1}", "{\"x\": 1}"), -1);
    CHECK_EQ_INT(positional("{\"x\": 1, \"a\": {\"$gt\": 1}}", "{\"x\": 1, \"a\": [0, 5]}"), 1);
    CHECK_EQ_INT(positional("{\"$or\": [{\"a\": 9}, {\"b\": 1}]}", "{\"a\": [1], \"b\": 1}"), -1);
    CHECK_EQ_INT(positional("{\"a\": 9}", "{\"a\": [1]}"), -3);
}

TEST(bounds_report_plain_top_level_conditions_only)
{
    bson_t *f = json("{\"a\": {\"$gt\": 1, \"$lte\": 9}, \"$and\": [{\"a\": {\"$in\": [3, 4]}}], "
                     "\"$or\": [{\"a\": 5}], \"b\": {\"$not\": {\"$eq\": 1}}, \"c\": 7}");
    struct matcher *m;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    struct match_bound b[8];
    int n = matcher_bounds_for_path(m, "a", b, 8);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_STR(b[0].op, "$gt");
    CHECK_EQ_INT(b[0].value.value.v_int32, 1);
    CHECK_EQ_STR(b[1].op, "$lte");
    CHECK_EQ_STR(b[2].op, "$in");
    CHECK_EQ_INT(b[2].value.value_type, BSON_TYPE_ARRAY);
    CHECK_EQ_INT(matcher_bounds_for_path(m, "b", b, 8), 0);
    CHECK_EQ_INT(matcher_bounds_for_path(m, "c", b, 8), 1);
    CHECK_EQ_STR(b[0].op, "$eq");
    CHECK_EQ_INT(matcher_bounds_for_path(m, "a", b, 1), 1);
    bson_value_t id;
    CHECK(!matcher_is_id_point(m, &id));
    matcher_destroy(m);
    bson_destroy(f);
}

TEST(id_point_lookup_is_recognised_only_for_plain_scalars)
{
    const char *yes[] = {"{\"_id\": 5}", "{\"_id\": \"k\"}", "{\"_id\": {\"$oid\": \"0123456789abcdef01234567\"}}"};
    const char *no[] = {"{\"_id\": 5, \"a\": 1}", "{\"_id\": {\"$gt\": 5}}", "{\"_id\": null}", "{\"_id\": [1]}",
                        "{\"_id\": {\"a\": 1}}", "{}"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        bson_t *f = json(yes[i]);
        struct matcher *m;
        struct err e;
        err_init(&e);
        CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
        bson_value_t id;
        CHECK(matcher_is_id_point(m, &id));
        matcher_destroy(m);
        bson_destroy(f);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        bson_t *f = json(no[i]);
        struct matcher *m;
        struct err e;
        err_init(&e);
        CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
        bson_value_t id;
        CHECK(!matcher_is_id_point(m, &id));
        matcher_destroy(m);
        bson_destroy(f);
    }
}

int main(void)
{
    RUN(empty_filter_matches_everything);
    RUN(equality_matches_scalars_array_elements_and_whole_arrays);
    RUN(null_matches_null_and_missing_but_not_empty_arrays);
    RUN(comparisons_respect_type_bracketing);
    RUN(range_conditions_may_be_satisfied_by_different_array_elements);
    RUN(nan_equals_only_nan);
    RUN(in_and_nin_handle_arrays_null_and_regexes);
    RUN(logical_operators_combine_conditions);
    RUN(exists_and_type_check_presence_and_bson_types);
    RUN(all_size_and_elem_match_work_on_arrays);
    RUN(regex_matches_strings_and_array_elements_with_options);
    RUN(regex_operator_accepts_a_bson_regex_value);
    RUN(mod_matches_numbers_by_truncated_remainder);
    RUN(dotted_paths_traverse_subdocuments_arrays_and_indexes);
    RUN(invalid_filters_are_rejected_with_mongod_messages);
    RUN(expr_compares_fields_of_the_same_document);
    RUN(expr_truthiness_follows_mongod);
    RUN(expr_that_fails_on_a_document_does_not_match_it);
    RUN(bounds_and_id_point_ignore_expr);
    RUN(bitwise_operators_test_integers_by_positions_and_masks);
    RUN(bitwise_operators_use_twos_complement_and_integral_values_only);
    RUN(bitwise_operators_test_bindata_fields_little_endian);
    RUN(bitwise_operators_reject_bad_masks);
    RUN(deeply_nested_filters_fail_cleanly);
    RUN(positional_index_names_the_first_matching_array_element);
    RUN(bounds_report_plain_top_level_conditions_only);
    RUN(id_point_lookup_is_recognised_only_for_plain_scalars);
    return test_report();
}
