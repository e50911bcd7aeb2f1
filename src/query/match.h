/* match.h - the query filter language ({a: {$gt: 1}, $or: [...]}).
 *
 * A filter is parsed once into a tree (matcher_create validates every
 * operator and reports unknown ones as BadValue "unknown operator: $foo"),
 * then evaluated against many documents. Supported: $eq $ne $gt $gte $lt $lte
 * $in $nin, $and $or $nor $not, $exists $type, $all $elemMatch $size, $regex
 * (with $options, and BSON regex values), $mod, $comment, $expr (aggregation
 * expressions, evaluated per document), the $bits* operators; dotted paths traverse arrays as MongoDB does. */
#ifndef TALLY_MATCH_H
#define TALLY_MATCH_H

#include "core/err.h"

#include <bson/bson.h>
#include <stdbool.h>

struct matcher;

/* Parses filter (borrowed; the matcher copies what it needs). On success
 * *out is owned by the caller (matcher_destroy). An empty filter matches all. */
int matcher_create(const bson_t *filter, struct matcher **out, struct err *e);
void matcher_destroy(struct matcher *m);

/* True when doc matches. */
bool matcher_match(const struct matcher *m, const bson_t *doc);
/* As matcher_match, and when the match went through an array element of a
 * top-level path, *array_index receives the first such element's index (for
 * the positional $ update operator); otherwise -1. */
bool matcher_match_positional(const struct matcher *m, const bson_t *doc, int *array_index);

/* For the planner: the conditions on `path` that are plain ANDed at the top
 * level of the filter. Each out-array entry is a borrowed operator/value pair
 * ("$eq", "$gt", "$gte", "$lt", "$lte", "$in") from the matcher's own copy.
 * Returns the count written (at most max). Conditions under $or/$not/
 * $elemMatch are not reported (the planner then scans). */
struct match_bound {
    const char *op;
    bson_value_t value;
};
int matcher_bounds_for_path(const struct matcher *m, const char *path, struct match_bound *out, int max);

/* True when the filter is exactly {_id: <scalar>} (point lookup fast path);
 * *id then borrows the value. */
bool matcher_is_id_point(const struct matcher *m, bson_value_t *id);

#endif
