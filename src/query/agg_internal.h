/* agg_internal.h - what the agg_*.c files share and nothing else includes
 * (except tests/unit/test_agg.c).
 *
 * Values during evaluation are bson_value_t that OWN their payload (strings,
 * documents, binary are allocated with bson_malloc; release with
 * bson_value_destroy). BSON_TYPE_EOD stands for "missing", which is distinct
 * from null in the expression language (missing fields vanish from output). */
#ifndef TALLY_AGG_INTERNAL_H
#define TALLY_AGG_INTERNAL_H

#include "core/err.h"
#include "query/agg.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MongoDB codes our err.h does not name (codeName comes from the err table). */
#define AGG_ERR_CONVERSION_FAILURE ERR_CONVERSION_FAILURE
#define AGG_ERR_MEMORY_LIMIT ERR_QUERY_EXCEEDED_MEMORY_LIMIT
/* Buffered bytes a blocking stage may hold without allowDiskUse (mongod's
 * internalQueryMaxBlockingSortMemoryUsageBytes / $group limit). */
#define AGG_MEMORY_LIMIT_BYTES (100 * 1024 * 1024)

/* A variable bound by $let/$filter/$map/$reduce (value borrowed). */
struct agg_var {
    const char *name;
    size_t name_len;
    const bson_value_t *value;
    const struct agg_var *next;
};

/* Evaluation context: $$ROOT/$$CURRENT is `root`. */
struct agg_ctx {
    const bson_t *root;
    int64_t now_ms;
    const struct agg_var *vars;
};

/* A list of values; owned or borrowed according to how it was filled. */
struct agg_vals {
    size_t n;
    size_t cap;
    bson_value_t *v;
};

/* --- values (agg_value.c) --- */
void agg_val_missing(bson_value_t *v);
bool agg_val_is_missing(const bson_value_t *v);
/* null, undefined or missing */
bool agg_val_is_nullish(const bson_value_t *v);
bool agg_val_truthy(const bson_value_t *v);
/* Aggregation order: missing/undefined sort below null, then bsonval order. */
int agg_val_compare(const bson_value_t *a, const bson_value_t *b);
uint64_t agg_val_hash(const bson_value_t *v);
/* Deep copy (missing stays missing). */
void agg_val_copy(bson_value_t *dst, const bson_value_t *src);
void agg_val_null(bson_value_t *v);
void agg_val_bool(bson_value_t *v, bool b);
void agg_val_int32(bson_value_t *v, int32_t i);
void agg_val_int64(bson_value_t *v, int64_t i);
/* int32 when it fits, else int64 */
void agg_val_int(bson_value_t *v, int64_t i);
void agg_val_double(bson_value_t *v, double d);
void agg_val_date(bson_value_t *v, int64_t ms);
void agg_val_utf8(bson_value_t *v, const char *s, size_t len);
/* Takes b (destroyed) into an owned document or array value. */
void agg_val_take_bson(bson_value_t *v, bson_t *b, bool is_array);
/* A borrowed document value that views b. */
void agg_val_view_doc(bson_value_t *v, const bson_t *b);
/* mongod's type names: "double", "string", "missing", ... */
const char *agg_val_type_name(const bson_value_t *v);
bool agg_val_is_number(const bson_value_t *v);
/* Numeric value as double (decimal128 through its string form). */
double agg_val_to_double(const bson_value_t *v);
/* True when v is a number that is exactly an integer representable as int64. */
bool agg_val_to_int64_exact(const bson_value_t *v, int64_t *out);
/* Appends v under key unless missing. */
void agg_val_append(bson_t *out, const char *key, size_t key_len, const bson_value_t *v);

void agg_vals_init(struct agg_vals *a);
void agg_vals_push(struct agg_vals *a, const bson_value_t *v); /* shallow: the list takes v's payload */
void agg_vals_destroy_owned(struct agg_vals *a);               /* destroys every value */
void agg_vals_free(struct agg_vals *a);                        /* frees the list only (borrowed values) */

/* --- expressions (agg_expr.c) --- */
/* Evaluates expr; *out is owned by the caller (missing when the value is). */
int agg_expr_eval(const bson_value_t *expr, const struct agg_ctx *c, bson_value_t *out, struct err *e);
/* Evaluates a dotted path ("a.b", no '$') against a document, with array
 * traversal as aggregation field paths do. */
void agg_path_eval_doc(const uint8_t *data, uint32_t len, const char *path, size_t path_len, bson_value_t *out);
/* The argument list of an operator: the array's elements, or the single
 * value itself (borrowed views into arg). */
void agg_args_raw(const bson_value_t *arg, struct agg_vals *out);
/* Each argument evaluated (owned values). */
int agg_args_eval(const bson_value_t *arg, const struct agg_ctx *c, struct agg_vals *out, struct err *e);
/* Looks up field `name` in document value v (borrowed view); false if absent. */
bool agg_doc_get(const bson_value_t *doc, const char *name, bson_value_t *out);
/* Fetches the named arguments of an object-form operator; unknown names are
 * an error naming the operator. names ends with NULL; out[i] is missing when
 * absent. */
int agg_named_args(const char *op, const bson_value_t *arg, const char *const *names, bson_value_t *out,
                   struct err *e);

/* User variable names ($let, $map, $filter): start lowercase or non-ASCII. */
int agg_check_var_name(const char *name, struct err *e);

/* Sets every field of the document value src into acc (in place when
 * present, appended otherwise), as $mergeObjects does. */
void agg_doc_merge(bson_t *acc, const bson_value_t *src);

/* One operator: `eager` ones get their arguments evaluated and counted. */
typedef int (*agg_op_vals_fn)(const char *op, struct agg_vals *args, const struct agg_ctx *c, bson_value_t *out,
                              struct err *e);
typedef int (*agg_op_raw_fn)(const char *op, const bson_value_t *arg, const struct agg_ctx *c, bson_value_t *out,
                             struct err *e);
struct agg_op {
    const char *name;
    agg_op_vals_fn vals_fn; /* eager form (raw_fn NULL) */
    agg_op_raw_fn raw_fn;   /* lazy form: evaluates its own arguments */
    int min_args;
    int max_args; /* -1 = any */
};
extern const struct agg_op agg_ops_arith[];
extern const struct agg_op agg_ops_logic[];
extern const struct agg_op agg_ops_str[];
extern const struct agg_op agg_ops_array[];
extern const struct agg_op agg_ops_type[];
extern const struct agg_op agg_ops_date[];
/* Date parts of a millisecond timestamp in UTC shifted by offset_ms. */
struct agg_date_parts {
    int year, month, day, hour, minute, second, millis, day_of_week, day_of_year;
};
void agg_date_split(int64_t ms, struct agg_date_parts *p);
/* Days since 1970-01-01 of a proleptic Gregorian date (any year). */
int64_t agg_days_from_civil(int64_t y, int64_t m, int64_t d);
/* Parses YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z|+HH:MM|-HHMM] into ms since the epoch. */
bool agg_date_parse_iso(const char *s, int64_t *ms_out);
/* ISO form "2021-03-04T05:06:07.089Z" into buf (>= 32 bytes). */
void agg_date_format_iso(int64_t ms, char *buf, size_t size);
/* Value as a string for $concat-like coercions ($toLower, $toString): owned
 * malloc'd string, or NULL when v has no string form (error filled). */
char *agg_val_to_string(const char *op, const bson_value_t *v, struct err *e);

/* --- projection trees for $project/$addFields/$set/$unset (agg_project.c) --- */
struct agg_proj;
enum agg_proj_kind { AGG_PROJ_PROJECT, AGG_PROJ_ADD_FIELDS, AGG_PROJ_UNSET };
int agg_proj_create(const bson_value_t *spec, enum agg_proj_kind kind, const char *stage_name,
                    struct agg_proj **out, struct err *e);
void agg_proj_destroy(struct agg_proj *p);
/* out is bson_init'ed by the caller. */
int agg_proj_apply(const struct agg_proj *p, const bson_t *doc, const struct agg_ctx *c, bson_t *out,
                   struct err *e);
/* Copies doc into out with the dotted path set to v (removed when v is missing). */
void agg_doc_set_path(const uint8_t *data, uint32_t len, const char *path, const bson_value_t *v, bson_t *out);

/* --- $group (agg_group.c) --- */
struct agg_group;
int agg_group_create(const bson_value_t *spec, struct agg_group **out, struct err *e);
void agg_group_destroy(struct agg_group *g);
int agg_group_add(struct agg_group *g, const bson_t *doc, const struct agg_ctx *c, struct err *e);
size_t agg_group_n_groups(const struct agg_group *g);
/* Writes group i's output document into out (bson_init'ed by the caller). */
void agg_group_result(const struct agg_group *g, size_t i, bson_t *out);
/* Drops every group (run state) but keeps the parsed spec. */
void agg_group_reset(struct agg_group *g);
size_t agg_group_mem_bytes(const struct agg_group *g);

/* Lowers the blocking-stage memory limit (tests). */
struct pipeline;
void pipeline_set_memory_limit(struct pipeline *p, size_t bytes);

#endif
