/* test_agg.c - aggregation pipelines, accumulators and expressions against
 * mongod 6.0's documented behaviour. Tests write JSON with single quotes;
 * "$TYPE" stands for the $type operator (libbson's JSON reader would take
 * "$type" for extended JSON). Results are compared as compact relaxed JSON. */
#include "query/agg.h"
#include "query/agg_internal.h"

#include "testhelp.h"

#include <bson/bson.h>

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
    char *q = strdup(s);
    for (char *p = q; *p; p++)
        if (*p == '\'')
            *p = '"';
    bson_error_t error;
    bson_t *b = bson_new_from_json((const uint8_t *)q, -1, &error);
    if (!b) {
        fprintf(stderr, "  bad json %s: %s\n", q, error.message);
        exit(2);
    }
    free(q);
    bson_t *out = bson_new();
    copy_renaming(b, out);
    bson_destroy(b);
    return out;
}

/* Relaxed JSON without whitespace outside strings, quotes as '. */
static char *compact(const bson_t *b, bool is_canonical)
{
    char *j = is_canonical ? bson_as_canonical_extended_json(b, NULL) : bson_as_relaxed_extended_json(b, NULL);
    char *out = malloc(strlen(j) + 1), *o = out;
    bool in_str = false;
    for (const char *p = j; *p; p++) {
        if (*p == '"' && (p == j || p[-1] != '\\')) {
            in_str = !in_str;
            *o++ = '\'';
            continue;
        }
        if (!in_str && *p == ' ')
            continue;
        *o++ = *p;
    }
    *o = '\0';
    bson_free(j);
    return out;
}

struct src_ctx {
    bson_iter_t it;
    bson_t cur;
    int n_pulled;
};

static int src_next(void *ctx, const bson_t **doc, struct err *e)
{
    (void)e;
    struct src_ctx *s = ctx;
    if (!bson_iter_next(&s->it))
        return 0;
    const bson_value_t *v = bson_iter_value(&s->it);
    bson_init_static(&s->cur, v->value.v_doc.data, v->value.v_doc.data_len);
    *doc = &s->cur;
    s->n_pulled++;
    return 1;
}

struct sink {
    char buf[8192];
    size_t len;
    bool is_canonical;
    int n;
};

static int sink_emit(void *ctx, const bson_t *doc, struct err *e)
{
    (void)e;
    struct sink *s = ctx;
    char *j = compact(doc, s->is_canonical);
    s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len, "%s%s", s->n++ ? "," : "", j);
    free(j);
    return 0;
}

static char result[8192];
static int last_pulled;
static size_t memory_limit;

/* Runs pipeline over docs; returns the outputs joined by "," or
 * "ERR <code>: <message>". */
static const char *run_ex(const char *pipeline, const char *docs, bool is_canonical)
{
    char pbuf[4096], dbuf[8192];
    snprintf(pbuf, sizeof pbuf, "{'p': %s}", pipeline);
    snprintf(dbuf, sizeof dbuf, "{'d': %s}", docs);
    bson_t *pb = json(pbuf), *db = json(dbuf);
    bson_iter_t it;
    bson_t stages;
    bson_iter_init_find(&it, pb, "p");
    const bson_value_t *pv = bson_iter_value(&it);
    bson_init_static(&stages, pv->value.v_doc.data, pv->value.v_doc.data_len);
    struct err e;
    err_init(&e);
    struct pipeline *p;
    int rc = pipeline_create(&stages, &p, &e);
    if (rc == 0) {
        struct src_ctx sc = {.n_pulled = 0};
        struct sink sk = {.len = 0, .is_canonical = is_canonical, .n = 0};
        bson_iter_t dit;
        bson_iter_init_find(&dit, db, "d");
        bson_iter_recurse(&dit, &sc.it);
        struct agg_source src = {src_next, &sc};
        if (memory_limit)
            pipeline_set_memory_limit(p, memory_limit);
        sk.buf[0] = '\0';
        rc = pipeline_run(p, &src, sink_emit, &sk, 1600000000000LL, &e);
        last_pulled = sc.n_pulled;
        pipeline_destroy(p);
        if (rc == 0)
            snprintf(result, sizeof result, "%s", sk.buf);
    }
    if (rc != 0)
        snprintf(result, sizeof result, "ERR %d: %s", -rc, e.msg);
    err_clear(&e);
    bson_destroy(pb);
    bson_destroy(db);
    return result;
}

static const char *run(const char *pipeline, const char *docs) { return run_ex(pipeline, docs, false); }

/* Evaluates one expression against doc: "{'r':<value>}" or "ERR ...". */
static const char *eval(const char *expr, const char *doc)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "{'e': %s}", expr);
    bson_t *eb = json(buf), *d = json(doc), out = BSON_INITIALIZER;
    bson_iter_t it;
    bson_iter_init_find(&it, eb, "e");
    struct err e;
    err_init(&e);
    int rc = agg_expr_eval_append(bson_iter_value(&it), d, &out, "r", &e);
    if (rc == 0) {
        char *j = compact(&out, false);
        snprintf(result, sizeof result, "%s", j);
        free(j);
    } else {
        snprintf(result, sizeof result, "ERR %d: %s", -rc, e.msg);
    }
    err_clear(&e);
    bson_destroy(&out);
    bson_destroy(eb);
    bson_destroy(d);
    return result;
}

static const char *apply_update(const char *pipeline, const char *doc)
{
    char pbuf[4096];
    snprintf(pbuf, sizeof pbuf, "{'p': %s}", pipeline);
    bson_t *pb = json(pbuf), *d = json(doc), out = BSON_INITIALIZER, stages;
    bson_iter_t it;
    bson_iter_init_find(&it, pb, "p");
    const bson_value_t *pv = bson_iter_value(&it);
    bson_init_static(&stages, pv->value.v_doc.data, pv->value.v_doc.data_len);
    struct err e;
    err_init(&e);
    struct pipeline *p;
    int rc = pipeline_create(&stages, &p, &e);
    if (rc == 0) {
        rc = pipeline_apply_to_doc(p, d, &out, &e);
        pipeline_destroy(p);
    }
    if (rc == 0) {
        char *j = compact(&out, false);
        snprintf(result, sizeof result, "%s", j);
        free(j);
    } else {
        snprintf(result, sizeof result, "ERR %d: %s", -rc, e.msg);
    }
    err_clear(&e);
    bson_destroy(&out);
    bson_destroy(pb);
    bson_destroy(d);
    return result;
}

static const char *people = "[{'_id':1,'name':'ann','age':30,'city':'oslo','tags':['a','b']},"
                            "{'_id':2,'name':'bob','age':25,'city':'rome','tags':[]},"
                            "{'_id':3,'name':'cy','age':35,'city':'oslo'},"
                            "{'_id':4,'name':'di','age':25,'city':'rome','tags':'solo'}]";

/* ---------------- stages ---------------- */

TEST(match_filters_documents)
{
    CHECK_EQ_STR(run("[{'$match':{'city':'oslo'}},{'$project':{'name':1}}]", people),
                 "{'_id':1,'name':'ann'},{'_id':3,'name':'cy'}");
}

TEST(match_reports_bad_filters)
{
    CHECK(strncmp(run("[{'$match':{'a':{'$bogus':1}}}]", "[]"), "ERR 2:", 6) == 0);
    CHECK_EQ_STR(run("[{'$match':5}]", "[]"), "ERR 15959: the match filter must be an expression in an object");
}

TEST(leading_match_is_exposed_to_the_planner)
{
    bson_t *pb = json("{'p':[{'$match':{'a':1}},{'$limit':1}]}");
    bson_iter_t it;
    bson_t stages;
    bson_iter_init_find(&it, pb, "p");
    const bson_value_t *v = bson_iter_value(&it);
    bson_init_static(&stages, v->value.v_doc.data, v->value.v_doc.data_len);
    struct err e;
    err_init(&e);
    struct pipeline *p;
    CHECK_EQ_INT(pipeline_create(&stages, &p, &e), 0);
    const bson_t *f = pipeline_leading_match(p);
    CHECK(f != NULL && bson_has_field(f, "a"));
    pipeline_destroy(p);
    bson_destroy(pb);
    pb = json("{'p':[{'$limit':1},{'$match':{'a':1}}]}");
    bson_iter_init_find(&it, pb, "p");
    v = bson_iter_value(&it);
    bson_init_static(&stages, v->value.v_doc.data, v->value.v_doc.data_len);
    CHECK_EQ_INT(pipeline_create(&stages, &p, &e), 0);
    CHECK(pipeline_leading_match(p) == NULL);
    pipeline_destroy(p);
    bson_destroy(pb);
}

TEST(project_includes_excludes_and_computes)
{
    CHECK_EQ_STR(run("[{'$project':{'name':1,'_id':0}}]", "[{'_id':1,'name':'a','x':2}]"), "{'name':'a'}");
    CHECK_EQ_STR(run("[{'$project':{'x':0}}]", "[{'_id':1,'name':'a','x':2}]"), "{'_id':1,'name':'a'}");
    CHECK_EQ_STR(run("[{'$project':{'b':'$a.b','c':{'$literal':1},'d':{'$add':['$x',1]}}}]",
                     "[{'_id':1,'a':{'b':5},'x':2}]"),
                 "{'_id':1,'b':5,'c':1,'d':3}");
    /* computed fields come after included ones, in spec order */
    CHECK_EQ_STR(run("[{'$project':{'a':'$b','b':1}}]", "[{'_id':1,'a':1,'b':2}]"), "{'_id':1,'b':2,'a':2}");
}

TEST(project_handles_dotted_and_nested_paths)
{
    CHECK_EQ_STR(run("[{'$project':{'a.b':1}}]", "[{'_id':1,'a':{'b':1,'c':2}}]"), "{'_id':1,'a':{'b':1}}");
    CHECK_EQ_STR(run("[{'$project':{'a':{'b':1}}}]", "[{'_id':1,'a':{'b':1,'c':2}}]"), "{'_id':1,'a':{'b':1}}");
    CHECK_EQ_STR(run("[{'$project':{'a.b':1}}]", "[{'_id':1,'a':[{'b':1,'c':2},3,{'c':4}]}]"),
                 "{'_id':1,'a':[{'b':1},{}]}");
    CHECK_EQ_STR(run("[{'$project':{'a.c':0}}]", "[{'_id':1,'a':[{'b':1,'c':2},3]}]"),
                 "{'_id':1,'a':[{'b':1},3]}");
    CHECK_EQ_STR(run("[{'$project':{'a.x':{'$literal':7}}}]", "[{'_id':1}]"), "{'_id':1,'a':{'x':7}}");
    CHECK_EQ_STR(run("[{'$project':{'r':'$$REMOVE','n':1}}]", "[{'_id':1,'n':1}]"), "{'_id':1,'n':1}");
}

TEST(project_rejects_bad_specs)
{
    CHECK_EQ_STR(run("[{'$project':{'a':1,'b':0}}]", "[]"),
                 "ERR 9: Invalid $project :: caused by :: Cannot do exclusion on field b in inclusion projection");
    CHECK_EQ_STR(run("[{'$project':{'a':0,'b':1}}]", "[]"),
                 "ERR 9: Invalid $project :: caused by :: Cannot do inclusion on field b in exclusion projection");
    CHECK_EQ_STR(run("[{'$project':{}}]", "[]"),
                 "ERR 9: Invalid $project :: caused by :: projection specification must have at least one field");
    CHECK_EQ_STR(run("[{'$project':{'a':1,'a.b':1}}]", "[]"),
                 "ERR 9: Invalid $project :: caused by :: Path collision at a.b");
    CHECK_EQ_STR(run("[{'$project':{'a':{}}}]", "[]"),
                 "ERR 9: Invalid $project :: caused by :: An empty sub-projection is not a valid value. Found "
                 "empty object at path");
    CHECK_EQ_STR(run("[{'$project':{'a':{'$foo':1}}}]", "[]"),
                 "ERR 168: Invalid $project :: caused by :: Unrecognized expression '$foo'");
}

TEST(add_fields_and_set_replace_in_place_and_append)
{
    CHECK_EQ_STR(run("[{'$addFields':{'a':10,'z':{'$multiply':['$a',2]}}}]", "[{'_id':1,'a':1,'b':2}]"),
                 "{'_id':1,'a':10,'b':2,'z':2}");
    CHECK_EQ_STR(run("[{'$set':{'s.x':1}}]", "[{'_id':1,'s':{'y':2}}]"), "{'_id':1,'s':{'y':2,'x':1}}");
    CHECK_EQ_STR(run("[{'$set':{'s':{'x':1}}}]", "[{'_id':1,'s':{'y':2}}]"), "{'_id':1,'s':{'y':2,'x':1}}");
    CHECK_EQ_STR(run("[{'$set':{'a.b':1}}]", "[{'_id':1,'a':[1,{'c':1}]}]"),
                 "{'_id':1,'a':[{'b':1},{'c':1,'b':1}]}");
    CHECK_EQ_STR(run("[{'$set':{'a':'$nope'}}]", "[{'_id':1,'a':1}]"), "{'_id':1}");
    CHECK_EQ_STR(run("[{'$set':{'e':{}}}]", "[{'_id':1}]"), "{'_id':1,'e':{}}");
    CHECK_EQ_STR(run("[{'$set':5}]", "[]"), "ERR 9: $set specification stage must be an object, got int");
}

TEST(unset_removes_fields_by_string_or_array)
{
    CHECK_EQ_STR(run("[{'$unset':'a'}]", "[{'_id':1,'a':1,'b':2}]"), "{'_id':1,'b':2}");
    CHECK_EQ_STR(run("[{'$unset':['a','c.d']}]", "[{'_id':1,'a':1,'b':2,'c':{'d':1,'e':2}}]"),
                 "{'_id':1,'b':2,'c':{'e':2}}");
    CHECK_EQ_STR(run("[{'$unset':[1]}]", "[]"),
                 "ERR 9: $unset specification must be a string or an array containing only string values");
}

TEST(sort_orders_stably_and_rejects_bad_specs)
{
    CHECK_EQ_STR(run("[{'$sort':{'age':1,'_id':-1}},{'$project':{'_id':1}}]", people),
                 "{'_id':4},{'_id':2},{'_id':1},{'_id':3}");
    CHECK_EQ_STR(run("[{'$sort':{'age':-1}},{'$project':{'_id':1}}]", people),
                 "{'_id':3},{'_id':1},{'_id':2},{'_id':4}");
    CHECK_EQ_STR(run("[{'$sort':{}}]", "[]"), "ERR 15976: $sort stage must have at least one sort key");
    CHECK_EQ_STR(run("[{'$sort':1}]", "[]"), "ERR 15973: the $sort key specification must be an object");
    CHECK(strncmp(run("[{'$sort':{'a':2}}]", "[]"), "ERR ", 4) == 0);
}

TEST(sort_then_limit_keeps_the_top_documents)
{
    char docs[4096];
    size_t len = (size_t)snprintf(docs, sizeof docs, "[");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(docs + len, sizeof docs - len, "%s{'_id':%d}", i ? "," : "", (i * 37) % 300);
    snprintf(docs + len, sizeof docs - len, "]");
    CHECK_EQ_STR(run("[{'$sort':{'_id':-1}},{'$limit':3}]", docs), "{'_id':299},{'_id':298},{'_id':297}");
}

TEST(skip_and_limit_page_and_validate)
{
    CHECK_EQ_STR(run("[{'$skip':1},{'$limit':2},{'$project':{'_id':1}}]", people), "{'_id':2},{'_id':3}");
    CHECK_EQ_STR(run("[{'$limit':0}]", "[]"), "ERR 15958: the limit must be positive");
    CHECK(strstr(run("[{'$skip':-1}]", "[]"), "non-negative") != NULL);
    CHECK(strstr(run("[{'$limit':'x'}]", "[]"), "Expected a number") != NULL);
    CHECK_EQ_STR(run("[{'$limit':2.0},{'$project':{'_id':1}}]", people), "{'_id':1},{'_id':2}");
}

TEST(limit_stops_pulling_input_early)
{
    run("[{'$limit':2}]", people);
    CHECK_EQ_INT(last_pulled, 2);
    run("[{'$sort':{'_id':1}},{'$limit':1}]", people);
    CHECK_EQ_INT(last_pulled, 4);
}

TEST(group_accumulates_every_operator)
{
    CHECK_EQ_STR(run("[{'$group':{'_id':'$city','n':{'$sum':1},'total':{'$sum':'$age'},'avg':{'$avg':'$age'},"
                     "'min':{'$min':'$age'},'max':{'$max':'$age'},'first':{'$first':'$name'},"
                     "'last':{'$last':'$name'},'names':{'$push':'$name'},'ages':{'$addToSet':'$age'},"
                     "'c':{'$count':{}}}}]",
                     people),
                 "{'_id':'oslo','n':2,'total':65,'avg':32.5,'min':30,'max':35,'first':'ann','last':'cy',"
                 "'names':['ann','cy'],'ages':[30,35],'c':2},"
                 "{'_id':'rome','n':2,'total':50,'avg':25.0,'min':25,'max':25,'first':'bob','last':'di',"
                 "'names':['bob','di'],'ages':[25],'c':2}");
}

TEST(group_ids_can_be_null_paths_or_documents)
{
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'n':{'$sum':1}}}]", people), "{'_id':null,'n':4}");
    CHECK_EQ_STR(run("[{'$group':{'_id':'$nope','n':{'$sum':1}}}]", people), "{'_id':null,'n':4}");
    CHECK_EQ_STR(run("[{'$group':{'_id':{'c':'$city','z':'$zz'},'n':{'$sum':1}}}]", "[{'city':'x'},{'city':'x'}]"),
                 "{'_id':{'c':'x','z':null},'n':2}");
    /* 1, 1L and 1.0 are one group */
    CHECK_EQ_STR(run("[{'$group':{'_id':'$a','n':{'$sum':1}}}]",
                     "[{'a':1},{'a':{'$numberLong':'1'}},{'a':1.0},{'a':2}]"),
                 "{'_id':1,'n':3},{'_id':2,'n':1}");
    CHECK_EQ_STR(run("[{'$group':{'_id':'$a','n':{'$sum':1}}}]", "[]"), "");
}

TEST(group_sum_keeps_integers_and_widens)
{
    /* countDocuments: an int32 n */
    CHECK_EQ_STR(run_ex("[{'$match':{}},{'$skip':0},{'$limit':10},{'$group':{'_id':1,'n':{'$sum':1}}}]", people,
                        true),
                 "{'_id':{'$numberInt':'1'},'n':{'$numberInt':'4'}}");
    CHECK_EQ_STR(run_ex("[{'$group':{'_id':null,'s':{'$sum':'$a'}}}]", "[{'a':2147483647},{'a':1}]", true),
                 "{'_id':null,'s':{'$numberLong':'2147483648'}}");
    CHECK_EQ_STR(run_ex("[{'$group':{'_id':null,'s':{'$sum':'$a'}}}]", "[{'a':1},{'a':{'$numberLong':'2'}}]", true),
                 "{'_id':null,'s':{'$numberLong':'3'}}");
    CHECK_EQ_STR(run_ex("[{'$group':{'_id':null,'s':{'$sum':'$a'}}}]", "[{'a':1},{'a':2.5},{'a':'x'}]", true),
                 "{'_id':null,'s':{'$numberDouble':'3.5'}}");
    CHECK_EQ_STR(run_ex("[{'$group':{'_id':null,'s':{'$sum':'$a'}}}]",
                        "[{'a':{'$numberLong':'9223372036854775807'}},{'a':1}]", true),
                 "{'_id':null,'s':{'$numberDouble':'9223372036854775808.0'}}");
    CHECK_EQ_STR(run_ex("[{'$group':{'_id':null,'s':{'$sum':'$nope'},'a':{'$avg':'$nope'}}}]", "[{}]", true),
                 "{'_id':null,'s':{'$numberInt':'0'},'a':null}");
}

TEST(group_min_max_skip_nulls_and_push_skips_missing)
{
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'mn':{'$min':'$a'},'mx':{'$max':'$a'},'p':{'$push':'$a'},"
                     "'f':{'$first':'$a'}}}]",
                     "[{'a':null},{'b':1},{'a':'s'},{'a':3}]"),
                 "{'_id':null,'mn':3,'mx':'s','p':[null,'s',3],'f':null}");
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'mn':{'$min':'$a'}}}]", "[{'b':1}]"), "{'_id':null,'mn':null}");
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'s':{'$addToSet':'$a'}}}]", "[{'a':[1]},{'a':[1]},{'a':1},{'a':1.0}]"),
                 "{'_id':null,'s':[[1],1]}");
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'m':{'$mergeObjects':'$a'}}}]", "[{'a':{'x':1}},{'a':null},{'a':{'y':2,'x':3}}]"),
                 "{'_id':null,'m':{'x':3,'y':2}}");
}

TEST(group_rejects_bad_specs)
{
    CHECK_EQ_STR(run("[{'$group':{'n':{'$sum':1}}}]", "[]"), "ERR 15955: a group specification must include an _id");
    CHECK_EQ_STR(run("[{'$group':{'_id':1,'n':{'$bogus':1}}}]", "[]"), "ERR 15952: unknown group operator '$bogus'");
    CHECK_EQ_STR(run("[{'$group':{'_id':1,'n':5}}]", "[]"), "ERR 40234: The field 'n' must be an accumulator object");
    CHECK_EQ_STR(run("[{'$group':{'_id':1,'n':{'$sum':1,'$avg':1}}}]", "[]"),
                 "ERR 40238: The field 'n' must specify one accumulator");
    CHECK_EQ_STR(run("[{'$group':{'_id':1,'a.b':{'$sum':1}}}]", "[]"),
                 "ERR 40235: the group aggregate field name 'a.b' cannot be used because $group's field names cannot "
                 "contain '.'");
    CHECK_EQ_STR(run("[{'$group':{'_id':1,'n':{'$sum':[1,2]}}}]", "[]"),
                 "ERR 9: The $sum accumulator is a unary operator");
    CHECK_EQ_STR(run("[{'$group':{'_id':1,'n':{'$count':{'x':1}}}}]", "[]"),
                 "ERR 9: $count takes no arguments, i.e. $count: {}");
    CHECK_EQ_STR(run("[{'$group':5}]", "[]"), "ERR 15947: a group's fields must be specified in an object");
}

TEST(blocking_stages_fail_past_the_memory_limit)
{
    memory_limit = 200;
    CHECK(strstr(run("[{'$sort':{'a':1}}]", "[{'a':'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'},"
                                            "{'a':'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy'},"
                                            "{'a':'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz'}]"),
                 "ERR 292: Sort exceeded memory limit of 200 bytes") != NULL);
    CHECK(strstr(run("[{'$group':{'_id':'$a'}}]", "[{'a':1},{'a':2},{'a':3},{'a':4},{'a':5}]"),
                 "ERR 292: Exceeded memory limit for $group") != NULL);
    memory_limit = 0;
    CHECK_EQ_STR(run("[{'$group':{'_id':'$a'}}]", "[{'a':1},{'a':2}]"), "{'_id':1},{'_id':2}");
}

TEST(unwind_expands_arrays_with_options)
{
    CHECK_EQ_STR(run("[{'$unwind':'$tags'},{'$project':{'tags':1}}]", people),
                 "{'_id':1,'tags':'a'},{'_id':1,'tags':'b'},{'_id':4,'tags':'solo'}");
    CHECK_EQ_STR(run("[{'$unwind':{'path':'$tags','preserveNullAndEmptyArrays':true,'includeArrayIndex':'i'}},"
                     "{'$project':{'tags':1,'i':1}}]",
                     people),
                 "{'_id':1,'tags':'a','i':0},{'_id':1,'tags':'b','i':1},{'_id':2,'i':null},{'_id':3,'i':null},"
                 "{'_id':4,'tags':'solo','i':null}");
    CHECK_EQ_STR(run("[{'$unwind':'$a.b'}]", "[{'_id':1,'a':{'b':[1,2],'c':3}}]"),
                 "{'_id':1,'a':{'b':1,'c':3}},{'_id':1,'a':{'b':2,'c':3}}");
    CHECK_EQ_STR(run("[{'$unwind':'$a'}]", "[{'_id':1,'a':null}]"), "");
    CHECK_EQ_STR(run("[{'$unwind':'a'}]", "[]"),
                 "ERR 28818: path option to $unwind stage should be prefixed with a '$': a");
    CHECK_EQ_STR(run("[{'$unwind':{'path':'$a','bogus':1}}]", "[]"),
                 "ERR 28811: unrecognized option to $unwind stage: bogus");
    CHECK_EQ_STR(run("[{'$unwind':{'path':'$a','preserveNullAndEmptyArrays':1}}]", "[]"),
                 "ERR 9: expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, got int");
}

TEST(count_stage_counts_and_validates)
{
    CHECK_EQ_STR(run_ex("[{'$match':{'city':'rome'}},{'$count':'n'}]", people, true), "{'n':{'$numberInt':'2'}}");
    CHECK_EQ_STR(run("[{'$count':'n'}]", "[]"), "");
    CHECK_EQ_STR(run("[{'$count':''}]", "[]"), "ERR 40157: the count field must be a non-empty string");
    CHECK_EQ_STR(run("[{'$count':'$n'}]", "[]"), "ERR 40158: the count field cannot be a $-prefixed path");
    CHECK_EQ_STR(run("[{'$count':'a.b'}]", "[]"), "ERR 40160: the count field cannot contain '.'");
}

TEST(sort_by_count_groups_and_orders_by_count)
{
    CHECK_EQ_STR(run("[{'$sortByCount':'$a'}]", "[{'a':'x'},{'a':'y'},{'a':'y'},{'a':'z'},{'a':'y'},{'a':'x'}]"),
                 "{'_id':'y','count':3},{'_id':'x','count':2},{'_id':'z','count':1}");
    CHECK_EQ_STR(run("[{'$sortByCount':'a'}]", "[]"),
                 "ERR 9: the sortByCount field must be defined as a $-prefixed path or an expression");
}

TEST(replace_root_and_replace_with_promote_documents)
{
    CHECK_EQ_STR(run("[{'$replaceRoot':{'newRoot':'$a'}}]", "[{'_id':1,'a':{'x':1}}]"), "{'x':1}");
    CHECK_EQ_STR(run("[{'$replaceWith':{'k':'$_id'}}]", "[{'_id':1,'a':{'x':1}}]"), "{'k':1}");
    CHECK(strstr(run("[{'$replaceRoot':{'newRoot':'$nope'}}]", "[{'_id':1}]"),
                 "ERR 40228: 'newRoot' expression must evaluate to an object, but resulting value was: "
                 "MISSING") != NULL);
    CHECK(strstr(run("[{'$replaceRoot':{'newRoot':'$a'}}]", "[{'_id':1,'a':5}]"),
                 "ERR 40228: 'newRoot' expression must evaluate to an object, but resulting value was: 5. Type of "
                 "resulting value: 'int'.") != NULL);
    CHECK(strstr(run("[{'$replaceWith':'$a'}]", "[{'_id':1,'a':'s'}]"),
                 "but resulting value was: \"s\". Type of resulting value: 'string'") != NULL);
    CHECK_EQ_STR(run("[{'$replaceRoot':{'root':'$a'}}]", "[]"), "ERR 9: $replaceRoot found an unknown argument: root");
}

TEST(stage_documents_need_exactly_one_known_field)
{
    CHECK_EQ_STR(run("[{'$match':{},'$limit':1}]", "[]"),
                 "ERR 40323: A pipeline stage specification object must contain exactly one field.");
    CHECK_EQ_STR(run("[{}]", "[]"), "ERR 40323: A pipeline stage specification object must contain exactly one field.");
    CHECK_EQ_STR(run("[{'$foo':1}]", "[]"), "ERR 40324: Unrecognized pipeline stage name: '$foo'");
    CHECK_EQ_STR(run("[5]", "[]"), "ERR 14: Each element of the 'pipeline' array must be an object");
}

TEST(unsupported_stages_are_named)
{
    CHECK_EQ_STR(run("[{'$changeStream':{}}]", "[]"), "ERR 238: $changeStream is not supported by this server yet");
    CHECK_EQ_STR(run("[{'$out':'x'}]", "[]"), "ERR 238: $out is not supported by this server yet");
    CHECK_EQ_STR(run("[{'$merge':{'into':'x'}}]", "[]"), "ERR 238: $merge is not supported by this server yet");
    CHECK_EQ_STR(run("[{'$lookup':{}}]", "[]"), "ERR 238: $lookup is not supported by this server yet");
    CHECK_EQ_STR(run("[{'$facet':{}}]", "[]"), "ERR 238: $facet is not supported by this server yet");
    CHECK_EQ_STR(run("[{'$collStats':{'storageStats':{}}}]", "[]"),
                 "ERR 9: $collStats is not supported by this server yet");
}

TEST(empty_pipeline_passes_documents_through)
{
    CHECK_EQ_STR(run("[]", "[{'a':1},{'b':2}]"), "{'a':1},{'b':2}");
}

TEST(blocking_stages_chain)
{
    CHECK_EQ_STR(run("[{'$group':{'_id':'$city','n':{'$sum':1},'a':{'$sum':'$age'}}},{'$sort':{'a':-1}},"
                     "{'$limit':1},{'$project':{'_id':0,'city':'$_id','a':1}}]",
                     people),
                 "{'a':65,'city':'oslo'}");
    CHECK_EQ_STR(run("[{'$sort':{'age':1}},{'$group':{'_id':null,'f':{'$first':'$name'}}}]", people),
                 "{'_id':null,'f':'bob'}");
}

TEST(runtime_errors_stop_the_pipeline)
{
    CHECK_EQ_STR(run("[{'$project':{'x':{'$add':['$name',1]}}}]", people),
                 "ERR 14: $add only supports numeric or date types, not string");
}

/* ---------------- pipeline-style updates ---------------- */

TEST(update_pipelines_apply_allowed_stages)
{
    CHECK_EQ_STR(apply_update("[{'$set':{'b':{'$add':['$a',1]}}},{'$unset':'a'}]", "{'_id':1,'a':1}"),
                 "{'_id':1,'b':2}");
    CHECK_EQ_STR(apply_update("[{'$project':{'a':1}}]", "{'_id':1,'a':1,'c':3}"), "{'_id':1,'a':1}");
    CHECK_EQ_STR(apply_update("[{'$replaceWith':{'_id':'$_id','n':'$$ROOT.a'}}]", "{'_id':1,'a':1}"),
                 "{'_id':1,'n':1}");
    CHECK_EQ_STR(apply_update("[{'$addFields':{'x':'$$ROOT'}}]", "{'_id':1}"), "{'_id':1,'x':{'_id':1}}");
}

TEST(update_pipelines_refuse_other_stages)
{
    CHECK_EQ_STR(apply_update("[{'$set':{'a':1}},{'$match':{'a':1}}]", "{'_id':1}"),
                 "ERR 72: $match is not allowed to be used within an update");
    CHECK_EQ_STR(apply_update("[{'$group':{'_id':1}}]", "{'_id':1}"),
                 "ERR 72: $group is not allowed to be used within an update");
    CHECK_EQ_STR(apply_update("[{'$replaceWith':'$a'}]", "{'_id':1,'a':5}"),
                 "ERR 2: 'newRoot' expression must evaluate to an object, but resulting value was: int. Type of "
                 "resulting value: 'int'.");
}

/* ---------------- expressions ---------------- */

TEST(field_paths_traverse_arrays_and_variables)
{
    CHECK_EQ_STR(eval("'$a.b'", "{'a':{'b':1}}"), "{'r':1}");
    CHECK_EQ_STR(eval("'$a.b'", "{'a':[{'b':1},{'b':2},3,{'c':1}]}"), "{'r':[1,2]}");
    CHECK_EQ_STR(eval("'$a.b.c'", "{'a':[{'b':[{'c':1},{'c':2}]},{'b':{'c':3}}]}"), "{'r':[[1,2],3]}");
    CHECK_EQ_STR(eval("'$nope'", "{'a':1}"), "{}");
    CHECK_EQ_STR(eval("'$$ROOT'", "{'a':1}"), "{'r':{'a':1}}");
    CHECK_EQ_STR(eval("'$$CURRENT.a'", "{'a':1}"), "{'r':1}");
    CHECK_EQ_STR(eval("'$$REMOVE'", "{'a':1}"), "{}");
    CHECK_EQ_STR(eval("'$$nope'", "{'a':1}"), "ERR 9: Use of undefined variable: nope");
    CHECK_EQ_STR(eval("'$'", "{}"), "ERR 9: '$' by itself is not a valid FieldPath");
    CHECK_EQ_STR(eval("'$a..b'", "{}"), "ERR 9: FieldPath field names may not be empty strings.");
    CHECK(strstr(eval("'$a.$b'", "{}"), "may not start with '$'") != NULL);
}

TEST(literals_objects_and_arrays_evaluate)
{
    CHECK_EQ_STR(eval("'plain'", "{}"), "{'r':'plain'}");
    CHECK_EQ_STR(eval("{'$literal':'$a'}", "{'a':1}"), "{'r':'$a'}");
    CHECK_EQ_STR(eval("{'x':'$a','y':{'z':'$nope'}}", "{'a':1}"), "{'r':{'x':1,'y':{}}}");
    CHECK_EQ_STR(eval("['$a','$nope',3]", "{'a':1}"), "{'r':[1,null,3]}");
    CHECK_EQ_STR(eval("{'$foo':1}", "{}"), "ERR 168: Unrecognized expression '$foo'");
    CHECK(strstr(eval("{'$add':[1],'$sub':1}", "{}"), "exactly one field") != NULL);
}

TEST(add_promotes_types_and_handles_dates)
{
    CHECK_EQ_STR(eval("{'$add':[1,2]}", "{}"), "{'r':3}");
    CHECK_EQ_STR(eval("{'$add':[1,2.5]}", "{}"), "{'r':3.5}");
    CHECK_EQ_STR(eval("{'$add':['$a',null]}", "{'a':1}"), "{'r':null}");
    CHECK_EQ_STR(eval("{'$add':['$a','$nope']}", "{'a':1}"), "{'r':null}");
    CHECK_EQ_STR(eval("{'$add':[{'$date':'2020-01-01T00:00:00Z'},1000]}", "{}"),
                 "{'r':{'$date':'2020-01-01T00:00:01Z'}}");
    CHECK_EQ_STR(eval("{'$add':['x',1]}", "{}"), "ERR 14: $add only supports numeric or date types, not string");
    CHECK_EQ_STR(eval("{'$add':[{'$date':'2020-01-01T00:00:00Z'},{'$date':'2020-01-01T00:00:00Z'}]}", "{}"),
                 "ERR 9: only one date allowed in an $add expression");
    bson_t *d = json("{'a':2147483647}");
    bson_t *ex = json("{'e':{'$add':['$a',1]}}");
    bson_t out = BSON_INITIALIZER;
    bson_iter_t it;
    struct err e;
    err_init(&e);
    bson_iter_init_find(&it, ex, "e");
    CHECK_EQ_INT(agg_expr_eval_append(bson_iter_value(&it), d, &out, "r", &e), 0);
    CHECK(bson_iter_init_find(&it, &out, "r") && BSON_ITER_HOLDS_INT64(&it) && bson_iter_int64(&it) == 2147483648LL);
    bson_destroy(&out);
    bson_destroy(d);
    bson_destroy(ex);
}

TEST(arithmetic_operators_compute)
{
    CHECK_EQ_STR(eval("{'$subtract':[5,7]}", "{}"), "{'r':-2}");
    CHECK_EQ_STR(eval("{'$subtract':[{'$date':'2020-01-01T00:00:01Z'},{'$date':'2020-01-01T00:00:00Z'}]}", "{}"),
                 "{'r':1000}");
    CHECK_EQ_STR(eval("{'$subtract':[{'$date':'2020-01-01T00:00:01Z'},1000]}", "{}"),
                 "{'r':{'$date':'2020-01-01T00:00:00Z'}}");
    CHECK_EQ_STR(eval("{'$multiply':[2,3,0.5]}", "{}"), "{'r':3.0}");
    CHECK_EQ_STR(eval("{'$divide':[7,2]}", "{}"), "{'r':3.5}");
    CHECK_EQ_STR(eval("{'$divide':[1,0]}", "{}"), "ERR 2: can't $divide by zero");
    CHECK_EQ_STR(eval("{'$mod':[7,3]}", "{}"), "{'r':1}");
    CHECK_EQ_STR(eval("{'$mod':[-7,3]}", "{}"), "{'r':-1}");
    CHECK_EQ_STR(eval("{'$mod':[7.5,2]}", "{}"), "{'r':1.5}");
    CHECK_EQ_STR(eval("{'$mod':[7,0]}", "{}"), "ERR 2: can't $mod by zero");
    CHECK_EQ_STR(eval("{'$abs':-3}", "{}"), "{'r':3}");
    CHECK_EQ_STR(eval("{'$abs':null}", "{}"), "{'r':null}");
    CHECK_EQ_STR(eval("{'$ceil':1.2}", "{}"), "{'r':2.0}");
    CHECK_EQ_STR(eval("{'$floor':-1.2}", "{}"), "{'r':-2.0}");
    CHECK_EQ_STR(eval("{'$floor':5}", "{}"), "{'r':5}");
    CHECK_EQ_STR(eval("{'$round':[2.5,0]}", "{}"), "{'r':2.0}");
    CHECK_EQ_STR(eval("{'$round':[3.5]}", "{}"), "{'r':4.0}");
    CHECK_EQ_STR(eval("{'$eq':[{'$round':[1.2345,2]},1.23]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$round':[1250,-2]}", "{}"), "{'r':1200}");
    CHECK_EQ_STR(eval("{'$round':[1350,-2]}", "{}"), "{'r':1400}");
    CHECK_EQ_STR(eval("{'$eq':[{'$trunc':[-1.789,1]},-1.7]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$trunc':[1789,-2]}", "{}"), "{'r':1700}");
    CHECK_EQ_STR(eval("{'$sqrt':16}", "{}"), "{'r':4.0}");
    CHECK_EQ_STR(eval("{'$pow':[2,10]}", "{}"), "{'r':1024}");
    CHECK_EQ_STR(eval("{'$multiply':['a',2]}", "{}"), "ERR 14: $multiply only supports numeric types, not string");
    CHECK_EQ_STR(eval("{'$abs':'x'}", "{}"), "ERR 14: $abs only supports numeric types, not string");
    CHECK_EQ_STR(eval("{'$abs':[1,2]}", "{}"), "ERR 16020: Expression $abs takes exactly 1 arguments. 2 were passed in.");
}

TEST(comparisons_use_the_bson_order)
{
    CHECK_EQ_STR(eval("{'$eq':[1,1.0]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$ne':['a','b']}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$gt':['a',5]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$lt':['$nope',null]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$eq':['$nope',null]}", "{}"), "{'r':false}");
    CHECK_EQ_STR(eval("{'$gte':[2,2]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$lte':[3,2]}", "{}"), "{'r':false}");
    CHECK_EQ_STR(eval("{'$cmp':[1,2]}", "{}"), "{'r':-1}");
    CHECK_EQ_STR(eval("{'$cmp':['b','a']}", "{}"), "{'r':1}");
    CHECK_EQ_STR(eval("{'$eq':[1]}", "{}"), "ERR 16020: Expression $eq takes exactly 2 arguments. 1 were passed in.");
}

TEST(boolean_and_conditional_operators)
{
    CHECK_EQ_STR(eval("{'$and':[1,'x',[]]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$and':[1,0]}", "{}"), "{'r':false}");
    CHECK_EQ_STR(eval("{'$and':[]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$or':[null,'$nope',false]}", "{}"), "{'r':false}");
    CHECK_EQ_STR(eval("{'$or':[0,{'$gt':[2,1]}]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$not':[0]}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$cond':[{'$gt':['$a',1]},'big','small']}", "{'a':2}"), "{'r':'big'}");
    CHECK_EQ_STR(eval("{'$cond':{'if':'$nope','then':1,'else':2}}", "{}"), "{'r':2}");
    CHECK_EQ_STR(eval("{'$cond':{'if':true,'then':1}}", "{}"), "ERR 9: Missing 'else' parameter to $cond");
    CHECK_EQ_STR(eval("{'$cond':{'if':true,'then':1,'else':2,'x':1}}", "{}"),
                 "ERR 9: Unrecognized parameter to $cond: x");
    /* the branch not taken is not evaluated */
    CHECK_EQ_STR(eval("{'$cond':[true,1,{'$add':['x',1]}]}", "{}"), "{'r':1}");
    CHECK_EQ_STR(eval("{'$ifNull':['$nope',null,'d']}", "{}"), "{'r':'d'}");
    CHECK_EQ_STR(eval("{'$ifNull':['$a','d']}", "{'a':0}"), "{'r':0}");
    CHECK_EQ_STR(eval("{'$switch':{'branches':[{'case':{'$eq':['$a',1]},'then':'one'},"
                      "{'case':{'$eq':['$a',2]},'then':'two'}],'default':'many'}}",
                      "{'a':2}"),
                 "{'r':'two'}");
    CHECK_EQ_STR(eval("{'$switch':{'branches':[{'case':false,'then':1}],'default':'d'}}", "{}"), "{'r':'d'}");
    CHECK_EQ_STR(eval("{'$switch':{'branches':[{'case':false,'then':1}]}}", "{}"),
                 "ERR 2: $switch could not find a matching branch for an input, and no default was specified.");
    CHECK_EQ_STR(eval("{'$let':{'vars':{'x':{'$add':['$a',1]}},'in':{'$multiply':['$$x',2]}}}", "{'a':1}"),
                 "{'r':4}");
}

TEST(string_operators)
{
    CHECK_EQ_STR(eval("{'$concat':['a','$b','c']}", "{'b':'-'}"), "{'r':'a-c'}");
    CHECK_EQ_STR(eval("{'$concat':['a','$nope']}", "{}"), "{'r':null}");
    CHECK_EQ_STR(eval("{'$concat':['a',1]}", "{}"), "ERR 14: $concat only supports strings, not int");
    CHECK_EQ_STR(eval("{'$toUpper':'abC'}", "{}"), "{'r':'ABC'}");
    CHECK_EQ_STR(eval("{'$toLower':'AbC'}", "{}"), "{'r':'abc'}");
    CHECK_EQ_STR(eval("{'$toLower':null}", "{}"), "{'r':''}");
    CHECK_EQ_STR(eval("{'$toUpper':12}", "{}"), "{'r':'12'}");
    CHECK_EQ_STR(eval("{'$substr':['hello',1,3]}", "{}"), "{'r':'ell'}");
    CHECK_EQ_STR(eval("{'$substrBytes':['hello',2,-1]}", "{}"), "{'r':'llo'}");
    CHECK_EQ_STR(eval("{'$substrBytes':['hello',10,2]}", "{}"), "{'r':''}");
    CHECK(strstr(eval("{'$substrBytes':['\xc3\xa9t\xc3\xa9',1,2]}", "{}"), "continuation byte") != NULL);
    CHECK_EQ_STR(eval("{'$substrCP':['\xc3\xa9t\xc3\xa9',1,2]}", "{}"), "{'r':'t\xc3\xa9'}");
    CHECK_EQ_STR(eval("{'$strLenBytes':'\xc3\xa9t'}", "{}"), "{'r':3}");
    CHECK_EQ_STR(eval("{'$strLenCP':'\xc3\xa9t'}", "{}"), "{'r':2}");
    CHECK_EQ_STR(eval("{'$strLenBytes':5}", "{}"), "ERR 14: $strLenBytes requires a string argument, found: int");
    CHECK_EQ_STR(eval("{'$split':['a,b,,c',',']}", "{}"), "{'r':['a','b','','c']}");
    CHECK_EQ_STR(eval("{'$split':['abc','']}", "{}"), "ERR 2: $split requires a non-empty separator");
    CHECK_EQ_STR(eval("{'$split':[1,',']}", "{}"),
                 "ERR 14: $split requires an expression that evaluates to a string as a first argument, found: int");
    CHECK_EQ_STR(eval("{'$trim':{'input':'  hi \\n'}}", "{}"), "{'r':'hi'}");
    CHECK_EQ_STR(eval("{'$ltrim':{'input':'xxhixx','chars':'x'}}", "{}"), "{'r':'hixx'}");
    CHECK_EQ_STR(eval("{'$rtrim':{'input':'xxhixy','chars':'xy'}}", "{}"), "{'r':'xxhi'}");
    CHECK_EQ_STR(eval("{'$trim':{'input':null}}", "{}"), "{'r':null}");
    CHECK_EQ_STR(eval("{'$trim':{'chars':'x'}}", "{}"), "ERR 9: $trim requires an 'input' parameter");
    CHECK_EQ_STR(eval("{'$indexOfBytes':['hello','l']}", "{}"), "{'r':2}");
    CHECK_EQ_STR(eval("{'$strcasecmp':['ABC','abc']}", "{}"), "{'r':0}");
}

TEST(array_operators)
{
    CHECK_EQ_STR(eval("{'$size':'$a'}", "{'a':[1,2,3]}"), "{'r':3}");
    CHECK_EQ_STR(eval("{'$size':'$nope'}", "{}"), "ERR 2: The argument to $size must be an array. Type of argument: missing");
    CHECK_EQ_STR(eval("{'$arrayElemAt':['$a',-1]}", "{'a':[1,2,3]}"), "{'r':3}");
    CHECK_EQ_STR(eval("{'$arrayElemAt':['$a',5]}", "{'a':[1,2,3]}"), "{}");
    CHECK_EQ_STR(eval("{'$arrayElemAt':['x',0]}", "{}"), "ERR 2: $arrayElemAt's first argument must be an array, but is string");
    CHECK_EQ_STR(eval("{'$first':'$a'}", "{'a':[4,5]}"), "{'r':4}");
    CHECK_EQ_STR(eval("{'$last':'$a'}", "{'a':[4,5]}"), "{'r':5}");
    CHECK_EQ_STR(eval("{'$in':[2,'$a']}", "{'a':[1,2.0]}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$in':[2,'$nope']}", "{}"), "ERR 2: $in requires an array as a second argument, found: missing");
    CHECK_EQ_STR(eval("{'$isArray':['$a']}", "{'a':[]}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$isArray':'$a'}", "{'a':5}"), "{'r':false}");
    CHECK_EQ_STR(eval("{'$concatArrays':[[1],['$a'],[]]}", "{'a':2}"), "{'r':[1,2]}");
    CHECK_EQ_STR(eval("{'$concatArrays':[[1],'$nope']}", "{}"), "{'r':null}");
    CHECK_EQ_STR(eval("{'$concatArrays':[[1],5]}", "{}"), "ERR 2: $concatArrays only supports arrays, not int");
    CHECK_EQ_STR(eval("{'$slice':[[1,2,3,4],2]}", "{}"), "{'r':[1,2]}");
    CHECK_EQ_STR(eval("{'$slice':[[1,2,3,4],-2]}", "{}"), "{'r':[3,4]}");
    CHECK_EQ_STR(eval("{'$slice':[[1,2,3,4],1,2]}", "{}"), "{'r':[2,3]}");
    CHECK_EQ_STR(eval("{'$slice':[[1,2,3,4],-3,2]}", "{}"), "{'r':[2,3]}");
    CHECK_EQ_STR(eval("{'$filter':{'input':'$a','as':'x','cond':{'$gt':['$$x',1]}}}", "{'a':[1,2,3]}"),
                 "{'r':[2,3]}");
    CHECK_EQ_STR(eval("{'$filter':{'input':'$a','cond':{'$gt':['$$this',1]},'limit':1}}", "{'a':[1,2,3]}"),
                 "{'r':[2]}");
    CHECK_EQ_STR(eval("{'$map':{'input':'$a','as':'x','in':{'$multiply':['$$x','$k']}}}", "{'a':[1,2],'k':10}"),
                 "{'r':[10,20]}");
    CHECK_EQ_STR(eval("{'$map':{'input':'$nope','in':1}}", "{}"), "{'r':null}");
    CHECK_EQ_STR(eval("{'$reduce':{'input':[1,2,3],'initialValue':0,'in':{'$add':['$$value','$$this']}}}", "{}"),
                 "{'r':6}");
    CHECK_EQ_STR(eval("{'$reverseArray':[[1,2]]}", "{}"), "{'r':[2,1]}");
    CHECK_EQ_STR(eval("{'$range':[0,6,2]}", "{}"), "{'r':[0,2,4]}");
    CHECK_EQ_STR(eval("{'$indexOfArray':[[1,2,3],3]}", "{}"), "{'r':2}");
    CHECK_EQ_STR(eval("{'$sum':[[1,2,'x']]}", "{}"), "{'r':3}");
    CHECK_EQ_STR(eval("{'$max':[1,5,null]}", "{}"), "{'r':5}");
    CHECK_EQ_STR(eval("{'$avg':'$a'}", "{'a':[1,2]}"), "{'r':1.5}");
}

TEST(object_operators)
{
    CHECK_EQ_STR(eval("{'$mergeObjects':['$a',{'y':2},null]}", "{'a':{'x':1,'y':1}}"), "{'r':{'x':1,'y':2}}");
    CHECK_EQ_STR(eval("{'$objectToArray':'$a'}", "{'a':{'x':1}}"), "{'r':[{'k':'x','v':1}]}");
    CHECK_EQ_STR(eval("{'$arrayToObject':[[['a',1],['b',2]]]}", "{}"), "{'r':{'a':1,'b':2}}");
    CHECK_EQ_STR(eval("{'$arrayToObject':[[{'k':'a','v':1}]]}", "{}"), "{'r':{'a':1}}");
}

TEST(type_and_conversion_operators)
{
    CHECK_EQ_STR(eval("{'$TYPE':'$a'}", "{'a':1}"), "{'r':'int'}");
    CHECK_EQ_STR(eval("{'$TYPE':'$nope'}", "{}"), "{'r':'missing'}");
    CHECK_EQ_STR(eval("{'$TYPE':'$a'}", "{'a':{'$numberLong':'1'}}"), "{'r':'long'}");
    CHECK_EQ_STR(eval("{'$TYPE':'$a'}", "{'a':[1]}"), "{'r':'array'}");
    CHECK_EQ_STR(eval("{'$toString':1.5}", "{}"), "{'r':'1.5'}");
    CHECK_EQ_STR(eval("{'$toString':2.0}", "{}"), "{'r':'2'}");
    CHECK_EQ_STR(eval("{'$toString':true}", "{}"), "{'r':'true'}");
    CHECK_EQ_STR(eval("{'$toString':{'$date':'2021-03-04T05:06:07.089Z'}}", "{}"), "{'r':'2021-03-04T05:06:07.089Z'}");
    CHECK_EQ_STR(eval("{'$toString':{'$oid':'5f1b2c3d4e5f6a7b8c9d0e1f'}}", "{}"), "{'r':'5f1b2c3d4e5f6a7b8c9d0e1f'}");
    CHECK_EQ_STR(eval("{'$toString':'$nope'}", "{}"), "{'r':null}");
    CHECK_EQ_STR(eval("{'$toInt':'42'}", "{}"), "{'r':42}");
    CHECK_EQ_STR(eval("{'$toInt':2.9}", "{}"), "{'r':2}");
    CHECK_EQ_STR(eval("{'$toInt':true}", "{}"), "{'r':1}");
    CHECK_EQ_STR(eval("{'$toInt':'4.5'}", "{}"),
                 "ERR 241: Failed to parse number '4.5' in $convert with no onError value: Did not consume whole "
                 "string.");
    CHECK(strstr(eval("{'$toInt':3000000000}", "{}"), "ERR 241: Conversion would overflow target type") != NULL);
    CHECK_EQ_STR(eval("{'$toDouble':'2.5'}", "{}"), "{'r':2.5}");
    CHECK_EQ_STR(eval("{'$toBool':0}", "{}"), "{'r':false}");
    CHECK_EQ_STR(eval("{'$toBool':''}", "{}"), "{'r':true}");
    CHECK_EQ_STR(eval("{'$toDate':'2020-01-02T03:04:05Z'}", "{}"), "{'r':{'$date':'2020-01-02T03:04:05Z'}}");
    CHECK_EQ_STR(eval("{'$toObjectId':'5f1b2c3d4e5f6a7b8c9d0e1f'}", "{}"), "{'r':{'$oid':'5f1b2c3d4e5f6a7b8c9d0e1f'}}");
    CHECK_EQ_STR(eval("{'$convert':{'input':'abc','to':'int','onError':-1}}", "{}"), "{'r':-1}");
    CHECK_EQ_STR(eval("{'$convert':{'input':null,'to':'int','onNull':0}}", "{}"), "{'r':0}");
    CHECK_EQ_STR(eval("{'$convert':{'input':[1],'to':'string'}}", "{}"),
                 "ERR 241: Unsupported conversion from array to string in $convert with no onError value");
    CHECK_EQ_STR(eval("{'$convert':{'input':'1','to':'long'}}", "{}"), "{'r':1}");
}

TEST(date_operators)
{
    const char *d = "{'d':{'$date':'2021-03-04T05:06:07.089Z'}}";
    CHECK_EQ_STR(eval("{'$year':'$d'}", d), "{'r':2021}");
    CHECK_EQ_STR(eval("{'$month':'$d'}", d), "{'r':3}");
    CHECK_EQ_STR(eval("{'$dayOfMonth':'$d'}", d), "{'r':4}");
    CHECK_EQ_STR(eval("{'$hour':'$d'}", d), "{'r':5}");
    CHECK_EQ_STR(eval("{'$minute':'$d'}", d), "{'r':6}");
    CHECK_EQ_STR(eval("{'$second':'$d'}", d), "{'r':7}");
    CHECK_EQ_STR(eval("{'$millisecond':'$d'}", d), "{'r':89}");
    CHECK_EQ_STR(eval("{'$dayOfWeek':'$d'}", d), "{'r':5}"); /* a Thursday */
    CHECK_EQ_STR(eval("{'$dayOfYear':'$d'}", d), "{'r':63}");
    CHECK_EQ_STR(eval("{'$isoWeek':'$d'}", d), "{'r':9}");
    CHECK_EQ_STR(eval("{'$hour':{'date':'$d','timezone':'+05:30'}}", d), "{'r':10}");
    CHECK_EQ_STR(eval("{'$year':'$nope'}", d), "{'r':null}");
    CHECK_EQ_STR(eval("{'$year':'x'}", d), "ERR 14: $year: can't convert from BSON type string to Date");
    CHECK_EQ_STR(eval("{'$hour':{'date':'$d','timezone':'Mars/Base'}}", d),
                 "ERR 9: unrecognized time zone identifier: \"Mars/Base\"");
    CHECK_EQ_STR(eval("{'$dateToString':{'date':'$d'}}", d), "{'r':'2021-03-04T05:06:07.089Z'}");
    CHECK_EQ_STR(eval("{'$dateToString':{'date':'$d','format':'%Y/%m/%d %H:%M:%S %j %%'}}", d),
                 "{'r':'2021/03/04 05:06:07 063 %'}");
    CHECK_EQ_STR(eval("{'$dateToString':{'date':'$nope','onNull':'none'}}", d), "{'r':'none'}");
    CHECK(strstr(eval("{'$dateToString':{'date':'$d','format':'%Q'}}", d), "Invalid format character '%Q'") != NULL);
    CHECK_EQ_STR(eval("{'$year':{'$date':'1969-12-31T23:59:59Z'}}", "{}"), "{'r':1969}");
    CHECK_EQ_STR(eval("{'$dateFromParts':{'year':2020,'month':14,'day':1}}", "{}"),
                 "{'r':{'$date':'2021-02-01T00:00:00Z'}}");
    CHECK_EQ_STR(eval("{'$dateFromString':{'dateString':'2020-05-06'}}", "{}"),
                 "{'r':{'$date':'2020-05-06T00:00:00Z'}}");
}

TEST(now_variable_uses_the_run_clock)
{
    CHECK_EQ_STR(run("[{'$project':{'_id':0,'t':'$$NOW'}}]", "[{}]"), "{'t':{'$date':'2020-09-13T12:26:40Z'}}");
}

TEST(expression_arity_is_checked_at_parse_time)
{
    /* even with no input documents the pipeline is refused */
    CHECK_EQ_STR(run("[{'$project':{'x':{'$divide':[1]}}}]", "[]"),
                 "ERR 16020: Invalid $project :: caused by :: Expression $divide takes exactly 2 arguments. 1 were "
                 "passed "
                 "in.");
    CHECK_EQ_STR(run("[{'$group':{'_id':{'$bogus':1}}}]", "[]"), "ERR 168: Unrecognized expression '$bogus'");
}

TEST(deeply_nested_expressions_are_refused_not_crashing)
{
    /* built by hand: libbson's JSON reader stops at 100 levels */
    bson_t *cur = bson_new();
    BSON_APPEND_INT32(cur, "$abs", -1);
    for (int i = 0; i < 200; i++) {
        bson_t *next = bson_new();
        BSON_APPEND_DOCUMENT(next, "$abs", cur);
        bson_destroy(cur);
        cur = next;
    }
    bson_value_t v;
    v.value_type = BSON_TYPE_DOCUMENT;
    v.value.v_doc.data = (uint8_t *)bson_get_data(cur);
    v.value.v_doc.data_len = cur->len;
    bson_t doc = BSON_INITIALIZER, out = BSON_INITIALIZER;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(agg_expr_eval_append(&v, &doc, &out, "r", &e), -ERR_FAILED_TO_PARSE);
    CHECK_EQ_STR(e.msg, "expression nests deeper than 150 levels");
    bson_destroy(cur);
    bson_destroy(&out);
    CHECK_EQ_STR(eval("{'$abs':{'$abs':{'$abs':-2}}}", "{}"), "{'r':2}");
}

TEST(decimal_arithmetic_stays_decimal)
{
    const char *doc = "{'d':{'$numberDecimal':'1.5'},'i':2,'f':0.5}";
    CHECK_EQ_STR(eval("{'$add':['$d','$i']}", doc), "{'r':{'$numberDecimal':'3.5'}}");
    CHECK_EQ_STR(eval("{'$add':['$i','$f','$d']}", doc), "{'r':{'$numberDecimal':'4.00000000000000'}}");
    CHECK_EQ_STR(eval("{'$subtract':['$i','$d']}", doc), "{'r':{'$numberDecimal':'0.5'}}");
    CHECK_EQ_STR(eval("{'$subtract':['$d','$f']}", doc), "{'r':{'$numberDecimal':'1.000000000000000'}}");
    CHECK_EQ_STR(eval("{'$multiply':['$d','$i',3]}", doc), "{'r':{'$numberDecimal':'9.0'}}");
    CHECK_EQ_STR(eval("{'$divide':['$d','$i']}", doc), "{'r':{'$numberDecimal':'0.75'}}");
    CHECK_EQ_STR(eval("{'$divide':[1,{'$numberDecimal':'3'}]}", doc),
                 "{'r':{'$numberDecimal':'0.3333333333333333333333333333333333'}}");
    CHECK_EQ_STR(eval("{'$divide':['$i',{'$numberDecimal':'0.00'}]}", doc), "ERR 2: can't $divide by zero");
    CHECK_EQ_STR(eval("{'$add':['$d',null]}", doc), "{'r':null}");
    CHECK_EQ_STR(eval("{'$sum':['$d','$i','x']}", doc), "{'r':{'$numberDecimal':'3.5'}}");
    CHECK_EQ_STR(eval("{'$avg':['$d','$i']}", doc), "{'r':{'$numberDecimal':'1.75'}}");
    /* operators still computed in double accept decimals without misreading them */
    CHECK_EQ_STR(eval("{'$mod':[{'$numberDecimal':'7'},2]}", doc), "{'r':1.0}");
    CHECK_EQ_STR(eval("{'$pow':[{'$numberDecimal':'2'},3]}", doc), "{'r':8.0}");
    CHECK_EQ_STR(eval("{'$add':[{'$date':'2020-01-01T00:00:00Z'},{'$numberDecimal':'1000.4'}]}", doc),
                 "{'r':{'$date':'2020-01-01T00:00:01Z'}}");
}

TEST(group_sum_and_avg_of_decimals_are_decimal)
{
    const char *docs = "[{'v':{'$numberDecimal':'1.5'}},{'v':2},{'v':'x'},{}]";
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'s':{'$sum':'$v'},'a':{'$avg':'$v'}}}]", docs),
                 "{'_id':null,'s':{'$numberDecimal':'3.5'},'a':{'$numberDecimal':'1.75'}}");
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'s':{'$sum':'$v'}}}]",
                     "[{'v':{'$numberDecimal':'0.1'}},{'v':{'$numberDecimal':'0.2'}},{'v':0.5}]"),
                 "{'_id':null,'s':{'$numberDecimal':'0.8'}}");
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'s':{'$sum':'$v'}}}]",
                     "[{'v':{'$numberDecimal':'1'}},{'v':0.1}]"),
                 "{'_id':null,'s':{'$numberDecimal':'1.100000000000000005551115123125783'}}");
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'a':{'$avg':'$v'}}}]", "[{'v':1},{'v':2}]"), "{'_id':null,'a':1.5}");
    CHECK_EQ_STR(run("[{'$group':{'_id':null,'a':{'$avg':'$v'}}}]",
                     "[{'v':{'$numberDecimal':'1'}},{'v':{'$numberDecimal':'2'}},{'v':{'$numberDecimal':'2'}}]"),
                 "{'_id':null,'a':{'$numberDecimal':'1.666666666666666666666666666666667'}}");
}

int main(void)
{
    RUN(match_filters_documents);
    RUN(match_reports_bad_filters);
    RUN(leading_match_is_exposed_to_the_planner);
    RUN(project_includes_excludes_and_computes);
    RUN(project_handles_dotted_and_nested_paths);
    RUN(project_rejects_bad_specs);
    RUN(add_fields_and_set_replace_in_place_and_append);
    RUN(unset_removes_fields_by_string_or_array);
    RUN(sort_orders_stably_and_rejects_bad_specs);
    RUN(sort_then_limit_keeps_the_top_documents);
    RUN(skip_and_limit_page_and_validate);
    RUN(limit_stops_pulling_input_early);
    RUN(group_accumulates_every_operator);
    RUN(group_ids_can_be_null_paths_or_documents);
    RUN(group_sum_keeps_integers_and_widens);
    RUN(group_min_max_skip_nulls_and_push_skips_missing);
    RUN(group_rejects_bad_specs);
    RUN(blocking_stages_fail_past_the_memory_limit);
    RUN(unwind_expands_arrays_with_options);
    RUN(count_stage_counts_and_validates);
    RUN(sort_by_count_groups_and_orders_by_count);
    RUN(replace_root_and_replace_with_promote_documents);
    RUN(stage_documents_need_exactly_one_known_field);
    RUN(unsupported_stages_are_named);
    RUN(empty_pipeline_passes_documents_through);
    RUN(blocking_stages_chain);
    RUN(runtime_errors_stop_the_pipeline);
    RUN(update_pipelines_apply_allowed_stages);
    RUN(update_pipelines_refuse_other_stages);
    RUN(field_paths_traverse_arrays_and_variables);
    RUN(literals_objects_and_arrays_evaluate);
    RUN(add_promotes_types_and_handles_dates);
    RUN(arithmetic_operators_compute);
    RUN(comparisons_use_the_bson_order);
    RUN(boolean_and_conditional_operators);
    RUN(string_operators);
    RUN(array_operators);
    RUN(object_operators);
    RUN(type_and_conversion_operators);
    RUN(date_operators);
    RUN(now_variable_uses_the_run_clock);
    RUN(expression_arity_is_checked_at_parse_time);
    RUN(deeply_nested_expressions_are_refused_not_crashing);
    RUN(decimal_arithmetic_stays_decimal);
    RUN(group_sum_and_avg_of_decimals_are_decimal);
    return test_report();
}
