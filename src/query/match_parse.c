/* match_parse.c - turns a query filter into the matcher tree (match_int.h).
 *
 * Owns validation of the filter language: every operator is checked once
 * here, with mongod's error messages, so evaluation (match_eval.c) never
 * fails. Regular expressions are compiled with PCRE2 at this point. Also
 * answers the planner's questions (matcher_bounds_for_path,
 * matcher_is_id_point) from the parsed tree. */
#include "query/match_int.h"

#include "core/mem.h"
#include "query/agg.h"
#include "query/bsonval.h"

#include <math.h>
#include <string.h>

static struct mnode *node_new(enum mnode_kind kind, const char *path)
{
    struct mnode *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    n->path = path;
    return n;
}

static void node_add(struct mnode *parent, struct mnode *child)
{
    parent->children = xrealloc(parent->children, sizeof *parent->children * (size_t)(parent->n_children + 1));
    parent->children[parent->n_children++] = child;
}

static struct mnode *node_not(struct mnode *child)
{
    struct mnode *n = node_new(MN_NOT, child->path);
    node_add(n, child);
    return n;
}

void mnode_free(struct mnode *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->n_children; i++)
        mnode_free(n->children[i]);
    free(n->children);
    free(n->in_values);
    for (int i = 0; i < n->n_in_regexes; i++)
        pcre2_code_free(n->in_regexes[i]);
    free(n->in_regexes);
    if (n->re)
        pcre2_code_free(n->re);
    free(n->re_pattern);
    free(n->re_flags);
    free(n->bit_positions);
    free(n);
}

static bool is_operator_object(const bson_value_t *v)
{
    if (v->value_type != BSON_TYPE_DOCUMENT)
        return false;
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) || !bson_iter_next(&it))
        return false;
    const char *k = bson_iter_key(&it);
    /* DBRef-shaped objects ({$ref, $id}) are values, not operators. */
    return k[0] == '$' && strcmp(k, "$ref") != 0 && strcmp(k, "$id") != 0 && strcmp(k, "$db") != 0;
}

static int compile_regex(const char *pattern, const char *flags, pcre2_code **out, struct err *e)
{
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    for (const char *f = flags; *f; f++) {
        switch (*f) {
        case 'i': opts |= PCRE2_CASELESS; break;
        case 'm': opts |= PCRE2_MULTILINE; break;
        case 's': opts |= PCRE2_DOTALL; break;
        case 'x': opts |= PCRE2_EXTENDED; break;
        case 'u': break; /* mongod accepts u; UTF-8 is always on */
        /* mongod code 51108 */
        default: return err_set(e, ERR_BAD_VALUE, "invalid flag in regex options: %c", *f);
        }
    }
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &errcode, &erroff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        /* mongod code 51091 */
        return err_set(e, ERR_BAD_VALUE, "Regular expression is invalid: %s", (const char *)msg);
    }
    *out = re;
    return 0;
}

static int regex_node(const char *path, const char *pattern, const char *flags, struct mnode **out, struct err *e)
{
    pcre2_code *re;
    int rc = compile_regex(pattern, flags, &re, e);
    if (rc)
        return rc;
    struct mnode *n = node_new(MN_REGEX, path);
    n->re = re;
    n->re_pattern = xstrdup(pattern);
    n->re_flags = xstrdup(flags);
    n->value.value_type = BSON_TYPE_REGEX;
    n->value.value.v_regex.regex = n->re_pattern;
    n->value.value.v_regex.options = n->re_flags;
    *out = n;
    return 0;
}

/* allow_expr is false inside $elemMatch: $expr sees only the whole document. */
static int parse_filter(const uint8_t *data, uint32_t len, struct mnode *and_node, int depth, bool allow_expr,
                        struct err *e);
static int parse_ops(const char *path, const bson_value_t *ops, struct mnode *and_node, int depth, struct err *e);

static int check_depth(int depth, struct err *e)
{
    /* mongod limits expression nesting to 100 levels. */
    if (depth > 100)
        return err_set(e, ERR_BAD_VALUE, "exceeded maximum query tree depth of 100");
    return 0;
}

static int parse_logical(const char *op, const bson_value_t *v, enum mnode_kind kind, struct mnode *parent,
                         int depth, bool allow_expr, struct err *e)
{
    if (v->value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "%s must be an array", op);
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
        return err_set(e, ERR_BAD_VALUE, "%s must be an array", op);
    struct mnode *n = node_new(kind, NULL);
    while (bson_iter_next(&it)) {
        if (bson_iter_type(&it) != BSON_TYPE_DOCUMENT) {
            mnode_free(n);
            return err_set(e, ERR_BAD_VALUE, "%s argument's entries must be objects", op);
        }
        const bson_value_t *c = bson_iter_value(&it);
        struct mnode *child = node_new(MN_AND, NULL);
        int rc = parse_filter(c->value.v_doc.data, c->value.v_doc.data_len, child, depth + 1, allow_expr, e);
        if (rc) {
            mnode_free(child);
            mnode_free(n);
            return rc;
        }
        node_add(n, child);
    }
    if (n->n_children == 0) {
        mnode_free(n);
        return err_set(e, ERR_BAD_VALUE, "%s must be a nonempty array", op);
    }
    node_add(parent, n);
    return 0;
}

static bool is_not_implemented_op(const char *op)
{
    static const char *const ops[] = {"$where",       "$text",  "$geoWithin",  "$geoIntersects", "$near",
                                      "$nearSphere", "$within", "$jsonSchema", "$sampleRate",    NULL};
    for (int i = 0; ops[i]; i++)
        if (strcmp(op, ops[i]) == 0)
            return true;
    return false;
}

/* Parses the fields of a filter document, adding one node per condition to
 * and_node (conditions on one field are flattened into it too). */
static int parse_expr(const bson_value_t *v, bool allow_expr, struct mnode *and_node, struct err *e)
{
    if (!allow_expr)
        return err_set(e, ERR_BAD_VALUE, "$expr can only be applied to the top-level document");
    int rc = agg_expr_check(v, e);
    if (rc < 0)
        return rc;
    struct mnode *n = node_new(MN_EXPR, NULL);
    n->value = *v;
    node_add(and_node, n);
    return 0;
}

static int parse_filter(const uint8_t *data, uint32_t len, struct mnode *and_node, int depth, bool allow_expr,
                        struct err *e)
{
    int rc = check_depth(depth, e);
    if (rc)
        return rc;
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, data, len))
        return err_set(e, ERR_BAD_VALUE, "invalid BSON in filter");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        const bson_value_t *v = bson_iter_value(&it);
        if (key[0] == '$') {
            if (strcmp(key, "$and") == 0)
                rc = parse_logical(key, v, MN_AND, and_node, depth, allow_expr, e);
            else if (strcmp(key, "$or") == 0)
                rc = parse_logical(key, v, MN_OR, and_node, depth, allow_expr, e);
            else if (strcmp(key, "$nor") == 0)
                rc = parse_logical(key, v, MN_NOR, and_node, depth, allow_expr, e);
            else if (strcmp(key, "$comment") == 0)
                rc = 0;
            else if (strcmp(key, "$expr") == 0)
                rc = parse_expr(v, allow_expr, and_node, e);
            else if (is_not_implemented_op(key))
                rc = err_set(e, ERR_NOT_IMPLEMENTED, "%s is not supported by this server", key);
            else
                rc = err_set(e, ERR_BAD_VALUE,
                             "unknown top level operator: %s. If you have a field name that starts with a '$' "
                             "symbol, consider using $getField or $setField.",
                             key);
        } else if (is_operator_object(v)) {
            rc = parse_ops(key, v, and_node, depth, e);
        } else if (v->value_type == BSON_TYPE_REGEX) {
            struct mnode *n;
            rc = regex_node(key, v->value.v_regex.regex, v->value.v_regex.options, &n, e);
            if (rc == 0)
                node_add(and_node, n);
        } else if (v->value_type == BSON_TYPE_UNDEFINED) {
            rc = err_set(e, ERR_BAD_VALUE, "cannot compare to undefined");
        } else {
            struct mnode *n = node_new(MN_EQ, key);
            n->value = *v;
            node_add(and_node, n);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_in(const char *path, const char *op, const bson_value_t *v, struct mnode **out, struct err *e)
{
    if (v->value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "%s needs an array", op);
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
        return err_set(e, ERR_BAD_VALUE, "%s needs an array", op);
    struct mnode *n = node_new(MN_IN, path);
    n->value = *v;
    while (bson_iter_next(&it)) {
        const bson_value_t *x = bson_iter_value(&it);
        if (x->value_type == BSON_TYPE_REGEX) {
            pcre2_code *re;
            int rc = compile_regex(x->value.v_regex.regex, x->value.v_regex.options, &re, e);
            if (rc) {
                mnode_free(n);
                return rc;
            }
            n->in_regexes = xrealloc(n->in_regexes, sizeof *n->in_regexes * (size_t)(n->n_in_regexes + 1));
            n->in_regexes[n->n_in_regexes++] = re;
            continue;
        }
        if (is_operator_object(x)) {
            mnode_free(n);
            return err_set(e, ERR_BAD_VALUE, "cannot nest $ under %s", op);
        }
        if (x->value_type == BSON_TYPE_NULL)
            n->has_null_in = true;
        n->in_values = xrealloc(n->in_values, sizeof *n->in_values * (size_t)(n->n_in_values + 1));
        n->in_values[n->n_in_values++] = *x;
    }
    *out = n;
    return 0;
}

struct type_alias {
    const char *name;
    int bit;
};

static const struct type_alias type_aliases[] = {
    {"double", 1},     {"string", 2},  {"object", 3},      {"array", 4},
    {"binData", 5},    {"undefined", 6}, {"objectId", 7},  {"bool", 8},
    {"date", 9},       {"null", 10},   {"regex", 11},      {"dbPointer", 12},
    {"javascript", 13}, {"symbol", 14}, {"javascriptWithScope", 15}, {"int", 16},
    {"timestamp", 17}, {"long", 18},   {"decimal", 19},    {"minKey", TYPE_BIT_MINKEY},
    {"maxKey", TYPE_BIT_MAXKEY}, {"number", TYPE_BIT_NUMBER}, {NULL, 0},
};

static int type_bit(const bson_value_t *v, int *bit, struct err *e)
{
    if (v->value_type == BSON_TYPE_UTF8) {
        for (int i = 0; type_aliases[i].name; i++) {
            if (strcmp(type_aliases[i].name, v->value.v_utf8.str) == 0) {
                *bit = type_aliases[i].bit;
                return 0;
            }
        }
        return err_set(e, ERR_BAD_VALUE, "Unknown type name alias: %s", v->value.v_utf8.str);
    }
    if (!bsonval_is_number(v))
        return err_set(e, ERR_TYPE_MISMATCH, "type must be represented as a number or a string");
    double d = bsonval_as_double(v);
    if (d != trunc(d))
        return err_set(e, ERR_BAD_VALUE, "Invalid numerical type code: %g", d);
    int code = (int)d;
    if (d == -1) {
        *bit = TYPE_BIT_MINKEY;
        return 0;
    }
    if (d == 127) {
        *bit = TYPE_BIT_MAXKEY;
        return 0;
    }
    if (d < 1 || d > 19)
        return err_set(e, ERR_BAD_VALUE, "Invalid numerical type code: %g", d);
    *bit = code;
    return 0;
}

static int parse_type(const char *path, const bson_value_t *v, struct mnode **out, struct err *e)
{
    uint32_t mask = 0;
    int bit, rc;
    if (v->value_type == BSON_TYPE_ARRAY) {
        bson_iter_t it;
        if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
            return err_set(e, ERR_BAD_VALUE, "invalid $type array");
        while (bson_iter_next(&it)) {
            if ((rc = type_bit(bson_iter_value(&it), &bit, e)))
                return rc;
            mask |= 1u << bit;
        }
    } else {
        if ((rc = type_bit(v, &bit, e)))
            return rc;
        mask = 1u << bit;
    }
    struct mnode *n = node_new(MN_TYPE, path);
    n->type_mask = mask;
    *out = n;
    return 0;
}

static int parse_size(const char *path, const bson_value_t *v, struct mnode **out, struct err *e)
{
    if (!bsonval_is_number(v))
        return err_set(e, ERR_BAD_VALUE, "$size needs a number");
    double d = bsonval_as_double(v);
    if (isnan(d) || d != trunc(d))
        return err_set(e, ERR_BAD_VALUE, "Failed to parse $size. Expected an integer, but found %g", d);
    if (d < 0)
        return err_set(e, ERR_BAD_VALUE, "Failed to parse $size. Expected a non-negative number, but found %g", d);
    struct mnode *n = node_new(MN_SIZE, path);
    n->size = d > 2147483647.0 ? 2147483647 : (int64_t)d;
    *out = n;
    return 0;
}

static int64_t number_to_int64(const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_INT32)
        return v->value.v_int32;
    if (v->value_type == BSON_TYPE_INT64)
        return v->value.v_int64;
    double d = bsonval_as_double(v);
    if (isnan(d))
        return 0;
    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)d;
}

static int parse_mod(const char *path, const bson_value_t *v, struct mnode **out, struct err *e)
{
    if (v->value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "malformed mod, needs to be an array");
    bson_iter_t it;
    /* Copies: bson_iter_value points into the iterator. */
    bson_value_t argv[3];
    const bson_value_t *args[3] = {&argv[0], &argv[1], &argv[2]};
    int n_args = 0;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
        return err_set(e, ERR_BAD_VALUE, "malformed mod, needs to be an array");
    while (bson_iter_next(&it) && n_args < 3)
        argv[n_args++] = *bson_iter_value(&it);
    if (n_args < 2)
        return err_set(e, ERR_BAD_VALUE, "malformed mod, not enough elements");
    if (n_args > 2)
        return err_set(e, ERR_BAD_VALUE, "malformed mod, too many elements");
    if (!bsonval_is_number(args[0]))
        return err_set(e, ERR_BAD_VALUE, "malformed mod, divisor not a number");
    if (!bsonval_is_number(args[1]))
        return err_set(e, ERR_BAD_VALUE, "malformed mod, remainder not a number");
    double dd = bsonval_as_double(args[0]), dr = bsonval_as_double(args[1]);
    if (!isfinite(dd) || !isfinite(dr))
        return err_set(e, ERR_BAD_VALUE, "malformed mod, divisor and remainder must be finite numbers");
    int64_t divisor = number_to_int64(args[0]);
    if (divisor == 0)
        return err_set(e, ERR_BAD_VALUE, "divisor cannot be 0");
    struct mnode *n = node_new(MN_MOD, path);
    n->mod_divisor = divisor;
    n->mod_remainder = number_to_int64(args[1]);
    *out = n;
    return 0;
}

/* $elemMatch's two forms: operators on the element ({$gt: 1}) or a filter
 * over element documents ({b: 1, c: {$gt: 2}}). */
static int parse_elem_match(const char *path, const bson_value_t *v, int depth, struct mnode **out, struct err *e)
{
    if (v->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_BAD_VALUE, "$elemMatch needs an Object");
    bson_iter_t it;
    bool is_value_form = false;
    if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) && bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        is_value_form = k[0] == '$' && strcmp(k, "$and") != 0 && strcmp(k, "$or") != 0 &&
                        strcmp(k, "$nor") != 0 && strcmp(k, "$expr") != 0 && strcmp(k, "$where") != 0 &&
                        strcmp(k, "$text") != 0 && strcmp(k, "$comment") != 0;
    }
    int rc;
    struct mnode *n;
    if (is_value_form) {
        n = node_new(MN_ELEM_VALUE, path);
        rc = parse_ops(NULL, v, n, depth + 1, e);
    } else {
        n = node_new(MN_ELEM_OBJECT, path);
        struct mnode *child = node_new(MN_AND, NULL);
        node_add(n, child);
        rc = parse_filter(v->value.v_doc.data, v->value.v_doc.data_len, child, depth + 1, false, e);
    }
    if (rc) {
        mnode_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int parse_all(const char *path, const bson_value_t *v, struct mnode *and_node, int depth, struct err *e)
{
    if (v->value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_BAD_VALUE, "$all needs an array");
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
        return err_set(e, ERR_BAD_VALUE, "$all needs an array");
    int n_items = 0;
    while (bson_iter_next(&it)) {
        const bson_value_t *x = bson_iter_value(&it);
        struct mnode *n = NULL;
        int rc = 0;
        n_items++;
        if (x->value_type == BSON_TYPE_REGEX) {
            rc = regex_node(path, x->value.v_regex.regex, x->value.v_regex.options, &n, e);
        } else if (is_operator_object(x)) {
            bson_iter_t sub;
            if (!bson_iter_init_from_data(&sub, x->value.v_doc.data, x->value.v_doc.data_len) ||
                !bson_iter_next(&sub) || strcmp(bson_iter_key(&sub), "$elemMatch") != 0)
                return err_set(e, ERR_BAD_VALUE, "no $ expressions in $all");
            rc = parse_elem_match(path, bson_iter_value(&sub), depth, &n, e);
        } else {
            n = node_new(MN_EQ, path);
            n->value = *x;
        }
        if (rc)
            return rc;
        if (path == NULL && n->kind != MN_EQ) {
            mnode_free(n);
            return err_set(e, ERR_BAD_VALUE, "$all inside $elemMatch supports only values");
        }
        node_add(and_node, n);
    }
    /* $all: [] matches no document (mongod). */
    if (n_items == 0)
        node_add(and_node, node_new(MN_FALSE, path));
    return 0;
}

static int parse_not(const char *path, const bson_value_t *v, struct mnode *and_node, int depth, struct err *e)
{
    struct mnode *inner;
    int rc;
    if (v->value_type == BSON_TYPE_REGEX) {
        rc = regex_node(path, v->value.v_regex.regex, v->value.v_regex.options, &inner, e);
        if (rc)
            return rc;
    } else if (v->value_type == BSON_TYPE_DOCUMENT) {
        if (v->value.v_doc.data_len <= 5)
            return err_set(e, ERR_BAD_VALUE, "$not cannot be empty");
        if (!is_operator_object(v)) {
            bson_iter_t it;
            bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len);
            bson_iter_next(&it);
            return err_set(e, ERR_BAD_VALUE, "unknown operator: %s", bson_iter_key(&it));
        }
        inner = node_new(MN_AND, path);
        rc = parse_ops(path, v, inner, depth + 1, e);
        if (rc) {
            mnode_free(inner);
            return rc;
        }
    } else {
        return err_set(e, ERR_BAD_VALUE, "$not needs a regex or a document");
    }
    node_add(and_node, node_not(inner));
    return 0;
}

static int parse_regex_op(const char *path, const bson_value_t *re, const bson_value_t *options, struct mnode **out,
                          struct err *e)
{
    const char *pattern, *flags = "";
    if (re->value_type == BSON_TYPE_REGEX) {
        pattern = re->value.v_regex.regex;
        flags = re->value.v_regex.options;
        if (options && flags[0])
            return err_set(e, ERR_BAD_VALUE, "options set in both $regex and $options");
    } else if (re->value_type == BSON_TYPE_UTF8) {
        pattern = re->value.v_utf8.str;
        if (strlen(pattern) != re->value.v_utf8.len)
            return err_set(e, ERR_BAD_VALUE, "Regular expression cannot contain an embedded null byte");
    } else {
        return err_set(e, ERR_BAD_VALUE, "$regex has to be a string");
    }
    if (options) {
        if (options->value_type != BSON_TYPE_UTF8)
            return err_set(e, ERR_BAD_VALUE, "$options has to be a string");
        flags = options->value.v_utf8.str;
    }
    return regex_node(path, pattern, flags, out, e);
}

static enum mnode_kind compare_kind(const char *op)
{
    if (strcmp(op, "$eq") == 0)
        return MN_EQ;
    if (strcmp(op, "$lt") == 0)
        return MN_LT;
    if (strcmp(op, "$lte") == 0)
        return MN_LTE;
    if (strcmp(op, "$gt") == 0)
        return MN_GT;
    if (strcmp(op, "$gte") == 0)
        return MN_GTE;
    return MN_AND; /* not a comparison */
}

/* Parses {$op: arg, ...} on one path into and_node. path NULL means the
 * element-level operators of $elemMatch's value form. */
static int parse_ops(const char *path, const bson_value_t *ops, struct mnode *and_node, int depth, struct err *e)
{
    int rc = check_depth(depth, e);
    if (rc)
        return rc;
    bson_iter_t it;
    /* Copies: bson_iter_value points into the iterator. */
    bson_value_t regex_v, options_v;
    const bson_value_t *regex = NULL, *options = NULL;
    if (!bson_iter_init_from_data(&it, ops->value.v_doc.data, ops->value.v_doc.data_len))
        return err_set(e, ERR_BAD_VALUE, "invalid BSON in filter");
    while (bson_iter_next(&it)) {
        const char *op = bson_iter_key(&it);
        const bson_value_t *v = bson_iter_value(&it);
        struct mnode *n = NULL;
        enum mnode_kind ck = compare_kind(op);
        rc = 0;
        if (ck != MN_AND) {
            if (v->value_type == BSON_TYPE_UNDEFINED)
                return err_set(e, ERR_BAD_VALUE, "cannot compare to undefined");
            n = node_new(ck, path);
            n->value = *v;
        } else if (strcmp(op, "$ne") == 0) {
            if (v->value_type == BSON_TYPE_UNDEFINED)
                return err_set(e, ERR_BAD_VALUE, "cannot compare to undefined");
            if (v->value_type == BSON_TYPE_REGEX)
                return err_set(e, ERR_BAD_VALUE, "Can't have regex as arg to $ne.");
            n = node_new(MN_EQ, path);
            n->value = *v;
            n = node_not(n);
        } else if (strcmp(op, "$in") == 0) {
            rc = parse_in(path, op, v, &n, e);
        } else if (strcmp(op, "$nin") == 0) {
            rc = parse_in(path, op, v, &n, e);
            if (rc == 0)
                n = node_not(n);
        } else if (strcmp(op, "$exists") == 0) {
            n = node_new(MN_EXISTS, path);
            bool want = v->value_type == BSON_TYPE_BOOL ? v->value.v_bool
                        : bsonval_is_number(v)          ? bsonval_as_double(v) != 0
                                                        : v->value_type != BSON_TYPE_NULL &&
                                                              v->value_type != BSON_TYPE_UNDEFINED;
            if (!want)
                n = node_not(n);
        } else if (strcmp(op, "$type") == 0) {
            rc = parse_type(path, v, &n, e);
        } else if (strcmp(op, "$size") == 0) {
            rc = parse_size(path, v, &n, e);
        } else if (strcmp(op, "$mod") == 0) {
            rc = parse_mod(path, v, &n, e);
        } else if (strcmp(op, "$all") == 0) {
            rc = parse_all(path, v, and_node, depth, e);
        } else if (strcmp(op, "$elemMatch") == 0) {
            rc = parse_elem_match(path, v, depth, &n, e);
        } else if (strcmp(op, "$not") == 0) {
            rc = parse_not(path, v, and_node, depth, e);
        } else if (match_bits_kind(op) != MN_AND) {
            n = node_new(match_bits_kind(op), path);
            rc = match_bits_parse(n, op, v, e);
            if (rc) {
                mnode_free(n);
                return rc;
            }
        } else if (strcmp(op, "$regex") == 0) {
            regex_v = *v;
            regex = &regex_v;
        } else if (strcmp(op, "$options") == 0) {
            options_v = *v;
            options = &options_v;
        } else if (strcmp(op, "$comment") == 0 && path == NULL) {
            rc = 0;
        } else if (is_not_implemented_op(op)) {
            rc = err_set(e, ERR_NOT_IMPLEMENTED, "%s is not supported by this server", op);
        } else {
            rc = err_set(e, ERR_BAD_VALUE, "unknown operator: %s", op);
        }
        if (rc)
            return rc;
        if (n)
            node_add(and_node, n);
    }
    if (options && !regex)
        return err_set(e, ERR_BAD_VALUE, "$options needs a $regex");
    if (regex) {
        struct mnode *n;
        rc = parse_regex_op(path, regex, options, &n, e);
        if (rc)
            return rc;
        node_add(and_node, n);
    }
    return 0;
}

int matcher_create(const bson_t *filter, struct matcher **out, struct err *e)
{
    struct matcher *m = xcalloc(1, sizeof *m);
    m->filter = bson_copy(filter);
    m->root = node_new(MN_AND, NULL);
    int rc = parse_filter(bson_get_data(m->filter), m->filter->len, m->root, 0, true, e);
    if (rc) {
        matcher_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

void matcher_destroy(struct matcher *m)
{
    if (!m)
        return;
    mnode_free(m->root);
    bson_destroy(m->filter);
    free(m);
}

static int collect_bounds(const struct mnode *and_node, const char *path, struct match_bound *out, int n, int max)
{
    static const char *const names[] = {[MN_EQ] = "$eq", [MN_LT] = "$lt", [MN_LTE] = "$lte",
                                        [MN_GT] = "$gt", [MN_GTE] = "$gte", [MN_IN] = "$in"};
    for (int i = 0; i < and_node->n_children && n < max; i++) {
        const struct mnode *c = and_node->children[i];
        if (c->kind == MN_AND) {
            n = collect_bounds(c, path, out, n, max);
            continue;
        }
        if (!c->path || strcmp(c->path, path) != 0)
            continue;
        switch (c->kind) {
        case MN_EQ:
        case MN_LT:
        case MN_LTE:
        case MN_GT:
        case MN_GTE:
        case MN_IN:
            out[n].op = names[c->kind];
            out[n].value = c->value;
            n++;
            break;
        default: break;
        }
    }
    return n;
}

int matcher_bounds_for_path(const struct matcher *m, const char *path, struct match_bound *out, int max)
{
    /* $or children are AND nodes too, but only the root and $and nest here:
     * MN_OR/MN_NOR are skipped by collect_bounds' kind check. */
    return collect_bounds(m->root, path, out, 0, max);
}

bool matcher_is_id_point(const struct matcher *m, bson_value_t *id)
{
    if (m->root->n_children != 1)
        return false;
    const struct mnode *c = m->root->children[0];
    if (c->kind != MN_EQ || !c->path || strcmp(c->path, "_id") != 0)
        return false;
    switch (c->value.value_type) {
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY:
    case BSON_TYPE_REGEX:
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
    case BSON_TYPE_MINKEY:
    case BSON_TYPE_MAXKEY: return false;
    default: *id = c->value; return true;
    }
}
