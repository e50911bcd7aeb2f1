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
    P("{\"a\": 1, \"b\": 0}", D, "ERR 31254: Cannot do exclusion on field b in inclusion projection");
    P("{\"a\": 0, \"b\": 1}", D, "ERR 31253: Cannot do inclusion on field b in exclusion projection");
    P("{\"a\": \"$b\", \"e\": 0}", D, "ERR 31254: Cannot do exclusion on field e in inclusion projection");
    P("{\"e\": 0, \"a\": {\"$literal\": 1}}", D, "ERR 31253: Cannot do inclusion on field a in exclusion projection");
    P("{\"b\": {\"c\": 0, \"d\": 1}}", D, "ERR 31253: Cannot do inclusion on field b.d in exclusion projection");
    P("{\"_id\": 0, \"a\": 0, \"k\": \"x\"}", D, "ERR 31253: Cannot do inclusion on field k in exclusion projection");
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

TEST(literal_values_add_fields_after_the_documents_own)
{
    P("{\"a\": 1, \"k\": \"lit\"}", D, "{ \"_id\" : 1, \"a\" : 1, \"k\" : \"lit\" }");
    P("{\"k\": \"lit\", \"a\": 1}", D, "{ \"_id\" : 1, \"a\" : 1, \"k\" : \"lit\" }");
    P("{\"k\": null, \"_id\": 0}", D, "{ \"k\" : null }");
    P("{\"k\": [1, \"$a\", \"s\"], \"_id\": 0}", D, "{ \"k\" : [ 1, 1, \"s\" ] }");
    P("{\"x.y\": \"lit\"}", D, "{ \"_id\" : 1, \"x\" : { \"y\" : \"lit\" } }");
    P("{\"x\": {\"y\": \"lit\", \"z\": \"$a\"}, \"_id\": 0}", D, "{ \"x\" : { \"y\" : \"lit\", \"z\" : 1 } }");
}

TEST(expressions_are_evaluated_against_the_whole_document)
{
    P("{\"n\": \"$b.c\", \"lit\": {\"$literal\": 5}, \"_id\": 0}", D, "{ \"n\" : 2, \"lit\" : 5 }");
    P("{\"s\": {\"$add\": [\"$a\", \"$b.d\", 10]}, \"_id\": 0}", D, "{ \"s\" : 14 }");
    P("{\"a\": {\"$multiply\": [\"$a\", 7]}}", D, "{ \"_id\" : 1, \"a\" : 7 }");
    P("{\"b.sum\": {\"$add\": [\"$b.c\", \"$b.d\"]}, \"_id\": 0}", D, "{ \"b\" : { \"sum\" : 5 } }");
    P("{\"b.c\": 1, \"b.k\": \"$a\", \"_id\": 0}", D, "{ \"b\" : { \"c\" : 2, \"k\" : 1 } }");
    P("{\"d\": {\"$literal\": {\"$x\": 1}}, \"_id\": 0}", D, "{ \"d\" : { \"$x\" : 1 } }");
    P("{\"r\": \"$$ROOT.a\", \"_id\": 0}", D, "{ \"r\" : 1 }");
    /* A missing result leaves the field out, as in $project. */
    P("{\"m\": \"$nope\", \"_id\": 0}", D, "{ }");
}

TEST(computed_subfields_map_over_arrays_and_replace_scalars)
{
    const char *doc = "{\"_id\": 1, \"a\": [{\"b\": 1, \"c\": 2}, 7, [{\"b\": 4}]], \"s\": 3}";
    P("{\"a.k\": {\"$literal\": 0}, \"_id\": 0}", doc, "{ \"a\" : [ { \"k\" : 0 }, { \"k\" : 0 }, [ { \"k\" : 0 } ] ] }");
    P("{\"a.b\": 1, \"a.k\": \"x\", \"_id\": 0}", doc,
      "{ \"a\" : [ { \"b\" : 1, \"k\" : \"x\" }, { \"k\" : \"x\" }, [ { \"b\" : 4, \"k\" : \"x\" } ] ] }");
    P("{\"s.t\": \"$s\", \"_id\": 0}", doc, "{ \"s\" : { \"t\" : 3 } }");
}

TEST(invalid_or_failing_expressions_are_errors)
{
    P("{\"x\": {\"$nope\": 1}}", D, "ERR 168: Unrecognized expression '$nope'");
    char buf[2048];
    const char *got = proj("{\"x\": \"$\"}", D, -1, buf, sizeof buf);
    CHECK(strncmp(got, "ERR ", 4) == 0);
    CHECK(strstr(got, "'$' by itself is not a valid FieldPath") != NULL);
    got = proj("{\"x\": {\"$divide\": [1, 0]}}", D, -1, buf, sizeof buf);
    CHECK(strncmp(got, "ERR ", 4) == 0);
    CHECK(strstr(got, "divide by zero") != NULL);
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
    RUN(literal_values_add_fields_after_the_documents_own);
    RUN(expressions_are_evaluated_against_the_whole_document);
    RUN(computed_subfields_map_over_arrays_and_replace_scalars);
    RUN(invalid_or_failing_expressions_are_errors);
    return test_report();
}
