/* update_array.c - the array update operators: $push (with $each,
 * $position, $sort, $slice), $addToSet, $pop, $pull, $pullAll, and the
 * arrayFilters test for "$[ident]".
 *
 * Each works on one slot of the document tree (update_apply.c finds it).
 * Values compare with MongoDB's total order (bsonval_compare), so 1 and 1.0
 * are the same set member. $push sorts stably, as mongod does. */
#include "core/mem.h"
#include "core/bsonutil.h"
#include "query/bsonval.h"
#include "query/match.h"
#include "query/update_internal.h"

#include <stdlib.h>
#include <string.h>

bool update_filter_match(const struct array_filter *f, const struct unode *n)
{
    bson_t doc = BSON_INITIALIZER;
    unode_append(n, &doc, f->ident);
    bool ok = matcher_match(f->m, &doc);
    bson_destroy(&doc);
    return ok;
}

static int not_array_error(struct uctx *c, const struct uop *op, const struct unode *cur)
{
    bson_string_t *s = bson_string_new(NULL);
    uctx_render_id(c, s);
    int rc = err_set(c->e, ERR_BAD_VALUE, "The field '%s' must be an array but is of type %s in document %s",
                     op->path.text, bsonutil_type_name(cur->type), s->str);
    bson_string_free(s, true);
    return rc;
}

/* The array at the slot, created empty when missing. NULL (error set) when
 * the slot holds something else. */
static struct unode *array_at(struct uctx *c, const struct uop *op, struct uslot *s)
{
    struct unode *cur = uslot_get(s);
    if (cur == NULL) {
        uslot_put(s, unode_new_container(NULL, BSON_TYPE_ARRAY));
        return uslot_get(s);
    }
    if (cur->type == BSON_TYPE_ARRAY)
        return cur;
    if (op->kind == UOP_ADD_TO_SET)
        err_set(c->e, ERR_BAD_VALUE, "Cannot apply $addToSet to non-array field. Field named '%s' has non-array type %s",
                op->path.text, bsonutil_type_name(cur->type));
    else
        not_array_error(c, op, cur);
    return NULL;
}

/* ---- $push $sort ---- */

struct sort_item {
    struct unode *n;
    bson_t *tmp; /* owned: the element serialised, for value views */
    bson_value_t v;
};

static int sort_item_cmp(const struct uop *op, const struct sort_item *a, const struct sort_item *b)
{
    if (op->sort_kind == 1)
        return bsonval_compare(&a->v, &b->v) * op->sort_dir;
    static const bson_value_t null_v = {.value_type = BSON_TYPE_NULL};
    bson_iter_t it;
    bson_iter_init(&it, op->sort_spec);
    while (bson_iter_next(&it)) {
        const char *path = bson_iter_key(&it);
        int dir = bsonval_as_double(bson_iter_value(&it)) < 0 ? -1 : 1;
        bson_value_t va = null_v, vb = null_v;
        if (a->n->type == BSON_TYPE_DOCUMENT && !bsonval_get_path(a->tmp, path, &va))
            va = null_v;
        if (b->n->type == BSON_TYPE_DOCUMENT && !bsonval_get_path(b->tmp, path, &vb))
            vb = null_v;
        int c = bsonval_compare(&va, &vb);
        if (c != 0)
            return c * dir;
    }
    return 0;
}

/* Stable merge sort of items[lo, hi) using scratch. */
static void merge_sort(const struct uop *op, struct sort_item **items, struct sort_item **scratch, size_t lo, size_t hi)
{
    if (hi - lo < 2)
        return;
    size_t mid = lo + (hi - lo) / 2;
    merge_sort(op, items, scratch, lo, mid);
    merge_sort(op, items, scratch, mid, hi);
    size_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi)
        scratch[k++] = sort_item_cmp(op, items[j], items[i]) < 0 ? items[j++] : items[i++];
    while (i < mid)
        scratch[k++] = items[i++];
    while (j < hi)
        scratch[k++] = items[j++];
    memcpy(items + lo, scratch + lo, (hi - lo) * sizeof *items);
}

static void sort_array(const struct uop *op, struct unode *arr)
{
    size_t n = arr->n_kids;
    if (n < 2)
        return;
    struct sort_item *store = xcalloc(n, sizeof *store);
    struct sort_item **items = xcalloc(n, sizeof *items);
    struct sort_item **scratch = xcalloc(n, sizeof *scratch);
    for (size_t i = 0; i < n; i++) {
        store[i].n = arr->kids[i];
        /* bson_t demands 128-byte alignment, which calloc does not give. */
        store[i].tmp = aligned_alloc(128, sizeof(bson_t));
        if (store[i].tmp == NULL)
            abort();
        unode_value(arr->kids[i], store[i].tmp, &store[i].v);
        items[i] = &store[i];
    }
    merge_sort(op, items, scratch, 0, n);
    for (size_t i = 0; i < n; i++)
        arr->kids[i] = items[i]->n;
    for (size_t i = 0; i < n; i++) {
        bson_destroy(store[i].tmp);
        free(store[i].tmp);
    }
    free(scratch);
    free(items);
    free(store);
}

static int apply_push(struct uctx *c, const struct uop *op, struct uslot *s)
{
    struct unode *arr = array_at(c, op, s);
    if (arr == NULL)
        return -c->e->code;
    int64_t n = (int64_t)arr->n_kids;
    int64_t pos = op->has_position ? op->position : n;
    if (pos < 0)
        pos = n + pos < 0 ? 0 : n + pos;
    if (pos > n)
        pos = n;
    for (size_t i = 0; i < op->n_vals; i++)
        unode_insert(arr, (size_t)pos + i, unode_from_value(NULL, &op->vals[i]));
    if (op->sort_kind)
        sort_array(op, arr);
    if (op->has_slice) {
        size_t len = arr->n_kids;
        if (op->slice >= 0) {
            while (arr->n_kids > (size_t)op->slice)
                unode_free(unode_detach(arr, arr->n_kids - 1));
        } else if ((uint64_t)(-(op->slice + 1)) + 1 < len) {
            size_t keep = (size_t)(-(op->slice + 1)) + 1;
            while (arr->n_kids > keep)
                unode_free(unode_detach(arr, 0));
        }
    }
    return 0;
}

/* ---- membership ---- */

static bool array_contains(const struct unode *arr, const bson_value_t *v)
{
    for (size_t i = 0; i < arr->n_kids; i++) {
        bson_t tmp;
        bson_value_t ev;
        unode_value(arr->kids[i], &tmp, &ev);
        bool eq = bsonval_compare(&ev, v) == 0;
        bson_destroy(&tmp);
        if (eq)
            return true;
    }
    return false;
}

static int apply_add_to_set(struct uctx *c, const struct uop *op, struct uslot *s)
{
    struct unode *arr = array_at(c, op, s);
    if (arr == NULL)
        return -c->e->code;
    for (size_t i = 0; i < op->n_vals; i++)
        if (!array_contains(arr, &op->vals[i]))
            unode_insert(arr, arr->n_kids, unode_from_value(NULL, &op->vals[i]));
    return 0;
}

static int apply_pop(struct uctx *c, const struct uop *op, struct uslot *s)
{
    struct unode *cur = uslot_get(s);
    if (cur == NULL)
        return 0;
    if (cur->type != BSON_TYPE_ARRAY)
        return err_set(c->e, ERR_TYPE_MISMATCH, "Path '%s' contains an element of non-array type '%s'", op->path.text,
                       bsonutil_type_name(cur->type));
    if (cur->n_kids == 0)
        return 0;
    unode_free(unode_detach(cur, op->pop_dir < 0 ? 0 : cur->n_kids - 1));
    return 0;
}

static bool pull_matches(const struct uop *op, const struct unode *el)
{
    bson_t tmp;
    bson_value_t v;
    bool hit = false;
    if (op->kind == UOP_PULL_ALL) {
        unode_value(el, &tmp, &v);
        for (size_t i = 0; i < op->n_vals && !hit; i++)
            hit = bsonval_compare(&v, &op->vals[i]) == 0;
        bson_destroy(&tmp);
        return hit;
    }
    if (op->pull_m == NULL) {
        unode_value(el, &tmp, &v);
        hit = bsonval_compare(&v, &op->arg) == 0;
        bson_destroy(&tmp);
        return hit;
    }
    if (op->is_pull_wrapped) {
        bson_t doc = BSON_INITIALIZER;
        unode_append(el, &doc, "v");
        hit = matcher_match(op->pull_m, &doc);
        bson_destroy(&doc);
        return hit;
    }
    /* A filter-document condition only ever matches document elements. */
    if (el->type != BSON_TYPE_DOCUMENT)
        return false;
    bson_init(&tmp);
    unode_write_doc(el, &tmp);
    hit = matcher_match(op->pull_m, &tmp);
    bson_destroy(&tmp);
    return hit;
}

static int apply_pull(struct uctx *c, const struct uop *op, struct uslot *s)
{
    struct unode *cur = uslot_get(s);
    if (cur == NULL)
        return 0;
    if (cur->type != BSON_TYPE_ARRAY)
        return err_set(c->e, ERR_BAD_VALUE, "Cannot apply %s to a non-array value", op->name);
    for (size_t i = cur->n_kids; i-- > 0;)
        if (pull_matches(op, cur->kids[i]))
            unode_free(unode_detach(cur, i));
    return 0;
}

int uop_apply_array(struct uctx *c, const struct uop *op, struct uslot *s)
{
    switch (op->kind) {
    case UOP_PUSH: return apply_push(c, op, s);
    case UOP_ADD_TO_SET: return apply_add_to_set(c, op, s);
    case UOP_POP: return apply_pop(c, op, s);
    case UOP_PULL:
    case UOP_PULL_ALL: return apply_pull(c, op, s);
    default: return err_set(c->e, ERR_INTERNAL_ERROR, "%s is not an array operator", op->name);
    }
}
