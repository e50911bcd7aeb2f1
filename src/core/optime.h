/* optime.h - positions in the replicated history (a value type every layer uses).
 *
 * An OpTime is (timestamp, term). The timestamp is a BSON Timestamp packed as
 * seconds << 32 | increment; the primary assigns strictly increasing ones.
 * Protocol version 1 orders OpTimes by term first, then timestamp (Raft's
 * "last log term, then last index"): {ts: 3, t: 2} < {ts: 2, t: 3}.
 * The null OpTime {0, -1} sorts before every real one. */
#ifndef TALLY_OPTIME_H
#define TALLY_OPTIME_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct optime {
    uint64_t ts; /* seconds << 32 | increment */
    int64_t term;
};

#define OPTIME_NULL ((struct optime){0, -1})

static inline uint32_t optime_secs(struct optime o) { return (uint32_t)(o.ts >> 32); }
static inline uint32_t optime_inc(struct optime o) { return (uint32_t)o.ts; }
static inline bool optime_is_null(struct optime o) { return o.ts == 0 && o.term == -1; }

/* <0, 0, >0: term first, then timestamp. */
static inline int optime_compare(struct optime a, struct optime b)
{
    if (a.term != b.term)
        return a.term < b.term ? -1 : 1;
    if (a.ts != b.ts)
        return a.ts < b.ts ? -1 : 1;
    return 0;
}

/* Appends {ts: Timestamp, t: Int64} under key. */
void optime_append(bson_t *doc, const char *key, struct optime o);
/* Reads {ts: Timestamp, t: number} from an iterator on a document value.
 * Returns false when the shape is wrong. */
bool optime_from_iter(const bson_iter_t *it, struct optime *out);

#endif
