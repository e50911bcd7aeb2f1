/* cmd_insert.c - the insert command.
 *
 * Runs on the writer thread inside the shared write transaction. Each
 * document is one statement: validated and given a leading _id
 * (write_common.c), then stored; the store detects duplicate keys before it
 * changes anything, so a failed statement leaves no trace and becomes a
 * writeErrors entry. Ordered batches stop at the first error, unordered ones
 * carry on. The collection is created on first use, as mongod does. */
#include "cmd/args.h"
#include "cmd/handlers.h"
#include "cmd/write_common.h"

static const char *const insert_fields[] = {"documents", "ordered", NULL};

/* One statement: returns 0, a statement error (recorded in r), or a fatal
 * storage error for the caller to return. */
static int insert_one(struct cmd_ctx *ctx, const struct coll_info *c, const bson_t *doc, int index,
                      struct write_result *r)
{
    struct err e;
    bson_t stored;
    int rc;

    err_init(&e);
    rc = write_doc_prepare_insert(doc, &stored, &e);
    if (rc == 0) {
        rc = store_doc_insert(ctx->txn, c, &stored, &e);
        bson_destroy(&stored);
    }
    if (rc == 0) {
        r->n++;
    } else if (write_is_fatal(rc)) {
        err_move(&ctx->err, &e);
        return rc;
    } else {
        write_result_add_error(r, index, &e);
    }
    err_clear(&e);
    return rc;
}

int cmd_insert(struct cmd_ctx *ctx)
{
    struct write_batch b;
    bson_iter_t it;
    struct coll_info *c = NULL;
    struct write_result r;
    int index = 0, rc;

    rc = write_parse_batch(ctx, insert_fields, "documents", &b);
    if (rc == 0)
        rc = write_coll_get(ctx->txn, ctx->req->db, b.coll, true, &c, NULL, &ctx->err);
    if (rc < 0)
        return rc;

    write_result_init(&r);
    bson_iter_init(&it, &b.stmts);
    while (bson_iter_next(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t doc;

        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&doc, data, len)) {
            struct err e;
            err_init(&e);
            err_set(&e, ERR_INVALID_BSON, "document %d is not valid BSON", index);
            write_result_add_error(&r, index, &e);
            err_clear(&e);
            rc = -ERR_INVALID_BSON;
        } else {
            rc = insert_one(ctx, c, &doc, index, &r);
            if (write_is_fatal(rc))
                goto out;
        }
        if (rc < 0 && b.is_ordered)
            break;
        index++;
    }
    write_result_append_reply(&r, &ctx->reply, false);
    rc = 0;
out:
    write_result_destroy(&r);
    if (c != NULL)
        coll_info_destroy(c);
    return rc;
}
