/* indexes.c - createIndexes and dropIndexes at the storage level.
 *
 * Validates an index spec the way mongod 6.0 does for the index types we
 * support (ascending/descending B-tree keys, unique, sparse), normalises it
 * to what listIndexes shows, and builds the index over the existing
 * documents inside a nested LMDB transaction, so a duplicate found halfway
 * through leaves the caller's transaction exactly as it was. An index that
 * was created or dropped is reported to the change hook as one command
 * ({createIndexes: coll, ...normalised spec} / {dropIndexes: coll, index}). */
#include "storage/store_int.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

struct index_spec {
    bson_t key;  /* borrowed view into the spec */
    char *name;  /* owned */
    bool is_unique;
    bool is_sparse;
    bson_t norm; /* normalised spec, owned */
};

static bool is_truthy(const bson_iter_t *it)
{
    return bson_iter_as_bool(it);
}

static int validate_key_pattern(const bson_t *key, struct err *e)
{
    bson_iter_t it;
    if (bson_count_keys(key) == 0)
        return err_set(e, ERR_CANNOT_CREATE_INDEX, "Index keys cannot be empty.");
    if (bson_count_keys(key) > 32)
        return err_set(e, ERR_CANNOT_CREATE_INDEX, "Index key pattern has more than 32 fields");
    bson_iter_init(&it, key);
    while (bson_iter_next(&it)) {
        const char *field = bson_iter_key(&it);
        size_t n = strlen(field);
        if (n == 0 || field[0] == '.' || field[n - 1] == '.' || strstr(field, "..") != NULL)
            return err_set(e, ERR_CANNOT_CREATE_INDEX, "Index keys cannot be an empty field.");
        if (field[0] == '$')
            return err_set(e, ERR_CANNOT_CREATE_INDEX, "Index key contains an illegal field name: field name starts "
                                                       "with '$'.");
        if (BSON_ITER_HOLDS_UTF8(&it)) {
            const char *type = bson_iter_utf8(&it, NULL);
            if (strcmp(type, "text") == 0 || strcmp(type, "2dsphere") == 0 || strcmp(type, "2d") == 0 ||
                strcmp(type, "hashed") == 0 || strcmp(type, "geoHaystack") == 0 || strcmp(type, "wildcard") == 0)
                return err_set(e, ERR_CANNOT_CREATE_INDEX, "index type '%s' is not supported yet", type);
            return err_set(e, ERR_CANNOT_CREATE_INDEX, "Unknown index plugin '%s'", type);
        }
        if (!BSON_ITER_HOLDS_NUMBER(&it))
            return err_set(e, ERR_CANNOT_CREATE_INDEX,
                           "Values in v:2 index key pattern cannot be of type %s. Only numbers > 0, numbers < 0, "
                           "and strings are allowed.",
                           BSON_ITER_HOLDS_BOOL(&it) ? "bool" : "this type");
        double d = bson_iter_as_double(&it);
        if (d == 0 || isnan(d))
            return err_set(e, ERR_CANNOT_CREATE_INDEX, "Values in the index key pattern can't be 0 or NaN.");
    }
    return 0;
}

/* Default names: "a_1_b_-1", as mongod builds them. */
static char *default_index_name(const bson_t *key)
{
    bson_string_t *s = bson_string_new("");
    bson_iter_t it;
    bson_iter_init(&it, key);
    bool is_first = true;
    while (bson_iter_next(&it)) {
        bson_string_append_printf(s, "%s%s_", is_first ? "" : "_", bson_iter_key(&it));
        if (BSON_ITER_HOLDS_DOUBLE(&it))
            bson_string_append_printf(s, "%g", bson_iter_double(&it));
        else
            bson_string_append_printf(s, "%lld", (long long)bson_iter_as_int64(&it));
        is_first = false;
    }
    return bson_string_free(s, false);
}

static void index_spec_destroy(struct index_spec *sp)
{
    free(sp->name);
    bson_destroy(&sp->norm);
}

static int parse_spec(const bson_t *spec, struct index_spec *out, struct err *e)
{
    bson_iter_t it;
    memset(out, 0, sizeof *out);
    bson_init(&out->norm);
    bool has_key = false;
    bson_iter_t expire;
    bool has_expire = false;
    if (!bson_iter_init(&it, spec))
        return err_set(e, ERR_INVALID_BSON, "invalid index specification");
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "key") == 0) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                return err_set(e, ERR_TYPE_MISMATCH, "The field 'key' must be an object, but got %s",
                               BSON_ITER_HOLDS_UTF8(&it) ? "string" : "another type");
            const uint8_t *data;
            uint32_t len;
            bson_iter_document(&it, &len, &data);
            if (!bson_init_static(&out->key, data, len))
                return err_set(e, ERR_INVALID_BSON, "invalid index key pattern");
            has_key = true;
        } else if (strcmp(k, "name") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&it))
                return err_set(e, ERR_TYPE_MISMATCH, "The field 'name' must be a string");
            const char *name = bson_iter_utf8(&it, NULL);
            if (name[0] == '\0')
                return err_set(e, ERR_CANNOT_CREATE_INDEX, "The index name cannot be empty");
            free(out->name);
            out->name = xstrdup(name);
        } else if (strcmp(k, "unique") == 0) {
            out->is_unique = is_truthy(&it);
        } else if (strcmp(k, "sparse") == 0) {
            out->is_sparse = is_truthy(&it);
        } else if (strcmp(k, "expireAfterSeconds") == 0) {
            if (!BSON_ITER_HOLDS_NUMBER(&it))
                return err_set(e, ERR_CANNOT_CREATE_INDEX, "TTL index 'expireAfterSeconds' option must be numeric");
            expire = it;
            has_expire = true;
        } else if (strcmp(k, "partialFilterExpression") == 0) {
            return err_set(e, ERR_CANNOT_CREATE_INDEX, "partialFilterExpression indexes are not supported yet");
        } else if (strcmp(k, "collation") == 0) {
            return err_set(e, ERR_CANNOT_CREATE_INDEX, "indexes with a collation are not supported yet");
        } else if (strcmp(k, "v") != 0 && strcmp(k, "background") != 0 && strcmp(k, "ns") != 0) {
            return err_set(e, ERR_CANNOT_CREATE_INDEX,
                           "The field '%s' is not valid for an index specification or is not supported yet", k);
        }
    }
    if (!has_key)
        return err_set(e, ERR_FAILED_TO_PARSE, "The 'key' field is a required property of an index specification");
    int rc = validate_key_pattern(&out->key, e);
    if (rc < 0)
        return rc;
    if (out->name == NULL)
        out->name = default_index_name(&out->key);
    if (strcmp(out->name, "_id_") == 0 || strcmp(out->name, "_id") == 0) {
        bson_iter_t f;
        bool is_id_key = bson_count_keys(&out->key) == 1 && bson_iter_init_find(&f, &out->key, "_id");
        if (!is_id_key || strcmp(out->name, "_id_") != 0)
            return err_set(e, ERR_BAD_VALUE, "The index name '_id_' is reserved for the _id index, which must have "
                                             "key pattern {_id: 1}.");
    }
    BSON_APPEND_INT32(&out->norm, "v", 2);
    BSON_APPEND_DOCUMENT(&out->norm, "key", &out->key);
    BSON_APPEND_UTF8(&out->norm, "name", out->name);
    if (out->is_unique)
        BSON_APPEND_BOOL(&out->norm, "unique", true);
    if (out->is_sparse)
        BSON_APPEND_BOOL(&out->norm, "sparse", true);
    if (has_expire)
        bson_append_value(&out->norm, "expireAfterSeconds", -1, bson_iter_value(&expire));
    return 0;
}

static bool keys_equal(const bson_t *a, const bson_t *b)
{
    /* Same fields in the same order with the same direction ({a: 1} equals {a: 1.0}). */
    bson_iter_t x, y;
    bson_iter_init(&x, a);
    bson_iter_init(&y, b);
    for (;;) {
        bool has_x = bson_iter_next(&x), has_y = bson_iter_next(&y);
        if (!has_x || !has_y)
            return has_x == has_y;
        if (strcmp(bson_iter_key(&x), bson_iter_key(&y)) != 0 || bson_iter_as_double(&x) != bson_iter_as_double(&y))
            return false;
    }
}

static int build_index(struct store_txn *t, const struct coll_info *c, const struct index_info *ix, bool *has_array,
                       struct err *e)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi_records, &cur);
    if (rc != 0)
        return store_mdb_err(rc, "open cursor", e);
    uint8_t prefix[STORE_ID_LEN];
    store_put_u64_be(prefix, c->id);
    MDB_val k = {sizeof prefix, prefix}, v;
    int mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    struct keybuf rk;
    keybuf_init(&rk);
    rc = 0;
    while (mrc == 0 && rc == 0 && k.mv_size >= STORE_ID_LEN && memcmp(k.mv_data, prefix, STORE_ID_LEN) == 0) {
        bson_t doc;
        if (!bson_init_static(&doc, v.mv_data, v.mv_size)) {
            rc = err_set(e, ERR_INTERNAL_ERROR, "corrupt document in %s.%s", c->db, c->name);
            break;
        }
        keybuf_reset(&rk);
        keybuf_append(&rk, (const uint8_t *)k.mv_data + STORE_ID_LEN, k.mv_size - STORE_ID_LEN);
        struct ikeyset ks;
        rc = ikeyset_compute(&ix->key, ix->is_sparse, &doc, &ks, e);
        if (rc < 0)
            break;
        *has_array = *has_array || ks.has_array;
        for (int i = 0; rc == 0 && i < ks.n; i++)
            if (STORE_ID_LEN + ks.keys[i].kb.len + rk.len > t->s->max_key_bytes)
                rc = err_set(e, ERR_BAD_VALUE, "index key too large to store in index %s", ix->name);
        if (rc == 0 && ix->is_unique)
            rc = records_check_unique(t, c, ix, &ks, &rk, NULL, e);
        if (rc == 0)
            rc = records_index_put(t, ix->id, &ks, &rk, e);
        ikeyset_destroy(&ks);
        if (rc == 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    keybuf_destroy(&rk);
    mdb_cursor_close(cur);
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(mrc, "scan collection", e);
    return rc;
}

int store_index_create(struct store_txn *t, const struct coll_info *c, const bson_t *spec, bool *is_created,
                       struct err *e)
{
    struct index_spec sp;
    *is_created = false;
    int rc = parse_spec(spec, &sp, e);
    if (rc < 0) {
        index_spec_destroy(&sp);
        return rc;
    }
    struct coll_info *cur = NULL;
    if ((rc = store_coll_find(t, c->db, c->name, &cur, e)) < 0)
        goto done;
    if (cur == NULL) {
        rc = err_set(e, ERR_NAMESPACE_NOT_FOUND, "ns does not exist: %s.%s", c->db, c->name);
        goto done;
    }
    for (int i = 0; i < cur->n_indexes; i++) {
        const struct index_info *ix = &cur->indexes[i];
        bool is_same_key = keys_equal(&ix->key, &sp.key);
        bool is_same_opts = ix->is_unique == sp.is_unique && ix->is_sparse == sp.is_sparse;
        if (i == 0 && is_same_key && bson_count_keys(&sp.key) == 1)
            is_same_opts = true; /* {_id: 1} is the _id index whatever unique says */
        if (strcmp(ix->name, sp.name) == 0) {
            if (!is_same_key)
                rc = err_set(e, ERR_INDEX_KEY_SPECS_CONFLICT,
                             "An existing index has the same name as the requested index. When index names are not "
                             "specified, they are auto generated and can cause conflicts. Please refer to our "
                             "documentation. Requested index: %s, existing index: %s",
                             sp.name, ix->name);
            else if (!is_same_opts)
                rc = err_set(e, ERR_INDEX_OPTIONS_CONFLICT,
                             "An equivalent index already exists with the same name but different options. "
                             "Requested index: %s, existing index: %s",
                             sp.name, ix->name);
            goto done;
        }
        if (is_same_key) {
            if (is_same_opts)
                rc = err_set(e, ERR_INDEX_OPTIONS_CONFLICT, "Index already exists with a different name: %s",
                             ix->name);
            else
                rc = err_set(e, ERR_INDEX_OPTIONS_CONFLICT,
                             "An equivalent index already exists with a different name and options. Requested "
                             "index: %s, existing index: %s",
                             sp.name, ix->name);
            goto done;
        }
    }
    if (cur->n_indexes >= STORE_MAX_INDEXES) {
        rc = err_set(e, ERR_CANNOT_CREATE_INDEX, "add index fails, too many indexes for %s.%s key: %s", c->db, c->name,
                     sp.name);
        goto done;
    }

    /* Build in a child transaction: a duplicate found halfway is undone by aborting it. */
    MDB_txn *child;
    int mrc = mdb_txn_begin(t->s->env, t->txn, 0, &child);
    if (mrc != 0) {
        rc = store_mdb_err(mrc, "begin index build", e);
        goto done;
    }
    /* The build's own changes are not reported: the hook hears of the index once, below. */
    struct store_txn ct = {t->s, child, true, false};
    struct index_info ix = {0};
    if ((rc = store_meta_next_id(&ct, "next_index_id", &ix.id, e)) < 0) {
        mdb_txn_abort(child);
        goto done;
    }
    ix.name = sp.name;
    bson_init_static(&ix.key, bson_get_data(&sp.key), sp.key.len);
    bson_init_static(&ix.spec, bson_get_data(&sp.norm), sp.norm.len);
    ix.is_unique = sp.is_unique;
    ix.is_sparse = sp.is_sparse;
    bool has_array = false;
    rc = build_index(&ct, cur, &ix, &has_array, e);
    if (rc == 0) {
        /* Shallow views are enough here: coll_info_set_indexes deep-copies. */
        struct index_info *all = xcalloc((size_t)cur->n_indexes + 1, sizeof *all);
        memcpy(all, cur->indexes, (size_t)cur->n_indexes * sizeof *all);
        for (int i = 0; i < cur->n_indexes; i++) {
            bson_init_static(&all[i].key, bson_get_data(&cur->indexes[i].key), cur->indexes[i].key.len);
            bson_init_static(&all[i].spec, bson_get_data(&cur->indexes[i].spec), cur->indexes[i].spec.len);
        }
        all[cur->n_indexes] = ix;
        bson_init_static(&all[cur->n_indexes].key, bson_get_data(&sp.key), sp.key.len);
        bson_init_static(&all[cur->n_indexes].spec, bson_get_data(&sp.norm), sp.norm.len);
        all[cur->n_indexes].is_multikey = has_array;
        coll_info_set_indexes(cur, all, cur->n_indexes + 1);
        free(all);
        rc = catalog_put(&ct, cur, e);
    }
    if (rc < 0) {
        mdb_txn_abort(child);
        goto done;
    }
    mrc = mdb_txn_commit(child);
    if (mrc != 0) {
        rc = store_mdb_err(mrc, "finish index build", e);
        goto done;
    }
    *is_created = true;
    if (store_hook_is_active(t)) {
        bson_t cmd;
        bson_init(&cmd);
        BSON_APPEND_UTF8(&cmd, "createIndexes", c->name);
        bson_concat(&cmd, &sp.norm);
        struct store_change ch = {.kind = STORE_CHANGE_COMMAND, .coll = cur, .db = c->db, .command = &cmd};
        rc = store_hook_report(t, &ch, e);
        bson_destroy(&cmd);
    }
done:
    coll_info_destroy(cur);
    index_spec_destroy(&sp);
    return rc;
}

int store_index_drop(struct store_txn *t, const struct coll_info *c, const char *name, struct err *e)
{
    if (strcmp(name, "_id_") == 0)
        return err_set(e, ERR_INVALID_OPTIONS, "cannot drop _id index");
    struct coll_info *cur = NULL;
    int rc = store_coll_find(t, c->db, c->name, &cur, e);
    if (rc < 0)
        return rc;
    if (cur == NULL)
        return err_set(e, ERR_NAMESPACE_NOT_FOUND, "ns not found %s.%s", c->db, c->name);
    int pos = -1;
    for (int i = 1; i < cur->n_indexes; i++)
        if (strcmp(cur->indexes[i].name, name) == 0)
            pos = i;
    if (pos < 0) {
        coll_info_destroy(cur);
        return err_set(e, ERR_INDEX_NOT_FOUND, "index not found with name [%s]", name);
    }
    rc = store_delete_prefix(t, t->s->dbi_indexes, cur->indexes[pos].id, e);
    if (rc == 0) {
        struct index_info *rest = xcalloc((size_t)cur->n_indexes, sizeof *rest);
        int n = 0;
        for (int i = 0; i < cur->n_indexes; i++) {
            if (i == pos)
                continue;
            rest[n] = cur->indexes[i];
            bson_init_static(&rest[n].key, bson_get_data(&cur->indexes[i].key), cur->indexes[i].key.len);
            bson_init_static(&rest[n].spec, bson_get_data(&cur->indexes[i].spec), cur->indexes[i].spec.len);
            n++;
        }
        coll_info_set_indexes(cur, rest, n);
        free(rest);
        rc = catalog_put(t, cur, e);
    }
    if (rc == 0 && store_hook_is_active(t)) {
        bson_t cmd;
        bson_init(&cmd);
        BSON_APPEND_UTF8(&cmd, "dropIndexes", cur->name);
        BSON_APPEND_UTF8(&cmd, "index", name);
        struct store_change ch = {.kind = STORE_CHANGE_COMMAND, .coll = cur, .db = cur->db, .command = &cmd};
        rc = store_hook_report(t, &ch, e);
        bson_destroy(&cmd);
    }
    coll_info_destroy(cur);
    return rc;
}
