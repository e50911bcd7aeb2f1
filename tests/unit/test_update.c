/* test_update.c - unit tests for the update engine (query/update.h):
 * every operator, positional forms, arrayFilters, errors with mongod's codes,
 * field order, nModified semantics and upsert seeding. */
#include "query/update.h"
#include "testhelp.h"

#include <bson/bson.h>

/* Test JSON uses single quotes for readability; libbson wants double. */
static bson_t *J(const char *json)
{
    char *s = strdup(json);
    for (char *c = s; *c; c++)
        if (*c == '\'')
            *c = '"';
    bson_error_t err;
    bson_t *b = bson_new_from_json((const uint8_t *)s, -1, &err);
    if (b == NULL) {
        fprintf(stderr, "  bad test JSON %s: %s\n", json, err.message);
        exit(2);
    }
    free(s);
    return b;
}

/* libbson's JSON reader takes {"$type": ...} for binary data, so tests
 * spell $currentDate's {$type: ...} as {"%type": ...}; this renames it. */
static void rename_type_keys_into(const bson_t *src, bson_t *dst)
{
    bson_iter_t it;
    bson_iter_init(&it, src);
    while (bson_iter_next(&it)) {
        const char *k = strcmp(bson_iter_key(&it), "%type") == 0 ? "$type" : bson_iter_key(&it);
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            const uint8_t *data;
            uint32_t len;
            bson_t sub, child;
            if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
                bson_iter_document(&it, &len, &data);
                bson_append_document_begin(dst, k, -1, &child);
            } else {
                bson_iter_array(&it, &len, &data);
                bson_append_array_begin(dst, k, -1, &child);
            }
            bson_init_static(&sub, data, len);
            rename_type_keys_into(&sub, &child);
            if (BSON_ITER_HOLDS_DOCUMENT(&it))
                bson_append_document_end(dst, &child);
            else
                bson_append_array_end(dst, &child);
        } else {
            bson_append_value(dst, k, -1, bson_iter_value(&it));
        }
    }
}

static void rename_type_keys(bson_t *b)
{
    bson_t tmp = BSON_INITIALIZER;
    rename_type_keys_into(b, &tmp);
    bson_reinit(b);
    bson_concat(b, &tmp);
    bson_destroy(&tmp);
}

static struct update_env env_plain = {-1, false, 1700000000123};

/* Parses update_json (wrapped so arrays are pipelines) and applies it. */
static int apply_full(const char *doc_json, const char *update_json, const char *filters_json,
                      const struct update_env *env, bson_t *out, bool *changed, struct err *e)
{
    char wrapped[4096];
    snprintf(wrapped, sizeof wrapped, "{'u': %s}", update_json);
    bson_t *w = J(wrapped);
    rename_type_keys(w);
    bson_iter_t it;
    bson_iter_init_find(&it, w, "u");
    bson_t *filters = filters_json ? J(filters_json) : NULL;
    bson_t *doc = J(doc_json);
    struct update *u = NULL;
    int rc = update_create(bson_iter_value(&it), filters, &u, e);
    if (rc == 0) {
        rc = update_apply(u, doc, env, out, changed, e);
        update_destroy(u);
    }
    bson_destroy(doc);
    if (filters)
        bson_destroy(filters);
    bson_destroy(w);
    return rc;
}

static bool same_doc(const bson_t *got, const char *expect_json)
{
    bson_t *want = J(expect_json);
    bool eq = got->len == want->len && memcmp(bson_get_data(got), bson_get_data(want), got->len) == 0;
    if (!eq) {
        char *g = bson_as_canonical_extended_json(got, NULL);
        char *w = bson_as_canonical_extended_json(want, NULL);
        fprintf(stderr, "  got  %s\n  want %s\n", g, w);
        bson_free(g);
        bson_free(w);
    }
    bson_destroy(want);
    return eq;
}

/* Applies and compares with the expected document; returns is_changed. */
static bool check_update_f(const char *doc, const char *update, const char *filters, int pos, const char *expect,
                           int line)
{
    struct err e;
    err_init(&e);
    bson_t out = BSON_INITIALIZER;
    bool changed = false;
    struct update_env env = env_plain;
    env.positional_index = pos;
    int rc = apply_full(doc, update, filters, &env, &out, &changed, &e);
    if (rc != 0) {
        fprintf(stderr, "  line %d: unexpected error %d: %s\n", line, e.code, e.msg);
        test_current_failed = 1;
    } else if (!same_doc(&out, expect)) {
        fprintf(stderr, "  line %d: document mismatch\n", line);
        test_current_failed = 1;
    }
    bson_destroy(&out);
    err_clear(&e);
    return changed;
}
#define CHECK_UPDATE(doc, update, expect) check_update_f(doc, update, NULL, -1, expect, __LINE__)
#define CHECK_UPDATE_AF(doc, update, filters, expect) check_update_f(doc, update, filters, -1, expect, __LINE__)
#define CHECK_UPDATE_POS(doc, update, pos, expect) check_update_f(doc, update, NULL, pos, expect, __LINE__)

static void check_error_f(const char *doc, const char *update, const char *filters, int code, const char *msg_part,
                          int line)
{
    struct err e;
    err_init(&e);
    bson_t out = BSON_INITIALIZER;
    bool changed;
    int rc = apply_full(doc, update, filters, &env_plain, &out, &changed, &e);
    if (rc != -code || e.code != code) {
        fprintf(stderr, "  line %d: expected code %d, got rc %d (%s)\n", line, code, rc, e.msg);
        test_current_failed = 1;
    } else if (msg_part && strstr(e.msg, msg_part) == NULL) {
        fprintf(stderr, "  line %d: message \"%s\" lacks \"%s\"\n", line, e.msg, msg_part);
        test_current_failed = 1;
    }
    bson_destroy(&out);
    err_clear(&e);
}
#define CHECK_ERROR(doc, update, code, msg) check_error_f(doc, update, NULL, code, msg, __LINE__)
#define CHECK_ERROR_AF(doc, update, filters, code, msg) check_error_f(doc, update, filters, code, msg, __LINE__)

static void check_upsert_f(const char *query, const char *update, const char *expect, int line)
{
    struct err e;
    err_init(&e);
    char wrapped[4096];
    snprintf(wrapped, sizeof wrapped, "{'u': %s}", update);
    bson_t *w = J(wrapped), *q = J(query);
    bson_iter_t it;
    bson_iter_init_find(&it, w, "u");
    struct update *u = NULL;
    bson_t out = BSON_INITIALIZER;
    int rc = update_create(bson_iter_value(&it), NULL, &u, &e);
    if (rc == 0)
        rc = update_build_upsert(u, q, &env_plain, &out, &e);
    if (rc != 0) {
        fprintf(stderr, "  line %d: unexpected error %d: %s\n", line, e.code, e.msg);
        test_current_failed = 1;
    } else if (expect[0] == '~') {
        /* Expected document after a generated ObjectId _id. */
        bson_iter_t di;
        bson_t rest = BSON_INITIALIZER;
        bson_iter_init(&di, &out);
        if (!bson_iter_next(&di) || strcmp(bson_iter_key(&di), "_id") != 0 || !BSON_ITER_HOLDS_OID(&di)) {
            fprintf(stderr, "  line %d: _id is not a leading ObjectId\n", line);
            test_current_failed = 1;
        }
        while (bson_iter_next(&di))
            bson_append_value(&rest, bson_iter_key(&di), -1, bson_iter_value(&di));
        if (!same_doc(&rest, expect + 1)) {
            fprintf(stderr, "  line %d: upsert mismatch\n", line);
            test_current_failed = 1;
        }
        bson_destroy(&rest);
    } else if (!same_doc(&out, expect)) {
        fprintf(stderr, "  line %d: upsert mismatch\n", line);
        test_current_failed = 1;
    }
    update_destroy(u);
    bson_destroy(&out);
    bson_destroy(w);
    bson_destroy(q);
    err_clear(&e);
}
#define CHECK_UPSERT(query, update, expect) check_upsert_f(query, update, expect, __LINE__)

static void check_upsert_error_f(const char *query, const char *update, int code, int line)
{
    struct err e;
    err_init(&e);
    char wrapped[4096];
    snprintf(wrapped, sizeof wrapped, "{'u': %s}", update);
    bson_t *w = J(wrapped), *q = J(query);
    bson_iter_t it;
    bson_iter_init_find(&it, w, "u");
    struct update *u = NULL;
    bson_t out = BSON_INITIALIZER;
    int rc = update_create(bson_iter_value(&it), NULL, &u, &e);
    if (rc == 0)
        rc = update_build_upsert(u, q, &env_plain, &out, &e);
    if (rc != -code) {
        fprintf(stderr, "  line %d: expected code %d, got %d (%s)\n", line, code, rc, e.msg);
        test_current_failed = 1;
    }
    update_destroy(u);
    bson_destroy(&out);
    bson_destroy(w);
    bson_destroy(q);
    err_clear(&e);
}
#define CHECK_UPSERT_ERROR(query, update, code) check_upsert_error_f(query, update, code, __LINE__)

/* ---- $set / $unset ---- */

TEST(set_replaces_an_existing_field_in_place)
{
    CHECK(CHECK_UPDATE("{'_id': 1, 'a': 1, 'b': 2}", "{'$set': {'a': 5}}", "{'_id': 1, 'a': 5, 'b': 2}"));
}

TEST(set_appends_new_fields_in_sorted_path_order)
{
    CHECK_UPDATE("{'_id': 1}", "{'$set': {'z': 1, 'b': 2, 'a': 3}}", "{'_id': 1, 'a': 3, 'b': 2, 'z': 1}");
}

TEST(set_orders_numeric_path_components_numerically)
{
    CHECK_UPDATE("{'_id': 1, 'a': {}}", "{'$set': {'a.10': 1, 'a.9': 2}}", "{'_id': 1, 'a': {'9': 2, '10': 1}}");
}

TEST(set_creates_intermediate_documents_for_dotted_paths)
{
    CHECK_UPDATE("{'_id': 1}", "{'$set': {'a.b.c': 1}}", "{'_id': 1, 'a': {'b': {'c': 1}}}");
    CHECK_UPDATE("{'_id': 1, 'a': {'x': 1}}", "{'$set': {'a.b': 2}}", "{'_id': 1, 'a': {'x': 1, 'b': 2}}");
}

TEST(set_to_the_same_value_reports_no_change)
{
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': 1}", "{'$set': {'a': 1}}", "{'_id': 1, 'a': 1}"));
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': {'b': [1, 2]}}", "{'$set': {'a': {'b': [1, 2]}}}",
                        "{'_id': 1, 'a': {'b': [1, 2]}}"));
}

TEST(set_to_an_equal_value_of_another_type_is_a_change)
{
    CHECK(CHECK_UPDATE("{'_id': 1, 'a': 1}", "{'$set': {'a': 1.0}}", "{'_id': 1, 'a': 1.0}"));
}

TEST(set_indexes_into_arrays_with_numeric_components)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 3]}", "{'$set': {'a.1': 9}}", "{'_id': 1, 'a': [1, 9, 3]}");
    CHECK_UPDATE("{'_id': 1, 'a': [{'b': 1}, {'b': 2}]}", "{'$set': {'a.1.b': 9}}",
                 "{'_id': 1, 'a': [{'b': 1}, {'b': 9}]}");
}

TEST(set_past_the_end_of_an_array_pads_with_nulls)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1]}", "{'$set': {'a.3': 4}}", "{'_id': 1, 'a': [1, null, null, 4]}");
    CHECK_UPDATE("{'_id': 1, 'a': []}", "{'$set': {'a.1.b': 4}}", "{'_id': 1, 'a': [null, {'b': 4}]}");
}

TEST(set_with_a_numeric_component_on_a_missing_field_creates_a_document)
{
    CHECK_UPDATE("{'_id': 1}", "{'$set': {'a.0': 1}}", "{'_id': 1, 'a': {'0': 1}}");
}

TEST(set_inside_a_scalar_fails_with_path_not_viable)
{
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$set': {'a.b': 2}}", 28, "Cannot create field 'b' in element {a: 1}");
    CHECK_ERROR("{'_id': 1, 'a': [1]}", "{'$set': {'a.x': 2}}", 28, "Cannot create field 'x'");
}

TEST(set_of_a_document_value_with_a_dollar_field_is_refused)
{
    CHECK_ERROR("{'_id': 1}", "{'$set': {'a': {'$b': 1}}}", 52, "$b");
}

TEST(unset_removes_fields_and_ignores_missing_ones)
{
    CHECK(CHECK_UPDATE("{'_id': 1, 'a': 1, 'b': 2}", "{'$unset': {'a': ''}}", "{'_id': 1, 'b': 2}"));
    CHECK(!CHECK_UPDATE("{'_id': 1, 'b': 2}", "{'$unset': {'a': 1, 'x.y': 1}}", "{'_id': 1, 'b': 2}"));
    CHECK_UPDATE("{'_id': 1, 'a': {'b': 1, 'c': 2}}", "{'$unset': {'a.b': 1}}", "{'_id': 1, 'a': {'c': 2}}");
}

TEST(unset_of_an_array_element_leaves_null)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 3]}", "{'$unset': {'a.1': 1}}", "{'_id': 1, 'a': [1, null, 3]}");
}

TEST(unset_through_a_scalar_is_a_no_op)
{
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': 5}", "{'$unset': {'a.b': 1}}", "{'_id': 1, 'a': 5}"));
}

/* ---- arithmetic ---- */

TEST(inc_adds_and_creates_missing_fields)
{
    CHECK_UPDATE("{'_id': 1, 'a': 1}", "{'$inc': {'a': 2, 'b': 5}}", "{'_id': 1, 'a': 3, 'b': 5}");
}

TEST(inc_of_int32_overflowing_becomes_int64)
{
    CHECK_UPDATE("{'_id': 1, 'a': 2147483647}", "{'$inc': {'a': 1}}",
                 "{'_id': 1, 'a': {'$numberLong': '2147483648'}}");
}

TEST(inc_of_int_by_double_gives_double)
{
    CHECK_UPDATE("{'_id': 1, 'a': 1}", "{'$inc': {'a': 0.5}}", "{'_id': 1, 'a': 1.5}");
}

TEST(inc_of_int_by_int64_gives_int64)
{
    CHECK_UPDATE("{'_id': 1, 'a': 1}", "{'$inc': {'a': {'$numberLong': '1'}}}",
                 "{'_id': 1, 'a': {'$numberLong': '2'}}");
}

TEST(inc_by_zero_reports_no_change)
{
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': 7}", "{'$inc': {'a': 0}}", "{'_id': 1, 'a': 7}"));
}

TEST(inc_of_int64_overflow_fails)
{
    CHECK_ERROR("{'_id': 1, 'a': {'$numberLong': '9223372036854775807'}}", "{'$inc': {'a': 1}}", 2,
                "Failed to apply $inc");
}

TEST(inc_with_a_non_numeric_argument_fails)
{
    CHECK_ERROR("{'_id': 1}", "{'$inc': {'a': 'x'}}", 14, "Cannot increment with non-numeric argument");
    CHECK_ERROR("{'_id': 1}", "{'$mul': {'a': 'x'}}", 14, "Cannot multiply with non-numeric argument");
}

TEST(inc_on_a_non_numeric_field_fails)
{
    CHECK_ERROR("{'_id': 1, 'a': 'x'}", "{'$inc': {'a': 1}}", 14, "Cannot apply $inc to a value of non-numeric type");
    CHECK_ERROR("{'_id': 1, 'a': [1]}", "{'$mul': {'a': 2}}", 14, "Cannot apply $mul");
}

TEST(mul_multiplies_and_creates_zero_of_the_argument_type)
{
    CHECK_UPDATE("{'_id': 1, 'a': 3}", "{'$mul': {'a': 4}}", "{'_id': 1, 'a': 12}");
    CHECK_UPDATE("{'_id': 1}", "{'$mul': {'a': 4}}", "{'_id': 1, 'a': 0}");
    CHECK_UPDATE("{'_id': 1}", "{'$mul': {'a': 2.5}}", "{'_id': 1, 'a': 0.0}");
    CHECK_UPDATE("{'_id': 1, 'a': 65536}", "{'$mul': {'a': 65536}}",
                 "{'_id': 1, 'a': {'$numberLong': '4294967296'}}");
}

TEST(min_and_max_replace_only_when_beyond)
{
    CHECK_UPDATE("{'_id': 1, 'a': 5}", "{'$min': {'a': 3}}", "{'_id': 1, 'a': 3}");
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': 5}", "{'$min': {'a': 7}}", "{'_id': 1, 'a': 5}"));
    CHECK_UPDATE("{'_id': 1, 'a': 5}", "{'$max': {'a': 7}}", "{'_id': 1, 'a': 7}");
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': 5}", "{'$max': {'a': 2}}", "{'_id': 1, 'a': 5}"));
    CHECK_UPDATE("{'_id': 1}", "{'$max': {'a': 2}}", "{'_id': 1, 'a': 2}");
}

TEST(min_and_max_compare_across_types_in_mongodb_order)
{
    CHECK_UPDATE("{'_id': 1, 'a': 5}", "{'$max': {'a': 'str'}}", "{'_id': 1, 'a': 'str'}");
    CHECK_UPDATE("{'_id': 1, 'a': 5}", "{'$min': {'a': null}}", "{'_id': 1, 'a': null}");
}

TEST(current_date_sets_a_date_or_a_timestamp)
{
    CHECK_UPDATE("{'_id': 1}", "{'$currentDate': {'a': true, 'b': {'%type': 'date'}}}",
                 "{'_id': 1, 'a': {'$date': {'$numberLong': '1700000000123'}}, 'b': {'$date': {'$numberLong': "
                 "'1700000000123'}}}");
    CHECK_UPDATE("{'_id': 1}", "{'$currentDate': {'t': {'%type': 'timestamp'}}}",
                 "{'_id': 1, 't': {'$timestamp': {'t': 1700000000, 'i': 1}}}");
}

TEST(current_date_rejects_bad_arguments)
{
    CHECK_ERROR("{'_id': 1}", "{'$currentDate': {'a': 1}}", 2, "not valid type for $currentDate");
    CHECK_ERROR("{'_id': 1}", "{'$currentDate': {'a': {'%type': 'x'}}}", 2, "'date' or 'timestamp'");
}

/* ---- $rename ---- */

TEST(rename_moves_a_field)
{
    CHECK_UPDATE("{'_id': 1, 'a': 1, 'b': 2}", "{'$rename': {'a': 'c'}}", "{'_id': 1, 'b': 2, 'c': 1}");
    CHECK_UPDATE("{'_id': 1, 'a': {'x': 1}}", "{'$rename': {'a.x': 'b.y'}}", "{'_id': 1, 'a': {}, 'b': {'y': 1}}");
}

TEST(rename_overwrites_an_existing_target_in_place)
{
    CHECK_UPDATE("{'_id': 1, 'b': 2, 'a': 1}", "{'$rename': {'a': 'b'}}", "{'_id': 1, 'b': 1}");
}

TEST(rename_of_a_missing_field_changes_nothing)
{
    CHECK(!CHECK_UPDATE("{'_id': 1, 'b': 2}", "{'$rename': {'a': 'c'}}", "{'_id': 1, 'b': 2}"));
}

TEST(rename_rejects_same_and_overlapping_paths)
{
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$rename': {'a': 'a'}}", 2, "must differ");
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$rename': {'a': 'a.b'}}", 2, "must not be on the same path");
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$rename': {'a': 5}}", 2, "must be a string");
    CHECK_ERROR("{'_id': 1, 'a': [1]}", "{'$rename': {'a.$': 'b'}}", 2, "may not be dynamic");
}

TEST(rename_through_arrays_fails)
{
    CHECK_ERROR("{'_id': 1, 'a': [{'b': 1}]}", "{'$rename': {'a.0.b': 'c'}}", 2, "source field cannot be an array");
    CHECK_ERROR("{'_id': 1, 'x': 1, 'a': [{'b': 1}]}", "{'$rename': {'x': 'a.0.c'}}", 2,
                "destination field cannot be an array");
}

/* ---- $setOnInsert ---- */

TEST(set_on_insert_is_ignored_outside_upsert_inserts)
{
    CHECK(!CHECK_UPDATE("{'_id': 1}", "{'$setOnInsert': {'a': 1}}", "{'_id': 1}"));
}

/* ---- $push ---- */

TEST(push_appends_and_creates_the_array)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1]}", "{'$push': {'a': 2}}", "{'_id': 1, 'a': [1, 2]}");
    CHECK_UPDATE("{'_id': 1}", "{'$push': {'a': [1]}}", "{'_id': 1, 'a': [[1]]}");
}

TEST(push_each_with_position_sort_and_slice)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2]}", "{'$push': {'a': {'$each': [8, 9], '$position': 1}}}",
                 "{'_id': 1, 'a': [1, 8, 9, 2]}");
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 3]}", "{'$push': {'a': {'$each': [0], '$position': -1}}}",
                 "{'_id': 1, 'a': [1, 2, 0, 3]}");
    CHECK_UPDATE("{'_id': 1, 'a': [5, 1]}", "{'$push': {'a': {'$each': [3], '$sort': 1}}}",
                 "{'_id': 1, 'a': [1, 3, 5]}");
    CHECK_UPDATE("{'_id': 1, 'a': [5, 1]}", "{'$push': {'a': {'$each': [3], '$sort': -1, '$slice': 2}}}",
                 "{'_id': 1, 'a': [5, 3]}");
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 3]}", "{'$push': {'a': {'$each': [4], '$slice': -2}}}",
                 "{'_id': 1, 'a': [3, 4]}");
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 3]}", "{'$push': {'a': {'$each': [], '$slice': 0}}}", "{'_id': 1, 'a': []}");
}

TEST(push_sorts_documents_by_fields_stably)
{
    CHECK_UPDATE("{'_id': 1, 'a': [{'s': 2, 'n': 'x'}, {'s': 1, 'n': 'y'}]}",
                 "{'$push': {'a': {'$each': [{'s': 2, 'n': 'z'}], '$sort': {'s': 1}}}}",
                 "{'_id': 1, 'a': [{'s': 1, 'n': 'y'}, {'s': 2, 'n': 'x'}, {'s': 2, 'n': 'z'}]}");
    CHECK_UPDATE("{'_id': 1, 'a': [{'s': {'t': 1}}, {'s': {'t': 3}}]}",
                 "{'$push': {'a': {'$each': [], '$sort': {'s.t': -1}}}}",
                 "{'_id': 1, 'a': [{'s': {'t': 3}}, {'s': {'t': 1}}]}");
}

TEST(push_rejects_bad_modifiers)
{
    CHECK_ERROR("{'_id': 1}", "{'$push': {'a': {'$each': 1}}}", 2, "must be an array");
    CHECK_ERROR("{'_id': 1}", "{'$push': {'a': {'$each': [], '$slice': 'x'}}}", 2, "$slice");
    CHECK_ERROR("{'_id': 1}", "{'$push': {'a': {'$each': [], '$sort': 2}}}", 2, "The $sort is invalid");
    CHECK_ERROR("{'_id': 1}", "{'$push': {'a': {'$each': [], '$sort': {}}}}", 2, "The $sort is invalid");
    CHECK_ERROR("{'_id': 1}", "{'$push': {'a': {'$each': [], '$position': 1.5}}}", 2, "$position");
    CHECK_ERROR("{'_id': 1}", "{'$push': {'a': {'$each': [], '$foo': 1}}}", 2, "Unrecognized clause in $push");
}

TEST(push_to_a_non_array_fails)
{
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$push': {'a': 2}}", 2, "must be an array but is of type int");
}

/* ---- $addToSet ---- */

TEST(add_to_set_adds_only_missing_values)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2]}", "{'$addToSet': {'a': 3}}", "{'_id': 1, 'a': [1, 2, 3]}");
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': [1, 2]}", "{'$addToSet': {'a': 2}}", "{'_id': 1, 'a': [1, 2]}"));
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': [1, 2]}", "{'$addToSet': {'a': 2.0}}", "{'_id': 1, 'a': [1, 2]}"));
}

TEST(add_to_set_each_deduplicates_and_creates)
{
    CHECK_UPDATE("{'_id': 1}", "{'$addToSet': {'a': {'$each': [1, 2, 1]}}}", "{'_id': 1, 'a': [1, 2]}");
    CHECK_UPDATE("{'_id': 1, 'a': [{'x': 1}]}", "{'$addToSet': {'a': {'$each': [{'x': 1}, {'x': 2}]}}}",
                 "{'_id': 1, 'a': [{'x': 1}, {'x': 2}]}");
}

TEST(add_to_set_errors)
{
    CHECK_ERROR("{'_id': 1, 'a': 5}", "{'$addToSet': {'a': 1}}", 2, "Cannot apply $addToSet to non-array field");
    CHECK_ERROR("{'_id': 1}", "{'$addToSet': {'a': {'$each': 3}}}", 14, "$each");
}

/* ---- $pop $pull $pullAll ---- */

TEST(pop_removes_the_first_or_last_element)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 3]}", "{'$pop': {'a': 1}}", "{'_id': 1, 'a': [1, 2]}");
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 3]}", "{'$pop': {'a': -1}}", "{'_id': 1, 'a': [2, 3]}");
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': []}", "{'$pop': {'a': 1}}", "{'_id': 1, 'a': []}"));
    CHECK(!CHECK_UPDATE("{'_id': 1}", "{'$pop': {'a': 1}}", "{'_id': 1}"));
}

TEST(pop_errors)
{
    CHECK_ERROR("{'_id': 1, 'a': [1]}", "{'$pop': {'a': 2}}", 9, "$pop expects 1 or -1, found: 2");
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$pop': {'a': 1}}", 14, "non-array type 'int'");
}

TEST(pull_removes_equal_values)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 1, 3]}", "{'$pull': {'a': 1}}", "{'_id': 1, 'a': [2, 3]}");
    CHECK_UPDATE("{'_id': 1, 'a': [[1], [2]]}", "{'$pull': {'a': [1]}}", "{'_id': 1, 'a': [[2]]}");
}

TEST(pull_with_a_value_condition)
{
    CHECK_UPDATE("{'_id': 1, 'a': [3, 6, 7, 1]}", "{'$pull': {'a': {'$gte': 6}}}", "{'_id': 1, 'a': [3, 1]}");
    CHECK_UPDATE("{'_id': 1, 'a': ['x', 'y', 'z']}", "{'$pull': {'a': {'$in': ['x', 'z']}}}", "{'_id': 1, 'a': ['y']}");
}

TEST(pull_with_a_document_condition_matches_document_elements)
{
    CHECK_UPDATE("{'_id': 1, 'a': [{'s': 8, 'i': 'b'}, {'s': 5, 'i': 'b'}, 8]}", "{'$pull': {'a': {'s': 8}}}",
                 "{'_id': 1, 'a': [{'s': 5, 'i': 'b'}, 8]}");
    CHECK_UPDATE("{'_id': 1, 'a': [{'s': 8}, {'s': 5}]}", "{'$pull': {'a': {'s': {'$lt': 6}}}}",
                 "{'_id': 1, 'a': [{'s': 8}]}");
}

TEST(pull_on_missing_or_non_array)
{
    CHECK(!CHECK_UPDATE("{'_id': 1}", "{'$pull': {'a': 1}}", "{'_id': 1}"));
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$pull': {'a': 1}}", 2, "non-array");
}

TEST(pull_all_removes_every_listed_value)
{
    CHECK_UPDATE("{'_id': 1, 'a': [0, 2, 5, 5, 1, 0]}", "{'$pullAll': {'a': [0, 5]}}", "{'_id': 1, 'a': [2, 1]}");
    CHECK_ERROR("{'_id': 1, 'a': [1]}", "{'$pullAll': {'a': 1}}", 2, "$pullAll requires an array argument");
}

/* ---- positional ---- */

TEST(positional_dollar_uses_the_matched_index)
{
    CHECK_UPDATE_POS("{'_id': 1, 'a': [1, 2, 3]}", "{'$set': {'a.$': 9}}", 1, "{'_id': 1, 'a': [1, 9, 3]}");
    CHECK_UPDATE_POS("{'_id': 1, 'a': [{'b': 1}, {'b': 2}]}", "{'$inc': {'a.$.b': 5}}", 1,
                     "{'_id': 1, 'a': [{'b': 1}, {'b': 7}]}");
}

TEST(positional_dollar_without_a_match_fails)
{
    CHECK_ERROR("{'_id': 1, 'a': [1, 2, 3]}", "{'$set': {'a.$': 9}}", 2,
                "The positional operator did not find the match needed from the query.");
}

TEST(all_positional_updates_every_element)
{
    CHECK_UPDATE("{'_id': 1, 'a': [1, 2, 3]}", "{'$inc': {'a.$[]': 10}}", "{'_id': 1, 'a': [11, 12, 13]}");
    CHECK_UPDATE("{'_id': 1, 'a': [{'b': [1, 2]}, {'b': [3]}]}", "{'$set': {'a.$[].b.$[]': 0}}",
                 "{'_id': 1, 'a': [{'b': [0, 0]}, {'b': [0]}]}");
}

TEST(all_positional_on_a_missing_or_scalar_field_fails)
{
    CHECK_ERROR("{'_id': 1}", "{'$set': {'a.$[].b': 1}}", 2, "must exist in the document");
    CHECK_ERROR("{'_id': 1, 'a': 5}", "{'$set': {'a.$[]': 1}}", 2, "Cannot apply array updates to non-array element");
}

TEST(array_filters_update_matching_elements)
{
    CHECK_UPDATE_AF("{'_id': 1, 'a': [1, 5, 9]}", "{'$set': {'a.$[x]': 0}}", "[{'x': {'$gte': 5}}]",
                    "{'_id': 1, 'a': [1, 0, 0]}");
    CHECK_UPDATE_AF("{'_id': 1, 'a': [{'g': 1, 'v': 0}, {'g': 2, 'v': 0}]}", "{'$inc': {'a.$[e].v': 1}}",
                    "[{'e.g': 2}]", "{'_id': 1, 'a': [{'g': 1, 'v': 0}, {'g': 2, 'v': 1}]}");
}

TEST(array_filters_nest)
{
    CHECK_UPDATE_AF("{'_id': 1, 'a': [{'k': 1, 'b': [1, 2]}, {'k': 2, 'b': [1, 2]}]}", "{'$set': {'a.$[o].b.$[i]': 0}}",
                    "[{'o.k': 2}, {'i': 2}]", "{'_id': 1, 'a': [{'k': 1, 'b': [1, 2]}, {'k': 2, 'b': [1, 0]}]}");
}

TEST(array_filter_errors)
{
    CHECK_ERROR("{'_id': 1, 'a': [1]}", "{'$set': {'a.$[x]': 0}}", 2, "No array filter found for identifier 'x'");
    CHECK_ERROR_AF("{'_id': 1, 'a': [1]}", "{'$set': {'a': 0}}", "[{'x': 1}]", 9,
                   "The array filter for identifier 'x' was not used");
    CHECK_ERROR_AF("{'_id': 1, 'a': [1]}", "{'$set': {'a.$[x]': 0}}", "[{'x': 1, 'y': 2}]", 9,
                   "Expected a single top-level field name");
    CHECK_ERROR_AF("{'_id': 1, 'a': [1]}", "{'$set': {'a.$[x]': 0}}", "[{'x': 1}, {'x': 2}]", 9,
                   "multiple array filters");
    CHECK_ERROR_AF("{'_id': 1, 'a': [1]}", "{'$set': {'a.$[X]': 0}}", "[{'X': 1}]", 2, "lowercase letter");
    CHECK_ERROR_AF("{'_id': 1, 'a': [1]}", "{'$set': {'a.$[x]': 0}}", "[{}]", 9, "top-level field name");
}

/* ---- parse errors ---- */

TEST(empty_operator_document_fails)
{
    CHECK_ERROR("{'_id': 1}", "{'$set': {}}", 9, "'$set' is empty. You must specify a field like so: {$set: {<field>: ...}}");
}

TEST(unknown_modifier_fails)
{
    CHECK_ERROR("{'_id': 1}", "{'$foo': {'a': 1}}", 9,
                "Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an "
                "array");
    CHECK_ERROR("{'_id': 1}", "{'$set': {'a': 1}, 'b': 2}", 9, "Unknown modifier: b");
}

TEST(operator_argument_must_be_a_document)
{
    CHECK_ERROR("{'_id': 1}", "{'$set': 1}", 9, "Modifiers operate on fields");
}

TEST(conflicting_paths_fail)
{
    CHECK_ERROR("{'_id': 1}", "{'$set': {'a': 1}, '$inc': {'a': 1}}", 40,
                "Updating the path 'a' would create a conflict at 'a'");
    CHECK_ERROR("{'_id': 1}", "{'$set': {'a': 1, 'a.b': 1}}", 40,
                "Updating the path 'a.b' would create a conflict at 'a'");
    CHECK_ERROR("{'_id': 1}", "{'$set': {'a.b': 1}, '$unset': {'a': 1}}", 40,
                "Updating the path 'a' would create a conflict at 'a'");
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$rename': {'a': 'b'}, '$set': {'b': 1}}", 40, "conflict at 'b'");
}

TEST(sibling_paths_do_not_conflict)
{
    CHECK_UPDATE("{'_id': 1}", "{'$set': {'a.b': 1, 'a.c': 2, 'ab': 3}}", "{'_id': 1, 'a': {'b': 1, 'c': 2}, 'ab': 3}");
}

TEST(empty_path_components_fail)
{
    CHECK_ERROR("{'_id': 1}", "{'$set': {'a..b': 1}}", 56, "empty field name");
    CHECK_ERROR("{'_id': 1}", "{'$set': {'': 1}}", 56, "empty update path");
    CHECK_ERROR("{'_id': 1}", "{'$set': {'a.$x': 1}}", 52, NULL);
}

TEST(modifying_id_fails)
{
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'$set': {'_id': 2}}", 66,
                "Performing an update on the path '_id' would modify the immutable field '_id'");
    CHECK_ERROR("{'_id': {'x': 1}}", "{'$set': {'_id.x': 2}}", 66, "'_id.x'");
    CHECK_ERROR("{'_id': 1}", "{'$unset': {'_id': 1}}", 66, NULL);
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': 1}", "{'$set': {'_id': 1}}", "{'_id': 1, 'a': 1}"));
}

TEST(non_document_update_fails)
{
    CHECK_ERROR("{'_id': 1}", "5", 9, NULL);
}

/* ---- replacement ---- */

TEST(replacement_keeps_id_first)
{
    CHECK(CHECK_UPDATE("{'_id': 1, 'a': 1, 'b': 2}", "{'c': 3}", "{'_id': 1, 'c': 3}"));
    CHECK_UPDATE("{'_id': 1, 'a': 1}", "{'c': 3, '_id': 1}", "{'_id': 1, 'c': 3}");
    CHECK_UPDATE("{'_id': 1, 'a': 1}", "{}", "{'_id': 1}");
}

TEST(replacement_with_identical_content_reports_no_change)
{
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': 1}", "{'a': 1}", "{'_id': 1, 'a': 1}"));
}

TEST(replacement_changing_id_fails)
{
    CHECK_ERROR("{'_id': 1, 'a': 1}", "{'_id': 2, 'a': 1}", 66, "was found to have been altered to _id: 2");
}

TEST(replacement_with_dollar_fields_fails)
{
    CHECK_ERROR("{'_id': 1}", "{'a': 1, '$x': 1}", 52,
                "The dollar ($) prefixed field '$x' in '$x' is not allowed in the context of an update's replacement "
                "document");
}

TEST(update_create_reports_replacement_form)
{
    bson_t *w = J("{'r': {'a': 1}, 'o': {'$set': {'a': 1}}}");
    bson_iter_t it;
    struct err e;
    err_init(&e);
    struct update *u = NULL;
    bson_iter_init_find(&it, w, "r");
    CHECK_EQ_INT(update_create(bson_iter_value(&it), NULL, &u, &e), 0);
    CHECK(u && update_is_replacement(u));
    update_destroy(u);
    u = NULL;
    bson_iter_init_find(&it, w, "o");
    CHECK_EQ_INT(update_create(bson_iter_value(&it), NULL, &u, &e), 0);
    CHECK(u && !update_is_replacement(u));
    update_destroy(u);
    bson_destroy(w);
}

/* ---- upserts ---- */

TEST(upsert_seeds_equality_fields_and_applies_the_update)
{
    CHECK_UPSERT("{'_id': 7, 'a': 1, 'b': {'$gt': 3}}", "{'$set': {'c': 2}}", "{'_id': 7, 'a': 1, 'c': 2}");
    CHECK_UPSERT("{'a': {'$eq': 5}}", "{'$inc': {'n': 1}}", "~{'a': 5, 'n': 1}");
}

TEST(upsert_seeds_dotted_paths_and_and_clauses)
{
    CHECK_UPSERT("{'x.y': 1, '$and': [{'z': 2}, {'w': {'$lt': 1}}]}", "{'$set': {'k': 1}}",
                 "~{'x': {'y': 1}, 'z': 2, 'k': 1}");
}

TEST(upsert_applies_set_on_insert)
{
    CHECK_UPSERT("{'_id': 1}", "{'$setOnInsert': {'created': true}, '$set': {'a': 1}}",
                 "{'_id': 1, 'a': 1, 'created': true}");
}

TEST(upsert_puts_id_first_even_when_set_by_the_update)
{
    CHECK_UPSERT("{'a': 1}", "{'$set': {'_id': 5}}", "{'_id': 5, 'a': 1}");
}

TEST(upsert_ignores_or_and_regex_conditions)
{
    CHECK_UPSERT("{'$or': [{'a': 1}], 'r': {'$regex': 'x'}, 'q': {'$in': [1]}}", "{'$set': {'b': 1}}", "~{'b': 1}");
}

TEST(upsert_with_a_replacement_takes_the_query_id)
{
    CHECK_UPSERT("{'_id': 3, 'a': 1}", "{'b': 2}", "{'_id': 3, 'b': 2}");
    CHECK_UPSERT("{'a': 1}", "{'b': 2}", "~{'b': 2}");
    CHECK_UPSERT("{'_id': 3}", "{'b': 2, '_id': 3}", "{'_id': 3, 'b': 2}");
}

TEST(upsert_with_conflicting_query_paths_fails)
{
    CHECK_UPSERT_ERROR("{'a': 1, 'a.b': 1}", "{'$set': {'c': 1}}", 54);
    CHECK_UPSERT_ERROR("{'a': 1, '$and': [{'a': 2}]}", "{'$set': {'c': 1}}", 54);
}

TEST(upsert_changing_the_query_id_fails)
{
    CHECK_UPSERT_ERROR("{'_id': 1}", "{'$set': {'_id': 2}}", 66);
}

TEST(upsert_with_positional_operator_fails)
{
    CHECK_UPSERT_ERROR("{'a': 1}", "{'$set': {'b.$': 1}}", 2);
}

TEST(upsert_update_overrides_seeded_fields)
{
    CHECK_UPSERT("{'_id': 1, 'a': 1}", "{'$inc': {'a': 2}}", "{'_id': 1, 'a': 3}");
}

TEST(pull_with_an_invalid_condition_fails_at_parse)
{
    CHECK_ERROR("{'_id': 1, 'a': [1]}", "{'$pull': {'a': {'$foo': 1}}}", 2, "$foo");
}

TEST(unset_with_all_positional_nulls_every_element_field)
{
    CHECK_UPDATE("{'_id': 1, 'a': [{'b': 1, 'c': 1}, {'c': 2}]}", "{'$unset': {'a.$[].b': 1}}",
                 "{'_id': 1, 'a': [{'c': 1}, {'c': 2}]}");
}

TEST(push_through_array_filters_appends_to_inner_arrays)
{
    CHECK_UPDATE_AF("{'_id': 1, 'a': [{'k': 1, 'v': []}, {'k': 2, 'v': [7]}]}", "{'$push': {'a.$[m].v': 8}}",
                    "[{'m.k': 2}]", "{'_id': 1, 'a': [{'k': 1, 'v': []}, {'k': 2, 'v': [7, 8]}]}");
}

TEST(operators_apply_in_path_order_across_operators)
{
    CHECK_UPDATE("{'_id': 1}", "{'$set': {'z': 1}, '$inc': {'m': 1}, '$push': {'b': 1}}",
                 "{'_id': 1, 'b': [1], 'm': 1, 'z': 1}");
}

TEST(empty_update_document_is_a_replacement)
{
    bson_t *w = J("{'r': {}}");
    bson_iter_t it;
    struct err e;
    err_init(&e);
    struct update *u = NULL;
    bson_iter_init_find(&it, w, "r");
    CHECK_EQ_INT(update_create(bson_iter_value(&it), NULL, &u, &e), 0);
    CHECK(u && update_is_replacement(u));
    update_destroy(u);
    bson_destroy(w);
}

TEST(pipeline_update_sets_fields_from_expressions)
{
    CHECK_UPDATE("{'_id': 1, 'a': 2}", "[{'$set': {'b': '$a'}}]", "{'_id': 1, 'a': 2, 'b': 2}");
    CHECK(!CHECK_UPDATE("{'_id': 1, 'a': 2}", "[{'$set': {'a': 2}}]", "{'_id': 1, 'a': 2}"));
}

TEST(pipeline_update_keeps_id_when_a_stage_drops_it)
{
    CHECK_UPDATE("{'_id': 1, 'a': {'x': 5}}", "[{'$replaceWith': '$a'}]", "{'_id': 1, 'x': 5}");
}

TEST(pipeline_update_refuses_array_filters_and_id_changes)
{
    CHECK_ERROR_AF("{'_id': 1}", "[{'$set': {'a': 1}}]", "[{'x': 1}]", 9, "arrayFilters");
    CHECK_ERROR("{'_id': 1}", "[{'$set': {'_id': 2}}]", 66, NULL);
}

TEST(upsert_with_a_pipeline_applies_it_to_the_seeded_document)
{
    CHECK_UPSERT("{'_id': 4, 'a': 3}", "[{'$set': {'b': '$a'}}]", "{'_id': 4, 'a': 3, 'b': 3}");
}

int main(void)
{
    RUN(set_replaces_an_existing_field_in_place);
    RUN(set_appends_new_fields_in_sorted_path_order);
    RUN(set_orders_numeric_path_components_numerically);
    RUN(set_creates_intermediate_documents_for_dotted_paths);
    RUN(set_to_the_same_value_reports_no_change);
    RUN(set_to_an_equal_value_of_another_type_is_a_change);
    RUN(set_indexes_into_arrays_with_numeric_components);
    RUN(set_past_the_end_of_an_array_pads_with_nulls);
    RUN(set_with_a_numeric_component_on_a_missing_field_creates_a_document);
    RUN(set_inside_a_scalar_fails_with_path_not_viable);
    RUN(set_of_a_document_value_with_a_dollar_field_is_refused);
    RUN(unset_removes_fields_and_ignores_missing_ones);
    RUN(unset_of_an_array_element_leaves_null);
    RUN(unset_through_a_scalar_is_a_no_op);
    RUN(inc_adds_and_creates_missing_fields);
    RUN(inc_of_int32_overflowing_becomes_int64);
    RUN(inc_of_int_by_double_gives_double);
    RUN(inc_of_int_by_int64_gives_int64);
    RUN(inc_by_zero_reports_no_change);
    RUN(inc_of_int64_overflow_fails);
    RUN(inc_with_a_non_numeric_argument_fails);
    RUN(inc_on_a_non_numeric_field_fails);
    RUN(mul_multiplies_and_creates_zero_of_the_argument_type);
    RUN(min_and_max_replace_only_when_beyond);
    RUN(min_and_max_compare_across_types_in_mongodb_order);
    RUN(current_date_sets_a_date_or_a_timestamp);
    RUN(current_date_rejects_bad_arguments);
    RUN(rename_moves_a_field);
    RUN(rename_overwrites_an_existing_target_in_place);
    RUN(rename_of_a_missing_field_changes_nothing);
    RUN(rename_rejects_same_and_overlapping_paths);
    RUN(rename_through_arrays_fails);
    RUN(set_on_insert_is_ignored_outside_upsert_inserts);
    RUN(push_appends_and_creates_the_array);
    RUN(push_each_with_position_sort_and_slice);
    RUN(push_sorts_documents_by_fields_stably);
    RUN(push_rejects_bad_modifiers);
    RUN(push_to_a_non_array_fails);
    RUN(add_to_set_adds_only_missing_values);
    RUN(add_to_set_each_deduplicates_and_creates);
    RUN(add_to_set_errors);
    RUN(pop_removes_the_first_or_last_element);
    RUN(pop_errors);
    RUN(pull_removes_equal_values);
    RUN(pull_with_a_value_condition);
    RUN(pull_with_a_document_condition_matches_document_elements);
    RUN(pull_on_missing_or_non_array);
    RUN(pull_all_removes_every_listed_value);
    RUN(positional_dollar_uses_the_matched_index);
    RUN(positional_dollar_without_a_match_fails);
    RUN(all_positional_updates_every_element);
    RUN(all_positional_on_a_missing_or_scalar_field_fails);
    RUN(array_filters_update_matching_elements);
    RUN(array_filters_nest);
    RUN(array_filter_errors);
    RUN(empty_operator_document_fails);
    RUN(unknown_modifier_fails);
    RUN(operator_argument_must_be_a_document);
    RUN(conflicting_paths_fail);
    RUN(sibling_paths_do_not_conflict);
    RUN(empty_path_components_fail);
    RUN(modifying_id_fails);
    RUN(non_document_update_fails);
    RUN(replacement_keeps_id_first);
    RUN(replacement_with_identical_content_reports_no_change);
    RUN(replacement_changing_id_fails);
    RUN(replacement_with_dollar_fields_fails);
    RUN(update_create_reports_replacement_form);
    RUN(upsert_seeds_equality_fields_and_applies_the_update);
    RUN(upsert_seeds_dotted_paths_and_and_clauses);
    RUN(upsert_applies_set_on_insert);
    RUN(upsert_puts_id_first_even_when_set_by_the_update);
    RUN(upsert_ignores_or_and_regex_conditions);
    RUN(upsert_with_a_replacement_takes_the_query_id);
    RUN(upsert_with_conflicting_query_paths_fails);
    RUN(upsert_changing_the_query_id_fails);
    RUN(upsert_with_positional_operator_fails);
    RUN(upsert_update_overrides_seeded_fields);
    RUN(pull_with_an_invalid_condition_fails_at_parse);
    RUN(unset_with_all_positional_nulls_every_element_field);
    RUN(push_through_array_filters_appends_to_inner_arrays);
    RUN(operators_apply_in_path_order_across_operators);
    RUN(empty_update_document_is_a_replacement);
    RUN(pipeline_update_sets_fields_from_expressions);
    RUN(pipeline_update_keeps_id_when_a_stage_drops_it);
    RUN(pipeline_update_refuses_array_filters_and_id_changes);
    RUN(upsert_with_a_pipeline_applies_it_to_the_seeded_document);
    return test_report();
}
