/* cmd_update.c - the update command (updateOne/updateMany/replaceOne).
 *
 * Runs on the writer thread inside the shared write transaction. Each entry
 * of `updates` is one statement: the filter and the update are parsed, the
 * matching documents are collected as copies (at most one unless multi), and
 * only then is each one rewritten, so a document moved by its own update is
 * never seen twice. Unchanged results are not written (nModified counts real
 * changes only). When nothing matched and upsert is set, the document built
 * from the filter's equalities and the update is inserted and reported in
 * `upserted`. Statement errors become writeErrors; ordered batches stop at the
 * first one. Malformed statements (wrong types, unknown fields) fail the whole
 * command, as mongod's request parser does. */
#include "cmd/args.h"
#include "cmd/handlers.h"
#include "cmd/write_common.h"
#include "query/update.h"

#include <string.h>

static const char *const update_fields[] = {"updates", "ordered", "let", NULL};
static const char *const stmt_fields[] = {"q", "u", "upsert", "multi", "arrayFilters", "collation", "hint", "c",
                                          "upsertSupplied", NULL};

struct update_stmt {
    bson_t q;
    bson_value_t u; /* borrowed from the command body */
    bool is_upsert;
    bool is_multi;
    bool has_array_filters;
    bson_t array_filters;
    bool has_collation;
    bson_value_t collation;
};

static int stmt_type_error(struct cmd_ctx *ctx, const char *field, const bson_iter_t *it, const char *expected)
{
    static const struct {
        bson_type_t type;
        const char *name;
    } names[] = {
        {BSON_TYPE_DOUBLE, "double"}, {BSON_TYPE_UTF8, "string"},     {BSON_TYPE_DOCUMENT, "object"},
        {BSON_TYPE_ARRAY, "array"},   {BSON_TYPE_BOOL, "bool"},       {BSON_TYPE_NULL, "null"},
        {BSON_TYPE_INT32, "int"},     {BSON_TYPE_INT64, "long"},      {BSON_TYPE_OID, "objectId"},
        {BSON_TYPE_DATE_TIME, "date"}, {BSON_TYPE_DECIMAL128, "decimal"},
    };
    const char *got = "unknown";

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].type == bson_iter_type(it))
            got = names[i].name;
    return err_set(&ctx->err, ERR_TYPE_MISMATCH, "BSON field 'update.updates.%s' is the wrong type '%s', expected %s",
                   field, got, expected);
}

static bool iter_as_static(const bson_iter_t *it, bson_t *out)
{
    const uint8_t *data;
    uint32_t len;

    if (BSON_ITER_HOLDS_ARRAY(it))
        bson_iter_array(it, &len, &data);
    else
        bson_iter_document(it, &len, &data);
    return bson_init_static(out, data, len);
}

/* Structural parse of one statement (types, required fields); semantic
 * errors come later, per statement, as writeErrors. */
static int stmt_parse(struct cmd_ctx *ctx, const bson_t *doc, struct update_stmt *s)
{
    bson_iter_t it;
    bool has_q = false, has_u = false;
    int rc = write_check_stmt_fields(ctx, "updates", doc, stmt_fields);

    if (rc < 0)
        return rc;
    memset(s, 0, sizeof *s);
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        bson_type_t type = bson_iter_type(&it);

        if (strcmp(key, "q") == 0) {
            if (type != BSON_TYPE_DOCUMENT)
                return stmt_type_error(ctx, key, &it, "type 'object'");
            has_q = iter_as_static(&it, &s->q);
        } else if (strcmp(key, "u") == 0) {
            if (type != BSON_TYPE_DOCUMENT && type != BSON_TYPE_ARRAY)
                return err_set(&ctx->err, ERR_FAILED_TO_PARSE,
                               "Update argument must be either an object or an array");
            s->u = *bson_iter_value(&it);
            has_u = true;
        } else if (strcmp(key, "upsert") == 0 || strcmp(key, "multi") == 0 || strcmp(key, "upsertSupplied") == 0) {
            if (type != BSON_TYPE_BOOL && type != BSON_TYPE_INT32 && type != BSON_TYPE_INT64 &&
                type != BSON_TYPE_DOUBLE)
                return stmt_type_error(ctx, key, &it, "type 'bool'");
            if (strcmp(key, "upsert") == 0)
                s->is_upsert = bson_iter_as_bool(&it);
            else if (strcmp(key, "multi") == 0)
                s->is_multi = bson_iter_as_bool(&it);
        } else if (strcmp(key, "arrayFilters") == 0) {
            if (type != BSON_TYPE_ARRAY)
                return stmt_type_error(ctx, key, &it, "type 'array'");
            s->has_array_filters = iter_as_static(&it, &s->array_filters);
        } else if (strcmp(key, "collation") == 0) {
            if (type != BSON_TYPE_DOCUMENT)
                return stmt_type_error(ctx, key, &it, "type 'object'");
            s->collation = *bson_iter_value(&it);
            s->has_collation = true;
        } else if (strcmp(key, "hint") == 0) {
            if (type != BSON_TYPE_DOCUMENT && type != BSON_TYPE_UTF8)
                return stmt_type_error(ctx, key, &it, "types '[string, object]'");
        } else if (strcmp(key, "c") == 0) {
            if (type != BSON_TYPE_DOCUMENT)
                return stmt_type_error(ctx, key, &it, "type 'object'");
        }
    }
    if (!has_q)
        return err_set(&ctx->err, ERR_MISSING_FIELD, "BSON field 'update.updates.q' is missing but a required field");
    if (!has_u)
        return err_set(&ctx->err, ERR_MISSING_FIELD, "BSON field 'update.updates.u' is missing but a required field");
    return 0;
}

/* Rewrites each target; counts matches and real changes. */
static int apply_to_targets(struct cmd_ctx *ctx, const struct coll_info *c, const struct update *u,
                            struct write_target *targets, int n_targets, struct write_result *r, struct err *e)
{
    for (int i = 0; i < n_targets; i++) {
        struct update_env env = {targets[i].positional_index, false, ctx->now_ms};
        bool is_changed = false;
        bson_t out;
        int rc;

        bson_init(&out);
        rc = update_apply(u, targets[i].doc, &env, &out, &is_changed, e);
        if (rc == 0 && is_changed)
            rc = write_doc_check_updated(&out, e);
        if (rc == 0 && is_changed)
            rc = store_doc_update(ctx->txn, c, targets[i].doc, &out, e);
        bson_destroy(&out);
        if (rc < 0)
            return rc;
        r->n++;
        if (is_changed)
            r->n_modified++;
    }
    return 0;
}

static int upsert_insert(struct cmd_ctx *ctx, const struct coll_info *c, const struct update *u,
                         const struct update_stmt *s, int index, struct write_result *r, struct err *e)
{
    struct update_env env = {-1, true, ctx->now_ms};
    bson_t doc;
    bson_iter_t it;
    int rc;

    bson_init(&doc);
    rc = update_build_upsert(u, &s->q, &env, &doc, e);
    if (rc == 0)
        rc = write_doc_check_updated(&doc, e);
    if (rc == 0)
        rc = store_doc_insert(ctx->txn, c, &doc, e);
    if (rc == 0) {
        r->n++;
        if (bson_iter_init_find(&it, &doc, "_id"))
            write_result_add_upserted(r, index, bson_iter_value(&it));
    }
    bson_destroy(&doc);
    return rc;
}

/* One statement. Returns 0, a statement error (in e), or a fatal error. */
static int update_one_stmt(struct cmd_ctx *ctx, const char *coll, const struct update_stmt *s, int index,
                           struct write_result *r, struct err *e)
{
    struct matcher *m = NULL;
    struct update *u = NULL;
    struct coll_info *c = NULL;
    struct write_target *targets = NULL;
    int n_targets = 0, rc;

    rc = write_check_collation(s->has_collation ? &s->collation : NULL, e);
    if (rc == 0)
        rc = matcher_create(&s->q, &m, e);
    if (rc == 0)
        rc = update_create(&s->u, s->has_array_filters ? &s->array_filters : NULL, &u, e);
    if (rc == 0 && s->is_multi && update_is_replacement(u))
        rc = err_set(e, ERR_FAILED_TO_PARSE, "multi update is not supported for replacement-style update");
    /* Fresh catalog view per statement: an earlier statement may have made
     * an index multikey, which changes how the executor dedupes. */
    if (rc == 0)
        rc = write_coll_get(ctx->txn, ctx->req->db, coll, s->is_upsert, &c, NULL, e);
    if (rc < 0 || c == NULL)
        goto done;

    rc = write_targets_collect(ctx->txn, c, m, s->is_multi ? 0 : 1, &targets, &n_targets, e);
    if (rc == 0)
        rc = apply_to_targets(ctx, c, u, targets, n_targets, r, e);
    if (rc == 0 && n_targets == 0 && s->is_upsert)
        rc = upsert_insert(ctx, c, u, s, index, r, e);
    write_targets_free(targets, n_targets);
done:
    if (c != NULL)
        coll_info_destroy(c);
    if (u != NULL)
        update_destroy(u);
    if (m != NULL)
        matcher_destroy(m);
    return rc;
}

/* One statement: parse it; with r, also run it (write_stmt_cb). */
static int run_update_statement(struct cmd_ctx *ctx, const char *coll, const bson_t *doc, int index,
                                struct write_result *r, struct err *e)
{
    struct update_stmt s;
    int rc = stmt_parse(ctx, doc, &s);

    if (rc < 0 || r == NULL)
        return rc;
    return update_one_stmt(ctx, coll, &s, index, r, e);
}

int cmd_update(struct cmd_ctx *ctx)
{
    struct write_batch b;
    int rc = write_parse_batch(ctx, update_fields, "updates", &b);

    if (rc < 0)
        return rc;
    return write_run_statements(ctx, &b, "update", true, run_update_statement);
}
