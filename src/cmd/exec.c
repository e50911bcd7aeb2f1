/* exec.c - the shared query executor: plan, iterate, match, dedupe.
 *
 * Sits between the commands (find, count, update, ...) and the store. A scan
 * is one of: a point lookup ({_id: x}, "IDHACK"), a collection scan (forward
 * or reverse) or an index scan over the planner's ranges. Every candidate is
 * re-checked with the full matcher, so the planner only has to be a superset.
 *
 * Positions are self-describing so a cursor can resume in a new transaction
 * even if the indexes changed in between: one tag byte ('C' forward scan,
 * 'R' reverse scan, 'P' point lookup done, 'I' index scan), for 'I' the
 * index id (8 bytes big-endian), then the store's own iterator position. A
 * resumed index scan whose index was dropped fails with QueryPlanKilled. */
#include "cmd/exec.h"

#include "core/mem.h"

#include <stdio.h>
#include <string.h>

enum scan_kind { SCAN_POINT, SCAN_COLL, SCAN_INDEX, SCAN_DONE };

#define POS_COLL 'C'
#define POS_REVERSE 'R'
#define POS_POINT 'P'
#define POS_INDEX 'I'

struct seen_slot {
    uint64_t hash;
    uint8_t *data; /* owned; NULL = empty slot */
    size_t len;
};

/* An open-addressing hash set of encoded _ids. */
struct exec_seen {
    struct seen_slot *slots;
    size_t cap; /* power of two */
    size_t n;
};

struct exec_scan {
    struct store_txn *txn;
    const struct coll_info *coll;
    const struct matcher *m;
    enum scan_kind kind;
    bool is_reverse;
    bool has_plan;
    struct plan plan;
    uint64_t index_id;
    struct store_iter *it;
    bson_value_t point_id; /* borrowed from the matcher */
    struct exec_seen *seen;
    struct keybuf pos;
    struct keybuf scratch;
    int64_t n_examined;
    char summary[300];
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static struct exec_seen *seen_create(void)
{
    struct exec_seen *s = xmalloc(sizeof *s);

    s->cap = 64;
    s->n = 0;
    s->slots = xcalloc(s->cap, sizeof *s->slots);
    return s;
}

void exec_seen_destroy(struct exec_seen *seen)
{
    if (!seen)
        return;
    for (size_t i = 0; i < seen->cap; i++)
        free(seen->slots[i].data);
    free(seen->slots);
    free(seen);
}

static void seen_grow(struct exec_seen *s)
{
    size_t old_cap = s->cap;
    struct seen_slot *old = s->slots;

    s->cap *= 2;
    s->slots = xcalloc(s->cap, sizeof *s->slots);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].data)
            continue;
        size_t j = old[i].hash & (s->cap - 1);
        while (s->slots[j].data)
            j = (j + 1) & (s->cap - 1);
        s->slots[j] = old[i];
    }
    free(old);
}

/* Adds key; returns false when it was already present. */
static bool seen_insert(struct exec_seen *s, const uint8_t *key, size_t len)
{
    uint64_t h = hash_bytes(key, len);
    size_t j;

    if ((s->n + 1) * 4 > s->cap * 3)
        seen_grow(s);
    j = h & (s->cap - 1);
    while (s->slots[j].data) {
        if (s->slots[j].hash == h && s->slots[j].len == len && memcmp(s->slots[j].data, key, len) == 0)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j].hash = h;
    s->slots[j].len = len;
    s->slots[j].data = xmalloc(len ? len : 1);
    memcpy(s->slots[j].data, key, len);
    s->n++;
    return true;
}

static void set_pos(struct exec_scan *s)
{
    const struct keybuf *sp;

    keybuf_reset(&s->pos);
    switch (s->kind) {
    case SCAN_POINT:
    case SCAN_DONE: keybuf_append(&s->pos, "P", 1); return;
    case SCAN_COLL: keybuf_append(&s->pos, s->is_reverse ? "R" : "C", 1); break;
    case SCAN_INDEX:
        keybuf_append(&s->pos, "I", 1);
        keybuf_append_u64_be(&s->pos, s->index_id);
        break;
    }
    sp = store_iter_position(s->it);
    if (sp && sp->len)
        keybuf_append(&s->pos, sp->data, sp->len);
}

static void fill_plan_indexes(const struct coll_info *c, struct plan_index *out)
{
    for (int i = 0; i < c->n_indexes; i++) {
        out[i].name = c->indexes[i].name;
        out[i].key_pattern = &c->indexes[i].key;
        out[i].is_multikey = c->indexes[i].is_multikey;
    }
}

static int open_index(struct exec_scan *s, int idx, const struct keybuf *store_pos, struct err *e)
{
    const struct index_info *ix = &s->coll->indexes[idx];
    int rc;

    s->kind = SCAN_INDEX;
    s->index_id = ix->id;
    if (ix->is_multikey && !s->seen)
        s->seen = seen_create();
    rc = store_iter_open_index(s->txn, s->coll, idx, s->plan.ranges, s->plan.n_ranges, store_pos, &s->it, e);
    snprintf(s->summary, sizeof s->summary, "%s", s->plan.summary);
    return rc;
}

static int open_coll(struct exec_scan *s, const struct keybuf *store_pos, struct err *e)
{
    s->kind = SCAN_COLL;
    snprintf(s->summary, sizeof s->summary, "COLLSCAN");
    return store_iter_open_coll(s->txn, s->coll, s->is_reverse, store_pos, &s->it, e);
}

/* Opens a fresh scan: point lookup, or whatever the planner prefers. */
static int open_fresh(struct exec_scan *s, struct err *e)
{
    struct plan_index *pix;

    if (!s->is_reverse && matcher_is_id_point(s->m, &s->point_id)) {
        s->kind = SCAN_POINT;
        snprintf(s->summary, sizeof s->summary, "IDHACK");
        return 0;
    }
    if (s->is_reverse || s->coll->n_indexes == 0)
        return open_coll(s, NULL, e);
    pix = xcalloc((size_t)s->coll->n_indexes, sizeof *pix);
    fill_plan_indexes(s->coll, pix);
    plan_choose(s->m, pix, s->coll->n_indexes, &s->plan);
    s->has_plan = true;
    free(pix);
    if (s->plan.index < 0 || s->plan.index >= s->coll->n_indexes)
        return open_coll(s, NULL, e);
    return open_index(s, s->plan.index, NULL, e);
}

/* Resumes an index scan on the index the position names, re-planning its ranges. */
static int open_resumed_index(struct exec_scan *s, const struct keybuf *resume, struct err *e)
{
    uint64_t id = 0;
    struct keybuf store_pos;
    struct plan_index pix;
    int idx = -1, rc;

    if (resume->len < 9)
        return err_set(e, ERR_BAD_VALUE, "invalid cursor position");
    for (int i = 1; i < 9; i++)
        id = (id << 8) | resume->data[i];
    for (int i = 0; i < s->coll->n_indexes; i++)
        if (s->coll->indexes[i].id == id)
            idx = i;
    if (idx < 0)
        return err_set(e, ERR_QUERY_PLAN_KILLED,
                       "PlanExecutor error during find command :: caused by :: index used by the cursor was dropped");
    pix.name = s->coll->indexes[idx].name;
    pix.key_pattern = &s->coll->indexes[idx].key;
    pix.is_multikey = s->coll->indexes[idx].is_multikey;
    plan_choose(s->m, &pix, 1, &s->plan);
    s->has_plan = true;
    if (s->plan.index != 0)
        return err_set(e, ERR_QUERY_PLAN_KILLED,
                       "PlanExecutor error during find command :: caused by :: index no longer usable");
    keybuf_init(&store_pos);
    keybuf_append(&store_pos, resume->data + 9, resume->len - 9);
    rc = open_index(s, idx, &store_pos, e);
    keybuf_destroy(&store_pos);
    return rc;
}

static int open_resumed(struct exec_scan *s, const struct keybuf *resume, struct err *e)
{
    struct keybuf store_pos;
    int rc;

    switch (resume->data[0]) {
    case POS_POINT:
        s->kind = SCAN_DONE;
        snprintf(s->summary, sizeof s->summary, "IDHACK");
        return 0;
    case POS_COLL:
    case POS_REVERSE:
        s->is_reverse = resume->data[0] == POS_REVERSE;
        keybuf_init(&store_pos);
        keybuf_append(&store_pos, resume->data + 1, resume->len - 1);
        rc = open_coll(s, store_pos.len ? &store_pos : NULL, e);
        keybuf_destroy(&store_pos);
        return rc;
    case POS_INDEX: return open_resumed_index(s, resume, e);
    default: return err_set(e, ERR_BAD_VALUE, "invalid cursor position");
    }
}

int exec_scan_open(struct store_txn *t, const struct coll_info *c, const struct matcher *m, bool is_reverse,
                   const struct keybuf *resume_after, struct exec_scan **out, struct err *e)
{
    struct exec_scan *s = xcalloc(1, sizeof *s);
    int rc;

    s->txn = t;
    s->coll = c;
    s->m = m;
    s->is_reverse = is_reverse;
    keybuf_init(&s->pos);
    keybuf_init(&s->scratch);
    if (resume_after && resume_after->len) {
        keybuf_append(&s->pos, resume_after->data, resume_after->len);
        rc = open_resumed(s, resume_after, e);
    } else {
        rc = open_fresh(s, e);
    }
    if (rc < 0) {
        exec_scan_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int next_point(struct exec_scan *s, bson_t *doc, int *positional_index, struct err *e)
{
    bool found = false;
    int pi = -1;
    int rc;

    s->kind = SCAN_DONE;
    set_pos(s);
    rc = store_doc_get(s->txn, s->coll, &s->point_id, doc, &found, e);
    if (rc < 0)
        return rc;
    if (!found)
        return 0;
    s->n_examined++;
    if (!matcher_match_positional(s->m, doc, &pi))
        return 0;
    if (positional_index)
        *positional_index = pi;
    return 1;
}

/* True when doc's _id was not returned before by this (multikey) scan. */
static bool is_first_sighting(struct exec_scan *s, const bson_t *doc)
{
    bson_iter_t it;

    keybuf_reset(&s->scratch);
    if (bson_iter_init_find(&it, doc, "_id"))
        keyenc_append_value(&s->scratch, bson_iter_value(&it), false);
    else
        keyenc_append_missing(&s->scratch, false);
    return seen_insert(s->seen, s->scratch.data, s->scratch.len);
}

int exec_scan_next(struct exec_scan *s, bson_t *doc, int *positional_index, struct err *e)
{
    int pi = -1;
    int rc;

    switch (s->kind) {
    case SCAN_DONE: return 0;
    case SCAN_POINT: return next_point(s, doc, positional_index, e);
    case SCAN_COLL:
    case SCAN_INDEX: break;
    }
    for (;;) {
        rc = store_iter_next(s->it, doc, e);
        if (rc <= 0)
            return rc;
        s->n_examined++;
        set_pos(s);
        if (s->seen && !is_first_sighting(s, doc))
            continue;
        if (matcher_match_positional(s->m, doc, &pi)) {
            if (positional_index)
                *positional_index = pi;
            return 1;
        }
    }
}

const struct keybuf *exec_scan_position(const struct exec_scan *s)
{
    return &s->pos;
}

const char *exec_scan_summary(const struct exec_scan *s)
{
    return s->summary;
}

int64_t exec_scan_n_examined(const struct exec_scan *s)
{
    return s->n_examined;
}

struct exec_seen *exec_scan_take_seen(struct exec_scan *s)
{
    struct exec_seen *seen = s->seen;

    s->seen = NULL;
    return seen;
}

void exec_scan_give_seen(struct exec_scan *s, struct exec_seen *seen)
{
    if (!seen)
        return;
    if (s->kind != SCAN_INDEX) {
        exec_seen_destroy(seen);
        return;
    }
    exec_seen_destroy(s->seen);
    s->seen = seen;
}

void exec_scan_close(struct exec_scan *s)
{
    if (!s)
        return;
    if (s->it)
        store_iter_close(s->it);
    if (s->has_plan)
        plan_close(&s->plan);
    exec_seen_destroy(s->seen);
    keybuf_destroy(&s->pos);
    keybuf_destroy(&s->scratch);
    free(s);
}
