/* match_eval.c - evaluates a parsed filter (match_int.h) against documents.
 *
 * Owns MongoDB's matching rules: a path's values come from the array-
 * expanding walk (bsonval_walk_path_ex); most operators also try each element
 * of an array value ({a: 2} matches {a: [1, 2]}); comparisons only match
 * values of the operand's canonical type (type bracketing); a missing field
 * compares as null. Evaluation never fails: all validation happened in
 * match_parse.c; the one exception, a $expr whose evaluation fails on a
 * document (say $divide by zero), makes that document not match. Also tracks, for the positional "$", the index of the first
 * array element through which a condition matched. */
#include "query/match_int.h"

#include "query/agg.h"
#include "query/bsonval.h"

#include <math.h>
#include <string.h>

static bool is_nan(const bson_value_t *v)
{
    return (v->value_type == BSON_TYPE_DOUBLE || v->value_type == BSON_TYPE_DECIMAL128) &&
           isnan(bsonval_as_double(v));
}

static bool compare_pred(enum mnode_kind kind, const bson_value_t *v, const bson_value_t *op)
{
    bool is_bound = op->value_type == BSON_TYPE_MINKEY || op->value_type == BSON_TYPE_MAXKEY;
    /* Type bracketing: {$gt: 5} never matches a string. MinKey/MaxKey
     * operands are the exception: they bound every type. */
    if (!is_bound && bsonval_type_rank(v->value_type) != bsonval_type_rank(op->value_type))
        return false;
    if (bsonval_is_number(v) && bsonval_is_number(op) && (is_nan(v) || is_nan(op))) {
        /* NaN only equals NaN; it is neither greater nor less than numbers. */
        if (!(is_nan(v) && is_nan(op)))
            return false;
        return kind == MN_EQ || kind == MN_LTE || kind == MN_GTE;
    }
    int c = bsonval_compare(v, op);
    switch (kind) {
    case MN_EQ: return c == 0;
    case MN_LT: return c < 0;
    case MN_LTE: return c <= 0;
    case MN_GT: return c > 0;
    case MN_GTE: return c >= 0;
    default: return false;
    }
}

static bool regex_matches(const pcre2_code *re, const bson_value_t *v)
{
    const char *s;
    size_t len;
    if (v->value_type == BSON_TYPE_UTF8) {
        s = v->value.v_utf8.str;
        len = v->value.v_utf8.len;
    } else if (v->value_type == BSON_TYPE_SYMBOL) {
        s = v->value.v_symbol.symbol;
        len = v->value.v_symbol.len;
    } else {
        return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static int64_t to_int64(const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_INT32)
        return v->value.v_int32;
    if (v->value_type == BSON_TYPE_INT64)
        return v->value.v_int64;
    double d = bsonval_as_double(v);
    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)d;
}

/* mongod's coerceToBool: false, null, undefined, missing and numeric zero
 * are false; everything else (NaN, "", [], {}) is true. */
static bool expr_truthy(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_EOD:
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED: return false;
    case BSON_TYPE_BOOL: return v->value.v_bool;
    case BSON_TYPE_INT32: return v->value.v_int32 != 0;
    case BSON_TYPE_INT64: return v->value.v_int64 != 0;
    case BSON_TYPE_DOUBLE: return v->value.v_double != 0.0;
    case BSON_TYPE_DECIMAL128: {
        /* Zero is a coefficient of only zero digits ("0", "-0.00", "0E+5");
         * NaN and Infinity spell themselves with letters, so are true. */
        char buf[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(&v->value.v_decimal128, buf);
        for (const char *c = buf; *c && *c != 'E'; c++)
            if ((*c >= '1' && *c <= '9') || *c == 'N' || *c == 'I')
                return true;
        return false;
    }
    default: return true;
    }
}

static bool eval_expr(const struct mnode *n, const bson_t *doc)
{
    bson_t out = BSON_INITIALIZER;
    struct err e;
    err_init(&e);
    bool ok = false;
    bson_iter_t it;
    /* Nothing is appended when the result is missing: that is false. */
    if (agg_expr_eval_append(&n->value, doc, &out, "v", &e) == 0 && bson_iter_init_find(&it, &out, "v"))
        ok = expr_truthy(bson_iter_value(&it));
    err_clear(&e);
    bson_destroy(&out);
    return ok;
}

static int type_bit_of(bson_type_t t)
{
    if (t == BSON_TYPE_MINKEY)
        return TYPE_BIT_MINKEY;
    if (t == BSON_TYPE_MAXKEY)
        return TYPE_BIT_MAXKEY;
    return (int)t;
}

static bool eval_value(const struct mnode *n, const bson_value_t *v);

/* One value (never an expanded array element of itself) against a leaf.
 * *elem receives the matching element's index for $elemMatch. */
static bool pred(const struct mnode *n, const bson_value_t *v, int *elem)
{
    switch (n->kind) {
    case MN_EQ:
    case MN_LT:
    case MN_LTE:
    case MN_GT:
    case MN_GTE: return compare_pred(n->kind, v, &n->value);
    case MN_IN:
        for (int i = 0; i < n->n_in_values; i++)
            if (compare_pred(MN_EQ, v, &n->in_values[i]))
                return true;
        for (int i = 0; i < n->n_in_regexes; i++)
            if (regex_matches(n->in_regexes[i], v))
                return true;
        return false;
    case MN_EXISTS: return true;
    case MN_TYPE: {
        uint32_t bits = 1u << type_bit_of(v->value_type);
        if (bsonval_is_number(v))
            bits |= 1u << TYPE_BIT_NUMBER;
        return (n->type_mask & bits) != 0;
    }
    case MN_SIZE: {
        if (v->value_type != BSON_TYPE_ARRAY)
            return false;
        bson_iter_t it;
        int64_t count = 0;
        if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
            while (bson_iter_next(&it))
                count++;
        return count == n->size;
    }
    case MN_REGEX:
        if (v->value_type == BSON_TYPE_REGEX)
            return strcmp(v->value.v_regex.regex, n->re_pattern) == 0 &&
                   strcmp(v->value.v_regex.options, n->re_flags) == 0;
        return regex_matches(n->re, v);
    case MN_MOD: {
        if (!bsonval_is_number(v) || !isfinite(bsonval_as_double(v)))
            return false;
        if (n->mod_divisor == -1)
            return n->mod_remainder == 0;
        return to_int64(v) % n->mod_divisor == n->mod_remainder;
    }
    case MN_BITS_ALL_SET:
    case MN_BITS_ANY_SET:
    case MN_BITS_ALL_CLEAR:
    case MN_BITS_ANY_CLEAR: return match_bits_test(n, v);
    case MN_ELEM_VALUE:
    case MN_ELEM_OBJECT: {
        if (v->value_type != BSON_TYPE_ARRAY)
            return false;
        bson_iter_t it;
        if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
            return false;
        for (int i = 0; bson_iter_next(&it); i++) {
            const bson_value_t *e = bson_iter_value(&it);
            bool ok;
            if (n->kind == MN_ELEM_VALUE) {
                ok = true;
                for (int c = 0; c < n->n_children && ok; c++)
                    ok = eval_value(n->children[c], e);
            } else {
                if (e->value_type != BSON_TYPE_DOCUMENT && e->value_type != BSON_TYPE_ARRAY)
                    continue;
                bson_t sub;
                if (!bson_init_static(&sub, e->value.v_doc.data, e->value.v_doc.data_len))
                    continue;
                ok = mnode_eval(n->children[0], &sub, NULL);
            }
            if (ok) {
                *elem = i;
                return true;
            }
        }
        return false;
    }
    default: return false;
    }
}

/* What a missing field means to a leaf: null for equality and ranges that
 * include null, and membership of null in $in. */
static bool pred_missing(const struct mnode *n)
{
    switch (n->kind) {
    case MN_EQ:
    case MN_LTE:
    case MN_GTE: return n->value.value_type == BSON_TYPE_NULL;
    case MN_IN: return n->has_null_in;
    default: return false;
    }
}

static bool expands_arrays(enum mnode_kind kind)
{
    switch (kind) {
    case MN_EQ:
    case MN_LT:
    case MN_LTE:
    case MN_GT:
    case MN_GTE:
    case MN_IN:
    case MN_TYPE:
    case MN_REGEX:
    case MN_MOD:
    case MN_BITS_ALL_SET:
    case MN_BITS_ANY_SET:
    case MN_BITS_ALL_CLEAR:
    case MN_BITS_ANY_CLEAR: return true;
    default: return false;
    }
}

static void set_pos(int *pos, int index)
{
    if (pos && *pos < 0 && index >= 0)
        *pos = index;
}

static bool test_value(const struct mnode *n, const bson_value_t *v, int array_index, int *pos)
{
    if (!v)
        return pred_missing(n);
    int elem = -1;
    if (pred(n, v, &elem)) {
        set_pos(pos, array_index >= 0 ? array_index : elem);
        return true;
    }
    if (v->value_type != BSON_TYPE_ARRAY || !expands_arrays(n->kind))
        return false;
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
        return false;
    for (int i = 0; bson_iter_next(&it); i++) {
        if (pred(n, bson_iter_value(&it), &elem)) {
            set_pos(pos, array_index >= 0 ? array_index : i);
            return true;
        }
    }
    return false;
}

struct leaf_walk {
    const struct mnode *n;
    int *pos;
    bool is_any;
    bool is_matched;
};

static bool leaf_cb(const bson_value_t *v, int array_index, void *arg)
{
    struct leaf_walk *w = arg;
    w->is_any = true;
    if (test_value(w->n, v, array_index, w->pos)) {
        w->is_matched = true;
        return false;
    }
    return true;
}

static bool eval_leaf(const struct mnode *n, const bson_t *doc, int *pos)
{
    struct leaf_walk w = {n, pos, false, false};
    bsonval_walk_path_ex(doc, n->path, true, leaf_cb, &w);
    if (!w.is_any)
        return pred_missing(n);
    return w.is_matched;
}

/* Element-level evaluation for $elemMatch's value form: no path, no array
 * expansion of the element itself. */
static bool eval_value(const struct mnode *n, const bson_value_t *v)
{
    int elem;
    switch (n->kind) {
    case MN_AND:
        for (int i = 0; i < n->n_children; i++)
            if (!eval_value(n->children[i], v))
                return false;
        return true;
    case MN_NOT: return !eval_value(n->children[0], v);
    case MN_FALSE: return false;
    default: return pred(n, v, &elem);
    }
}

static bool eval_node(const struct mnode *n, const bson_t *doc, int *pos)
{
    switch (n->kind) {
    case MN_AND:
        for (int i = 0; i < n->n_children; i++)
            if (!mnode_eval(n->children[i], doc, pos))
                return false;
        return true;
    case MN_OR:
        for (int i = 0; i < n->n_children; i++)
            if (mnode_eval(n->children[i], doc, pos))
                return true;
        return false;
    case MN_NOR:
        for (int i = 0; i < n->n_children; i++)
            if (mnode_eval(n->children[i], doc, NULL))
                return false;
        return true;
    case MN_NOT: return !mnode_eval(n->children[0], doc, NULL);
    case MN_FALSE: return false;
    case MN_EXPR: return eval_expr(n, doc);
    default: return eval_leaf(n, doc, pos);
    }
}

bool mnode_eval(const struct mnode *n, const bson_t *doc, int *pos)
{
    int saved = pos ? *pos : -1;
    bool ok = eval_node(n, doc, pos);
    /* A branch that failed must not leave its array index behind. */
    if (!ok && pos)
        *pos = saved;
    return ok;
}

bool matcher_match(const struct matcher *m, const bson_t *doc)
{
    return mnode_eval(m->root, doc, NULL);
}

bool matcher_match_positional(const struct matcher *m, const bson_t *doc, int *array_index)
{
    int pos = -1;
    bool ok = mnode_eval(m->root, doc, &pos);
    *array_index = ok ? pos : -1;
    return ok;
}
