/* oplog_state.c - persistent replication state in the "repl" sub-database.
 *
 * What a member must remember across restarts to keep the protocol's
 * promises (replication.md 0): the current term, the vote it gave in that term
 * (one vote per term, even after a crash), the replica-set config, the commit
 * point, the rollback id, minValid and the oplogTruncateAfterPoint. Each is
 * one small BSON record under a fixed key, written in the caller's write
 * transaction, so it is durable exactly when that transaction commits. The
 * term never decreases and the commit point never moves backwards: both are
 * enforced here. Also the one catalog change replication needs: adopting the
 * primary's collection UUID. Formats: docs/storage.md, "Replication data". */
#include "storage/oplog.h"

#include "storage/store_int.h"

#include <string.h>

static const char KEY_TERM[] = "term";
static const char KEY_LAST_VOTE[] = "last_vote";
static const char KEY_CONFIG[] = "config";
static const char KEY_COMMIT_POINT[] = "commit_point";
static const char KEY_RBID[] = "rbid";
static const char KEY_MIN_VALID[] = "min_valid";
static const char KEY_TRUNCATE_AFTER[] = "truncate_after_point";

/* Reads the record `key` as a static view; 1 found, 0 absent. */
static int rec_get(struct store_txn *t, const char *key, bson_t *out, struct err *e)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(t->txn, t->s->dbi_repl, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc, "read replication state", e);
    if (!bson_init_static(out, v.mv_data, v.mv_size))
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt replication state record '%s' in the data file", key);
    return 1;
}

static int rec_put(struct store_txn *t, const char *key, const bson_t *doc, struct err *e)
{
    if (!t->is_write)
        return err_set(e, ERR_INTERNAL_ERROR, "writing replication state '%s' needs the write transaction", key);
    MDB_val k = {strlen(key), (void *)key}, v = {doc->len, (void *)bson_get_data(doc)};
    int rc = mdb_put(t->txn, t->s->dbi_repl, &k, &v, 0);
    if (rc != 0)
        return store_mdb_err(rc, "write replication state", e);
    return 0;
}

static int rec_del(struct store_txn *t, const char *key, struct err *e)
{
    if (!t->is_write)
        return err_set(e, ERR_INTERNAL_ERROR, "writing replication state '%s' needs the write transaction", key);
    MDB_val k = {strlen(key), (void *)key};
    int rc = mdb_del(t->txn, t->s->dbi_repl, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "delete replication state", e);
    return 0;
}

static int corrupt(const char *key, struct err *e)
{
    return err_set(e, ERR_INTERNAL_ERROR, "replication state record '%s' has an unexpected shape", key);
}

/* Reads an Int64 field of record key; *out keeps dflt when the record is absent. */
static int rec_get_i64(struct store_txn *t, const char *key, const char *field, int64_t dflt, int64_t *out,
                       struct err *e)
{
    bson_t doc;
    int rc = rec_get(t, key, &doc, e);
    *out = dflt;
    if (rc <= 0)
        return rc;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &doc, field) || !BSON_ITER_HOLDS_NUMBER(&it))
        return corrupt(key, e);
    *out = bson_iter_as_int64(&it);
    return 0;
}

static int rec_get_optime(struct store_txn *t, const char *key, struct optime *out, struct err *e)
{
    bson_t doc;
    int rc = rec_get(t, key, &doc, e);
    *out = OPTIME_NULL;
    if (rc <= 0)
        return rc;
    bson_iter_t it;
    uint32_t secs, inc;
    if (!bson_iter_init_find(&it, &doc, "ts") || !BSON_ITER_HOLDS_TIMESTAMP(&it))
        return corrupt(key, e);
    bson_iter_timestamp(&it, &secs, &inc);
    if (!bson_iter_init_find(&it, &doc, "t") || !BSON_ITER_HOLDS_NUMBER(&it))
        return corrupt(key, e);
    out->ts = (uint64_t)secs << 32 | inc;
    out->term = bson_iter_as_int64(&it);
    return 0;
}

static int rec_put_optime(struct store_txn *t, const char *key, struct optime o, struct err *e)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_TIMESTAMP(&doc, "ts", (uint32_t)(o.ts >> 32), (uint32_t)o.ts);
    BSON_APPEND_INT64(&doc, "t", o.term);
    int rc = rec_put(t, key, &doc, e);
    bson_destroy(&doc);
    return rc;
}

int oplog_get_term(struct store_txn *t, int64_t *term, struct err *e)
{
    return rec_get_i64(t, KEY_TERM, "term", -1, term, e);
}

int oplog_put_term(struct store_txn *t, int64_t term, struct err *e)
{
    int64_t cur;
    int rc = oplog_get_term(t, &cur, e);
    if (rc < 0)
        return rc;
    /* Terms never decrease (Raft; replication.md 1.8). */
    if (term < cur)
        return err_set(e, ERR_INTERNAL_ERROR, "term must not decrease: stored %lld, new %lld", (long long)cur,
                       (long long)term);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT64(&doc, "term", term);
    rc = rec_put(t, KEY_TERM, &doc, e);
    bson_destroy(&doc);
    return rc;
}

int oplog_get_last_vote(struct store_txn *t, struct oplog_last_vote *out, struct err *e)
{
    bson_t doc;
    out->term = -1;
    out->candidate_index = -1;
    int rc = rec_get(t, KEY_LAST_VOTE, &doc, e);
    if (rc <= 0)
        return rc;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &doc, "term") || !BSON_ITER_HOLDS_NUMBER(&it))
        return corrupt(KEY_LAST_VOTE, e);
    int64_t term = bson_iter_as_int64(&it);
    if (!bson_iter_init_find(&it, &doc, "candidateIndex") || !BSON_ITER_HOLDS_NUMBER(&it))
        return corrupt(KEY_LAST_VOTE, e);
    out->term = term;
    out->candidate_index = (int32_t)bson_iter_as_int64(&it);
    return 0;
}

int oplog_put_last_vote(struct store_txn *t, const struct oplog_last_vote *v, struct err *e)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT64(&doc, "term", v->term);
    BSON_APPEND_INT32(&doc, "candidateIndex", v->candidate_index);
    int rc = rec_put(t, KEY_LAST_VOTE, &doc, e);
    bson_destroy(&doc);
    return rc;
}

int oplog_get_config(struct store_txn *t, bson_t *config, struct err *e)
{
    bson_t doc;
    int rc = rec_get(t, KEY_CONFIG, &doc, e);
    if (rc <= 0)
        return rc;
    bson_copy_to(&doc, config);
    return 1;
}

int oplog_put_config(struct store_txn *t, const bson_t *config, struct err *e)
{
    return rec_put(t, KEY_CONFIG, config, e);
}

int oplog_get_commit_point(struct store_txn *t, struct optime *out, struct err *e)
{
    return rec_get_optime(t, KEY_COMMIT_POINT, out, e);
}

int oplog_put_commit_point(struct store_txn *t, struct optime o, struct err *e)
{
    struct optime cur;
    int rc = oplog_get_commit_point(t, &cur, e);
    if (rc < 0)
        return rc;
    /* The commit point never moves backwards on a node (replication.md 0). */
    if (!optime_is_null(cur) && optime_compare(o, cur) <= 0)
        return 0;
    return rec_put_optime(t, KEY_COMMIT_POINT, o, e);
}

int oplog_get_rbid(struct store_txn *t, int32_t *out, struct err *e)
{
    int64_t v;
    int rc = rec_get_i64(t, KEY_RBID, "rbid", 0, &v, e);
    if (rc < 0)
        return rc;
    *out = (int32_t)v;
    return 0;
}

int oplog_bump_rbid(struct store_txn *t, int32_t *out, struct err *e)
{
    int32_t cur;
    int rc = oplog_get_rbid(t, &cur, e);
    if (rc < 0)
        return rc;
    int32_t next = cur == INT32_MAX ? 1 : cur + 1;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT32(&doc, "rbid", next);
    rc = rec_put(t, KEY_RBID, &doc, e);
    bson_destroy(&doc);
    if (rc == 0 && out)
        *out = next;
    return rc;
}

int oplog_get_min_valid(struct store_txn *t, struct optime *out, struct err *e)
{
    return rec_get_optime(t, KEY_MIN_VALID, out, e);
}

int oplog_put_min_valid(struct store_txn *t, struct optime o, struct err *e)
{
    if (optime_is_null(o))
        return rec_del(t, KEY_MIN_VALID, e);
    return rec_put_optime(t, KEY_MIN_VALID, o, e);
}

int oplog_get_truncate_after_point(struct store_txn *t, uint64_t *ts, struct err *e)
{
    bson_t doc;
    *ts = 0;
    int rc = rec_get(t, KEY_TRUNCATE_AFTER, &doc, e);
    if (rc <= 0)
        return rc;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &doc, "ts") || !BSON_ITER_HOLDS_TIMESTAMP(&it))
        return corrupt(KEY_TRUNCATE_AFTER, e);
    uint32_t secs, inc;
    bson_iter_timestamp(&it, &secs, &inc);
    *ts = (uint64_t)secs << 32 | inc;
    return 0;
}

int oplog_put_truncate_after_point(struct store_txn *t, uint64_t ts, struct err *e)
{
    if (ts == 0)
        return rec_del(t, KEY_TRUNCATE_AFTER, e);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_TIMESTAMP(&doc, "ts", (uint32_t)(ts >> 32), (uint32_t)ts);
    int rc = rec_put(t, KEY_TRUNCATE_AFTER, &doc, e);
    bson_destroy(&doc);
    return rc;
}

int oplog_clear_repl_state(struct store_txn *t, struct err *e)
{
    static const char *const keys[] = {KEY_TERM, KEY_LAST_VOTE, KEY_CONFIG, KEY_COMMIT_POINT, KEY_MIN_VALID,
                                       KEY_TRUNCATE_AFTER};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int rc = rec_del(t, keys[i], e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int oplog_coll_set_uuid(struct store_txn *t, struct coll_info *c, const uint8_t uuid[16], struct err *e)
{
    if (!t->is_write)
        return err_set(e, ERR_INTERNAL_ERROR, "setting a collection UUID needs the write transaction");
    uint8_t old[16];
    memcpy(old, c->uuid, sizeof old);
    memcpy(c->uuid, uuid, sizeof c->uuid);
    int rc = catalog_put(t, c, e);
    if (rc < 0)
        memcpy(c->uuid, old, sizeof old);
    return rc;
}
