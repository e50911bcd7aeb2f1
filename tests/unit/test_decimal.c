/* test_decimal.c - Decimal128 arithmetic (query/decimal.c): the BID layout
 * matches the compiler's decimal type, conversions round as mongod's do, and
 * arithmetic and comparison are exact. */
#include "query/decimal.h"
#include "testhelp.h"

#include <math.h>

static char buf[BSON_DECIMAL128_STRING];

static bson_decimal128_t d(const char *s)
{
    bson_decimal128_t x;
    if (!bson_decimal128_from_string(s, &x)) {
        fprintf(stderr, "bad decimal literal %s\n", s);
        exit(2);
    }
    return x;
}

static const char *str(bson_decimal128_t x)
{
    bson_decimal128_to_string(&x, buf);
    return buf;
}

TEST(bson_decimals_round_trip_through_the_compiler_type)
{
    CHECK_EQ_STR(str(decimal_add(d("3.5"), d("0"))), "3.5");
    CHECK_EQ_STR(str(decimal_mul(d("3.5"), d("1"))), "3.5");
    CHECK_EQ_STR(str(decimal_mul(d("-1E+400"), d("1"))), "-1E+400");
    CHECK_EQ_STR(str(decimal_mul(d("1E-6176"), d("1"))), "1E-6176");
    CHECK_EQ_STR(str(decimal_add(d("9999999999999999999999999999999999"), d("0"))),
                 "9999999999999999999999999999999999");
}

TEST(add_and_subtract_are_exact_and_keep_the_smaller_exponent)
{
    CHECK_EQ_STR(str(decimal_add(d("1.5"), d("2"))), "3.5");
    CHECK_EQ_STR(str(decimal_add(d("0.1"), d("0.2"))), "0.3");
    CHECK_EQ_STR(str(decimal_add(d("1.50"), d("1"))), "2.50");
    CHECK_EQ_STR(str(decimal_sub(d("1"), d("0.9"))), "0.1");
    CHECK_EQ_STR(str(decimal_sub(d("2"), d("5"))), "-3");
    /* 34 digits plus one more rounds half to even */
    CHECK_EQ_STR(str(decimal_add(d("9999999999999999999999999999999999"), d("1"))),
                 "1.000000000000000000000000000000000E+34");
}

TEST(multiply_and_divide_round_to_34_digits)
{
    CHECK_EQ_STR(str(decimal_mul(d("3.5"), d("0.25"))), "0.875");
    CHECK_EQ_STR(str(decimal_mul(d("1.10"), d("2"))), "2.20");
    CHECK_EQ_STR(str(decimal_div(d("3.5"), d("2"))), "1.75");
    CHECK_EQ_STR(str(decimal_div(d("3.5"), d("0.25"))), "14");
    CHECK_EQ_STR(str(decimal_div(d("1"), d("3"))), "0.3333333333333333333333333333333333");
    CHECK_EQ_STR(str(decimal_div(d("2"), d("3"))), "0.6666666666666666666666666666666667");
    CHECK_EQ_STR(str(decimal_div(d("1"), d("0"))), "Infinity");
    CHECK_EQ_STR(str(decimal_div(d("-1"), d("0"))), "-Infinity");
    CHECK(decimal_is_nan(decimal_div(d("0"), d("0"))));
}

TEST(integers_convert_exactly)
{
    CHECK_EQ_STR(str(decimal_from_int64(0)), "0");
    CHECK_EQ_STR(str(decimal_from_int64(-42)), "-42");
    CHECK_EQ_STR(str(decimal_from_int64(INT64_MAX)), "9223372036854775807");
    CHECK_EQ_STR(str(decimal_from_int64(INT64_MIN)), "-9223372036854775808");
}

TEST(doubles_convert_with_15_digits_by_default)
{
    CHECK_EQ_STR(str(decimal_from_double(0.1)), "0.100000000000000");
    CHECK_EQ_STR(str(decimal_from_double(2.5)), "2.50000000000000");
    CHECK_EQ_STR(str(decimal_from_double(-1234.5)), "-1234.50000000000");
    CHECK_EQ_STR(str(decimal_from_double(1e300)), "1.00000000000000E+300");
    CHECK_EQ_STR(str(decimal_from_double(0.0)), "0");
    CHECK_EQ_STR(str(decimal_from_double(INFINITY)), "Infinity");
    CHECK_EQ_STR(str(decimal_from_double(-INFINITY)), "-Infinity");
    CHECK(decimal_is_nan(decimal_from_double(NAN)));
}

TEST(doubles_convert_with_34_digits_for_updates)
{
    CHECK_EQ_STR(str(decimal_from_double_34(0.1)), "0.1000000000000000055511151231257827");
    CHECK_EQ_STR(str(decimal_from_double_34(2.0)), "2");
    CHECK_EQ_STR(str(decimal_from_double_34(0.5)), "0.5");
}

TEST(decimals_convert_to_the_nearest_double)
{
    CHECK(decimal_to_double(d("0.1")) == 0.1);
    CHECK(decimal_to_double(d("3.5")) == 3.5);
    CHECK(decimal_to_double(d("-1E+400")) == -INFINITY);
    CHECK(decimal_to_double(d("1E-400")) == 0.0);
    CHECK(isnan(decimal_to_double(d("NaN"))));
}

TEST(values_of_every_numeric_type_convert)
{
    bson_value_t v;
    bson_decimal128_t out;
    v.value_type = BSON_TYPE_INT32;
    v.value.v_int32 = -7;
    CHECK(decimal_from_value(&v, &out));
    CHECK_EQ_STR(str(out), "-7");
    v.value_type = BSON_TYPE_INT64;
    v.value.v_int64 = 1LL << 40;
    CHECK(decimal_from_value(&v, &out));
    CHECK_EQ_STR(str(out), "1099511627776");
    v.value_type = BSON_TYPE_DOUBLE;
    v.value.v_double = 0.25;
    CHECK(decimal_from_value(&v, &out));
    CHECK_EQ_STR(str(out), "0.250000000000000");
    v.value_type = BSON_TYPE_DECIMAL128;
    v.value.v_decimal128 = d("1.23");
    CHECK(decimal_from_value(&v, &out));
    CHECK_EQ_STR(str(out), "1.23");
    v.value_type = BSON_TYPE_UTF8;
    v.value.v_utf8.str = (char *)"1";
    v.value.v_utf8.len = 1;
    CHECK(!decimal_from_value(&v, &out));
    v.value_type = BSON_TYPE_NULL;
    CHECK(!decimal_from_value(&v, &out));
}

TEST(compare_is_numeric_with_nan_lowest)
{
    CHECK_EQ_INT(decimal_compare(d("1.0"), d("1")), 0);
    CHECK_EQ_INT(decimal_compare(d("0.1"), d("0.10000000000000000000000000000001")), -1);
    CHECK_EQ_INT(decimal_compare(d("2"), d("1E+0")), 1);
    CHECK_EQ_INT(decimal_compare(d("-0"), d("0")), 0);
    CHECK_EQ_INT(decimal_compare(d("-Infinity"), d("-1E+6144")), -1);
    CHECK_EQ_INT(decimal_compare(d("Infinity"), d("9.999999999999999999999999999999999E+6144")), 1);
    CHECK_EQ_INT(decimal_compare(d("NaN"), d("-Infinity")), -1);
    CHECK_EQ_INT(decimal_compare(d("-Infinity"), d("NaN")), 1);
    CHECK_EQ_INT(decimal_compare(d("NaN"), d("NaN")), 0);
}

TEST(zero_and_nan_are_recognised)
{
    CHECK(decimal_is_zero(d("0")));
    CHECK(decimal_is_zero(d("-0.000")));
    CHECK(decimal_is_zero(d("0E+100")));
    CHECK(!decimal_is_zero(d("1E-6176")));
    CHECK(!decimal_is_zero(d("NaN")));
    CHECK(decimal_is_nan(d("NaN")));
    CHECK(decimal_is_nan(d("-NaN")));
    CHECK(!decimal_is_nan(d("Infinity")));
    CHECK(!decimal_is_nan(d("0")));
}

int main(void)
{
    RUN(bson_decimals_round_trip_through_the_compiler_type);
    RUN(add_and_subtract_are_exact_and_keep_the_smaller_exponent);
    RUN(multiply_and_divide_round_to_34_digits);
    RUN(integers_convert_exactly);
    RUN(doubles_convert_with_15_digits_by_default);
    RUN(doubles_convert_with_34_digits_for_updates);
    RUN(decimals_convert_to_the_nearest_double);
    RUN(values_of_every_numeric_type_convert);
    RUN(compare_is_numeric_with_nan_lowest);
    RUN(zero_and_nan_are_recognised);
    return test_report();
}
