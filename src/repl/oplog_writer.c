/* oplog_writer.c - the primary's oplog writer: the storage change hook.
 *
 * Sits between storage (which reports every change through the hook of
 * store.h) and the oplog (storage/oplog.h). For each change outside the
 * "local" database it builds the entry (repl/oplog_entry.h) with the next
 * timestamp and the writable term, appends it, and stores the undo record
 * that rollback needs -- in the caller's write transaction, so a change and
 * its entry commit or vanish together.
 *
 * Guarantees: timestamps strictly increase, across transactions, aborted
 * batches and restarts (the floor is the newest of what this writer handed
 * out and what the oplog holds); every logged CRUD change has an undo record
 * under its entry's timestamp; commands get none (rolling one back needs a
 * resync, oplog_entry.h); a change made while this member is not a writable
 * primary is refused with an error that poisons the batch, so no unlogged
 * change can ever commit with the hook enabled. */
#include "repl/oplog_writer.h"

#include "core/mem.h"
#include "core/wallclock.h"
#include "repl/oplog_entry.h"
#include "storage/oplog.h"

#include <stdatomic.h>
#include <string.h>

struct oplog_writer {
    struct store *s;
    uint64_t last_ts;           /* newest timestamp handed out or observed: the floor of the next */
    struct optime last_optime;  /* newest entry appended (or observed) */
    int64_t last_wall_ms;
    _Atomic int64_t writable_term; /* loop thread writes, writer thread reads */
    _Atomic int64_t leader_term;   /* the term we lead, writable or not yet; -1 */
};

/* The wall clock of a stored entry (0 when it has none). */
static int64_t entry_wall_ms(const bson_t *entry)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, entry, "wall") && BSON_ITER_HOLDS_DATE_TIME(&it))
        return bson_iter_date_time(&it);
    return 0;
}

int oplog_writer_create(struct store *s, struct oplog_writer **out, struct err *e)
{
    struct store_txn *t;
    int rc = store_txn_begin_read(s, &t, e);
    if (rc < 0)
        return rc;
    struct optime last = OPTIME_NULL;
    bson_t entry;
    rc = oplog_last(t, &last, &entry, e);
    int64_t wall_ms = rc == 1 ? entry_wall_ms(&entry) : 0;
    store_txn_end(t);
    if (rc < 0) {
        err_prefix(e, "read the last oplog entry");
        return rc;
    }
    struct oplog_writer *w = xcalloc(1, sizeof *w);
    w->s = s;
    w->last_ts = rc == 1 ? last.ts : 0;
    w->last_optime = rc == 1 ? last : OPTIME_NULL;
    w->last_wall_ms = wall_ms;
    atomic_init(&w->writable_term, -1);
    atomic_init(&w->leader_term, -1);
    *out = w;
    return 0;
}

void oplog_writer_destroy(struct oplog_writer *w)
{
    free(w);
}

void oplog_writer_set_writable_term(struct oplog_writer *w, int64_t term)
{
    /* Leader first: a reader that sees the new writable term also sees it. */
    atomic_store(&w->leader_term, term);
    atomic_store(&w->writable_term, term);
}

void oplog_writer_set_leader_term(struct oplog_writer *w, int64_t term)
{
    atomic_store(&w->leader_term, term);
}

bool oplog_writer_leads_term(const struct oplog_writer *w, int64_t term)
{
    struct oplog_writer *mw = (struct oplog_writer *)w;

    return term >= 0 && (atomic_load(&mw->writable_term) == term || atomic_load(&mw->leader_term) == term);
}

int64_t oplog_writer_writable_term(const struct oplog_writer *w)
{
    return atomic_load(&((struct oplog_writer *)w)->writable_term);
}

struct optime oplog_writer_last_optime(const struct oplog_writer *w)
{
    return w->last_optime;
}

int64_t oplog_writer_last_wall_ms(const struct oplog_writer *w)
{
    return w->last_wall_ms;
}

void oplog_writer_observe(struct oplog_writer *w, struct optime last, int64_t wall_ms)
{
    if (last.ts > w->last_ts)
        w->last_ts = last.ts;
    if (optime_compare(last, w->last_optime) > 0) {
        w->last_optime = last;
        w->last_wall_ms = wall_ms;
    }
}

/* Timestamps are (wall seconds << 32 | counter): the clock's second when it
 * is ahead of the floor, else the floor plus one (carrying into the seconds
 * when the counter is full). The floor includes the oplog's newest entry, so
 * entries written by another path (an applier that forgot to call observe)
 * can never make oplog_append fail. */
static int next_timestamp(struct oplog_writer *w, struct store_txn *t, int64_t wall_ms, uint64_t *out,
                          struct err *e)
{
    struct optime stored;
    int rc = oplog_last(t, &stored, NULL, e);
    if (rc < 0)
        return rc;
    uint64_t floor = w->last_ts;
    if (rc == 1 && stored.ts > floor)
        floor = stored.ts;
    uint64_t now_secs = wall_ms > 0 ? (uint64_t)(wall_ms / 1000) : 0;
    uint64_t floor_secs = floor >> 32;
    uint32_t floor_inc = (uint32_t)floor;
    uint64_t ts;
    if (now_secs > floor_secs)
        ts = now_secs << 32 | 1u;
    else if (floor_inc == UINT32_MAX)
        ts = (floor_secs + 1) << 32 | 1u;
    else
        ts = floor + 1;
    w->last_ts = ts;
    *out = ts;
    return 0;
}

/* Appends entry and records its optime as the newest this writer wrote. */
static int append_entry(struct oplog_writer *w, struct store_txn *t, const bson_t *entry, struct optime o,
                        int64_t wall_ms, struct err *e)
{
    int rc = oplog_append(t, entry, e);
    if (rc < 0)
        return rc;
    w->last_optime = o;
    w->last_wall_ms = wall_ms;
    return 0;
}

static int doc_id(const bson_t *doc, bson_value_t *out, const char *ns, struct err *e)
{
    bson_iter_t it;
    if (doc == NULL || !bson_iter_init_find(&it, doc, "_id"))
        return err_set(e, ERR_INTERNAL_ERROR, "cannot log a change to %s: document has no _id", ns);
    *out = *bson_iter_value(&it);
    return 0;
}

/* {ns, ui, o2: {_id}, pre: pre-image | null}: what rollback restores. */
static void build_undo(bson_t *out, const char *ns, const uint8_t *uuid, const bson_value_t *id, const bson_t *pre)
{
    BSON_APPEND_UTF8(out, "ns", ns);
    BSON_APPEND_BINARY(out, "ui", BSON_SUBTYPE_UUID, uuid, 16);
    bson_t o2;
    BSON_APPEND_DOCUMENT_BEGIN(out, "o2", &o2);
    BSON_APPEND_VALUE(&o2, "_id", id);
    bson_append_document_end(out, &o2);
    if (pre)
        BSON_APPEND_DOCUMENT(out, "pre", pre);
    else
        BSON_APPEND_NULL(out, "pre");
}

static int log_crud(struct oplog_writer *w, struct store_txn *t, const struct store_change *c,
                    const struct oplog_stamp *st, struct err *e)
{
    char *ns = bson_strdup_printf("%s.%s", c->coll->db, c->coll->name);
    const bson_t *target = c->kind == STORE_CHANGE_DELETE ? c->old_doc : c->doc;
    bson_value_t id;
    int rc = doc_id(target, &id, ns, e);
    if (rc < 0) {
        bson_free(ns);
        return rc;
    }
    bson_t entry, undo;
    bson_init(&entry);
    bson_init(&undo);
    const uint8_t *uuid = c->coll->uuid;
    switch (c->kind) {
    case STORE_CHANGE_INSERT:
        oplog_entry_insert(&entry, st, ns, uuid, c->doc);
        build_undo(&undo, ns, uuid, &id, NULL);
        break;
    case STORE_CHANGE_UPDATE:
        oplog_entry_update(&entry, st, ns, uuid, &id, c->doc);
        build_undo(&undo, ns, uuid, &id, c->old_doc);
        break;
    default:
        oplog_entry_delete(&entry, st, ns, uuid, &id);
        build_undo(&undo, ns, uuid, &id, c->old_doc);
        break;
    }
    rc = append_entry(w, t, &entry, st->optime, st->wall_ms, e);
    if (rc == 0)
        rc = oplog_undo_put(t, st->optime.ts, &undo, e);
    bson_destroy(&entry);
    bson_destroy(&undo);
    bson_free(ns);
    return rc;
}

int oplog_writer_hook(struct store_txn *t, const struct store_change *c, void *arg, struct err *e)
{
    struct oplog_writer *w = arg;
    /* Nothing in "local" is replicated or logged (replication.md 2.1). */
    if (c->db == NULL || strcmp(c->db, "local") == 0)
        return 0;
    if (c->kind != STORE_CHANGE_COMMAND && c->coll == NULL)
        return err_set(e, ERR_INTERNAL_ERROR, "cannot log a change in %s: no collection given", c->db);
    int64_t term = oplog_writer_writable_term(w);
    /* A primary never writes in a term it does not lead. The dispatcher
     * refuses client writes first; this catches a step-down racing a running
     * write. The error must poison the batch (only ERR_INTERNAL_ERROR and
     * ERR_OUT_OF_DISK_SPACE do), or the change would commit unlogged. */
    if (term < 0)
        return err_set(e, ERR_INTERNAL_ERROR,
                       "not primary: this member is not a writable primary, so a change in database %s cannot "
                       "be logged; the write was rolled back",
                       c->db);
    int64_t wall_ms = wallclock_now_ms();
    struct oplog_stamp st = {{0, term}, wall_ms, NULL, 0, 0};
    int rc = next_timestamp(w, t, wall_ms, &st.optime.ts, e);
    if (rc < 0)
        return rc;
    if (c->kind != STORE_CHANGE_COMMAND)
        return log_crud(w, t, c, &st, e);

    if (c->command == NULL)
        return err_set(e, ERR_INTERNAL_ERROR, "cannot log a command in %s: none given", c->db);
    /* Commands carry no undo record: rolling one back needs a resync. */
    bson_t entry;
    bson_init(&entry);
    oplog_entry_command(&entry, &st, c->db, c->coll ? c->coll->uuid : NULL, c->command);
    rc = append_entry(w, t, &entry, st.optime, wall_ms, e);
    bson_destroy(&entry);
    return rc;
}

int oplog_writer_append_noop(struct oplog_writer *w, struct store_txn *t, int64_t term, const bson_t *msg,
                             struct optime *out, struct err *e)
{
    int64_t wall_ms = wallclock_now_ms();
    struct oplog_stamp st = {{0, term}, wall_ms, NULL, 0, 0};
    int rc = next_timestamp(w, t, wall_ms, &st.optime.ts, e);
    if (rc < 0)
        return rc;
    bson_t entry;
    bson_init(&entry);
    oplog_entry_noop(&entry, &st, msg);
    rc = append_entry(w, t, &entry, st.optime, wall_ms, e);
    bson_destroy(&entry);
    if (rc == 0 && out)
        *out = st.optime;
    return rc;
}
