/* plan.c - index choice for a filter, expressed as ranges over encoded keys.
 *
 * Sits between the matcher (which reports the plain top-level conditions on a
 * path) and storage (which walks key ranges). Guarantees only a superset of
 * the matching documents: callers always re-apply the full matcher. */
#include "query/plan.h"

#include "core/mem.h"
#include "query/bsonval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_prefix(const struct keybuf *p, const uint8_t *key, size_t len)
{
    return p->len <= len && memcmp(p->data, key, p->len) == 0;
}

static int compare_key(const struct keybuf *b, const uint8_t *key, size_t len)
{
    size_t n = b->len < len ? b->len : len;
    int c = n ? memcmp(key, b->data, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return len < b->len ? -1 : len > b->len ? 1 : 0;
}

int key_range_check(const struct key_range *r, const uint8_t *key, size_t len)
{
    if (r->lo.len > 0) {
        if (compare_key(&r->lo, key, len) < 0)
            return -1;
        if (r->is_lo_exclusive && is_prefix(&r->lo, key, len))
            return -1;
    }
    if (r->hi.len > 0) {
        bool hi_prefix = is_prefix(&r->hi, key, len);
        if (compare_key(&r->hi, key, len) > 0 && !hi_prefix)
            return 1;
        if (r->is_hi_exclusive && hi_prefix)
            return 1;
    }
    return 0;
}

/* Planner limits: more $in combinations than this fall back to fewer fields. */
#define MAX_RANGES 256
#define MAX_BOUNDS 16
#define MAX_FIELDS 32

struct field_use {
    const char *path;
    bool is_descending;
    int n_points;               /* equality values ($eq: 1, $in: n), 0 = none */
    bson_value_t *points;       /* owned array of borrowed values */
    bool has_lower, has_upper;  /* range bounds (only when n_points == 0) */
    struct match_bound lower, upper;
};

/* Values an index can look up exactly. Null (also matches missing and
 * undefined), arrays (match elements too), documents, regexes and the
 * MinKey/MaxKey bounds are left to a collection scan. */
static bool is_indexable_value(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
    case BSON_TYPE_ARRAY:
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_REGEX:
    case BSON_TYPE_MINKEY:
    case BSON_TYPE_MAXKEY:
    case BSON_TYPE_EOD: return false;
    default: return true;
    }
}

static void add_point(struct field_use *f, const bson_value_t *v)
{
    f->points = xrealloc(f->points, sizeof *f->points * (size_t)(f->n_points + 1));
    f->points[f->n_points++] = *v;
}

static bool in_points(struct field_use *f, const bson_value_t *arr)
{
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, arr->value.v_doc.data, arr->value.v_doc.data_len))
        return false;
    int n = 0;
    while (bson_iter_next(&it)) {
        if (!is_indexable_value(bson_iter_value(&it)) || n >= MAX_RANGES)
            return false;
        n++;
    }
    if (n == 0)
        return false;
    bson_iter_init_from_data(&it, arr->value.v_doc.data, arr->value.v_doc.data_len);
    while (bson_iter_next(&it))
        add_point(f, bson_iter_value(&it));
    return true;
}

static bool is_lower_op(const char *op) { return strcmp(op, "$gt") == 0 || strcmp(op, "$gte") == 0; }
static bool is_upper_op(const char *op) { return strcmp(op, "$lt") == 0 || strcmp(op, "$lte") == 0; }

/* The tighter of two bounds of the same direction. */
static bool is_tighter(const struct match_bound *cand, const struct match_bound *cur, bool is_lower)
{
    int c = bsonval_compare(&cand->value, &cur->value);
    if (c == 0)
        return strlen(cand->op) == 3; /* strict $gt/$lt beat $gte/$lte */
    return is_lower ? c > 0 : c < 0;
}

/* Fills f from the matcher's conditions on f->path. Equality wins over
 * ranges; ranges keep one class of types (type bracketing). */
static void analyse_field(const struct matcher *m, struct field_use *f, bool is_multikey)
{
    struct match_bound b[MAX_BOUNDS];
    int n = matcher_bounds_for_path(m, f->path, b, MAX_BOUNDS);
    for (int i = 0; i < n; i++) {
        if (strcmp(b[i].op, "$eq") == 0 && is_indexable_value(&b[i].value)) {
            f->n_points = 0;
            add_point(f, &b[i].value);
            return;
        }
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(b[i].op, "$in") == 0 && in_points(f, &b[i].value))
            return;
        f->n_points = 0;
    }
    for (int i = 0; i < n; i++) {
        if (!is_indexable_value(&b[i].value))
            continue;
        bool is_lower = is_lower_op(b[i].op), is_upper = is_upper_op(b[i].op);
        if (is_lower && (!f->has_lower || is_tighter(&b[i], &f->lower, true))) {
            f->lower = b[i];
            f->has_lower = true;
        } else if (is_upper && (!f->has_upper || is_tighter(&b[i], &f->upper, false))) {
            f->upper = b[i];
            f->has_upper = true;
        }
    }
    if (f->has_lower && f->has_upper) {
        /* An array element may satisfy each bound separately on a multikey
         * index, and bounds on different types match nothing together:
         * keep the lower one only. */
        if (is_multikey ||
            bsonval_type_rank(f->lower.value.value_type) != bsonval_type_rank(f->upper.value.value_type))
            f->has_upper = false;
    }
}

static void append_complemented(struct keybuf *dst, const struct keybuf *src, bool is_descending)
{
    size_t start = dst->len;
    keybuf_append(dst, src->data, src->len);
    if (is_descending)
        for (size_t i = start; i < dst->len; i++)
            dst->data[i] = (uint8_t)~dst->data[i];
}

/* Appends the range component for f's bounds to lo and hi. A missing side
 * is bounded by the type's rank byte alone, which with prefix semantics
 * covers every value of that type. */
static void append_range_component(const struct field_use *f, struct key_range *r)
{
    struct keybuf lo, hi;
    keybuf_init(&lo);
    keybuf_init(&hi);
    bool lo_excl = false, hi_excl = false;
    const bson_value_t *any = f->has_lower ? &f->lower.value : &f->upper.value;
    struct keybuf rank;
    keybuf_init(&rank);
    keyenc_append_value(&rank, any, false);
    rank.len = 1;
    if (f->has_lower) {
        keyenc_append_value(&lo, &f->lower.value, false);
        lo_excl = strcmp(f->lower.op, "$gt") == 0;
    } else {
        keybuf_append(&lo, rank.data, 1);
    }
    if (f->has_upper) {
        keyenc_append_value(&hi, &f->upper.value, false);
        hi_excl = strcmp(f->upper.op, "$lt") == 0;
    } else {
        keybuf_append(&hi, rank.data, 1);
    }
    if (f->is_descending) {
        /* Complemented keys run backwards: the value's upper bound becomes
         * the key range's lower one. */
        append_complemented(&r->lo, &hi, true);
        append_complemented(&r->hi, &lo, true);
        r->is_lo_exclusive = hi_excl;
        r->is_hi_exclusive = lo_excl;
    } else {
        append_complemented(&r->lo, &lo, false);
        append_complemented(&r->hi, &hi, false);
        r->is_lo_exclusive = lo_excl;
        r->is_hi_exclusive = hi_excl;
    }
    keybuf_destroy(&rank);
    keybuf_destroy(&lo);
    keybuf_destroy(&hi);
}

static int compare_bufs(const struct keybuf *a, const struct keybuf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static int compare_ranges(const void *pa, const void *pb)
{
    const struct key_range *a = pa, *b = pb;
    int c = compare_bufs(&a->lo, &b->lo);
    if (c == 0)
        c = compare_bufs(&a->hi, &b->hi);
    return c;
}

static void build_ranges(struct field_use *fields, int n_eq, bool has_range, struct plan *out)
{
    int n = 1;
    for (int i = 0; i < n_eq; i++)
        n *= fields[i].n_points;
    out->ranges = xcalloc((size_t)n, sizeof *out->ranges);
    for (int k = 0; k < n; k++) {
        struct key_range *r = &out->ranges[k];
        keybuf_init(&r->lo);
        keybuf_init(&r->hi);
        int rest = k;
        for (int i = 0; i < n_eq; i++) {
            const bson_value_t *v = &fields[i].points[rest % fields[i].n_points];
            rest /= fields[i].n_points;
            keyenc_append_value(&r->lo, v, fields[i].is_descending);
        }
        keybuf_append(&r->hi, r->lo.data, r->lo.len);
        if (has_range)
            append_range_component(&fields[n_eq], r);
    }
    qsort(out->ranges, (size_t)n, sizeof *out->ranges, compare_ranges);
    /* $in: [1, 1.0] gives identical ranges: keep one. */
    int w = 0;
    for (int k = 0; k < n; k++) {
        if (w > 0 && compare_ranges(&out->ranges[w - 1], &out->ranges[k]) == 0) {
            keybuf_destroy(&out->ranges[k].lo);
            keybuf_destroy(&out->ranges[k].hi);
            continue;
        }
        out->ranges[w++] = out->ranges[k];
    }
    out->n_ranges = w;
}

/* Reads an index's fields; false for special indexes (text, hashed, 2d). */
static bool read_pattern(const bson_t *pattern, struct field_use *fields, int *n_fields)
{
    bson_iter_t it;
    int n = 0;
    if (!bson_iter_init(&it, pattern))
        return false;
    while (bson_iter_next(&it)) {
        const bson_value_t *v = bson_iter_value(&it);
        if (!bsonval_is_number(v) || bsonval_as_double(v) == 0 || n >= MAX_FIELDS)
            return false;
        memset(&fields[n], 0, sizeof fields[n]);
        fields[n].path = bson_iter_key(&it);
        fields[n].is_descending = bsonval_as_double(v) < 0;
        n++;
    }
    *n_fields = n;
    return n > 0;
}

static void free_fields(struct field_use *fields, int n)
{
    for (int i = 0; i < n; i++)
        free(fields[i].points);
}

/* Score of an index: 2 per equality field in the prefix, 1 for a range. */
static int score_index(const struct matcher *m, const struct plan_index *ix, struct field_use *fields, int *n_fields,
                       int *n_eq, bool *has_range)
{
    *n_eq = 0;
    *has_range = false;
    if (!read_pattern(ix->key_pattern, fields, n_fields))
        return 0;
    int product = 1;
    for (int i = 0; i < *n_fields; i++) {
        analyse_field(m, &fields[i], ix->is_multikey);
        if (fields[i].n_points > 0 && product * fields[i].n_points <= MAX_RANGES) {
            product *= fields[i].n_points;
            (*n_eq)++;
            continue;
        }
        *has_range = fields[i].n_points == 0 && (fields[i].has_lower || fields[i].has_upper);
        break;
    }
    return *n_eq * 2 + (*has_range ? 1 : 0);
}

static void write_summary(const struct plan_index *ix, struct plan *out)
{
    size_t len = (size_t)snprintf(out->summary, sizeof out->summary, "IXSCAN {");
    bson_iter_t it;
    bool is_first = true;
    if (bson_iter_init(&it, ix->key_pattern)) {
        while (bson_iter_next(&it) && len < sizeof out->summary) {
            len += (size_t)snprintf(out->summary + len, sizeof out->summary - len, "%s %s: %d",
                                    is_first ? "" : ",", bson_iter_key(&it),
                                    bsonval_as_double(bson_iter_value(&it)) < 0 ? -1 : 1);
            is_first = false;
        }
    }
    if (len < sizeof out->summary)
        snprintf(out->summary + len, sizeof out->summary - len, " }");
}

void plan_choose(const struct matcher *m, const struct plan_index *indexes, int n_indexes, struct plan *out)
{
    memset(out, 0, sizeof *out);
    out->index = -1;
    snprintf(out->summary, sizeof out->summary, "COLLSCAN");
    int best = -1, best_score = 0;
    for (int i = 0; i < n_indexes; i++) {
        struct field_use fields[MAX_FIELDS];
        int n_fields = 0, n_eq;
        bool has_range;
        int score = score_index(m, &indexes[i], fields, &n_fields, &n_eq, &has_range);
        free_fields(fields, n_fields);
        /* Ties keep the earlier index, so _id_ (passed first) wins them. */
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    if (best < 0)
        return;
    struct field_use fields[MAX_FIELDS];
    int n_fields = 0, n_eq;
    bool has_range;
    score_index(m, &indexes[best], fields, &n_fields, &n_eq, &has_range);
    build_ranges(fields, n_eq, has_range, out);
    free_fields(fields, n_fields);
    out->index = best;
    write_summary(&indexes[best], out);
}

void plan_close(struct plan *p)
{
    for (int i = 0; i < p->n_ranges; i++) {
        keybuf_destroy(&p->ranges[i].lo);
        keybuf_destroy(&p->ranges[i].hi);
    }
    free(p->ranges);
    p->ranges = NULL;
    p->n_ranges = 0;
}
