/* catalog.c - collections in the "catalog" sub-database.
 *
 * Key: db, a NUL byte, collection name (so entries sort by db then name).
 * Value: BSON {db, name, id, uuid, options, capped, size, max, indexes: [{id,
 * name, key, spec, unique, sparse, multikey}]}. This file owns the
 * (de)serialisation of struct coll_info, name validation, and create, drop,
 * rename and dropDatabase. Every check happens before the first change.
 * Each of those reports itself to the change hook as one command ({create},
 * {drop}, {dropDatabase}, {renameCollection}), never as the drops it is made
 * of, so the oplog holds what a secondary must replay and nothing twice. */
#include "storage/store_int.h"

#include "core/mem.h"

#include <string.h>
#include <sys/random.h>

#define NS_MAX_BYTES 255
#define DB_NAME_MAX_BYTES 63

static void catalog_key(const char *db, const char *name, struct keybuf *kb)
{
    keybuf_init(kb);
    keybuf_append(kb, db, strlen(db) + 1);
    keybuf_append(kb, name, strlen(name));
}

static void index_info_copy(struct index_info *dst, const struct index_info *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    bson_copy_to(&src->key, &dst->key);
    bson_copy_to(&src->spec, &dst->spec);
}

static void index_info_destroy(struct index_info *ix)
{
    free(ix->name);
    bson_destroy(&ix->key);
    bson_destroy(&ix->spec);
}

void coll_info_destroy(struct coll_info *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->n_indexes; i++)
        index_info_destroy(&c->indexes[i]);
    free(c->indexes);
    free(c->db);
    free(c->name);
    bson_destroy(&c->options);
    free(c);
}

void coll_info_list_free(struct coll_info **list, int n)
{
    for (int i = 0; i < n; i++)
        coll_info_destroy(list[i]);
    free(list);
}

void coll_info_set_indexes(struct coll_info *c, const struct index_info *ixs, int n)
{
    struct index_info *fresh = xcalloc((size_t)(n ? n : 1), sizeof *fresh);
    for (int i = 0; i < n; i++)
        index_info_copy(&fresh[i], &ixs[i]);
    for (int i = 0; i < c->n_indexes; i++)
        index_info_destroy(&c->indexes[i]);
    free(c->indexes);
    c->indexes = fresh;
    c->n_indexes = n;
}

struct coll_info *coll_info_copy(const struct coll_info *c)
{
    struct coll_info *d = xcalloc(1, sizeof *d);
    *d = *c;
    d->db = xstrdup(c->db);
    d->name = xstrdup(c->name);
    bson_copy_to(&c->options, &d->options);
    d->indexes = xcalloc((size_t)(c->n_indexes ? c->n_indexes : 1), sizeof *d->indexes);
    for (int i = 0; i < c->n_indexes; i++)
        index_info_copy(&d->indexes[i], &c->indexes[i]);
    return d;
}

static void coll_info_to_bson(const struct coll_info *c, bson_t *out)
{
    bson_init(out);
    BSON_APPEND_UTF8(out, "db", c->db);
    BSON_APPEND_UTF8(out, "name", c->name);
    BSON_APPEND_INT64(out, "id", (int64_t)c->id);
    BSON_APPEND_BINARY(out, "uuid", BSON_SUBTYPE_UUID, c->uuid, 16);
    BSON_APPEND_DOCUMENT(out, "options", &c->options);
    BSON_APPEND_BOOL(out, "capped", c->is_capped);
    BSON_APPEND_INT64(out, "size", c->capped_size_bytes);
    BSON_APPEND_INT64(out, "max", c->capped_max_docs);
    bson_t arr, ixd;
    BSON_APPEND_ARRAY_BEGIN(out, "indexes", &arr);
    for (int i = 0; i < c->n_indexes; i++) {
        const struct index_info *ix = &c->indexes[i];
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &ixd);
        BSON_APPEND_INT64(&ixd, "id", (int64_t)ix->id);
        BSON_APPEND_UTF8(&ixd, "name", ix->name);
        BSON_APPEND_DOCUMENT(&ixd, "key", &ix->key);
        BSON_APPEND_DOCUMENT(&ixd, "spec", &ix->spec);
        BSON_APPEND_BOOL(&ixd, "unique", ix->is_unique);
        BSON_APPEND_BOOL(&ixd, "sparse", ix->is_sparse);
        BSON_APPEND_BOOL(&ixd, "multikey", ix->is_multikey);
        bson_append_document_end(&arr, &ixd);
    }
    bson_append_array_end(out, &arr);
}

static bool copy_doc_field(bson_iter_t *it, bson_t *dst)
{
    const uint8_t *data;
    uint32_t len;
    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return false;
    bson_iter_document(it, &len, &data);
    bson_t tmp;
    if (!bson_init_static(&tmp, data, len))
        return false;
    bson_copy_to(&tmp, dst);
    return true;
}

static int parse_index(bson_iter_t *it, struct index_info *ix)
{
    bson_iter_t f;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f))
        return -1;
    bool has_key = false, has_spec = false;
    while (bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        if (strcmp(k, "id") == 0)
            ix->id = (uint64_t)bson_iter_as_int64(&f);
        else if (strcmp(k, "name") == 0 && BSON_ITER_HOLDS_UTF8(&f))
            ix->name = xstrdup(bson_iter_utf8(&f, NULL));
        else if (strcmp(k, "key") == 0)
            has_key = copy_doc_field(&f, &ix->key);
        else if (strcmp(k, "spec") == 0)
            has_spec = copy_doc_field(&f, &ix->spec);
        else if (strcmp(k, "unique") == 0)
            ix->is_unique = bson_iter_as_bool(&f);
        else if (strcmp(k, "sparse") == 0)
            ix->is_sparse = bson_iter_as_bool(&f);
        else if (strcmp(k, "multikey") == 0)
            ix->is_multikey = bson_iter_as_bool(&f);
    }
    if (!has_key)
        bson_init(&ix->key);
    if (!has_spec)
        bson_init(&ix->spec);
    if (ix->name == NULL)
        ix->name = xstrdup("");
    return has_key && has_spec ? 0 : -1;
}

static int coll_info_from_bson(const uint8_t *data, size_t len, struct coll_info **out, struct err *e)
{
    bson_t doc;
    bson_iter_t it;
    if (!bson_init_static(&doc, data, len) || !bson_iter_init(&it, &doc))
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt catalog entry");
    struct coll_info *c = xcalloc(1, sizeof *c);
    bson_init(&c->options);
    bool is_ok = true;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "db") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
            c->db = xstrdup(bson_iter_utf8(&it, NULL));
        } else if (strcmp(k, "name") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
            c->name = xstrdup(bson_iter_utf8(&it, NULL));
        } else if (strcmp(k, "id") == 0) {
            c->id = (uint64_t)bson_iter_as_int64(&it);
        } else if (strcmp(k, "uuid") == 0 && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t st;
            uint32_t n;
            const uint8_t *bin;
            bson_iter_binary(&it, &st, &n, &bin);
            if (n == 16)
                memcpy(c->uuid, bin, 16);
        } else if (strcmp(k, "options") == 0) {
            bson_destroy(&c->options);
            if (!copy_doc_field(&it, &c->options))
                bson_init(&c->options);
        } else if (strcmp(k, "capped") == 0) {
            c->is_capped = bson_iter_as_bool(&it);
        } else if (strcmp(k, "size") == 0) {
            c->capped_size_bytes = bson_iter_as_int64(&it);
        } else if (strcmp(k, "max") == 0) {
            c->capped_max_docs = bson_iter_as_int64(&it);
        } else if (strcmp(k, "indexes") == 0 && BSON_ITER_HOLDS_ARRAY(&it)) {
            /* Sized once: a bson_t must not move after bson_copy_to (it points into itself). */
            bson_iter_t a;
            int cap = 0;
            bson_iter_recurse(&it, &a);
            while (bson_iter_next(&a))
                cap++;
            if (c->indexes != NULL)
                is_ok = false;
            c->indexes = xcalloc((size_t)(cap ? cap : 1), sizeof *c->indexes);
            bson_iter_recurse(&it, &a);
            while (bson_iter_next(&a) && c->n_indexes < cap && c->indexes != NULL)
                if (parse_index(&a, &c->indexes[c->n_indexes++]) < 0)
                    is_ok = false;
        }
    }
    if (!c->db || !c->name || c->n_indexes == 0 || !is_ok) {
        coll_info_destroy(c);
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt catalog entry");
    }
    *out = c;
    return 0;
}

int catalog_put(struct store_txn *t, const struct coll_info *c, struct err *e)
{
    struct keybuf kb;
    catalog_key(c->db, c->name, &kb);
    bson_t doc;
    coll_info_to_bson(c, &doc);
    MDB_val k = {kb.len, kb.data}, v = {doc.len, (void *)bson_get_data(&doc)};
    int rc = mdb_put(t->txn, t->s->dbi_catalog, &k, &v, 0);
    bson_destroy(&doc);
    keybuf_destroy(&kb);
    if (rc != 0)
        return store_mdb_err(rc, "write catalog", e);
    return 0;
}

static int catalog_del(struct store_txn *t, const char *db, const char *name, struct err *e)
{
    struct keybuf kb;
    catalog_key(db, name, &kb);
    MDB_val k = {kb.len, kb.data};
    int rc = mdb_del(t->txn, t->s->dbi_catalog, &k, NULL);
    keybuf_destroy(&kb);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "delete catalog entry", e);
    return 0;
}

int store_coll_find(struct store_txn *t, const char *db, const char *name, struct coll_info **out, struct err *e)
{
    struct keybuf kb;
    catalog_key(db, name, &kb);
    MDB_val k = {kb.len, kb.data}, v;
    int rc = mdb_get(t->txn, t->s->dbi_catalog, &k, &v);
    keybuf_destroy(&kb);
    *out = NULL;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc, "read catalog", e);
    return coll_info_from_bson(v.mv_data, v.mv_size, out, e);
}

int store_coll_list(struct store_txn *t, const char *db, struct coll_info ***out, int *n_out, struct err *e)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi_catalog, &cur);
    if (rc != 0)
        return store_mdb_err(rc, "open catalog cursor", e);
    struct keybuf prefix;
    keybuf_init(&prefix);
    if (db)
        keybuf_append(&prefix, db, strlen(db) + 1);
    MDB_val k = {prefix.len, prefix.data}, v;
    rc = mdb_cursor_get(cur, &k, &v, db ? MDB_SET_RANGE : MDB_FIRST);
    int n = 0, cap = 8;
    struct coll_info **list = xmalloc((size_t)cap * sizeof *list);
    int ret = 0;
    while (rc == 0) {
        if (db && (k.mv_size < prefix.len || memcmp(k.mv_data, prefix.data, prefix.len) != 0))
            break;
        if (n == cap) {
            cap *= 2;
            list = xrealloc(list, (size_t)cap * sizeof *list);
        }
        ret = coll_info_from_bson(v.mv_data, v.mv_size, &list[n], e);
        if (ret < 0)
            break;
        n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    keybuf_destroy(&prefix);
    if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
        ret = store_mdb_err(rc, "list catalog", e);
    if (ret < 0) {
        coll_info_list_free(list, n);
        return ret;
    }
    *out = list;
    *n_out = n;
    return 0;
}

int store_coll_stats(struct store_txn *t, const struct coll_info *c, struct coll_stats *out, struct err *e)
{
    struct coll_counters cc;
    int rc = store_counters_get(t, c->id, &cc, e);
    if (rc < 0)
        return rc;
    /* Estimates: each record costs its key (id + record key, ~20 bytes) and
     * node overhead; each index entry about twice its key. Good enough for
     * collStats/dbStats; exact page accounting per collection is not kept. */
    out->n_docs = cc.n_docs;
    out->data_bytes = cc.data_bytes;
    out->storage_bytes = cc.data_bytes + cc.n_docs * 32;
    out->index_bytes = cc.n_docs * 48 * (int64_t)c->n_indexes;
    if (out->storage_bytes < 4096)
        out->storage_bytes = 4096;
    if (out->index_bytes < 4096 * (int64_t)c->n_indexes)
        out->index_bytes = 4096 * (int64_t)c->n_indexes;
    return 0;
}

/* --- names --- */

static int validate_db_name(const char *db, struct err *e)
{
    size_t n = strlen(db);
    if (n == 0)
        return err_set(e, ERR_INVALID_NAMESPACE, "Invalid database name: ''");
    if (n > DB_NAME_MAX_BYTES)
        return err_set(e, ERR_INVALID_NAMESPACE, "db name is too long: %s", db);
    if (strpbrk(db, "/\\. \"$") != NULL)
        return err_set(e, ERR_INVALID_NAMESPACE, "Invalid database name: '%s'", db);
    return 0;
}

static int validate_ns(const char *db, const char *name, struct err *e)
{
    int rc = validate_db_name(db, e);
    if (rc < 0)
        return rc;
    if (name[0] == '\0')
        return err_set(e, ERR_INVALID_NAMESPACE, "Invalid namespace specified '%s.'", db);
    if (name[0] == '.' || strchr(name, '$') != NULL)
        return err_set(e, ERR_INVALID_NAMESPACE, "Invalid collection name: %s", name);
    if (strlen(db) + 1 + strlen(name) > NS_MAX_BYTES)
        return err_set(e, ERR_INVALID_NAMESPACE, "Fully qualified namespace is too long. Namespace: %s.%s Max: %d",
                       db, name, NS_MAX_BYTES);
    return 0;
}

/* --- create, drop, rename --- */

static void id_index_init(struct index_info *ix, uint64_t id)
{
    memset(ix, 0, sizeof *ix);
    ix->id = id;
    ix->name = xstrdup("_id_");
    bson_init(&ix->key);
    BSON_APPEND_INT32(&ix->key, "_id", 1);
    bson_init(&ix->spec);
    BSON_APPEND_INT32(&ix->spec, "v", 2);
    BSON_APPEND_DOCUMENT(&ix->spec, "key", &ix->key);
    BSON_APPEND_UTF8(&ix->spec, "name", "_id_");
    ix->is_unique = true;
}

static int parse_capped_options(const bson_t *options, struct coll_info *c, struct err *e)
{
    bson_iter_t it;
    if (options == NULL || !bson_iter_init(&it, options))
        return 0;
    bool has_size = false;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "capped") == 0) {
            c->is_capped = bson_iter_as_bool(&it);
        } else if (strcmp(k, "size") == 0 || strcmp(k, "max") == 0) {
            if (!BSON_ITER_HOLDS_NUMBER(&it))
                return err_set(e, ERR_TYPE_MISMATCH, "'%s' has to be a number", k);
            double d = bson_iter_as_double(&it);
            if (k[0] == 's') {
                if (d < 0 || d > 1e15)
                    return err_set(e, ERR_BAD_VALUE, "capped collection size must be between 0 and 1PB");
                c->capped_size_bytes = (int64_t)d;
                has_size = true;
            } else {
                c->capped_max_docs = d > 0 && d < 9e18 ? (int64_t)d : 0;
            }
        }
    }
    if (!c->is_capped) {
        c->capped_size_bytes = 0;
        c->capped_max_docs = 0;
        return 0;
    }
    if (!has_size)
        return err_set(e, ERR_INVALID_OPTIONS, "the 'size' field is required when 'capped' is true");
    /* mongod rounds a capped size up to a multiple of 256 bytes, and at least 4096. */
    if (c->capped_size_bytes < 4096)
        c->capped_size_bytes = 4096;
    c->capped_size_bytes = (c->capped_size_bytes + 255) & ~(int64_t)255;
    return 0;
}

int store_coll_create(struct store_txn *t, const char *db, const char *name, const bson_t *options,
                      struct coll_info **out, struct err *e)
{
    int rc = validate_ns(db, name, e);
    if (rc < 0)
        return rc;
    struct coll_info *existing = NULL;
    rc = store_coll_find(t, db, name, &existing, e);
    if (rc < 0)
        return rc;
    if (existing) {
        coll_info_destroy(existing);
        return err_set(e, ERR_NAMESPACE_EXISTS, "Collection %s.%s already exists.", db, name);
    }
    struct coll_info *c = xcalloc(1, sizeof *c);
    c->db = xstrdup(db);
    c->name = xstrdup(name);
    bson_init(&c->options);
    if (options)
        bson_concat(&c->options, options);
    rc = parse_capped_options(options, c, e);
    if (rc < 0)
        goto fail;
    rc = store_meta_next_id(t, "next_coll_id", &c->id, e);
    if (rc < 0)
        goto fail;
    uint64_t id_index_id = 0;
    if (c->is_capped && (rc = store_meta_next_id(t, "next_index_id", &id_index_id, e)) < 0)
        goto fail;
    if (getrandom(c->uuid, sizeof c->uuid, 0) != (ssize_t)sizeof c->uuid) {
        for (size_t i = 0; i < sizeof c->uuid; i++)
            c->uuid[i] = (uint8_t)rand();
    }
    c->uuid[6] = (uint8_t)((c->uuid[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
    c->uuid[8] = (uint8_t)((c->uuid[8] & 0x3f) | 0x80);
    c->n_indexes = 1;
    c->indexes = xcalloc(1, sizeof *c->indexes);
    id_index_init(&c->indexes[0], id_index_id);
    struct coll_counters cc = {0, 0, 1};
    if ((rc = catalog_put(t, c, e)) < 0 || (rc = store_counters_put(t, c->id, &cc, e)) < 0)
        goto fail;
    if (store_hook_is_active(t)) {
        bson_t cmd;
        bson_init(&cmd);
        BSON_APPEND_UTF8(&cmd, "create", name);
        bson_concat(&cmd, &c->options);
        struct store_change ch = {.kind = STORE_CHANGE_COMMAND, .coll = c, .db = db, .command = &cmd};
        rc = store_hook_report(t, &ch, e);
        bson_destroy(&cmd);
        if (rc < 0)
            goto fail;
    }
    if (out)
        *out = c;
    else
        coll_info_destroy(c);
    return 0;
fail:
    coll_info_destroy(c);
    return rc;
}

/* Removes c's records, index entries, statistics and catalog entry, without
 * telling the hook (callers report the command they are part of). */
static int coll_remove(struct store_txn *t, const struct coll_info *c, struct err *e)
{
    int rc = store_delete_prefix(t, t->s->dbi_records, c->id, e);
    for (int i = 0; rc == 0 && i < c->n_indexes; i++)
        if (c->indexes[i].id != 0)
            rc = store_delete_prefix(t, t->s->dbi_indexes, c->indexes[i].id, e);
    if (rc == 0)
        rc = store_counters_delete(t, c->id, e);
    if (rc == 0)
        rc = catalog_del(t, c->db, c->name, e);
    return rc;
}

int store_coll_drop(struct store_txn *t, const struct coll_info *c, struct err *e)
{
    int rc = coll_remove(t, c, e);
    if (rc == 0 && store_hook_is_active(t)) {
        bson_t cmd;
        bson_init(&cmd);
        BSON_APPEND_UTF8(&cmd, "drop", c->name);
        struct store_change ch = {.kind = STORE_CHANGE_COMMAND, .coll = c, .db = c->db, .command = &cmd};
        rc = store_hook_report(t, &ch, e);
        bson_destroy(&cmd);
    }
    return rc;
}

int store_db_drop(struct store_txn *t, const char *db, struct err *e)
{
    struct coll_info **list;
    int n;
    int rc = store_coll_list(t, db, &list, &n, e);
    if (rc < 0)
        return rc;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = coll_remove(t, list[i], e);
    coll_info_list_free(list, n);
    /* An empty database changes nothing, so there is nothing to report. */
    if (rc == 0 && n > 0 && store_hook_is_active(t)) {
        bson_t cmd;
        bson_init(&cmd);
        BSON_APPEND_INT32(&cmd, "dropDatabase", 1);
        struct store_change ch = {.kind = STORE_CHANGE_COMMAND, .coll = NULL, .db = db, .command = &cmd};
        rc = store_hook_report(t, &ch, e);
        bson_destroy(&cmd);
    }
    return rc;
}

int store_coll_rename(struct store_txn *t, const struct coll_info *c, const char *to_db, const char *to_name,
                      bool is_drop_target, struct err *e)
{
    int rc = validate_ns(to_db, to_name, e);
    if (rc < 0)
        return rc;
    if (strcmp(c->db, to_db) == 0 && strcmp(c->name, to_name) == 0)
        return err_set(e, ERR_ILLEGAL_OPERATION, "Can't rename a collection to itself");
    struct coll_info *target = NULL;
    rc = store_coll_find(t, to_db, to_name, &target, e);
    if (rc < 0)
        return rc;
    if (target) {
        if (!is_drop_target) {
            coll_info_destroy(target);
            return err_set(e, ERR_NAMESPACE_EXISTS, "target namespace exists");
        }
        rc = coll_remove(t, target, e);
        coll_info_destroy(target);
        if (rc < 0)
            return rc;
    }
    /* Records and index entries are keyed by ids, not names: only the catalog entry moves. */
    struct coll_info *cur = NULL;
    rc = store_coll_find(t, c->db, c->name, &cur, e);
    if (rc < 0)
        return rc;
    if (cur == NULL)
        return err_set(e, ERR_NAMESPACE_NOT_FOUND, "source namespace does not exist");
    rc = catalog_del(t, cur->db, cur->name, e);
    free(cur->db);
    free(cur->name);
    cur->db = xstrdup(to_db);
    cur->name = xstrdup(to_name);
    if (rc == 0)
        rc = catalog_put(t, cur, e);
    if (rc == 0 && store_hook_is_active(t)) {
        bson_t cmd;
        bson_init(&cmd);
        char *from = bson_strdup_printf("%s.%s", c->db, c->name);
        char *to = bson_strdup_printf("%s.%s", to_db, to_name);
        BSON_APPEND_UTF8(&cmd, "renameCollection", from);
        BSON_APPEND_UTF8(&cmd, "to", to);
        BSON_APPEND_BOOL(&cmd, "dropTarget", is_drop_target);
        /* coll is the source as it was: its UUID is what the entry names. */
        struct store_change ch = {.kind = STORE_CHANGE_COMMAND, .coll = c, .db = c->db, .command = &cmd};
        rc = store_hook_report(t, &ch, e);
        bson_free(from);
        bson_free(to);
        bson_destroy(&cmd);
    }
    coll_info_destroy(cur);
    return rc;
}

int catalog_set_multikey(struct store_txn *t, const struct coll_info *c, uint64_t index_id, struct err *e)
{
    struct coll_info *cur = NULL;
    int rc = store_coll_find(t, c->db, c->name, &cur, e);
    if (rc < 0 || cur == NULL)
        return rc;
    bool is_changed = false;
    for (int i = 0; i < cur->n_indexes; i++) {
        if (cur->indexes[i].id == index_id && !cur->indexes[i].is_multikey) {
            cur->indexes[i].is_multikey = true;
            is_changed = true;
        }
    }
    if (is_changed)
        rc = catalog_put(t, cur, e);
    coll_info_destroy(cur);
    return rc;
}
