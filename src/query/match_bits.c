/* match_bits.c - the bitwise query operators $bitsAllSet $bitsAnySet
 * $bitsAllClear $bitsAnyClear.
 *
 * Sits beside match_parse.c (which calls match_bits_parse for these
 * operators) and match_eval.c (match_bits_test for one value). The mask, in
 * any of its three forms (bitmask, positions, BinData), becomes a list of bit
 * positions; a value takes part only when it is BinData or a number that is
 * exactly an int64, tested in two's complement as mongod does. */
#include "query/match_int.h"
#include "core/bsonutil.h"

#include "core/mem.h"
#include "query/bsonval.h"

#include <math.h>
#include <string.h>

enum mnode_kind match_bits_kind(const char *op)
{
    if (strcmp(op, "$bitsAllSet") == 0)
        return MN_BITS_ALL_SET;
    if (strcmp(op, "$bitsAnySet") == 0)
        return MN_BITS_ANY_SET;
    if (strcmp(op, "$bitsAllClear") == 0)
        return MN_BITS_ALL_CLEAR;
    if (strcmp(op, "$bitsAnyClear") == 0)
        return MN_BITS_ANY_CLEAR;
    return MN_AND; /* not a bitwise operator */
}

static void bits_push(struct mnode *n, uint32_t position)
{
    n->bit_positions = xrealloc(n->bit_positions, sizeof *n->bit_positions * (size_t)(n->n_bit_positions + 1));
    n->bit_positions[n->n_bit_positions++] = position;
}

/* A number that is exactly an integer in int64's range (doubles and
 * decimals included, as mongod's parseIntegerElementToLong accepts). */
static bool exact_int64(const bson_value_t *v, int64_t *out)
{
    if (v->value_type == BSON_TYPE_INT32) {
        *out = v->value.v_int32;
        return true;
    }
    if (v->value_type == BSON_TYPE_INT64) {
        *out = v->value.v_int64;
        return true;
    }
    if (!bsonval_is_number(v))
        return false;
    double d = bsonval_as_double(v);
    if (!isfinite(d) || d != trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return false;
    *out = (int64_t)d;
    return true;
}

/* The mask of $bitsAllSet and friends: a non-negative integer bitmask, an
 * array of bit positions, or BinData (bit i of byte j is position 8j + i).
 * All three become a list of positions. */
int match_bits_parse(struct mnode *n, const char *op, const bson_value_t *v, struct err *e)
{
    int64_t x;
    if (bsonval_is_number(v)) {
        if (!exact_int64(v, &x))
            return err_set(e, ERR_BAD_VALUE, "Expected an integer: %s: %g", op, bsonval_as_double(v));
        if (x < 0)
            return err_set(e, ERR_BAD_VALUE, "Expected a positive number in: %s: %lld", op, (long long)x);
        for (uint32_t bit = 0; bit < 63; bit++)
            if (((uint64_t)x >> bit) & 1)
                bits_push(n, bit);
    } else if (v->value_type == BSON_TYPE_ARRAY) {
        bson_iter_t it;
        if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
            return err_set(e, ERR_BAD_VALUE, "%s: invalid array of bit positions", op);
        while (bson_iter_next(&it)) {
            const bson_value_t *p = bson_iter_value(&it);
            int rc = 0;
            if (!bsonval_is_number(p))
                rc = err_set(e, ERR_BAD_VALUE, "bit positions must be an integer but got: %s: %s", bson_iter_key(&it),
                             bsonutil_type_name(p->value_type));
            else if (!exact_int64(p, &x))
                rc = err_set(e, ERR_BAD_VALUE, "bit positions must be an integer but got: %s: %g", bson_iter_key(&it),
                             bsonval_as_double(p));
            else if (x < 0)
                rc = err_set(e, ERR_BAD_VALUE, "bit positions cannot be negative but got: %s: %lld",
                             bson_iter_key(&it), (long long)x);
            else if (x > INT32_MAX)
                rc = err_set(e, ERR_BAD_VALUE,
                             "bit positions cannot be represented as a 32-bit signed integer: %s: %lld",
                             bson_iter_key(&it), (long long)x);
            if (rc)
                return rc;
            bits_push(n, (uint32_t)x);
        }
    } else if (v->value_type == BSON_TYPE_BINARY) {
        const uint8_t *data = v->value.v_binary.data;
        for (uint32_t i = 0; i < v->value.v_binary.data_len; i++)
            for (uint32_t bit = 0; bit < 8; bit++)
                if ((data[i] >> bit) & 1)
                    bits_push(n, i * 8 + bit);
    } else {
        return err_set(e, ERR_BAD_VALUE, "%s takes an Array, a number, or a BinData but received: %s: %s", op, op,
                       bsonutil_type_name(v->value_type));
    }
    return 0;
}

/* Bit `p` of x in two's complement, sign-extended past bit 63 as mongod
 * does (a negative number has every high bit set). */
static bool int_bit(int64_t x, uint32_t p)
{
    return p < 64 ? (((uint64_t)x >> p) & 1u) != 0 : x < 0;
}

/* Bytes little-endian: position p is bit p % 8 of byte p / 8; positions
 * past the end are clear. */
static bool bin_bit(const uint8_t *data, uint32_t len, uint32_t p)
{
    return p / 8 < len && ((data[p / 8] >> (p % 8)) & 1u) != 0;
}

bool match_bits_test(const struct mnode *n, const bson_value_t *v)
{
    int64_t x = 0;
    bool is_bin = v->value_type == BSON_TYPE_BINARY;
    /* Only numbers that are exactly an int64 take part: 10.5, NaN, 1e300
     * and strings never match, even $bitsAllClear. */
    if (!is_bin && !exact_int64(v, &x))
        return false;
    bool want_set = n->kind == MN_BITS_ALL_SET || n->kind == MN_BITS_ANY_SET;
    bool is_all = n->kind == MN_BITS_ALL_SET || n->kind == MN_BITS_ALL_CLEAR;
    for (int i = 0; i < n->n_bit_positions; i++) {
        uint32_t p = n->bit_positions[i];
        bool is_set = is_bin ? bin_bit(v->value.v_binary.data, v->value.v_binary.data_len, p) : int_bit(x, p);
        if (is_set == want_set && !is_all)
            return true;
        if (is_set != want_set && is_all)
            return false;
    }
    /* No position decided it: "all" holds vacuously, "any" found none. */
    return is_all;
}
