/* update_apply.c - applies a parsed update to one document (update_apply)
 * and builds the document an upsert inserts (update_build_upsert).
 *
 * Operations run in path order over a mutable tree of the document; paths
 * walk documents by field name and arrays by index or by the positional
 * forms "$", "$[]" and "$[ident]". Creating operators make missing
 * intermediate documents and pad arrays with nulls; removing operators treat
 * a missing path as a no-op. _id may not change and always comes first in an
 * upserted document. */
#include "core/mem.h"
#include "core/bsonutil.h"
#include "query/agg.h"
#include "query/bsonval.h"
#include "query/decimal.h"
#include "query/update_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mongod refuses to pad an array by more than this many nulls. */
#define MAX_BACKFILL 1500000

static bool op_creates(enum uop_kind k)
{
    return !(k == UOP_UNSET || k == UOP_POP || k == UOP_PULL || k == UOP_PULL_ALL);
}

struct unode *uslot_get(const struct uslot *s)
{
    if (s->idx < 0 || (size_t)s->idx >= s->parent->n_kids)
        return NULL;
    return s->parent->kids[s->idx];
}

void uslot_put(struct uslot *s, struct unode *n)
{
    struct unode *p = s->parent;
    if (p->type == BSON_TYPE_ARRAY) {
        while ((size_t)s->idx > p->n_kids) {
            bson_value_t null_v = {.value_type = BSON_TYPE_NULL};
            unode_insert(p, p->n_kids, unode_from_value(NULL, &null_v));
        }
        if ((size_t)s->idx == p->n_kids)
            unode_insert(p, p->n_kids, n);
        else
            unode_replace(p, (size_t)s->idx, n);
        return;
    }
    if (s->idx >= 0) {
        unode_replace(p, (size_t)s->idx, n);
    } else {
        unode_set_key(n, s->key);
        unode_insert(p, p->n_kids, n);
        s->idx = (long)p->n_kids - 1;
    }
}

void uctx_render_id(const struct uctx *c, bson_string_t *s)
{
    long i = unode_find(c->root, "_id");
    if (i < 0) {
        bson_string_append(s, "{}");
        return;
    }
    bson_string_append(s, "{_id: ");
    update_render_node(c->root->kids[i], s);
    bson_string_append(s, "}");
}

static int positional_error(struct err *e)
{
    return err_set(e, ERR_BAD_VALUE, "The positional operator did not find the match needed from the query.");
}

/* Parses an array index component; -1 when it is not one, LONG_MAX when huge. */
static long parse_index(const char *part)
{
    if (part[0] < '0' || part[0] > '9')
        return -1;
    for (const char *c = part; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    errno = 0;
    long long v = strtoll(part, NULL, 10);
    if (errno || v > (long long)INT32_MAX)
        return (long)INT32_MAX;
    return (long)v;
}

/* ---- leaf operations ---- */

static int arith_error(struct uctx *c, const struct uop *op, const struct unode *cur)
{
    bson_string_t *s = bson_string_new(NULL);
    update_render_node(cur, s);
    bson_string_append(s, ") for document ");
    uctx_render_id(c, s);
    int rc = err_set(c->e, ERR_BAD_VALUE, "Failed to apply %s operations to current value ((%s)%s", op->name,
                     cur->type == BSON_TYPE_INT64 ? "NumberLong" : "NumberInt", s->str);
    bson_string_free(s, true);
    return rc;
}

/* A number as a Decimal128 for $inc/$mul: integers exactly, doubles with
 * all of their binary digits (34 decimal digits), as mongod's update does. */
static bson_decimal128_t decimal_of(const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_DOUBLE)
        return decimal_from_double_34(v->value.v_double);
    bson_decimal128_t d;
    if (!decimal_from_value(v, &d))
        d = decimal_from_int64(0);
    return d;
}

/* Numeric promotion as mongod: int32 op int32 widens to int64 on overflow,
 * anything with a double is a double, anything with a Decimal128 is a
 * Decimal128, int64 overflow is an error. */
static int apply_arith(struct uctx *c, const struct uop *op, struct uslot *s)
{
    struct unode *cur = uslot_get(s);
    const bson_value_t *arg = &op->arg;
    bool is_mul = op->kind == UOP_MUL;
    bson_value_t res = {0};
    if (cur == NULL) {
        res = *arg;
        if (is_mul) {
            if (arg->value_type == BSON_TYPE_INT32)
                res.value.v_int32 = 0;
            else if (arg->value_type == BSON_TYPE_INT64)
                res.value.v_int64 = 0;
            else if (arg->value_type == BSON_TYPE_DOUBLE)
                res.value.v_double = 0;
            else
                bson_decimal128_from_string("0", &res.value.v_decimal128);
        }
        uslot_put(s, unode_from_value(NULL, &res));
        return 0;
    }
    if (!bsonval_is_number(&cur->val) || unode_is_container(cur)) {
        bson_string_t *id = bson_string_new(NULL);
        uctx_render_id(c, id);
        int rc = err_set(c->e, ERR_TYPE_MISMATCH,
                         "Cannot apply %s to a value of non-numeric type. %s has the field '%s' of non-numeric type %s",
                         op->name, id->str, s->key, bsonutil_type_name(cur->type));
        bson_string_free(id, true);
        return rc;
    }
    const bson_value_t *a = &cur->val;
    if (a->value_type == BSON_TYPE_DECIMAL128 || arg->value_type == BSON_TYPE_DECIMAL128) {
        bson_decimal128_t x = decimal_of(a), y = decimal_of(arg);
        res.value_type = BSON_TYPE_DECIMAL128;
        res.value.v_decimal128 = is_mul ? decimal_mul(x, y) : decimal_add(x, y);
    } else if (a->value_type == BSON_TYPE_DOUBLE || arg->value_type == BSON_TYPE_DOUBLE) {
        double x = bsonval_as_double(a), y = bsonval_as_double(arg);
        res.value_type = BSON_TYPE_DOUBLE;
        res.value.v_double = is_mul ? x * y : x + y;
    } else {
        int64_t x = a->value_type == BSON_TYPE_INT32 ? a->value.v_int32 : a->value.v_int64;
        int64_t y = arg->value_type == BSON_TYPE_INT32 ? arg->value.v_int32 : arg->value.v_int64;
        int64_t r;
        bool is_overflow = is_mul ? __builtin_mul_overflow(x, y, &r) : __builtin_add_overflow(x, y, &r);
        if (is_overflow)
            return arith_error(c, op, cur);
        if (a->value_type == BSON_TYPE_INT32 && arg->value_type == BSON_TYPE_INT32 && r >= INT32_MIN &&
            r <= INT32_MAX) {
            res.value_type = BSON_TYPE_INT32;
            res.value.v_int32 = (int32_t)r;
        } else {
            res.value_type = BSON_TYPE_INT64;
            res.value.v_int64 = r;
        }
    }
    uslot_put(s, unode_from_value(NULL, &res));
    return 0;
}

static int apply_minmax(const struct uop *op, struct uslot *s)
{
    struct unode *cur = uslot_get(s);
    if (cur != NULL) {
        bson_t tmp;
        bson_value_t v;
        unode_value(cur, &tmp, &v);
        int cmp = bsonval_compare(&op->arg, &v);
        bson_destroy(&tmp);
        if (op->kind == UOP_MIN ? cmp >= 0 : cmp <= 0)
            return 0;
    }
    uslot_put(s, unode_from_value(NULL, &op->arg));
    return 0;
}

static void apply_current_date(const struct uctx *c, const struct uop *op, struct uslot *s)
{
    bson_value_t v = {0};
    if (op->is_timestamp) {
        v.value_type = BSON_TYPE_TIMESTAMP;
        v.value.v_timestamp.timestamp = (uint32_t)(c->env->now_ms / 1000);
        v.value.v_timestamp.increment = 1;
    } else {
        v.value_type = BSON_TYPE_DATE_TIME;
        v.value.v_datetime = c->env->now_ms;
    }
    uslot_put(s, unode_from_value(NULL, &v));
}

static void apply_unset(struct uslot *s)
{
    if (uslot_get(s) == NULL)
        return;
    if (s->parent->type == BSON_TYPE_ARRAY) {
        /* Unsetting an array element leaves a null, so indexes stay put. */
        bson_value_t null_v = {.value_type = BSON_TYPE_NULL};
        unode_replace(s->parent, (size_t)s->idx, unode_from_value(NULL, &null_v));
        return;
    }
    unode_free(unode_detach(s->parent, (size_t)s->idx));
    s->idx = -1;
}

static int apply_leaf(struct uctx *c, const struct uop *op, struct uslot *s, struct unode **moved)
{
    switch (op->kind) {
    case UOP_SET:
    case UOP_SET_ON_INSERT: {
        struct unode *cur = uslot_get(s);
        struct unode *n = unode_from_value(NULL, &op->arg);
        if (cur && unode_binary_equal(cur, n))
            unode_free(n);
        else
            uslot_put(s, n);
        return 0;
    }
    case UOP_UNSET: apply_unset(s); return 0;
    case UOP_INC:
    case UOP_MUL: return apply_arith(c, op, s);
    case UOP_MIN:
    case UOP_MAX: return apply_minmax(op, s);
    case UOP_CURRENT_DATE: apply_current_date(c, op, s); return 0;
    case UOP_RENAME:
        uslot_put(s, *moved);
        *moved = NULL;
        return 0;
    case UOP_PUSH:
    case UOP_ADD_TO_SET:
    case UOP_POP:
    case UOP_PULL:
    case UOP_PULL_ALL: return uop_apply_array(c, op, s);
    }
    return 0;
}

/* ---- path walking ---- */

static int walk(struct uctx *c, const struct uop *op, const struct upath *p, int depth, struct unode *parent,
                struct unode **moved);

static int non_array_error(struct uctx *c, const char *key, const struct unode *n)
{
    bson_string_t *s = bson_string_new(NULL);
    update_render_node(n, s);
    int rc = err_set(c->e, ERR_BAD_VALUE, "Cannot apply array updates to non-array element %s: %s", key ? key : "",
                     s->str);
    bson_string_free(s, true);
    return rc;
}

static int step(struct uctx *c, const struct uop *op, const struct upath *p, int depth, struct unode *parent,
                long idx, const char *key, struct unode **moved)
{
    struct uslot s = {parent, idx, key};
    if (depth + 1 == p->n_parts)
        return apply_leaf(c, op, &s, moved);
    const char *next = p->parts[depth + 1];
    enum upos_kind next_kind = upath_part_kind(next);
    struct unode *child = uslot_get(&s);
    if (child == NULL) {
        if (!op_creates(op->kind))
            return 0;
        if (next_kind == UPOS_DOLLAR && c->env->positional_index < 0)
            return positional_error(c->e);
        if (next_kind != UPOS_NONE) {
            int len = 0;
            for (int i = 0; i <= depth; i++)
                len += (int)strlen(p->parts[i]) + (i > 0);
            return err_set(c->e, ERR_BAD_VALUE,
                           "The path '%.*s' must exist in the document in order to apply array updates.", len,
                           p->text);
        }
        if (parent->type == BSON_TYPE_ARRAY && (size_t)idx - parent->n_kids > MAX_BACKFILL)
            return err_set(c->e, ERR_BAD_VALUE, "can't backfill array to larger than %d elements", MAX_BACKFILL);
        uslot_put(&s, unode_new_container(key, BSON_TYPE_DOCUMENT));
        child = uslot_get(&s);
    } else if (!unode_is_container(child)) {
        if (next_kind == UPOS_DOLLAR && c->env->positional_index < 0)
            return positional_error(c->e);
        if (next_kind != UPOS_NONE)
            return op_creates(op->kind) ? non_array_error(c, key, child) : 0;
        if (!op_creates(op->kind))
            return 0;
        bson_string_t *r = bson_string_new(NULL);
        update_render_node(child, r);
        int rc = err_set(c->e, ERR_PATH_NOT_VIABLE, "Cannot create field '%s' in element {%s: %s}", next, key,
                         r->str);
        bson_string_free(r, true);
        return rc;
    }
    return walk(c, op, p, depth + 1, child, moved);
}

static int walk_array(struct uctx *c, const struct uop *op, const struct upath *p, int depth, struct unode *arr,
                      struct unode **moved)
{
    const char *part = p->parts[depth];
    char key[24];
    if (op->kind == UOP_RENAME) {
        bson_string_t *s = bson_string_new(NULL);
        uctx_render_id(c, s);
        int rc = err_set(c->e, ERR_BAD_VALUE,
                         "The destination field cannot be an array element, '%s' in doc with %s has an array field "
                         "called '%s'",
                         p->text, s->str, depth > 0 ? p->parts[depth - 1] : "");
        bson_string_free(s, true);
        return rc;
    }
    switch (upath_part_kind(part)) {
    case UPOS_DOLLAR: {
        if (c->env->positional_index < 0)
            return positional_error(c->e);
        snprintf(key, sizeof key, "%d", c->env->positional_index);
        return step(c, op, p, depth, arr, c->env->positional_index, key, moved);
    }
    case UPOS_ALL:
    case UPOS_FILTER: {
        const struct array_filter *f = upath_part_kind(part) == UPOS_FILTER ? &c->u->filters[p->filter[depth]] : NULL;
        size_t n = arr->n_kids;
        for (size_t i = 0; i < n && i < arr->n_kids; i++) {
            if (f && !update_filter_match(f, arr->kids[i]))
                continue;
            snprintf(key, sizeof key, "%zu", i);
            int rc = step(c, op, p, depth, arr, (long)i, key, moved);
            if (rc)
                return rc;
        }
        return 0;
    }
    case UPOS_NONE: break;
    }
    long idx = parse_index(part);
    if (idx < 0) {
        if (!op_creates(op->kind))
            return 0;
        bson_string_t *s = bson_string_new(NULL);
        update_render_node(arr, s);
        int rc = err_set(c->e, ERR_PATH_NOT_VIABLE, "Cannot create field '%s' in element {%s: %s}", part,
                         depth > 0 ? p->parts[depth - 1] : "", s->str);
        bson_string_free(s, true);
        return rc;
    }
    if (op_creates(op->kind) && (size_t)idx > arr->n_kids && (size_t)idx - arr->n_kids > MAX_BACKFILL)
        return err_set(c->e, ERR_BAD_VALUE, "can't backfill array to larger than %d elements", MAX_BACKFILL);
    return step(c, op, p, depth, arr, idx, part, moved);
}

static int walk(struct uctx *c, const struct uop *op, const struct upath *p, int depth, struct unode *parent,
                struct unode **moved)
{
    if (parent->type == BSON_TYPE_ARRAY)
        return walk_array(c, op, p, depth, parent, moved);
    const char *part = p->parts[depth];
    enum upos_kind k = upath_part_kind(part);
    if (k != UPOS_NONE) {
        if (k == UPOS_DOLLAR && c->env->positional_index < 0)
            return positional_error(c->e);
        return op_creates(op->kind) ? non_array_error(c, depth > 0 ? p->parts[depth - 1] : "", parent) : 0;
    }
    return step(c, op, p, depth, parent, unode_find(parent, part), part, moved);
}

/* $rename's source: found without array traversal, and detached. */
static int rename_take(struct uctx *c, const struct uop *op, struct unode **out)
{
    struct unode *cur = c->root;
    *out = NULL;
    for (int i = 0; i < op->from.n_parts; i++) {
        if (cur->type == BSON_TYPE_ARRAY) {
            bson_string_t *s = bson_string_new(NULL);
            uctx_render_id(c, s);
            int rc = err_set(c->e, ERR_BAD_VALUE,
                             "The source field cannot be an array element, '%s' in doc with %s has an array field "
                             "called '%s'",
                             op->from.text, s->str, op->from.parts[i - 1]);
            bson_string_free(s, true);
            return rc;
        }
        if (cur->type != BSON_TYPE_DOCUMENT)
            return 0;
        long idx = unode_find(cur, op->from.parts[i]);
        if (idx < 0)
            return 0;
        if (i + 1 == op->from.n_parts) {
            *out = unode_detach(cur, (size_t)idx);
            return 0;
        }
        cur = cur->kids[idx];
    }
    return 0;
}

static int apply_ops(struct uctx *c)
{
    for (size_t i = 0; i < c->u->n_ops; i++) {
        const struct uop *op = &c->u->ops[i];
        if (op->kind == UOP_SET_ON_INSERT && !c->env->is_upsert_insert)
            continue;
        int rc;
        if (op->kind == UOP_RENAME) {
            struct unode *moved = NULL;
            rc = rename_take(c, op, &moved);
            if (rc == 0 && moved != NULL)
                rc = walk(c, op, &op->path, 0, c->root, &moved);
            unode_free(moved);
        } else {
            rc = walk(c, op, &op->path, 0, c->root, NULL);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static const char *id_touching_path(const struct update *u)
{
    for (size_t i = 0; i < u->n_ops; i++) {
        if (strcmp(u->ops[i].path.parts[0], "_id") == 0)
            return u->ops[i].path.text;
        if (u->ops[i].kind == UOP_RENAME && strcmp(u->ops[i].from.parts[0], "_id") == 0)
            return u->ops[i].from.text;
    }
    return "_id";
}

/* The immutable _id: orig (nullable) is the _id before the update. */
static int check_id(const struct update *u, const struct unode *orig, const struct unode *root, struct err *e)
{
    long i = unode_find(root, "_id");
    const struct unode *now = i >= 0 ? root->kids[i] : NULL;
    if (orig != NULL && (now == NULL || !unode_binary_equal(orig, now))) {
        if (u->kind == UPDATE_OPERATORS)
            return err_set(e, ERR_IMMUTABLE_FIELD,
                           "Performing an update on the path '%s' would modify the immutable field '_id'",
                           id_touching_path(u));
        bson_string_t *s = bson_string_new(NULL);
        if (now)
            update_render_node(now, s);
        int rc = err_set(e, ERR_IMMUTABLE_FIELD,
                         "After applying the update, the (immutable) field '_id' was found to have been %s%s",
                         now ? "altered to _id: " : "removed", s->str);
        bson_string_free(s, true);
        return rc;
    }
    if (now != NULL && now->type == BSON_TYPE_ARRAY)
        return err_set(e, ERR_INVALID_ID_FIELD, "The '_id' value cannot be of type array");
    return 0;
}

/* Builds the replacement document: the old _id first, then the new fields. */
static int apply_replacement(const struct update *u, const struct unode *orig_id, struct unode **out, struct err *e)
{
    struct unode *root = unode_from_doc(u->replacement);
    long i = unode_find(root, "_id");
    if (i >= 0 && orig_id != NULL) {
        bson_t tmp_a, tmp_b;
        bson_value_t a, b;
        unode_value(orig_id, &tmp_a, &a);
        unode_value(root->kids[i], &tmp_b, &b);
        bool same = bsonval_compare(&a, &b) == 0 && a.value_type == b.value_type;
        bson_destroy(&tmp_a);
        bson_destroy(&tmp_b);
        if (!same) {
            /* Values that do not compare equal may still be the same bytes
             * (then check_id accepts them and the old _id is kept). */
            int rc = check_id(u, orig_id, root, e);
            if (rc != 0) {
                unode_free(root);
                return rc;
            }
        }
        unode_free(unode_detach(root, (size_t)i));
    } else if (i >= 0) {
        unode_insert(root, 0, unode_detach(root, (size_t)i));
    }
    if (orig_id != NULL)
        unode_insert(root, 0, unode_clone(orig_id, "_id"));
    *out = root;
    return 0;
}

static int apply_pipeline(const struct update *u, const bson_t *doc, const struct unode *orig_id, struct unode **out,
                          struct err *e)
{
    bson_t res = BSON_INITIALIZER;
    int rc = pipeline_apply_to_doc(u->pipeline, doc, &res, e);
    if (rc) {
        bson_destroy(&res);
        return rc;
    }
    struct unode *root = unode_from_doc(&res);
    bson_destroy(&res);
    /* A pipeline that drops _id keeps the old one, as mongod does. */
    if (orig_id != NULL && unode_find(root, "_id") < 0)
        unode_insert(root, 0, unode_clone(orig_id, "_id"));
    *out = root;
    return 0;
}

static void id_to_front(struct unode *root)
{
    long i = unode_find(root, "_id");
    if (i > 0)
        unode_insert(root, 0, unode_detach(root, (size_t)i));
}

/* Runs the update over doc (already a tree in *root for operator updates). */
static int run_update(const struct update *u, const bson_t *doc, const struct update_env *env,
                      const struct unode *orig_id, struct unode **root, struct err *e)
{
    if (u->kind == UPDATE_OPERATORS) {
        struct uctx c = {u, env, *root, e};
        int rc = apply_ops(&c);
        return rc ? rc : check_id(u, orig_id, *root, e);
    }
    struct unode *res = NULL;
    int rc = u->kind == UPDATE_REPLACEMENT ? apply_replacement(u, orig_id, &res, e)
                                           : apply_pipeline(u, doc, orig_id, &res, e);
    if (rc == 0)
        rc = check_id(u, orig_id, res, e);
    if (rc) {
        unode_free(res);
        return rc;
    }
    unode_free(*root);
    *root = res;
    return 0;
}

int update_apply(const struct update *u, const bson_t *doc, const struct update_env *env, bson_t *out,
                 bool *is_changed, struct err *e)
{
    struct unode *root = unode_from_doc(doc);
    long id_idx = unode_find(root, "_id");
    struct unode *orig_id = id_idx >= 0 ? unode_clone(root->kids[id_idx], "_id") : NULL;
    int rc = run_update(u, doc, env, orig_id, &root, e);
    unode_free(orig_id);
    if (rc) {
        unode_free(root);
        return rc;
    }
    bson_t res = BSON_INITIALIZER;
    unode_write_doc(root, &res);
    unode_free(root);
    *is_changed = res.len != doc->len || memcmp(bson_get_data(&res), bson_get_data(doc), res.len) != 0;
    bson_concat(out, &res);
    bson_destroy(&res);
    return 0;
}

/* ---- upserts ---- */

struct seed {
    struct uctx c;
    struct upath *paths;
    size_t n_paths;
};

static int seed_path(struct seed *sd, const char *path, const bson_value_t *v)
{
    struct uop op = {0};
    if (upath_parse_lenient(path, &op.path) != 0)
        return 0;
    for (size_t i = 0; i < sd->n_paths; i++) {
        const struct upath *a = &sd->paths[i], *b = &op.path;
        int n = a->n_parts < b->n_parts ? a->n_parts : b->n_parts, j;
        for (j = 0; j < n && strcmp(a->parts[j], b->parts[j]) == 0; j++)
            ;
        if (j < n)
            continue;
        int rc = a->n_parts == b->n_parts
                     ? err_set(sd->c.e, ERR_NOT_SINGLE_VALUE_FIELD,
                               "cannot infer query fields to set, path '%s' is matched twice", a->text)
                     : err_set(sd->c.e, ERR_NOT_SINGLE_VALUE_FIELD,
                               "cannot infer query fields to set, both paths '%s' and '%s' are matched", b->text,
                               a->text);
        upath_free(&op.path);
        return rc;
    }
    op.kind = UOP_SET;
    op.name = "$set";
    op.arg = *v;
    int rc = walk(&sd->c, &op, &op.path, 0, sd->c.root, NULL);
    sd->paths = xrealloc(sd->paths, (sd->n_paths + 1) * sizeof *sd->paths);
    sd->paths[sd->n_paths++] = op.path;
    return rc;
}

/* Equality conditions of the filter (top level and inside $and). */
static int seed_filter(struct seed *sd, const bson_t *filter, int depth)
{
    bson_iter_t it;
    if (depth > 100 || !bson_iter_init(&it, filter))
        return 0;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        const bson_value_t *v = bson_iter_value(&it);
        if (strcmp(k, "$and") == 0 && v->value_type == BSON_TYPE_ARRAY) {
            bson_iter_t sub;
            bson_iter_recurse(&it, &sub);
            while (bson_iter_next(&sub)) {
                if (!BSON_ITER_HOLDS_DOCUMENT(&sub))
                    continue;
                const uint8_t *data;
                uint32_t len;
                bson_t d;
                bson_iter_document(&sub, &len, &data);
                if (!bson_init_static(&d, data, len))
                    continue;
                int rc = seed_filter(sd, &d, depth + 1);
                if (rc)
                    return rc;
            }
            continue;
        }
        if (k[0] == '$' || v->value_type == BSON_TYPE_REGEX)
            continue;
        if (v->value_type == BSON_TYPE_DOCUMENT) {
            bson_iter_t sub;
            bson_iter_recurse(&it, &sub);
            if (bson_iter_next(&sub) && bson_iter_key(&sub)[0] == '$') {
                /* {a: {$eq: v}} seeds like {a: v}; other operators do not. */
                if (!bson_iter_recurse(&it, &sub) || !bson_iter_find(&sub, "$eq"))
                    continue;
                int rc = seed_path(sd, k, bson_iter_value(&sub));
                if (rc)
                    return rc;
                continue;
            }
        }
        int rc = seed_path(sd, k, v);
        if (rc)
            return rc;
    }
    return 0;
}

static void append_new_id(struct unode *root)
{
    bson_value_t v = {.value_type = BSON_TYPE_OID};
    bson_oid_init(&v.value.v_oid, NULL);
    unode_insert(root, 0, unode_from_value("_id", &v));
}

int update_build_upsert(const struct update *u, const bson_t *query, const struct update_env *env, bson_t *out,
                        struct err *e)
{
    struct update_env ins = *env;
    ins.is_upsert_insert = true;
    struct seed sd = {{u, &ins, unode_new_container(NULL, BSON_TYPE_DOCUMENT), e}, NULL, 0};
    int rc = query ? seed_filter(&sd, query, 0) : 0;
    for (size_t i = 0; i < sd.n_paths; i++)
        upath_free(&sd.paths[i]);
    free(sd.paths);
    struct unode *root = sd.c.root;
    if (rc)
        goto done;
    long id_idx = unode_find(root, "_id");
    struct unode *seed_id = id_idx >= 0 ? unode_clone(root->kids[id_idx], "_id") : NULL;
    if (u->kind == UPDATE_OPERATORS) {
        struct uctx c = {u, &ins, root, e};
        rc = apply_ops(&c);
        if (rc == 0)
            rc = check_id(u, seed_id, root, e);
    } else if (u->kind == UPDATE_REPLACEMENT) {
        struct unode *res = unode_from_doc(u->replacement);
        unode_free(root);
        root = res;
        if (unode_find(root, "_id") < 0 && seed_id != NULL)
            unode_insert(root, 0, unode_clone(seed_id, "_id"));
        rc = check_id(u, NULL, root, e);
    } else {
        bson_t seeded = BSON_INITIALIZER;
        unode_write_doc(root, &seeded);
        struct unode *res = NULL;
        rc = apply_pipeline(u, &seeded, seed_id, &res, e);
        bson_destroy(&seeded);
        if (rc == 0) {
            unode_free(root);
            root = res;
            rc = check_id(u, seed_id, root, e);
        }
    }
    unode_free(seed_id);
    if (rc)
        goto done;
    if (unode_find(root, "_id") < 0)
        append_new_id(root);
    id_to_front(root);
    unode_write_doc(root, out);
done:
    unode_free(root);
    return rc;
}
