/* records.c - documents and their index entries.
 *
 * "records": key = collection id (8 bytes BE) + record key, value = BSON.
 * "indexes": key = index id (8 bytes BE) + encoded components + record key,
 * value = record key. Ordinary collections use keyenc(_id) as the record key
 * and have no separate _id index; capped ones use an 8-byte insertion
 * sequence and keep a real unique _id index.
 *
 * Every insert/update/delete first computes all keys and checks every
 * uniqueness constraint, and only then changes anything, so a logical error
 * leaves the transaction untouched. Statistics (n_docs, data_bytes) change in
 * the same transaction. Documents read from LMDB live in the map: keys are
 * computed into owned buffers before the first write can move them, and when
 * the change hook is active the pre-image it needs is copied out first. Each
 * successful change (capped evictions included, as deletes) is reported to
 * the hook right after it is made. */
#include "storage/store_int.h"

#include "core/mem.h"

#include <string.h>

static void ix_prefix(struct keybuf *kb, uint64_t id)
{
    keybuf_init(kb);
    keybuf_append_u64_be(kb, id);
}

static int doc_id(const bson_t *doc, bson_value_t *out, struct err *e)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id"))
        return err_set(e, ERR_INVALID_ID_FIELD, "document has no _id field");
    *out = *bson_iter_value(&it);
    if (out->value_type == BSON_TYPE_ARRAY)
        return err_set(e, ERR_INVALID_ID_FIELD, "The '_id' value cannot be of type array");
    return 0;
}

/* Looks up the record key of _id `id` in a capped collection's _id index. */
static int capped_find_rk(struct store_txn *t, const struct coll_info *c, const bson_value_t *id, struct keybuf *rk,
                          bool *found, struct err *e)
{
    struct keybuf prefix;
    ix_prefix(&prefix, c->indexes[0].id);
    keyenc_append_value(&prefix, id, false);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi_indexes, &cur);
    if (rc != 0) {
        keybuf_destroy(&prefix);
        return store_mdb_err(rc, "open index cursor", e);
    }
    MDB_val k = {prefix.len, prefix.data}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    *found = false;
    if (rc == 0 && k.mv_size >= prefix.len && memcmp(k.mv_data, prefix.data, prefix.len) == 0) {
        keybuf_reset(rk);
        keybuf_append(rk, v.mv_data, v.mv_size);
        *found = true;
    }
    mdb_cursor_close(cur);
    keybuf_destroy(&prefix);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "read _id index", e);
    return 0;
}

/* The record key of an existing document (for update/delete). */
static int existing_rk(struct store_txn *t, const struct coll_info *c, const bson_t *doc, struct keybuf *rk,
                       struct err *e)
{
    bson_value_t id;
    int rc = doc_id(doc, &id, e);
    if (rc < 0)
        return rc;
    if (!c->is_capped) {
        keyenc_append_value(rk, &id, false);
        return 0;
    }
    bool found;
    rc = capped_find_rk(t, c, &id, rk, &found, e);
    if (rc == 0 && !found)
        rc = err_set(e, ERR_INTERNAL_ERROR, "document to change is missing from %s.%s", c->db, c->name);
    return rc;
}

int store_doc_get(struct store_txn *t, const struct coll_info *c, const bson_value_t *id, bson_t *out, bool *found,
                  struct err *e)
{
    struct keybuf key;
    keybuf_init(&key);
    keybuf_append_u64_be(&key, c->id);
    *found = false;
    int rc = 0;
    if (c->is_capped) {
        struct keybuf rk;
        keybuf_init(&rk);
        bool is_in_index;
        rc = capped_find_rk(t, c, id, &rk, &is_in_index, e);
        if (rc == 0 && is_in_index)
            keybuf_append(&key, rk.data, rk.len);
        keybuf_destroy(&rk);
        if (rc < 0 || !is_in_index) {
            keybuf_destroy(&key);
            return rc;
        }
    } else {
        keyenc_append_value(&key, id, false);
    }
    MDB_val k = {key.len, key.data}, v;
    int mrc = key.len <= t->s->max_key_bytes ? mdb_get(t->txn, t->s->dbi_records, &k, &v) : MDB_NOTFOUND;
    keybuf_destroy(&key);
    if (mrc == MDB_NOTFOUND)
        return 0;
    if (mrc != 0)
        return store_mdb_err(mrc, "read document", e);
    if (!bson_init_static(out, v.mv_data, v.mv_size))
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt document in %s.%s", c->db, c->name);
    *found = true;
    return 0;
}

int records_check_unique(struct store_txn *t, const struct coll_info *c, const struct index_info *ix,
                         const struct ikeyset *ks, const struct keybuf *rk, const struct ikeyset *skip, struct err *e)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi_indexes, &cur);
    if (rc != 0)
        return store_mdb_err(rc, "open index cursor", e);
    struct keybuf prefix;
    keybuf_init(&prefix);
    int ret = 0;
    for (int i = 0; i < ks->n && ret == 0; i++) {
        if (skip && ikeyset_contains(skip, &ks->keys[i].kb))
            continue;
        keybuf_reset(&prefix);
        keybuf_append_u64_be(&prefix, ix->id);
        keybuf_append(&prefix, ks->keys[i].kb.data, ks->keys[i].kb.len);
        MDB_val k = {prefix.len, prefix.data}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        /* The component encoding is prefix-free: a key starting with the
         * prefix has exactly these components. Scan them for another record. */
        while (rc == 0 && k.mv_size >= prefix.len && memcmp(k.mv_data, prefix.data, prefix.len) == 0) {
            if (v.mv_size != rk->len || memcmp(v.mv_data, rk->data, rk->len) != 0) {
                ret = ikey_dup_error(c, ix, ks->keys[i].vals, e);
                break;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
            ret = store_mdb_err(rc, "read index", e);
    }
    keybuf_destroy(&prefix);
    mdb_cursor_close(cur);
    return ret;
}

static int index_entry_op(struct store_txn *t, uint64_t index_id, const struct keybuf *comps, const struct keybuf *rk,
                          bool is_insert, struct err *e)
{
    struct keybuf key;
    ix_prefix(&key, index_id);
    keybuf_append(&key, comps->data, comps->len);
    keybuf_append(&key, rk->data, rk->len);
    MDB_val k = {key.len, key.data}, v = {rk->len, rk->data};
    int rc = is_insert ? mdb_put(t->txn, t->s->dbi_indexes, &k, &v, 0) : mdb_del(t->txn, t->s->dbi_indexes, &k, NULL);
    keybuf_destroy(&key);
    if (rc != 0 && !(rc == MDB_NOTFOUND && !is_insert))
        return store_mdb_err(rc, is_insert ? "write index entry" : "delete index entry", e);
    return 0;
}

int records_index_put(struct store_txn *t, uint64_t index_id, const struct ikeyset *ks, const struct keybuf *rk,
                      struct err *e)
{
    for (int i = 0; i < ks->n; i++) {
        int rc = index_entry_op(t, index_id, &ks->keys[i].kb, rk, true, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_key_sizes(struct store_txn *t, const struct index_info *ix, const struct ikeyset *ks,
                           const struct keybuf *rk, struct err *e)
{
    for (int i = 0; i < ks->n; i++)
        if (STORE_ID_LEN + ks->keys[i].kb.len + rk->len > t->s->max_key_bytes)
            return err_set(e, ERR_BAD_VALUE, "index key too large to store in index %s (%zu bytes, limit %zu)",
                           ix->name, STORE_ID_LEN + ks->keys[i].kb.len + rk->len, t->s->max_key_bytes);
    return 0;
}

/* The keys of doc for every real index (ks[i] stays empty for id 0). */
static int compute_all_keys(const struct coll_info *c, const bson_t *doc, struct ikeyset *ks, struct err *e)
{
    for (int i = 0; i < c->n_indexes; i++)
        ikeyset_init(&ks[i]);
    for (int i = 0; i < c->n_indexes; i++) {
        if (c->indexes[i].id == 0)
            continue;
        int rc = ikeyset_compute(&c->indexes[i].key, c->indexes[i].is_sparse, doc, &ks[i], e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void destroy_all_keys(const struct coll_info *c, struct ikeyset *ks)
{
    for (int i = 0; i < c->n_indexes; i++)
        ikeyset_destroy(&ks[i]);
    free(ks);
}

static int mark_multikey(struct store_txn *t, const struct coll_info *c, const struct ikeyset *ks, struct err *e)
{
    for (int i = 0; i < c->n_indexes; i++) {
        if (ks[i].has_array && !c->indexes[i].is_multikey) {
            int rc = catalog_set_multikey(t, c, c->indexes[i].id, e);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int record_put(struct store_txn *t, const struct coll_info *c, const struct keybuf *rk, const bson_t *doc,
                      struct err *e)
{
    struct keybuf key;
    ix_prefix(&key, c->id);
    keybuf_append(&key, rk->data, rk->len);
    MDB_val k = {key.len, key.data}, v = {doc->len, (void *)bson_get_data(doc)};
    int rc = mdb_put(t->txn, t->s->dbi_records, &k, &v, 0);
    keybuf_destroy(&key);
    return rc != 0 ? store_mdb_err(rc, "write document", e) : 0;
}

/* Removes the record rk whose document is doc (possibly inside the map). */
static int record_remove(struct store_txn *t, const struct coll_info *c, const struct keybuf *rk, const bson_t *doc,
                         struct coll_counters *cc, struct err *e)
{
    struct ikeyset *ks = xcalloc((size_t)c->n_indexes, sizeof *ks);
    int64_t len = doc->len;
    int rc = compute_all_keys(c, doc, ks, e);
    for (int i = 0; rc == 0 && i < c->n_indexes; i++)
        for (int j = 0; rc == 0 && j < ks[i].n; j++)
            rc = index_entry_op(t, c->indexes[i].id, &ks[i].keys[j].kb, rk, false, e);
    destroy_all_keys(c, ks);
    if (rc < 0)
        return rc;
    struct keybuf key;
    ix_prefix(&key, c->id);
    keybuf_append(&key, rk->data, rk->len);
    MDB_val k = {key.len, key.data};
    int mrc = mdb_del(t->txn, t->s->dbi_records, &k, NULL);
    keybuf_destroy(&key);
    if (mrc != 0)
        return store_mdb_err(mrc, "delete document", e);
    cc->n_docs--;
    cc->data_bytes -= len;
    return 0;
}

/* Capped collections drop their oldest documents past size or max, never the one just inserted. */
static int capped_evict(struct store_txn *t, const struct coll_info *c, struct coll_counters *cc,
                        const struct keybuf *newest_rk, struct err *e)
{
    while (cc->n_docs > 1 &&
           ((c->capped_max_docs > 0 && cc->n_docs > c->capped_max_docs) || cc->data_bytes > c->capped_size_bytes)) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(t->txn, t->s->dbi_records, &cur);
        if (rc != 0)
            return store_mdb_err(rc, "open cursor", e);
        uint8_t prefix[STORE_ID_LEN];
        store_put_u64_be(prefix, c->id);
        MDB_val k = {sizeof prefix, prefix}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        mdb_cursor_close(cur);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return store_mdb_err(rc, "read oldest capped document", e);
        if (rc != 0 || k.mv_size < STORE_ID_LEN || memcmp(k.mv_data, prefix, STORE_ID_LEN) != 0)
            return 0;
        struct keybuf rk;
        keybuf_init(&rk);
        keybuf_append(&rk, (const uint8_t *)k.mv_data + STORE_ID_LEN, k.mv_size - STORE_ID_LEN);
        bool is_newest = rk.len == newest_rk->len && memcmp(rk.data, newest_rk->data, rk.len) == 0;
        bson_t doc;
        if (is_newest || !bson_init_static(&doc, v.mv_data, v.mv_size)) {
            keybuf_destroy(&rk);
            return 0;
        }
        bson_t *pre = store_hook_is_active(t) ? bson_copy(&doc) : NULL;
        rc = record_remove(t, c, &rk, &doc, cc, e);
        keybuf_destroy(&rk);
        if (rc == 0 && pre) {
            struct store_change ch = {.kind = STORE_CHANGE_DELETE, .coll = c, .db = c->db, .old_doc = pre};
            rc = store_hook_report(t, &ch, e);
        }
        if (pre)
            bson_destroy(pre);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int store_doc_insert(struct store_txn *t, const struct coll_info *c, const bson_t *doc, struct err *e)
{
    bson_value_t id;
    int rc = doc_id(doc, &id, e);
    if (rc < 0)
        return rc;
    struct coll_counters cc;
    if ((rc = store_counters_get(t, c->id, &cc, e)) < 0)
        return rc;
    struct keybuf rk;
    keybuf_init(&rk);
    if (c->is_capped)
        keybuf_append_u64_be(&rk, cc.next_seq);
    else
        keyenc_append_value(&rk, &id, false);
    struct ikeyset *ks = xcalloc((size_t)c->n_indexes, sizeof *ks);
    for (int i = 0; i < c->n_indexes; i++)
        ikeyset_init(&ks[i]);

    if (STORE_ID_LEN + rk.len > t->s->max_key_bytes) {
        rc = err_set(e, ERR_BAD_VALUE, "_id too large to store (%zu bytes encoded, limit %zu)", STORE_ID_LEN + rk.len,
                     t->s->max_key_bytes);
        goto done;
    }
    if (!c->is_capped) {
        struct keybuf key;
        ix_prefix(&key, c->id);
        keybuf_append(&key, rk.data, rk.len);
        MDB_val k = {key.len, key.data}, v;
        int mrc = mdb_get(t->txn, t->s->dbi_records, &k, &v);
        keybuf_destroy(&key);
        if (mrc == 0) {
            rc = ikey_dup_error(c, &c->indexes[0], &id, e);
            goto done;
        }
        if (mrc != MDB_NOTFOUND) {
            rc = store_mdb_err(mrc, "read document", e);
            goto done;
        }
    }
    if ((rc = compute_all_keys(c, doc, ks, e)) < 0)
        goto done;
    for (int i = 0; i < c->n_indexes; i++) {
        if ((rc = check_key_sizes(t, &c->indexes[i], &ks[i], &rk, e)) < 0)
            goto done;
        if (c->indexes[i].is_unique && c->indexes[i].id != 0 &&
            (rc = records_check_unique(t, c, &c->indexes[i], &ks[i], &rk, NULL, e)) < 0)
            goto done;
    }

    /* Checks passed: from here on only storage failures can stop us. */
    if ((rc = record_put(t, c, &rk, doc, e)) < 0)
        goto done;
    for (int i = 0; i < c->n_indexes; i++)
        if ((rc = records_index_put(t, c->indexes[i].id, &ks[i], &rk, e)) < 0)
            goto done;
    if ((rc = mark_multikey(t, c, ks, e)) < 0)
        goto done;
    /* Reported before any eviction, so the oplog reads "insert, then evict". */
    if (store_hook_is_active(t)) {
        struct store_change ch = {.kind = STORE_CHANGE_INSERT, .coll = c, .db = c->db, .doc = doc};
        if ((rc = store_hook_report(t, &ch, e)) < 0)
            goto done;
    }
    cc.n_docs++;
    cc.data_bytes += doc->len;
    if (c->is_capped) {
        cc.next_seq++;
        if ((rc = capped_evict(t, c, &cc, &rk, e)) < 0)
            goto done;
    }
    rc = store_counters_put(t, c->id, &cc, e);
done:
    destroy_all_keys(c, ks);
    keybuf_destroy(&rk);
    return rc;
}

int store_doc_update(struct store_txn *t, const struct coll_info *c, const bson_t *old_doc, const bson_t *new_doc,
                     struct err *e)
{
    struct keybuf rk;
    keybuf_init(&rk);
    struct ikeyset *old_ks = xcalloc((size_t)c->n_indexes, sizeof *old_ks);
    struct ikeyset *new_ks = xcalloc((size_t)c->n_indexes, sizeof *new_ks);
    for (int i = 0; i < c->n_indexes; i++) {
        ikeyset_init(&old_ks[i]);
        ikeyset_init(&new_ks[i]);
    }
    int64_t old_len = old_doc->len;
    bson_t *pre = store_hook_is_active(t) ? bson_copy(old_doc) : NULL;
    bson_value_t old_id, new_id;
    struct coll_counters cc;
    int rc = doc_id(new_doc, &new_id, e);
    if (rc == 0)
        rc = doc_id(old_doc, &old_id, e);
    if (rc < 0)
        goto done;
    struct keybuf old_ik, new_ik;
    keybuf_init(&old_ik);
    keybuf_init(&new_ik);
    keyenc_append_value(&old_ik, &old_id, false);
    keyenc_append_value(&new_ik, &new_id, false);
    bool is_same_id = old_ik.len == new_ik.len && memcmp(old_ik.data, new_ik.data, old_ik.len) == 0;
    keybuf_destroy(&old_ik);
    keybuf_destroy(&new_ik);
    if (!is_same_id) {
        rc = err_set(e, ERR_IMMUTABLE_FIELD,
                     "After applying the update, the (immutable) field '_id' was found to have been altered");
        goto done;
    }
    if ((rc = existing_rk(t, c, old_doc, &rk, e)) < 0 || (rc = compute_all_keys(c, old_doc, old_ks, e)) < 0 ||
        (rc = compute_all_keys(c, new_doc, new_ks, e)) < 0 || (rc = store_counters_get(t, c->id, &cc, e)) < 0)
        goto done;
    for (int i = 0; i < c->n_indexes; i++) {
        if ((rc = check_key_sizes(t, &c->indexes[i], &new_ks[i], &rk, e)) < 0)
            goto done;
        if (c->indexes[i].is_unique && c->indexes[i].id != 0 &&
            (rc = records_check_unique(t, c, &c->indexes[i], &new_ks[i], &rk, &old_ks[i], e)) < 0)
            goto done;
    }

    /* Only keys that changed are touched; old_doc may be invalid from here on. */
    for (int i = 0; i < c->n_indexes; i++) {
        for (int j = 0; j < old_ks[i].n; j++)
            if (!ikeyset_contains(&new_ks[i], &old_ks[i].keys[j].kb) &&
                (rc = index_entry_op(t, c->indexes[i].id, &old_ks[i].keys[j].kb, &rk, false, e)) < 0)
                goto done;
        for (int j = 0; j < new_ks[i].n; j++)
            if (!ikeyset_contains(&old_ks[i], &new_ks[i].keys[j].kb) &&
                (rc = index_entry_op(t, c->indexes[i].id, &new_ks[i].keys[j].kb, &rk, true, e)) < 0)
                goto done;
    }
    if ((rc = record_put(t, c, &rk, new_doc, e)) < 0 || (rc = mark_multikey(t, c, new_ks, e)) < 0)
        goto done;
    cc.data_bytes += (int64_t)new_doc->len - old_len;
    rc = store_counters_put(t, c->id, &cc, e);
    if (rc == 0 && pre) {
        struct store_change ch = {
            .kind = STORE_CHANGE_UPDATE, .coll = c, .db = c->db, .doc = new_doc, .old_doc = pre};
        rc = store_hook_report(t, &ch, e);
    }
done:
    if (pre)
        bson_destroy(pre);
    destroy_all_keys(c, old_ks);
    destroy_all_keys(c, new_ks);
    keybuf_destroy(&rk);
    return rc;
}

int store_doc_delete(struct store_txn *t, const struct coll_info *c, const bson_t *old_doc, struct err *e)
{
    struct keybuf rk;
    keybuf_init(&rk);
    struct coll_counters cc;
    bson_t *pre = store_hook_is_active(t) ? bson_copy(old_doc) : NULL;
    int rc = existing_rk(t, c, old_doc, &rk, e);
    if (rc == 0)
        rc = store_counters_get(t, c->id, &cc, e);
    if (rc == 0)
        rc = record_remove(t, c, &rk, old_doc, &cc, e);
    if (rc == 0)
        rc = store_counters_put(t, c->id, &cc, e);
    if (rc == 0 && pre) {
        struct store_change ch = {.kind = STORE_CHANGE_DELETE, .coll = c, .db = c->db, .old_doc = pre};
        rc = store_hook_report(t, &ch, e);
    }
    if (pre)
        bson_destroy(pre);
    keybuf_destroy(&rk);
    return rc;
}
