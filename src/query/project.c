/* project.c - find/findAndModify projections as a tree over path components.
 *
 * Sits after the matcher in find: the spec is parsed once into a tree
 * ({a: 1, "b.c": 0} -> a, b -> c) with an action at each leaf; applying it
 * walks the document once, in document order, descending into arrays of
 * subdocuments the way mongod does. Guarantees mongod's rules: inclusion and
 * exclusion never mix (except _id, included by default), $slice keeps other
 * fields unless the projection is an inclusion, $elemMatch and "a.$" make it
 * an inclusion. Since 4.4 any other value is a computed field, as in agg's
 * $project: an aggregation expression ({$add: [...]}, "$path") or a literal
 * ("x", null, [1, "$a"]), evaluated against the whole document with
 * agg_expr_eval_append; computed fields count as inclusions, follow a
 * document's own fields, and turn a scalar on their path into a subdocument. */
#include "query/project.h"

#include "core/mem.h"
#include "query/agg.h"
#include "query/bsonval.h"
#include "query/match.h"

#include <math.h>
#include <string.h>

enum pnode_action {
    PA_NONE,       /* interior node: see children */
    PA_INCLUDE,
    PA_EXCLUDE,
    PA_SLICE,
    PA_ELEM_MATCH,
    PA_POSITIONAL,
    PA_EXPR,
};

struct pnode {
    char *name; /* owned path component; NULL for the root */
    enum pnode_action action;
    int64_t slice_skip;   /* PA_SLICE: elements to skip (negative: from the end) */
    int64_t slice_limit;  /* PA_SLICE: elements to keep */
    bool has_slice_skip;
    struct matcher *elem_matcher; /* PA_ELEM_MATCH: {"x": {$elemMatch: ...}} */
    bson_value_t expr;            /* PA_EXPR: borrows from projection.spec */
    bool has_computed;            /* this node or a descendant is PA_EXPR */
    struct pnode **children;
    int n_children;
};

struct projection {
    bson_t *spec; /* owned copy, expressions borrow from it */
    struct pnode *root;
    bool is_inclusion;
    bool is_id_excluded;
};

static void pnode_free(struct pnode *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->n_children; i++)
        pnode_free(n->children[i]);
    free(n->children);
    matcher_destroy(n->elem_matcher);
    free(n->name);
    free(n);
}

static struct pnode *pnode_child(const struct pnode *n, const char *name, size_t len)
{
    for (int i = 0; i < n->n_children; i++)
        if (strlen(n->children[i]->name) == len && memcmp(n->children[i]->name, name, len) == 0)
            return n->children[i];
    return NULL;
}

static struct pnode *pnode_add(struct pnode *parent, const char *name, size_t len)
{
    struct pnode *c = xcalloc(1, sizeof *c);
    c->name = xstrndup(name, len);
    parent->children = xrealloc(parent->children, sizeof *parent->children * (size_t)(parent->n_children + 1));
    parent->children[parent->n_children++] = c;
    return c;
}

/* Creates the leaf for a dotted path; mongod code 31250 on overlap. */
static int insert_path(struct pnode *root, const char *path, struct pnode **leaf, struct err *e)
{
    struct pnode *n = root;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0)
            return err_set(e, ERR_BAD_VALUE, "FieldPath must not contain empty field names: %s", path);
        if (p[0] == '$')
            return err_set(e, ERR_BAD_VALUE, "FieldPath field names may not start with '$'. Given: %s", path);
        struct pnode *c = pnode_child(n, p, len);
        if (c && c->action != PA_NONE)
            return err_set(e, ERR_BAD_VALUE, "Path collision at %s", path);
        if (!c)
            c = pnode_add(n, p, len);
        if (!dot) {
            if (c->n_children > 0)
                return err_set(e, ERR_BAD_VALUE, "Path collision at %s", path);
            *leaf = c;
            return 0;
        }
        n = c;
        p = dot + 1;
    }
}

static int parse_slice(const bson_value_t *v, struct pnode *leaf, struct err *e)
{
    if (bsonval_is_number(v)) {
        double d = bsonval_as_double(v);
        leaf->slice_limit = isnan(d) ? 0 : d > 1e15 ? (int64_t)1e15 : d < -1e15 ? (int64_t)-1e15 : (int64_t)d;
        return 0;
    }
    if (v->value_type == BSON_TYPE_ARRAY) {
        bson_iter_t it;
        bson_value_t args[2];
        int n = 0;
        if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
            while (bson_iter_next(&it))
                if (n++ < 2)
                    args[n - 1] = *bson_iter_value(&it);
        if (n != 2 || !bsonval_is_number(&args[0]) || !bsonval_is_number(&args[1]))
            return err_set(e, ERR_BAD_VALUE, "$slice only supports numbers and [skip, limit] arrays");
        double skip = bsonval_as_double(&args[0]), limit = bsonval_as_double(&args[1]);
        /* mongod code 28724 */
        if (!(limit > 0))
            return err_set(e, ERR_BAD_VALUE, "$slice limit must be positive");
        leaf->has_slice_skip = true;
        leaf->slice_skip = isnan(skip) ? 0 : skip > 1e15 ? (int64_t)1e15 : skip < -1e15 ? (int64_t)-1e15 : (int64_t)skip;
        leaf->slice_limit = limit > 1e15 ? (int64_t)1e15 : (int64_t)limit;
        return 0;
    }
    return err_set(e, ERR_BAD_VALUE, "$slice only supports numbers and [skip, limit] arrays");
}

static int parse_operator(const char *path, const bson_value_t *v, struct pnode *leaf, struct err *e)
{
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) || !bson_iter_next(&it))
        return err_set(e, ERR_BAD_VALUE, "An empty sub-projection is not a valid value. Found empty object at path");
    const char *op = bson_iter_key(&it);
    const bson_value_t *arg = bson_iter_value(&it);
    if (strcmp(op, "$slice") == 0) {
        leaf->action = PA_SLICE;
        return parse_slice(arg, leaf, e);
    }
    if (strcmp(op, "$elemMatch") == 0) {
        if (arg->value_type != BSON_TYPE_DOCUMENT)
            return err_set(e, ERR_BAD_VALUE, "elemMatch: Invalid argument, object required.");
        if (strchr(path, '.'))
            return err_set(e, ERR_BAD_VALUE, "Cannot use $elemMatch projection on a nested field.");
        bson_t filter = BSON_INITIALIZER, inner;
        bson_t arg_doc;
        bson_init_static(&arg_doc, arg->value.v_doc.data, arg->value.v_doc.data_len);
        bson_append_document_begin(&filter, "x", 1, &inner);
        bson_append_document(&inner, "$elemMatch", -1, &arg_doc);
        bson_append_document_end(&filter, &inner);
        int rc = matcher_create(&filter, &leaf->elem_matcher, e);
        bson_destroy(&filter);
        leaf->action = PA_ELEM_MATCH;
        return rc;
    }
    if (strcmp(op, "$meta") == 0)
        return err_set(e, ERR_NOT_IMPLEMENTED, "$meta projection is not supported by this server");
    leaf->action = PA_EXPR;
    leaf->expr = *v;
    return agg_expr_check(v, e);
}

/* Marks every node on path as leading to a computed field. */
static void mark_computed(struct pnode *root, const char *path)
{
    struct pnode *n = root;
    const char *p = path;
    for (;;) {
        n->has_computed = true;
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        n = pnode_child(n, p, len);
        if (!n)
            return;
        if (!dot) {
            n->has_computed = true;
            return;
        }
        p = dot + 1;
    }
}

struct parse_state {
    int n_included;    /* non-_id inclusions, positional, elemMatch, computed fields */
    int n_excluded;    /* non-_id exclusions */
    int n_positional;
};

static bool is_operator_doc(const bson_value_t *v)
{
    bson_iter_t it;
    return v->value_type == BSON_TYPE_DOCUMENT &&
           bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) && bson_iter_next(&it) &&
           bson_iter_key(&it)[0] == '$';
}

static int parse_spec(struct projection *p, const uint8_t *data, uint32_t len, const char *prefix,
                      struct parse_state *st, int depth, struct err *e)
{
    bson_iter_t it;
    if (depth > 100)
        return err_set(e, ERR_BAD_VALUE, "projection is nested too deeply");
    if (!bson_iter_init_from_data(&it, data, len))
        return err_set(e, ERR_BAD_VALUE, "invalid projection");
    while (bson_iter_next(&it)) {
        const bson_value_t *v = bson_iter_value(&it);
        char *path = prefix ? bson_strdup_printf("%s.%s", prefix, bson_iter_key(&it)) : bson_strdup(bson_iter_key(&it));
        int rc = 0;
        size_t plen = strlen(path);
        bool is_positional = plen >= 2 && strcmp(path + plen - 2, ".$") == 0;
        if (is_positional)
            path[plen - 2] = '\0';
        bool is_id = strcmp(path, "_id") == 0;
        struct pnode *leaf = NULL;
        if (v->value_type == BSON_TYPE_DOCUMENT && !is_operator_doc(v) && !is_positional) {
            /* {a: {b: 1}} is the same as {"a.b": 1}. */
            if (v->value.v_doc.data_len <= 5)
                rc = err_set(e, ERR_BAD_VALUE,
                             "An empty sub-projection is not a valid value. Found empty object at path");
            else
                rc = parse_spec(p, v->value.v_doc.data, v->value.v_doc.data_len, path, st, depth + 1, e);
            bson_free(path);
            if (rc)
                return rc;
            continue;
        }
        if (strstr(path, ".$") || strcmp(path, "$") == 0) {
            rc = err_set(e, ERR_BAD_VALUE, "Positional projection '%s' contains the positional operator in the middle",
                         bson_iter_key(&it));
        } else {
            rc = insert_path(p->root, path, &leaf, e);
        }
        if (rc == 0 && is_positional) {
            leaf->action = PA_POSITIONAL;
            if (++st->n_positional > 1)
                rc = err_set(e, ERR_BAD_VALUE, "Cannot specify more than one positional projection per query.");
            st->n_included++;
        } else if (rc == 0 && v->value_type == BSON_TYPE_DOCUMENT) {
            rc = parse_operator(path, v, leaf, e);
            if (leaf->action == PA_ELEM_MATCH || leaf->action == PA_EXPR)
                st->n_included++;
            if (leaf->action == PA_EXPR)
                mark_computed(p->root, path);
        } else if (rc == 0 && (bsonval_is_number(v) || v->value_type == BSON_TYPE_BOOL)) {
            bool is_on = v->value_type == BSON_TYPE_BOOL ? v->value.v_bool : bsonval_as_double(v) != 0;
            leaf->action = is_on ? PA_INCLUDE : PA_EXCLUDE;
            if (is_id) {
                p->is_id_excluded = !is_on;
            } else if (is_on) {
                st->n_included++;
            } else {
                st->n_excluded++;
            }
        } else if (rc == 0) {
            /* Strings ("$a" or a literal), arrays, null, dates...: an
             * expression whose value is the field's. */
            leaf->action = PA_EXPR;
            leaf->expr = *v;
            rc = agg_expr_check(v, e);
            mark_computed(p->root, path);
            st->n_included++;
        }
        if (rc == 0 && st->n_included && st->n_excluded) {
            /* mongod codes 31253 / 31254: whichever kind came second is named. */
            if (leaf && leaf->action == PA_EXCLUDE)
                rc = err_set(e, 31254, "Cannot do exclusion on field %s in inclusion projection", path);
            else
                rc = err_set(e, 31253, "Cannot do inclusion on field %s in exclusion projection", path);
        }
        bson_free(path);
        if (rc)
            return rc;
    }
    return 0;
}

int projection_create(const bson_t *spec, struct projection **out, struct err *e)
{
    struct projection *p = xcalloc(1, sizeof *p);
    p->spec = bson_copy(spec);
    p->root = xcalloc(1, sizeof *p->root);
    struct parse_state st = {0};
    int rc = parse_spec(p, bson_get_data(p->spec), p->spec->len, NULL, &st, 0, e);
    if (rc) {
        projection_destroy(p);
        return rc;
    }
    /* {_id: 1} alone is an inclusion; {_id: 0} alone an exclusion. */
    struct pnode *id = pnode_child(p->root, "_id", 3);
    p->is_inclusion = st.n_included > 0 || (st.n_excluded == 0 && id && id->action == PA_INCLUDE);
    *out = p;
    return 0;
}

void projection_destroy(struct projection *p)
{
    if (!p)
        return;
    pnode_free(p->root);
    bson_destroy(p->spec);
    free(p);
}

static void append_slice(const struct pnode *n, const char *key, const bson_value_t *arr, bson_t *out)
{
    bson_iter_t it;
    int64_t count = 0;
    if (bson_iter_init_from_data(&it, arr->value.v_doc.data, arr->value.v_doc.data_len))
        while (bson_iter_next(&it))
            count++;
    int64_t from, to;
    if (n->has_slice_skip) {
        from = n->slice_skip < 0 ? count + n->slice_skip : n->slice_skip;
        if (from < 0)
            from = 0;
        to = from + n->slice_limit;
    } else if (n->slice_limit >= 0) {
        from = 0;
        to = n->slice_limit;
    } else {
        from = count + n->slice_limit;
        if (from < 0)
            from = 0;
        to = count;
    }
    bson_t child;
    bson_append_array_begin(out, key, -1, &child);
    int64_t i = 0, w = 0;
    bson_iter_init_from_data(&it, arr->value.v_doc.data, arr->value.v_doc.data_len);
    while (bson_iter_next(&it)) {
        if (i >= from && i < to) {
            char buf[16];
            const char *k;
            bson_uint32_to_string((uint32_t)w++, &k, buf, sizeof buf);
            bson_append_value(&child, k, -1, bson_iter_value(&it));
        }
        i++;
    }
    bson_append_array_end(out, &child);
}

static bool append_single_element(const char *key, const bson_value_t *arr, int index, bson_t *out)
{
    bson_iter_t it;
    if (index < 0 || !bson_iter_init_from_data(&it, arr->value.v_doc.data, arr->value.v_doc.data_len))
        return false;
    for (int i = 0; bson_iter_next(&it); i++) {
        if (i == index) {
            bson_t child;
            bson_append_array_begin(out, key, -1, &child);
            bson_append_value(&child, "0", 1, bson_iter_value(&it));
            bson_append_array_end(out, &child);
            return true;
        }
    }
    return false;
}

struct apply_ctx {
    const struct projection *p;
    const bson_t *root; /* expressions see the whole document */
    int positional_index;
    struct err *e;
};

static int apply_doc(struct apply_ctx *c, const struct pnode *n, const uint8_t *data, uint32_t len, bool is_top,
                     bson_t *out);
static int append_computed(struct apply_ctx *c, const struct pnode *n, const uint8_t *data, uint32_t len,
                           bson_t *out);

static const uint8_t empty_doc[5] = {5, 0, 0, 0, 0};

/* Applies interior node n to a value: subdocuments recurse, arrays map over
 * their elements, scalars survive only in an exclusion, or become a
 * subdocument of n's computed fields. */
static int apply_value(struct apply_ctx *c, const struct pnode *n, const char *key, const bson_value_t *v,
                       bson_t *out)
{
    bson_t child;
    int rc = 0;
    if (v->value_type == BSON_TYPE_DOCUMENT || (v->value_type != BSON_TYPE_ARRAY && n->has_computed)) {
        bool is_doc = v->value_type == BSON_TYPE_DOCUMENT;
        bson_append_document_begin(out, key, -1, &child);
        rc = apply_doc(c, n, is_doc ? v->value.v_doc.data : empty_doc, is_doc ? v->value.v_doc.data_len : 5,
                       false, &child);
        bson_append_document_end(out, &child);
        return rc;
    }
    if (v->value_type != BSON_TYPE_ARRAY) {
        if (!c->p->is_inclusion)
            bson_append_value(out, key, -1, v);
        return 0;
    }
    bson_iter_t it;
    bson_append_array_begin(out, key, -1, &child);
    uint32_t w = 0;
    if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len)) {
        while (bson_iter_next(&it) && rc == 0) {
            const bson_value_t *ev = bson_iter_value(&it);
            char buf[16];
            const char *k;
            bson_uint32_to_string(w, &k, buf, sizeof buf);
            if (ev->value_type == BSON_TYPE_DOCUMENT || ev->value_type == BSON_TYPE_ARRAY || n->has_computed) {
                rc = apply_value(c, n, k, ev, &child);
                w++;
            } else if (!c->p->is_inclusion) {
                bson_append_value(&child, k, -1, ev);
                w++;
            }
        }
    }
    bson_append_array_end(out, &child);
    return rc;
}

static int apply_leaf(struct apply_ctx *c, const struct pnode *n, const char *key, const bson_value_t *v,
                      bson_t *out)
{
    switch (n->action) {
    case PA_INCLUDE: bson_append_value(out, key, -1, v); return 0;
    case PA_EXCLUDE: return 0;
    case PA_SLICE:
        if (v->value_type == BSON_TYPE_ARRAY)
            append_slice(n, key, v, out);
        else
            bson_append_value(out, key, -1, v);
        return 0;
    case PA_ELEM_MATCH: {
        if (v->value_type != BSON_TYPE_ARRAY)
            return 0;
        bson_t probe = BSON_INITIALIZER;
        bson_append_value(&probe, "x", 1, v);
        int idx = -1;
        if (matcher_match_positional(n->elem_matcher, &probe, &idx))
            append_single_element(key, v, idx, out);
        bson_destroy(&probe);
        return 0;
    }
    case PA_POSITIONAL:
        if (v->value_type != BSON_TYPE_ARRAY) {
            bson_append_value(out, key, -1, v);
            return 0;
        }
        if (!append_single_element(key, v, c->positional_index, out))
            /* mongod code 51246 */
            return err_set(c->e, ERR_BAD_VALUE,
                           "Executor error during find command :: caused by :: positional operator '.$' "
                           "couldn't find a matching element in the array");
        return 0;
    case PA_EXPR: return 0; /* appended after the document's own fields */
    case PA_NONE: return apply_value(c, n, key, v, out);
    }
    return 0;
}

static int apply_doc(struct apply_ctx *c, const struct pnode *n, const uint8_t *data, uint32_t len, bool is_top,
                     bson_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, data, len))
        return err_set(c->e, ERR_BAD_VALUE, "invalid BSON document");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        const bson_value_t *v = bson_iter_value(&it);
        const struct pnode *child = pnode_child(n, key, bson_iter_key_len(&it));
        if (is_top && strcmp(key, "_id") == 0 && (!child || child->action == PA_INCLUDE || child->action == PA_EXCLUDE)) {
            if (!c->p->is_id_excluded)
                bson_append_value(out, key, -1, v);
            continue;
        }
        if (!child) {
            if (!c->p->is_inclusion)
                bson_append_value(out, key, -1, v);
            continue;
        }
        int rc = apply_leaf(c, child, key, v, out);
        if (rc)
            return rc;
    }
    return append_computed(c, n, data, len, out);
}

/* After a document's own fields: n's computed fields in spec order, and the
 * paths to deeper ones that the document lacks ({"x.y": 1} on {} gives
 * {x: {y: 1}}). Paths the document has were handled in document order. */
static int append_computed(struct apply_ctx *c, const struct pnode *n, const uint8_t *data, uint32_t len,
                           bson_t *out)
{
    if (!n->has_computed)
        return 0;
    for (int i = 0; i < n->n_children; i++) {
        const struct pnode *k = n->children[i];
        int rc = 0;
        if (k->action == PA_EXPR) {
            rc = agg_expr_eval_append(&k->expr, c->root, out, k->name, c->e);
        } else if (k->action == PA_NONE && k->has_computed) {
            bson_iter_t it;
            if (bson_iter_init_from_data(&it, data, len) && bson_iter_find_w_len(&it, k->name, (int)strlen(k->name)))
                continue;
            bson_t child;
            bson_append_document_begin(out, k->name, -1, &child);
            rc = apply_doc(c, k, empty_doc, 5, false, &child);
            bson_append_document_end(out, &child);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int projection_apply(const struct projection *p, const bson_t *doc, int positional_index, bson_t *out,
                     struct err *e)
{
    struct apply_ctx c = {p, doc, positional_index, e};
    return apply_doc(&c, p->root, bson_get_data(doc), doc->len, true, out);
}
