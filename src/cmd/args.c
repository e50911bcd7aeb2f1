/* args.c - typed getters for command fields, with mongod-style messages.
 *
 * Every command parses its body through these, so a wrong type anywhere
 * yields the same TypeMismatch error naming the command and the field. */
#include "cmd/args.h"
#include "core/bsonutil.h"

#include "query/bsonval.h"

#include <math.h>
#include <stdio.h>
#include <string.h>


static int wrong_type(struct cmd_ctx *ctx, const char *field, bson_type_t got, const char *expected)
{
    return err_set(&ctx->err, ERR_TYPE_MISMATCH, "BSON field '%s.%s' is the wrong type '%s', expected types '[%s]'",
                   ctx->req->name, field, bsonutil_type_name(got), expected);
}

static bool find_field(struct cmd_ctx *ctx, const char *field, bson_iter_t *it)
{
    return bson_iter_init_find(it, &ctx->req->body, field);
}

int args_int64(struct cmd_ctx *ctx, const char *field, int64_t *out)
{
    bson_iter_t it;
    double d;

    if (!find_field(ctx, field, &it))
        return 0;
    switch (bson_iter_type(&it)) {
    case BSON_TYPE_INT32: *out = bson_iter_int32(&it); return 0;
    case BSON_TYPE_INT64: *out = bson_iter_int64(&it); return 0;
    case BSON_TYPE_DOUBLE:
        d = bson_iter_double(&it);
        if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18)
            return err_set(&ctx->err, ERR_BAD_VALUE, "BSON field '%s.%s' must be an integral number, not %g",
                           ctx->req->name, field, d);
        *out = (int64_t)d;
        return 0;
    default: return wrong_type(ctx, field, bson_iter_type(&it), "long, int, decimal, double");
    }
}

int args_bool(struct cmd_ctx *ctx, const char *field, bool *out)
{
    bson_iter_t it;

    if (!find_field(ctx, field, &it))
        return 0;
    switch (bson_iter_type(&it)) {
    case BSON_TYPE_BOOL:
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DOUBLE: *out = bson_iter_as_bool(&it); return 0;
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED: return 0;
    default: return wrong_type(ctx, field, bson_iter_type(&it), "bool");
    }
}

int args_utf8(struct cmd_ctx *ctx, const char *field, const char **out)
{
    bson_iter_t it;

    if (!find_field(ctx, field, &it))
        return 0;
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return wrong_type(ctx, field, bson_iter_type(&it), "string");
    *out = bson_iter_utf8(&it, NULL);
    return 0;
}

static int get_container(struct cmd_ctx *ctx, const char *field, bson_t *out, bool *is_present, bson_type_t want)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;

    *is_present = false;
    if (!find_field(ctx, field, &it))
        return 0;
    if (bson_iter_type(&it) != want)
        return wrong_type(ctx, field, bson_iter_type(&it), want == BSON_TYPE_ARRAY ? "array" : "object");
    if (want == BSON_TYPE_ARRAY)
        bson_iter_array(&it, &len, &data);
    else
        bson_iter_document(&it, &len, &data);
    if (!bson_init_static(out, data, len))
        return err_set(&ctx->err, ERR_INVALID_BSON, "BSON field '%s.%s' is not valid BSON", ctx->req->name, field);
    *is_present = true;
    return 0;
}

int args_doc(struct cmd_ctx *ctx, const char *field, bson_t *out, bool *is_present)
{
    return get_container(ctx, field, out, is_present, BSON_TYPE_DOCUMENT);
}

int args_array(struct cmd_ctx *ctx, const char *field, bson_t *out, bool *is_present)
{
    return get_container(ctx, field, out, is_present, BSON_TYPE_ARRAY);
}

bool args_is_valid_db_name(const char *db)
{
    size_t n = strlen(db);

    if (n == 0 || n >= 64)
        return false;
    return strpbrk(db, "/\\. \"$") == NULL;
}

bool args_is_valid_coll_name(const char *coll)
{
    if (coll[0] == '\0' || coll[0] == '.')
        return false;
    if (strchr(coll, '$') != NULL && strcmp(coll, "oplog.$main") != 0)
        return false;
    return true;
}

int args_collection(struct cmd_ctx *ctx, const char **out)
{
    bson_iter_t it;
    const char *name;

    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it))
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "empty command");
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return err_set(&ctx->err, ERR_INVALID_NAMESPACE,
                       "collection name has invalid type %s", bsonutil_type_name(bson_iter_type(&it)));
    name = bson_iter_utf8(&it, NULL);
    if (!args_is_valid_coll_name(name) || !args_is_valid_db_name(ctx->req->db))
        return err_set(&ctx->err, ERR_INVALID_NAMESPACE, "Invalid namespace specified '%s.%s'", ctx->req->db, name);
    *out = name;
    return 0;
}

int args_namespace(struct cmd_ctx *ctx, const char *coll, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s.%s", ctx->req->db, coll);

    if (n < 0 || (size_t)n >= cap || n > 255)
        return err_set(&ctx->err, ERR_INVALID_NAMESPACE, "Fully qualified namespace is too long: '%s.%s'",
                       ctx->req->db, coll);
    return 0;
}

static const char *const generic_fields[] = {
    "$db", "lsid", "txnNumber", "$clusterTime", "$readPreference", "readConcern", "writeConcern", "maxTimeMS",
    "comment", "apiVersion", "apiStrict", "apiDeprecationErrors", "$audit", "$client", "$configServerState",
    "mayBypassWriteBlocking", "autocommit", "startTransaction", "stmtId", "bypassDocumentValidation",
    "backpressure", NULL,
};

static bool in_list(const char *const *list, const char *key)
{
    for (; *list; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

int args_check_known(struct cmd_ctx *ctx, const char *const *allowed)
{
    bson_iter_t it;
    bool is_first = true;

    if (!bson_iter_init(&it, &ctx->req->body))
        return err_set(&ctx->err, ERR_INVALID_BSON, "command body is not valid BSON");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (is_first) {
            is_first = false;
            continue;
        }
        if (!in_list(generic_fields, key) && !in_list(allowed, key))
            return err_set(&ctx->err, ERR_UNKNOWN_FIELD, "BSON field '%s.%s' is an unknown field.",
                           ctx->req->name, key);
    }
    return 0;
}
