/* keyenc.c - order-preserving, prefix-free binary encoding of BSON values.
 *
 * Sits under storage (record keys = keyenc of _id, index keys = concatenated
 * components) and sort. Guarantees: memcmp order of two encodings equals
 * bsonval_compare order of the values (equal values, e.g. int32 1 and double
 * 1.0, encode identically), and no encoding is a proper prefix of another.
 *
 * Layout: one rank byte (0x10 + bsonval_type_rank), then a payload:
 *  - numbers: a bucket byte: 01 NaN; 02 doubles below -2^63 (incl. -inf) as
 *    order-preserving 8-byte doubles; 03 values in [-2^63, 2^63) as the
 *    sign-flipped big-endian int64 floor(x) followed by 00 (no fraction) or
 *    01 + the 8 bit-pattern bytes of |x - trunc(x)| (exact; positive doubles
 *    order like their bit patterns), complemented for negative x; 04 doubles >= 2^63
 *    (incl. +inf). Decimal128 goes through double (approximate).
 *  - strings/symbols/code: bytes with 00 escaped as 00 FF, ended by 00 00.
 *  - objects: per element rank byte, escaped name, payload; ended by 00.
 *  - arrays: per element rank byte and payload; ended by 00.
 *  - binData: 4-byte length, subtype, bytes; ObjectId 12 bytes; bool 1 byte;
 *    date sign-flipped int64; timestamp t then i (u32 each); regex pattern
 *    and flags as strings; dbpointer name then oid; code w/ scope code then
 *    scope object. MinKey, undefined, null (= missing), MaxKey: rank only.
 * A descending component is the bitwise complement of the ascending bytes.
 *
 * Decoding restores every type except that numbers come back as int32 when
 * integral and within int32 range, int64 when integral and within int64
 * range, otherwise double (decimal128 becomes one of these), and symbols
 * come back as strings. */
#include "query/keyenc.h"

#include "core/mem.h"
#include "query/bsonval.h"

#include <math.h>
#include <string.h>

#define RANK_BASE 0x10
#define END_BYTE 0x00
#define MAX_DECODE_DEPTH 200

enum num_bucket {
    NUM_NAN = 1,
    NUM_NEG_HUGE = 2,
    NUM_FINITE = 3,
    NUM_POS_HUGE = 4,
};

void keybuf_init(struct keybuf *kb)
{
    kb->data = NULL;
    kb->len = 0;
    kb->cap = 0;
}

void keybuf_destroy(struct keybuf *kb)
{
    free(kb->data);
    keybuf_init(kb);
}

void keybuf_reset(struct keybuf *kb) { kb->len = 0; }

static void keybuf_reserve(struct keybuf *kb, size_t n)
{
    if (kb->len + n <= kb->cap)
        return;
    size_t cap = kb->cap ? kb->cap : 32;
    while (cap < kb->len + n)
        cap *= 2;
    kb->data = xrealloc(kb->data, cap);
    kb->cap = cap;
}

void keybuf_append(struct keybuf *kb, const void *bytes, size_t n)
{
    if (n == 0)
        return;
    keybuf_reserve(kb, n);
    memcpy(kb->data + kb->len, bytes, n);
    kb->len += n;
}

static void keybuf_append_byte(struct keybuf *kb, uint8_t b) { keybuf_append(kb, &b, 1); }

void keybuf_append_u64_be(struct keybuf *kb, uint64_t v)
{
    uint8_t b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
    keybuf_append(kb, b, 8);
}

static void keybuf_append_u32_be(struct keybuf *kb, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    keybuf_append(kb, b, 4);
}

static void append_string(struct keybuf *kb, const char *s, size_t len)
{
    static const uint8_t escaped_nul[2] = {0x00, 0xFF}, end[2] = {0x00, 0x00};
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0') {
            keybuf_append(kb, s + start, i - start);
            keybuf_append(kb, escaped_nul, 2);
            start = i + 1;
        }
    }
    keybuf_append(kb, s + start, len - start);
    keybuf_append(kb, end, 2);
}

static uint64_t double_order_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return (u & (1ULL << 63)) ? ~u : u | (1ULL << 63);
}

static double double_from_order_bits(uint64_t u)
{
    u = (u & (1ULL << 63)) ? u & ~(1ULL << 63) : ~u;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static void append_integer(struct keybuf *kb, int64_t i)
{
    keybuf_append_byte(kb, NUM_FINITE);
    keybuf_append_u64_be(kb, (uint64_t)i ^ (1ULL << 63));
    keybuf_append_byte(kb, 0x00);
}

static void append_double(struct keybuf *kb, double d)
{
    if (isnan(d)) {
        keybuf_append_byte(kb, NUM_NAN);
        return;
    }
    if (d < -9223372036854775808.0) {
        keybuf_append_byte(kb, NUM_NEG_HUGE);
        keybuf_append_u64_be(kb, double_order_bits(d));
        return;
    }
    if (d >= 9223372036854775808.0) {
        keybuf_append_byte(kb, NUM_POS_HUGE);
        keybuf_append_u64_be(kb, double_order_bits(d));
        return;
    }
    /* x - trunc(x) is exact for every double (floor would not be for small
     * negatives: -0.1 - -1 rounds). Order within one floor(x) group: for
     * x >= 0 larger fractions sort later; for x < 0 the fraction is
     * t - |f| with t = floor(x) + 1, so larger |f| must sort earlier. */
    double t = trunc(d);
    double frac = d - t;
    double f = frac < 0 ? t - 1 : t;
    keybuf_append_byte(kb, NUM_FINITE);
    keybuf_append_u64_be(kb, (uint64_t)(int64_t)f ^ (1ULL << 63));
    if (frac == 0) {
        keybuf_append_byte(kb, 0x00);
        return;
    }
    double mag = fabs(frac);
    uint64_t bits;
    memcpy(&bits, &mag, 8);
    keybuf_append_byte(kb, 0x01);
    keybuf_append_u64_be(kb, frac < 0 ? ~bits : bits);
}

static void append_payload(struct keybuf *kb, const bson_value_t *v);

static void append_doc_payload(struct keybuf *kb, const uint8_t *data, uint32_t len, bool is_array)
{
    bson_iter_t it;
    if (bson_iter_init_from_data(&it, data, len)) {
        while (bson_iter_next(&it)) {
            const bson_value_t *e = bson_iter_value(&it);
            keybuf_append_byte(kb, (uint8_t)(RANK_BASE + bsonval_type_rank(e->value_type)));
            if (!is_array)
                append_string(kb, bson_iter_key(&it), bson_iter_key_len(&it));
            append_payload(kb, e);
        }
    }
    keybuf_append_byte(kb, END_BYTE);
}

static void append_payload(struct keybuf *kb, const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_INT32: append_integer(kb, v->value.v_int32); break;
    case BSON_TYPE_INT64: append_integer(kb, v->value.v_int64); break;
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: append_double(kb, bsonval_as_double(v)); break;
    case BSON_TYPE_UTF8: append_string(kb, v->value.v_utf8.str, v->value.v_utf8.len); break;
    case BSON_TYPE_SYMBOL: append_string(kb, v->value.v_symbol.symbol, v->value.v_symbol.len); break;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY:
        append_doc_payload(kb, v->value.v_doc.data, v->value.v_doc.data_len, v->value_type == BSON_TYPE_ARRAY);
        break;
    case BSON_TYPE_BINARY:
        keybuf_append_u32_be(kb, v->value.v_binary.data_len);
        keybuf_append_byte(kb, (uint8_t)v->value.v_binary.subtype);
        keybuf_append(kb, v->value.v_binary.data, v->value.v_binary.data_len);
        break;
    case BSON_TYPE_OID: keybuf_append(kb, v->value.v_oid.bytes, 12); break;
    case BSON_TYPE_BOOL: keybuf_append_byte(kb, v->value.v_bool ? 1 : 0); break;
    case BSON_TYPE_DATE_TIME: keybuf_append_u64_be(kb, (uint64_t)v->value.v_datetime ^ (1ULL << 63)); break;
    case BSON_TYPE_TIMESTAMP:
        keybuf_append_u32_be(kb, v->value.v_timestamp.timestamp);
        keybuf_append_u32_be(kb, v->value.v_timestamp.increment);
        break;
    case BSON_TYPE_REGEX:
        append_string(kb, v->value.v_regex.regex, strlen(v->value.v_regex.regex));
        append_string(kb, v->value.v_regex.options, strlen(v->value.v_regex.options));
        break;
    case BSON_TYPE_DBPOINTER:
        append_string(kb, v->value.v_dbpointer.collection, v->value.v_dbpointer.collection_len);
        keybuf_append(kb, v->value.v_dbpointer.oid.bytes, 12);
        break;
    case BSON_TYPE_CODE: append_string(kb, v->value.v_code.code, v->value.v_code.code_len); break;
    case BSON_TYPE_CODEWSCOPE:
        append_string(kb, v->value.v_codewscope.code, v->value.v_codewscope.code_len);
        append_doc_payload(kb, v->value.v_codewscope.scope_data, v->value.v_codewscope.scope_len, false);
        break;
    default: break; /* rank alone identifies MinKey, MaxKey, null, undefined */
    }
}

static void complement_from(struct keybuf *kb, size_t start)
{
    for (size_t i = start; i < kb->len; i++)
        kb->data[i] = (uint8_t)~kb->data[i];
}

void keyenc_append_value(struct keybuf *kb, const bson_value_t *v, bool is_descending)
{
    size_t start = kb->len;
    keybuf_append_byte(kb, (uint8_t)(RANK_BASE + bsonval_type_rank(v->value_type)));
    append_payload(kb, v);
    if (is_descending)
        complement_from(kb, start);
}

static void append_rank_only(struct keybuf *kb, bson_type_t type, bool is_descending)
{
    uint8_t b = (uint8_t)(RANK_BASE + bsonval_type_rank(type));
    keybuf_append_byte(kb, is_descending ? (uint8_t)~b : b);
}

void keyenc_append_missing(struct keybuf *kb, bool is_descending)
{
    append_rank_only(kb, BSON_TYPE_NULL, is_descending);
}

void keyenc_append_min(struct keybuf *kb, bool is_descending)
{
    append_rank_only(kb, BSON_TYPE_MINKEY, is_descending);
}

void keyenc_append_max(struct keybuf *kb, bool is_descending)
{
    append_rank_only(kb, BSON_TYPE_MAXKEY, is_descending);
}

/* ---- decoding ---- */

struct reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
};

static bool read_bytes(struct reader *r, void *out, size_t n)
{
    if (r->len - r->pos < n)
        return false;
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
    return true;
}

static bool read_byte(struct reader *r, uint8_t *b) { return read_bytes(r, b, 1); }

static bool read_u64(struct reader *r, uint64_t *v)
{
    uint8_t b[8];
    if (!read_bytes(r, b, 8))
        return false;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v = (*v << 8) | b[i];
    return true;
}

static bool read_u32(struct reader *r, uint32_t *v)
{
    uint8_t b[4];
    if (!read_bytes(r, b, 4))
        return false;
    *v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    return true;
}

/* Unescapes a string into sb (NUL-terminated, length in sb->len - 1). */
static bool read_string(struct reader *r, struct keybuf *sb)
{
    keybuf_reset(sb);
    for (;;) {
        uint8_t b;
        if (!read_byte(r, &b))
            return false;
        if (b != 0x00) {
            keybuf_append_byte(sb, b);
            continue;
        }
        if (!read_byte(r, &b))
            return false;
        if (b == 0x00)
            break;
        if (b != 0xFF)
            return false;
        keybuf_append_byte(sb, 0x00);
    }
    keybuf_append_byte(sb, 0x00);
    return true;
}

static bool decode_number(struct reader *r, bson_t *out, const char *key)
{
    uint8_t bucket;
    uint64_t u;
    if (!read_byte(r, &bucket))
        return false;
    switch (bucket) {
    case NUM_NAN: return bson_append_double(out, key, -1, NAN);
    case NUM_NEG_HUGE:
    case NUM_POS_HUGE:
        if (!read_u64(r, &u))
            return false;
        return bson_append_double(out, key, -1, double_from_order_bits(u));
    case NUM_FINITE: {
        uint8_t has_frac;
        if (!read_u64(r, &u) || !read_byte(r, &has_frac))
            return false;
        int64_t i = (int64_t)(u ^ (1ULL << 63));
        if (has_frac == 0) {
            if (i >= INT32_MIN && i <= INT32_MAX)
                return bson_append_int32(out, key, -1, (int32_t)i);
            return bson_append_int64(out, key, -1, i);
        }
        uint64_t bits;
        double mag;
        if (has_frac != 1 || !read_u64(r, &bits))
            return false;
        if (i < 0)
            bits = ~bits;
        memcpy(&mag, &bits, 8);
        if (!(mag > 0 && mag < 1))
            return false;
        double d = i < 0 ? (double)(i + 1) - mag : (double)i + mag;
        return bson_append_double(out, key, -1, d);
    }
    default: return false;
    }
}

static bool decode_value(struct reader *r, bson_t *out, const char *key, uint8_t rank_byte, int depth);

static bool decode_doc_body(struct reader *r, bson_t *doc, bool is_array, int depth)
{
    struct keybuf name;
    keybuf_init(&name);
    bool ok = false;
    for (uint32_t i = 0;; i++) {
        uint8_t rb;
        if (!read_byte(r, &rb))
            goto done;
        if (rb == END_BYTE)
            break;
        const char *k;
        char idx[16];
        if (is_array) {
            bson_uint32_to_string(i, &k, idx, sizeof idx);
        } else {
            if (!read_string(r, &name))
                goto done;
            k = (const char *)name.data;
        }
        if (!decode_value(r, doc, k, rb, depth + 1))
            goto done;
    }
    ok = true;
done:
    keybuf_destroy(&name);
    return ok;
}

static bool decode_nested(struct reader *r, bson_t *out, const char *key, bool is_array, int depth)
{
    bson_t child;
    bool began = is_array ? bson_append_array_begin(out, key, -1, &child)
                          : bson_append_document_begin(out, key, -1, &child);
    if (!began)
        return false;
    bool ok = decode_doc_body(r, &child, is_array, depth);
    bool ended = is_array ? bson_append_array_end(out, &child) : bson_append_document_end(out, &child);
    return ok && ended;
}

static bool decode_payload(struct reader *r, bson_t *out, const char *key, int rank, int depth)
{
    struct keybuf s1, s2;
    keybuf_init(&s1);
    keybuf_init(&s2);
    bool ok = false;
    uint8_t b;
    uint32_t u32a, u32b;
    uint64_t u64;
    bson_oid_t oid;
    switch (rank) {
    case 0: ok = bson_append_minkey(out, key, -1); break;
    case 1: ok = bson_append_undefined(out, key, -1); break;
    case 2: ok = bson_append_null(out, key, -1); break;
    case 3: ok = decode_number(r, out, key); break;
    case 4:
        ok = read_string(r, &s1) && bson_append_utf8(out, key, -1, (const char *)s1.data, (int)s1.len - 1);
        break;
    case 5: ok = decode_nested(r, out, key, false, depth); break;
    case 6: ok = decode_nested(r, out, key, true, depth); break;
    case 7: {
        uint8_t subtype;
        if (!read_u32(r, &u32a) || !read_byte(r, &subtype) || r->len - r->pos < u32a)
            break;
        ok = bson_append_binary(out, key, -1, (bson_subtype_t)subtype, r->data + r->pos, u32a);
        r->pos += u32a;
        break;
    }
    case 8: ok = read_bytes(r, oid.bytes, 12) && bson_append_oid(out, key, -1, &oid); break;
    case 9: ok = read_byte(r, &b) && b <= 1 && bson_append_bool(out, key, -1, b == 1); break;
    case 10:
        ok = read_u64(r, &u64) && bson_append_date_time(out, key, -1, (int64_t)(u64 ^ (1ULL << 63)));
        break;
    case 11: ok = read_u32(r, &u32a) && read_u32(r, &u32b) && bson_append_timestamp(out, key, -1, u32a, u32b); break;
    case 12:
        ok = read_string(r, &s1) && read_string(r, &s2) &&
             bson_append_regex(out, key, -1, (const char *)s1.data, (const char *)s2.data);
        break;
    case 13:
        ok = read_string(r, &s1) && read_bytes(r, oid.bytes, 12) &&
             bson_append_dbpointer(out, key, -1, (const char *)s1.data, &oid);
        break;
    case 14:
        ok = read_string(r, &s1) && bson_append_code(out, key, -1, (const char *)s1.data);
        break;
    case 15: {
        bson_t scope = BSON_INITIALIZER;
        ok = read_string(r, &s1) && decode_doc_body(r, &scope, false, depth) &&
             bson_append_code_with_scope(out, key, -1, (const char *)s1.data, &scope);
        bson_destroy(&scope);
        break;
    }
    case 16: ok = bson_append_maxkey(out, key, -1); break;
    default: break;
    }
    keybuf_destroy(&s1);
    keybuf_destroy(&s2);
    return ok;
}

static bool decode_value(struct reader *r, bson_t *out, const char *key, uint8_t rank_byte, int depth)
{
    if (depth > MAX_DECODE_DEPTH || rank_byte < RANK_BASE || rank_byte > RANK_BASE + 16)
        return false;
    return decode_payload(r, out, key, rank_byte - RANK_BASE, depth);
}

bool keyenc_decode_append(const uint8_t *data, size_t len, size_t *pos, bson_t *out, const char *key)
{
    if (*pos > len)
        return false;
    struct reader r = {data, len, *pos};
    uint8_t rb;
    if (!read_byte(&r, &rb) || !decode_value(&r, out, key, rb, 0))
        return false;
    *pos = r.pos;
    return true;
}
