/* store_testhelp.h - shared helpers of the storage unit tests (test_store*.c):
 * open a store in test_dir, run transactions, build documents from JSON,
 * collect scans as "1,2,3" strings, build integer key ranges. */
#ifndef TALLY_STORE_TESTHELP_H
#define TALLY_STORE_TESTHELP_H

#include "storage/store.h"

#include "core/mem.h"
#include "testhelp.h"

static const struct store_options nosync = {0, true};

static inline struct store *open_ok(void)
{
    struct store *s = NULL;
    struct err e;
    err_init(&e);
    int rc = store_open(test_dir, &nosync, &s, &e);
    if (rc != 0)
        fprintf(stderr, "  store_open: %s\n", e.msg);
    err_clear(&e);
    return s;
}

static inline struct store_txn *wtxn(struct store *s)
{
    struct store_txn *t = NULL;
    struct err e;
    err_init(&e);
    if (store_txn_begin_write(s, &t, &e) != 0)
        fprintf(stderr, "  begin write: %s\n", e.msg);
    return t;
}

static inline struct store_txn *rtxn(struct store *s)
{
    struct store_txn *t = NULL;
    struct err e;
    err_init(&e);
    if (store_txn_begin_read(s, &t, &e) != 0)
        fprintf(stderr, "  begin read: %s\n", e.msg);
    return t;
}

static inline int commit(struct store_txn *t)
{
    struct err e;
    err_init(&e);
    int rc = store_txn_commit(t, &e);
    err_clear(&e);
    return rc;
}

static inline bson_t *J(const char *json)
{
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &be);
    if (b == NULL) {
        fprintf(stderr, "bad test json %s: %s\n", json, be.message);
        exit(2);
    }
    return b;
}

static inline int insert_json(struct store_txn *t, const struct coll_info *c, const char *json, struct err *e)
{
    bson_t *d = J(json);
    int rc = store_doc_insert(t, c, d, e);
    bson_destroy(d);
    return rc;
}

static inline struct coll_info *create_coll(struct store_txn *t, const char *db, const char *name, const char *opts)
{
    struct err e;
    err_init(&e);
    struct coll_info *c = NULL;
    bson_t *o = opts ? J(opts) : NULL;
    if (store_coll_create(t, db, name, o, &c, &e) != 0)
        fprintf(stderr, "  create %s.%s: %s\n", db, name, e.msg);
    if (o)
        bson_destroy(o);
    err_clear(&e);
    return c;
}

static inline struct coll_info *find_coll(struct store_txn *t, const char *db, const char *name)
{
    struct err e;
    err_init(&e);
    struct coll_info *c = NULL;
    store_coll_find(t, db, name, &c, &e);
    err_clear(&e);
    return c;
}

static inline int create_index(struct store_txn *t, const struct coll_info *c, const char *spec, bool *is_created,
                        struct err *e)
{
    bson_t *sp = J(spec);
    bool dummy;
    int rc = store_index_create(t, c, sp, is_created ? is_created : &dummy, e);
    bson_destroy(sp);
    return rc;
}

/* Collects the integer field `field` of every document a scan returns, as "1,2,3". */
static inline void scan_collect(struct store_iter *it, const char *field, char *out, size_t n)
{
    struct err e;
    err_init(&e);
    bson_t doc;
    out[0] = '\0';
    int rc;
    while ((rc = store_iter_next(it, &doc, &e)) == 1) {
        bson_iter_t f;
        long long v = bson_iter_init_find(&f, &doc, field) ? (long long)bson_iter_as_int64(&f) : -999;
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%lld", len ? "," : "", v);
    }
    if (rc < 0)
        snprintf(out, n, "error: %.100s", e.msg);
    err_clear(&e);
}

static inline void coll_scan(struct store_txn *t, const struct coll_info *c, bool is_reverse, const char *field, char *out,
                      size_t n)
{
    struct err e;
    err_init(&e);
    struct store_iter *it;
    if (store_iter_open_coll(t, c, is_reverse, NULL, &it, &e) != 0) {
        snprintf(out, n, "open error");
        return;
    }
    scan_collect(it, field, out, n);
    store_iter_close(it);
}

static inline void range_int(struct key_range *r, int lo, int hi, bool lo_x, bool hi_x, bool is_desc)
{
    keybuf_init(&r->lo);
    keybuf_init(&r->hi);
    bson_value_t v = {.value_type = BSON_TYPE_INT32};
    v.value.v_int32 = is_desc ? hi : lo;
    keyenc_append_value(&r->lo, &v, is_desc);
    v.value.v_int32 = is_desc ? lo : hi;
    keyenc_append_value(&r->hi, &v, is_desc);
    r->is_lo_exclusive = is_desc ? hi_x : lo_x;
    r->is_hi_exclusive = is_desc ? lo_x : hi_x;
}

static inline void range_all(struct key_range *r)
{
    memset(r, 0, sizeof *r);
    keybuf_init(&r->lo);
    keybuf_init(&r->hi);
}

static inline void range_free(struct key_range *r, int n)
{
    for (int i = 0; i < n; i++) {
        keybuf_destroy(&r[i].lo);
        keybuf_destroy(&r[i].hi);
    }
}

static inline void index_scan(struct store_txn *t, const struct coll_info *c, int idx, struct key_range *r, int n_r,
                       const char *field, char *out, size_t n)
{
    struct err e;
    err_init(&e);
    struct store_iter *it;
    if (store_iter_open_index(t, c, idx, r, n_r, NULL, &it, &e) != 0) {
        snprintf(out, n, "open error: %.100s", e.msg);
        return;
    }
    scan_collect(it, field, out, n);
    store_iter_close(it);
}

static inline int64_t n_docs(struct store_txn *t, const struct coll_info *c)
{
    struct coll_stats st;
    struct err e;
    err_init(&e);
    if (store_coll_stats(t, c, &st, &e) != 0)
        return -1;
    return st.n_docs;
}

static inline int index_pos(const struct coll_info *c, const char *name)
{
    for (int i = 0; i < c->n_indexes; i++)
        if (strcmp(c->indexes[i].name, name) == 0)
            return i;
    return -1;
}

#endif
