/* bsonutil.c - BSON type names for messages and numeric field reading.
 *
 * Shared by every layer that reports a field's type or reads a number that
 * a client may send as int32, int64, double or decimal128. */
#include "core/bsonutil.h"

#include <stdlib.h>

const char *bsonutil_type_name(bson_type_t type)
{
    switch (type) {
    case BSON_TYPE_EOD: return "missing";
    case BSON_TYPE_DOUBLE: return "double";
    case BSON_TYPE_UTF8: return "string";
    case BSON_TYPE_DOCUMENT: return "object";
    case BSON_TYPE_ARRAY: return "array";
    case BSON_TYPE_BINARY: return "binData";
    case BSON_TYPE_UNDEFINED: return "undefined";
    case BSON_TYPE_OID: return "objectId";
    case BSON_TYPE_BOOL: return "bool";
    case BSON_TYPE_DATE_TIME: return "date";
    case BSON_TYPE_NULL: return "null";
    case BSON_TYPE_REGEX: return "regex";
    case BSON_TYPE_DBPOINTER: return "dbPointer";
    case BSON_TYPE_CODE: return "javascript";
    case BSON_TYPE_SYMBOL: return "symbol";
    case BSON_TYPE_CODEWSCOPE: return "javascriptWithScope";
    case BSON_TYPE_INT32: return "int";
    case BSON_TYPE_TIMESTAMP: return "timestamp";
    case BSON_TYPE_INT64: return "long";
    case BSON_TYPE_DECIMAL128: return "decimal";
    case BSON_TYPE_MINKEY: return "minKey";
    case BSON_TYPE_MAXKEY: return "maxKey";
    default: return "unknown";
    }
}

bool bsonutil_number(const bson_iter_t *it, double *out)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32: *out = bson_iter_int32(it); return true;
    case BSON_TYPE_INT64: *out = (double)bson_iter_int64(it); return true;
    case BSON_TYPE_DOUBLE: *out = bson_iter_double(it); return true;
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t d;
        char buf[BSON_DECIMAL128_STRING];
        if (!bson_iter_decimal128(it, &d))
            return false;
        bson_decimal128_to_string(&d, buf);
        *out = strtod(buf, NULL);
        return true;
    }
    default: return false;
    }
}
