/* index_keys.c - the set of index keys of one document for one key pattern.
 *
 * Rules (MongoDB's, simplified where noted in docs/storage.md):
 * - each key-pattern field contributes one value per key; a compound key is
 *   the concatenation of the components (descending ones complemented);
 * - a missing field is null (keyenc_append_missing);
 * - an array on the path gives one key per element (the index is then
 *   multikey); an empty array at the end of a path indexes as undefined;
 *   array elements that lack the rest of the path index as null;
 * - arrays reached through two different paths of one compound pattern are
 *   "parallel arrays" and cannot be indexed;
 * - a sparse index has no key for a document missing every indexed field;
 * - keys of one document are deduplicated (sorted by their bytes). */
#include "storage/store_int.h"

#include "core/mem.h"

#include <ctype.h>
#include <string.h>

/* Above this, a document is rejected rather than producing a huge key set. */
#define IKEY_MAX_KEYS 100000
#define IKEY_MAX_DEPTH 100

struct vlist {
    int n;
    int cap;
    bson_value_t *vals;
    char *array_path; /* first path prefix where an array was expanded (owned), or NULL */
    bool is_found;    /* something existed at the first path component */
};

static void vlist_push(struct vlist *l, const bson_value_t *v)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->vals = xrealloc(l->vals, (size_t)l->cap * sizeof *l->vals);
    }
    l->vals[l->n++] = *v;
}

static void vlist_push_type(struct vlist *l, bson_type_t type)
{
    bson_value_t v;
    memset(&v, 0, sizeof v);
    v.value_type = type;
    vlist_push(l, &v);
}

static void vlist_note_array(struct vlist *l, const char *path, size_t prefix_len)
{
    if (l->array_path == NULL)
        l->array_path = xstrndup(path, prefix_len);
}

static bool is_all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Collects the values at path[pos..] inside the document `it` iterates
 * (already initialised on a document's bytes). full_path is for array notes. */
static void walk(const uint8_t *data, uint32_t len, const char *full_path, size_t pos, struct vlist *out, int depth)
{
    const char *comp = full_path + pos;
    const char *dot = strchr(comp, '.');
    size_t comp_len = dot ? (size_t)(dot - comp) : strlen(comp);
    bson_iter_t it;
    if (depth > IKEY_MAX_DEPTH || !bson_iter_init_from_data(&it, data, len) ||
        !bson_iter_find_w_len(&it, comp, (int)comp_len)) {
        if (depth > 0)
            vlist_push_type(out, BSON_TYPE_NULL);
        return;
    }
    if (depth == 0)
        out->is_found = true;
    const bson_value_t *v = bson_iter_value(&it);
    size_t end = pos + comp_len;
    if (dot == NULL) {
        if (v->value_type == BSON_TYPE_ARRAY) {
            vlist_note_array(out, full_path, end);
            bson_iter_t child;
            int n = 0;
            if (bson_iter_recurse(&it, &child)) {
                while (bson_iter_next(&child)) {
                    vlist_push(out, bson_iter_value(&child));
                    n++;
                }
            }
            if (n == 0)
                vlist_push_type(out, BSON_TYPE_UNDEFINED);
        } else {
            vlist_push(out, v);
        }
        return;
    }
    const char *next = dot + 1;
    const char *next_dot = strchr(next, '.');
    size_t next_len = next_dot ? (size_t)(next_dot - next) : strlen(next);
    if (v->value_type == BSON_TYPE_DOCUMENT) {
        walk(v->value.v_doc.data, v->value.v_doc.data_len, full_path, end + 1, out, depth + 1);
    } else if (v->value_type == BSON_TYPE_ARRAY) {
        /* A numeric next component addresses an element by position. */
        if (is_all_digits(next, next_len)) {
            bson_iter_t probe;
            if (bson_iter_init_from_data(&probe, v->value.v_doc.data, v->value.v_doc.data_len) &&
                bson_iter_find_w_len(&probe, next, (int)next_len)) {
                walk(v->value.v_doc.data, v->value.v_doc.data_len, full_path, end + 1, out, depth + 1);
                return;
            }
        }
        vlist_note_array(out, full_path, end);
        bson_iter_t child;
        int n = 0;
        if (bson_iter_recurse(&it, &child)) {
            while (bson_iter_next(&child)) {
                const bson_value_t *ev = bson_iter_value(&child);
                n++;
                if (ev->value_type == BSON_TYPE_DOCUMENT)
                    walk(ev->value.v_doc.data, ev->value.v_doc.data_len, full_path, end + 1, out, depth + 1);
                else
                    vlist_push_type(out, BSON_TYPE_NULL);
            }
        }
        if (n == 0)
            vlist_push_type(out, BSON_TYPE_NULL);
    } else {
        vlist_push_type(out, BSON_TYPE_NULL);
    }
}

void ikeyset_init(struct ikeyset *ks)
{
    memset(ks, 0, sizeof *ks);
}

void ikeyset_destroy(struct ikeyset *ks)
{
    for (int i = 0; i < ks->n; i++) {
        keybuf_destroy(&ks->keys[i].kb);
        free(ks->keys[i].vals);
    }
    free(ks->keys);
    memset(ks, 0, sizeof *ks);
}

static int ikey_cmp(const void *a, const void *b)
{
    const struct ikey *x = a, *y = b;
    size_t n = x->kb.len < y->kb.len ? x->kb.len : y->kb.len;
    int c = memcmp(x->kb.data, y->kb.data, n);
    if (c != 0)
        return c;
    return x->kb.len < y->kb.len ? -1 : x->kb.len > y->kb.len;
}

bool ikeyset_contains(const struct ikeyset *ks, const struct keybuf *kb)
{
    struct ikey probe = {.kb = *kb};

    /* bsearch's array may not be NULL, even for zero elements. */
    if (ks->n == 0)
        return false;
    return bsearch(&probe, ks->keys, (size_t)ks->n, sizeof *ks->keys, ikey_cmp) != NULL;
}

int ikeyset_compute(const bson_t *key_pattern, bool is_sparse, const bson_t *doc, struct ikeyset *out, struct err *e)
{
    int n_fields = (int)bson_count_keys(key_pattern);
    if (n_fields <= 0)
        return err_set(e, ERR_INTERNAL_ERROR, "index key pattern is empty");
    struct vlist *lists = xcalloc((size_t)n_fields, sizeof *lists);
    bool *is_desc = xcalloc((size_t)n_fields, sizeof *is_desc);
    int rc = 0;
    bson_iter_t it;
    int i = 0;
    bool any_found = false;
    ikeyset_init(out);
    bson_iter_init(&it, key_pattern);
    while (bson_iter_next(&it) && i < n_fields) {
        const bson_value_t *pv = bson_iter_value(&it);
        is_desc[i] = (pv->value_type == BSON_TYPE_INT32 && pv->value.v_int32 < 0) ||
                     (pv->value_type == BSON_TYPE_INT64 && pv->value.v_int64 < 0) ||
                     (pv->value_type == BSON_TYPE_DOUBLE && pv->value.v_double < 0);
        walk(bson_get_data(doc), doc->len, bson_iter_key(&it), 0, &lists[i], 0);
        if (lists[i].is_found)
            any_found = true;
        else
            vlist_push_type(&lists[i], BSON_TYPE_NULL);
        i++;
    }

    /* Parallel arrays: two fields expanding arrays at different paths. */
    const char *array_path = NULL;
    long long n_keys = 1;
    for (int f = 0; f < n_fields; f++) {
        if (lists[f].array_path) {
            out->has_array = true;
            if (array_path && strcmp(array_path, lists[f].array_path) != 0) {
                rc = err_set(e, ERR_BAD_VALUE, "cannot index parallel arrays [%s] [%s]", lists[f].array_path,
                             array_path);
                goto done;
            }
            array_path = lists[f].array_path;
        }
        n_keys *= lists[f].n;
        if (n_keys > IKEY_MAX_KEYS) {
            rc = err_set(e, ERR_BAD_VALUE, "document would produce more than %d index keys", IKEY_MAX_KEYS);
            goto done;
        }
    }
    if (is_sparse && !any_found)
        goto done;

    out->keys = xcalloc((size_t)n_keys, sizeof *out->keys);
    out->cap = (int)n_keys;
    int *pos = xcalloc((size_t)n_fields, sizeof *pos);
    for (long long k = 0; k < n_keys; k++) {
        struct ikey *key = &out->keys[out->n++];
        keybuf_init(&key->kb);
        key->vals = xmalloc((size_t)n_fields * sizeof *key->vals);
        for (int f = 0; f < n_fields; f++) {
            const bson_value_t *v = &lists[f].vals[pos[f]];
            key->vals[f] = *v;
            /* An absent field (null type with nothing found) and an explicit null sort alike. */
            if (v->value_type == BSON_TYPE_NULL)
                keyenc_append_missing(&key->kb, is_desc[f]);
            else
                keyenc_append_value(&key->kb, v, is_desc[f]);
        }
        for (int f = n_fields - 1; f >= 0; f--) {
            if (++pos[f] < lists[f].n)
                break;
            pos[f] = 0;
        }
    }
    free(pos);
    qsort(out->keys, (size_t)out->n, sizeof *out->keys, ikey_cmp);
    int w = 0;
    for (int r = 0; r < out->n; r++) {
        if (w > 0 && ikey_cmp(&out->keys[w - 1], &out->keys[r]) == 0) {
            keybuf_destroy(&out->keys[r].kb);
            free(out->keys[r].vals);
            continue;
        }
        out->keys[w++] = out->keys[r];
    }
    out->n = w;

done:
    for (int f = 0; f < n_fields; f++) {
        free(lists[f].vals);
        free(lists[f].array_path);
    }
    free(lists);
    free(is_desc);
    if (rc < 0)
        ikeyset_destroy(out);
    return rc;
}

/* mongod prints dup keys as { a: 1, b: "x" }: field names bare, values as relaxed JSON. */
static void append_value_text(bson_string_t *s, const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_OID) {
        char hex[25];
        bson_oid_to_string(&v->value.v_oid, hex);
        bson_string_append_printf(s, "ObjectId('%s')", hex);
        return;
    }
    bson_t tmp = BSON_INITIALIZER;
    bson_append_value(&tmp, "", 0, v);
    size_t len = 0;
    char *json = bson_as_relaxed_extended_json(&tmp, &len);
    /* The text is exactly '{ "" : <value> }'. */
    static const char head[] = "{ \"\" : ";
    size_t head_len = sizeof head - 1;
    if (json && len >= head_len + 2 && strncmp(json, head, head_len) == 0)
        bson_string_append_printf(s, "%.*s", (int)(len - head_len - 2), json + head_len);
    else
        bson_string_append(s, "?");
    bson_free(json);
    bson_destroy(&tmp);
}

int ikey_dup_error(const struct coll_info *c, const struct index_info *ix, const bson_value_t *vals, struct err *e)
{
    bson_string_t *text = bson_string_new("{ ");
    bson_t key_value = BSON_INITIALIZER;
    bson_iter_t it;
    int f = 0;
    bson_iter_init(&it, &ix->key);
    while (bson_iter_next(&it)) {
        const char *name = bson_iter_key(&it);
        bson_append_value(&key_value, name, -1, &vals[f]);
        bson_string_append_printf(text, "%s%s: ", f ? ", " : "", name);
        append_value_text(text, &vals[f]);
        f++;
    }
    bson_string_append(text, " }");
    int rc = err_set(e, ERR_DUPLICATE_KEY, "E11000 duplicate key error collection: %s.%s index: %s dup key: %s", c->db,
                     c->name, ix->name, text->str);
    bson_t *info = err_info(e);
    BSON_APPEND_DOCUMENT(info, "keyPattern", &ix->key);
    BSON_APPEND_DOCUMENT(info, "keyValue", &key_value);
    bson_destroy(&key_value);
    bson_string_free(text, true);
    return rc;
}
