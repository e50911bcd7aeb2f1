/* agg_expr_str.c - string expression operators.
 *
 * $concat $toLower $toUpper $substr/$substrBytes $substrCP $strLenBytes
 * $strLenCP $split $trim $ltrim $rtrim $indexOfBytes $strcasecmp. Strings
 * are UTF-8; byte offsets that would cut a code point are refused, as mongod
 * refuses them. Case mapping is ASCII-only, as in mongod. */
#include "query/agg_internal.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

static bool is_continuation(unsigned char ch) { return (ch & 0xC0) == 0x80; }

static size_t utf8_len_cp(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!is_continuation((unsigned char)s[i]))
            n++;
    return n;
}

static int op_concat(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    size_t total = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (agg_val_is_nullish(&a->v[i])) {
            agg_val_null(out);
            return 0;
        }
        if (a->v[i].value_type != BSON_TYPE_UTF8)
            return err_set(e, ERR_TYPE_MISMATCH, "%s only supports strings, not %s", op,
                           agg_val_type_name(&a->v[i]));
        total += a->v[i].value.v_utf8.len;
    }
    char *buf = xmalloc(total + 1);
    size_t pos = 0;
    for (size_t i = 0; i < a->n; i++) {
        memcpy(buf + pos, a->v[i].value.v_utf8.str, a->v[i].value.v_utf8.len);
        pos += a->v[i].value.v_utf8.len;
    }
    agg_val_utf8(out, buf, total);
    free(buf);
    return 0;
}

static int op_case(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    bool is_upper = strcmp(op, "$toUpper") == 0;
    if (agg_val_is_nullish(&a->v[0])) {
        agg_val_utf8(out, "", 0);
        return 0;
    }
    char *s = agg_val_to_string(op, &a->v[0], e);
    if (s == NULL)
        return -e->code;
    for (char *p = s; *p; p++) {
        if (is_upper && *p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
        else if (!is_upper && *p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    agg_val_utf8(out, s, strlen(s));
    free(s);
    return 0;
}

static int int_arg(const char *op, const char *what, const bson_value_t *v, int64_t *out, struct err *e)
{
    if (!agg_val_is_number(v))
        return err_set(e, ERR_TYPE_MISMATCH, "%s: %s must be a numeric type (is BSON type %s)", op, what,
                       agg_val_type_name(v));
    double d = agg_val_to_double(v);
    *out = d < -9.2e18 ? INT64_MIN : d > 9.2e18 ? INT64_MAX : (int64_t)d;
    return 0;
}

/* $substr/$substrBytes: [string, start, length]; a negative length means
 * "to the end"; the cut may not split a UTF-8 code point. */
static int op_substr_bytes(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                           struct err *e)
{
    (void)c;
    int64_t start, count;
    if (agg_val_is_nullish(&a->v[0])) {
        agg_val_utf8(out, "", 0);
        return 0;
    }
    char *s = agg_val_to_string(op, &a->v[0], e);
    if (s == NULL)
        return -e->code;
    int rc = int_arg(op, "starting index", &a->v[1], &start, e);
    if (rc == 0)
        rc = int_arg(op, "length", &a->v[2], &count, e);
    if (rc < 0) {
        free(s);
        return rc;
    }
    size_t len = strlen(s);
    if (a->v[1].value_type != BSON_TYPE_DOUBLE && start < 0) {
        free(s);
        return err_set(e, ERR_BAD_VALUE, "%s: starting index must be non-negative (got: %lld)", op,
                       (long long)start);
    }
    size_t from = start < 0 ? 0 : (size_t)start > len ? len : (size_t)start;
    size_t n = count < 0 || (size_t)count > len - from ? len - from : (size_t)count;
    if (from < len && is_continuation((unsigned char)s[from])) {
        free(s);
        return err_set(e, ERR_BAD_VALUE, "%s:  Invalid range, starting index is a UTF-8 continuation byte.", op);
    }
    if (from + n < len && is_continuation((unsigned char)s[from + n])) {
        free(s);
        return err_set(e, ERR_BAD_VALUE, "%s:  Invalid range, ending index is in the middle of a UTF-8 character.",
                       op);
    }
    agg_val_utf8(out, s + from, n);
    free(s);
    return 0;
}

static int op_substr_cp(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                        struct err *e)
{
    (void)c;
    int64_t start, count;
    if (agg_val_is_nullish(&a->v[0])) {
        agg_val_utf8(out, "", 0);
        return 0;
    }
    char *s = agg_val_to_string(op, &a->v[0], e);
    if (s == NULL)
        return -e->code;
    int rc = int_arg(op, "starting index", &a->v[1], &start, e);
    if (rc == 0)
        rc = int_arg(op, "length", &a->v[2], &count, e);
    if (rc == 0 && (start < 0 || count < 0))
        rc = err_set(e, ERR_BAD_VALUE, "%s: %s must be non-negative", op, start < 0 ? "starting index" : "length");
    if (rc < 0) {
        free(s);
        return rc;
    }
    size_t len = strlen(s), pos = 0, from;
    for (int64_t i = 0; i < start && pos < len; i++)
        for (pos++; pos < len && is_continuation((unsigned char)s[pos]); pos++)
            ;
    from = pos;
    for (int64_t i = 0; i < count && pos < len; i++)
        for (pos++; pos < len && is_continuation((unsigned char)s[pos]); pos++)
            ;
    agg_val_utf8(out, s + from, pos - from);
    free(s);
    return 0;
}

static int op_strlen(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    const bson_value_t *v = &a->v[0];
    if (v->value_type != BSON_TYPE_UTF8)
        return err_set(e, ERR_TYPE_MISMATCH, "%s requires a string argument, found: %s", op, agg_val_type_name(v));
    size_t n = strcmp(op, "$strLenCP") == 0 ? utf8_len_cp(v->value.v_utf8.str, v->value.v_utf8.len)
                                            : v->value.v_utf8.len;
    agg_val_int(out, (int64_t)n);
    return 0;
}

static int op_split(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)c;
    const bson_value_t *s = &a->v[0], *d = &a->v[1];
    if (agg_val_is_nullish(s) || agg_val_is_nullish(d)) {
        agg_val_null(out);
        return 0;
    }
    if (s->value_type != BSON_TYPE_UTF8)
        return err_set(e, ERR_TYPE_MISMATCH,
                       "%s requires an expression that evaluates to a string as a first argument, found: %s", op,
                       agg_val_type_name(s));
    if (d->value_type != BSON_TYPE_UTF8)
        return err_set(e, ERR_TYPE_MISMATCH,
                       "%s requires an expression that evaluates to a string as a second argument, found: %s", op,
                       agg_val_type_name(d));
    if (d->value.v_utf8.len == 0)
        return err_set(e, ERR_BAD_VALUE, "%s requires a non-empty separator", op);
    bson_t arr = BSON_INITIALIZER;
    const char *p = s->value.v_utf8.str, *end = p + s->value.v_utf8.len;
    uint32_t n = 0;
    for (;;) {
        const char *hit = memmem(p, (size_t)(end - p), d->value.v_utf8.str, d->value.v_utf8.len);
        const char *stop = hit ? hit : end;
        char key[16];
        const char *k;
        size_t klen = bson_uint32_to_string(n++, &k, key, sizeof key);
        bson_append_utf8(&arr, k, (int)klen, p, (int)(stop - p));
        if (hit == NULL)
            break;
        p = hit + d->value.v_utf8.len;
    }
    agg_val_take_bson(out, &arr, true);
    return 0;
}

/* Default trim set: mongod's whitespace list (ASCII part plus NBSP etc.). */
static const char *const default_ws[] = {" ",  "\t", "\n", "\v", "\f", "\r", "\xc2\xa0", "\xe2\x80\x80",
                                         "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84",
                                         "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88",
                                         "\xe2\x80\x89", "\xe2\x80\x8a", "\0", NULL};

static size_t cp_len(const char *s, size_t avail)
{
    size_t n = 1;
    while (n < avail && is_continuation((unsigned char)s[n]))
        n++;
    return n;
}

/* True when the code point at s (length n) is in the trim set. */
static bool in_trim_set(const char *s, size_t n, const char *chars, size_t chars_len)
{
    if (chars == NULL) {
        for (size_t i = 0; default_ws[i] != NULL; i++) {
            size_t wl = default_ws[i][0] ? strlen(default_ws[i]) : 1;
            if (wl == n && memcmp(default_ws[i], s, n) == 0)
                return true;
        }
        return false;
    }
    for (size_t i = 0; i < chars_len;) {
        size_t l = cp_len(chars + i, chars_len - i);
        if (l == n && memcmp(chars + i, s, n) == 0)
            return true;
        i += l;
    }
    return false;
}

static int op_trim(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                   struct err *e)
{
    static const char *const names[] = {"input", "chars", NULL};
    bson_value_t a[2], input, chars;
    int rc = agg_named_args(op, arg, names, a, e);
    if (rc < 0)
        return rc;
    if (agg_val_is_missing(&a[0]))
        return err_set(e, ERR_FAILED_TO_PARSE, "%s requires an 'input' parameter", op);
    rc = agg_expr_eval(&a[0], c, &input, e);
    if (rc < 0)
        return rc;
    rc = agg_expr_eval(&a[1], c, &chars, e);
    if (rc < 0) {
        bson_value_destroy(&input);
        return rc;
    }
    if (agg_val_is_nullish(&input) || (!agg_val_is_missing(&a[1]) && agg_val_is_nullish(&chars))) {
        agg_val_null(out);
        goto done;
    }
    if (input.value_type != BSON_TYPE_UTF8) {
        rc = err_set(e, ERR_TYPE_MISMATCH, "%s requires its input to be a string, got %s instead.", op,
                     agg_val_type_name(&input));
        goto done;
    }
    if (!agg_val_is_missing(&chars) && chars.value_type != BSON_TYPE_UTF8) {
        rc = err_set(e, ERR_TYPE_MISMATCH,
                     "%s requires 'chars' to be a string, got %s instead.", op, agg_val_type_name(&chars));
        goto done;
    }
    const char *cs = agg_val_is_missing(&chars) ? NULL : chars.value.v_utf8.str;
    size_t cs_len = cs ? chars.value.v_utf8.len : 0;
    const char *s = input.value.v_utf8.str;
    size_t len = input.value.v_utf8.len, from = 0, to = len;
    if (strcmp(op, "$rtrim") != 0) {
        while (from < len) {
            size_t l = cp_len(s + from, len - from);
            if (!in_trim_set(s + from, l, cs, cs_len))
                break;
            from += l;
        }
    }
    if (strcmp(op, "$ltrim") != 0) {
        while (to > from) {
            size_t start = to - 1;
            while (start > from && is_continuation((unsigned char)s[start]))
                start--;
            if (!in_trim_set(s + start, to - start, cs, cs_len))
                break;
            to = start;
        }
    }
    agg_val_utf8(out, s + from, to - from);
done:
    bson_value_destroy(&input);
    bson_value_destroy(&chars);
    return rc;
}

static int op_index_of_bytes(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                             struct err *e)
{
    (void)c;
    const bson_value_t *s = &a->v[0], *t = &a->v[1];
    if (agg_val_is_nullish(s)) {
        agg_val_null(out);
        return 0;
    }
    if (s->value_type != BSON_TYPE_UTF8)
        return err_set(e, ERR_TYPE_MISMATCH, "%s requires a string as the first argument, found: %s", op,
                       agg_val_type_name(s));
    if (t->value_type != BSON_TYPE_UTF8)
        return err_set(e, ERR_TYPE_MISMATCH, "%s requires a string as the second argument, found: %s", op,
                       agg_val_type_name(t));
    int64_t start = 0, end = s->value.v_utf8.len;
    if (a->n > 2 && (!agg_val_to_int64_exact(&a->v[2], &start) || start < 0))
        return err_set(e, ERR_BAD_VALUE, "%s starting index must be a non-negative integral number", op);
    if (a->n > 3 && (!agg_val_to_int64_exact(&a->v[3], &end) || end < 0))
        return err_set(e, ERR_BAD_VALUE, "%s ending index must be a non-negative integral number", op);
    if (end > (int64_t)s->value.v_utf8.len)
        end = s->value.v_utf8.len;
    if (start > end) {
        agg_val_int32(out, -1);
        return 0;
    }
    const char *base = s->value.v_utf8.str;
    const char *hit = memmem(base + start, (size_t)(end - start), t->value.v_utf8.str, t->value.v_utf8.len);
    agg_val_int(out, hit ? (int64_t)(hit - base) : -1);
    return 0;
}

static int op_strcasecmp(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out,
                         struct err *e)
{
    (void)c;
    char *l = agg_val_is_nullish(&a->v[0]) ? xstrdup("") : agg_val_to_string(op, &a->v[0], e);
    if (l == NULL)
        return -e->code;
    char *r = agg_val_is_nullish(&a->v[1]) ? xstrdup("") : agg_val_to_string(op, &a->v[1], e);
    if (r == NULL) {
        free(l);
        return -e->code;
    }
    int cmp = strcasecmp(l, r);
    agg_val_int32(out, cmp < 0 ? -1 : cmp > 0 ? 1 : 0);
    free(l);
    free(r);
    return 0;
}

const struct agg_op agg_ops_str[] = {
    {"$concat", op_concat, NULL, 0, -1},
    {"$indexOfBytes", op_index_of_bytes, NULL, 2, 4},
    {"$ltrim", NULL, op_trim, 0, -1},
    {"$rtrim", NULL, op_trim, 0, -1},
    {"$split", op_split, NULL, 2, 2},
    {"$strLenBytes", op_strlen, NULL, 1, 1},
    {"$strLenCP", op_strlen, NULL, 1, 1},
    {"$strcasecmp", op_strcasecmp, NULL, 2, 2},
    {"$substr", op_substr_bytes, NULL, 3, 3},
    {"$substrBytes", op_substr_bytes, NULL, 3, 3},
    {"$substrCP", op_substr_cp, NULL, 3, 3},
    {"$toLower", op_case, NULL, 1, 1},
    {"$toUpper", op_case, NULL, 1, 1},
    {"$trim", NULL, op_trim, 0, -1},
    {NULL, NULL, NULL, 0, 0},
};
