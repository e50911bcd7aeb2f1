/* decimal.c - Decimal128 conversions and arithmetic (see decimal.h).
 *
 * bson_decimal128_t {low, high} holds the 16 bytes of an IEEE 754-2008 BID
 * decimal128 in little-endian order, the same bytes as GCC's _Decimal128 on
 * x86-64, so values are moved between the two with memcpy and computed with
 * the compiler's decimal arithmetic (correctly rounded, ties to even).
 * _Decimal128 is a GNU extension under -std=c11, hence __extension__. */
#include "query/decimal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef _Decimal128 dec128;

_Static_assert(sizeof(dec128) == sizeof(bson_decimal128_t), "decimal128 layouts differ");

static dec128 to_dec(bson_decimal128_t d)
{
    dec128 x;
    memcpy(&x, &d, sizeof x);
    return x;
}

static bson_decimal128_t from_dec(dec128 x)
{
    bson_decimal128_t d;
    memcpy(&d, &x, sizeof d);
    return d;
}

bson_decimal128_t decimal_from_int64(int64_t i)
{
    return from_dec((dec128)i);
}

bson_decimal128_t decimal_from_double_34(double d)
{
    return from_dec((dec128)d);
}

bson_decimal128_t decimal_from_double(double d)
{
    /* Zero, infinities and NaN have no digits to round; mongod keeps them as
     * the plain conversion gives them. */
    if (d == 0.0 || isinf(d) || isnan(d))
        return decimal_from_double_34(d);
    /* "%.14e" prints exactly 15 significant digits, correctly rounded from
     * the binary value, and the decimal keeps all 15 (trailing zeros too). */
    char buf[64];
    bson_decimal128_t out;
    snprintf(buf, sizeof buf, "%.14e", d);
    if (!bson_decimal128_from_string(buf, &out))
        return decimal_from_double_34(d);
    return out;
}

double decimal_to_double(bson_decimal128_t d)
{
    return (double)to_dec(d);
}

bool decimal_from_value(const bson_value_t *v, bson_decimal128_t *out)
{
    switch (v->value_type) {
    case BSON_TYPE_INT32: *out = decimal_from_int64(v->value.v_int32); return true;
    case BSON_TYPE_INT64: *out = decimal_from_int64(v->value.v_int64); return true;
    case BSON_TYPE_DOUBLE: *out = decimal_from_double(v->value.v_double); return true;
    case BSON_TYPE_DECIMAL128: *out = v->value.v_decimal128; return true;
    default: return false;
    }
}

bson_decimal128_t decimal_add(bson_decimal128_t a, bson_decimal128_t b)
{
    return from_dec(to_dec(a) + to_dec(b));
}

bson_decimal128_t decimal_sub(bson_decimal128_t a, bson_decimal128_t b)
{
    return from_dec(to_dec(a) - to_dec(b));
}

bson_decimal128_t decimal_mul(bson_decimal128_t a, bson_decimal128_t b)
{
    return from_dec(to_dec(a) * to_dec(b));
}

bson_decimal128_t decimal_div(bson_decimal128_t a, bson_decimal128_t b)
{
    return from_dec(to_dec(a) / to_dec(b));
}

bool decimal_is_nan(bson_decimal128_t d)
{
    dec128 x = to_dec(d);
    return x != x;
}

bool decimal_is_zero(bson_decimal128_t d)
{
    return to_dec(d) == (dec128)0;
}

int decimal_compare(bson_decimal128_t a, bson_decimal128_t b)
{
    bool an = decimal_is_nan(a), bn = decimal_is_nan(b);
    if (an || bn)
        return an && bn ? 0 : an ? -1 : 1;
    dec128 x = to_dec(a), y = to_dec(b);
    return x < y ? -1 : x > y ? 1 : 0;
}
