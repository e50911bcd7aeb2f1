/* update_parse.c - parses update specifications (update_create).
 *
 * Decides the form (operators, replacement, pipeline), validates every
 * operator argument and path the way mongod 6.0 does (same codes and
 * messages), parses arrayFilters, rejects conflicting paths, and sorts the
 * operations by path so update_apply creates new fields in mongod's order
 * (lexicographic, numeric components numerically). */
#include "core/mem.h"
#include "core/bsonutil.h"
#include "query/agg.h"
#include "query/bsonval.h"
#include "query/match.h"
#include "query/update_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct op_name {
    const char *name;
    enum uop_kind kind;
};

static const struct op_name op_names[] = {
    {"$addToSet", UOP_ADD_TO_SET}, {"$currentDate", UOP_CURRENT_DATE}, {"$inc", UOP_INC},
    {"$max", UOP_MAX},             {"$min", UOP_MIN},                  {"$mul", UOP_MUL},
    {"$pop", UOP_POP},             {"$pull", UOP_PULL},                {"$pullAll", UOP_PULL_ALL},
    {"$push", UOP_PUSH},           {"$rename", UOP_RENAME},            {"$set", UOP_SET},
    {"$setOnInsert", UOP_SET_ON_INSERT}, {"$unset", UOP_UNSET},
};

enum upos_kind upath_part_kind(const char *part)
{
    if (part[0] != '$')
        return UPOS_NONE;
    if (strcmp(part, "$") == 0)
        return UPOS_DOLLAR;
    if (strcmp(part, "$[]") == 0)
        return UPOS_ALL;
    size_t n = strlen(part);
    if (n > 3 && part[1] == '[' && part[n - 1] == ']')
        return UPOS_FILTER;
    return UPOS_NONE;
}

void upath_free(struct upath *p)
{
    for (int i = 0; i < p->n_parts; i++)
        free(p->parts[i]);
    free(p->parts);
    free(p->filter);
    free(p->text);
    memset(p, 0, sizeof *p);
}

static void upath_split(const char *text, struct upath *out)
{
    memset(out, 0, sizeof *out);
    out->text = xstrdup(text);
    int n = 1;
    for (const char *c = text; *c; c++)
        n += *c == '.';
    out->parts = xcalloc((size_t)n, sizeof *out->parts);
    out->filter = xcalloc((size_t)n, sizeof *out->filter);
    const char *start = text;
    for (int i = 0; i < n; i++) {
        const char *dot = strchr(start, '.');
        size_t len = dot ? (size_t)(dot - start) : strlen(start);
        out->parts[i] = xstrndup(start, len);
        out->filter[i] = -1;
        start += len + 1;
    }
    out->n_parts = n;
}

/* For upsert seeding: splits without validation; returns -1 (and leaves
 * *out empty) for paths with empty or $-prefixed components. */
int upath_parse_lenient(const char *text, struct upath *out)
{
    upath_split(text, out);
    for (int i = 0; i < out->n_parts; i++) {
        if (out->parts[i][0] == '\0' || out->parts[i][0] == '$') {
            upath_free(out);
            return -1;
        }
    }
    return 0;
}

static int upath_parse(struct update *u, const char *text, struct upath *out, struct err *e)
{
    if (text[0] == '\0')
        return err_set(e, ERR_EMPTY_FIELD_NAME, "An empty update path is not valid.");
    upath_split(text, out);
    int n_dollar = 0;
    for (int i = 0; i < out->n_parts; i++) {
        const char *part = out->parts[i];
        if (part[0] == '\0')
            return err_set(e, ERR_EMPTY_FIELD_NAME,
                           "The update path '%s' contains an empty field name, which is not allowed.", text);
        if (part[0] != '$')
            continue;
        enum upos_kind k = upath_part_kind(part);
        if (k == UPOS_NONE)
            return err_set(e, ERR_DOLLAR_PREFIXED_FIELD_NAME,
                           "The dollar ($) prefixed field '%s' in '%s' is not valid for storage.", part, text);
        if (i == 0) {
            if (k == UPOS_DOLLAR)
                return err_set(e, ERR_BAD_VALUE,
                               "Cannot have positional (i.e. '$') element in the first position in path '%s'",
                               text);
            return err_set(e, ERR_BAD_VALUE,
                           "Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in "
                           "path '%s'",
                           text);
        }
        if (k == UPOS_DOLLAR && ++n_dollar > 1)
            return err_set(e, ERR_BAD_VALUE, "Too many positional (i.e. '$') elements found in path '%s'", text);
        if (k == UPOS_FILTER) {
            size_t len = strlen(part);
            size_t f;
            for (f = 0; f < u->n_filters; f++)
                if (strlen(u->filters[f].ident) == len - 3 && memcmp(u->filters[f].ident, part + 2, len - 3) == 0)
                    break;
            if (f == u->n_filters)
                return err_set(e, ERR_BAD_VALUE, "No array filter found for identifier '%.*s' in path '%s'",
                               (int)(len - 3), part + 2, text);
            u->filters[f].is_used = true;
            out->filter[i] = (int)f;
        }
    }
    return 0;
}

static bool part_is_index(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int part_compare(const char *a, const char *b)
{
    if (part_is_index(a) && part_is_index(b)) {
        while (*a == '0' && a[1])
            a++;
        while (*b == '0' && b[1])
            b++;
        size_t la = strlen(a), lb = strlen(b);
        if (la != lb)
            return la < lb ? -1 : 1;
    }
    return strcmp(a, b);
}

int upath_compare(const struct upath *a, const struct upath *b)
{
    for (int i = 0; i < a->n_parts && i < b->n_parts; i++) {
        int c = part_compare(a->parts[i], b->parts[i]);
        if (c != 0)
            return c;
    }
    return a->n_parts - b->n_parts;
}

static bool upath_is_prefix(const struct upath *a, const struct upath *b)
{
    if (a->n_parts > b->n_parts)
        return false;
    for (int i = 0; i < a->n_parts; i++)
        if (strcmp(a->parts[i], b->parts[i]) != 0)
            return false;
    return true;
}

/* ---- values ---- */

static bool value_is_integral(const bson_value_t *v, int64_t *out)
{
    switch (v->value_type) {
    case BSON_TYPE_INT32: *out = v->value.v_int32; return true;
    case BSON_TYPE_INT64: *out = v->value.v_int64; return true;
    case BSON_TYPE_DOUBLE: {
        double d = v->value.v_double;
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9.0e15)
            return false;
        *out = (int64_t)d;
        return true;
    }
    default: return false;
    }
}

/* Stored field names may not start with '$' (DBRef's $ref/$id/$db excepted). */
static int check_storable(const bson_value_t *v, const char *path, struct err *e)
{
    if (v->value_type != BSON_TYPE_DOCUMENT && v->value_type != BSON_TYPE_ARRAY)
        return 0;
    bson_t sub;
    bson_iter_t it;
    if (!bson_init_static(&sub, v->value.v_doc.data, v->value.v_doc.data_len) || !bson_iter_init(&it, &sub))
        return 0;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (v->value_type == BSON_TYPE_DOCUMENT && k[0] == '$' && strcmp(k, "$ref") != 0 &&
            strcmp(k, "$id") != 0 && strcmp(k, "$db") != 0)
            return err_set(e, ERR_DOLLAR_PREFIXED_FIELD_NAME,
                           "The dollar ($) prefixed field '%s' in '%s.%s' is not valid for storage.", k, path, k);
        char sub_path[256];
        snprintf(sub_path, sizeof sub_path, "%s.%s", path, k);
        int rc = check_storable(bson_iter_value(&it), sub_path, e);
        if (rc)
            return rc;
    }
    return 0;
}

static void copy_array_values(const bson_value_t *arr, struct uop *op)
{
    bson_t sub;
    bson_iter_t it;
    size_t cap = 0;
    if (!bson_init_static(&sub, arr->value.v_doc.data, arr->value.v_doc.data_len) || !bson_iter_init(&it, &sub))
        return;
    while (bson_iter_next(&it)) {
        if (op->n_vals == cap) {
            cap = cap ? cap * 2 : 4;
            op->vals = xrealloc(op->vals, cap * sizeof *op->vals);
        }
        bson_value_copy(bson_iter_value(&it), &op->vals[op->n_vals++]);
    }
}

static void add_single_value(const bson_value_t *v, struct uop *op)
{
    op->vals = xrealloc(op->vals, (op->n_vals + 1) * sizeof *op->vals);
    bson_value_copy(v, &op->vals[op->n_vals++]);
}

static bool doc_has_key(const bson_value_t *v, const char *key, bson_iter_t *found)
{
    bson_t sub;
    return v->value_type == BSON_TYPE_DOCUMENT &&
           bson_init_static(&sub, v->value.v_doc.data, v->value.v_doc.data_len) &&
           bson_iter_init_find(found, &sub, key);
}

static int parse_sort(const bson_value_t *v, struct uop *op, struct err *e)
{
    static const char *bad = "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort "
                             "embedded fields";
    int64_t dir;
    if (value_is_integral(v, &dir)) {
        if (dir != 1 && dir != -1)
            return err_set(e, ERR_BAD_VALUE, "%s", bad);
        op->sort_kind = 1;
        op->sort_dir = (int)dir;
        return 0;
    }
    if (v->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_BAD_VALUE, "%s", bad);
    bson_t spec;
    bson_iter_t it;
    if (!bson_init_static(&spec, v->value.v_doc.data, v->value.v_doc.data_len) || !bson_iter_init(&it, &spec))
        return err_set(e, ERR_BAD_VALUE, "%s", bad);
    int n = 0;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        size_t kl = strlen(k);
        if (kl == 0 || k[0] == '$' || k[0] == '.' || k[kl - 1] == '.' || strstr(k, "..") ||
            !value_is_integral(bson_iter_value(&it), &dir) || (dir != 1 && dir != -1))
            return err_set(e, ERR_BAD_VALUE, "%s", bad);
        n++;
    }
    if (n == 0)
        return err_set(e, ERR_BAD_VALUE, "%s", bad);
    op->sort_kind = 2;
    if (op->sort_spec)
        bson_destroy(op->sort_spec);
    op->sort_spec = bson_copy(&spec);
    return 0;
}

static int parse_push(const bson_value_t *arg, struct uop *op, struct err *e)
{
    bson_iter_t each;
    if (!doc_has_key(arg, "$each", &each)) {
        add_single_value(arg, op);
        return 0;
    }
    bson_t spec;
    bson_iter_t it;
    bson_init_static(&spec, arg->value.v_doc.data, arg->value.v_doc.data_len);
    bson_iter_init(&it, &spec);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        const bson_value_t *v = bson_iter_value(&it);
        int64_t n;
        if (strcmp(k, "$each") == 0) {
            if (v->value_type != BSON_TYPE_ARRAY)
                return err_set(e, ERR_BAD_VALUE, "The argument to $each in $push must be an array but it was of type: %s",
                               bsonutil_type_name(v->value_type));
            copy_array_values(v, op);
        } else if (strcmp(k, "$slice") == 0) {
            if (!value_is_integral(v, &n))
                return err_set(e, ERR_BAD_VALUE, "The value for $slice must be an integer value but was given type: %s",
                               bsonutil_type_name(v->value_type));
            op->has_slice = true;
            op->slice = n;
        } else if (strcmp(k, "$position") == 0) {
            if (!value_is_integral(v, &n))
                return err_set(e, ERR_BAD_VALUE, "The value for $position must be an integer value, not of type: %s",
                               bsonutil_type_name(v->value_type));
            op->has_position = true;
            op->position = n;
        } else if (strcmp(k, "$sort") == 0) {
            int rc = parse_sort(v, op, e);
            if (rc)
                return rc;
        } else {
            return err_set(e, ERR_BAD_VALUE, "Unrecognized clause in $push: %s", k);
        }
    }
    return 0;
}

static int parse_add_to_set(const bson_value_t *arg, struct uop *op, struct err *e)
{
    bson_t spec;
    bson_iter_t it;
    if (arg->value_type == BSON_TYPE_DOCUMENT &&
        bson_init_static(&spec, arg->value.v_doc.data, arg->value.v_doc.data_len) && bson_iter_init(&it, &spec) &&
        bson_iter_next(&it) && strcmp(bson_iter_key(&it), "$each") == 0) {
        const bson_value_t *v = bson_iter_value(&it);
        if (v->value_type != BSON_TYPE_ARRAY)
            return err_set(e, ERR_TYPE_MISMATCH,
                           "The argument to $each in $addToSet must be an array but it was of type %s",
                           bsonutil_type_name(v->value_type));
        copy_array_values(v, op);
        if (bson_iter_next(&it))
            return err_set(e, ERR_BAD_VALUE, "Found unexpected fields after $each in $addToSet: %s",
                           bson_iter_key(&it));
        return 0;
    }
    add_single_value(arg, op);
    return 0;
}

/* $pull's condition: a non-document is an equality; a document whose first
 * field is a value operator ($gt, $in, ...) applies to each element as a
 * value; any other document is a filter over document elements. */
static int parse_pull(const bson_value_t *arg, struct uop *op, struct err *e)
{
    if (arg->value_type != BSON_TYPE_DOCUMENT)
        return 0;
    bson_t cond;
    bson_iter_t it;
    if (!bson_init_static(&cond, arg->value.v_doc.data, arg->value.v_doc.data_len))
        return err_set(e, ERR_INVALID_BSON, "invalid $pull condition document");
    const char *first = bson_iter_init(&it, &cond) && bson_iter_next(&it) ? bson_iter_key(&it) : "";
    bool is_wrapped = first[0] == '$' && strcmp(first, "$and") != 0 && strcmp(first, "$or") != 0 &&
                      strcmp(first, "$nor") != 0 && strcmp(first, "$expr") != 0 && strcmp(first, "$comment") != 0 &&
                      strcmp(first, "$where") != 0 && strcmp(first, "$text") != 0;
    bson_t wrapped = BSON_INITIALIZER;
    const bson_t *filter = &cond;
    if (is_wrapped) {
        bson_append_document(&wrapped, "v", 1, &cond);
        filter = &wrapped;
    }
    int rc = matcher_create(filter, &op->pull_m, e);
    bson_destroy(&wrapped);
    op->is_pull_wrapped = is_wrapped;
    return rc;
}

static int parse_op_arg(struct update *u, struct uop *op, const bson_value_t *v, struct err *e)
{
    int64_t n;
    switch (op->kind) {
    case UOP_SET:
    case UOP_SET_ON_INSERT: return check_storable(v, op->path.text, e);
    case UOP_UNSET: return 0;
    case UOP_INC:
    case UOP_MUL:
        if (!bsonval_is_number(v)) {
            bson_string_t *s = bson_string_new(NULL);
            update_render_value(v, s);
            int rc = err_set(e, ERR_TYPE_MISMATCH, "Cannot %s with non-numeric argument: {%s: %s}",
                             op->kind == UOP_INC ? "increment" : "multiply", op->path.text, s->str);
            bson_string_free(s, true);
            return rc;
        }
        return 0;
    case UOP_MIN:
    case UOP_MAX: return check_storable(v, op->path.text, e);
    case UOP_CURRENT_DATE: {
        bson_iter_t t;
        if (v->value_type == BSON_TYPE_BOOL)
            return 0;
        if (v->value_type == BSON_TYPE_DOCUMENT && doc_has_key(v, "$type", &t) && BSON_ITER_HOLDS_UTF8(&t)) {
            bson_t d;
            bson_init_static(&d, v->value.v_doc.data, v->value.v_doc.data_len);
            const char *ty = bson_iter_utf8(&t, NULL);
            if (bson_count_keys(&d) == 1 && (strcmp(ty, "date") == 0 || strcmp(ty, "timestamp") == 0)) {
                op->is_timestamp = strcmp(ty, "timestamp") == 0;
                return 0;
            }
            return err_set(e, ERR_BAD_VALUE,
                           "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: "
                           "{field : {$type: 'date'}}}");
        }
        return err_set(e, ERR_BAD_VALUE,
                       "%s is not valid type for $currentDate. Please use a boolean ('true') or a $type expression "
                       "({$type: 'timestamp/date'}).",
                       bsonutil_type_name(v->value_type));
    }
    case UOP_PUSH: {
        int rc = parse_push(v, op, e);
        for (size_t i = 0; rc == 0 && i < op->n_vals; i++)
            rc = check_storable(&op->vals[i], op->path.text, e);
        return rc;
    }
    case UOP_ADD_TO_SET: {
        int rc = parse_add_to_set(v, op, e);
        for (size_t i = 0; rc == 0 && i < op->n_vals; i++)
            rc = check_storable(&op->vals[i], op->path.text, e);
        return rc;
    }
    case UOP_POP: {
        if (!value_is_integral(v, &n) || (n != 1 && n != -1)) {
            bson_string_t *s = bson_string_new(NULL);
            update_render_value(v, s);
            int rc = err_set(e, ERR_FAILED_TO_PARSE, "$pop expects 1 or -1, found: %s", s->str);
            bson_string_free(s, true);
            return rc;
        }
        op->pop_dir = (int)n;
        return 0;
    }
    case UOP_PULL: return parse_pull(v, op, e);
    case UOP_PULL_ALL:
        if (v->value_type != BSON_TYPE_ARRAY)
            return err_set(e, ERR_BAD_VALUE, "$pullAll requires an array argument but was given a %s",
                           bsonutil_type_name(v->value_type));
        copy_array_values(v, op);
        return 0;
    case UOP_RENAME: {
        if (v->value_type != BSON_TYPE_UTF8) {
            bson_string_t *s = bson_string_new(NULL);
            update_render_value(v, s);
            int rc = err_set(e, ERR_BAD_VALUE, "The 'to' field for $rename must be a string: %s: %s", op->path.text,
                             s->str);
            bson_string_free(s, true);
            return rc;
        }
        /* The source was parsed as op->path; the destination becomes the path. */
        op->from = op->path;
        memset(&op->path, 0, sizeof op->path);
        const char *to = v->value.v_utf8.str;
        int rc = upath_parse(u, to, &op->path, e);
        if (rc)
            return rc;
        for (int i = 0; i < op->from.n_parts; i++)
            if (upath_part_kind(op->from.parts[i]) != UPOS_NONE)
                return err_set(e, ERR_BAD_VALUE, "The source field for $rename may not be dynamic: %s",
                               op->from.text);
        for (int i = 0; i < op->path.n_parts; i++)
            if (upath_part_kind(op->path.parts[i]) != UPOS_NONE)
                return err_set(e, ERR_BAD_VALUE, "The destination field for $rename may not be dynamic: %s", to);
        if (strcmp(op->from.text, to) == 0)
            return err_set(e, ERR_BAD_VALUE, "The source and target field for $rename must differ: %s: \"%s\"",
                           op->from.text, to);
        if (upath_is_prefix(&op->from, &op->path) || upath_is_prefix(&op->path, &op->from))
            return err_set(e, ERR_BAD_VALUE,
                           "The source and target field for $rename must not be on the same path: %s: \"%s\"",
                           op->from.text, to);
        return 0;
    }
    }
    return 0;
}

static void uop_free(struct uop *op)
{
    upath_free(&op->path);
    upath_free(&op->from);
    if (op->arg.value_type != BSON_TYPE_EOD)
        bson_value_destroy(&op->arg);
    for (size_t i = 0; i < op->n_vals; i++)
        bson_value_destroy(&op->vals[i]);
    free(op->vals);
    if (op->sort_spec)
        bson_destroy(op->sort_spec);
    if (op->pull_m)
        matcher_destroy(op->pull_m);
}

void update_destroy(struct update *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->n_ops; i++)
        uop_free(&u->ops[i]);
    free(u->ops);
    for (size_t i = 0; i < u->n_filters; i++) {
        free(u->filters[i].ident);
        if (u->filters[i].m)
            matcher_destroy(u->filters[i].m);
    }
    free(u->filters);
    if (u->pipeline)
        pipeline_destroy(u->pipeline);
    if (u->replacement)
        bson_destroy(u->replacement);
    free(u);
}

bool update_is_replacement(const struct update *u)
{
    return u->kind == UPDATE_REPLACEMENT;
}

/* ---- arrayFilters ---- */

static bool ident_is_valid(const char *s, size_t n)
{
    if (n == 0 || !islower((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]))
            return false;
    return true;
}

static int parse_one_filter(struct update *u, const bson_t *f, struct err *e)
{
    bson_iter_t it;
    const char *ident = NULL;
    size_t ident_len = 0;
    bson_iter_init(&it, f);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (k[0] == '$')
            return err_set(e, ERR_FAILED_TO_PARSE,
                           "Cannot use an expression without a top-level field name in arrayFilters");
        size_t len = strcspn(k, ".");
        if (ident == NULL) {
            ident = k;
            ident_len = len;
        } else if (len != ident_len || memcmp(k, ident, len) != 0) {
            return err_set(e, ERR_FAILED_TO_PARSE,
                           "Error parsing array filter :: caused by :: Expected a single top-level field name, "
                           "found '%.*s' and '%.*s'",
                           (int)ident_len, ident, (int)len, k);
        }
    }
    if (ident == NULL)
        return err_set(e, ERR_FAILED_TO_PARSE,
                       "Cannot use an expression without a top-level field name in arrayFilters");
    if (!ident_is_valid(ident, ident_len))
        return err_set(e, ERR_BAD_VALUE,
                       "Error parsing array filter :: caused by :: The top-level field name must be an "
                       "alphanumeric string beginning with a lowercase letter, found '%.*s'",
                       (int)ident_len, ident);
    for (size_t i = 0; i < u->n_filters; i++)
        if (strlen(u->filters[i].ident) == ident_len && memcmp(u->filters[i].ident, ident, ident_len) == 0)
            return err_set(e, ERR_FAILED_TO_PARSE, "Found multiple array filters with the same top-level field name %.*s",
                           (int)ident_len, ident);
    struct matcher *m = NULL;
    int rc = matcher_create(f, &m, e);
    if (rc) {
        err_prefix(e, "Error parsing array filter :: caused by ::");
        return rc;
    }
    u->filters = xrealloc(u->filters, (u->n_filters + 1) * sizeof *u->filters);
    u->filters[u->n_filters].ident = xstrndup(ident, ident_len);
    u->filters[u->n_filters].m = m;
    u->filters[u->n_filters].is_used = false;
    u->n_filters++;
    return 0;
}

static int parse_filters(struct update *u, const bson_t *array_filters, struct err *e)
{
    bson_iter_t it;
    if (array_filters == NULL || !bson_iter_init(&it, array_filters))
        return 0;
    while (bson_iter_next(&it)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return err_set(e, ERR_TYPE_MISMATCH, "Each array filter must be an object, found %s",
                           bsonutil_type_name(bson_iter_type(&it)));
        const uint8_t *data;
        uint32_t len;
        bson_t f;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&f, data, len))
            return err_set(e, ERR_INVALID_BSON, "invalid array filter document");
        int rc = parse_one_filter(u, &f, e);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the operator form ---- */

static const struct op_name *find_op(const char *name)
{
    for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
        if (strcmp(op_names[i].name, name) == 0)
            return &op_names[i];
    return NULL;
}

static int parse_operator_fields(struct update *u, const struct op_name *on, const bson_value_t *v, int *spec_index,
                                 struct err *e)
{
    if (v->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_FAILED_TO_PARSE,
                       "Modifiers operate on fields but we found type %s instead. For example: {$mod: {<field>: "
                       "...}} not {%s: ...}",
                       bsonutil_type_name(v->value_type), on->name);
    bson_t fields;
    bson_iter_t it;
    if (!bson_init_static(&fields, v->value.v_doc.data, v->value.v_doc.data_len) || !bson_iter_init(&it, &fields))
        return err_set(e, ERR_INVALID_BSON, "invalid %s document", on->name);
    if (bson_empty(&fields))
        return err_set(e, ERR_FAILED_TO_PARSE, "'%s' is empty. You must specify a field like so: {%s: {<field>: ...}}",
                       on->name, on->name);
    while (bson_iter_next(&it)) {
        u->ops = xrealloc(u->ops, (u->n_ops + 1) * sizeof *u->ops);
        struct uop *op = &u->ops[u->n_ops++];
        memset(op, 0, sizeof *op);
        op->kind = on->kind;
        op->name = on->name;
        op->spec_index = (*spec_index)++;
        bson_value_copy(bson_iter_value(&it), &op->arg);
        int rc = upath_parse(u, bson_iter_key(&it), &op->path, e);
        if (rc == 0)
            rc = parse_op_arg(u, op, &op->arg, e);
        if (rc)
            return rc;
    }
    return 0;
}

struct path_ref {
    const struct upath *path;
    int spec_index;
};

static int path_ref_cmp(const void *a, const void *b)
{
    const struct path_ref *x = a, *y = b;
    int c = upath_compare(x->path, y->path);
    return c ? c : x->spec_index - y->spec_index;
}

static int uop_cmp(const void *a, const void *b)
{
    const struct uop *x = a, *y = b;
    int c = upath_compare(&x->path, &y->path);
    return c ? c : x->spec_index - y->spec_index;
}

/* Two operations may not touch the same path or one path and its prefix. */
static int check_conflicts(struct update *u, struct err *e)
{
    size_t n = 0;
    struct path_ref *refs = xcalloc(u->n_ops * 2 + 1, sizeof *refs);
    for (size_t i = 0; i < u->n_ops; i++) {
        refs[n++] = (struct path_ref){&u->ops[i].path, u->ops[i].spec_index};
        if (u->ops[i].kind == UOP_RENAME)
            refs[n++] = (struct path_ref){&u->ops[i].from, u->ops[i].spec_index};
    }
    qsort(refs, n, sizeof *refs, path_ref_cmp);
    int rc = 0;
    for (size_t i = 0; i + 1 < n && rc == 0; i++) {
        const struct path_ref *a = &refs[i], *b = &refs[i + 1];
        if (upath_is_prefix(a->path, b->path)) {
            const struct path_ref *later = a->spec_index > b->spec_index ? a : b;
            rc = err_set(e, ERR_CONFLICTING_UPDATE_OPERATORS, "Updating the path '%s' would create a conflict at '%s'",
                         later->path->text, a->path->text);
        }
    }
    free(refs);
    return rc;
}

static int parse_operators(struct update *u, const bson_t *spec, struct err *e)
{
    bson_iter_t it;
    int spec_index = 0;
    bson_iter_init(&it, spec);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        const struct op_name *on = find_op(k);
        if (on == NULL)
            return err_set(e, ERR_FAILED_TO_PARSE,
                           "Unknown modifier: %s. Expected a valid update modifier or pipeline-style update "
                           "specified as an array",
                           k);
        int rc = parse_operator_fields(u, on, bson_iter_value(&it), &spec_index, e);
        if (rc)
            return rc;
    }
    int rc = check_conflicts(u, e);
    if (rc)
        return rc;
    qsort(u->ops, u->n_ops, sizeof *u->ops, uop_cmp);
    return 0;
}

static int check_replacement(const bson_t *spec, struct err *e)
{
    bson_iter_t it;
    bson_iter_init(&it, spec);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (k[0] == '$')
            return err_set(e, ERR_DOLLAR_PREFIXED_FIELD_NAME,
                           "The dollar ($) prefixed field '%s' in '%s' is not allowed in the context of an update's "
                           "replacement document. Consider using an aggregation pipeline with $replaceWith.",
                           k, k);
        int rc = check_storable(bson_iter_value(&it), k, e);
        if (rc)
            return rc;
        if (strcmp(k, "_id") == 0 && BSON_ITER_HOLDS_ARRAY(&it))
            return err_set(e, ERR_INVALID_ID_FIELD, "The '_id' value cannot be of type array");
    }
    return 0;
}

static int check_filters_used(const struct update *u, const bson_value_t *spec, struct err *e)
{
    for (size_t i = 0; i < u->n_filters; i++) {
        if (u->filters[i].is_used)
            continue;
        bson_string_t *s = bson_string_new(NULL);
        update_render_value(spec, s);
        int rc = err_set(e, ERR_FAILED_TO_PARSE, "The array filter for identifier '%s' was not used in the update %s",
                         u->filters[i].ident, s->str);
        bson_string_free(s, true);
        return rc;
    }
    return 0;
}

int update_create(const bson_value_t *spec, const bson_t *array_filters, struct update **out, struct err *e)
{
    if (spec == NULL || (spec->value_type != BSON_TYPE_DOCUMENT && spec->value_type != BSON_TYPE_ARRAY))
        return err_set(e, ERR_FAILED_TO_PARSE, "Update argument must be either an object or an array");
    bson_t doc;
    if (!bson_init_static(&doc, spec->value.v_doc.data, spec->value.v_doc.data_len) || !bson_validate(&doc, 0, NULL))
        return err_set(e, ERR_INVALID_BSON, "invalid update document");
    struct update *u = xcalloc(1, sizeof *u);
    int rc = 0;
    if (spec->value_type == BSON_TYPE_ARRAY) {
        u->kind = UPDATE_PIPELINE;
        if (array_filters && !bson_empty(array_filters)) {
            rc = err_set(e, ERR_FAILED_TO_PARSE, "arrayFilters may not be specified for pipeline-style updates");
            goto fail;
        }
        rc = pipeline_create(&doc, &u->pipeline, e);
        if (rc)
            goto fail;
        *out = u;
        return 0;
    }
    rc = parse_filters(u, array_filters, e);
    if (rc)
        goto fail;
    bson_iter_t it;
    bool is_ops = bson_iter_init(&it, &doc) && bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
    if (is_ops) {
        u->kind = UPDATE_OPERATORS;
        rc = parse_operators(u, &doc, e);
    } else {
        u->kind = UPDATE_REPLACEMENT;
        rc = check_replacement(&doc, e);
        if (rc == 0)
            u->replacement = bson_copy(&doc);
    }
    if (rc == 0)
        rc = check_filters_used(u, spec, e);
    if (rc)
        goto fail;
    *out = u;
    return 0;
fail:
    update_destroy(u);
    return rc;
}
