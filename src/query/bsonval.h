/* bsonval.h - MongoDB's total order over BSON values, and dotted-path lookup.
 *
 * Comparison follows MongoDB's cross-type order: MinKey < null(and missing) <
 * numbers (int32, int64, double, decimal128 compared by value) < string/symbol <
 * object < array < binData < ObjectId < bool < date < timestamp < regex <
 * ... < MaxKey. Within objects: field by field (type rank, then name, then
 * value); arrays element by element; strings bytewise (no collation). */
#ifndef TALLY_BSONVAL_H
#define TALLY_BSONVAL_H

#include <bson/bson.h>
#include <stdbool.h>

/* mongod's name of a type ("double", "string", "objectId", ...; BSON_TYPE_EOD
 * is "missing"), for error messages. */
const char *bsonutil_type_name(bson_type_t type);
/* Rank of a type in the cross-type order (numbers share one rank). */
int bsonval_type_rank(bson_type_t type);
/* <0, 0, >0 as a sorts before, equal to, after b. Values are borrowed. */
int bsonval_compare(const bson_value_t *a, const bson_value_t *b);
/* Whole documents compared as embedded objects. */
int bsondoc_compare(const bson_t *a, const bson_t *b);
static inline bool bsonval_equal(const bson_value_t *a, const bson_value_t *b) { return bsonval_compare(a, b) == 0; }
/* True for int32, int64, double and decimal128. */
bool bsonval_is_number(const bson_value_t *v);
/* Numeric value as double (0 for non-numbers). */
double bsonval_as_double(const bson_value_t *v);

/* Finds the value at a dotted path without array traversal (a.0.b means
 * element 0 of a). Returns false when absent. *out borrows from doc. */
bool bsonval_get_path(const bson_t *doc, const char *path, bson_value_t *out);

/* Calls cb for every value reachable at `path`, expanding arrays the way the
 * MongoDB matcher does: "a.b" on {a: [{b: 1}, {b: [2, 3]}]} yields 1 and
 * [2,3] (and the caller expands the final array itself if it wishes).
 * Numeric path components also index arrays. Returns the number of values
 * visited; cb returning false stops the walk. When nothing is found, cb is
 * not called. */
typedef bool (*bsonval_visit_cb)(const bson_value_t *v, void *arg);
int bsonval_walk_path(const bson_t *doc, const char *path, bsonval_visit_cb cb, void *arg);

/* As bsonval_walk_path, with what the matcher needs besides: cb also gets the
 * index of the element taken from the first array along the path (-1 when no
 * array was crossed), and with is_reporting_missing cb is called with
 * v == NULL wherever the path dead-ends in a document or a scalar (so
 * {"a.b": null} can match {a: [{b: 1}, {c: 1}]}). Returns values visited. */
typedef bool (*bsonval_visit_ex_cb)(const bson_value_t *v, int array_index, void *arg);
int bsonval_walk_path_ex(const bson_t *doc, const char *path, bool is_reporting_missing, bsonval_visit_ex_cb cb,
                         void *arg);

#endif
