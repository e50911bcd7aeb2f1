/* agg_project.c - the projection trees behind $project, $addFields/$set and
 * $unset, plus dotted-path assignment used by $unwind.
 *
 * A spec becomes a tree of named nodes (include, exclude, computed
 * expression, or sub-tree for "a.b" and {a: {b: ...}}). Applying it follows
 * mongod's two phases: first the input's fields are walked in order
 * (included/kept fields copied, sub-documents and arrays recursed), then
 * computed fields are set - in place when the field is already in the output
 * (always so for $addFields), otherwise appended in spec order. $$ROOT in
 * computed fields is always the stage's input document. */
#include "query/agg_internal.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

enum pnode_kind { PN_INCLUDE, PN_EXCLUDE, PN_EXPR, PN_SUB };
enum proj_mode { MODE_INCLUDE, MODE_EXCLUDE, MODE_ADD };

struct pnode {
    char *name;
    enum pnode_kind kind;
    bson_value_t expr; /* PN_EXPR: owned copy of the expression */
    struct pnode *kids;
    size_t n_kids, cap_kids;
    bool has_expr; /* some PN_EXPR below (or here) */
};

struct agg_proj {
    struct pnode root;
    enum proj_mode mode;
    const char *stage_name;
};

static void node_free(struct pnode *n)
{
    for (size_t i = 0; i < n->n_kids; i++)
        node_free(&n->kids[i]);
    free(n->kids);
    free(n->name);
    if (n->kind == PN_EXPR)
        bson_value_destroy(&n->expr);
}

static struct pnode *node_find(const struct pnode *n, const char *name, size_t len)
{
    for (size_t i = 0; i < n->n_kids; i++)
        if (strlen(n->kids[i].name) == len && memcmp(n->kids[i].name, name, len) == 0)
            return &n->kids[i];
    return NULL;
}

static struct pnode *node_add(struct pnode *n, const char *name, size_t len, enum pnode_kind kind)
{
    if (n->n_kids == n->cap_kids) {
        n->cap_kids = n->cap_kids ? n->cap_kids * 2 : 4;
        n->kids = xrealloc(n->kids, n->cap_kids * sizeof *n->kids);
    }
    struct pnode *k = &n->kids[n->n_kids++];
    memset(k, 0, sizeof *k);
    k->name = xstrndup(name, len);
    k->kind = kind;
    return k;
}

/* Inserts a leaf at the dotted `path` below n; collisions ("a" and "a.b")
 * are refused as mongod refuses them. */
static int tree_insert(struct agg_proj *p, struct pnode *n, const char *path, enum pnode_kind kind,
                       const bson_value_t *expr, struct err *e)
{
    const char *full = path;
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len == 0)
            return err_set(e, ERR_FAILED_TO_PARSE, "Invalid %s :: caused by :: FieldPath field names may not be empty strings.",
                           p->stage_name);
        if (path[0] == '$')
            return err_set(e, ERR_FAILED_TO_PARSE,
                           "Invalid %s :: caused by :: FieldPath field names may not start with '$'. Consider using "
                           "$getField or $setField.",
                           p->stage_name);
        struct pnode *k = node_find(n, path, len);
        if (dot == NULL) {
            if (k != NULL)
                return err_set(e, ERR_FAILED_TO_PARSE, "Invalid %s :: caused by :: Path collision at %s",
                               p->stage_name, full);
            k = node_add(n, path, len, kind);
            if (kind == PN_EXPR)
                bson_value_copy(expr, &k->expr);
            return 0;
        }
        if (k == NULL)
            k = node_add(n, path, len, PN_SUB);
        else if (k->kind != PN_SUB)
            return err_set(e, ERR_FAILED_TO_PARSE, "Invalid %s :: caused by :: Path collision at %s", p->stage_name,
                           full);
        n = k;
        path = dot + 1;
    }
}

static bool is_operator_object(const bson_value_t *v)
{
    bson_iter_t it;
    return v->value_type == BSON_TYPE_DOCUMENT &&
           bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) && bson_iter_next(&it) &&
           bson_iter_key(&it)[0] == '$';
}

static int parse_spec(struct agg_proj *p, struct pnode *n, const bson_value_t *spec, const char *prefix,
                      struct err *e)
{
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, spec->value.v_doc.data, spec->value.v_doc.data_len))
        return err_set(e, ERR_INVALID_BSON, "Invalid %s: bad BSON", p->stage_name);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        const bson_value_t *v = bson_iter_value(&it);
        char path[1024];
        int rc;
        if (snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", key) >= (int)sizeof path)
            return err_set(e, ERR_FAILED_TO_PARSE, "Invalid %s: field path too long", p->stage_name);
        if (v->value_type == BSON_TYPE_DOCUMENT && !is_operator_object(v)) {
            bson_iter_t sub;
            bool is_empty = !bson_iter_init_from_data(&sub, v->value.v_doc.data, v->value.v_doc.data_len) ||
                            !bson_iter_next(&sub);
            if (is_empty && p->mode != MODE_ADD)
                return err_set(e, ERR_FAILED_TO_PARSE,
                               "Invalid %s :: caused by :: An empty sub-projection is not a valid value. Found "
                               "empty object at path",
                               p->stage_name);
            if (!is_empty) {
                rc = parse_spec(p, n, v, path, e);
                if (rc < 0)
                    return rc;
                continue;
            }
        }
        bool is_flag = v->value_type == BSON_TYPE_BOOL || agg_val_is_number(v);
        if (p->mode != MODE_ADD && is_flag)
            rc = tree_insert(p, n, path, agg_val_truthy(v) ? PN_INCLUDE : PN_EXCLUDE, NULL, e);
        else {
            rc = agg_expr_check(v, e);
            if (rc < 0) {
                err_prefix(e, "Invalid %s :: caused by :", p->stage_name); /* reads "caused by :: " */
                return rc;
            }
            rc = tree_insert(p, n, path, PN_EXPR, v, e);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Marks has_expr and finds the first include/exclude outside top-level _id
 * to decide (and check) the projection's mode. */
static void scan_tree(struct pnode *n, bool is_top, const char *prefix, char *first_incl, char *first_excl,
                      size_t size, char *first_kind)
{
    n->has_expr = n->kind == PN_EXPR;
    for (size_t i = 0; i < n->n_kids; i++) {
        struct pnode *k = &n->kids[i];
        char path[1024];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", k->name);
        bool is_id = is_top && strcmp(k->name, "_id") == 0;
        if ((k->kind == PN_INCLUDE || k->kind == PN_EXPR) && !is_id && first_incl[0] == '\0') {
            snprintf(first_incl, size, "%s", path);
            *first_kind = *first_kind ? *first_kind : 'i';
        }
        if (k->kind == PN_EXCLUDE && !is_id && first_excl[0] == '\0') {
            snprintf(first_excl, size, "%s", path);
            *first_kind = *first_kind ? *first_kind : 'e';
        }
        scan_tree(k, false, path, first_incl, first_excl, size, first_kind);
        n->has_expr = n->has_expr || k->has_expr;
    }
}

int agg_proj_create(const bson_value_t *spec, enum agg_proj_kind kind, const char *stage_name,
                    struct agg_proj **out, struct err *e)
{
    struct agg_proj *p = xcalloc(1, sizeof *p);
    int rc = 0;
    p->stage_name = stage_name;
    p->root.kind = PN_SUB;
    p->mode = kind == AGG_PROJ_ADD_FIELDS ? MODE_ADD : kind == AGG_PROJ_UNSET ? MODE_EXCLUDE : MODE_INCLUDE;
    if (kind == AGG_PROJ_UNSET) {
        struct agg_vals names;
        if (spec->value_type != BSON_TYPE_UTF8 && spec->value_type != BSON_TYPE_ARRAY) {
            rc = err_set(e, ERR_FAILED_TO_PARSE,
                         "$unset specification must be a string or an array containing only string values");
            goto fail;
        }
        agg_args_raw(spec, &names);
        if (names.n == 0)
            rc = err_set(e, ERR_FAILED_TO_PARSE, "$unset specification must be a string or an array with at least one field");
        for (size_t i = 0; i < names.n && rc == 0; i++) {
            if (names.v[i].value_type != BSON_TYPE_UTF8)
                rc = err_set(e, ERR_FAILED_TO_PARSE,
                             "$unset specification must be a string or an array containing only string values");
            else
                rc = tree_insert(p, &p->root, names.v[i].value.v_utf8.str, PN_EXCLUDE, NULL, e);
        }
        agg_vals_free(&names);
        if (rc < 0)
            goto fail;
        *out = p;
        return 0;
    }
    if (spec->value_type != BSON_TYPE_DOCUMENT) {
        rc = err_set(e, ERR_FAILED_TO_PARSE, "%s specification must be an object", stage_name);
        goto fail;
    }
    rc = parse_spec(p, &p->root, spec, "", e);
    if (rc < 0)
        goto fail;
    char first_incl[1024] = "", first_excl[1024] = "", first_kind = 0;
    scan_tree(&p->root, true, "", first_incl, first_excl, sizeof first_incl, &first_kind);
    if (kind == AGG_PROJ_ADD_FIELDS) {
        *out = p;
        return 0;
    }
    if (p->root.n_kids == 0) {
        rc = err_set(e, ERR_FAILED_TO_PARSE,
                     "Invalid $project :: caused by :: projection specification must have at least one field");
        goto fail;
    }
    if (first_incl[0] && first_excl[0]) {
        /* mongod names the field that conflicts with the mode set first */
        if (first_kind == 'i')
            rc = err_set(e, ERR_FAILED_TO_PARSE,
                         "Invalid $project :: caused by :: Cannot do exclusion on field %s in inclusion projection",
                         first_excl);
        else
            rc = err_set(e, ERR_FAILED_TO_PARSE,
                         "Invalid $project :: caused by :: Cannot do inclusion on field %s in exclusion projection",
                         first_incl);
        goto fail;
    }
    struct pnode *id = node_find(&p->root, "_id", 3);
    if (first_incl[0] || (id != NULL && id->kind != PN_EXCLUDE && first_excl[0] == '\0')) {
        p->mode = MODE_INCLUDE;
        if (id == NULL)
            node_add(&p->root, "_id", 3, PN_INCLUDE);
    } else {
        p->mode = MODE_EXCLUDE;
    }
    *out = p;
    return 0;
fail:
    agg_proj_destroy(p);
    return rc;
}

void agg_proj_destroy(struct agg_proj *p)
{
    if (p == NULL)
        return;
    node_free(&p->root);
    free(p);
}

static int apply_doc(const struct pnode *n, enum proj_mode mode, const bson_value_t *in, const struct agg_ctx *c,
                     bson_t *out, struct err *e);

static int apply_array(const struct pnode *n, enum proj_mode mode, const bson_value_t *in,
                       const struct agg_ctx *c, bson_t *out, struct err *e)
{
    bson_iter_t it;
    uint32_t idx = 0;
    if (!bson_iter_init_from_data(&it, in->value.v_doc.data, in->value.v_doc.data_len))
        return 0;
    while (bson_iter_next(&it)) {
        const bson_value_t *v = bson_iter_value(&it);
        char key[16];
        const char *k;
        size_t klen = bson_uint32_to_string(idx, &k, key, sizeof key);
        bson_t child;
        int rc = 0;
        if (v->value_type == BSON_TYPE_DOCUMENT || (v->value_type != BSON_TYPE_ARRAY && n->has_expr &&
                                                    mode != MODE_EXCLUDE)) {
            /* scalars under computed fields become documents of those fields */
            bson_append_document_begin(out, k, (int)klen, &child);
            rc = apply_doc(n, mode, v->value_type == BSON_TYPE_DOCUMENT ? v : NULL, c, &child, e);
            bson_append_document_end(out, &child);
        } else if (v->value_type == BSON_TYPE_ARRAY) {
            bson_append_array_begin(out, k, (int)klen, &child);
            rc = apply_array(n, mode, v, c, &child, e);
            bson_append_array_end(out, &child);
        } else if (mode != MODE_INCLUDE) {
            bson_append_value(out, k, (int)klen, v);
        } else {
            continue;
        }
        if (rc < 0)
            return rc;
        idx++;
    }
    return 0;
}

static int eval_into(const struct pnode *k, const struct agg_ctx *c, bson_t *out, struct err *e)
{
    bson_value_t v;
    int rc = agg_expr_eval(&k->expr, c, &v, e);
    if (rc < 0)
        return rc;
    agg_val_append(out, k->name, strlen(k->name), &v);
    bson_value_destroy(&v);
    return 0;
}

/* in is a document value, or NULL for "build the computed fields only". */
static int apply_doc(const struct pnode *n, enum proj_mode mode, const bson_value_t *in, const struct agg_ctx *c,
                     bson_t *out, struct err *e)
{
    bool done_small[16];
    bool *done = n->n_kids <= 16 ? done_small : xcalloc(n->n_kids, sizeof *done);
    int rc = 0;
    memset(done, 0, (n->n_kids <= 16 ? 16 : n->n_kids) * sizeof *done);
    bson_iter_t it;
    if (in != NULL && bson_iter_init_from_data(&it, in->value.v_doc.data, in->value.v_doc.data_len)) {
        while (rc == 0 && bson_iter_next(&it)) {
            const struct pnode *k = node_find(n, bson_iter_key(&it), bson_iter_key_len(&it));
            const bson_value_t *v = bson_iter_value(&it);
            if (k == NULL) {
                if (mode != MODE_INCLUDE)
                    bson_append_value(out, bson_iter_key(&it), (int)bson_iter_key_len(&it), v);
                continue;
            }
            size_t ki = (size_t)(k - n->kids);
            bson_t child;
            switch (k->kind) {
            case PN_INCLUDE:
                bson_append_value(out, bson_iter_key(&it), (int)bson_iter_key_len(&it), v);
                done[ki] = true;
                break;
            case PN_EXCLUDE:
                break;
            case PN_EXPR:
                if (mode == MODE_ADD) {
                    rc = eval_into(k, c, out, e);
                    done[ki] = true;
                }
                break;
            case PN_SUB:
                if (v->value_type == BSON_TYPE_DOCUMENT) {
                    bson_append_document_begin(out, k->name, -1, &child);
                    rc = apply_doc(k, mode, v, c, &child, e);
                    bson_append_document_end(out, &child);
                    done[ki] = true;
                } else if (v->value_type == BSON_TYPE_ARRAY) {
                    bson_append_array_begin(out, k->name, -1, &child);
                    rc = apply_array(k, mode, v, c, &child, e);
                    bson_append_array_end(out, &child);
                    done[ki] = true;
                } else if (mode == MODE_EXCLUDE) {
                    bson_append_value(out, k->name, -1, v);
                    done[ki] = true;
                } else if (mode == MODE_ADD) {
                    bson_append_document_begin(out, k->name, -1, &child);
                    rc = apply_doc(k, mode, NULL, c, &child, e);
                    bson_append_document_end(out, &child);
                    done[ki] = true;
                }
                break;
            }
        }
    }
    /* Phase two: computed fields not yet placed, in spec order. */
    for (size_t i = 0; rc == 0 && i < n->n_kids && mode != MODE_EXCLUDE; i++) {
        const struct pnode *k = &n->kids[i];
        if (done[i] || !k->has_expr)
            continue;
        if (k->kind == PN_EXPR) {
            rc = eval_into(k, c, out, e);
        } else {
            bson_t child;
            bson_append_document_begin(out, k->name, -1, &child);
            rc = apply_doc(k, mode, NULL, c, &child, e);
            bson_append_document_end(out, &child);
        }
    }
    if (done != done_small)
        free(done);
    return rc;
}

int agg_proj_apply(const struct agg_proj *p, const bson_t *doc, const struct agg_ctx *c, bson_t *out,
                   struct err *e)
{
    bson_value_t in;
    agg_val_view_doc(&in, doc);
    return apply_doc(&p->root, p->mode, &in, c, out, e);
}

void agg_doc_set_path(const uint8_t *data, uint32_t len, const char *path, const bson_value_t *v, bson_t *out)
{
    const char *dot = strchr(path, '.');
    size_t comp_len = dot ? (size_t)(dot - path) : strlen(path);
    bool is_found = false;
    bson_iter_t it;
    if (data != NULL && bson_iter_init_from_data(&it, data, len)) {
        while (bson_iter_next(&it)) {
            const bson_value_t *cur = bson_iter_value(&it);
            if (is_found || bson_iter_key_len(&it) != comp_len || memcmp(bson_iter_key(&it), path, comp_len) != 0) {
                bson_append_value(out, bson_iter_key(&it), (int)bson_iter_key_len(&it), cur);
                continue;
            }
            is_found = true;
            if (dot == NULL) {
                agg_val_append(out, path, comp_len, v);
                continue;
            }
            bson_t child;
            bson_append_document_begin(out, path, (int)comp_len, &child);
            if (cur->value_type == BSON_TYPE_DOCUMENT)
                agg_doc_set_path(cur->value.v_doc.data, cur->value.v_doc.data_len, dot + 1, v, &child);
            else
                agg_doc_set_path(NULL, 0, dot + 1, v, &child);
            bson_append_document_end(out, &child);
        }
    }
    if (is_found || agg_val_is_missing(v))
        return;
    if (dot == NULL) {
        agg_val_append(out, path, comp_len, v);
        return;
    }
    bson_t child;
    bson_append_document_begin(out, path, (int)comp_len, &child);
    agg_doc_set_path(NULL, 0, dot + 1, v, &child);
    bson_append_document_end(out, &child);
}
