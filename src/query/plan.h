/* plan.h - choosing an index for a filter, as key ranges over encoded keys.
 *
 * The planner is deliberately conservative: the ranges it returns are a
 * superset of the matching documents and the caller always re-applies the
 * full matcher. It uses an index when the filter has equality conditions on
 * a prefix of the index's fields, optionally followed by one range; $in on a
 * field gives several ranges. It never intersects two range conditions on a
 * multikey index (an array element may satisfy each separately), never uses
 * null, array, regex or $exists conditions, and otherwise falls back to a
 * collection scan (index -1). */
#ifndef TALLY_PLAN_H
#define TALLY_PLAN_H

#include "query/keyenc.h"
#include "query/match.h"

#include <bson/bson.h>
#include <stdbool.h>

/* A range over encoded index keys with prefix semantics at both ends:
 * a key k is below the range if k < lo, or (is_lo_exclusive and lo is a
 * prefix of k); above it if k > hi and hi is not a prefix of k, or
 * (is_hi_exclusive and hi is a prefix of k). Empty lo = unbounded below,
 * empty hi = unbounded above. */
struct key_range {
    struct keybuf lo;
    struct keybuf hi;
    bool is_lo_exclusive;
    bool is_hi_exclusive;
};

/* -1 below, 0 inside, 1 above the range. */
int key_range_check(const struct key_range *r, const uint8_t *key, size_t len);

/* What the planner knows of one index. The "_id_" index is {_id: 1} and
 * its key space is the collection's own record keys (keyenc of _id). */
struct plan_index {
    const char *name;
    const bson_t *key_pattern; /* borrowed */
    bool is_multikey;
};

struct plan {
    int index; /* position in the indexes array, or -1 for a collection scan */
    int n_ranges;
    struct key_range *ranges; /* owned; sorted ascending and non-overlapping */
    char summary[256];        /* "IXSCAN { a: 1 }" or "COLLSCAN", for explain/logs */
};

/* Fills *out (caller-allocated). Never fails: an unusable filter gives a
 * collection scan. The matcher and indexes are borrowed. */
void plan_choose(const struct matcher *m, const struct plan_index *indexes, int n_indexes, struct plan *out);
void plan_close(struct plan *p);

#endif
