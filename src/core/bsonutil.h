/* bsonutil.h - small BSON helpers every layer needs for messages and fields. */
#ifndef TALLY_BSONUTIL_H
#define TALLY_BSONUTIL_H

#include <bson/bson.h>
#include <stdbool.h>

/* mongod's name of a type ("double", "string", "objectId", ...; BSON_TYPE_EOD
 * is "missing"), for error messages. */
const char *bsonutil_type_name(bson_type_t type);
/* Any numeric value (int32, int64, double, decimal128) as a double; false for
 * other types. */
bool bsonutil_number(const bson_iter_t *it, double *out);

#endif
