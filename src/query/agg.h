/* agg.h - aggregation pipelines and the expression language they use.
 *
 * Stages: $match $project $addFields/$set $unset $sort $skip $limit $group
 * $unwind $count $sortByCount $replaceRoot/$replaceWith. Accumulators: $sum
 * $avg $min $max $first $last $push $addToSet $count. $sum of integers stays
 * an integer (int32, widening to int64, then double), as drivers'
 * countDocuments needs. Other stages ($lookup, $out, $merge, $facet,
 * $collStats, ...) fail with a clear error naming the stage. */
#ifndef TALLY_AGG_H
#define TALLY_AGG_H

#include "core/err.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

struct pipeline;

/* A pull source of input documents: next() sets *doc (borrowed until the
 * next call) and returns 1, returns 0 at the end, or a negative error. */
struct agg_source {
    int (*next)(void *ctx, const bson_t **doc, struct err *e);
    void *ctx;
};

/* stages is the `pipeline` array (borrowed). */
int pipeline_create(const bson_t *stages, struct pipeline **out, struct err *e);
void pipeline_destroy(struct pipeline *p);
/* The filter of a leading $match stage (borrowed), or NULL: the caller may
 * use it to choose an index; the pipeline still applies it. */
const bson_t *pipeline_leading_match(const struct pipeline *p);

/* Runs the pipeline over src and calls emit for each output document
 * (borrowed for the duration of the call; emit copies what it keeps).
 * emit returning a negative error stops the run. */
typedef int (*agg_emit_cb)(void *ctx, const bson_t *doc, struct err *e);
int pipeline_run(struct pipeline *p, struct agg_source *src, agg_emit_cb emit, void *emit_ctx, int64_t now_ms,
                 struct err *e);

/* Expression evaluation, shared with pipeline-style updates: evaluates the
 * expression `expr` (borrowed; "$field", literals, {$op: ...} operators)
 * against doc and appends the result to out under key (nothing is appended
 * when the result is "missing"). */
int agg_expr_eval_append(const bson_value_t *expr, const bson_t *doc, bson_t *out, const char *key, struct err *e);

/* Validates an expression at parse time (operator names, field paths, shape),
 * so a bad expression fails even when no document is ever evaluated. */
int agg_expr_check(const bson_value_t *expr, struct err *e);

/* Runs the update-pipeline stages ($set/$addFields/$unset/$project/
 * $replaceRoot/$replaceWith) of a pipeline over one document. */
int pipeline_apply_to_doc(struct pipeline *p, const bson_t *doc, bson_t *out, struct err *e);

#endif
