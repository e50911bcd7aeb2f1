/* agg_expr.c - the expression language's core: field paths ("$a.b"),
 * variables ("$$ROOT", "$$CURRENT", "$$REMOVE", "$$NOW", $let/$map/$filter
 * bindings), literals, object and array literals, and operator dispatch.
 *
 * Expressions are interpreted straight from their BSON spec; agg_expr_check
 * validates a spec once at parse time (operator names, field paths, shape) so
 * that evaluation only meets per-document type errors. Operators live in
 * agg_expr_*.c tables. Field paths traverse arrays as mongod's do: "$a.b" on
 * a: [{b: 1}, {b: 2}, 3] is [1, 2] (non-document elements are skipped). */
#include "query/agg.h"
#include "query/agg_internal.h"

#include "core/mem.h"

#include <string.h>
#include <time.h>

static const struct agg_op *const op_tables[] = {agg_ops_arith, agg_ops_logic, agg_ops_str,
                                                 agg_ops_array, agg_ops_type,  agg_ops_date};

static const struct agg_op *op_find(const char *name)
{
    for (size_t t = 0; t < sizeof op_tables / sizeof op_tables[0]; t++)
        for (const struct agg_op *op = op_tables[t]; op->name != NULL; op++)
            if (strcmp(op->name, name) == 0)
                return op;
    return NULL;
}

bool agg_doc_get(const bson_value_t *doc, const char *name, bson_value_t *out)
{
    bson_iter_t it;
    if (doc->value_type != BSON_TYPE_DOCUMENT ||
        !bson_iter_init_from_data(&it, doc->value.v_doc.data, doc->value.v_doc.data_len))
        return false;
    if (!bson_iter_find(&it, name))
        return false;
    *out = *bson_iter_value(&it);
    return true;
}

/* --- field paths --- */

static void path_eval_array(const uint8_t *data, uint32_t len, const char *path, size_t path_len,
                            bson_value_t *out)
{
    bson_t arr = BSON_INITIALIZER;
    bson_iter_t it;
    uint32_t n = 0;
    if (bson_iter_init_from_data(&it, data, len)) {
        while (bson_iter_next(&it)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                continue;
            const bson_value_t *ev = bson_iter_value(&it);
            bson_value_t sub;
            agg_path_eval_doc(ev->value.v_doc.data, ev->value.v_doc.data_len, path, path_len, &sub);
            if (!agg_val_is_missing(&sub)) {
                char key[16];
                const char *k;
                size_t klen = bson_uint32_to_string(n++, &k, key, sizeof key);
                agg_val_append(&arr, k, klen, &sub);
            }
            bson_value_destroy(&sub);
        }
    }
    agg_val_take_bson(out, &arr, true);
}

void agg_path_eval_doc(const uint8_t *data, uint32_t len, const char *path, size_t path_len, bson_value_t *out)
{
    const char *dot = memchr(path, '.', path_len);
    size_t comp_len = dot ? (size_t)(dot - path) : path_len;
    bson_iter_t it;
    agg_val_missing(out);
    if (!bson_iter_init_from_data(&it, data, len))
        return;
    while (bson_iter_next(&it)) {
        if (bson_iter_key_len(&it) != comp_len || memcmp(bson_iter_key(&it), path, comp_len) != 0)
            continue;
        const bson_value_t *v = bson_iter_value(&it);
        if (dot == NULL) {
            agg_val_copy(out, v);
        } else {
            const char *rest = dot + 1;
            size_t rest_len = path_len - comp_len - 1;
            if (v->value_type == BSON_TYPE_DOCUMENT)
                agg_path_eval_doc(v->value.v_doc.data, v->value.v_doc.data_len, rest, rest_len, out);
            else if (v->value_type == BSON_TYPE_ARRAY)
                path_eval_array(v->value.v_doc.data, v->value.v_doc.data_len, rest, rest_len, out);
        }
        return;
    }
}

/* Applies the remaining path (after a variable) to a value. */
static void path_eval_value(const bson_value_t *v, const char *path, size_t path_len, bson_value_t *out)
{
    if (path_len == 0) {
        agg_val_copy(out, v);
        return;
    }
    agg_val_missing(out);
    if (v->value_type == BSON_TYPE_DOCUMENT)
        agg_path_eval_doc(v->value.v_doc.data, v->value.v_doc.data_len, path, path_len, out);
    else if (v->value_type == BSON_TYPE_ARRAY)
        path_eval_array(v->value.v_doc.data, v->value.v_doc.data_len, path, path_len, out);
}

/* Rules of mongod's FieldPath: non-empty components, none starting with '$'. */
static int check_field_path(const char *s, size_t len, struct err *e)
{
    if (len == 0)
        return err_set(e, ERR_FAILED_TO_PARSE, "'$' by itself is not a valid FieldPath");
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (i == start)
            return err_set(e, ERR_FAILED_TO_PARSE, "FieldPath field names may not be empty strings.");
        if (s[start] == '$')
            return err_set(e, ERR_FAILED_TO_PARSE,
                           "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
        start = i + 1;
    }
    return 0;
}

static int check_var_ref(const char *s, size_t len, struct err *e)
{
    const char *dot = memchr(s, '.', len);
    size_t name_len = dot ? (size_t)(dot - s) : len;
    if (name_len == 0)
        return err_set(e, ERR_FAILED_TO_PARSE, "empty variable names are not allowed");
    if (dot != NULL)
        return check_field_path(dot + 1, len - name_len - 1, e);
    return 0;
}

static int eval_string_ref(const char *s, size_t len, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    if (len >= 2 && s[1] == '$') {
        const char *name = s + 2;
        const char *dot = memchr(name, '.', len - 2);
        size_t name_len = dot ? (size_t)(dot - name) : len - 2;
        const char *rest = dot ? dot + 1 : "";
        size_t rest_len = dot ? len - 2 - name_len - 1 : 0;
        for (const struct agg_var *v = c->vars; v != NULL; v = v->next)
            if (v->name_len == name_len && memcmp(v->name, name, name_len) == 0) {
                path_eval_value(v->value, rest, rest_len, out);
                return 0;
            }
        if ((name_len == 4 && memcmp(name, "ROOT", 4) == 0) || (name_len == 7 && memcmp(name, "CURRENT", 7) == 0)) {
            bson_value_t root;
            agg_val_view_doc(&root, c->root);
            path_eval_value(&root, rest, rest_len, out);
            return 0;
        }
        if (name_len == 6 && memcmp(name, "REMOVE", 6) == 0) {
            agg_val_missing(out);
            return 0;
        }
        if (name_len == 3 && memcmp(name, "NOW", 3) == 0) {
            bson_value_t now;
            agg_val_date(&now, c->now_ms);
            path_eval_value(&now, rest, rest_len, out);
            return 0;
        }
        return err_set(e, ERR_FAILED_TO_PARSE, "Use of undefined variable: %.*s", (int)name_len, name);
    }
    agg_path_eval_doc(bson_get_data(c->root), c->root->len, s + 1, len - 1, out);
    return 0;
}

/* --- arguments --- */

void agg_args_raw(const bson_value_t *arg, struct agg_vals *out)
{
    agg_vals_init(out);
    if (arg->value_type != BSON_TYPE_ARRAY) {
        agg_vals_push(out, arg);
        return;
    }
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
        return;
    while (bson_iter_next(&it))
        agg_vals_push(out, bson_iter_value(&it));
}

int agg_args_eval(const bson_value_t *arg, const struct agg_ctx *c, struct agg_vals *out, struct err *e)
{
    struct agg_vals raw;
    agg_args_raw(arg, &raw);
    agg_vals_init(out);
    for (size_t i = 0; i < raw.n; i++) {
        bson_value_t v;
        int rc = agg_expr_eval(&raw.v[i], c, &v, e);
        if (rc < 0) {
            agg_vals_free(&raw);
            agg_vals_destroy_owned(out);
            return rc;
        }
        agg_vals_push(out, &v);
    }
    agg_vals_free(&raw);
    return 0;
}

int agg_named_args(const char *op, const bson_value_t *arg, const char *const *names, bson_value_t *out,
                   struct err *e)
{
    size_t n = 0;
    while (names[n] != NULL)
        agg_val_missing(&out[n++]);
    if (arg->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_FAILED_TO_PARSE, "%s expects an object of named arguments but found type %s", op,
                       agg_val_type_name(arg));
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
        return err_set(e, ERR_INVALID_BSON, "%s: invalid BSON argument", op);
    while (bson_iter_next(&it)) {
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(names[i], bson_iter_key(&it)) == 0)
                break;
        if (i == n)
            return err_set(e, ERR_FAILED_TO_PARSE, "%s found an unknown argument: %s", op, bson_iter_key(&it));
        out[i] = *bson_iter_value(&it);
    }
    return 0;
}

/* --- validation --- */

/* Expressions nest at most this deep, so evaluation recursion is bounded
 * (mongod caps BSON nesting at 180 levels for the same reason). */
#define AGG_MAX_EXPR_DEPTH 150

static int check_object(const bson_value_t *expr, int depth, struct err *e);
static int check_expr(const bson_value_t *expr, int depth, struct err *e);

int agg_expr_check(const bson_value_t *expr, struct err *e) { return check_expr(expr, 0, e); }

static int check_expr(const bson_value_t *expr, int depth, struct err *e)
{
    if (depth > AGG_MAX_EXPR_DEPTH)
        return err_set(e, ERR_FAILED_TO_PARSE, "expression nests deeper than %d levels", AGG_MAX_EXPR_DEPTH);
    if (expr->value_type == BSON_TYPE_UTF8) {
        const char *s = expr->value.v_utf8.str;
        size_t len = expr->value.v_utf8.len;
        if (len == 0 || s[0] != '$')
            return 0;
        if (len >= 2 && s[1] == '$')
            return check_var_ref(s + 2, len - 2, e);
        return check_field_path(s + 1, len - 1, e);
    }
    if (expr->value_type == BSON_TYPE_ARRAY) {
        bson_iter_t it;
        if (!bson_iter_init_from_data(&it, expr->value.v_doc.data, expr->value.v_doc.data_len))
            return err_set(e, ERR_INVALID_BSON, "invalid BSON array in expression");
        while (bson_iter_next(&it)) {
            int rc = check_expr(bson_iter_value(&it), depth + 1, e);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (expr->value_type == BSON_TYPE_DOCUMENT)
        return check_object(expr, depth, e);
    return 0;
}

/* Checks every value of an object (object literals and named arguments). */
static int check_values(const bson_value_t *obj, int depth, struct err *e)
{
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, obj->value.v_doc.data, obj->value.v_doc.data_len))
        return err_set(e, ERR_INVALID_BSON, "invalid BSON object in expression");
    while (bson_iter_next(&it)) {
        int rc = check_expr(bson_iter_value(&it), depth + 1, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_object(const bson_value_t *expr, int depth, struct err *e)
{
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, expr->value.v_doc.data, expr->value.v_doc.data_len))
        return err_set(e, ERR_INVALID_BSON, "invalid BSON object in expression");
    if (!bson_iter_next(&it))
        return 0;
    const char *first = bson_iter_key(&it);
    if (first[0] != '$') {
        /* An object literal: field names are plain, values are expressions. */
        do {
            const char *k = bson_iter_key(&it);
            if (k[0] == '$')
                return err_set(e, ERR_FAILED_TO_PARSE,
                               "FieldPath field names may not start with '$'. Consider using $getField or "
                               "$setField.");
            if (strchr(k, '.') != NULL)
                return err_set(e, ERR_FAILED_TO_PARSE, "FieldPath field names may not contain '.'.");
            int rc = check_expr(bson_iter_value(&it), depth + 1, e);
            if (rc < 0)
                return rc;
        } while (bson_iter_next(&it));
        return 0;
    }
    bson_value_t arg = *bson_iter_value(&it);
    int n_fields = 1;
    while (bson_iter_next(&it))
        n_fields++;
    if (n_fields != 1)
        return err_set(e, 15983,
                       "an expression specification must contain exactly one field, the name of the expression. "
                       "Found %d fields",
                       n_fields);
    if (strcmp(first, "$literal") == 0)
        return 0;
    const struct agg_op *op = op_find(first);
    if (op == NULL)
        return err_set(e, ERR_INVALID_PIPELINE_OPERATOR, "Unrecognized expression '%s'", first);
    if (op->raw_fn == NULL) {
        struct agg_vals raw;
        agg_args_raw(&arg, &raw);
        int n = (int)raw.n;
        agg_vals_free(&raw);
        if (op->min_args == op->max_args && n != op->min_args)
            return err_set(e, 16020, "Expression %s takes exactly %d arguments. %d were passed in.",
                           first, op->min_args, n);
        if (n < op->min_args || (op->max_args >= 0 && n > op->max_args))
            return err_set(e, ERR_FAILED_TO_PARSE,
                           "Expression %s takes at least %d arguments, and at most %d, but %d were passed in.",
                           first, op->min_args, op->max_args, n);
    }
    if (arg.value_type == BSON_TYPE_DOCUMENT) {
        bson_iter_t sub;
        if (bson_iter_init_from_data(&sub, arg.value.v_doc.data, arg.value.v_doc.data_len) &&
            bson_iter_next(&sub) && bson_iter_key(&sub)[0] != '$')
            return check_values(&arg, depth + 1, e); /* named arguments */
    }
    return check_expr(&arg, depth + 1, e);
}

/* --- evaluation --- */

static int eval_object_literal(const bson_value_t *expr, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    bson_t doc = BSON_INITIALIZER;
    bson_iter_t it;
    if (bson_iter_init_from_data(&it, expr->value.v_doc.data, expr->value.v_doc.data_len)) {
        while (bson_iter_next(&it)) {
            bson_value_t v;
            int rc = agg_expr_eval(bson_iter_value(&it), c, &v, e);
            if (rc < 0) {
                bson_destroy(&doc);
                return rc;
            }
            agg_val_append(&doc, bson_iter_key(&it), bson_iter_key_len(&it), &v);
            bson_value_destroy(&v);
        }
    }
    agg_val_take_bson(out, &doc, false);
    return 0;
}

/* Array literals keep missing elements as null, as mongod does. */
static int eval_array_literal(const bson_value_t *expr, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    bson_t arr = BSON_INITIALIZER;
    bson_iter_t it;
    uint32_t n = 0;
    if (bson_iter_init_from_data(&it, expr->value.v_doc.data, expr->value.v_doc.data_len)) {
        while (bson_iter_next(&it)) {
            bson_value_t v;
            int rc = agg_expr_eval(bson_iter_value(&it), c, &v, e);
            if (rc < 0) {
                bson_destroy(&arr);
                return rc;
            }
            if (agg_val_is_missing(&v))
                agg_val_null(&v);
            char key[16];
            const char *k;
            size_t klen = bson_uint32_to_string(n++, &k, key, sizeof key);
            agg_val_append(&arr, k, klen, &v);
            bson_value_destroy(&v);
        }
    }
    agg_val_take_bson(out, &arr, true);
    return 0;
}

static int eval_operator(const char *name, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                         struct err *e)
{
    if (strcmp(name, "$literal") == 0) {
        agg_val_copy(out, arg);
        return 0;
    }
    const struct agg_op *op = op_find(name);
    if (op == NULL)
        return err_set(e, ERR_INVALID_PIPELINE_OPERATOR, "Unrecognized expression '%s'", name);
    if (op->raw_fn != NULL)
        return op->raw_fn(name, arg, c, out, e);
    struct agg_vals args;
    int rc = agg_args_eval(arg, c, &args, e);
    if (rc < 0)
        return rc;
    int n = (int)args.n;
    if (n < op->min_args || (op->max_args >= 0 && n > op->max_args)) {
        agg_vals_destroy_owned(&args);
        if (op->min_args == op->max_args)
            return err_set(e, 16020, "Expression %s takes exactly %d arguments. %d were passed in.",
                           name, op->min_args, n);
        return err_set(e, ERR_FAILED_TO_PARSE,
                       "Expression %s takes at least %d arguments, and at most %d, but %d were passed in.", name,
                       op->min_args, op->max_args, n);
    }
    agg_val_missing(out);
    rc = op->vals_fn(name, &args, c, out, e);
    agg_vals_destroy_owned(&args);
    if (rc < 0) {
        bson_value_destroy(out);
        agg_val_missing(out);
    }
    return rc;
}

int agg_expr_eval(const bson_value_t *expr, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    agg_val_missing(out);
    switch (expr->value_type) {
    case BSON_TYPE_UTF8:
        if (expr->value.v_utf8.len > 0 && expr->value.v_utf8.str[0] == '$')
            return eval_string_ref(expr->value.v_utf8.str, expr->value.v_utf8.len, c, out, e);
        agg_val_copy(out, expr);
        return 0;
    case BSON_TYPE_ARRAY:
        return eval_array_literal(expr, c, out, e);
    case BSON_TYPE_DOCUMENT: {
        bson_iter_t it;
        if (!bson_iter_init_from_data(&it, expr->value.v_doc.data, expr->value.v_doc.data_len))
            return err_set(e, ERR_INVALID_BSON, "invalid BSON object in expression");
        if (bson_iter_next(&it) && bson_iter_key(&it)[0] == '$')
            return eval_operator(bson_iter_key(&it), bson_iter_value(&it), c, out, e);
        return eval_object_literal(expr, c, out, e);
    }
    default:
        agg_val_copy(out, expr);
        return 0;
    }
}

static int64_t wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agg_expr_eval_append(const bson_value_t *expr, const bson_t *doc, bson_t *out, const char *key, struct err *e)
{
    int rc = agg_expr_check(expr, e);
    if (rc < 0)
        return rc;
    struct agg_ctx c = {.root = doc, .now_ms = wall_clock_ms(), .vars = NULL};
    bson_value_t v;
    rc = agg_expr_eval(expr, &c, &v, e);
    if (rc < 0)
        return rc;
    agg_val_append(out, key, strlen(key), &v);
    bson_value_destroy(&v);
    return 0;
}
