/* test_plan.c - index choice, and that key ranges hold exactly what they should. */
#include "query/plan.h"

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

static void key_of(const char *json_value_a, struct keybuf *kb, bool is_descending)
{
    bson_t *d = json(json_value_a);
    bson_iter_t it;
    bson_iter_init_find(&it, d, "v");
    keyenc_append_value(kb, bson_iter_value(&it), is_descending);
    bson_destroy(d);
}

TEST(key_range_check_uses_prefix_semantics_at_both_ends)
{
    struct key_range r;
    keybuf_init(&r.lo);
    keybuf_init(&r.hi);
    key_of("{\"v\": 5}", &r.lo, false);
    key_of("{\"v\": 9}", &r.hi, false);
    r.is_lo_exclusive = false;
    r.is_hi_exclusive = false;
    struct keybuf k;
    keybuf_init(&k);
    key_of("{\"v\": 5}", &k, false);
    CHECK_EQ_INT(key_range_check(&r, k.data, k.len), 0);
    key_of("{\"v\": \"suffix\"}", &k, false); /* compound key starting with 5 */
    CHECK_EQ_INT(key_range_check(&r, k.data, k.len), 0);
    r.is_lo_exclusive = true;
    CHECK_EQ_INT(key_range_check(&r, k.data, k.len), -1);
    keybuf_reset(&k);
    key_of("{\"v\": 9}", &k, false);
    key_of("{\"v\": 1}", &k, false);
    CHECK_EQ_INT(key_range_check(&r, k.data, k.len), 0);
    r.is_hi_exclusive = true;
    CHECK_EQ_INT(key_range_check(&r, k.data, k.len), 1);
    keybuf_reset(&k);
    key_of("{\"v\": 4.5}", &k, false);
    CHECK_EQ_INT(key_range_check(&r, k.data, k.len), -1);
    keybuf_reset(&k);
    key_of("{\"v\": 10}", &k, false);
    CHECK_EQ_INT(key_range_check(&r, k.data, k.len), 1);
    keybuf_reset(&r.lo);
    keybuf_reset(&r.hi);
    CHECK_EQ_INT(key_range_check(&r, k.data, k.len), 0);
    keybuf_destroy(&k);
    keybuf_destroy(&r.lo);
    keybuf_destroy(&r.hi);
}

static const char *docs[] = {
    "{\"_id\": 1, \"a\": 1, \"b\": 1}",           "{\"_id\": 2, \"a\": 1, \"b\": 2}",
    "{\"_id\": 3, \"a\": 2, \"b\": 1}",           "{\"_id\": 4, \"a\": 2.5, \"b\": \"x\"}",
    "{\"_id\": 5, \"a\": 3, \"b\": 3}",           "{\"_id\": 6, \"a\": \"3\", \"b\": 3}",
    "{\"_id\": 7, \"b\": 1}",                     "{\"_id\": 8, \"a\": null, \"b\": 2}",
    "{\"_id\": 9, \"a\": -1, \"b\": -1}",         "{\"_id\": 10, \"a\": {\"$numberLong\": \"2\"}, \"b\": 5}",
    "{\"_id\": 11, \"a\": \"abc\", \"b\": 1}",    "{\"_id\": 12, \"a\": true, \"b\": 1}",
    "{\"_id\": \"s\", \"a\": 100, \"b\": 0.5}",   "{\"_id\": 2.5, \"a\": 2, \"b\": 2}",
};
#define N_DOCS ((int)(sizeof docs / sizeof *docs))

/* Index key of doc for a (non-multikey) pattern. */
static void index_key(const bson_t *pattern, const bson_t *doc, struct keybuf *kb)
{
    bson_iter_t it;
    bson_iter_init(&it, pattern);
    while (bson_iter_next(&it)) {
        bson_iter_t f;
        bool desc = bson_iter_as_int64(&it) < 0;
        if (bson_iter_init_find(&f, doc, bson_iter_key(&it)))
            keyenc_append_value(kb, bson_iter_value(&f), desc);
        else
            keyenc_append_missing(kb, desc);
    }
}

static bool in_plan(const struct plan *p, const struct keybuf *k)
{
    for (int i = 0; i < p->n_ranges; i++)
        if (key_range_check(&p->ranges[i], k->data, k->len) == 0)
            return true;
    return false;
}

/* Plans filter over the given indexes; checks the chosen index and that the
 * ranges hold every match (and, when exact, nothing else). Returns the index. */
static int check_plan(const char *filter, const char **patterns, int n_patterns, bool is_exact)
{
    bson_t *f = json(filter);
    struct matcher *m;
    struct err e;
    err_init(&e);
    if (matcher_create(f, &m, &e) != 0) {
        fprintf(stderr, "  bad filter %s\n", filter);
        exit(2);
    }
    bson_t *pats[8];
    struct plan_index ix[8];
    for (int i = 0; i < n_patterns; i++) {
        pats[i] = json(patterns[i]);
        ix[i] = (struct plan_index){"ix", pats[i], false};
    }
    struct plan p;
    plan_choose(m, ix, n_patterns, &p);
    for (int i = 1; i < p.n_ranges; i++)
        CHECK(memcmp(p.ranges[i - 1].lo.data, p.ranges[i].lo.data,
                     p.ranges[i - 1].lo.len < p.ranges[i].lo.len ? p.ranges[i - 1].lo.len : p.ranges[i].lo.len) <= 0);
    if (p.index >= 0) {
        for (int d = 0; d < N_DOCS; d++) {
            bson_t *doc = json(docs[d]);
            struct keybuf k;
            keybuf_init(&k);
            index_key(pats[p.index], doc, &k);
            bool is_match = matcher_match(m, doc), is_in = in_plan(&p, &k);
            if ((is_match && !is_in) || (is_exact && is_in && !is_match)) {
                fprintf(stderr, "  %s: doc %s match=%d in ranges=%d\n", filter, docs[d], is_match, is_in);
                test_current_failed = 1;
            }
            keybuf_destroy(&k);
            bson_destroy(doc);
        }
    }
    int chosen = p.index;
    plan_close(&p);
    for (int i = 0; i < n_patterns; i++)
        bson_destroy(pats[i]);
    matcher_destroy(m);
    bson_destroy(f);
    return chosen;
}

TEST(single_field_conditions_give_exact_ranges)
{
    const char *a[] = {"{\"a\": 1}"};
    CHECK_EQ_INT(check_plan("{\"a\": 2}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$gt\": 1}}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$gte\": 1, \"$lt\": 3}}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$lte\": 2}}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$gt\": \"a\"}}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$in\": [3, 1, \"3\", 1.0]}}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$gt\": 1, \"$gte\": 2}}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$gt\": 1, \"$lt\": \"z\"}}", a, 1, false), 0);
}

TEST(descending_fields_flip_range_directions)
{
    const char *a[] = {"{\"a\": -1}"};
    CHECK_EQ_INT(check_plan("{\"a\": {\"$gt\": 1}}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$gte\": 1, \"$lt\": 3}}", a, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$in\": [2, 100]}}", a, 1, true), 0);
}

TEST(compound_indexes_use_equality_prefix_then_one_range)
{
    const char *ab[] = {"{\"a\": 1, \"b\": -1}"};
    CHECK_EQ_INT(check_plan("{\"a\": 1, \"b\": 2}", ab, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": 1, \"b\": {\"$gt\": 1}}", ab, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$in\": [1, 2]}, \"b\": {\"$lte\": 1}}", ab, 1, true), 0);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$gt\": 1}, \"b\": 1}", ab, 1, false), 0);
    CHECK_EQ_INT(check_plan("{\"b\": 1}", ab, 1, false), -1);
}

TEST(unusable_conditions_fall_back_to_a_collection_scan)
{
    const char *a[] = {"{\"a\": 1}"};
    CHECK_EQ_INT(check_plan("{\"a\": null}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": [1, 2]}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": {\"b\": 1}}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$regex\": \"^a\"}}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$exists\": true}}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$ne\": 1}}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$nin\": [1]}}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$not\": {\"$gt\": 1}}}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"$or\": [{\"a\": 1}, {\"a\": 2}]}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$in\": [1, null]}}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{\"a\": {\"$in\": []}}", a, 1, false), -1);
    CHECK_EQ_INT(check_plan("{}", a, 1, false), -1);
    const char *special[] = {"{\"a\": \"hashed\"}"};
    CHECK_EQ_INT(check_plan("{\"a\": 1}", special, 1, false), -1);
}

TEST(the_index_with_most_equality_fields_wins_and_id_wins_ties)
{
    const char *ix[] = {"{\"_id\": 1}", "{\"a\": 1}", "{\"a\": 1, \"b\": 1}", "{\"b\": 1}"};
    CHECK_EQ_INT(check_plan("{\"a\": 1, \"b\": 2}", ix, 4, true), 2);
    CHECK_EQ_INT(check_plan("{\"a\": 1}", ix, 4, true), 1);
    CHECK_EQ_INT(check_plan("{\"_id\": 3, \"a\": 1}", ix, 4, false), 0);
    CHECK_EQ_INT(check_plan("{\"_id\": \"s\"}", ix, 4, true), 0);
    CHECK_EQ_INT(check_plan("{\"_id\": {\"$gte\": 2}}", ix, 4, true), 0);
    CHECK_EQ_INT(check_plan("{\"b\": {\"$gt\": 0}, \"a\": 2}", ix, 4, true), 2);
}

TEST(multikey_indexes_never_intersect_two_bounds)
{
    bson_t *f = json("{\"a\": {\"$gt\": 5, \"$lt\": 3}}");
    struct matcher *m;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    bson_t *pat = json("{\"a\": 1}");
    struct plan_index ix = {"a_1", pat, true};
    struct plan p;
    plan_choose(m, &ix, 1, &p);
    CHECK_EQ_INT(p.index, 0);
    CHECK_EQ_INT(p.n_ranges, 1);
    /* {a: [1, 10]} matches; its index keys are 1 and 10: one must be inside. */
    struct keybuf k1, k10;
    keybuf_init(&k1);
    keybuf_init(&k10);
    key_of("{\"v\": 1}", &k1, false);
    key_of("{\"v\": 10}", &k10, false);
    CHECK(key_range_check(&p.ranges[0], k1.data, k1.len) == 0 || key_range_check(&p.ranges[0], k10.data, k10.len) == 0);
    CHECK_EQ_STR(p.summary, "IXSCAN { a: 1 }");
    plan_close(&p);
    ix.is_multikey = false;
    plan_choose(m, &ix, 1, &p);
    CHECK_EQ_INT(p.index, 0);
    CHECK(key_range_check(&p.ranges[0], k1.data, k1.len) != 0);
    CHECK(key_range_check(&p.ranges[0], k10.data, k10.len) != 0);
    plan_close(&p);
    keybuf_destroy(&k1);
    keybuf_destroy(&k10);
    bson_destroy(pat);
    matcher_destroy(m);
    bson_destroy(f);
}

TEST(collection_scan_summary_and_close_are_safe)
{
    bson_t *f = json("{\"z\": 1}");
    struct matcher *m;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(matcher_create(f, &m, &e), 0);
    struct plan p;
    plan_choose(m, NULL, 0, &p);
    CHECK_EQ_INT(p.index, -1);
    CHECK_EQ_STR(p.summary, "COLLSCAN");
    plan_close(&p);
    plan_close(&p);
    matcher_destroy(m);
    bson_destroy(f);
}

int main(void)
{
    RUN(key_range_check_uses_prefix_semantics_at_both_ends);
    RUN(single_field_conditions_give_exact_ranges);
    RUN(descending_fields_flip_range_directions);
    RUN(compound_indexes_use_equality_prefix_then_one_range);
    RUN(unusable_conditions_fall_back_to_a_collection_scan);
    RUN(the_index_with_most_equality_fields_wins_and_id_wins_ties);
    RUN(multikey_indexes_never_intersect_two_bounds);
    RUN(collection_scan_summary_and_close_are_safe);
    return test_report();
}
