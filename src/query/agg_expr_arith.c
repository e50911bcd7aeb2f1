/* agg_expr_arith.c - arithmetic and comparison expression operators.
 *
 * $add $subtract $multiply $divide $mod $abs $ceil $floor $round $trunc $sqrt
 * $pow $exp $ln $log10, the expression forms of $sum $avg $min $max, and
 * $eq $ne $gt $gte $lt $lte $cmp. Numeric results follow mongod's promotion:
 * int32 op int32 stays int32 unless it overflows (then int64), int64 that
 * overflows becomes double, any double makes a double, any Decimal128 makes
 * a Decimal128 (computed exactly in decimal; doubles join it rounded to 15
 * digits as mongod converts them). The unary math operators still compute
 * decimals as doubles. null or missing operands give null. */
#include "query/agg_internal.h"
#include "query/decimal.h"

#include <math.h>
#include <string.h>

/* Ordered by width: a result takes the widest kind among its operands. */
enum num_kind { NUM_INT32, NUM_INT64, NUM_DOUBLE, NUM_DECIMAL };

/* A running numeric result with mongod's widening rules. */
struct num {
    enum num_kind kind;
    int64_t i;
    double d;
    bson_decimal128_t dec;
};

static void num_init(struct num *n, int64_t start)
{
    n->kind = NUM_INT32;
    n->i = start;
    n->d = (double)start;
}

static enum num_kind kind_of(const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_INT32)
        return NUM_INT32;
    if (v->value_type == BSON_TYPE_INT64)
        return NUM_INT64;
    if (v->value_type == BSON_TYPE_DECIMAL128)
        return NUM_DECIMAL;
    return NUM_DOUBLE;
}

static bson_decimal128_t dec_of(const bson_value_t *v)
{
    bson_decimal128_t d;
    if (!decimal_from_value(v, &d))
        d = decimal_from_int64(0);
    return d;
}

static void num_to_decimal(struct num *n)
{
    if (n->kind == NUM_DOUBLE)
        n->dec = decimal_from_double(n->d);
    else if (n->kind != NUM_DECIMAL)
        n->dec = decimal_from_int64(n->i);
    n->kind = NUM_DECIMAL;
}

static void num_to_double(struct num *n)
{
    if (n->kind == NUM_DECIMAL)
        n->d = decimal_to_double(n->dec);
    else if (n->kind != NUM_DOUBLE)
        n->d = (double)n->i;
    n->kind = NUM_DOUBLE;
}

static void num_widen(struct num *n, enum num_kind k)
{
    if (k == NUM_DECIMAL || n->kind == NUM_DECIMAL)
        num_to_decimal(n);
    else if (k == NUM_DOUBLE)
        num_to_double(n);
    else if (k == NUM_INT64 && n->kind == NUM_INT32)
        n->kind = NUM_INT64;
}

static void num_add(struct num *n, const bson_value_t *v)
{
    num_widen(n, kind_of(v));
    if (n->kind == NUM_DECIMAL) {
        n->dec = decimal_add(n->dec, dec_of(v));
        return;
    }
    if (n->kind == NUM_DOUBLE) {
        n->d += agg_val_to_double(v);
        return;
    }
    int64_t x = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64, r;
    if (__builtin_add_overflow(n->i, x, &r)) {
        num_to_double(n);
        n->d += (double)x;
        return;
    }
    n->i = r;
}

static void num_mul(struct num *n, const bson_value_t *v)
{
    num_widen(n, kind_of(v));
    if (n->kind == NUM_DECIMAL) {
        n->dec = decimal_mul(n->dec, dec_of(v));
        return;
    }
    if (n->kind == NUM_DOUBLE) {
        n->d *= agg_val_to_double(v);
        return;
    }
    int64_t x = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64, r;
    if (__builtin_mul_overflow(n->i, x, &r)) {
        num_to_double(n);
        n->d *= (double)x;
        return;
    }
    n->i = r;
}

static void num_result(const struct num *n, bson_value_t *out)
{
    if (n->kind == NUM_DECIMAL) {
        out->value_type = BSON_TYPE_DECIMAL128;
        out->value.v_decimal128 = n->dec;
    } else if (n->kind == NUM_DOUBLE)
        agg_val_double(out, n->d);
    else if (n->kind == NUM_INT32 && n->i >= INT32_MIN && n->i <= INT32_MAX)
        agg_val_int32(out, (int32_t)n->i);
    else if (n->kind == NUM_INT32 || n->kind == NUM_INT64)
        agg_val_int64(out, n->i);
}

static bool any_nullish(const struct agg_vals *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (agg_val_is_nullish(&a->v[i]))
            return true;
    return false;
}

static int op_add(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    struct num n;
    bool has_date = false;
    num_init(&n, 0);
    for (size_t i = 0; i < a->n; i++) {
        const bson_value_t *v = &a->v[i];
        if (agg_val_is_nullish(v)) {
            agg_val_null(out);
            return 0;
        }
        if (v->value_type == BSON_TYPE_DATE_TIME) {
            if (has_date)
                return err_set(e, ERR_FAILED_TO_PARSE, "only one date allowed in an %s expression", op);
            has_date = true;
            bson_value_t ms;
            agg_val_int64(&ms, v->value.v_datetime);
            num_add(&n, &ms);
        } else if (agg_val_is_number(v)) {
            num_add(&n, v);
        } else {
            return err_set(e, ERR_TYPE_MISMATCH, "%s only supports numeric or date types, not %s", op,
                           agg_val_type_name(v));
        }
    }
    if (has_date && n.kind == NUM_DECIMAL)
        agg_val_date(out, (int64_t)llround(decimal_to_double(n.dec)));
    else if (has_date)
        agg_val_date(out, n.kind == NUM_DOUBLE ? (int64_t)llround(n.d) : n.i);
    else
        num_result(&n, out);
    return 0;
}

static int op_multiply(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                       struct err *e)
{
    (void)c;
    struct num n;
    num_init(&n, 1);
    for (size_t i = 0; i < a->n; i++) {
        const bson_value_t *v = &a->v[i];
        if (agg_val_is_nullish(v)) {
            agg_val_null(out);
            return 0;
        }
        if (!agg_val_is_number(v))
            return err_set(e, ERR_TYPE_MISMATCH, "%s only supports numeric types, not %s", op,
                           agg_val_type_name(v));
        num_mul(&n, v);
    }
    num_result(&n, out);
    return 0;
}

static int op_subtract(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                       struct err *e)
{
    (void)c;
    const bson_value_t *l = &a->v[0], *r = &a->v[1];
    if (any_nullish(a)) {
        agg_val_null(out);
        return 0;
    }
    if (l->value_type == BSON_TYPE_DATE_TIME && r->value_type == BSON_TYPE_DATE_TIME) {
        agg_val_int64(out, l->value.v_datetime - r->value.v_datetime);
        return 0;
    }
    if (l->value_type == BSON_TYPE_DATE_TIME && agg_val_is_number(r)) {
        int64_t ms = r->value_type == BSON_TYPE_INT32 ? r->value.v_int32
                     : r->value_type == BSON_TYPE_INT64 ? r->value.v_int64
                                                        : (int64_t)llround(agg_val_to_double(r));
        agg_val_date(out, l->value.v_datetime - ms);
        return 0;
    }
    if (!agg_val_is_number(l) || !agg_val_is_number(r))
        return err_set(e, ERR_TYPE_MISMATCH, "cant %s a %s from a %s", op, agg_val_type_name(r),
                       agg_val_type_name(l));
    struct num n;
    num_init(&n, 0);
    num_add(&n, l);
    if (kind_of(r) == NUM_DECIMAL || n.kind == NUM_DECIMAL) {
        num_to_decimal(&n);
        n.dec = decimal_sub(n.dec, dec_of(r));
    } else if (kind_of(r) != NUM_DOUBLE && n.kind != NUM_DOUBLE) {
        int64_t x = r->value_type == BSON_TYPE_INT32 ? r->value.v_int32 : r->value.v_int64, res;
        num_widen(&n, kind_of(r));
        if (__builtin_sub_overflow(n.i, x, &res)) {
            num_to_double(&n);
            n.d -= (double)x;
        } else {
            n.i = res;
        }
    } else {
        num_to_double(&n);
        n.d -= agg_val_to_double(r);
    }
    num_result(&n, out);
    return 0;
}

static int op_divide(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                     struct err *e)
{
    (void)c;
    const bson_value_t *l = &a->v[0], *r = &a->v[1];
    if (any_nullish(a)) {
        agg_val_null(out);
        return 0;
    }
    if (!agg_val_is_number(l) || !agg_val_is_number(r))
        return err_set(e, ERR_TYPE_MISMATCH, "%s only supports numeric types, not %s and %s", op,
                       agg_val_type_name(l), agg_val_type_name(r));
    if (kind_of(l) == NUM_DECIMAL || kind_of(r) == NUM_DECIMAL) {
        bson_decimal128_t dr = dec_of(r);
        if (decimal_is_zero(dr))
            return err_set(e, ERR_BAD_VALUE, "can't %s by zero", op);
        out->value_type = BSON_TYPE_DECIMAL128;
        out->value.v_decimal128 = decimal_div(dec_of(l), dr);
        return 0;
    }
    double d = agg_val_to_double(r);
    if (d == 0.0)
        return err_set(e, ERR_BAD_VALUE, "can't %s by zero", op);
    agg_val_double(out, agg_val_to_double(l) / d);
    return 0;
}

static int op_mod(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    const bson_value_t *l = &a->v[0], *r = &a->v[1];
    if (any_nullish(a)) {
        agg_val_null(out);
        return 0;
    }
    if (!agg_val_is_number(l) || !agg_val_is_number(r))
        return err_set(e, ERR_TYPE_MISMATCH, "%s only supports numeric types, not %s and %s", op,
                       agg_val_type_name(l), agg_val_type_name(r));
    if (agg_val_to_double(r) == 0.0)
        return err_set(e, ERR_BAD_VALUE, "can't %s by zero", op);
    if (kind_of(l) >= NUM_DOUBLE || kind_of(r) >= NUM_DOUBLE) {
        agg_val_double(out, fmod(agg_val_to_double(l), agg_val_to_double(r)));
        return 0;
    }
    int64_t x = l->value_type == BSON_TYPE_INT32 ? l->value.v_int32 : l->value.v_int64;
    int64_t y = r->value_type == BSON_TYPE_INT32 ? r->value.v_int32 : r->value.v_int64;
    int64_t m = y == -1 ? 0 : x % y; /* INT64_MIN % -1 traps */
    if (l->value_type == BSON_TYPE_INT32 && r->value_type == BSON_TYPE_INT32)
        agg_val_int32(out, (int32_t)m);
    else
        agg_val_int64(out, m);
    return 0;
}

/* Unary numeric operators share one shape: null in, null out; ints map to
 * ints where the operation is exact. */
static int unary_number(const char *op, const bson_value_t *v, bson_value_t *out, struct err *e)
{
    if (agg_val_is_nullish(v)) {
        agg_val_null(out);
        return 1;
    }
    if (!agg_val_is_number(v))
        return err_set(e, ERR_TYPE_MISMATCH, "%s only supports numeric types, not %s", op, agg_val_type_name(v));
    return 0;
}

static int op_abs(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    const bson_value_t *v = &a->v[0];
    int rc = unary_number(op, v, out, e);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (v->value_type == BSON_TYPE_INT32)
        agg_val_int(out, v->value.v_int32 < 0 ? -(int64_t)v->value.v_int32 : v->value.v_int32);
    else if (v->value_type == BSON_TYPE_INT64) {
        if (v->value.v_int64 == INT64_MIN)
            return err_set(e, ERR_OVERFLOW, "can't take %s of long long min", op);
        agg_val_int64(out, v->value.v_int64 < 0 ? -v->value.v_int64 : v->value.v_int64);
    } else
        agg_val_double(out, fabs(agg_val_to_double(v)));
    return 0;
}

static int unary_double(const char *op, struct agg_vals *a, bson_value_t *out, double (*fn)(double),
                        struct err *e)
{
    const bson_value_t *v = &a->v[0];
    int rc = unary_number(op, v, out, e);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (fn == ceil || fn == floor) {
        if (v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64) {
            agg_val_copy(out, v);
            return 0;
        }
    }
    double d = agg_val_to_double(v);
    if (fn == sqrt && d < 0)
        return err_set(e, ERR_BAD_VALUE, "%s's argument must be greater than or equal to 0", op);
    if ((fn == log || fn == log10) && d <= 0)
        return err_set(e, ERR_BAD_VALUE, "%s's argument must be a positive number, but is %g", op, d);
    agg_val_double(out, fn(d));
    return 0;
}

static int op_ceil(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    return unary_double(op, a, out, ceil, e);
}

static int op_floor(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    return unary_double(op, a, out, floor, e);
}

static int op_sqrt(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    return unary_double(op, a, out, sqrt, e);
}

static int op_exp(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    return unary_double(op, a, out, exp, e);
}

static int op_ln(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    return unary_double(op, a, out, log, e);
}

static int op_log10(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    return unary_double(op, a, out, log10, e);
}

static int op_pow(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    const bson_value_t *b = &a->v[0], *x = &a->v[1];
    if (any_nullish(a)) {
        agg_val_null(out);
        return 0;
    }
    if (!agg_val_is_number(b) || !agg_val_is_number(x))
        return err_set(e, ERR_TYPE_MISMATCH, "%s only supports numeric types, not %s and %s", op,
                       agg_val_type_name(b), agg_val_type_name(x));
    double bd = agg_val_to_double(b), xd = agg_val_to_double(x);
    if (bd == 0 && xd < 0)
        return err_set(e, ERR_BAD_VALUE, "%s cannot take a base of 0 and a negative exponent", op);
    double r = pow(bd, xd);
    /* Integer powers stay integers while exact (below 2^53). */
    if (kind_of(b) < NUM_DOUBLE && kind_of(x) < NUM_DOUBLE && xd >= 0 && fabs(r) < 9007199254740992.0) {
        if (kind_of(b) == NUM_INT32 && kind_of(x) == NUM_INT32)
            agg_val_int(out, llround(r));
        else
            agg_val_int64(out, llround(r));
        return 0;
    }
    agg_val_double(out, r);
    return 0;
}

/* $round rounds half to even (banker's rounding) as mongod does; $trunc
 * rounds toward zero. place is in [-20, 100]. */
static int round_or_trunc(const char *op, struct agg_vals *a, bson_value_t *out, bool is_round, struct err *e)
{
    const bson_value_t *v = &a->v[0];
    int64_t place = 0;
    if (any_nullish(a)) {
        agg_val_null(out);
        return 0;
    }
    if (!agg_val_is_number(v))
        return err_set(e, ERR_TYPE_MISMATCH, "%s only supports numeric types, not %s", op, agg_val_type_name(v));
    if (a->n > 1 && (!agg_val_to_int64_exact(&a->v[1], &place) || place < -20 || place > 100))
        return err_set(e, ERR_BAD_VALUE, "%s requires \"place\" argument to be an integer between -20 and 100", op);
    if (v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64) {
        int64_t x = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
        if (place >= 0) {
            agg_val_copy(out, v);
            return 0;
        }
        if (place < -18) {
            agg_val_int(out, 0);
            return 0;
        }
        int64_t p = 1;
        for (int64_t i = 0; i < -place; i++)
            p *= 10;
        int64_t q = x / p, rem = x % p;
        if (is_round) {
            int64_t twice = rem < 0 ? -rem * 2 : rem * 2;
            if (twice > p || (twice == p && q % 2 != 0))
                q += x < 0 ? -1 : 1;
        }
        int64_t r = q * p;
        if (v->value_type == BSON_TYPE_INT32 && r >= INT32_MIN && r <= INT32_MAX)
            agg_val_int32(out, (int32_t)r);
        else
            agg_val_int64(out, r);
        return 0;
    }
    double d = agg_val_to_double(v), scale = pow(10.0, (double)place);
    double r = is_round ? nearbyint(d * scale) / scale : trunc(d * scale) / scale;
    if (isinf(d) || isnan(d))
        r = d;
    agg_val_double(out, r);
    return 0;
}

static int op_round(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    return round_or_trunc(op, a, out, true, e);
}

static int op_trunc(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    return round_or_trunc(op, a, out, false, e);
}

/* Expression forms of $sum/$avg/$min/$max: one array argument is spread,
 * otherwise the arguments themselves are the inputs; non-numbers are
 * ignored by $sum/$avg, nullish by $min/$max. */
static void spread_args(struct agg_vals *a, struct agg_vals *items)
{
    agg_vals_init(items);
    if (a->n == 1 && a->v[0].value_type == BSON_TYPE_ARRAY) {
        agg_args_raw(&a->v[0], items);
        return;
    }
    for (size_t i = 0; i < a->n; i++)
        agg_vals_push(items, &a->v[i]);
}

static int op_sum_avg(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                      struct err *e)
{
    (void)c;
    (void)e;
    struct agg_vals items;
    struct num n;
    size_t count = 0;
    spread_args(a, &items);
    num_init(&n, 0);
    for (size_t i = 0; i < items.n; i++)
        if (agg_val_is_number(&items.v[i])) {
            num_add(&n, &items.v[i]);
            count++;
        }
    agg_vals_free(&items);
    if (strcmp(op, "$avg") == 0) {
        if (count == 0) {
            agg_val_null(out);
            return 0;
        }
        if (n.kind == NUM_DECIMAL) {
            out->value_type = BSON_TYPE_DECIMAL128;
            out->value.v_decimal128 = decimal_div(n.dec, decimal_from_int64((int64_t)count));
            return 0;
        }
        num_to_double(&n);
        agg_val_double(out, n.d / (double)count);
        return 0;
    }
    num_result(&n, out);
    return 0;
}

static int op_min_max(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                      struct err *e)
{
    (void)c;
    (void)e;
    struct agg_vals items;
    bool is_max = strcmp(op, "$max") == 0;
    const bson_value_t *best = NULL;
    spread_args(a, &items);
    for (size_t i = 0; i < items.n; i++) {
        if (agg_val_is_nullish(&items.v[i]))
            continue;
        int cmp = best ? agg_val_compare(&items.v[i], best) : 0;
        if (best == NULL || (is_max ? cmp > 0 : cmp < 0))
            best = &items.v[i];
    }
    if (best != NULL)
        agg_val_copy(out, best);
    else
        agg_val_null(out);
    agg_vals_free(&items);
    return 0;
}

static int op_compare(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                      struct err *e)
{
    (void)c;
    (void)e;
    int cmp = agg_val_compare(&a->v[0], &a->v[1]);
    if (strcmp(op, "$cmp") == 0)
        agg_val_int32(out, cmp < 0 ? -1 : cmp > 0 ? 1 : 0);
    else if (strcmp(op, "$eq") == 0)
        agg_val_bool(out, cmp == 0);
    else if (strcmp(op, "$ne") == 0)
        agg_val_bool(out, cmp != 0);
    else if (strcmp(op, "$gt") == 0)
        agg_val_bool(out, cmp > 0);
    else if (strcmp(op, "$gte") == 0)
        agg_val_bool(out, cmp >= 0);
    else if (strcmp(op, "$lt") == 0)
        agg_val_bool(out, cmp < 0);
    else
        agg_val_bool(out, cmp <= 0);
    return 0;
}

const struct agg_op agg_ops_arith[] = {
    {"$abs", op_abs, NULL, 1, 1},
    {"$add", op_add, NULL, 0, -1},
    {"$avg", op_sum_avg, NULL, 1, -1},
    {"$ceil", op_ceil, NULL, 1, 1},
    {"$cmp", op_compare, NULL, 2, 2},
    {"$divide", op_divide, NULL, 2, 2},
    {"$eq", op_compare, NULL, 2, 2},
    {"$exp", op_exp, NULL, 1, 1},
    {"$floor", op_floor, NULL, 1, 1},
    {"$gt", op_compare, NULL, 2, 2},
    {"$gte", op_compare, NULL, 2, 2},
    {"$ln", op_ln, NULL, 1, 1},
    {"$log10", op_log10, NULL, 1, 1},
    {"$lt", op_compare, NULL, 2, 2},
    {"$lte", op_compare, NULL, 2, 2},
    {"$max", op_min_max, NULL, 1, -1},
    {"$min", op_min_max, NULL, 1, -1},
    {"$mod", op_mod, NULL, 2, 2},
    {"$multiply", op_multiply, NULL, 0, -1},
    {"$ne", op_compare, NULL, 2, 2},
    {"$pow", op_pow, NULL, 2, 2},
    {"$round", op_round, NULL, 1, 2},
    {"$sqrt", op_sqrt, NULL, 1, 1},
    {"$subtract", op_subtract, NULL, 2, 2},
    {"$sum", op_sum_avg, NULL, 1, -1},
    {"$trunc", op_trunc, NULL, 1, 2},
    {NULL, NULL, NULL, 0, 0},
};
