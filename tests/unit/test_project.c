/* test_project.c - find projections: inclusion, exclusion, _id, arrays, $slice, $elemMatch, "a.$". */
#include "query/project.h"

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

/* Projects doc with spec; returns the result as canonical-ish JSON (relaxed)
 * in buf, or "ERR <code>: <msg>". */
static const char *proj(const char *spec, const char *doc, int pos, char *buf, size_t len)
{
    bson_t *s = json(spec), *d = json(doc), out = BSON_INITIALIZER;
    struct projection *p;
    struct err e;
    err_init(&e);
    int rc = projection_create(s, &p, &e);
    if (rc == 0) {
        rc = projection_apply(p, d, pos, &out, &e);
        projection_destroy(p);
    }
    if (rc) {
        snprintf(buf, len, "ERR %d: %.900s", -rc, e.msg);
    } else {
        char *js = bson_as_relaxed_extended_json(&out, NULL);
        snprintf(buf, len, "%s", js);
        bson_free(js);
    }
    err_clear(&e);
    bson_destroy(&out);
    bson_destroy(s);
    bson_destroy(d);
    return buf;
}

#define P(spec, doc, want)                                                                              \
    do {                                                                                                \
        char buf_[2048];                                                                                \
        CHECK_EQ_STR(proj(spec, doc, -1, buf_, sizeof buf_), want);                                     \
    } while (0)

static const char *D = "{\"_id\": 1, \"a\": 1, \"b\": {\"c\": 2, \"d\": 3}, \"e\": [1, 2, 3, 4, 5]}";

TEST(inclusion_keeps_listed_fields_and_id_in_document_order)
{
    P("{\"a\": 1}", D, "{ \"_id\" : 1, \"a\" : 1 }");
    P("{\"e\": 1, \"a\": true}", D, "{ \"_id\" : 1, \"a\" : 1, \"e\" : [ 1, 2, 3, 4, 5 ] }");
    P("{\"a\": 1, \"_id\": 0}", D, "{ \"a\" : 1 }");
    P("{\"_id\": 1}", D, "{ \"_id\" : 1 }");
    P("{\"b.c\": 1}", D, "{ \"_id\" : 1, \"b\" : { \"c\" : 2 } }");
    P("{\"b\": {\"d\": 1}}", D, "{ \"_id\" : 1, \"b\" : { \"d\" : 3 } }");
    P("{\"zz\": 1}", D, "{ \"_id\" : 1 }");
    P("{\"a.x\": 1}", D, "{ \"_id\" : 1 }");
}

TEST(exclusion_drops_listed_fields_only)
{
    P("{\"e\": 0, \"b\": 0}", D, "{ \"_id\" : 1, \"a\" : 1 }");
    P("{\"_id\": 0}", "{\"_id\": 1, \"a\": 2}", "{ \"a\" : 2 }");
    P("{\"b.c\": 0, \"e\": false}", D, "{ \"_id\" : 1, \"a\" : 1, \"b\" : { \"d\" : 3 } }");
    P("{}", "{\"_id\": 1, \"a\": 2}", "{ \"_id\" : 1, \"a\" : 2 }");
}

TEST(dotted_paths_map_over_arrays_of_subdocuments)
{
    const char *doc = "{\"_id\": 1, \"a\": [{\"b\": 1, \"c\": 2}, {\"c\": 3}, 7, [{\"b\": 4}]]}";
    P("{\"a.b\": 1, \"_id\": 0}", doc, "{ \"a\" : [ { \"b\" : 1 }, {  }, [ { \"b\" : 4 } ] ] }");
    P("{\"a.b\": 0, \"_id\": 0}", doc, "{ \"a\" : [ { \"c\" : 2 }, { \"c\" : 3 }, 7, [ {  } ] ] }");
}

TEST(mixing_inclusion_and_exclusion_is_an_error_with_mongod_text)
{
    P("{\"a\": 1, \"b\": 0}", D, "ERR 2: Cannot do exclusion on field b in inclusion projection");
    P("{\"a\": 0, \"b\": 1}", D, "ERR 2: Cannot do inclusion on field b in exclusion projection");
    P("{\"a\": 1, \"a.b\": 1}", D, "ERR 2: Path collision at a.b");
    P("{\"$a\": 1}", D, "ERR 2: FieldPath field names may not start with '$'. Given: $a");
    P("{\"a\": {\"$meta\": \"textScore\"}}", D, "ERR 238: $meta projection is not supported by this server");
}

TEST(slice_keeps_other_fields_unless_inclusion)
{
    P("{\"e\": {\"$slice\": 2}}", D, "{ \"_id\" : 1, \"a\" : 1, \"b\" : { \"c\" : 2, \"d\" : 3 }, \"e\" : [ 1, 2 ] }");
    P("{\"e\": {\"$slice\": -2}, \"a\": 1}", D, "{ \"_id\" : 1, \"a\" : 1, \"e\" : [ 4, 5 ] }");
    P("{\"e\": {\"$slice\": [1, 2]}, \"_id\": 0, \"a\": 1}", D, "{ \"a\" : 1, \"e\" : [ 2, 3 ] }");
    P("{\"e\": {\"$slice\": [-2, 5]}, \"_id\": 0, \"a\": 1}", D, "{ \"a\" : 1, \"e\" : [ 4, 5 ] }");
    P("{\"e\": {\"$slice\": [9, 1]}, \"_id\": 0, \"a\": 1}", D, "{ \"a\" : 1, \"e\" : [  ] }");
    P("{\"a\": {\"$slice\": 1}, \"e\": 0, \"b\": 0}", D, "{ \"_id\" : 1, \"a\" : 1 }");
    P("{\"e\": {\"$slice\": [1, 0]}}", D, "ERR 2: $slice limit must be positive");
    P("{\"e\": {\"$slice\": \"x\"}}", D, "ERR 2: $slice only supports numbers and [skip, limit] arrays");
}

TEST(elem_match_returns_the_first_matching_element_only)
{
    const char *doc = "{\"_id\": 1, \"a\": [{\"x\": 1}, {\"x\": 5}, {\"x\": 6}], \"b\": 2}";
    P("{\"a\": {\"$elemMatch\": {\"x\": {\"$gt\": 4}}}}", doc, "{ \"_id\" : 1, \"a\" : [ { \"x\" : 5 } ] }");
    P("{\"a\": {\"$elemMatch\": {\"x\": 9}}}", doc, "{ \"_id\" : 1 }");
    P("{\"a\": {\"$elemMatch\": {\"x\": 6}}, \"b\": 1}", doc, "{ \"_id\" : 1, \"a\" : [ { \"x\" : 6 } ], \"b\" : 2 }");
    P("{\"a\": {\"$elemMatch\": 1}}", doc, "ERR 2: elemMatch: Invalid argument, object required.");
}

TEST(positional_projection_uses_the_matcher_index)
{
    char buf[2048];
    CHECK_EQ_STR(proj("{\"e.$\": 1}", D, 2, buf, sizeof buf), "{ \"_id\" : 1, \"e\" : [ 3 ] }");
    CHECK_EQ_STR(proj("{\"e.$\": 1}", D, -1, buf, sizeof buf),
                 "ERR 2: Executor error during find command :: caused by :: positional operator '.$' couldn't "
                 "find a matching element in the array");
    CHECK_EQ_STR(proj("{\"e.$\": 1, \"a.$\": 1}", D, 0, buf, sizeof buf),
                 "ERR 2: Cannot specify more than one positional projection per query.");
    CHECK_EQ_STR(proj("{\"a.$\": 1}", D, 0, buf, sizeof buf), "{ \"_id\" : 1, \"a\" : 1 }");
}

TEST(literal_values_add_top_level_fields)
{
    P("{\"a\": 1, \"k\": \"lit\"}", D, "{ \"_id\" : 1, \"a\" : 1, \"k\" : \"lit\" }");
    P("{\"x.y\": \"lit\"}", D,
      "ERR 238: literal values on dotted paths in a find projection are not supported by this server; use aggregate");
}

int main(void)
{
    RUN(inclusion_keeps_listed_fields_and_id_in_document_order);
    RUN(exclusion_drops_listed_fields_only);
    RUN(dotted_paths_map_over_arrays_of_subdocuments);
    RUN(mixing_inclusion_and_exclusion_is_an_error_with_mongod_text);
    RUN(slice_keeps_other_fields_unless_inclusion);
    RUN(elem_match_returns_the_first_matching_element_only);
    RUN(positional_projection_uses_the_matcher_index);
    RUN(literal_values_add_top_level_fields);
    return test_report();
}
