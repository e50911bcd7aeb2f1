/* cmd_delete.c - the delete command (deleteOne/deleteMany).
 *
 * Runs on the writer thread inside the shared write transaction. Each entry
 * of `deletes` is one statement {q, limit: 0|1}: the matching documents are
 * collected as copies first (one when limit is 1), then removed. A missing
 * collection simply matches nothing. Filter errors become writeErrors;
 * malformed statements (wrong types, unknown fields, a limit other than 0 or
 * 1) fail the whole command, as mongod's request parser does. */
#include "cmd/args.h"
#include "cmd/handlers.h"
#include "cmd/write_common.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static const char *const delete_fields[] = {"deletes", "ordered", "let", NULL};
static const char *const stmt_fields[] = {"q", "limit", "collation", "hint", NULL};

struct delete_stmt {
    bson_t q;
    int64_t limit;
    bool has_collation;
    bson_value_t collation;
};

static int stmt_parse(struct cmd_ctx *ctx, const bson_t *doc, struct delete_stmt *s)
{
    bson_iter_t it;
    bool has_q = false, has_limit = false;
    int rc = write_check_stmt_fields(ctx, "deletes", doc, stmt_fields);

    if (rc < 0)
        return rc;
    memset(s, 0, sizeof *s);
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);

        if (strcmp(key, "q") == 0) {
            const uint8_t *data;
            uint32_t len;
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                               "BSON field 'delete.deletes.q' is the wrong type, expected type 'object'");
            bson_iter_document(&it, &len, &data);
            has_q = bson_init_static(&s->q, data, len);
        } else if (strcmp(key, "limit") == 0) {
            double d;
            if (!BSON_ITER_HOLDS_NUMBER(&it))
                return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                               "BSON field 'delete.deletes.limit' is the wrong type, expected a number");
            d = bson_iter_as_double(&it);
            /* Only "delete one" and "delete all" exist (mongod's write_ops
             * parser enforces it for every statement). */
            if (d != 0 && d != 1)
                return err_set(&ctx->err, ERR_FAILED_TO_PARSE,
                               "The limit field in delete objects must be 0 or 1. Got %" PRId64,
                               isfinite(d) && fabs(d) < 9e18 ? (int64_t)d : INT64_MAX);
            s->limit = (int64_t)d;
            has_limit = true;
        } else if (strcmp(key, "collation") == 0) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                               "BSON field 'delete.deletes.collation' is the wrong type, expected type 'object'");
            s->collation = *bson_iter_value(&it);
            s->has_collation = true;
        } else if (strcmp(key, "hint") == 0) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_UTF8(&it))
                return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                               "BSON field 'delete.deletes.hint' is the wrong type, expected types '[string, object]'");
        }
    }
    if (!has_q)
        return err_set(&ctx->err, ERR_MISSING_FIELD, "BSON field 'delete.deletes.q' is missing but a required field");
    if (!has_limit)
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'delete.deletes.limit' is missing but a required field");
    return 0;
}

static int delete_one_stmt(struct cmd_ctx *ctx, const char *coll, const struct delete_stmt *s,
                           struct write_result *r, struct err *e)
{
    struct matcher *m = NULL;
    struct coll_info *c = NULL;
    struct write_target *targets = NULL;
    int n_targets = 0, rc;

    rc = write_check_collation(s->has_collation ? &s->collation : NULL, e);
    if (rc == 0)
        rc = matcher_create(&s->q, &m, e);
    if (rc == 0)
        rc = write_coll_get(ctx->txn, ctx->req->db, coll, false, &c, NULL, e);
    if (rc < 0 || c == NULL)
        goto done;
    rc = write_targets_collect(ctx->txn, c, m, s->limit, &targets, &n_targets, e);
    for (int i = 0; rc == 0 && i < n_targets; i++) {
        rc = store_doc_delete(ctx->txn, c, targets[i].doc, e);
        if (rc == 0)
            r->n++;
    }
    write_targets_free(targets, n_targets);
done:
    if (c != NULL)
        coll_info_destroy(c);
    if (m != NULL)
        matcher_destroy(m);
    return rc;
}

/* One statement: parse it; with r, also run it (write_stmt_cb). */
static int run_delete_statement(struct cmd_ctx *ctx, const char *coll, const bson_t *doc, int index,
                                struct write_result *r, struct err *e)
{
    struct delete_stmt s;
    int rc = stmt_parse(ctx, doc, &s);

    (void)index; /* deletes report no upserted index */
    if (rc < 0 || r == NULL)
        return rc;
    return delete_one_stmt(ctx, coll, &s, r, e);
}

int cmd_delete(struct cmd_ctx *ctx)
{
    struct write_batch b;
    int rc = write_parse_batch(ctx, delete_fields, "deletes", &b);

    if (rc < 0)
        return rc;
    return write_run_statements(ctx, &b, "delete", false, run_delete_statement);
}
