/* agg_expr_array.c - array and object expression operators.
 *
 * $size $arrayElemAt $first $last $in $isArray $concatArrays $slice
 * $reverseArray $range $indexOfArray $filter $map $reduce, and the object
 * operators $mergeObjects $objectToArray $arrayToObject. $filter/$map/$reduce
 * bind their element variable ("this" by default, or `as`) on top of the
 * caller's scope. */
#include "query/agg_internal.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

static void arr_append(bson_t *arr, uint32_t *n, const bson_value_t *v)
{
    char key[16];
    const char *k;
    size_t klen = bson_uint32_to_string((*n)++, &k, key, sizeof key);
    bson_append_value(arr, k, (int)klen, v);
}

static int op_size(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    if (a->v[0].value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "The argument to %s must be an array. Type of argument: %s", op,
                       agg_val_type_name(&a->v[0]));
    struct agg_vals items;
    agg_args_raw(&a->v[0], &items);
    agg_val_int(out, (int64_t)items.n);
    agg_vals_free(&items);
    return 0;
}

static int op_elem_at(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                      struct err *e)
{
    (void)c;
    const bson_value_t *arr = &a->v[0], *idx = &a->v[1];
    int64_t i;
    if (agg_val_is_nullish(arr) || agg_val_is_nullish(idx)) {
        agg_val_null(out);
        return 0;
    }
    if (arr->value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "%s's first argument must be an array, but is %s", op,
                       agg_val_type_name(arr));
    if (!agg_val_is_number(idx))
        return err_set(e, ERR_BAD_VALUE, "%s's second argument must be a numeric value, but is %s", op,
                       agg_val_type_name(idx));
    if (!agg_val_to_int64_exact(idx, &i) || i < INT32_MIN || i > INT32_MAX)
        return err_set(e, ERR_BAD_VALUE, "%s's second argument must be representable as a 32-bit integer", op);
    struct agg_vals items;
    agg_args_raw(arr, &items);
    if (i < 0)
        i += (int64_t)items.n;
    if (i >= 0 && i < (int64_t)items.n)
        agg_val_copy(out, &items.v[i]);
    agg_vals_free(&items);
    return 0;
}

static int op_first_last(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                         struct err *e)
{
    (void)c;
    const bson_value_t *arr = &a->v[0];
    if (agg_val_is_nullish(arr)) {
        agg_val_null(out);
        return 0;
    }
    if (arr->value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "%s's argument must be an array, but is %s", op, agg_val_type_name(arr));
    struct agg_vals items;
    agg_args_raw(arr, &items);
    if (items.n > 0)
        agg_val_copy(out, &items.v[strcmp(op, "$first") == 0 ? 0 : items.n - 1]);
    agg_vals_free(&items);
    return 0;
}

static int op_in(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    if (a->v[1].value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "%s requires an array as a second argument, found: %s", op,
                       agg_val_type_name(&a->v[1]));
    struct agg_vals items;
    bool found = false;
    agg_args_raw(&a->v[1], &items);
    for (size_t i = 0; i < items.n && !found; i++)
        found = agg_val_compare(&a->v[0], &items.v[i]) == 0;
    agg_vals_free(&items);
    agg_val_bool(out, found);
    return 0;
}

static int op_is_array(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                       struct err *e)
{
    (void)op;
    (void)c;
    (void)e;
    agg_val_bool(out, a->v[0].value_type == BSON_TYPE_ARRAY);
    return 0;
}

static int op_concat_arrays(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                            struct err *e)
{
    (void)c;
    for (size_t i = 0; i < a->n; i++) {
        if (agg_val_is_nullish(&a->v[i])) {
            agg_val_null(out);
            return 0;
        }
        if (a->v[i].value_type != BSON_TYPE_ARRAY)
            return err_set(e, ERR_BAD_VALUE, "%s only supports arrays, not %s", op, agg_val_type_name(&a->v[i]));
    }
    bson_t arr = BSON_INITIALIZER;
    uint32_t n = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct agg_vals items;
        agg_args_raw(&a->v[i], &items);
        for (size_t j = 0; j < items.n; j++)
            arr_append(&arr, &n, &items.v[j]);
        agg_vals_free(&items);
    }
    agg_val_take_bson(out, &arr, true);
    return 0;
}

/* $slice: [array, n] takes the first n (last -n when negative);
 * [array, position, n] starts at position (from the end when negative). */
static int op_slice(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    int64_t x, y = 0;
    if (agg_val_is_nullish(&a->v[0]) || agg_val_is_nullish(&a->v[1]) || (a->n > 2 && agg_val_is_nullish(&a->v[2]))) {
        agg_val_null(out);
        return 0;
    }
    if (a->v[0].value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "First argument to %s must be an array, but is of type: %s", op,
                       agg_val_type_name(&a->v[0]));
    if (!agg_val_to_int64_exact(&a->v[1], &x) || (a->n > 2 && !agg_val_to_int64_exact(&a->v[2], &y)))
        return err_set(e, ERR_BAD_VALUE, "%s arguments must be numeric values representable as integers", op);
    struct agg_vals items;
    agg_args_raw(&a->v[0], &items);
    int64_t len = (int64_t)items.n, from, count;
    if (a->n == 2) {
        from = x >= 0 ? 0 : (x < -len ? 0 : len + x);
        count = x >= 0 ? x : len - from;
    } else {
        if (y <= 0) {
            agg_vals_free(&items);
            return err_set(e, ERR_BAD_VALUE, "Third argument to %s must be positive: %lld", op, (long long)y);
        }
        from = x >= 0 ? (x > len ? len : x) : (x < -len ? 0 : len + x);
        count = y;
    }
    bson_t arr = BSON_INITIALIZER;
    uint32_t n = 0;
    for (int64_t i = from; i < len && i - from < count; i++)
        arr_append(&arr, &n, &items.v[i]);
    agg_vals_free(&items);
    agg_val_take_bson(out, &arr, true);
    return 0;
}

static int op_reverse(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                      struct err *e)
{
    (void)c;
    if (agg_val_is_nullish(&a->v[0])) {
        agg_val_null(out);
        return 0;
    }
    if (a->v[0].value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "The argument to %s must be an array, but was of type: %s", op,
                       agg_val_type_name(&a->v[0]));
    struct agg_vals items;
    bson_t arr = BSON_INITIALIZER;
    uint32_t n = 0;
    agg_args_raw(&a->v[0], &items);
    for (size_t i = items.n; i > 0; i--)
        arr_append(&arr, &n, &items.v[i - 1]);
    agg_vals_free(&items);
    agg_val_take_bson(out, &arr, true);
    return 0;
}

static int op_range(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    int64_t start, end, step = 1;
    if (!agg_val_to_int64_exact(&a->v[0], &start) || !agg_val_to_int64_exact(&a->v[1], &end) ||
        (a->n > 2 && !agg_val_to_int64_exact(&a->v[2], &step)))
        return err_set(e, ERR_BAD_VALUE, "%s requires integral numeric arguments", op);
    if (step == 0)
        return err_set(e, ERR_BAD_VALUE, "%s requires a non-zero step value", op);
    bson_t arr = BSON_INITIALIZER;
    uint32_t n = 0;
    for (int64_t i = start; step > 0 ? i < end : i > end; i += step) {
        if (n >= 10 * 1000 * 1000) {
            bson_destroy(&arr);
            return err_set(e, ERR_BAD_VALUE, "%s would produce too many elements", op);
        }
        bson_value_t v;
        agg_val_int(&v, i);
        arr_append(&arr, &n, &v);
    }
    agg_val_take_bson(out, &arr, true);
    return 0;
}

static int op_index_of_array(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                             struct err *e)
{
    (void)c;
    if (agg_val_is_nullish(&a->v[0])) {
        agg_val_null(out);
        return 0;
    }
    if (a->v[0].value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "%s requires an array as a first argument, found: %s", op,
                       agg_val_type_name(&a->v[0]));
    struct agg_vals items;
    int64_t start = 0, end, found = -1;
    agg_args_raw(&a->v[0], &items);
    end = (int64_t)items.n;
    if ((a->n > 2 && (!agg_val_to_int64_exact(&a->v[2], &start) || start < 0)) ||
        (a->n > 3 && (!agg_val_to_int64_exact(&a->v[3], &end) || end < 0))) {
        agg_vals_free(&items);
        return err_set(e, ERR_BAD_VALUE, "%s indexes must be non-negative integral numbers", op);
    }
    for (int64_t i = start; i < end && i < (int64_t)items.n && found < 0; i++)
        if (agg_val_compare(&items.v[i], &a->v[1]) == 0)
            found = i;
    agg_vals_free(&items);
    agg_val_int(out, found);
    return 0;
}

/* Evaluates `input`, checks it is an array (null -> null result), and binds
 * the element variable name (`as`, default "this"). */
struct iter_args {
    bson_value_t input;
    const char *as;
};

static int iter_prepare(const char *op, const bson_value_t *input_expr, const bson_value_t *as,
                        const struct agg_ctx *c, struct iter_args *ia, struct err *e)
{
    ia->as = "this";
    if (!agg_val_is_missing(as)) {
        if (as->value_type != BSON_TYPE_UTF8)
            return err_set(e, ERR_FAILED_TO_PARSE, "%s 'as' must be a string", op);
        int rc = agg_check_var_name(as->value.v_utf8.str, e);
        if (rc < 0)
            return rc;
        ia->as = as->value.v_utf8.str;
    }
    if (agg_val_is_missing(input_expr))
        return err_set(e, ERR_FAILED_TO_PARSE, "Missing 'input' parameter to %s", op);
    int rc = agg_expr_eval(input_expr, c, &ia->input, e);
    if (rc < 0)
        return rc;
    if (!agg_val_is_nullish(&ia->input) && ia->input.value_type != BSON_TYPE_ARRAY) {
        rc = err_set(e, ERR_BAD_VALUE, "input to %s must be an array not %s", op, agg_val_type_name(&ia->input));
        bson_value_destroy(&ia->input);
        return rc;
    }
    return 0;
}

static int op_filter_map(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                         struct err *e)
{
    bool is_filter = strcmp(op, "$filter") == 0;
    static const char *const fnames[] = {"input", "as", "cond", "limit", NULL};
    static const char *const mnames[] = {"input", "as", "in", NULL};
    bson_value_t a[4];
    int rc = agg_named_args(op, arg, is_filter ? fnames : mnames, a, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_missing(&a[2]))
        return err_set(e, ERR_FAILED_TO_PARSE, "Missing '%s' parameter to %s", is_filter ? "cond" : "in", op);
    struct iter_args ia;
    rc = iter_prepare(op, &a[0], &a[1], c, &ia, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_nullish(&ia.input)) {
        bson_value_destroy(&ia.input);
        agg_val_null(out);
        return 0;
    }
    int64_t limit = INT64_MAX;
    if (is_filter && !agg_val_is_missing(&a[3])) {
        bson_value_t lv;
        rc = agg_expr_eval(&a[3], c, &lv, e);
        if (rc == 0 && !agg_val_is_nullish(&lv) && (!agg_val_to_int64_exact(&lv, &limit) || limit <= 0))
            rc = err_set(e, ERR_BAD_VALUE, "%s: limit must be a positive integral number", op);
        bson_value_destroy(&lv);
        if (rc < 0) {
            bson_value_destroy(&ia.input);
            return rc;
        }
    }
    struct agg_vals items;
    bson_t arr = BSON_INITIALIZER;
    uint32_t n = 0;
    agg_args_raw(&ia.input, &items);
    for (size_t i = 0; i < items.n && (int64_t)n < limit; i++) {
        struct agg_var var = {ia.as, strlen(ia.as), &items.v[i], c->vars};
        struct agg_ctx inner = *c;
        bson_value_t r;
        inner.vars = &var;
        rc = agg_expr_eval(&a[2], &inner, &r, e);
        if (rc < 0)
            break;
        if (!is_filter) {
            if (agg_val_is_missing(&r))
                agg_val_null(&r);
            arr_append(&arr, &n, &r);
        } else if (agg_val_truthy(&r)) {
            arr_append(&arr, &n, &items.v[i]);
        }
        bson_value_destroy(&r);
    }
    agg_vals_free(&items);
    bson_value_destroy(&ia.input);
    if (rc < 0) {
        bson_destroy(&arr);
        return rc;
    }
    agg_val_take_bson(out, &arr, true);
    return 0;
}

static int op_reduce(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                     struct err *e)
{
    static const char *const names[] = {"input", "initialValue", "in", NULL};
    bson_value_t a[3], none;
    agg_val_missing(&none);
    int rc = agg_named_args(op, arg, names, a, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_missing(&a[1]) || agg_val_is_missing(&a[2]))
        return err_set(e, ERR_FAILED_TO_PARSE, "%s requires 'initialValue' and 'in' to be specified", op);
    struct iter_args ia;
    rc = iter_prepare(op, &a[0], &none, c, &ia, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_nullish(&ia.input)) {
        bson_value_destroy(&ia.input);
        agg_val_null(out);
        return 0;
    }
    bson_value_t acc;
    rc = agg_expr_eval(&a[1], c, &acc, e);
    struct agg_vals items;
    agg_args_raw(&ia.input, &items);
    for (size_t i = 0; rc == 0 && i < items.n; i++) {
        struct agg_var value = {"value", 5, &acc, c->vars};
        struct agg_var self = {"this", 4, &items.v[i], &value};
        struct agg_ctx inner = *c;
        bson_value_t next;
        inner.vars = &self;
        rc = agg_expr_eval(&a[2], &inner, &next, e);
        if (rc == 0) {
            bson_value_destroy(&acc);
            acc = next;
        }
    }
    agg_vals_free(&items);
    bson_value_destroy(&ia.input);
    if (rc < 0) {
        bson_value_destroy(&acc);
        return rc;
    }
    *out = acc;
    return 0;
}

/* Copies the fields of `src` over those already in `acc` (order kept, later
 * values replace earlier ones in place). */
void agg_doc_merge(bson_t *acc, const bson_value_t *src)
{
    bson_t merged = BSON_INITIALIZER;
    bson_iter_t it, s;
    bson_iter_init(&it, acc);
    while (bson_iter_next(&it)) {
        bson_value_t nv;
        if (agg_doc_get(src, bson_iter_key(&it), &nv))
            bson_append_value(&merged, bson_iter_key(&it), -1, &nv);
        else
            bson_append_value(&merged, bson_iter_key(&it), -1, bson_iter_value(&it));
    }
    if (bson_iter_init_from_data(&s, src->value.v_doc.data, src->value.v_doc.data_len))
        while (bson_iter_next(&s))
            if (!bson_has_field(acc, bson_iter_key(&s)))
                bson_append_value(&merged, bson_iter_key(&s), -1, bson_iter_value(&s));
    bson_destroy(acc);
    bson_init(acc);
    bson_concat(acc, &merged);
    bson_destroy(&merged);
}

static int op_merge_objects(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                            struct err *e)
{
    (void)c;
    bson_t acc = BSON_INITIALIZER;
    for (size_t i = 0; i < a->n; i++) {
        if (agg_val_is_nullish(&a->v[i]))
            continue;
        if (a->v[i].value_type != BSON_TYPE_DOCUMENT) {
            bson_destroy(&acc);
            return err_set(e, ERR_BAD_VALUE, "%s requires object inputs, but input %s is of type %s", op,
                           agg_val_type_name(&a->v[i]), agg_val_type_name(&a->v[i]));
        }
        agg_doc_merge(&acc, &a->v[i]);
    }
    agg_val_take_bson(out, &acc, false);
    return 0;
}

static int op_object_to_array(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                              struct err *e)
{
    (void)c;
    const bson_value_t *v = &a->v[0];
    if (agg_val_is_nullish(v)) {
        agg_val_null(out);
        return 0;
    }
    if (v->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_BAD_VALUE, "%s requires a document input, found: %s", op, agg_val_type_name(v));
    bson_t arr = BSON_INITIALIZER;
    bson_iter_t it;
    uint32_t n = 0;
    if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len)) {
        while (bson_iter_next(&it)) {
            bson_t kv = BSON_INITIALIZER;
            bson_value_t kvv;
            bson_append_utf8(&kv, "k", 1, bson_iter_key(&it), -1);
            bson_append_value(&kv, "v", 1, bson_iter_value(&it));
            agg_val_take_bson(&kvv, &kv, false);
            arr_append(&arr, &n, &kvv);
            bson_value_destroy(&kvv);
        }
    }
    agg_val_take_bson(out, &arr, true);
    return 0;
}

static int op_array_to_object(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                              struct err *e)
{
    (void)c;
    const bson_value_t *v = &a->v[0];
    if (agg_val_is_nullish(v)) {
        agg_val_null(out);
        return 0;
    }
    if (v->value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "%s requires an array input, found: %s", op, agg_val_type_name(v));
    struct agg_vals items;
    bson_t acc = BSON_INITIALIZER;
    int rc = 0;
    agg_args_raw(v, &items);
    for (size_t i = 0; i < items.n && rc == 0; i++) {
        const bson_value_t *it = &items.v[i];
        bson_value_t k, val;
        struct agg_vals pair;
        agg_vals_init(&pair);
        if (it->value_type == BSON_TYPE_DOCUMENT) {
            if (!agg_doc_get(it, "k", &k) || !agg_doc_get(it, "v", &val))
                rc = err_set(e, ERR_BAD_VALUE, "%s requires an object with keys 'k' and 'v'", op);
        } else if (it->value_type == BSON_TYPE_ARRAY) {
            agg_args_raw(it, &pair);
            if (pair.n != 2)
                rc = err_set(e, ERR_BAD_VALUE, "%s requires an array of size 2 arrays,found array of size: %zu", op,
                             pair.n);
            else {
                k = pair.v[0];
                val = pair.v[1];
            }
        } else {
            rc = err_set(e, ERR_BAD_VALUE, "Unrecognised input type format for %s: %s", op, agg_val_type_name(it));
        }
        if (rc == 0 && k.value_type != BSON_TYPE_UTF8)
            rc = err_set(e, ERR_BAD_VALUE, "%s requires keys to be type String, but found %s", op,
                         agg_val_type_name(&k));
        if (rc == 0) {
            bson_t one = BSON_INITIALIZER;
            bson_value_t onev;
            bson_append_value(&one, k.value.v_utf8.str, (int)k.value.v_utf8.len, &val);
            onev.value_type = BSON_TYPE_DOCUMENT;
            onev.value.v_doc.data = (uint8_t *)bson_get_data(&one);
            onev.value.v_doc.data_len = one.len;
            agg_doc_merge(&acc, &onev);
            bson_destroy(&one);
        }
        agg_vals_free(&pair);
    }
    agg_vals_free(&items);
    if (rc < 0) {
        bson_destroy(&acc);
        return rc;
    }
    agg_val_take_bson(out, &acc, false);
    return 0;
}

const struct agg_op agg_ops_array[] = {
    {"$arrayElemAt", op_elem_at, NULL, 2, 2},
    {"$arrayToObject", op_array_to_object, NULL, 1, 1},
    {"$concatArrays", op_concat_arrays, NULL, 0, -1},
    {"$filter", NULL, op_filter_map, 0, -1},
    {"$first", op_first_last, NULL, 1, 1},
    {"$in", op_in, NULL, 2, 2},
    {"$indexOfArray", op_index_of_array, NULL, 2, 4},
    {"$isArray", op_is_array, NULL, 1, 1},
    {"$last", op_first_last, NULL, 1, 1},
    {"$map", NULL, op_filter_map, 0, -1},
    {"$mergeObjects", op_merge_objects, NULL, 0, -1},
    {"$objectToArray", op_object_to_array, NULL, 1, 1},
    {"$range", op_range, NULL, 2, 3},
    {"$reduce", NULL, op_reduce, 0, -1},
    {"$reverseArray", op_reverse, NULL, 1, 1},
    {"$size", op_size, NULL, 1, 1},
    {"$slice", op_slice, NULL, 2, 3},
    {NULL, NULL, NULL, 0, 0},
};
