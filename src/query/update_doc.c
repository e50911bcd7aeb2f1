/* update_doc.c - the mutable document tree the update engine edits.
 *
 * BSON is immutable and updates insert, remove and reorder fields anywhere,
 * so update_apply loads the document into a small tree (struct unode),
 * edits it, and serialises it back. The tree keeps field order exactly, so
 * an update that changes nothing serialises to identical bytes. Also holds
 * the shell-like renderings ({a: 1}) used in mongod-style error messages. */
#include "core/mem.h"
#include "core/bsonutil.h"
#include "query/bsonval.h"
#include "query/update_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static struct unode *unode_alloc(const char *key, bson_type_t type)
{
    struct unode *n = xcalloc(1, sizeof *n);
    n->key = key ? xstrdup(key) : NULL;
    n->type = type;
    return n;
}

bool unode_is_container(const struct unode *n)
{
    return n->type == BSON_TYPE_DOCUMENT || n->type == BSON_TYPE_ARRAY;
}

struct unode *unode_new_container(const char *key, bson_type_t type)
{
    return unode_alloc(key, type);
}

static void unode_push(struct unode *parent, struct unode *kid)
{
    unode_insert(parent, parent->n_kids, kid);
}

static void unode_load(struct unode *parent, bson_iter_t *it)
{
    bool is_array = parent->type == BSON_TYPE_ARRAY;
    while (bson_iter_next(it)) {
        bson_type_t t = bson_iter_type(it);
        const char *key = is_array ? NULL : bson_iter_key(it);
        struct unode *kid;
        if (t == BSON_TYPE_DOCUMENT || t == BSON_TYPE_ARRAY) {
            bson_iter_t sub;
            kid = unode_alloc(key, t);
            if (bson_iter_recurse(it, &sub))
                unode_load(kid, &sub);
        } else {
            kid = unode_alloc(key, t);
            bson_value_copy(bson_iter_value(it), &kid->val);
        }
        unode_push(parent, kid);
    }
}

struct unode *unode_from_doc(const bson_t *doc)
{
    struct unode *root = unode_alloc(NULL, BSON_TYPE_DOCUMENT);
    bson_iter_t it;
    if (bson_iter_init(&it, doc))
        unode_load(root, &it);
    return root;
}

struct unode *unode_from_value(const char *key, const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_DOCUMENT || v->value_type == BSON_TYPE_ARRAY) {
        struct unode *n = unode_alloc(key, v->value_type);
        bson_t sub;
        bson_iter_t it;
        if (bson_init_static(&sub, v->value.v_doc.data, v->value.v_doc.data_len) && bson_iter_init(&it, &sub))
            unode_load(n, &it);
        return n;
    }
    struct unode *n = unode_alloc(key, v->value_type);
    bson_value_copy(v, &n->val);
    return n;
}

struct unode *unode_clone(const struct unode *n, const char *key)
{
    struct unode *c = unode_alloc(key, n->type);
    if (unode_is_container(n)) {
        for (size_t i = 0; i < n->n_kids; i++)
            unode_push(c, unode_clone(n->kids[i], n->kids[i]->key));
    } else {
        bson_value_copy(&n->val, &c->val);
    }
    return c;
}

void unode_free(struct unode *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n_kids; i++)
        unode_free(n->kids[i]);
    free(n->kids);
    if (!unode_is_container(n))
        bson_value_destroy(&n->val);
    free(n->key);
    free(n);
}

void unode_set_key(struct unode *n, const char *key)
{
    free(n->key);
    n->key = key ? xstrdup(key) : NULL;
}

long unode_find(const struct unode *doc, const char *key)
{
    for (size_t i = 0; i < doc->n_kids; i++)
        if (doc->kids[i]->key && strcmp(doc->kids[i]->key, key) == 0)
            return (long)i;
    return -1;
}

void unode_insert(struct unode *parent, size_t at, struct unode *kid)
{
    if (parent->n_kids == parent->cap_kids) {
        parent->cap_kids = parent->cap_kids ? parent->cap_kids * 2 : 4;
        parent->kids = xrealloc(parent->kids, parent->cap_kids * sizeof *parent->kids);
    }
    if (at > parent->n_kids)
        at = parent->n_kids;
    memmove(parent->kids + at + 1, parent->kids + at, (parent->n_kids - at) * sizeof *parent->kids);
    parent->kids[at] = kid;
    parent->n_kids++;
    if (parent->type == BSON_TYPE_ARRAY)
        unode_set_key(kid, NULL);
}

struct unode *unode_detach(struct unode *parent, size_t at)
{
    struct unode *kid = parent->kids[at];
    memmove(parent->kids + at, parent->kids + at + 1, (parent->n_kids - at - 1) * sizeof *parent->kids);
    parent->n_kids--;
    return kid;
}

void unode_replace(struct unode *parent, size_t at, struct unode *kid)
{
    struct unode *old = parent->kids[at];
    unode_set_key(kid, old->key);
    parent->kids[at] = kid;
    unode_free(old);
}

void unode_append(const struct unode *n, bson_t *out, const char *key)
{
    if (n->type == BSON_TYPE_DOCUMENT) {
        bson_t child;
        bson_append_document_begin(out, key, -1, &child);
        unode_write_doc(n, &child);
        bson_append_document_end(out, &child);
    } else if (n->type == BSON_TYPE_ARRAY) {
        bson_t child;
        bson_append_array_begin(out, key, -1, &child);
        for (size_t i = 0; i < n->n_kids; i++) {
            char buf[16];
            const char *k;
            bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
            unode_append(n->kids[i], &child, k);
        }
        bson_append_array_end(out, &child);
    } else {
        bson_append_value(out, key, -1, &n->val);
    }
}

void unode_write_doc(const struct unode *doc, bson_t *out)
{
    for (size_t i = 0; i < doc->n_kids; i++)
        unode_append(doc->kids[i], out, doc->kids[i]->key ? doc->kids[i]->key : "");
}

void unode_value(const struct unode *n, bson_t *tmp, bson_value_t *out)
{
    bson_init(tmp);
    if (!unode_is_container(n)) {
        *out = n->val;
        return;
    }
    if (n->type == BSON_TYPE_DOCUMENT) {
        unode_write_doc(n, tmp);
    } else {
        for (size_t i = 0; i < n->n_kids; i++) {
            char buf[16];
            const char *k;
            bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
            unode_append(n->kids[i], tmp, k);
        }
    }
    memset(out, 0, sizeof *out);
    out->value_type = n->type;
    out->value.v_doc.data = (uint8_t *)bson_get_data(tmp);
    out->value.v_doc.data_len = tmp->len;
}

bool unode_binary_equal(const struct unode *a, const struct unode *b)
{
    if (a->type != b->type)
        return false;
    bson_t ta, tb;
    bson_init(&ta);
    bson_init(&tb);
    unode_append(a, &ta, "");
    unode_append(b, &tb, "");
    bool eq = ta.len == tb.len && memcmp(bson_get_data(&ta), bson_get_data(&tb), ta.len) == 0;
    bson_destroy(&ta);
    bson_destroy(&tb);
    return eq;
}

/* Renders at most this many bytes per message, so a huge document cannot
 * blow up an error reply. */
#define RENDER_MAX 512

static void render_doc(const uint8_t *data, uint32_t len, bool is_array, bson_string_t *s)
{
    bson_t sub;
    bson_iter_t it;
    bson_string_append(s, is_array ? "[" : "{");
    if (bson_init_static(&sub, data, len) && bson_iter_init(&it, &sub)) {
        bool first = true;
        while (bson_iter_next(&it)) {
            if (s->len > RENDER_MAX) {
                bson_string_append(s, " ...");
                break;
            }
            bson_string_append(s, first ? "" : ", ");
            first = false;
            if (!is_array)
                bson_string_append_printf(s, "%s: ", bson_iter_key(&it));
            update_render_value(bson_iter_value(&it), s);
        }
    }
    bson_string_append(s, is_array ? "]" : "}");
}

void update_render_value(const bson_value_t *v, bson_string_t *s)
{
    switch (v->value_type) {
    case BSON_TYPE_DOUBLE: bson_string_append_printf(s, "%.17g", v->value.v_double); break;
    case BSON_TYPE_INT32: bson_string_append_printf(s, "%" PRId32, v->value.v_int32); break;
    case BSON_TYPE_INT64: bson_string_append_printf(s, "%" PRId64, v->value.v_int64); break;
    case BSON_TYPE_UTF8:
        bson_string_append_printf(s, "\"%.*s\"", (int)(v->value.v_utf8.len > 200 ? 200 : v->value.v_utf8.len),
                                  v->value.v_utf8.str);
        break;
    case BSON_TYPE_BOOL: bson_string_append(s, v->value.v_bool ? "true" : "false"); break;
    case BSON_TYPE_NULL: bson_string_append(s, "null"); break;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY:
        render_doc(v->value.v_doc.data, v->value.v_doc.data_len, v->value_type == BSON_TYPE_ARRAY, s);
        break;
    case BSON_TYPE_OID: {
        char hex[25];
        bson_oid_to_string(&v->value.v_oid, hex);
        bson_string_append_printf(s, "ObjectId('%s')", hex);
        break;
    }
    case BSON_TYPE_DATE_TIME: bson_string_append_printf(s, "new Date(%" PRId64 ")", v->value.v_datetime); break;
    case BSON_TYPE_TIMESTAMP:
        bson_string_append_printf(s, "Timestamp(%" PRIu32 ", %" PRIu32 ")", v->value.v_timestamp.timestamp,
                                  v->value.v_timestamp.increment);
        break;
    default: bson_string_append_printf(s, "<%s>", bsonutil_type_name(v->value_type)); break;
    }
}

void update_render_node(const struct unode *n, bson_string_t *s)
{
    bson_t tmp;
    bson_value_t v;
    unode_value(n, &tmp, &v);
    update_render_value(&v, s);
    bson_destroy(&tmp);
}
