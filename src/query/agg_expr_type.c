/* agg_expr_type.c - type inspection and conversion operators.
 *
 * $type $isNumber $convert and its shorthands $toString $toInt $toLong
 * $toDouble $toBool $toObjectId $toDate. Conversions follow mongod's table:
 * null/missing input gives null (or onNull), impossible conversions fail
 * with ConversionFailure (241) unless onError is given. Strings parse only
 * when the whole string is a number ("1.5" is not an int). */
#include "query/agg_internal.h"

#include "core/mem.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shortest %g form that reads back as the same double ("1.5", "2", "0.1"). */
static void format_double(double d, char *buf, size_t size)
{
    if (isnan(d)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, size, d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

char *agg_val_to_string(const char *op, const bson_value_t *v, struct err *e)
{
    char buf[64];
    switch (v->value_type) {
    case BSON_TYPE_UTF8:
        return xstrndup(v->value.v_utf8.str, v->value.v_utf8.len);
    case BSON_TYPE_SYMBOL:
        return xstrndup(v->value.v_symbol.symbol, v->value.v_symbol.len);
    case BSON_TYPE_INT32:
        snprintf(buf, sizeof buf, "%d", v->value.v_int32);
        return xstrdup(buf);
    case BSON_TYPE_INT64:
        snprintf(buf, sizeof buf, "%lld", (long long)v->value.v_int64);
        return xstrdup(buf);
    case BSON_TYPE_DOUBLE:
        format_double(v->value.v_double, buf, sizeof buf);
        return xstrdup(buf);
    case BSON_TYPE_DECIMAL128: {
        char dbuf[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(&v->value.v_decimal128, dbuf);
        return xstrdup(dbuf);
    }
    case BSON_TYPE_DATE_TIME:
        agg_date_format_iso(v->value.v_datetime, buf, sizeof buf);
        return xstrdup(buf);
    case BSON_TYPE_OID:
        bson_oid_to_string(&v->value.v_oid, buf);
        return xstrdup(buf);
    case BSON_TYPE_BOOL:
        return xstrdup(v->value.v_bool ? "true" : "false");
    case BSON_TYPE_TIMESTAMP:
        snprintf(buf, sizeof buf, "Timestamp(%u, %u)", v->value.v_timestamp.timestamp,
                 v->value.v_timestamp.increment);
        return xstrdup(buf);
    default:
        err_set(e, ERR_TYPE_MISMATCH, "%s can't convert from BSON type %s to String", op, agg_val_type_name(v));
        return NULL;
    }
}

static int op_type(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)op;
    (void)c;
    (void)e;
    const char *name = agg_val_type_name(&a->v[0]);
    agg_val_utf8(out, name, strlen(name));
    return 0;
}

static int op_is_number(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                        struct err *e)
{
    (void)op;
    (void)c;
    (void)e;
    agg_val_bool(out, agg_val_is_number(&a->v[0]));
    return 0;
}

enum conv_target { TO_DOUBLE, TO_STRING, TO_OBJECT_ID, TO_BOOL, TO_DATE, TO_INT, TO_LONG, TO_UNKNOWN };

static enum conv_target target_from_value(const bson_value_t *to)
{
    static const struct {
        const char *name;
        int code;
        enum conv_target t;
    } map[] = {{"double", 1, TO_DOUBLE}, {"string", 2, TO_STRING}, {"objectId", 7, TO_OBJECT_ID},
               {"bool", 8, TO_BOOL},     {"date", 9, TO_DATE},     {"int", 16, TO_INT},
               {"long", 18, TO_LONG}};
    int64_t code = -1;
    bool is_code = agg_val_to_int64_exact(to, &code);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (to->value_type == BSON_TYPE_UTF8 && strcmp(to->value.v_utf8.str, map[i].name) == 0)
            return map[i].t;
        if (is_code && code == map[i].code)
            return map[i].t;
    }
    return TO_UNKNOWN;
}

static const char *target_name(enum conv_target t)
{
    static const char *const names[] = {"double", "string", "objectId", "bool", "date", "int", "long", "?"};
    return names[t];
}

static int conv_fail(struct err *e, const char *fmt, ...) BSON_GNUC_PRINTF(2, 3);
static int conv_fail(struct err *e, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(e, AGG_ERR_CONVERSION_FAILURE, "%s in $convert with no onError value", msg);
}

static int unsupported(const bson_value_t *in, enum conv_target t, struct err *e)
{
    return conv_fail(e, "Unsupported conversion from %s to %s", agg_val_type_name(in), target_name(t));
}

static int parse_fail(struct err *e, const char *s, const char *why)
{
    return err_set(e, AGG_ERR_CONVERSION_FAILURE,
                   "Failed to parse number '%.200s' in $convert with no onError value: %s", s, why);
}

/* Parses a whole string as a number: integers for int/long, any for double. */
static int parse_number(const char *s, enum conv_target t, bson_value_t *out, struct err *e)
{
    char *end;
    errno = 0;
    if (t == TO_DOUBLE) {
        double d = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || s[0] == ' ' || s[0] == '\t')
            return parse_fail(e, s, "Did not consume whole string.");
        agg_val_double(out, d);
        return 0;
    }
    long long x = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || s[0] == ' ' || s[0] == '\t')
        return parse_fail(e, s, "Did not consume whole string.");
    if (errno == ERANGE || (t == TO_INT && (x < INT32_MIN || x > INT32_MAX)))
        return parse_fail(e, s, "Overflow");
    if (t == TO_INT)
        agg_val_int32(out, (int32_t)x);
    else
        agg_val_int64(out, x);
    return 0;
}

static int to_integer(const bson_value_t *in, enum conv_target t, bson_value_t *out, struct err *e)
{
    double lo = t == TO_INT ? (double)INT32_MIN : -9223372036854775808.0;
    double hi = t == TO_INT ? (double)INT32_MAX + 1.0 : 9223372036854775808.0;
    int64_t x;
    switch (in->value_type) {
    case BSON_TYPE_BOOL: x = in->value.v_bool; break;
    case BSON_TYPE_INT32: x = in->value.v_int32; break;
    case BSON_TYPE_INT64: x = in->value.v_int64; break;
    case BSON_TYPE_DATE_TIME:
        if (t == TO_INT)
            return unsupported(in, t, e);
        x = in->value.v_datetime;
        break;
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: {
        double d = agg_val_to_double(in);
        if (isnan(d) || isinf(d))
            return conv_fail(e, "Attempt to convert %s value to %s", isnan(d) ? "NaN" : "infinity",
                             target_name(t));
        d = trunc(d);
        if (d < lo || d >= hi) {
            char buf[64];
            format_double(d, buf, sizeof buf);
            return err_set(e, AGG_ERR_CONVERSION_FAILURE,
                           "Conversion would overflow target type in $convert with no onError value: %s", buf);
        }
        x = (int64_t)d;
        break;
    }
    case BSON_TYPE_UTF8: return parse_number(in->value.v_utf8.str, t, out, e);
    default: return unsupported(in, t, e);
    }
    if (t == TO_INT && (x < INT32_MIN || x > INT32_MAX)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)x);
        return err_set(e, AGG_ERR_CONVERSION_FAILURE,
                           "Conversion would overflow target type in $convert with no onError value: %s", buf);
    }
    if (t == TO_INT)
        agg_val_int32(out, (int32_t)x);
    else
        agg_val_int64(out, x);
    return 0;
}

static int convert_value(const bson_value_t *in, enum conv_target t, bson_value_t *out, struct err *e)
{
    switch (t) {
    case TO_DOUBLE:
        if (agg_val_is_number(in))
            agg_val_double(out, agg_val_to_double(in));
        else if (in->value_type == BSON_TYPE_BOOL)
            agg_val_double(out, in->value.v_bool ? 1.0 : 0.0);
        else if (in->value_type == BSON_TYPE_DATE_TIME)
            agg_val_double(out, (double)in->value.v_datetime);
        else if (in->value_type == BSON_TYPE_UTF8)
            return parse_number(in->value.v_utf8.str, t, out, e);
        else
            return unsupported(in, t, e);
        return 0;
    case TO_INT:
    case TO_LONG:
        return to_integer(in, t, out, e);
    case TO_BOOL:
        agg_val_bool(out, agg_val_truthy(in));
        return 0;
    case TO_STRING: {
        if (in->value_type == BSON_TYPE_DOCUMENT || in->value_type == BSON_TYPE_ARRAY ||
            in->value_type == BSON_TYPE_BINARY || in->value_type == BSON_TYPE_REGEX)
            return unsupported(in, t, e);
        char *s = agg_val_to_string("$convert", in, e);
        if (s == NULL)
            return unsupported(in, t, e);
        agg_val_utf8(out, s, strlen(s));
        free(s);
        return 0;
    }
    case TO_OBJECT_ID:
        if (in->value_type == BSON_TYPE_OID) {
            agg_val_copy(out, in);
            return 0;
        }
        if (in->value_type != BSON_TYPE_UTF8)
            return unsupported(in, t, e);
        if (in->value.v_utf8.len != 24 || !bson_oid_is_valid(in->value.v_utf8.str, 24))
            return err_set(e, AGG_ERR_CONVERSION_FAILURE,
                           "Failed to parse objectId '%.200s' in $convert with no onError value: Invalid string "
                           "for parsing to OID, expected 24 hex characters",
                           in->value.v_utf8.str);
        agg_val_missing(out);
        out->value_type = BSON_TYPE_OID;
        bson_oid_init_from_string(&out->value.v_oid, in->value.v_utf8.str);
        return 0;
    case TO_DATE:
        if (in->value_type == BSON_TYPE_DATE_TIME)
            agg_val_copy(out, in);
        else if (in->value_type == BSON_TYPE_INT64)
            agg_val_date(out, in->value.v_int64);
        else if (in->value_type == BSON_TYPE_DOUBLE || in->value_type == BSON_TYPE_DECIMAL128) {
            double d = agg_val_to_double(in);
            if (isnan(d) || isinf(d) || fabs(d) >= 9.2e18)
                return conv_fail(e, "Conversion would overflow target type");
            agg_val_date(out, (int64_t)d);
        } else if (in->value_type == BSON_TYPE_OID)
            agg_val_date(out, (int64_t)bson_oid_get_time_t(&in->value.v_oid) * 1000);
        else if (in->value_type == BSON_TYPE_TIMESTAMP)
            agg_val_date(out, (int64_t)in->value.v_timestamp.timestamp * 1000);
        else if (in->value_type == BSON_TYPE_UTF8) {
            int64_t ms;
            if (!agg_date_parse_iso(in->value.v_utf8.str, &ms))
                return conv_fail(e, "Error parsing date string '%.200s'", in->value.v_utf8.str);
            agg_val_date(out, ms);
        } else
            return unsupported(in, t, e);
        return 0;
    default:
        return unsupported(in, t, e);
    }
}

static int convert(const bson_value_t *in, enum conv_target t, const bson_value_t *on_error,
                   const bson_value_t *on_null, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    if (agg_val_is_nullish(in)) {
        if (on_null != NULL && !agg_val_is_missing(on_null))
            return agg_expr_eval(on_null, c, out, e);
        agg_val_null(out);
        return 0;
    }
    int rc = convert_value(in, t, out, e);
    if (rc < 0 && on_error != NULL && !agg_val_is_missing(on_error) && -rc == AGG_ERR_CONVERSION_FAILURE) {
        err_clear(e);
        return agg_expr_eval(on_error, c, out, e);
    }
    return rc;
}

static int op_to(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    static const struct {
        const char *op;
        enum conv_target t;
    } map[] = {{"$toString", TO_STRING}, {"$toInt", TO_INT},   {"$toLong", TO_LONG},        {"$toDouble", TO_DOUBLE},
               {"$toBool", TO_BOOL},     {"$toDate", TO_DATE}, {"$toObjectId", TO_OBJECT_ID}};
    enum conv_target t = TO_UNKNOWN;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].op, op) == 0)
            t = map[i].t;
    return convert(&a->v[0], t, NULL, NULL, c, out, e);
}

static int op_convert(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                      struct err *e)
{
    static const char *const names[] = {"input", "to", "onError", "onNull", NULL};
    bson_value_t a[4], in, to;
    int rc = agg_named_args(op, arg, names, a, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_missing(&a[0]))
        return err_set(e, ERR_FAILED_TO_PARSE, "Missing 'input' parameter to $convert");
    if (agg_val_is_missing(&a[1]))
        return err_set(e, ERR_FAILED_TO_PARSE, "Missing 'to' parameter to $convert");
    rc = agg_expr_eval(&a[0], c, &in, e);
    if (rc < 0)
        return rc;
    rc = agg_expr_eval(&a[1], c, &to, e);
    if (rc < 0) {
        bson_value_destroy(&in);
        return rc;
    }
    if (agg_val_is_nullish(&to)) {
        agg_val_null(out);
    } else {
        enum conv_target t = target_from_value(&to);
        if (t == TO_UNKNOWN)
            rc = err_set(e, ERR_BAD_VALUE, "Unknown or unsupported type in $convert 'to' argument");
        else
            rc = convert(&in, t, &a[2], &a[3], c, out, e);
    }
    bson_value_destroy(&in);
    bson_value_destroy(&to);
    return rc;
}

const struct agg_op agg_ops_type[] = {
    {"$convert", NULL, op_convert, 0, -1},
    {"$isNumber", op_is_number, NULL, 1, 1},
    {"$toBool", op_to, NULL, 1, 1},
    {"$toDate", op_to, NULL, 1, 1},
    {"$toDouble", op_to, NULL, 1, 1},
    {"$toInt", op_to, NULL, 1, 1},
    {"$toLong", op_to, NULL, 1, 1},
    {"$toObjectId", op_to, NULL, 1, 1},
    {"$toString", op_to, NULL, 1, 1},
    {"$type", op_type, NULL, 1, 1},
    {NULL, NULL, NULL, 0, 0},
};
