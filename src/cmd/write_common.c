/* write_common.c - the storage-free helpers of the write commands.
 *
 * Owns what a document must satisfy before it is stored (well-formed BSON,
 * nesting depth, no '$'-prefixed top-level names on insert, a storable _id
 * placed first, the 16 MiB limit), the checks every write command makes on
 * its statements array, and the writeErrors/upserted accumulator that turns
 * per-statement outcomes into mongod's reply shape. Nothing here touches
 * storage, so it is unit-tested in isolation (tests/unit/test_write_common.c). */
#include "cmd/write_common.h"
#include "core/bsonutil.h"

#include "cmd/args.h"
#include "core/mem.h"
#include "query/bsonval.h"

#include <inttypes.h>

#include <stdio.h>
#include <string.h>


/* Walks every nested document and array, at most WRITE_MAX_DEPTH levels deep,
 * so the recursion is bounded whatever the input; also catches truncated or
 * malformed elements (bson_iter sets err_off). Returns 0, -ERR_OVERFLOW or
 * -ERR_INVALID_BSON. */
static int check_depth(const bson_t *doc, int depth)
{
    bson_iter_t it;

    if (depth > WRITE_MAX_DEPTH)
        return -ERR_OVERFLOW;
    if (!bson_iter_init(&it, doc))
        return -ERR_INVALID_BSON;
    while (bson_iter_next(&it)) {
        bson_type_t type = bson_iter_type(&it);
        if (type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY) {
            const uint8_t *data;
            uint32_t len;
            bson_t sub;
            int rc;

            if (type == BSON_TYPE_DOCUMENT)
                bson_iter_document(&it, &len, &data);
            else
                bson_iter_array(&it, &len, &data);
            if (!bson_init_static(&sub, data, len))
                return -ERR_INVALID_BSON;
            rc = check_depth(&sub, depth + 1);
            if (rc < 0)
                return rc;
        }
    }
    return it.err_off ? -ERR_INVALID_BSON : 0;
}

/* Structure first (bounded walk), then libbson's full validation, which is
 * recursive and so only safe once the depth is known to be small. */
static int check_structure(const bson_t *doc, const char *what, struct err *e)
{
    size_t off = 0;
    int rc = check_depth(doc, 1);

    if (rc == -ERR_OVERFLOW)
        return err_set(e, ERR_OVERFLOW, "cannot %s document because it exceeds %d levels of nesting", what,
                       WRITE_MAX_DEPTH);
    if (rc < 0 || !bson_validate(doc, BSON_VALIDATE_NONE, &off))
        return err_set(e, ERR_INVALID_BSON, "cannot %s document: invalid BSON at offset %zu", what, off);
    return 0;
}

/* mongod refuses _id values that cannot be indexed uniquely or compared
 * sensibly: arrays (multikey), regexes and undefined; an _id document may not
 * hold '$'-prefixed fields (it would read as an operator). */
static int check_id(const bson_iter_t *id_it, struct err *e)
{
    bson_type_t type = bson_iter_type(id_it);
    bson_iter_t sub;

    if (type == BSON_TYPE_ARRAY || type == BSON_TYPE_REGEX || type == BSON_TYPE_UNDEFINED)
        return err_set(e, ERR_INVALID_ID_FIELD, "The '_id' value cannot be of type %s", bsonutil_type_name(type));
    if (type == BSON_TYPE_DOCUMENT && bson_iter_recurse(id_it, &sub)) {
        while (bson_iter_next(&sub)) {
            const char *key = bson_iter_key(&sub);
            if (key[0] == '$')
                return err_set(e, ERR_DOLLAR_PREFIXED_FIELD_NAME,
                               "_id fields may not contain '$'-prefixed fields: %s is not valid for storage.", key);
        }
    }
    return 0;
}

int write_doc_prepare_insert(const bson_t *doc, bson_t *out, struct err *e)
{
    bson_iter_t it, id_it;
    bool has_id = false;
    bson_t built;
    int rc;

    rc = check_structure(doc, "insert", e);
    if (rc < 0)
        return rc;
    if (!bson_iter_init(&it, doc))
        return err_set(e, ERR_INVALID_BSON, "cannot insert document: invalid BSON");
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (key[0] == '$')
            return err_set(e, ERR_DOLLAR_PREFIXED_FIELD_NAME, "Document can't have $ prefixed field names: %s", key);
        if (!has_id && strcmp(key, "_id") == 0) {
            id_it = it;
            has_id = true;
        }
    }
    if (has_id) {
        rc = check_id(&id_it, e);
        if (rc < 0)
            return rc;
    }

    bson_init(&built);
    if (has_id) {
        bson_append_value(&built, "_id", 3, bson_iter_value(&id_it));
    } else {
        bson_oid_t oid;
        bson_oid_init(&oid, NULL);
        BSON_APPEND_OID(&built, "_id", &oid);
    }
    /* Only the first _id counts (as in mongod); later duplicates are dropped
     * so the stored document has exactly one. */
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        if (strcmp(bson_iter_key(&it), "_id") == 0)
            continue;
        bson_append_value(&built, bson_iter_key(&it), (int)bson_iter_key_len(&it), bson_iter_value(&it));
    }
    if (built.len > WRITE_MAX_BSON_BYTES) {
        uint32_t size = built.len;
        bson_destroy(&built);
        return err_set(e, ERR_BSON_OBJECT_TOO_LARGE, "object to insert too large. size in bytes: %" PRIu32
                       ", max size: %d", size, WRITE_MAX_BSON_BYTES);
    }
    bson_steal(out, &built);
    return 0;
}

int write_doc_check_updated(const bson_t *doc, struct err *e)
{
    bson_iter_t it;
    int rc;

    if (doc->len > WRITE_MAX_BSON_BYTES)
        return err_set(e, ERR_BSON_OBJECT_TOO_LARGE, "Resulting document after update is larger than %d",
                       WRITE_MAX_BSON_BYTES);
    rc = check_structure(doc, "update", e);
    if (rc < 0)
        return rc;
    if (bson_iter_init_find(&it, doc, "_id"))
        return check_id(&it, e);
    return 0;
}

int write_check_batch_size(int64_t n, struct err *e)
{
    if (n < 1 || n > WRITE_MAX_BATCH)
        return err_set(e, ERR_INVALID_LENGTH, "Write batch sizes must be between 1 and %d. Got %" PRId64 " operations.",
                       WRITE_MAX_BATCH, n);
    return 0;
}

int write_check_ns_writable(const char *db, const char *coll, struct err *e)
{
    if (strncmp(coll, "system.", 7) == 0)
        return err_set(e, ERR_INVALID_NAMESPACE, "cannot write to '%s.%s'", db, coll);
    return 0;
}

int write_get_statements(struct cmd_ctx *ctx, const char *field, bson_t *arr, int64_t *n_out)
{
    bool is_present = false;
    bson_iter_t it;
    int64_t n = 0;
    int rc = args_array(ctx, field, arr, &is_present);

    if (rc < 0)
        return rc;
    if (!is_present)
        return err_set(&ctx->err, ERR_MISSING_FIELD, "BSON field '%s.%s' is missing but a required field",
                       ctx->req->name, field);
    if (!bson_iter_init(&it, arr))
        return err_set(&ctx->err, ERR_INVALID_BSON, "BSON field '%s.%s' is not valid BSON", ctx->req->name, field);
    while (bson_iter_next(&it)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                           "BSON field '%s.%s.%" PRId64 "' is the wrong type '%s', expected type 'object'",
                           ctx->req->name, field, n, bsonutil_type_name(bson_iter_type(&it)));
        n++;
    }
    if (it.err_off)
        return err_set(&ctx->err, ERR_INVALID_BSON, "BSON field '%s.%s' is not valid BSON", ctx->req->name, field);
    *n_out = n;
    return 0;
}

int write_check_stmt_fields(struct cmd_ctx *ctx, const char *array_field, const bson_t *stmt,
                            const char *const *allowed)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, stmt))
        return err_set(&ctx->err, ERR_INVALID_BSON, "BSON field '%s.%s' is not valid BSON", ctx->req->name,
                       array_field);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        const char *const *a;
        for (a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                break;
        if (*a == NULL)
            return err_set(&ctx->err, ERR_UNKNOWN_FIELD, "BSON field '%s.%s.%s' is an unknown field.",
                           ctx->req->name, array_field, key);
    }
    return 0;
}

int write_check_collation(const bson_value_t *v, struct err *e)
{
    bson_t doc;
    bson_iter_t it;

    if (v == NULL)
        return 0;
    if (v->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field 'collation' is the wrong type '%s', expected type 'object'",
                       bsonutil_type_name(v->value_type));
    if (!bson_init_static(&doc, v->value.v_doc.data, v->value.v_doc.data_len))
        return err_set(e, ERR_INVALID_BSON, "collation is not valid BSON");
    /* {locale: "simple"} is the binary comparison this server always uses. */
    if (bson_count_keys(&doc) == 1 && bson_iter_init_find(&it, &doc, "locale") && BSON_ITER_HOLDS_UTF8(&it) &&
        strcmp(bson_iter_utf8(&it, NULL), "simple") == 0)
        return 0;
    return err_set(e, ERR_NOT_IMPLEMENTED, "collation is not supported by this server yet");
}

void write_result_init(struct write_result *r)
{
    r->n = 0;
    r->n_modified = 0;
    r->n_errors = 0;
    r->n_upserted = 0;
    bson_init(&r->errors);
    bson_init(&r->upserted);
}

void write_result_destroy(struct write_result *r)
{
    bson_destroy(&r->errors);
    bson_destroy(&r->upserted);
}

void write_result_add_error(struct write_result *r, int index, const struct err *e)
{
    char key[16];
    const char *k;
    bson_t entry;
    bson_iter_t it;
    int code = e->code ? e->code : ERR_INTERNAL_ERROR;

    bson_uint32_to_string((uint32_t)r->n_errors, &k, key, sizeof key);
    bson_append_document_begin(&r->errors, k, -1, &entry);
    BSON_APPEND_INT32(&entry, "index", index);
    BSON_APPEND_INT32(&entry, "code", code);
    if (e->has_info && bson_iter_init(&it, &e->info))
        while (bson_iter_next(&it))
            bson_append_value(&entry, bson_iter_key(&it), -1, bson_iter_value(&it));
    BSON_APPEND_UTF8(&entry, "errmsg", e->msg[0] ? e->msg : err_code_name(code));
    bson_append_document_end(&r->errors, &entry);
    r->n_errors++;
}

void write_result_add_upserted(struct write_result *r, int index, const bson_value_t *id)
{
    char key[16];
    const char *k;
    bson_t entry;

    bson_uint32_to_string((uint32_t)r->n_upserted, &k, key, sizeof key);
    bson_append_document_begin(&r->upserted, k, -1, &entry);
    BSON_APPEND_INT32(&entry, "index", index);
    bson_append_value(&entry, "_id", 3, id);
    bson_append_document_end(&r->upserted, &entry);
    r->n_upserted++;
}

void write_result_append_reply(const struct write_result *r, bson_t *reply, bool is_update)
{
    BSON_APPEND_INT32(reply, "n", (int32_t)r->n);
    if (is_update) {
        BSON_APPEND_INT32(reply, "nModified", (int32_t)r->n_modified);
        if (r->n_upserted > 0)
            BSON_APPEND_ARRAY(reply, "upserted", &r->upserted);
    }
    if (r->n_errors > 0)
        BSON_APPEND_ARRAY(reply, "writeErrors", &r->errors);
}

/* --- mongod-style document printing --- */

static void format_value(bson_string_t *s, const bson_iter_t *it, int depth);

static void format_container(bson_string_t *s, const bson_iter_t *parent, bool is_array, int depth)
{
    bson_iter_t it;
    bool is_first = true;

    bson_string_append(s, is_array ? "[" : "{");
    if (depth < 20 && bson_iter_recurse(parent, &it)) {
        while (bson_iter_next(&it)) {
            bson_string_append(s, is_first ? " " : ", ");
            is_first = false;
            if (!is_array) {
                bson_string_append(s, bson_iter_key(&it));
                bson_string_append(s, ": ");
            }
            format_value(s, &it, depth + 1);
            if (s->len > 4096)
                break;
        }
    }
    bson_string_append(s, is_first ? "" : " ");
    bson_string_append(s, is_array ? "]" : "}");
}

static void format_value(bson_string_t *s, const bson_iter_t *it, int depth)
{
    char oid[25];

    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32: bson_string_append_printf(s, "%" PRId32, bson_iter_int32(it)); break;
    case BSON_TYPE_INT64: bson_string_append_printf(s, "%" PRId64, bson_iter_int64(it)); break;
    case BSON_TYPE_DOUBLE: bson_string_append_printf(s, "%.17g", bson_iter_double(it)); break;
    case BSON_TYPE_BOOL: bson_string_append(s, bson_iter_bool(it) ? "true" : "false"); break;
    case BSON_TYPE_NULL: bson_string_append(s, "null"); break;
    case BSON_TYPE_UNDEFINED: bson_string_append(s, "undefined"); break;
    case BSON_TYPE_MINKEY: bson_string_append(s, "MinKey"); break;
    case BSON_TYPE_MAXKEY: bson_string_append(s, "MaxKey"); break;
    case BSON_TYPE_UTF8:
        bson_string_append(s, "\"");
        bson_string_append(s, bson_iter_utf8(it, NULL));
        bson_string_append(s, "\"");
        break;
    case BSON_TYPE_OID:
        bson_oid_to_string(bson_iter_oid(it), oid);
        bson_string_append_printf(s, "ObjectId('%s')", oid);
        break;
    case BSON_TYPE_DATE_TIME: bson_string_append_printf(s, "new Date(%" PRId64 ")", bson_iter_date_time(it)); break;
    case BSON_TYPE_DOCUMENT: format_container(s, it, false, depth); break;
    case BSON_TYPE_ARRAY: format_container(s, it, true, depth); break;
    default: bson_string_append_printf(s, "<%s>", bsonutil_type_name(bson_iter_type(it))); break;
    }
}

char *write_format_doc(const bson_t *doc, char *buf, size_t cap)
{
    bson_string_t *s = bson_string_new(NULL);
    bson_iter_t it;
    bool is_first = true;

    bson_string_append(s, "{");
    if (bson_iter_init(&it, doc)) {
        while (bson_iter_next(&it)) {
            bson_string_append(s, is_first ? " " : ", ");
            is_first = false;
            bson_string_append(s, bson_iter_key(&it));
            bson_string_append(s, ": ");
            format_value(s, &it, 1);
            if (s->len > 4096)
                break;
        }
    }
    bson_string_append(s, is_first ? "}" : " }");
    if (s->len < cap) {
        memcpy(buf, s->str, s->len + 1);
    } else {
        memcpy(buf, s->str, cap - 4);
        memcpy(buf + cap - 4, "...", 4);
    }
    bson_string_free(s, true);
    return buf;
}

int write_parse_batch(struct cmd_ctx *ctx, const char *const *allowed, const char *field, struct write_batch *out)
{
    int rc;

    out->is_ordered = true;
    out->n_stmts = 0;
    if ((rc = args_collection(ctx, &out->coll)) < 0 || (rc = args_check_known(ctx, allowed)) < 0 ||
        (rc = args_bool(ctx, "ordered", &out->is_ordered)) < 0 ||
        (rc = write_get_statements(ctx, field, &out->stmts, &out->n_stmts)) < 0 ||
        (rc = write_check_batch_size(out->n_stmts, &ctx->err)) < 0)
        return rc;
    return write_check_ns_writable(ctx->req->db, out->coll, &ctx->err);
}

/* The statement at it as a document (borrowed); false when it is not valid BSON. */
static bool stmt_doc(const bson_iter_t *it, bson_t *out)
{
    const uint8_t *data;
    uint32_t len;

    bson_iter_document(it, &len, &data);
    return bson_init_static(out, data, len);
}

int write_run_statements(struct cmd_ctx *ctx, const struct write_batch *b, const char *what, bool is_update,
                         write_stmt_cb cb)
{
    struct write_result r;
    bson_iter_t it;
    bson_t doc;
    int index = 0, rc;

    bson_iter_init(&it, &b->stmts);
    while (bson_iter_next(&it)) {
        if (!stmt_doc(&it, &doc))
            return err_set(&ctx->err, ERR_INVALID_BSON, "%s statement %d is not valid BSON", what, index);
        if ((rc = cb(ctx, b->coll, &doc, index, NULL, &ctx->err)) < 0)
            return rc;
        index++;
    }
    write_result_init(&r);
    index = 0;
    bson_iter_init(&it, &b->stmts);
    while (bson_iter_next(&it)) {
        struct err e;

        stmt_doc(&it, &doc);
        err_init(&e);
        rc = cb(ctx, b->coll, &doc, index, &r, &e);
        if (write_is_fatal(rc)) {
            err_move(&ctx->err, &e);
            write_result_destroy(&r);
            return rc;
        }
        if (rc < 0)
            write_result_add_error(&r, index, &e);
        err_clear(&e);
        if (rc < 0 && b->is_ordered)
            break;
        index++;
    }
    write_result_append_reply(&r, &ctx->reply, is_update);
    write_result_destroy(&r);
    return 0;
}
