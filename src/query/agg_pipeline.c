/* agg_pipeline.c - parses an aggregation pipeline and runs it.
 *
 * Stages form a push chain: each input document is pushed into stage 0,
 * which pushes what it produces into stage 1, and so on to the emit
 * callback. Blocking stages ($sort, $group, $count) buffer and release their
 * output when the input ends (flushed in stage order, so blocking stages
 * downstream receive everything first). A $limit that is full answers
 * STOP, which ends the input early. Buffered bytes of $sort and $group are
 * capped at 100 MiB, as mongod without allowDiskUse. Stages we do not
 * implement fail at parse time with an error naming them. */
#include "query/agg.h"
#include "query/agg_internal.h"

#include "core/mem.h"
#include "query/match.h"
#include "query/sort.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A full $limit asks its upstream to stop sending documents. */
#define AGG_STOP 1

enum stage_kind { ST_MATCH, ST_PROJECT, ST_ADD_FIELDS, ST_UNSET, ST_SORT, ST_SKIP, ST_LIMIT, ST_GROUP, ST_UNWIND,
                  ST_COUNT, ST_REPLACE_ROOT };

struct sort_item {
    uint8_t *key;
    size_t key_len;
    bson_t *doc;
    size_t seq;
};

struct stage {
    enum stage_kind kind;
    const char *name; /* as written: "$set", "$addFields", ... */
    struct matcher *matcher;
    bson_t match_filter;
    bool has_filter;
    struct agg_proj *proj;
    struct sort_spec *sort;
    int64_t n; /* $skip/$limit amount */
    struct agg_group *group;
    char *path;        /* $unwind path (no '$'), $count field */
    char *index_field; /* $unwind includeArrayIndex */
    bool is_preserve;  /* $unwind preserveNullAndEmptyArrays */
    bson_value_t expr; /* $replaceRoot newRoot (owned) */
    /* run state */
    int64_t seen;
    struct sort_item *items;
    size_t n_items, cap_items, mem_bytes;
    int64_t top_k; /* $sort followed by $limit: keep only this many (0 = all) */
};

struct pipeline {
    struct stage *stages;
    size_t n_stages;
    size_t memory_limit;
    int64_t now_ms;
    agg_emit_cb emit;
    void *emit_ctx;
};

void pipeline_set_memory_limit(struct pipeline *p, size_t bytes) { p->memory_limit = bytes; }

const bson_t *pipeline_leading_match(const struct pipeline *p)
{
    if (p->n_stages > 0 && p->stages[0].kind == ST_MATCH)
        return &p->stages[0].match_filter;
    return NULL;
}

/* --- parsing --- */

static int parse_int_arg(const char *stage, const bson_value_t *v, int64_t *out, struct err *e)
{
    if (!agg_val_is_number(v))
        return err_set(e, ERR_FAILED_TO_PARSE, "invalid argument to %s stage: Expected a number in: %s: %s", stage,
                       stage, agg_val_type_name(v));
    if (!agg_val_to_int64_exact(v, out))
        return err_set(e, ERR_FAILED_TO_PARSE,
                       "invalid argument to %s stage: Cannot represent as a 64-bit integer", stage);
    return 0;
}

static int parse_unwind(struct stage *s, const bson_value_t *v, struct err *e)
{
    bson_value_t path;
    agg_val_missing(&path);
    if (v->value_type == BSON_TYPE_UTF8) {
        path = *v;
    } else if (v->value_type == BSON_TYPE_DOCUMENT) {
        bson_iter_t it;
        bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len);
        while (bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            if (strcmp(k, "path") == 0) {
                path = *bson_iter_value(&it);
            } else if (strcmp(k, "preserveNullAndEmptyArrays") == 0) {
                if (!BSON_ITER_HOLDS_BOOL(&it))
                    return err_set(e, ERR_FAILED_TO_PARSE,
                                   "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, "
                                   "got %s",
                                   agg_val_type_name(bson_iter_value(&it)));
                s->is_preserve = bson_iter_bool(&it);
            } else if (strcmp(k, "includeArrayIndex") == 0) {
                if (!BSON_ITER_HOLDS_UTF8(&it))
                    return err_set(e, ERR_FAILED_TO_PARSE,
                                   "expected a non-empty string for the includeArrayIndex option to $unwind stage, "
                                   "got %s",
                                   agg_val_type_name(bson_iter_value(&it)));
                const char *f = bson_iter_utf8(&it, NULL);
                if (f[0] == '\0' || f[0] == '$')
                    return err_set(e, ERR_FAILED_TO_PARSE,
                                   "includeArrayIndex option to $unwind stage should not be prefixed with a '$': %s",
                                   f);
                free(s->index_field);
                s->index_field = xstrdup(f);
            } else {
                return err_set(e, 28811, "unrecognized option to $unwind stage: %s", k);
            }
        }
        if (agg_val_is_missing(&path))
            return err_set(e, 28812, "no path specified to $unwind stage");
    } else {
        return err_set(e, 15981,
                       "expected either a string or an object as specification for $unwind stage, got %s",
                       agg_val_type_name(v));
    }
    if (path.value_type != BSON_TYPE_UTF8)
        return err_set(e, 28808, "expected a string as the path for $unwind stage, got %s",
                       agg_val_type_name(&path));
    if (path.value.v_utf8.len < 2 || path.value.v_utf8.str[0] != '$')
        return err_set(e, 28818, "path option to $unwind stage should be prefixed with a '$': %s",
                       path.value.v_utf8.str);
    int rc = agg_expr_check(&path, e);
    if (rc < 0 || path.value.v_utf8.str[1] == '$')
        return rc < 0 ? rc : err_set(e, ERR_FAILED_TO_PARSE, "$unwind path may not be a variable");
    s->path = xstrdup(path.value.v_utf8.str + 1);
    return 0;
}

static int parse_count(struct stage *s, const bson_value_t *v, struct err *e)
{
    if (v->value_type != BSON_TYPE_UTF8 || v->value.v_utf8.len == 0)
        return err_set(e, 40157, "the count field must be a non-empty string");
    if (v->value.v_utf8.str[0] == '$')
        return err_set(e, 40158, "the count field cannot be a $-prefixed path");
    if (strchr(v->value.v_utf8.str, '.') != NULL)
        return err_set(e, 40160, "the count field cannot contain '.'");
    s->path = xstrdup(v->value.v_utf8.str);
    return 0;
}

static int parse_replace_root(struct stage *s, const char *name, const bson_value_t *v, struct err *e)
{
    const bson_value_t *expr = v;
    bson_value_t nr;
    if (strcmp(name, "$replaceRoot") == 0) {
        if (v->value_type != BSON_TYPE_DOCUMENT)
            return err_set(e, ERR_FAILED_TO_PARSE, "expected an object as specification for $replaceRoot stage, got %s",
                           agg_val_type_name(v));
        static const char *const names[] = {"newRoot", NULL};
        int rc = agg_named_args(name, v, names, &nr, e);
        if (rc < 0)
            return rc;
        if (agg_val_is_missing(&nr))
            return err_set(e, 40231, "no newRoot specified for the $replaceRoot stage");
        expr = &nr;
    }
    int rc = agg_expr_check(expr, e);
    if (rc < 0)
        return rc;
    bson_value_copy(expr, &s->expr);
    return 0;
}

static bool is_known_unsupported(const char *name)
{
    static const char *const names[] = {
        "$lookup", "$facet",   "$bucket", "$bucketAuto", "$graphLookup", "$indexStats", "$geoNear", "$search",
        "$searchMeta", "$sample", "$unionWith", "$redact", "$densify", "$fill", "$setWindowFields", "$planCacheStats",
        "$currentOp", "$listSessions", "$listLocalSessions", "$documents", "$changeStreamSplitLargeEvent", NULL};
    for (size_t i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static int parse_stage(struct pipeline *p, const bson_value_t *spec, struct err *e)
{
    bson_iter_t it;
    if (spec->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_TYPE_MISMATCH, "Each element of the 'pipeline' array must be an object");
    int n_fields = 0;
    const char *name = NULL;
    bson_value_t v;
    if (bson_iter_init_from_data(&it, spec->value.v_doc.data, spec->value.v_doc.data_len))
        while (bson_iter_next(&it))
            if (n_fields++ == 0) {
                name = bson_iter_key(&it);
                v = *bson_iter_value(&it);
            }
    if (n_fields != 1)
        return err_set(e, 40323, "A pipeline stage specification object must contain exactly one field.");
    struct stage *s = &p->stages[p->n_stages];
    memset(s, 0, sizeof *s);
    agg_val_missing(&s->expr);
    int rc = 0;
    if (strcmp(name, "$match") == 0) {
        s->kind = ST_MATCH;
        s->name = "$match";
        if (v.value_type != BSON_TYPE_DOCUMENT)
            return err_set(e, 15959, "the match filter must be an expression in an object");
        bson_t view;
        if (!bson_init_static(&view, v.value.v_doc.data, v.value.v_doc.data_len))
            return err_set(e, ERR_INVALID_BSON, "$match: invalid BSON filter");
        rc = matcher_create(&view, &s->matcher, e);
        if (rc == 0) {
            bson_copy_to(&view, &s->match_filter);
            s->has_filter = true;
        }
    } else if (strcmp(name, "$project") == 0) {
        s->kind = ST_PROJECT;
        s->name = "$project";
        rc = agg_proj_create(&v, AGG_PROJ_PROJECT, s->name, &s->proj, e);
    } else if (strcmp(name, "$addFields") == 0 || strcmp(name, "$set") == 0) {
        s->kind = ST_ADD_FIELDS;
        s->name = strcmp(name, "$set") == 0 ? "$set" : "$addFields";
        if (v.value_type != BSON_TYPE_DOCUMENT)
            return err_set(e, ERR_FAILED_TO_PARSE, "%s specification stage must be an object, got %s", s->name,
                           agg_val_type_name(&v));
        rc = agg_proj_create(&v, AGG_PROJ_ADD_FIELDS, s->name, &s->proj, e);
    } else if (strcmp(name, "$unset") == 0) {
        s->kind = ST_UNSET;
        s->name = "$unset";
        rc = agg_proj_create(&v, AGG_PROJ_UNSET, s->name, &s->proj, e);
    } else if (strcmp(name, "$sort") == 0) {
        s->kind = ST_SORT;
        s->name = "$sort";
        if (v.value_type != BSON_TYPE_DOCUMENT)
            return err_set(e, 15973, "the $sort key specification must be an object");
        bson_t spec_doc;
        bson_init_static(&spec_doc, v.value.v_doc.data, v.value.v_doc.data_len);
        if (bson_count_keys(&spec_doc) == 0)
            return err_set(e, 15976, "$sort stage must have at least one sort key");
        rc = sort_spec_create(&spec_doc, &s->sort, e);
    } else if (strcmp(name, "$skip") == 0 || strcmp(name, "$limit") == 0) {
        bool is_skip = name[2] == 'k';
        s->kind = is_skip ? ST_SKIP : ST_LIMIT;
        s->name = is_skip ? "$skip" : "$limit";
        rc = parse_int_arg(s->name, &v, &s->n, e);
        if (rc == 0 && is_skip && s->n < 0)
            rc = err_set(e, 15956, "invalid argument to $skip stage: Expected a non-negative number in: $skip: %lld",
                         (long long)s->n);
        if (rc == 0 && !is_skip && s->n <= 0)
            rc = err_set(e, 15958, "the limit must be positive");
    } else if (strcmp(name, "$group") == 0) {
        s->kind = ST_GROUP;
        s->name = "$group";
        rc = agg_group_create(&v, &s->group, e);
    } else if (strcmp(name, "$unwind") == 0) {
        s->kind = ST_UNWIND;
        s->name = "$unwind";
        rc = parse_unwind(s, &v, e);
    } else if (strcmp(name, "$count") == 0) {
        s->kind = ST_COUNT;
        s->name = "$count";
        rc = parse_count(s, &v, e);
    } else if (strcmp(name, "$replaceRoot") == 0 || strcmp(name, "$replaceWith") == 0) {
        s->kind = ST_REPLACE_ROOT;
        s->name = strcmp(name, "$replaceRoot") == 0 ? "$replaceRoot" : "$replaceWith";
        rc = parse_replace_root(s, s->name, &v, e);
    } else if (strcmp(name, "$sortByCount") == 0) {
        /* {$sortByCount: expr} is {$group: {_id: expr, count: {$sum: 1}}}, {$sort: {count: -1}} */
        bool is_ok = (v.value_type == BSON_TYPE_UTF8 && v.value.v_utf8.len > 0 && v.value.v_utf8.str[0] == '$');
        bson_iter_t sub;
        if (v.value_type == BSON_TYPE_DOCUMENT &&
            bson_iter_init_from_data(&sub, v.value.v_doc.data, v.value.v_doc.data_len) && bson_iter_next(&sub) &&
            bson_iter_key(&sub)[0] == '$')
            is_ok = true;
        if (!is_ok)
            return err_set(e, ERR_FAILED_TO_PARSE,
                           "the sortByCount field must be defined as a $-prefixed path or an expression");
        bson_t g = BSON_INITIALIZER, sum, sort_doc = BSON_INITIALIZER;
        bson_append_value(&g, "_id", 3, &v);
        bson_append_document_begin(&g, "count", 5, &sum);
        bson_append_int32(&sum, "$sum", 4, 1);
        bson_append_document_end(&g, &sum);
        bson_value_t gv;
        agg_val_view_doc(&gv, &g);
        s->kind = ST_GROUP;
        s->name = "$sortByCount";
        rc = agg_group_create(&gv, &s->group, e);
        bson_destroy(&g);
        if (rc < 0)
            return rc;
        p->n_stages++;
        s = &p->stages[p->n_stages];
        memset(s, 0, sizeof *s);
        agg_val_missing(&s->expr);
        s->kind = ST_SORT;
        s->name = "$sortByCount";
        bson_append_int32(&sort_doc, "count", 5, -1);
        rc = sort_spec_create(&sort_doc, &s->sort, e);
        bson_destroy(&sort_doc);
    } else if (strcmp(name, "$changeStream") == 0) {
        return err_set(e, ERR_NOT_IMPLEMENTED, "$changeStream is not supported by this server yet");
    } else if (strcmp(name, "$out") == 0 || strcmp(name, "$merge") == 0) {
        return err_set(e, ERR_NOT_IMPLEMENTED, "%s is not supported by this server yet", name);
    } else if (strcmp(name, "$collStats") == 0) {
        /* mongosh falls back to the collStats command on FailedToParse */
        return err_set(e, ERR_FAILED_TO_PARSE, "$collStats is not supported by this server yet");
    } else if (is_known_unsupported(name)) {
        return err_set(e, ERR_NOT_IMPLEMENTED, "%s is not supported by this server yet", name);
    } else {
        return err_set(e, 40324, "Unrecognized pipeline stage name: '%s'", name);
    }
    if (rc == 0)
        p->n_stages++;
    return rc;
}

static void stage_close(struct stage *s)
{
    if (s->matcher != NULL)
        matcher_destroy(s->matcher);
    if (s->has_filter)
        bson_destroy(&s->match_filter);
    agg_proj_destroy(s->proj);
    if (s->sort != NULL)
        sort_spec_destroy(s->sort);
    agg_group_destroy(s->group);
    free(s->path);
    free(s->index_field);
    bson_value_destroy(&s->expr);
    for (size_t i = 0; i < s->n_items; i++) {
        free(s->items[i].key);
        bson_destroy(s->items[i].doc);
    }
    free(s->items);
}

int pipeline_create(const bson_t *stages, struct pipeline **out, struct err *e)
{
    bson_iter_t it;
    size_t n = 0;
    if (!bson_iter_init(&it, stages))
        return err_set(e, ERR_INVALID_BSON, "invalid pipeline");
    while (bson_iter_next(&it))
        n++;
    struct pipeline *p = xcalloc(1, sizeof *p);
    /* $sortByCount expands into two stages */
    p->stages = xcalloc(2 * n + 1, sizeof *p->stages);
    p->memory_limit = AGG_MEMORY_LIMIT_BYTES;
    bson_iter_init(&it, stages);
    while (bson_iter_next(&it)) {
        int rc = parse_stage(p, bson_iter_value(&it), e);
        if (rc < 0) {
            /* a stage that failed half-way may hold resources */
            stage_close(&p->stages[p->n_stages]);
            pipeline_destroy(p);
            return rc;
        }
    }
    /* A $sort right before a $limit only needs the top documents. */
    for (size_t k = 0; k + 1 < p->n_stages; k++)
        if (p->stages[k].kind == ST_SORT && p->stages[k + 1].kind == ST_LIMIT)
            p->stages[k].top_k = p->stages[k + 1].n;
    *out = p;
    return 0;
}

void pipeline_destroy(struct pipeline *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_stages; i++)
        stage_close(&p->stages[i]);
    free(p->stages);
    free(p);
}

/* --- running --- */

static int push(struct pipeline *p, size_t i, const bson_t *doc, struct err *e);

static int memory_error(const char *what, size_t limit, struct err *e)
{
    if (strcmp(what, "$group") == 0)
        return err_set(e, AGG_ERR_MEMORY_LIMIT,
                       "Exceeded memory limit for $group, but didn't allow external sort. Pass allowDiskUse:true to "
                       "opt in.");
    return err_set(e, AGG_ERR_MEMORY_LIMIT,
                   "Sort exceeded memory limit of %zu bytes, but did not opt in to external sorting. Aborting "
                   "operation. Pass allowDiskUse:true to opt in.",
                   limit);
}

static int cmp_items(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/* Keeps only the first top_k items (sorted) to bound memory under $limit. */
static void sort_trim(struct stage *s)
{
    qsort(s->items, s->n_items, sizeof *s->items, cmp_items);
    for (size_t i = (size_t)s->top_k; i < s->n_items; i++) {
        s->mem_bytes -= s->items[i].key_len + s->items[i].doc->len + sizeof *s->items;
        free(s->items[i].key);
        bson_destroy(s->items[i].doc);
    }
    s->n_items = (size_t)s->top_k;
}

static int sort_add(struct pipeline *p, struct stage *s, const bson_t *doc, struct err *e)
{
    struct keybuf kb;
    int natural = sort_spec_natural(s->sort);
    keybuf_init(&kb);
    if (natural == 0)
        sort_key_append(s->sort, doc, &kb);
    if (s->n_items == s->cap_items) {
        s->cap_items = s->cap_items ? s->cap_items * 2 : 64;
        s->items = xrealloc(s->items, s->cap_items * sizeof *s->items);
    }
    struct sort_item *it = &s->items[s->n_items++];
    it->key = xmalloc(kb.len ? kb.len : 1);
    memcpy(it->key, kb.data, kb.len);
    it->key_len = kb.len;
    it->doc = bson_copy(doc);
    /* equal keys keep input order (stable); {$natural: -1} reverses it */
    it->seq = natural < 0 ? SIZE_MAX - (size_t)s->seen : (size_t)s->seen;
    s->seen++;
    keybuf_destroy(&kb);
    s->mem_bytes += it->key_len + doc->len + sizeof *it;
    if (s->top_k > 0 && s->n_items >= 2 * (size_t)s->top_k + 64)
        sort_trim(s);
    if (s->mem_bytes > p->memory_limit)
        return memory_error("$sort", p->memory_limit, e);
    return 0;
}

/* The value at a dotted path through sub-documents only (no array
 * traversal, as $unwind reads its path); borrowed view, or missing. */
static void get_plain_path(const bson_t *doc, const char *path, bson_value_t *out)
{
    bson_value_t cur;
    agg_val_view_doc(&cur, doc);
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        bson_iter_t it;
        bool is_found = false;
        if (cur.value_type == BSON_TYPE_DOCUMENT &&
            bson_iter_init_from_data(&it, cur.value.v_doc.data, cur.value.v_doc.data_len))
            while (bson_iter_next(&it))
                if (bson_iter_key_len(&it) == len && memcmp(bson_iter_key(&it), path, len) == 0) {
                    cur = *bson_iter_value(&it);
                    is_found = true;
                    break;
                }
        if (!is_found) {
            agg_val_missing(out);
            return;
        }
        if (dot == NULL) {
            *out = cur;
            return;
        }
        path = dot + 1;
    }
}

static int unwind_doc(struct pipeline *p, size_t i, struct stage *s, const bson_t *doc, struct err *e)
{
    bson_value_t v, null_v;
    get_plain_path(doc, s->path, &v);
    agg_val_null(&null_v);
    int rc = 0;
    if (v.value_type == BSON_TYPE_ARRAY) {
        struct agg_vals items;
        agg_args_raw(&v, &items);
        if (items.n == 0 && s->is_preserve) {
            bson_t out = BSON_INITIALIZER, out2 = BSON_INITIALIZER;
            bson_value_t none;
            agg_val_missing(&none);
            agg_doc_set_path(bson_get_data(doc), doc->len, s->path, &none, &out);
            if (s->index_field != NULL) {
                agg_doc_set_path(bson_get_data(&out), out.len, s->index_field, &null_v, &out2);
                rc = push(p, i + 1, &out2, e);
            } else {
                rc = push(p, i + 1, &out, e);
            }
            bson_destroy(&out);
            bson_destroy(&out2);
        }
        for (size_t k = 0; k < items.n && rc == 0; k++) {
            bson_t out = BSON_INITIALIZER;
            agg_doc_set_path(bson_get_data(doc), doc->len, s->path, &items.v[k], &out);
            if (s->index_field != NULL) {
                bson_t out2 = BSON_INITIALIZER;
                bson_value_t idx;
                agg_val_int64(&idx, (int64_t)k);
                agg_doc_set_path(bson_get_data(&out), out.len, s->index_field, &idx, &out2);
                rc = push(p, i + 1, &out2, e);
                bson_destroy(&out2);
            } else {
                rc = push(p, i + 1, &out, e);
            }
            bson_destroy(&out);
        }
        agg_vals_free(&items);
    } else if (!agg_val_is_nullish(&v) || s->is_preserve) {
        /* a scalar unwinds to itself; null/missing only with preserve */
        if (s->index_field != NULL) {
            bson_t out = BSON_INITIALIZER;
            agg_doc_set_path(bson_get_data(doc), doc->len, s->index_field, &null_v, &out);
            rc = push(p, i + 1, &out, e);
            bson_destroy(&out);
        } else {
            rc = push(p, i + 1, doc, e);
        }
    }
    return rc;
}

/* A value as mongod prints it in messages: relaxed JSON, MISSING when absent. */
static char *value_json(const bson_value_t *v)
{
    if (agg_val_is_missing(v))
        return bson_strdup("MISSING");
    bson_t tmp = BSON_INITIALIZER;
    bson_append_value(&tmp, "v", 1, v);
    char *json = bson_as_relaxed_extended_json(&tmp, NULL);
    bson_destroy(&tmp);
    /* json is { "v" : <value> }: keep <value> */
    const char *start = json ? strstr(json, ": ") : NULL;
    size_t len = start ? strlen(start + 2) : 0;
    char *out = bson_strdup(start && len >= 2 ? start + 2 : "?");
    if (start && len >= 2)
        out[len - 2] = '\0';
    bson_free(json);
    return out;
}

static int push(struct pipeline *p, size_t i, const bson_t *doc, struct err *e)
{
    if (i == p->n_stages)
        return p->emit(p->emit_ctx, doc, e);
    struct stage *s = &p->stages[i];
    struct agg_ctx c = {.root = doc, .now_ms = p->now_ms, .vars = NULL};
    int rc;
    switch (s->kind) {
    case ST_MATCH:
        return matcher_match(s->matcher, doc) ? push(p, i + 1, doc, e) : 0;
    case ST_PROJECT:
    case ST_ADD_FIELDS:
    case ST_UNSET: {
        bson_t out = BSON_INITIALIZER;
        rc = agg_proj_apply(s->proj, doc, &c, &out, e);
        if (rc == 0)
            rc = push(p, i + 1, &out, e);
        bson_destroy(&out);
        return rc;
    }
    case ST_REPLACE_ROOT: {
        bson_value_t v;
        rc = agg_expr_eval(&s->expr, &c, &v, e);
        if (rc < 0)
            return rc;
        if (v.value_type != BSON_TYPE_DOCUMENT) {
            char *json = bson_as_relaxed_extended_json(doc, NULL);
            char *val = value_json(&v);
            rc = err_set(e, 40228,
                         "'newRoot' expression must evaluate to an object, but resulting value was: %.200s. Type of "
                         "resulting value: '%s'. Input document: %.200s",
                         val, agg_val_type_name(&v), json);
            bson_free(val);
            bson_free(json);
            bson_value_destroy(&v);
            return rc;
        }
        bson_t out;
        if (!bson_init_static(&out, v.value.v_doc.data, v.value.v_doc.data_len))
            rc = err_set(e, ERR_INVALID_BSON, "%s: invalid document", s->name);
        else
            rc = push(p, i + 1, &out, e);
        bson_value_destroy(&v);
        return rc;
    }
    case ST_SKIP:
        if (s->seen < s->n) {
            s->seen++;
            return 0;
        }
        return push(p, i + 1, doc, e);
    case ST_LIMIT:
        if (s->seen >= s->n)
            return AGG_STOP;
        s->seen++;
        rc = push(p, i + 1, doc, e);
        if (rc < 0)
            return rc;
        return s->seen >= s->n ? AGG_STOP : rc;
    case ST_SORT:
        return sort_add(p, s, doc, e);
    case ST_GROUP:
        rc = agg_group_add(s->group, doc, &c, e);
        if (rc == 0 && agg_group_mem_bytes(s->group) > p->memory_limit)
            rc = memory_error("$group", p->memory_limit, e);
        return rc;
    case ST_COUNT:
        s->seen++;
        return 0;
    case ST_UNWIND:
        return unwind_doc(p, i, s, doc, e);
    }
    return 0;
}

/* Releases what stage i buffered into stage i+1. */
static int flush(struct pipeline *p, size_t i, struct err *e)
{
    struct stage *s = &p->stages[i];
    int rc = 0;
    switch (s->kind) {
    case ST_SORT:
        qsort(s->items, s->n_items, sizeof *s->items, cmp_items);
        for (size_t k = 0; k < s->n_items && rc == 0; k++)
            if (s->top_k == 0 || (int64_t)k < s->top_k)
                rc = push(p, i + 1, s->items[k].doc, e);
        break;
    case ST_GROUP:
        for (size_t k = 0; k < agg_group_n_groups(s->group) && rc == 0; k++) {
            bson_t out = BSON_INITIALIZER;
            agg_group_result(s->group, k, &out);
            rc = push(p, i + 1, &out, e);
            bson_destroy(&out);
        }
        break;
    case ST_COUNT:
        if (s->seen > 0) {
            bson_t out = BSON_INITIALIZER;
            if (s->seen <= INT32_MAX)
                bson_append_int32(&out, s->path, -1, (int32_t)s->seen);
            else
                bson_append_int64(&out, s->path, -1, s->seen);
            rc = push(p, i + 1, &out, e);
            bson_destroy(&out);
        }
        break;
    default:
        break;
    }
    return rc < 0 ? rc : 0;
}

static void reset_run_state(struct pipeline *p)
{
    for (size_t i = 0; i < p->n_stages; i++) {
        struct stage *s = &p->stages[i];
        s->seen = 0;
        for (size_t k = 0; k < s->n_items; k++) {
            free(s->items[k].key);
            bson_destroy(s->items[k].doc);
        }
        s->n_items = 0;
        s->mem_bytes = 0;
        if (s->group != NULL)
            agg_group_reset(s->group);
    }
}

int pipeline_run(struct pipeline *p, struct agg_source *src, agg_emit_cb emit, void *emit_ctx, int64_t now_ms,
                 struct err *e)
{
    int rc = 0;
    p->emit = emit;
    p->emit_ctx = emit_ctx;
    p->now_ms = now_ms;
    reset_run_state(p);
    for (;;) {
        const bson_t *doc;
        rc = src->next(src->ctx, &doc, e);
        if (rc <= 0)
            break;
        rc = push(p, 0, doc, e);
        if (rc < 0 || rc == AGG_STOP)
            break;
    }
    if (rc >= 0)
        for (size_t i = 0; i < p->n_stages; i++) {
            rc = flush(p, i, e);
            if (rc < 0)
                break;
        }
    reset_run_state(p);
    return rc < 0 ? rc : 0;
}

int pipeline_apply_to_doc(struct pipeline *p, const bson_t *doc, bson_t *out, struct err *e)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (size_t i = 0; i < p->n_stages; i++) {
        struct stage *s = &p->stages[i];
        if (s->kind != ST_PROJECT && s->kind != ST_ADD_FIELDS && s->kind != ST_UNSET && s->kind != ST_REPLACE_ROOT)
            return err_set(e, ERR_INVALID_OPTIONS, "%s is not allowed to be used within an update", s->name);
    }
    bson_t *cur = bson_copy(doc);
    for (size_t i = 0; i < p->n_stages; i++) {
        struct stage *s = &p->stages[i];
        struct agg_ctx c = {.root = cur, .now_ms = now_ms, .vars = NULL};
        bson_t *next = bson_new();
        int rc;
        if (s->kind == ST_REPLACE_ROOT) {
            bson_value_t v;
            rc = agg_expr_eval(&s->expr, &c, &v, e);
            if (rc == 0 && v.value_type != BSON_TYPE_DOCUMENT)
                rc = err_set(e, ERR_BAD_VALUE,
                             "'newRoot' expression must evaluate to an object, but resulting value was: %s. Type of "
                             "resulting value: '%s'.",
                             agg_val_is_missing(&v) ? "MISSING" : agg_val_type_name(&v), agg_val_type_name(&v));
            bson_t tmp;
            if (rc == 0 && bson_init_static(&tmp, v.value.v_doc.data, v.value.v_doc.data_len))
                bson_concat(next, &tmp);
            bson_value_destroy(&v);
        } else {
            rc = agg_proj_apply(s->proj, cur, &c, next, e);
        }
        bson_destroy(cur);
        cur = next;
        if (rc < 0) {
            bson_destroy(cur);
            return rc;
        }
    }
    bson_concat(out, cur);
    bson_destroy(cur);
    return 0;
}
