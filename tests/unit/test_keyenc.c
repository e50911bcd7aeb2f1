/* test_keyenc.c - order preservation, prefix-freeness and round trips of keyenc. */
#include "query/bsonval.h"
#include "query/keyenc.h"

#include "testhelp.h"

#include <math.h>
#include <stdint.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const double edge_doubles[] = {0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.0, 1e-300, -1e-300, 4.9e-324,
                                      9007199254740992.0, -9007199254740992.0, 9223372036854775808.0,
                                      -9223372036854775808.0, 9223372036854774784.0, -9223372036854774784.0,
                                      1e19, -1e19, 1e300, -1e300, 2147483647.0, 2147483648.0, -2147483648.0,
                                      -2147483649.0, 0.1, -0.1, 123456789.125, -1e-301, -0.3, -4.9e-324, -0.9999999999999999};
static const int64_t edge_ints[] = {0, 1, -1, 2, INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
                                    9007199254740992LL, 9007199254740993LL, -9007199254740993LL, INT64_MAX,
                                    INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, 9223372036854774784LL};

static void append_random_string(bson_t *b, const char *key, bool is_symbol)
{
    char s[8];
    int n = (int)(rnd() % 5);
    static const char alphabet[] = {'\0', 'a', 'b', '\x01', '\xff', 'z'};
    for (int i = 0; i < n; i++)
        s[i] = alphabet[rnd() % sizeof alphabet];
    if (is_symbol)
        bson_append_symbol(b, key, -1, s, n);
    else
        bson_append_utf8(b, key, -1, s, n);
}

static void append_random_value(bson_t *b, const char *key, int depth);

static void append_random_doc(bson_t *b, const char *key, int depth, bool is_array)
{
    bson_t child;
    if (is_array)
        bson_append_array_begin(b, key, -1, &child);
    else
        bson_append_document_begin(b, key, -1, &child);
    int n = (int)(rnd() % 4);
    for (int i = 0; i < n; i++) {
        char k[16];
        if (is_array)
            snprintf(k, sizeof k, "%d", i);
        else
            snprintf(k, sizeof k, "%c", "abc"[rnd() % 3]);
        append_random_value(&child, k, depth + 1);
    }
    if (is_array)
        bson_append_array_end(b, &child);
    else
        bson_append_document_end(b, &child);
}

static void append_random_value(bson_t *b, const char *key, int depth)
{
    int kind = (int)(rnd() % (depth > 2 ? 20 : 24));
    bson_oid_t oid;
    uint8_t bin[3] = {(uint8_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd()};
    switch (kind) {
    case 0: bson_append_minkey(b, key, -1); break;
    case 1: bson_append_maxkey(b, key, -1); break;
    case 2: bson_append_null(b, key, -1); break;
    case 3: bson_append_undefined(b, key, -1); break;
    case 4:
    case 5: bson_append_double(b, key, -1, edge_doubles[rnd() % (sizeof edge_doubles / sizeof(double))]); break;
    case 6:
        if (rnd() % 2) {
            bson_append_double(b, key, -1, (double)((int64_t)(rnd() % 7) - 3) / 2.0);
        } else {
            /* Any bit pattern: subnormals, tiny negatives, huge values. */
            uint64_t bits = rnd();
            double d;
            memcpy(&d, &bits, 8);
            bson_append_double(b, key, -1, d);
        }
        break;
    case 7: {
        double specials[3] = {NAN, INFINITY, -INFINITY};
        bson_append_double(b, key, -1, specials[rnd() % 3]);
        break;
    }
    case 8: bson_append_int64(b, key, -1, edge_ints[rnd() % (sizeof edge_ints / sizeof(int64_t))]); break;
    case 9: bson_append_int32(b, key, -1, (int32_t)(rnd() % 7) - 3); break;
    case 10: append_random_string(b, key, false); break;
    case 11: append_random_string(b, key, rnd() % 2); break;
    case 12: bson_append_bool(b, key, -1, rnd() % 2); break;
    case 13: bson_append_date_time(b, key, -1, (int64_t)(rnd() % 5) - 2); break;
    case 14: bson_append_timestamp(b, key, -1, (uint32_t)(rnd() % 3), (uint32_t)(rnd() % 3)); break;
    case 15:
        memset(oid.bytes, 0, 12);
        oid.bytes[11] = (uint8_t)(rnd() % 3);
        oid.bytes[0] = (uint8_t)(rnd() % 2 ? 0xff : 0);
        bson_append_oid(b, key, -1, &oid);
        break;
    case 16: bson_append_binary(b, key, -1, (bson_subtype_t)(rnd() % 2), bin, (uint32_t)(rnd() % 4)); break;
    case 17: bson_append_regex(b, key, -1, rnd() % 2 ? "a" : "ab", rnd() % 2 ? "i" : ""); break;
    case 18: {
        bson_decimal128_t d;
        bson_decimal128_from_string(rnd() % 2 ? "1.5" : "-2", &d);
        bson_append_decimal128(b, key, -1, &d);
        break;
    }
    case 19: bson_append_code(b, key, -1, rnd() % 2 ? "x" : "y"); break;
    case 20:
    case 21: append_random_doc(b, key, depth, false); break;
    default: append_random_doc(b, key, depth, true); break;
    }
}

static int sign(int x) { return x < 0 ? -1 : x > 0 ? 1 : 0; }

static int memcmp_keys(const struct keybuf *a, const struct keybuf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->data, b->data, n);
    if (c)
        return sign(c);
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static bool is_proper_prefix(const struct keybuf *a, const struct keybuf *b)
{
    return a->len < b->len && memcmp(a->data, b->data, a->len) == 0;
}

static const bson_value_t *value_of(const bson_t *doc, const char *key, bson_iter_t *it)
{
    if (!bson_iter_init_find(it, doc, key))
        return NULL;
    return bson_iter_value(it);
}

TEST(random_pairs_encode_in_the_same_order_as_bsonval_compare)
{
    int n_mismatch = 0;
    for (int i = 0; i < 20000; i++) {
        bson_t doc = BSON_INITIALIZER;
        append_random_value(&doc, "x", 0);
        append_random_value(&doc, "y", 0);
        bson_iter_t ia, ib;
        const bson_value_t *a = value_of(&doc, "x", &ia), *b = value_of(&doc, "y", &ib);
        for (int desc = 0; desc < 2; desc++) {
            struct keybuf ka, kb;
            keybuf_init(&ka);
            keybuf_init(&kb);
            keyenc_append_value(&ka, a, desc);
            keyenc_append_value(&kb, b, desc);
            int want = sign(bsonval_compare(a, b)) * (desc ? -1 : 1);
            int got = memcmp_keys(&ka, &kb);
            if (want != got || is_proper_prefix(&ka, &kb) || is_proper_prefix(&kb, &ka)) {
                if (n_mismatch++ < 5) {
                    char *js = bson_as_canonical_extended_json(&doc, NULL);
                    fprintf(stderr, "  mismatch desc=%d want %d got %d: %s\n", desc, want, got, js);
                    bson_free(js);
                }
            }
            keybuf_destroy(&ka);
            keybuf_destroy(&kb);
        }
        bson_destroy(&doc);
    }
    CHECK_EQ_INT(n_mismatch, 0);
}

TEST(compound_keys_order_component_by_component)
{
    int n_bad = 0;
    for (int i = 0; i < 5000; i++) {
        bson_t doc = BSON_INITIALIZER;
        append_random_value(&doc, "a1", 1);
        append_random_value(&doc, "a2", 1);
        append_random_value(&doc, "b1", 1);
        append_random_value(&doc, "b2", 1);
        bson_iter_t i1, i2, i3, i4;
        const bson_value_t *a1 = value_of(&doc, "a1", &i1), *a2 = value_of(&doc, "a2", &i2);
        const bson_value_t *b1 = value_of(&doc, "b1", &i3), *b2 = value_of(&doc, "b2", &i4);
        struct keybuf ka, kb;
        keybuf_init(&ka);
        keybuf_init(&kb);
        keyenc_append_value(&ka, a1, false);
        keyenc_append_value(&ka, a2, true);
        keyenc_append_value(&kb, b1, false);
        keyenc_append_value(&kb, b2, true);
        int c = sign(bsonval_compare(a1, b1));
        if (c == 0)
            c = -sign(bsonval_compare(a2, b2));
        if (c != memcmp_keys(&ka, &kb))
            n_bad++;
        keybuf_destroy(&ka);
        keybuf_destroy(&kb);
        bson_destroy(&doc);
    }
    CHECK_EQ_INT(n_bad, 0);
}

static struct keybuf enc_double(double d)
{
    struct keybuf kb;
    keybuf_init(&kb);
    bson_value_t v = {.value_type = BSON_TYPE_DOUBLE, .value.v_double = d};
    keyenc_append_value(&kb, &v, false);
    return kb;
}

static struct keybuf enc_int64(int64_t i)
{
    struct keybuf kb;
    keybuf_init(&kb);
    bson_value_t v = {.value_type = BSON_TYPE_INT64, .value.v_int64 = i};
    keyenc_append_value(&kb, &v, false);
    return kb;
}

TEST(int64_beyond_2_pow_53_sorts_above_the_nearest_double)
{
    struct keybuf a = enc_int64(9007199254740993LL), b = enc_double(9007199254740992.0);
    CHECK(memcmp_keys(&a, &b) > 0);
    keybuf_destroy(&a);
    keybuf_destroy(&b);
    a = enc_int64(INT64_MAX);
    b = enc_double(9223372036854775808.0);
    CHECK(memcmp_keys(&a, &b) < 0);
    keybuf_destroy(&a);
    keybuf_destroy(&b);
}

TEST(negative_zero_equals_zero_and_equal_numbers_encode_identically)
{
    struct keybuf a = enc_double(-0.0), b = enc_int64(0), c = enc_double(7.0), d = enc_int64(7);
    CHECK_EQ_INT(memcmp_keys(&a, &b), 0);
    CHECK_EQ_INT(memcmp_keys(&c, &d), 0);
    keybuf_destroy(&a);
    keybuf_destroy(&b);
    keybuf_destroy(&c);
    keybuf_destroy(&d);
}

TEST(nan_sorts_below_negative_infinity_and_infinities_bracket_everything)
{
    struct keybuf n = enc_double(NAN), ni = enc_double(-INFINITY), pi = enc_double(INFINITY);
    struct keybuf lo = enc_int64(INT64_MIN), hi = enc_double(1e308);
    CHECK(memcmp_keys(&n, &ni) < 0);
    CHECK(memcmp_keys(&ni, &lo) < 0);
    CHECK(memcmp_keys(&hi, &pi) < 0);
    keybuf_destroy(&n);
    keybuf_destroy(&ni);
    keybuf_destroy(&pi);
    keybuf_destroy(&lo);
    keybuf_destroy(&hi);
}

TEST(min_and_max_bound_every_value_and_missing_equals_null)
{
    struct keybuf mn, mx, miss, nul;
    keybuf_init(&mn);
    keybuf_init(&mx);
    keybuf_init(&miss);
    keybuf_init(&nul);
    keyenc_append_min(&mn, false);
    keyenc_append_max(&mx, false);
    keyenc_append_missing(&miss, false);
    bson_value_t vn = {.value_type = BSON_TYPE_NULL};
    keyenc_append_value(&nul, &vn, false);
    CHECK_EQ_INT(memcmp_keys(&miss, &nul), 0);
    for (int i = 0; i < 2000; i++) {
        bson_t doc = BSON_INITIALIZER;
        append_random_value(&doc, "x", 0);
        bson_iter_t it;
        const bson_value_t *v = value_of(&doc, "x", &it);
        struct keybuf k;
        keybuf_init(&k);
        keyenc_append_value(&k, v, false);
        if (v->value_type != BSON_TYPE_MINKEY)
            CHECK(memcmp_keys(&mn, &k) < 0);
        if (v->value_type != BSON_TYPE_MAXKEY)
            CHECK(memcmp_keys(&k, &mx) < 0);
        keybuf_destroy(&k);
        bson_destroy(&doc);
    }
    keybuf_destroy(&mn);
    keybuf_destroy(&mx);
    keybuf_destroy(&miss);
    keybuf_destroy(&nul);
}

TEST(random_values_decode_to_an_equal_value_and_consume_exactly_their_bytes)
{
    int n_bad = 0;
    for (int i = 0; i < 5000; i++) {
        bson_t doc = BSON_INITIALIZER;
        append_random_value(&doc, "x", 0);
        bson_iter_t it;
        const bson_value_t *v = value_of(&doc, "x", &it);
        struct keybuf k;
        keybuf_init(&k);
        keyenc_append_value(&k, v, false);
        keyenc_append_value(&k, v, false);
        bson_t out = BSON_INITIALIZER;
        size_t pos = 0;
        bool ok = keyenc_decode_append(k.data, k.len, &pos, &out, "x");
        size_t first_len = pos;
        ok = ok && keyenc_decode_append(k.data, k.len, &pos, &out, "y");
        bson_iter_t ox, oy;
        if (!ok || pos != k.len || first_len * 2 != k.len || !bson_iter_init_find(&ox, &out, "x") ||
            !bson_iter_init_find(&oy, &out, "y") || bsonval_compare(bson_iter_value(&ox), v) != 0) {
            n_bad++;
        }
        keybuf_destroy(&k);
        bson_destroy(&out);
        bson_destroy(&doc);
    }
    CHECK_EQ_INT(n_bad, 0);
}

TEST(id_types_round_trip_with_their_exact_type)
{
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
    bson_t *doc = BCON_NEW("oid", BCON_OID(&oid), "s", BCON_UTF8("he\0llo"), "i", BCON_INT32(-5), "l",
                           BCON_INT64(5000000000LL), "d", BCON_DOUBLE(-2.75), "sub", "{", "a", BCON_INT32(1),
                           "b", "[", BCON_BOOL(true), BCON_NULL, "]", "}", "dt", BCON_DATE_TIME(-1234));
    bson_t out = BSON_INITIALIZER;
    bson_iter_t it;
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        struct keybuf k;
        keybuf_init(&k);
        keyenc_append_value(&k, bson_iter_value(&it), false);
        size_t pos = 0;
        CHECK(keyenc_decode_append(k.data, k.len, &pos, &out, bson_iter_key(&it)));
        keybuf_destroy(&k);
    }
    CHECK(bson_equal(doc, &out));
    bson_destroy(&out);
    bson_destroy(doc);
}

TEST(integral_doubles_decode_as_integers)
{
    struct keybuf k = enc_double(42.0);
    bson_t out = BSON_INITIALIZER;
    size_t pos = 0;
    CHECK(keyenc_decode_append(k.data, k.len, &pos, &out, "v"));
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, &out, "v") && bson_iter_type(&it) == BSON_TYPE_INT32 &&
          bson_iter_int32(&it) == 42);
    keybuf_destroy(&k);
    bson_destroy(&out);
}

TEST(truncated_or_corrupt_keys_are_rejected_without_crashing)
{
    int n_accepted_garbage = 0;
    for (int i = 0; i < 3000; i++) {
        bson_t doc = BSON_INITIALIZER;
        append_random_value(&doc, "x", 0);
        bson_iter_t it;
        struct keybuf k;
        keybuf_init(&k);
        keyenc_append_value(&k, value_of(&doc, "x", &it), false);
        for (size_t cut = 0; cut < k.len; cut++) {
            bson_t out = BSON_INITIALIZER;
            size_t pos = 0;
            if (keyenc_decode_append(k.data, cut, &pos, &out, "x"))
                n_accepted_garbage++;
            bson_destroy(&out);
        }
        if (k.len > 0)
            k.data[rnd() % k.len] ^= (uint8_t)(1 + rnd() % 255);
        bson_t out = BSON_INITIALIZER;
        size_t pos = 0;
        (void)keyenc_decode_append(k.data, k.len, &pos, &out, "x");
        CHECK(pos <= k.len);
        bson_destroy(&out);
        keybuf_destroy(&k);
        bson_destroy(&doc);
    }
    CHECK_EQ_INT(n_accepted_garbage, 0);
}

int main(void)
{
    RUN(random_pairs_encode_in_the_same_order_as_bsonval_compare);
    RUN(compound_keys_order_component_by_component);
    RUN(int64_beyond_2_pow_53_sorts_above_the_nearest_double);
    RUN(negative_zero_equals_zero_and_equal_numbers_encode_identically);
    RUN(nan_sorts_below_negative_infinity_and_infinities_bracket_everything);
    RUN(min_and_max_bound_every_value_and_missing_equals_null);
    RUN(random_values_decode_to_an_equal_value_and_consume_exactly_their_bytes);
    RUN(id_types_round_trip_with_their_exact_type);
    RUN(integral_doubles_decode_as_integers);
    RUN(truncated_or_corrupt_keys_are_rejected_without_crashing);
    return test_report();
}
