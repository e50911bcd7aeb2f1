/* agg_expr_logic.c - boolean, conditional and variable-binding operators.
 *
 * $and $or $not, $cond (array and {if, then, else} forms), $ifNull,
 * $switch, $let. $and/$or/$cond/$ifNull/$switch evaluate lazily, so a
 * branch that is not taken cannot raise an error (mongod behaves alike).
 * Truthiness is mongod's: false, null, missing, undefined and numeric zero
 * are false; everything else (including "" and []) is true. */
#include "query/agg_internal.h"

#include "core/mem.h"

#include <string.h>

static int op_and_or(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                     struct err *e)
{
    bool is_and = strcmp(op, "$and") == 0;
    struct agg_vals raw;
    agg_args_raw(arg, &raw);
    bool result = is_and;
    for (size_t i = 0; i < raw.n; i++) {
        bson_value_t v;
        int rc = agg_expr_eval(&raw.v[i], c, &v, e);
        if (rc < 0) {
            agg_vals_free(&raw);
            return rc;
        }
        bool t = agg_val_truthy(&v);
        bson_value_destroy(&v);
        if (t != is_and) {
            result = t;
            break;
        }
    }
    agg_vals_free(&raw);
    agg_val_bool(out, result);
    return 0;
}

static int op_not(const char *op, struct agg_vals *a, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    (void)op;
    (void)c;
    (void)e;
    agg_val_bool(out, !agg_val_truthy(&a->v[0]));
    return 0;
}

static int op_cond(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                   struct err *e)
{
    bson_value_t parts[3];
    if (arg->value_type == BSON_TYPE_DOCUMENT) {
        static const char *const names[] = {"if", "then", "else", NULL};
        bson_iter_t it;
        if (bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len) && bson_iter_next(&it) &&
            bson_iter_key(&it)[0] == '$')
            return err_set(e, 16020, "Expression %s takes exactly 3 arguments. 1 were passed in.", op);
        for (size_t i = 0; i < 3; i++)
            agg_val_missing(&parts[i]);
        if (bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len)) {
            while (bson_iter_next(&it)) {
                size_t i;
                for (i = 0; i < 3; i++)
                    if (strcmp(names[i], bson_iter_key(&it)) == 0)
                        break;
                if (i == 3)
                    return err_set(e, ERR_FAILED_TO_PARSE, "Unrecognized parameter to %s: %s", op,
                                   bson_iter_key(&it));
                parts[i] = *bson_iter_value(&it);
            }
        }
        for (size_t i = 0; i < 3; i++)
            if (agg_val_is_missing(&parts[i]))
                return err_set(e, ERR_FAILED_TO_PARSE, "Missing '%s' parameter to %s", names[i], op);
    } else {
        struct agg_vals raw;
        agg_args_raw(arg, &raw);
        if (raw.n != 3) {
            int n = (int)raw.n;
            agg_vals_free(&raw);
            return err_set(e, 16020, "Expression %s takes exactly 3 arguments. %d were passed in.", op,
                           n);
        }
        memcpy(parts, raw.v, sizeof parts);
        agg_vals_free(&raw);
    }
    bson_value_t cond;
    int rc = agg_expr_eval(&parts[0], c, &cond, e);
    if (rc < 0)
        return rc;
    bool t = agg_val_truthy(&cond);
    bson_value_destroy(&cond);
    return agg_expr_eval(&parts[t ? 1 : 2], c, out, e);
}

/* $ifNull: the first argument that is neither null nor missing, else the
 * last one (mongod 5.0+ accepts more than two). */
static int op_if_null(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                      struct err *e)
{
    struct agg_vals raw;
    agg_args_raw(arg, &raw);
    if (raw.n < 2) {
        int n = (int)raw.n;
        agg_vals_free(&raw);
        return err_set(e, ERR_FAILED_TO_PARSE, "%s needs at least two arguments, had: %d", op, n);
    }
    for (size_t i = 0; i < raw.n; i++) {
        int rc = agg_expr_eval(&raw.v[i], c, out, e);
        if (rc < 0 || i + 1 == raw.n || !agg_val_is_nullish(out)) {
            agg_vals_free(&raw);
            return rc;
        }
        bson_value_destroy(out);
    }
    agg_vals_free(&raw);
    return 0;
}

static int op_switch(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                     struct err *e)
{
    static const char *const names[] = {"branches", "default", NULL};
    bson_value_t a[2];
    int rc = agg_named_args(op, arg, names, a, e);
    if (rc < 0)
        return rc;
    if (a[0].value_type != BSON_TYPE_ARRAY)
        return err_set(e, ERR_FAILED_TO_PARSE, "%s expected an array for 'branches', found: %s", op,
                       agg_val_type_name(&a[0]));
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, a[0].value.v_doc.data, a[0].value.v_doc.data_len))
        return err_set(e, ERR_INVALID_BSON, "%s: invalid branches", op);
    while (bson_iter_next(&it)) {
        static const char *const bnames[] = {"case", "then", NULL};
        bson_value_t b[2];
        const bson_value_t *bv = bson_iter_value(&it);
        if (bv->value_type != BSON_TYPE_DOCUMENT)
            return err_set(e, ERR_FAILED_TO_PARSE, "%s expected each branch to be an object, found: %s", op,
                           agg_val_type_name(bv));
        rc = agg_named_args(op, bv, bnames, b, e);
        if (rc < 0)
            return rc;
        if (agg_val_is_missing(&b[0]))
            return err_set(e, ERR_FAILED_TO_PARSE, "%s requires each branch have a 'case' expression", op);
        if (agg_val_is_missing(&b[1]))
            return err_set(e, ERR_FAILED_TO_PARSE, "%s requires each branch have a 'then' expression.", op);
        bson_value_t cv;
        rc = agg_expr_eval(&b[0], c, &cv, e);
        if (rc < 0)
            return rc;
        bool t = agg_val_truthy(&cv);
        bson_value_destroy(&cv);
        if (t)
            return agg_expr_eval(&b[1], c, out, e);
    }
    if (agg_val_is_missing(&a[1]))
        return err_set(e, ERR_BAD_VALUE,
                       "%s could not find a matching branch for an input, and no default was specified.", op);
    return agg_expr_eval(&a[1], c, out, e);
}

/* User variable names start with a lowercase letter or a non-ASCII byte. */
int agg_check_var_name(const char *name, struct err *e)
{
    unsigned char c0 = (unsigned char)name[0];
    if (c0 == '\0')
        return err_set(e, ERR_FAILED_TO_PARSE, "empty variable names are not allowed");
    if (!((c0 >= 'a' && c0 <= 'z') || c0 >= 0x80))
        return err_set(e, ERR_FAILED_TO_PARSE, "'%s' starts with an invalid character for a user variable name",
                       name);
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch >= 0x80))
            return err_set(e, ERR_FAILED_TO_PARSE, "'%s' contains an invalid character for a variable name: '%c'",
                           name, *p);
    }
    return 0;
}

static int op_let(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                  struct err *e)
{
    static const char *const names[] = {"vars", "in", NULL};
    bson_value_t a[2];
    int rc = agg_named_args(op, arg, names, a, e);
    if (rc < 0)
        return rc;
    if (a[0].value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_FAILED_TO_PARSE, "invalid parameter: expected an object (vars)");
    if (agg_val_is_missing(&a[1]))
        return err_set(e, ERR_FAILED_TO_PARSE, "Missing 'in' parameter to %s", op);
    bson_iter_t it;
    size_t n = 0;
    if (!bson_iter_init_from_data(&it, a[0].value.v_doc.data, a[0].value.v_doc.data_len))
        return err_set(e, ERR_INVALID_BSON, "%s: invalid vars", op);
    while (bson_iter_next(&it))
        n++;
    struct agg_var *vars = xcalloc(n ? n : 1, sizeof *vars);
    bson_value_t *vals = xcalloc(n ? n : 1, sizeof *vals);
    size_t i = 0;
    struct agg_ctx inner = *c;
    bson_iter_init_from_data(&it, a[0].value.v_doc.data, a[0].value.v_doc.data_len);
    /* Every vars expression sees only the outer scope, as in mongod. */
    while (rc == 0 && bson_iter_next(&it)) {
        rc = agg_check_var_name(bson_iter_key(&it), e);
        if (rc == 0)
            rc = agg_expr_eval(bson_iter_value(&it), c, &vals[i], e);
        if (rc == 0) {
            vars[i].name = bson_iter_key(&it);
            vars[i].name_len = bson_iter_key_len(&it);
            vars[i].value = &vals[i];
            vars[i].next = inner.vars;
            inner.vars = &vars[i];
            i++;
        }
    }
    if (rc == 0)
        rc = agg_expr_eval(&a[1], &inner, out, e);
    for (size_t j = 0; j < i; j++)
        bson_value_destroy(&vals[j]);
    free(vals);
    free(vars);
    return rc;
}

const struct agg_op agg_ops_logic[] = {
    {"$and", NULL, op_and_or, 0, -1},
    {"$cond", NULL, op_cond, 0, -1},
    {"$ifNull", NULL, op_if_null, 0, -1},
    {"$let", NULL, op_let, 0, -1},
    {"$not", op_not, NULL, 1, 1},
    {"$or", NULL, op_and_or, 0, -1},
    {"$switch", NULL, op_switch, 0, -1},
    {NULL, NULL, NULL, 0, 0},
};
