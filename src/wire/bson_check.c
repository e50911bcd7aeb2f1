/* bson_check.c - structural validation of untrusted BSON, without recursion.
 *
 * Every document that arrives from a client passes through here before
 * libbson iterates it, because libbson's own validator recurses once per
 * nesting level and a 16 MiB document can nest millions of levels deep. The
 * walk keeps an explicit stack of open documents, so stack use is constant;
 * depth is capped at max_depth. It guarantees: each length fits inside its
 * parent exactly, every key and cstring is terminated inside its bounds,
 * strings carry their trailing NUL, booleans are 0 or 1, and element types
 * are known. UTF-8 is not checked (mongod 6.0 stores what it is given). */
#include "wire/wire.h"

#include <string.h>

struct open_doc {
    size_t end; /* offset of the document's terminating NUL byte */
};

static int32_t read_i32(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)v;
}

static int bad(struct err *e, const char *what, size_t at)
{
    return err_set(e, ERR_INVALID_BSON, "Invalid BSON: %s at offset %zu", what, at);
}

/* Length of the cstring at data[pos..limit), or -1 when unterminated. */
static long cstring_len(const uint8_t *data, size_t pos, size_t limit)
{
    const uint8_t *nul = memchr(data + pos, 0, limit - pos);
    return nul ? (long)(nul - (data + pos)) : -1;
}

/* A BSON string (int32 length, bytes, NUL) at pos inside limit; sets *next. */
static int check_string(const uint8_t *data, size_t pos, size_t limit, size_t *next, struct err *e)
{
    int32_t n;

    if (limit - pos < 4)
        return bad(e, "truncated string length", pos);
    n = read_i32(data + pos);
    if (n < 1 || (size_t)n > limit - pos - 4)
        return bad(e, "string length out of bounds", pos);
    if (data[pos + 4 + (size_t)n - 1] != 0)
        return bad(e, "string not NUL-terminated", pos);
    *next = pos + 4 + (size_t)n;
    return 0;
}

/* Opens a document header at pos inside limit: pushes it on the stack. */
static int open_document(const uint8_t *data, size_t pos, size_t limit, struct open_doc *stack, int *depth,
                         int max_depth, struct err *e)
{
    int32_t n;

    if (limit - pos < 5)
        return bad(e, "truncated document", pos);
    n = read_i32(data + pos);
    if (n < 5 || (size_t)n > limit - pos)
        return bad(e, "document length out of bounds", pos);
    if (data[pos + (size_t)n - 1] != 0)
        return bad(e, "document not NUL-terminated", pos);
    if (*depth >= max_depth + 1)
        return err_set(e, ERR_OVERFLOW, "BSONObj exceeds maximum nested object depth: %d", max_depth);
    stack[(*depth)++].end = pos + (size_t)n - 1;
    return 0;
}

int wire_bson_check(const uint8_t *data, size_t len, int max_depth, struct err *e)
{
    struct open_doc stack[WIRE_MAX_DEPTH + 2];
    int depth = 0;
    size_t pos = 0;
    int rc;

    if (max_depth > WIRE_MAX_DEPTH)
        max_depth = WIRE_MAX_DEPTH;
    if (len < 5 || (size_t)read_i32(data) != len || read_i32(data) < 5)
        return bad(e, "document length does not match its container", 0);
    if ((rc = open_document(data, 0, len, stack, &depth, max_depth, e)) < 0)
        return rc;
    pos = 4;
    while (depth > 0) {
        size_t end = stack[depth - 1].end;
        uint8_t type;
        long klen;

        if (pos == end) {
            depth--;
            pos++;
            continue;
        }
        type = data[pos++];
        klen = cstring_len(data, pos, end);
        if (klen < 0)
            return bad(e, "unterminated field name", pos);
        pos += (size_t)klen + 1;
        switch (type) {
        case BSON_TYPE_DOUBLE:
        case BSON_TYPE_DATE_TIME:
        case BSON_TYPE_TIMESTAMP:
        case BSON_TYPE_INT64:
            if (end - pos < 8)
                return bad(e, "truncated 8-byte value", pos);
            pos += 8;
            break;
        case BSON_TYPE_INT32:
            if (end - pos < 4)
                return bad(e, "truncated int32", pos);
            pos += 4;
            break;
        case BSON_TYPE_DECIMAL128:
            if (end - pos < 16)
                return bad(e, "truncated decimal128", pos);
            pos += 16;
            break;
        case BSON_TYPE_OID:
            if (end - pos < 12)
                return bad(e, "truncated ObjectId", pos);
            pos += 12;
            break;
        case BSON_TYPE_BOOL:
            if (end - pos < 1)
                return bad(e, "truncated bool", pos);
            if (data[pos] > 1)
                return bad(e, "bool not 0 or 1", pos);
            pos += 1;
            break;
        case BSON_TYPE_UNDEFINED:
        case BSON_TYPE_NULL:
        case BSON_TYPE_MINKEY:
        case BSON_TYPE_MAXKEY:
            break;
        case BSON_TYPE_UTF8:
        case BSON_TYPE_CODE:
        case BSON_TYPE_SYMBOL:
            if ((rc = check_string(data, pos, end, &pos, e)) < 0)
                return rc;
            break;
        case BSON_TYPE_DBPOINTER:
            if ((rc = check_string(data, pos, end, &pos, e)) < 0)
                return rc;
            if (end - pos < 12)
                return bad(e, "truncated DBPointer", pos);
            pos += 12;
            break;
        case BSON_TYPE_REGEX:
            for (int i = 0; i < 2; i++) {
                klen = cstring_len(data, pos, end);
                if (klen < 0)
                    return bad(e, "unterminated regex", pos);
                pos += (size_t)klen + 1;
            }
            break;
        case BSON_TYPE_BINARY: {
            int32_t n;
            if (end - pos < 5)
                return bad(e, "truncated binary", pos);
            n = read_i32(data + pos);
            if (n < 0 || (size_t)n > end - pos - 5)
                return bad(e, "binary length out of bounds", pos);
            /* Subtype 2 (old binary) repeats the length inside the payload. */
            if (data[pos + 4] == BSON_SUBTYPE_BINARY_DEPRECATED && (n < 4 || read_i32(data + pos + 5) != n - 4))
                return bad(e, "invalid old binary subtype length", pos);
            pos += 5 + (size_t)n;
            break;
        }
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY:
            if ((rc = open_document(data, pos, end, stack, &depth, max_depth, e)) < 0)
                return rc;
            pos += 4;
            break;
        case BSON_TYPE_CODEWSCOPE: {
            int32_t total;
            size_t start = pos, after;
            if (end - pos < 4)
                return bad(e, "truncated code with scope", pos);
            total = read_i32(data + pos);
            if (total < 14 || (size_t)total > end - pos)
                return bad(e, "code with scope length out of bounds", pos);
            if ((rc = check_string(data, pos + 4, start + (size_t)total, &after, e)) < 0)
                return rc;
            if ((rc = open_document(data, after, start + (size_t)total, stack, &depth, max_depth, e)) < 0)
                return rc;
            if (stack[depth - 1].end != start + (size_t)total - 1)
                return bad(e, "code with scope length mismatch", pos);
            pos = after + 4;
            break;
        }
        default: return bad(e, "unknown element type", pos - (size_t)klen - 2);
        }
    }
    if (pos != len)
        return bad(e, "trailing bytes after document", pos);
    return 0;
}
