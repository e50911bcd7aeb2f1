/* project.h - find/findAndModify projections ({a: 1, b: 0, "c.d": 1}).
 *
 * Inclusion and exclusion (never mixed, except _id), dotted paths through
 * arrays, $slice, $elemMatch, and the positional "a.$" form (resolved with the
 * index the matcher reports), and computed fields: any other value is an
 * aggregation expression ("$a", {$add: [...]}, literals) evaluated with agg
 * and counted as an inclusion, as find does since MongoDB 4.4. */
#ifndef TALLY_PROJECT_H
#define TALLY_PROJECT_H

#include "core/err.h"

#include <bson/bson.h>

struct projection;

/* spec borrowed; *out owned (projection_destroy). Errors: mixing inclusion
 * and exclusion (Location31254/31253 -> reported as ERR_BAD_VALUE or
 * ERR_FAILED_TO_PARSE), bad $slice arguments. */
int projection_create(const bson_t *spec, struct projection **out, struct err *e);
void projection_destroy(struct projection *p);

/* Writes the projected form of doc into out (which the caller has
 * bson_init'ed). positional_index is the matcher's array index for "a.$"
 * (-1 when none). Returns 0 or a negative error. */
int projection_apply(const struct projection *p, const bson_t *doc, int positional_index, bson_t *out,
                     struct err *e);

#endif
