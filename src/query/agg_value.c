/* agg_value.c - owned BSON values for the aggregation evaluator.
 *
 * Sits under every agg_*.c file. Guarantees: every value built here owns its
 * payload (bson_malloc'd) so bson_value_destroy releases it; "missing" is
 * BSON_TYPE_EOD; ordering is bsonval's total order with missing and undefined
 * below null, as aggregation compares them; equal values hash equally
 * (numbers hash by numeric value, so 1, 1L and 1.0 collide as they must). */
#include "query/agg_internal.h"
#include "core/bsonutil.h"
#include "query/bsonval.h"

#include "core/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void agg_val_missing(bson_value_t *v)
{
    memset(v, 0, sizeof *v);
    v->value_type = BSON_TYPE_EOD;
}

bool agg_val_is_missing(const bson_value_t *v) { return v->value_type == BSON_TYPE_EOD; }

bool agg_val_is_nullish(const bson_value_t *v)
{
    return v->value_type == BSON_TYPE_EOD || v->value_type == BSON_TYPE_NULL ||
           v->value_type == BSON_TYPE_UNDEFINED;
}

bool agg_val_truthy(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_EOD:
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        return false;
    case BSON_TYPE_BOOL:
        return v->value.v_bool;
    case BSON_TYPE_INT32:
        return v->value.v_int32 != 0;
    case BSON_TYPE_INT64:
        return v->value.v_int64 != 0;
    case BSON_TYPE_DOUBLE:
        return v->value.v_double != 0.0;
    case BSON_TYPE_DECIMAL128:
        return agg_val_to_double(v) != 0.0;
    default:
        return true;
    }
}

/* Aggregation's Value::compare puts missing and undefined together, below
 * null; everything else follows the query order of bsonval. */
static int missing_rank(const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_MINKEY)
        return 0;
    if (v->value_type == BSON_TYPE_EOD || v->value_type == BSON_TYPE_UNDEFINED)
        return 1;
    return 2;
}

int agg_val_compare(const bson_value_t *a, const bson_value_t *b)
{
    int ra = missing_rank(a), rb = missing_rank(b);
    if (ra != 2 || rb != 2)
        return ra < rb ? -1 : ra > rb ? 1 : 0;
    return bsonval_compare(a, b);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_value(uint64_t h, const bson_value_t *v);

static uint64_t hash_container(uint64_t h, const bson_value_t *v, bool with_keys)
{
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
        return h;
    while (bson_iter_next(&it)) {
        if (with_keys)
            h = hash_bytes(h, bson_iter_key(&it), bson_iter_key_len(&it) + 1);
        h = hash_value(h, bson_iter_value(&it));
    }
    return h;
}

static uint64_t hash_value(uint64_t h, const bson_value_t *v)
{
    int rank = bsonval_type_rank(v->value_type);
    if (agg_val_is_nullish(v))
        rank = bsonval_type_rank(BSON_TYPE_NULL);
    h = hash_bytes(h, &rank, sizeof rank);
    switch (v->value_type) {
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: {
        double d = agg_val_to_double(v);
        if (d == 0.0)
            d = 0.0; /* -0.0 equals 0.0 */
        if (isnan(d))
            d = NAN;
        return hash_bytes(h, &d, sizeof d);
    }
    case BSON_TYPE_UTF8:
        return hash_bytes(h, v->value.v_utf8.str, v->value.v_utf8.len);
    case BSON_TYPE_SYMBOL:
        return hash_bytes(h, v->value.v_symbol.symbol, v->value.v_symbol.len);
    case BSON_TYPE_DOCUMENT:
        return hash_container(h, v, true);
    case BSON_TYPE_ARRAY:
        return hash_container(h, v, false);
    case BSON_TYPE_OID:
        return hash_bytes(h, v->value.v_oid.bytes, 12);
    case BSON_TYPE_BOOL:
        return hash_bytes(h, &v->value.v_bool, sizeof v->value.v_bool);
    case BSON_TYPE_DATE_TIME:
        return hash_bytes(h, &v->value.v_datetime, sizeof v->value.v_datetime);
    case BSON_TYPE_TIMESTAMP:
        h = hash_bytes(h, &v->value.v_timestamp.timestamp, 4);
        return hash_bytes(h, &v->value.v_timestamp.increment, 4);
    case BSON_TYPE_BINARY:
        return hash_bytes(h, v->value.v_binary.data, v->value.v_binary.data_len);
    case BSON_TYPE_REGEX:
        return hash_bytes(h, v->value.v_regex.regex, strlen(v->value.v_regex.regex));
    default:
        return h; /* equal-compare rest share a rank; collisions are only slower */
    }
}

uint64_t agg_val_hash(const bson_value_t *v) { return hash_value(14695981039346656037ULL, v); }

void agg_val_copy(bson_value_t *dst, const bson_value_t *src)
{
    if (src->value_type == BSON_TYPE_EOD) {
        agg_val_missing(dst);
        return;
    }
    bson_value_copy(src, dst);
}

void agg_val_null(bson_value_t *v)
{
    agg_val_missing(v);
    v->value_type = BSON_TYPE_NULL;
}

void agg_val_bool(bson_value_t *v, bool b)
{
    agg_val_missing(v);
    v->value_type = BSON_TYPE_BOOL;
    v->value.v_bool = b;
}

void agg_val_int32(bson_value_t *v, int32_t i)
{
    agg_val_missing(v);
    v->value_type = BSON_TYPE_INT32;
    v->value.v_int32 = i;
}

void agg_val_int64(bson_value_t *v, int64_t i)
{
    agg_val_missing(v);
    v->value_type = BSON_TYPE_INT64;
    v->value.v_int64 = i;
}

void agg_val_int(bson_value_t *v, int64_t i)
{
    if (i >= INT32_MIN && i <= INT32_MAX)
        agg_val_int32(v, (int32_t)i);
    else
        agg_val_int64(v, i);
}

void agg_val_double(bson_value_t *v, double d)
{
    agg_val_missing(v);
    v->value_type = BSON_TYPE_DOUBLE;
    v->value.v_double = d;
}

void agg_val_date(bson_value_t *v, int64_t ms)
{
    agg_val_missing(v);
    v->value_type = BSON_TYPE_DATE_TIME;
    v->value.v_datetime = ms;
}

void agg_val_utf8(bson_value_t *v, const char *s, size_t len)
{
    agg_val_missing(v);
    v->value_type = BSON_TYPE_UTF8;
    v->value.v_utf8.str = bson_malloc(len + 1);
    memcpy(v->value.v_utf8.str, s, len);
    v->value.v_utf8.str[len] = '\0';
    v->value.v_utf8.len = (uint32_t)len;
}

void agg_val_take_bson(bson_value_t *v, bson_t *b, bool is_array)
{
    uint32_t len = 0;
    agg_val_missing(v);
    v->value_type = is_array ? BSON_TYPE_ARRAY : BSON_TYPE_DOCUMENT;
    v->value.v_doc.data = bson_destroy_with_steal(b, true, &len);
    v->value.v_doc.data_len = len;
}

void agg_val_view_doc(bson_value_t *v, const bson_t *b)
{
    agg_val_missing(v);
    v->value_type = BSON_TYPE_DOCUMENT;
    v->value.v_doc.data = (uint8_t *)bson_get_data(b);
    v->value.v_doc.data_len = b->len;
}

const char *agg_val_type_name(const bson_value_t *v)
{
    return bsonutil_type_name(v->value_type);
}

bool agg_val_is_number(const bson_value_t *v)
{
    return v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64 ||
           v->value_type == BSON_TYPE_DOUBLE || v->value_type == BSON_TYPE_DECIMAL128;
}

double agg_val_to_double(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_INT32: return v->value.v_int32;
    case BSON_TYPE_INT64: return (double)v->value.v_int64;
    case BSON_TYPE_DOUBLE: return v->value.v_double;
    case BSON_TYPE_DECIMAL128: {
        char buf[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(&v->value.v_decimal128, buf);
        if (strcmp(buf, "NaN") == 0)
            return NAN;
        if (strcmp(buf, "Infinity") == 0)
            return INFINITY;
        if (strcmp(buf, "-Infinity") == 0)
            return -INFINITY;
        return strtod(buf, NULL);
    }
    default: return 0.0;
    }
}

bool agg_val_to_int64_exact(const bson_value_t *v, int64_t *out)
{
    switch (v->value_type) {
    case BSON_TYPE_INT32: *out = v->value.v_int32; return true;
    case BSON_TYPE_INT64: *out = v->value.v_int64; return true;
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: {
        double d = agg_val_to_double(v);
        /* 2^63 is the first double above INT64_MAX */
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != trunc(d))
            return false;
        *out = (int64_t)d;
        return true;
    }
    default: return false;
    }
}

void agg_val_append(bson_t *out, const char *key, size_t key_len, const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_EOD)
        return;
    bson_append_value(out, key, (int)key_len, v);
}

void agg_vals_init(struct agg_vals *a) { memset(a, 0, sizeof *a); }

void agg_vals_push(struct agg_vals *a, const bson_value_t *v)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = *v;
}

void agg_vals_destroy_owned(struct agg_vals *a)
{
    for (size_t i = 0; i < a->n; i++)
        bson_value_destroy(&a->v[i]);
    agg_vals_free(a);
}

void agg_vals_free(struct agg_vals *a)
{
    free(a->v);
    agg_vals_init(a);
}
