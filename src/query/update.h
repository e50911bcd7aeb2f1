/* update.h - update documents: operators ($set ...) and replacements.
 *
 * Operators: $set $unset $inc $mul $min $max $rename $setOnInsert
 * $currentDate $push (with $each $slice $sort $position) $addToSet (with
 * $each) $pop $pull $pullAll, the positional "$", "$[]" and "$[ident]"
 * (arrayFilters). A document with no $-keys is a replacement. An array is an
 * aggregation-pipeline update ($set/$addFields/$unset/$project/$replaceRoot
 * stages), delegated to agg. Errors use MongoDB's codes: conflicting paths
 * (40), modifying _id (66), non-numeric $inc (14), unknown modifier (9). */
#ifndef TALLY_UPDATE_H
#define TALLY_UPDATE_H

#include "core/err.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct update;

/* spec and array_filters (nullable; an array of filter documents) are
 * borrowed. *out owned (update_destroy). */
int update_create(const bson_value_t *spec, const bson_t *array_filters, struct update **out, struct err *e);
void update_destroy(struct update *u);
bool update_is_replacement(const struct update *u);

struct update_env {
    int positional_index; /* matcher's array index for "$", -1 when none */
    bool is_upsert_insert; /* true when building the inserted document of an upsert ($setOnInsert applies) */
    int64_t now_ms;        /* wall clock for $currentDate */
};

/* Writes the updated document to out (caller bson_init'ed). *is_changed is
 * false when the result is byte-identical to doc (nModified counts only real
 * changes). _id stays first and may not change. The result is not checked
 * for size; the caller does that. */
int update_apply(const struct update *u, const bson_t *doc, const struct update_env *env, bson_t *out,
                 bool *is_changed, struct err *e);

/* The document an upsert inserts when nothing matched: the equality fields
 * of query (including dotted paths and $and of equalities, never $-operators)
 * then the update applied with is_upsert_insert; a replacement keeps only
 * the query's _id. _id is generated (ObjectId) when still missing and placed
 * first. */
int update_build_upsert(const struct update *u, const bson_t *query, const struct update_env *env, bson_t *out,
                        struct err *e);

#endif
