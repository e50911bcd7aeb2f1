/* test_sort.c - sort specs and the order of documents by their sort keys. */
#include "query/sort.h"

#include "testhelp.h"

static bson_t *json(const char *s)
{
    bson_t *b = bson_new_from_json((const uint8_t *)s, -1, NULL);
    if (!b) {
        fprintf(stderr, "  bad json %s\n", s);
        exit(2);
    }
    return b;
}

static struct sort_spec *spec(const char *s)
{
    bson_t *b = json(s);
    struct sort_spec *out = NULL;
    struct err e;
    err_init(&e);
    if (sort_spec_create(b, &out, &e) != 0)
        out = NULL;
    bson_destroy(b);
    return out;
}

/* sign(memcmp) of the sort keys of two documents. */
static int order(const struct sort_spec *s, const char *da, const char *db)
{
    bson_t *a = json(da), *b = json(db);
    struct keybuf ka, kb;
    keybuf_init(&ka);
    keybuf_init(&kb);
    sort_key_append(s, a, &ka);
    sort_key_append(s, b, &kb);
    size_t n = ka.len < kb.len ? ka.len : kb.len;
    int c = memcmp(ka.data, kb.data, n);
    if (c == 0)
        c = ka.len < kb.len ? -1 : ka.len > kb.len ? 1 : 0;
    keybuf_destroy(&ka);
    keybuf_destroy(&kb);
    bson_destroy(a);
    bson_destroy(b);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

TEST(ascending_and_descending_fields_order_documents)
{
    struct sort_spec *s = spec("{\"a\": 1, \"b\": -1}");
    CHECK(s != NULL);
    CHECK_EQ_INT(sort_spec_n_fields(s), 2);
    int dir = 0;
    CHECK_EQ_STR(sort_spec_field(s, 1, &dir), "b");
    CHECK_EQ_INT(dir, -1);
    CHECK_EQ_INT(sort_spec_natural(s), 0);
    CHECK_EQ_INT(order(s, "{\"a\": 1, \"b\": 1}", "{\"a\": 2, \"b\": 9}"), -1);
    CHECK_EQ_INT(order(s, "{\"a\": 1, \"b\": 1}", "{\"a\": 1, \"b\": 9}"), 1);
    CHECK_EQ_INT(order(s, "{\"a\": 1, \"b\": 1}", "{\"a\": 1.0, \"b\": 1}"), 0);
    CHECK_EQ_INT(order(s, "{\"a\": 5}", "{\"a\": \"5\"}"), -1);
    sort_spec_destroy(s);
}

TEST(missing_sorts_as_null_and_below_numbers)
{
    struct sort_spec *s = spec("{\"a\": 1}");
    CHECK_EQ_INT(order(s, "{}", "{\"a\": null}"), 0);
    CHECK_EQ_INT(order(s, "{}", "{\"a\": -1000}"), -1);
    sort_spec_destroy(s);
    s = spec("{\"a\": -1}");
    CHECK_EQ_INT(order(s, "{}", "{\"a\": -1000}"), 1);
    sort_spec_destroy(s);
}

TEST(arrays_sort_by_min_ascending_and_max_descending)
{
    struct sort_spec *s = spec("{\"a\": 1}");
    CHECK_EQ_INT(order(s, "{\"a\": [5, 1]}", "{\"a\": 2}"), -1);
    CHECK_EQ_INT(order(s, "{\"a\": [5, 3]}", "{\"a\": 2}"), 1);
    CHECK_EQ_INT(order(s, "{\"a\": []}", "{\"a\": null}"), -1);
    sort_spec_destroy(s);
    s = spec("{\"a\": -1}");
    CHECK_EQ_INT(order(s, "{\"a\": [5, 1]}", "{\"a\": 4}"), -1);
    CHECK_EQ_INT(order(s, "{\"a\": [3, 1]}", "{\"a\": 4}"), 1);
    sort_spec_destroy(s);
    s = spec("{\"a.b\": 1}");
    CHECK_EQ_INT(order(s, "{\"a\": [{\"b\": 7}, {\"b\": 2}]}", "{\"a\": {\"b\": 3}}"), -1);
    sort_spec_destroy(s);
}

TEST(natural_and_invalid_specs)
{
    struct sort_spec *s = spec("{\"$natural\": -1}");
    CHECK(s != NULL);
    CHECK_EQ_INT(sort_spec_natural(s), -1);
    CHECK_EQ_INT(sort_spec_n_fields(s), 0);
    sort_spec_destroy(s);
    s = spec("{}");
    CHECK(s != NULL && sort_spec_n_fields(s) == 0);
    sort_spec_destroy(s);
    CHECK(spec("{\"a\": 2}") == NULL);
    CHECK(spec("{\"a\": \"x\"}") == NULL);
    CHECK(spec("{\"a\": 0}") == NULL);
    bson_t *b = json("{\"a\": {\"$meta\": \"textScore\"}}");
    struct sort_spec *out;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(sort_spec_create(b, &out, &e), -ERR_NOT_IMPLEMENTED);
    bson_destroy(b);
    b = json("{\"a\": 1.0, \"b\": {\"$numberLong\": \"-1\"}}");
    CHECK_EQ_INT(sort_spec_create(b, &out, &e), 0);
    sort_spec_destroy(out);
    bson_destroy(b);
}

int main(void)
{
    RUN(ascending_and_descending_fields_order_documents);
    RUN(missing_sorts_as_null_and_below_numbers);
    RUN(arrays_sort_by_min_ascending_and_max_descending);
    RUN(natural_and_invalid_specs);
    return test_report();
}
