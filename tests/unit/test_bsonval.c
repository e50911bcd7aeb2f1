/* test_bsonval.c - MongoDB's cross-type order and dotted-path lookup. */
#include "query/bsonval.h"

#include "testhelp.h"

#include <math.h>

/* Compares field "a" of two JSON documents. */
static int cmp_json(const char *ja, const char *jb)
{
    bson_t *a = bson_new_from_json((const uint8_t *)ja, -1, NULL);
    bson_t *b = bson_new_from_json((const uint8_t *)jb, -1, NULL);
    if (!a || !b) {
        fprintf(stderr, "  bad json %s / %s\n", ja, jb);
        exit(2);
    }
    bson_iter_t ia, ib;
    bson_iter_init_find(&ia, a, "a");
    bson_iter_init_find(&ib, b, "a");
    int c = bsonval_compare(bson_iter_value(&ia), bson_iter_value(&ib));
    bson_destroy(a);
    bson_destroy(b);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

TEST(types_follow_mongodb_cross_type_order)
{
    const char *ordered[] = {
        "{\"a\": {\"$minKey\": 1}}",
        "{\"a\": {\"$undefined\": true}}",
        "{\"a\": null}",
        "{\"a\": {\"$numberDouble\": \"NaN\"}}",
        "{\"a\": {\"$numberDouble\": \"-Infinity\"}}",
        "{\"a\": -5}",
        "{\"a\": 3.5}",
        "{\"a\": {\"$numberLong\": \"9007199254740993\"}}",
        "{\"a\": \"\"}",
        "{\"a\": \"abc\"}",
        "{\"a\": {}}",
        "{\"a\": {\"x\": 1}}",
        "{\"a\": []}",
        "{\"a\": [1]}",
        "{\"a\": {\"$binary\": {\"base64\": \"\", \"subType\": \"00\"}}}",
        "{\"a\": {\"$oid\": \"000000000000000000000000\"}}",
        "{\"a\": false}",
        "{\"a\": true}",
        "{\"a\": {\"$date\": {\"$numberLong\": \"-1\"}}}",
        "{\"a\": {\"$timestamp\": {\"t\": 1, \"i\": 1}}}",
        "{\"a\": {\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}}",
        "{\"a\": {\"$code\": \"x\"}}",
        "{\"a\": {\"$maxKey\": 1}}",
    };
    int n = (int)(sizeof ordered / sizeof ordered[0]);
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(cmp_json(ordered[i], ordered[i]), 0);
        for (int j = i + 1; j < n; j++) {
            if (cmp_json(ordered[i], ordered[j]) != -1 || cmp_json(ordered[j], ordered[i]) != 1)
                fprintf(stderr, "  order broken between %d and %d\n", i, j);
            CHECK_EQ_INT(cmp_json(ordered[i], ordered[j]), -1);
        }
    }
}

TEST(numbers_compare_by_exact_value_across_types)
{
    CHECK_EQ_INT(cmp_json("{\"a\": 1}", "{\"a\": 1.0}"), 0);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$numberLong\": \"1\"}}", "{\"a\": 1.0}"), 0);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$numberLong\": \"9007199254740993\"}}", "{\"a\": 9007199254740992.0}"), 1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$numberLong\": \"9223372036854775807\"}}",
                          "{\"a\": 9223372036854775808.0}"),
                 -1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$numberLong\": \"-9223372036854775808\"}}",
                          "{\"a\": -9223372036854775808.0}"),
                 0);
    CHECK_EQ_INT(cmp_json("{\"a\": -0.0}", "{\"a\": 0}"), 0);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$numberDouble\": \"NaN\"}}", "{\"a\": {\"$numberDouble\": \"NaN\"}}"), 0);
    CHECK_EQ_INT(cmp_json("{\"a\": 2}", "{\"a\": 2.5}"), -1);
    CHECK_EQ_INT(cmp_json("{\"a\": -2}", "{\"a\": -2.5}"), 1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$numberDecimal\": \"2.5\"}}", "{\"a\": 2.5}"), 0);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$numberDecimal\": \"3\"}}", "{\"a\": 2}"), 1);
}

TEST(strings_compare_bytewise_then_by_length)
{
    CHECK_EQ_INT(cmp_json("{\"a\": \"a\"}", "{\"a\": \"ab\"}"), -1);
    CHECK_EQ_INT(cmp_json("{\"a\": \"B\"}", "{\"a\": \"a\"}"), -1);
    CHECK_EQ_INT(cmp_json("{\"a\": \"a\\u0000\"}", "{\"a\": \"a\"}"), 1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$symbol\": \"abc\"}}", "{\"a\": \"abc\"}"), 0);
}

TEST(objects_compare_by_type_then_name_then_value_and_shorter_first)
{
    CHECK_EQ_INT(cmp_json("{\"a\": {\"x\": 1}}", "{\"a\": {\"x\": 1, \"y\": 1}}"), -1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"x\": 2}}", "{\"a\": {\"y\": 1}}"), -1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"y\": 1}}", "{\"a\": {\"x\": \"s\"}}"), -1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"x\": 1}}", "{\"a\": {\"x\": 1.0}}"), 0);
    CHECK_EQ_INT(cmp_json("{\"a\": [1, 2]}", "{\"a\": [1, 3]}"), -1);
    CHECK_EQ_INT(cmp_json("{\"a\": [2]}", "{\"a\": [1, 3]}"), 1);
    CHECK_EQ_INT(cmp_json("{\"a\": [1]}", "{\"a\": [1, 0]}"), -1);
}

TEST(bindata_dates_and_timestamps_follow_their_rules)
{
    /* Length before content: a short blob sorts first even when its bytes are larger. */
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$binary\": {\"base64\": \"/w==\", \"subType\": \"00\"}}}",
                          "{\"a\": {\"$binary\": {\"base64\": \"AAA=\", \"subType\": \"00\"}}}"),
                 -1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$binary\": {\"base64\": \"AA==\", \"subType\": \"04\"}}}",
                          "{\"a\": {\"$binary\": {\"base64\": \"/w==\", \"subType\": \"00\"}}}"),
                 1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$date\": {\"$numberLong\": \"-5\"}}}",
                          "{\"a\": {\"$date\": {\"$numberLong\": \"3\"}}}"),
                 -1);
    CHECK_EQ_INT(cmp_json("{\"a\": {\"$timestamp\": {\"t\": 4294967295, \"i\": 0}}}",
                          "{\"a\": {\"$timestamp\": {\"t\": 1, \"i\": 9}}}"),
                 1);
}

TEST(whole_documents_compare_as_objects)
{
    bson_t *a = BCON_NEW("x", BCON_INT32(1)), *b = BCON_NEW("x", BCON_INT32(2));
    CHECK(bsondoc_compare(a, b) < 0);
    CHECK(bsondoc_compare(b, a) > 0);
    CHECK(bsondoc_compare(a, a) == 0);
    bson_destroy(a);
    bson_destroy(b);
}

TEST(get_path_follows_literal_paths_and_array_indexes)
{
    bson_t *d = bson_new_from_json((const uint8_t *)"{\"a\": {\"b\": [10, {\"c\": 7}]}, \"x\": 1}", -1, NULL);
    bson_value_t v;
    CHECK(bsonval_get_path(d, "a.b.1.c", &v) && v.value_type == BSON_TYPE_INT32 && v.value.v_int32 == 7);
    CHECK(bsonval_get_path(d, "a.b.0", &v) && v.value.v_int32 == 10);
    CHECK(!bsonval_get_path(d, "a.b.c", &v));
    CHECK(!bsonval_get_path(d, "x.y", &v));
    CHECK(!bsonval_get_path(d, "nope", &v));
    CHECK(bsonval_get_path(d, "x", &v) && v.value.v_int32 == 1);
    bson_destroy(d);
}

struct collect {
    int n;
    int values[16];
    int indexes[16];
    int n_missing;
};

static bool collect_cb(const bson_value_t *v, int array_index, void *arg)
{
    struct collect *c = arg;
    if (!v) {
        c->n_missing++;
        return true;
    }
    if (c->n < 16) {
        c->values[c->n] = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32
                          : v->value_type == BSON_TYPE_ARRAY ? -100
                                                             : -1;
        c->indexes[c->n] = array_index;
        c->n++;
    }
    return true;
}

static struct collect walk(const char *json, const char *path, bool missing)
{
    bson_t *d = bson_new_from_json((const uint8_t *)json, -1, NULL);
    struct collect c = {0};
    int n = bsonval_walk_path_ex(d, path, missing, collect_cb, &c);
    if (n != c.n)
        c.n = -1;
    bson_destroy(d);
    return c;
}

TEST(walk_path_expands_arrays_of_subdocuments_like_the_matcher)
{
    struct collect c = walk("{\"a\": [{\"b\": 1}, {\"b\": [2, 3]}, {\"c\": 4}, 5]}", "a.b", true);
    CHECK_EQ_INT(c.n, 2);
    CHECK_EQ_INT(c.values[0], 1);
    CHECK_EQ_INT(c.indexes[0], 0);
    CHECK_EQ_INT(c.values[1], -100);
    CHECK_EQ_INT(c.indexes[1], 1);
    CHECK_EQ_INT(c.n_missing, 1);
    c = walk("{\"a\": [{\"b\": 1}, {\"b\": 2}]}", "a.0.b", false);
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_INT(c.values[0], 1);
    c = walk("{\"a\": [[{\"b\": 1}]]}", "a.b", false);
    CHECK_EQ_INT(c.n, 0);
    c = walk("{\"a\": {\"b\": {\"c\": [5, 6]}}}", "a.b.c", false);
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_INT(c.indexes[0], -1);
    c = walk("{\"a\": [{\"b\": [{\"c\": 1}, {\"c\": 2}]}, {\"b\": [{\"c\": 3}]}]}", "a.b.c", false);
    CHECK_EQ_INT(c.n, 3);
    CHECK_EQ_INT(c.values[2], 3);
    CHECK_EQ_INT(c.indexes[2], 1);
    c = walk("{\"x\": 1}", "a.b", true);
    CHECK_EQ_INT(c.n, 0);
    CHECK_EQ_INT(c.n_missing, 1);
}

static bool stop_after_first(const bson_value_t *v, void *arg)
{
    (void)v;
    (*(int *)arg)++;
    return false;
}

TEST(walk_path_stops_when_the_callback_says_so)
{
    bson_t *d = bson_new_from_json((const uint8_t *)"{\"a\": [{\"b\": 1}, {\"b\": 2}]}", -1, NULL);
    int calls = 0;
    CHECK_EQ_INT(bsonval_walk_path(d, "a.b", stop_after_first, &calls), 1);
    CHECK_EQ_INT(calls, 1);
    bson_destroy(d);
}

TEST(numbers_are_recognised_and_converted)
{
    bson_value_t i = {.value_type = BSON_TYPE_INT64, .value.v_int64 = 12};
    bson_value_t s = {.value_type = BSON_TYPE_UTF8};
    CHECK(bsonval_is_number(&i));
    CHECK(!bsonval_is_number(&s));
    CHECK(bsonval_as_double(&i) == 12.0);
    CHECK(bsonval_as_double(&s) == 0.0);
    CHECK_EQ_INT(bsonval_type_rank(BSON_TYPE_INT32), bsonval_type_rank(BSON_TYPE_DOUBLE));
    CHECK(bsonval_type_rank(BSON_TYPE_NULL) < bsonval_type_rank(BSON_TYPE_INT32));
}

int main(void)
{
    RUN(types_follow_mongodb_cross_type_order);
    RUN(numbers_compare_by_exact_value_across_types);
    RUN(strings_compare_bytewise_then_by_length);
    RUN(objects_compare_by_type_then_name_then_value_and_shorter_first);
    RUN(bindata_dates_and_timestamps_follow_their_rules);
    RUN(whole_documents_compare_as_objects);
    RUN(get_path_follows_literal_paths_and_array_indexes);
    RUN(walk_path_expands_arrays_of_subdocuments_like_the_matcher);
    RUN(walk_path_stops_when_the_callback_says_so);
    RUN(numbers_are_recognised_and_converted);
    return test_report();
}
