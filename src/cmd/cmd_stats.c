/* cmd_stats.c - collStats and dbStats.
 *
 * Both are computed from the store's per-collection statistics in the
 * command's read transaction. Sizes are divided by `scale` (default 1) like
 * mongod; averages are not scaled. The store keeps one index-bytes figure per
 * collection, so indexSizes spreads it evenly over the indexes (an estimate,
 * as storage sizes are anyway). */
#include "cmd/args.h"
#include "cmd/handlers.h"
#include "cmd/oplog_read.h"
#include "net/server.h"

#include <stdio.h>
#include <sys/statvfs.h>

static void append_num(bson_t *b, const char *key, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX)
        bson_append_int32(b, key, -1, (int32_t)v);
    else
        bson_append_int64(b, key, -1, v);
}

static int parse_scale(struct cmd_ctx *ctx, int64_t *scale)
{
    int rc;

    *scale = 1;
    if ((rc = args_int64(ctx, "scale", scale)) < 0)
        return rc;
    if (*scale < 1)
        return err_set(&ctx->err, ERR_BAD_VALUE, "scale has to be >= 1");
    return 0;
}

static const char *const coll_stats_fields[] = {"scale", "verbose", NULL};

int cmd_coll_stats(struct cmd_ctx *ctx)
{
    const char *coll = NULL;
    struct coll_info *ci = NULL;
    struct coll_stats st;
    int64_t scale, per_index;
    char ns[300];
    bson_t sizes;
    int rc;

    if ((rc = args_collection(ctx, &coll)) < 0 || (rc = args_check_known(ctx, coll_stats_fields)) < 0 ||
        (rc = parse_scale(ctx, &scale)) < 0 || (rc = args_namespace(ctx, coll, ns, sizeof ns)) < 0)
        return rc;
    if (oplog_read_is_ns(ctx->req->db, coll))
        return oplog_read_coll_stats(ctx, coll, scale);
    if ((rc = store_coll_find(ctx->txn, ctx->req->db, coll, &ci, &ctx->err)) < 0)
        return rc;
    if (!ci)
        return err_set(&ctx->err, ERR_NAMESPACE_NOT_FOUND, "Collection [%s] not found.", ns);
    if ((rc = store_coll_stats(ctx->txn, ci, &st, &ctx->err)) < 0) {
        coll_info_destroy(ci);
        return rc;
    }
    BSON_APPEND_UTF8(&ctx->reply, "ns", ns);
    append_num(&ctx->reply, "size", st.data_bytes / scale);
    append_num(&ctx->reply, "count", st.n_docs);
    if (st.n_docs > 0)
        append_num(&ctx->reply, "avgObjSize", st.data_bytes / st.n_docs);
    append_num(&ctx->reply, "storageSize", st.storage_bytes / scale);
    append_num(&ctx->reply, "freeStorageSize", 0);
    BSON_APPEND_BOOL(&ctx->reply, "capped", ci->is_capped);
    if (ci->is_capped) {
        append_num(&ctx->reply, "max", ci->capped_max_docs);
        append_num(&ctx->reply, "maxSize", ci->capped_size_bytes / scale);
    }
    append_num(&ctx->reply, "nindexes", ci->n_indexes);
    append_num(&ctx->reply, "totalIndexSize", st.index_bytes / scale);
    append_num(&ctx->reply, "totalSize", (st.storage_bytes + st.index_bytes) / scale);
    bson_append_document_begin(&ctx->reply, "indexSizes", -1, &sizes);
    per_index = ci->n_indexes > 0 ? st.index_bytes / ci->n_indexes : 0;
    for (int i = 0; i < ci->n_indexes; i++)
        append_num(&sizes, ci->indexes[i].name, per_index / scale);
    bson_append_document_end(&ctx->reply, &sizes);
    append_num(&ctx->reply, "scaleFactor", scale);
    coll_info_destroy(ci);
    return 0;
}

static const char *const db_stats_fields[] = {"scale", "freeStorage", NULL};

int cmd_db_stats(struct cmd_ctx *ctx)
{
    struct coll_info **list = NULL;
    int64_t scale, objects = 0, data = 0, storage = 0, index_bytes = 0, n_indexes = 0;
    double fs_used = 0, fs_total = 0;
    struct statvfs vfs;
    int n = 0, rc;

    if ((rc = args_check_known(ctx, db_stats_fields)) < 0 || (rc = parse_scale(ctx, &scale)) < 0)
        return rc;
    if (!args_is_valid_db_name(ctx->req->db))
        return err_set(&ctx->err, ERR_INVALID_NAMESPACE, "Invalid database name: '%s'", ctx->req->db);
    if ((rc = store_coll_list(ctx->txn, ctx->req->db, &list, &n, &ctx->err)) < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        struct coll_stats st;
        if ((rc = store_coll_stats(ctx->txn, list[i], &st, &ctx->err)) < 0) {
            coll_info_list_free(list, n);
            return rc;
        }
        objects += st.n_docs;
        data += st.data_bytes;
        storage += st.storage_bytes;
        index_bytes += st.index_bytes;
        n_indexes += list[i]->n_indexes;
    }
    coll_info_list_free(list, n);
    if (ctx->srv && ctx->srv->cfg.dbpath && statvfs(ctx->srv->cfg.dbpath, &vfs) == 0) {
        fs_total = (double)vfs.f_blocks * (double)vfs.f_frsize;
        fs_used = fs_total - (double)vfs.f_bfree * (double)vfs.f_frsize;
    }
    BSON_APPEND_UTF8(&ctx->reply, "db", ctx->req->db);
    append_num(&ctx->reply, "collections", n);
    append_num(&ctx->reply, "views", 0);
    append_num(&ctx->reply, "objects", objects);
    BSON_APPEND_DOUBLE(&ctx->reply, "avgObjSize", objects ? (double)data / (double)objects : 0.0);
    BSON_APPEND_DOUBLE(&ctx->reply, "dataSize", (double)data / (double)scale);
    BSON_APPEND_DOUBLE(&ctx->reply, "storageSize", (double)storage / (double)scale);
    append_num(&ctx->reply, "indexes", n_indexes);
    BSON_APPEND_DOUBLE(&ctx->reply, "indexSize", (double)index_bytes / (double)scale);
    BSON_APPEND_DOUBLE(&ctx->reply, "totalSize", (double)(storage + index_bytes) / (double)scale);
    append_num(&ctx->reply, "scaleFactor", scale);
    BSON_APPEND_DOUBLE(&ctx->reply, "fsUsedSize", fs_used / (double)scale);
    BSON_APPEND_DOUBLE(&ctx->reply, "fsTotalSize", fs_total / (double)scale);
    return 0;
}
