/* decimal.h - Decimal128 arithmetic for the expression language and updates.
 *
 * BSON decimal128 is IEEE 754-2008 decimal128 in the BID encoding, which is
 * exactly GCC's _Decimal128 on x86-64, so these functions compute with the
 * compiler's decimal floating point (libgcc) and round half to even as mongod
 * does. Values are bson_decimal128_t throughout; nothing here allocates. */
#ifndef TALLY_DECIMAL_H
#define TALLY_DECIMAL_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

bson_decimal128_t decimal_from_int64(int64_t i);
/* mongod's default double conversion: rounded to 15 significant digits
 * (0.1 -> 0.100000000000000, 2.5 -> 2.50000000000000); used by $add & co. */
bson_decimal128_t decimal_from_double(double d);
/* The double's binary value rounded to 34 digits (0.1 ->
 * 0.1000000000000000055511151231257827, 2.0 -> 2); used by $inc/$mul. */
bson_decimal128_t decimal_from_double_34(double d);
/* Nearest double (correctly rounded). */
double decimal_to_double(bson_decimal128_t d);
/* Any BSON number (int32, int64, double via decimal_from_double, decimal)
 * into *out; false for other types. */
bool decimal_from_value(const bson_value_t *v, bson_decimal128_t *out);

bson_decimal128_t decimal_add(bson_decimal128_t a, bson_decimal128_t b);
bson_decimal128_t decimal_sub(bson_decimal128_t a, bson_decimal128_t b);
bson_decimal128_t decimal_mul(bson_decimal128_t a, bson_decimal128_t b);
/* Division by zero gives +-Infinity (or NaN for 0/0); callers that must
 * refuse it check decimal_is_zero first. */
bson_decimal128_t decimal_div(bson_decimal128_t a, bson_decimal128_t b);

bool decimal_is_nan(bson_decimal128_t d);
bool decimal_is_zero(bson_decimal128_t d);
/* Numeric order; -1, 0 or 1. NaN equals NaN and sorts below every number,
 * as in BSON order. Equal values with different exponents (1.0, 1) are equal. */
int decimal_compare(bson_decimal128_t a, bson_decimal128_t b);

#endif
