/* iter.c - collection scans and index scans, resumable by position.
 *
 * A collection scan walks "records" under the collection's id prefix, in
 * either direction. An index scan walks the ranges of one index in
 * ascending order: it seeks to each range's low end (MDB_SET_RANGE), returns
 * keys inside the range (key_range_check on the components after the 8-byte
 * index id) and jumps to the next range when past the current one; each
 * entry's value is the record key, whose document is then fetched. For the
 * implicit _id_ index of an ordinary collection the ranges apply to the
 * record keys directly. A position is the full LMDB key of the last entry
 * returned; resuming seeks just past it. */
#include "storage/store_int.h"

#include "core/mem.h"

#include <string.h>

struct store_iter {
    struct store_txn *t;
    MDB_cursor *cur;
    MDB_dbi dbi;
    uint8_t prefix[STORE_ID_LEN];
    uint64_t coll_id;
    bool is_index;   /* entries are index entries (values are record keys) */
    bool is_reverse; /* collection scans only */
    bool is_started;
    bool is_done;
    struct key_range *ranges; /* owned copies */
    int n_ranges;
    int range_i;
    struct keybuf pos;
    struct keybuf resume;
    bool has_resume;
    struct keybuf seek; /* scratch */
};

static struct store_iter *iter_new(struct store_txn *t, MDB_dbi dbi, uint64_t prefix_id,
                                   const struct keybuf *resume_after, struct err *e, int *rc)
{
    struct store_iter *it = xcalloc(1, sizeof *it);
    it->t = t;
    it->dbi = dbi;
    store_put_u64_be(it->prefix, prefix_id);
    keybuf_init(&it->pos);
    keybuf_init(&it->resume);
    keybuf_init(&it->seek);
    if (resume_after && resume_after->len > 0) {
        keybuf_append(&it->resume, resume_after->data, resume_after->len);
        it->has_resume = true;
    }
    int mrc = mdb_cursor_open(t->txn, dbi, &it->cur);
    if (mrc != 0) {
        *rc = store_mdb_err(mrc, "open cursor", e);
        store_iter_close(it);
        return NULL;
    }
    *rc = 0;
    return it;
}

int store_iter_open_coll(struct store_txn *t, const struct coll_info *c, bool is_reverse,
                         const struct keybuf *resume_after, struct store_iter **out, struct err *e)
{
    int rc;
    struct store_iter *it = iter_new(t, t->s->dbi_records, c->id, resume_after, e, &rc);
    if (it == NULL)
        return rc;
    it->coll_id = c->id;
    it->is_reverse = is_reverse;
    *out = it;
    return 0;
}

int store_iter_open_index(struct store_txn *t, const struct coll_info *c, int idx, const struct key_range *ranges,
                          int n_ranges, const struct keybuf *resume_after, struct store_iter **out, struct err *e)
{
    if (idx < 0 || idx >= c->n_indexes)
        return err_set(e, ERR_INTERNAL_ERROR, "index position %d out of range", idx);
    const struct index_info *ix = &c->indexes[idx];
    bool is_records = ix->id == 0;
    int rc;
    struct store_iter *it =
        iter_new(t, is_records ? t->s->dbi_records : t->s->dbi_indexes, is_records ? c->id : ix->id, resume_after, e,
                 &rc);
    if (it == NULL)
        return rc;
    it->coll_id = c->id;
    it->is_index = !is_records;
    it->n_ranges = n_ranges;
    it->ranges = xcalloc((size_t)(n_ranges > 0 ? n_ranges : 1), sizeof *it->ranges);
    for (int i = 0; i < n_ranges; i++) {
        struct key_range *r = &it->ranges[i];
        keybuf_init(&r->lo);
        keybuf_init(&r->hi);
        keybuf_append(&r->lo, ranges[i].lo.data, ranges[i].lo.len);
        keybuf_append(&r->hi, ranges[i].hi.data, ranges[i].hi.len);
        r->is_lo_exclusive = ranges[i].is_lo_exclusive;
        r->is_hi_exclusive = ranges[i].is_hi_exclusive;
    }
    *out = it;
    return 0;
}

static bool has_prefix(const struct store_iter *it, const MDB_val *k)
{
    return k->mv_size >= STORE_ID_LEN && memcmp(k->mv_data, it->prefix, STORE_ID_LEN) == 0;
}

static int key_cmp(const MDB_val *k, const struct keybuf *kb)
{
    size_t n = k->mv_size < kb->len ? k->mv_size : kb->len;
    int c = memcmp(k->mv_data, kb->data, n);
    if (c != 0)
        return c;
    return k->mv_size < kb->len ? -1 : k->mv_size > kb->len;
}

/* Smallest key strictly above every key that starts with kb (false: none exists). */
static bool prefix_successor(struct keybuf *kb)
{
    while (kb->len > STORE_ID_LEN) {
        if (kb->data[kb->len - 1] != 0xff) {
            kb->data[kb->len - 1]++;
            return true;
        }
        kb->len--;
    }
    return false;
}

/* Positions the cursor on the first entry of the scan (or past resume). */
static int iter_first(struct store_iter *it, MDB_val *k, MDB_val *v)
{
    if (it->has_resume) {
        keybuf_reset(&it->seek);
        keybuf_append(&it->seek, it->resume.data, it->resume.len);
        *k = (MDB_val){it->seek.len, it->seek.data};
        int rc = mdb_cursor_get(it->cur, k, v, MDB_SET_RANGE);
        if (it->is_reverse) {
            /* Just before the resume key, whether or not it still exists. */
            if (rc == MDB_NOTFOUND)
                return mdb_cursor_get(it->cur, k, v, MDB_LAST);
            if (rc != 0)
                return rc;
            return mdb_cursor_get(it->cur, k, v, MDB_PREV);
        }
        if (rc == 0 && key_cmp(k, &it->resume) == 0)
            rc = mdb_cursor_get(it->cur, k, v, MDB_NEXT);
        return rc;
    }
    if (it->is_reverse) {
        /* Seek to the first key of the next id, then step back. */
        uint64_t id = store_get_u64_be(it->prefix);
        if (id == UINT64_MAX)
            return mdb_cursor_get(it->cur, k, v, MDB_LAST);
        keybuf_reset(&it->seek);
        keybuf_append_u64_be(&it->seek, id + 1);
        *k = (MDB_val){it->seek.len, it->seek.data};
        int rc = mdb_cursor_get(it->cur, k, v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
            return mdb_cursor_get(it->cur, k, v, MDB_LAST);
        if (rc != 0)
            return rc;
        return mdb_cursor_get(it->cur, k, v, MDB_PREV);
    }
    keybuf_reset(&it->seek);
    keybuf_append(&it->seek, it->prefix, STORE_ID_LEN);
    *k = (MDB_val){it->seek.len, it->seek.data};
    return mdb_cursor_get(it->cur, k, v, MDB_SET_RANGE);
}

/* Advances through the ranges from the entry at k: returns 0 with the cursor
 * on an entry inside a range, MDB_NOTFOUND when the scan is over. */
static int iter_settle_ranges(struct store_iter *it, MDB_val *k, MDB_val *v, int rc)
{
    while (rc == 0) {
        if (!has_prefix(it, k))
            return MDB_NOTFOUND;
        if (it->range_i >= it->n_ranges)
            return MDB_NOTFOUND;
        const struct key_range *r = &it->ranges[it->range_i];
        const uint8_t *comp = (const uint8_t *)k->mv_data + STORE_ID_LEN;
        size_t comp_len = k->mv_size - STORE_ID_LEN;
        int where = key_range_check(r, comp, comp_len);
        if (where == 0)
            return 0;
        if (where > 0) {
            it->range_i++;
            continue;
        }
        /* Below the range: seek to its low end, past the whole prefix when exclusive. */
        keybuf_reset(&it->seek);
        keybuf_append(&it->seek, it->prefix, STORE_ID_LEN);
        keybuf_append(&it->seek, r->lo.data, r->lo.len);
        if (r->is_lo_exclusive && !prefix_successor(&it->seek))
            return MDB_NOTFOUND;
        if (key_cmp(k, &it->seek) < 0) {
            *k = (MDB_val){it->seek.len, it->seek.data};
            rc = mdb_cursor_get(it->cur, k, v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(it->cur, k, v, MDB_NEXT);
        }
    }
    return rc;
}

int store_iter_next(struct store_iter *it, bson_t *doc, struct err *e)
{
    if (it->is_done)
        return 0;
    MDB_val k, v;
    int rc;
    if (!it->is_started) {
        it->is_started = true;
        rc = iter_first(it, &k, &v);
    } else {
        rc = mdb_cursor_get(it->cur, &k, &v, it->is_reverse ? MDB_PREV : MDB_NEXT);
    }
    if (it->ranges)
        rc = iter_settle_ranges(it, &k, &v, rc);
    if (rc == 0 && !has_prefix(it, &k))
        rc = MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) {
        it->is_done = true;
        return 0;
    }
    if (rc != 0)
        return store_mdb_err(rc, "scan", e);
    keybuf_reset(&it->pos);
    keybuf_append(&it->pos, k.mv_data, k.mv_size);
    if (it->is_index) {
        keybuf_reset(&it->seek);
        keybuf_append_u64_be(&it->seek, it->coll_id);
        keybuf_append(&it->seek, v.mv_data, v.mv_size);
        MDB_val rk = {it->seek.len, it->seek.data};
        rc = mdb_get(it->t->txn, it->t->s->dbi_records, &rk, &v);
        if (rc == MDB_NOTFOUND)
            return err_set(e, ERR_INTERNAL_ERROR, "index entry points to a missing document");
        if (rc != 0)
            return store_mdb_err(rc, "read document", e);
    }
    if (!bson_init_static(doc, v.mv_data, v.mv_size))
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt document found during scan");
    return 1;
}

const struct keybuf *store_iter_position(const struct store_iter *it)
{
    return &it->pos;
}

void store_iter_close(struct store_iter *it)
{
    if (it == NULL)
        return;
    if (it->cur)
        mdb_cursor_close(it->cur);
    for (int i = 0; it->ranges && i < it->n_ranges; i++) {
        keybuf_destroy(&it->ranges[i].lo);
        keybuf_destroy(&it->ranges[i].hi);
    }
    free(it->ranges);
    keybuf_destroy(&it->pos);
    keybuf_destroy(&it->resume);
    keybuf_destroy(&it->seek);
    free(it);
}
