/* bsonval.c - MongoDB's total order over BSON values, and dotted-path lookup.
 *
 * Owns the comparison every other query module relies on (matcher, sort,
 * index keys via keyenc, which must agree with it exactly) and the two ways
 * of following a dotted path: literal (get_path) and the matcher's array-
 * expanding walk (walk_path). Guarantees a total order: numbers compare by
 * exact value across int32/int64/double (no rounding through double beyond
 * 2^53), NaN equals NaN and sorts below every other number, -0 == 0.
 * Decimal128 is approximated by converting to double (so two decimals that
 * differ beyond double precision compare equal); undefined sorts just below
 * null, as in mongod. */
#include "query/bsonval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Ranks follow mongod's canonical type order; numbers share one rank and
 * string/symbol share another. */
int bsonval_type_rank(bson_type_t type)
{
    switch (type) {
    case BSON_TYPE_MINKEY: return 0;
    case BSON_TYPE_UNDEFINED: return 1;
    case BSON_TYPE_EOD:
    case BSON_TYPE_NULL: return 2;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: return 3;
    case BSON_TYPE_UTF8:
    case BSON_TYPE_SYMBOL: return 4;
    case BSON_TYPE_DOCUMENT: return 5;
    case BSON_TYPE_ARRAY: return 6;
    case BSON_TYPE_BINARY: return 7;
    case BSON_TYPE_OID: return 8;
    case BSON_TYPE_BOOL: return 9;
    case BSON_TYPE_DATE_TIME: return 10;
    case BSON_TYPE_TIMESTAMP: return 11;
    case BSON_TYPE_REGEX: return 12;
    case BSON_TYPE_DBPOINTER: return 13;
    case BSON_TYPE_CODE: return 14;
    case BSON_TYPE_CODEWSCOPE: return 15;
    case BSON_TYPE_MAXKEY: return 16;
    }
    return 2;
}

bool bsonval_is_number(const bson_value_t *v)
{
    return v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64 ||
           v->value_type == BSON_TYPE_DOUBLE || v->value_type == BSON_TYPE_DECIMAL128;
}

static double decimal_to_double(const bson_decimal128_t *d)
{
    char buf[BSON_DECIMAL128_STRING];
    bson_decimal128_to_string(d, buf);
    /* strtod understands "NaN", "Infinity" and "-Infinity" as printed here. */
    return strtod(buf, NULL);
}

double bsonval_as_double(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_INT32: return v->value.v_int32;
    case BSON_TYPE_INT64: return (double)v->value.v_int64;
    case BSON_TYPE_DOUBLE: return v->value.v_double;
    case BSON_TYPE_DECIMAL128: return decimal_to_double(&v->value.v_decimal128);
    default: return 0;
    }
}

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }
static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b ? 1 : 0; }

static int cmp_double(double a, double b)
{
    if (isnan(a))
        return isnan(b) ? 0 : -1;
    if (isnan(b))
        return 1;
    return a < b ? -1 : a > b ? 1 : 0;
}

/* Exact int64 vs double: split the double into its integer part (exact for
 * |d| < 2^63) and the sign of its fraction instead of rounding a to double. */
static int cmp_i64_double(int64_t a, double d)
{
    if (isnan(d))
        return 1;
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double t = trunc(d);
    int64_t ti = (int64_t)t;
    if (a != ti)
        return a < ti ? -1 : 1;
    double frac = d - t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static bool number_is_integral(const bson_value_t *v, int64_t *i)
{
    if (v->value_type == BSON_TYPE_INT32) {
        *i = v->value.v_int32;
        return true;
    }
    if (v->value_type == BSON_TYPE_INT64) {
        *i = v->value.v_int64;
        return true;
    }
    return false;
}

static int compare_numbers(const bson_value_t *a, const bson_value_t *b)
{
    int64_t ia, ib;
    bool a_int = number_is_integral(a, &ia), b_int = number_is_integral(b, &ib);
    if (a_int && b_int)
        return cmp_i64(ia, ib);
    if (a_int)
        return cmp_i64_double(ia, bsonval_as_double(b));
    if (b_int)
        return -cmp_i64_double(ib, bsonval_as_double(a));
    return cmp_double(bsonval_as_double(a), bsonval_as_double(b));
}

static int compare_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int compare_cstr(const char *a, const char *b)
{
    return compare_bytes(a, strlen(a), b, strlen(b));
}

static void string_of(const bson_value_t *v, const char **s, size_t *len)
{
    if (v->value_type == BSON_TYPE_SYMBOL) {
        *s = v->value.v_symbol.symbol;
        *len = v->value.v_symbol.len;
    } else {
        *s = v->value.v_utf8.str;
        *len = v->value.v_utf8.len;
    }
}

/* Objects: element by element (type rank, field name, value); arrays are
 * the same with ignored names, which equals element-wise comparison. */
static int compare_docs(const uint8_t *ad, uint32_t alen, const uint8_t *bd, uint32_t blen, bool is_array)
{
    bson_iter_t ia, ib;
    bool a_ok = bson_iter_init_from_data(&ia, ad, alen);
    bool b_ok = bson_iter_init_from_data(&ib, bd, blen);
    if (!a_ok || !b_ok)
        return a_ok == b_ok ? 0 : a_ok ? 1 : -1;
    for (;;) {
        bool an = bson_iter_next(&ia), bn = bson_iter_next(&ib);
        if (!an || !bn)
            return an == bn ? 0 : an ? 1 : -1;
        int ra = bsonval_type_rank(bson_iter_type(&ia)), rb = bsonval_type_rank(bson_iter_type(&ib));
        if (ra != rb)
            return ra < rb ? -1 : 1;
        if (!is_array) {
            int c = compare_bytes(bson_iter_key(&ia), bson_iter_key_len(&ia), bson_iter_key(&ib),
                                  bson_iter_key_len(&ib));
            if (c)
                return c;
        }
        int c = bsonval_compare(bson_iter_value(&ia), bson_iter_value(&ib));
        if (c)
            return c;
    }
}

int bsonval_compare(const bson_value_t *a, const bson_value_t *b)
{
    int ra = bsonval_type_rank(a->value_type), rb = bsonval_type_rank(b->value_type);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (a->value_type) {
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_DECIMAL128: return compare_numbers(a, b);
    case BSON_TYPE_UTF8:
    case BSON_TYPE_SYMBOL: {
        const char *sa, *sb;
        size_t la, lb;
        string_of(a, &sa, &la);
        string_of(b, &sb, &lb);
        return compare_bytes(sa, la, sb, lb);
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY:
        return compare_docs(a->value.v_doc.data, a->value.v_doc.data_len, b->value.v_doc.data,
                            b->value.v_doc.data_len, a->value_type == BSON_TYPE_ARRAY);
    case BSON_TYPE_BINARY: {
        /* Length first, then subtype, then bytes (mongod's binData order). */
        int c = cmp_u64(a->value.v_binary.data_len, b->value.v_binary.data_len);
        if (c)
            return c;
        c = cmp_u64((uint8_t)a->value.v_binary.subtype, (uint8_t)b->value.v_binary.subtype);
        if (c)
            return c;
        return compare_bytes(a->value.v_binary.data, a->value.v_binary.data_len, b->value.v_binary.data,
                             b->value.v_binary.data_len);
    }
    case BSON_TYPE_OID: return compare_bytes(a->value.v_oid.bytes, 12, b->value.v_oid.bytes, 12);
    case BSON_TYPE_BOOL: return cmp_i64(a->value.v_bool ? 1 : 0, b->value.v_bool ? 1 : 0);
    case BSON_TYPE_DATE_TIME: return cmp_i64(a->value.v_datetime, b->value.v_datetime);
    case BSON_TYPE_TIMESTAMP: {
        int c = cmp_u64(a->value.v_timestamp.timestamp, b->value.v_timestamp.timestamp);
        return c ? c : cmp_u64(a->value.v_timestamp.increment, b->value.v_timestamp.increment);
    }
    case BSON_TYPE_REGEX: {
        int c = compare_cstr(a->value.v_regex.regex, b->value.v_regex.regex);
        return c ? c : compare_cstr(a->value.v_regex.options, b->value.v_regex.options);
    }
    case BSON_TYPE_DBPOINTER: {
        int c = compare_bytes(a->value.v_dbpointer.collection, a->value.v_dbpointer.collection_len,
                              b->value.v_dbpointer.collection, b->value.v_dbpointer.collection_len);
        return c ? c : compare_bytes(a->value.v_dbpointer.oid.bytes, 12, b->value.v_dbpointer.oid.bytes, 12);
    }
    case BSON_TYPE_CODE:
        return compare_bytes(a->value.v_code.code, a->value.v_code.code_len, b->value.v_code.code,
                             b->value.v_code.code_len);
    case BSON_TYPE_CODEWSCOPE: {
        int c = compare_bytes(a->value.v_codewscope.code, a->value.v_codewscope.code_len,
                              b->value.v_codewscope.code, b->value.v_codewscope.code_len);
        if (c)
            return c;
        return compare_docs(a->value.v_codewscope.scope_data, a->value.v_codewscope.scope_len,
                            b->value.v_codewscope.scope_data, b->value.v_codewscope.scope_len, false);
    }
    default: return 0; /* MinKey, MaxKey, null, undefined: one value each */
    }
}

int bsondoc_compare(const bson_t *a, const bson_t *b)
{
    return compare_docs(bson_get_data(a), a->len, bson_get_data(b), b->len, false);
}

/* A path component indexes an array when it is a canonical decimal number. */
static bool component_index(const char *comp, size_t len, uint32_t *index)
{
    if (len == 0 || len > 9 || (len > 1 && comp[0] == '0'))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (comp[i] < '0' || comp[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(comp[i] - '0');
    }
    *index = v;
    return true;
}

static size_t component_len(const char *path)
{
    const char *dot = strchr(path, '.');
    return dot ? (size_t)(dot - path) : strlen(path);
}

bool bsonval_get_path(const bson_t *doc, const char *path, bson_value_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return false;
    for (;;) {
        size_t n = component_len(path);
        if (!bson_iter_find_w_len(&it, path, (int)n))
            return false;
        if (path[n] == '\0') {
            *out = *bson_iter_value(&it);
            return true;
        }
        path += n + 1;
        bson_type_t t = bson_iter_type(&it);
        if (t != BSON_TYPE_DOCUMENT && t != BSON_TYPE_ARRAY)
            return false;
        bson_iter_t child;
        if (!bson_iter_recurse(&it, &child))
            return false;
        it = child;
        if (t == BSON_TYPE_ARRAY) {
            /* Inside an array only numeric components make sense. */
            uint32_t idx;
            if (!component_index(path, component_len(path), &idx))
                return false;
        }
    }
}

struct walk {
    bsonval_visit_ex_cb cb;
    void *arg;
    bool is_reporting_missing;
    bool is_stopped;
    int n_visited;
};

static void walk_emit(struct walk *w, const bson_value_t *v, int array_index)
{
    if (w->is_stopped)
        return;
    if (v)
        w->n_visited++;
    else if (!w->is_reporting_missing)
        return;
    if (!w->cb(v, array_index, w->arg))
        w->is_stopped = true;
}

static void walk_doc(struct walk *w, const uint8_t *data, uint32_t len, const char *path, int array_index);

/* Follows the rest of `path` below value v. */
static void walk_value(struct walk *w, const bson_value_t *v, const char *path, int array_index)
{
    if (w->is_stopped)
        return;
    if (*path == '\0') {
        walk_emit(w, v, array_index);
        return;
    }
    if (v->value_type == BSON_TYPE_DOCUMENT) {
        walk_doc(w, v->value.v_doc.data, v->value.v_doc.data_len, path, array_index);
        return;
    }
    if (v->value_type != BSON_TYPE_ARRAY) {
        walk_emit(w, NULL, array_index);
        return;
    }
    size_t n = component_len(path);
    uint32_t want;
    bool is_index = component_index(path, n, &want);
    const char *after = path[n] ? path + n + 1 : path + n;
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
        return;
    int i = 0;
    while (bson_iter_next(&it) && !w->is_stopped) {
        const bson_value_t *e = bson_iter_value(&it);
        int idx = array_index >= 0 ? array_index : i;
        if (is_index && (uint32_t)i == want)
            walk_value(w, e, after, idx);
        /* Subdocuments of an array are searched for the field; nested
         * arrays are not (mongod does not match {a: [[{b: 1}]]} on a.b). */
        if (e->value_type == BSON_TYPE_DOCUMENT)
            walk_doc(w, e->value.v_doc.data, e->value.v_doc.data_len, path, idx);
        i++;
    }
}

static void walk_doc(struct walk *w, const uint8_t *data, uint32_t len, const char *path, int array_index)
{
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, data, len))
        return;
    size_t n = component_len(path);
    if (!bson_iter_find_w_len(&it, path, (int)n)) {
        walk_emit(w, NULL, array_index);
        return;
    }
    walk_value(w, bson_iter_value(&it), path[n] ? path + n + 1 : path + n, array_index);
}

int bsonval_walk_path_ex(const bson_t *doc, const char *path, bool is_reporting_missing, bsonval_visit_ex_cb cb,
                         void *arg)
{
    struct walk w = {cb, arg, is_reporting_missing, false, 0};
    walk_doc(&w, bson_get_data(doc), doc->len, path, -1);
    return w.n_visited;
}

struct walk_plain {
    bsonval_visit_cb cb;
    void *arg;
};

static bool walk_plain_cb(const bson_value_t *v, int array_index, void *arg)
{
    (void)array_index;
    struct walk_plain *p = arg;
    return p->cb(v, p->arg);
}

int bsonval_walk_path(const bson_t *doc, const char *path, bsonval_visit_cb cb, void *arg)
{
    struct walk_plain p = {cb, arg};
    return bsonval_walk_path_ex(doc, path, false, walk_plain_cb, &p);
}
