/* oplog.c - the oplog and the undo records in the store's LMDB environment.
 *
 * The oplog is the replicated history: one BSON entry per change, keyed by
 * its timestamp in big-endian so LMDB's byte order is timestamp order. This
 * file guarantees the oplog invariant (timestamps strictly increase; an
 * append that would break it is refused before anything is written), keeps
 * an exact byte counter beside the entries (the entry count is LMDB's own),
 * and removes entries only from the top (rollback) or the bottom (size cap,
 * never past the commit point). Undo records share the oplog's keys and go
 * away with their entries. Formats: docs/storage.md, "Replication data". */
#include "storage/oplog.h"

#include "storage/store_int.h"

#include "core/mem.h"

#include <string.h>

static const char REPL_OPLOG_BYTES[] = "oplog_bytes";

struct oplog_iter {
    MDB_cursor *cur;
    uint64_t from;
    bool is_inclusive;
    bool is_reverse;
    bool is_started;
    bool is_done; /* LMDB's NEXT on an unpositioned cursor would restart at the first entry */
};

static int need_write(struct store_txn *t, const char *what, struct err *e)
{
    if (!t->is_write)
        return err_set(e, ERR_INTERNAL_ERROR, "%s needs the write transaction", what);
    return 0;
}

/* ts and t of an entry. False when either is missing or of the wrong type. */
static bool entry_optime(const bson_t *entry, struct optime *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, entry, "ts") || !BSON_ITER_HOLDS_TIMESTAMP(&it))
        return false;
    uint32_t secs, inc;
    bson_iter_timestamp(&it, &secs, &inc);
    if (!bson_iter_init_find(&it, entry, "t") || !BSON_ITER_HOLDS_NUMBER(&it))
        return false;
    out->ts = (uint64_t)secs << 32 | inc;
    out->term = bson_iter_as_int64(&it);
    return true;
}

/* Turns a stored value into a static view and its optime; a value that does
 * not parse means the file is damaged. */
static int entry_view(const MDB_val *k, const MDB_val *v, struct optime *optime, bson_t *entry, struct err *e)
{
    bson_t view;
    struct optime o;
    if (k->mv_size != 8 || !bson_init_static(&view, v->mv_data, v->mv_size) || !entry_optime(&view, &o))
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt oplog entry in the data file (key of %zu bytes)", k->mv_size);
    if (optime)
        *optime = o;
    if (entry)
        bson_init_static(entry, v->mv_data, v->mv_size);
    return 1;
}

static int bytes_get(struct store_txn *t, int64_t *out, struct err *e)
{
    MDB_val k = {sizeof REPL_OPLOG_BYTES - 1, (void *)REPL_OPLOG_BYTES}, v;
    int rc = mdb_get(t->txn, t->s->dbi_repl, &k, &v);
    *out = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc, "read oplog size", e);
    if (v.mv_size != 8)
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt oplog size record");
    *out = (int64_t)store_get_u64_be(v.mv_data);
    return 0;
}

static int bytes_add(struct store_txn *t, int64_t delta, struct err *e)
{
    int64_t n;
    int rc = bytes_get(t, &n, e);
    if (rc < 0)
        return rc;
    uint8_t buf[8];
    store_put_u64_be(buf, (uint64_t)(n + delta));
    MDB_val k = {sizeof REPL_OPLOG_BYTES - 1, (void *)REPL_OPLOG_BYTES}, v = {sizeof buf, buf};
    rc = mdb_put(t->txn, t->s->dbi_repl, &k, &v, 0);
    if (rc != 0)
        return store_mdb_err(rc, "write oplog size", e);
    return 0;
}

static void ts_text(uint64_t ts, char *buf, size_t n)
{
    snprintf(buf, n, "Timestamp(%u, %u)", (unsigned)(ts >> 32), (unsigned)ts);
}

/* The entry at one end of the oplog (MDB_FIRST or MDB_LAST). */
static int oplog_end(struct store_txn *t, MDB_cursor_op op, struct optime *optime, bson_t *entry, struct err *e)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi_oplog, &cur);
    if (rc != 0)
        return store_mdb_err(rc, "open oplog cursor", e);
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, op);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc, "read oplog", e);
    return entry_view(&k, &v, optime, entry, e);
}

int oplog_last(struct store_txn *t, struct optime *optime, bson_t *entry, struct err *e)
{
    return oplog_end(t, MDB_LAST, optime, entry, e);
}

int oplog_first(struct store_txn *t, struct optime *optime, bson_t *entry, struct err *e)
{
    return oplog_end(t, MDB_FIRST, optime, entry, e);
}

int oplog_append(struct store_txn *t, const bson_t *entry, struct err *e)
{
    int rc = need_write(t, "oplog append", e);
    if (rc < 0)
        return rc;
    struct optime o;
    if (!entry_optime(entry, &o))
        return err_set(e, ERR_BAD_VALUE, "oplog entry needs a Timestamp 'ts' and a numeric term 't'");
    if (o.ts == 0)
        return err_set(e, ERR_BAD_VALUE, "oplog entry timestamp must not be Timestamp(0, 0)");
    struct optime last;
    rc = oplog_last(t, &last, NULL, e);
    if (rc < 0)
        return rc;
    /* The oplog invariant: timestamps strictly increase (replication.md 0). */
    if (rc == 1 && o.ts <= last.ts) {
        char a[48], b[48];
        ts_text(o.ts, a, sizeof a);
        ts_text(last.ts, b, sizeof b);
        return err_set(e, ERR_INTERNAL_ERROR,
                       "oplog invariant violated: new entry's timestamp %s is not after the last entry's %s", a, b);
    }
    uint8_t key[8];
    store_put_u64_be(key, o.ts);
    MDB_val k = {sizeof key, key}, v = {entry->len, (void *)bson_get_data(entry)};
    rc = mdb_put(t->txn, t->s->dbi_oplog, &k, &v, MDB_APPEND);
    if (rc != 0)
        return store_mdb_err(rc, "append to the oplog", e);
    return bytes_add(t, (int64_t)entry->len, e);
}

int oplog_find(struct store_txn *t, uint64_t ts, bson_t *entry, struct err *e)
{
    uint8_t key[8];
    store_put_u64_be(key, ts);
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_get(t->txn, t->s->dbi_oplog, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc, "read oplog", e);
    return entry_view(&k, &v, NULL, entry, e);
}

int oplog_iter_open(struct store_txn *t, uint64_t from, bool is_inclusive, bool is_reverse, struct oplog_iter **out,
                    struct err *e)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi_oplog, &cur);
    if (rc != 0)
        return store_mdb_err(rc, "open oplog cursor", e);
    struct oplog_iter *it = xcalloc(1, sizeof *it);
    it->cur = cur;
    it->from = from;
    it->is_inclusive = is_inclusive;
    it->is_reverse = is_reverse;
    *out = it;
    return 0;
}

/* Positions the cursor on the first entry the iterator returns. */
static int iter_seek(struct oplog_iter *it, MDB_val *k, MDB_val *v)
{
    uint8_t key[8];
    store_put_u64_be(key, it->from);
    k->mv_size = sizeof key;
    k->mv_data = key;
    int rc = mdb_cursor_get(it->cur, k, v, MDB_SET_RANGE);
    if (!it->is_reverse) {
        if (rc == 0 && !it->is_inclusive && store_get_u64_be(k->mv_data) == it->from)
            rc = mdb_cursor_get(it->cur, k, v, MDB_NEXT);
        return rc;
    }
    if (rc == MDB_NOTFOUND)
        return mdb_cursor_get(it->cur, k, v, MDB_LAST);
    if (rc == 0) {
        uint64_t ts = store_get_u64_be(k->mv_data);
        if (ts > it->from || (ts == it->from && !it->is_inclusive))
            rc = mdb_cursor_get(it->cur, k, v, MDB_PREV);
    }
    return rc;
}

int oplog_iter_next(struct oplog_iter *it, struct optime *optime, bson_t *entry, struct err *e)
{
    MDB_val k, v;
    int rc;
    if (it->is_done)
        return 0;
    if (!it->is_started) {
        it->is_started = true;
        rc = iter_seek(it, &k, &v);
    } else {
        rc = mdb_cursor_get(it->cur, &k, &v, it->is_reverse ? MDB_PREV : MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND) {
        it->is_done = true;
        return 0;
    }
    if (rc != 0)
        return store_mdb_err(rc, "read oplog", e);
    return entry_view(&k, &v, optime, entry, e);
}

void oplog_iter_close(struct oplog_iter *it)
{
    if (it == NULL)
        return;
    mdb_cursor_close(it->cur);
    free(it);
}

/* Deletes keys > after from dbi, newest first; *bytes (nullable) gets the
 * total size of the values removed. */
static int delete_after(struct store_txn *t, MDB_dbi dbi, uint64_t after, int64_t *n_out, int64_t *bytes,
                        struct err *e)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, dbi, &cur);
    if (rc != 0)
        return store_mdb_err(rc, "open cursor", e);
    int64_t n = 0, nb = 0;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_LAST)) == 0) {
        if (k.mv_size == 8 && store_get_u64_be(k.mv_data) <= after)
            break;
        nb += (int64_t)v.mv_size;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "truncate", e);
    if (n_out)
        *n_out = n;
    if (bytes)
        *bytes = nb;
    return 0;
}

/* Deletes keys <= upto from dbi, oldest first. */
static int delete_upto(struct store_txn *t, MDB_dbi dbi, uint64_t upto, int64_t *n_out, struct err *e)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, dbi, &cur);
    if (rc != 0)
        return store_mdb_err(rc, "open cursor", e);
    int64_t n = 0;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        if (k.mv_size == 8 && store_get_u64_be(k.mv_data) > upto)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "delete old records", e);
    if (n_out)
        *n_out = n;
    return 0;
}

int oplog_truncate_after(struct store_txn *t, uint64_t after, int64_t *n_removed, struct err *e)
{
    int rc = need_write(t, "oplog truncate", e);
    if (rc < 0)
        return rc;
    int64_t n, bytes;
    if ((rc = delete_after(t, t->s->dbi_oplog, after, &n, &bytes, e)) < 0 ||
        (rc = delete_after(t, t->s->dbi_undo, after, NULL, NULL, e)) < 0 || (rc = bytes_add(t, -bytes, e)) < 0)
        return rc;
    if (n_removed)
        *n_removed = n;
    return 0;
}

int oplog_trim(struct store_txn *t, int64_t max_bytes, uint64_t keep_after, int64_t *n_removed, struct err *e)
{
    int rc = need_write(t, "oplog trim", e);
    if (rc < 0)
        return rc;
    int64_t bytes;
    if ((rc = bytes_get(t, &bytes, e)) < 0)
        return rc;
    MDB_stat st;
    if ((rc = mdb_stat(t->txn, t->s->dbi_oplog, &st)) != 0)
        return store_mdb_err(rc, "oplog statistics", e);
    int64_t n_left = (int64_t)st.ms_entries, n = 0, freed = 0;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(t->txn, t->s->dbi_oplog, &cur)) != 0)
        return store_mdb_err(rc, "open oplog cursor", e);
    MDB_val k, v;
    uint64_t last_removed = 0;
    bool is_any = false;
    while (bytes - freed > max_bytes && n_left > 1 && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        uint64_t ts = k.mv_size == 8 ? store_get_u64_be(k.mv_data) : UINT64_MAX;
        /* The oplog grows past its size rather than drop the commit point (replication.md 2.5). */
        if (ts > keep_after)
            break;
        freed += (int64_t)v.mv_size;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
        n_left--;
        last_removed = ts;
        is_any = true;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_mdb_err(rc, "trim the oplog", e);
    if (is_any && ((rc = delete_upto(t, t->s->dbi_undo, last_removed, NULL, e)) < 0 ||
                   (rc = bytes_add(t, -freed, e)) < 0))
        return rc;
    if (n_removed)
        *n_removed = n;
    return 0;
}

int oplog_stats(struct store_txn *t, struct oplog_stats *out, struct err *e)
{
    struct oplog_stats s = {0, 0, OPTIME_NULL, OPTIME_NULL};
    MDB_stat st;
    int rc = mdb_stat(t->txn, t->s->dbi_oplog, &st);
    if (rc != 0)
        return store_mdb_err(rc, "oplog statistics", e);
    s.n_entries = (int64_t)st.ms_entries;
    if ((rc = bytes_get(t, &s.n_bytes, e)) < 0 || (rc = oplog_first(t, &s.first, NULL, e)) < 0 ||
        (rc = oplog_last(t, &s.last, NULL, e)) < 0)
        return rc;
    *out = s;
    return 0;
}

int oplog_undo_put(struct store_txn *t, uint64_t ts, const bson_t *record, struct err *e)
{
    int rc = need_write(t, "undo record write", e);
    if (rc < 0)
        return rc;
    uint8_t key[8];
    store_put_u64_be(key, ts);
    MDB_val k = {sizeof key, key}, v = {record->len, (void *)bson_get_data(record)};
    rc = mdb_put(t->txn, t->s->dbi_undo, &k, &v, 0);
    if (rc != 0)
        return store_mdb_err(rc, "write undo record", e);
    return 0;
}

int oplog_undo_get(struct store_txn *t, uint64_t ts, bson_t *record, struct err *e)
{
    uint8_t key[8];
    store_put_u64_be(key, ts);
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_get(t->txn, t->s->dbi_undo, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc, "read undo record", e);
    bson_t view;
    if (!bson_init_static(&view, v.mv_data, v.mv_size))
        return err_set(e, ERR_INTERNAL_ERROR, "corrupt undo record in the data file");
    /* A static bson_t points into itself: initialise the caller's, never copy one. */
    if (record)
        bson_init_static(record, v.mv_data, v.mv_size);
    return 1;
}

int oplog_undo_delete_upto(struct store_txn *t, uint64_t upto, int64_t *n_removed, struct err *e)
{
    int rc = need_write(t, "undo record delete", e);
    if (rc < 0)
        return rc;
    return delete_upto(t, t->s->dbi_undo, upto, n_removed, e);
}
