/* cmd_list.c - listCollections, listIndexes and listDatabases.
 *
 * All three read the catalog in the command's read transaction. The first
 * two answer with a cursor over buffered documents (namespaces
 * "db.$cmd.listCollections" and "db.$cmd.listIndexes.<coll>", which clients
 * send back as getMore's collection); listDatabases answers inline, deriving
 * the databases from the collections that exist. */
#include "cmd/args.h"
#include "cmd/cursor.h"
#include "cmd/handlers.h"
#include "cmd/oplog_read.h"
#include "core/mem.h"
#include "query/match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FIRST_BATCH 101

/* Reads cursor.batchSize from the command (absent: the default first batch). */
static int parse_batch_size(struct cmd_ctx *ctx, int64_t *batch_n)
{
    bson_t cur;
    bool is_present = false;
    bson_iter_t it;
    int rc;

    *batch_n = DEFAULT_FIRST_BATCH;
    if ((rc = args_doc(ctx, "cursor", &cur, &is_present)) < 0)
        return rc;
    if (is_present && bson_iter_init_find(&it, &cur, "batchSize")) {
        if (!BSON_ITER_HOLDS_NUMBER(&it))
            return err_set(&ctx->err, ERR_TYPE_MISMATCH, "BSON field '%s.cursor.batchSize' is the wrong type, "
                           "expected a number", ctx->req->name);
        *batch_n = bson_iter_as_int64(&it);
        if (*batch_n < 0)
            return err_set(&ctx->err, ERR_NEGATIVE_VALUE,
                           "BSON field \'batchSize\' value must be >= 0, actual value '%lld'", (long long)*batch_n);
    }
    return 0;
}

static int make_matcher(struct cmd_ctx *ctx, struct matcher **m)
{
    bson_t filter, empty;
    bool has_filter = false;
    int rc;

    if ((rc = args_doc(ctx, "filter", &filter, &has_filter)) < 0)
        return rc;
    bson_init(&empty);
    return matcher_create(has_filter ? &filter : &empty, m, &ctx->err);
}

static void build_coll_doc(const struct coll_info *c, bson_t *out)
{
    bson_t sub, key;

    bson_init(out);
    BSON_APPEND_UTF8(out, "name", c->name);
    BSON_APPEND_UTF8(out, "type", "collection");
    BSON_APPEND_DOCUMENT(out, "options", &c->options);
    bson_append_document_begin(out, "info", -1, &sub);
    BSON_APPEND_BOOL(&sub, "readOnly", false);
    bson_append_binary(&sub, "uuid", -1, BSON_SUBTYPE_UUID, c->uuid, 16);
    bson_append_document_end(out, &sub);
    bson_append_document_begin(out, "idIndex", -1, &sub);
    BSON_APPEND_INT32(&sub, "v", 2);
    bson_append_document_begin(&sub, "key", -1, &key);
    BSON_APPEND_INT32(&key, "_id", 1);
    bson_append_document_end(&sub, &key);
    BSON_APPEND_UTF8(&sub, "name", "_id_");
    bson_append_document_end(out, &sub);
}

static const char *const list_collections_fields[] = {"filter", "nameOnly", "authorizedCollections", "cursor",
                                                      "includePendingDrops", NULL};

int cmd_list_collections(struct cmd_ctx *ctx)
{
    struct coll_info **list = NULL;
    struct matcher *m = NULL;
    struct cursor *c;
    bool is_name_only = false, is_authorized = false;
    int64_t batch_n;
    int n = 0, rc;
    char ns[300];

    if ((rc = args_check_known(ctx, list_collections_fields)) < 0 ||
        (rc = args_bool(ctx, "nameOnly", &is_name_only)) < 0 ||
        (rc = args_bool(ctx, "authorizedCollections", &is_authorized)) < 0 ||
        (rc = parse_batch_size(ctx, &batch_n)) < 0)
        return rc;
    if (!args_is_valid_db_name(ctx->req->db))
        return err_set(&ctx->err, ERR_INVALID_NAMESPACE, "Invalid database name: '%s'", ctx->req->db);
    if ((rc = make_matcher(ctx, &m)) < 0)
        return rc;
    if ((rc = store_coll_list(ctx->txn, ctx->req->db, &list, &n, &ctx->err)) < 0) {
        matcher_destroy(m);
        return rc;
    }
    snprintf(ns, sizeof ns, "%s.$cmd.listCollections", ctx->req->db);
    c = cursor_create(ctx->req->db, "$cmd.listCollections", ns);
    for (int i = 0; i < n; i++) {
        bson_t doc, short_doc;
        build_coll_doc(list[i], &doc);
        if (matcher_match(m, &doc)) {
            if (is_name_only) {
                bson_init(&short_doc);
                BSON_APPEND_UTF8(&short_doc, "name", list[i]->name);
                BSON_APPEND_UTF8(&short_doc, "type", "collection");
                cursor_buffer_push(c, &short_doc);
                bson_destroy(&short_doc);
            } else {
                cursor_buffer_push(c, &doc);
            }
        }
        bson_destroy(&doc);
    }
    coll_info_list_free(list, n);
    rc = oplog_read_list_collections(ctx, m, is_name_only, c);
    matcher_destroy(m);
    if (rc < 0) {
        cursor_destroy(c);
        return rc;
    }
    return cursor_reply_first(ctx, c, batch_n, false);
}

static const char *const list_indexes_fields[] = {"cursor", "includeBuildUUIDs", "includeIndexBuildInfo", NULL};

int cmd_list_indexes(struct cmd_ctx *ctx)
{
    const char *coll = NULL;
    struct coll_info *ci = NULL;
    struct cursor *c;
    int64_t batch_n;
    char ns[600], cns[300], full[300];
    int rc;

    if ((rc = args_collection(ctx, &coll)) < 0 || (rc = args_check_known(ctx, list_indexes_fields)) < 0 ||
        (rc = parse_batch_size(ctx, &batch_n)) < 0 || (rc = args_namespace(ctx, coll, full, sizeof full)) < 0)
        return rc;
    if ((rc = store_coll_find(ctx->txn, ctx->req->db, coll, &ci, &ctx->err)) < 0)
        return rc;
    if (!ci)
        return err_set(&ctx->err, ERR_NAMESPACE_NOT_FOUND, "ns does not exist: %s", full);
    snprintf(cns, sizeof cns, "$cmd.listIndexes.%s", coll);
    snprintf(ns, sizeof ns, "%s.%s", ctx->req->db, cns);
    c = cursor_create(ctx->req->db, cns, ns);
    for (int i = 0; i < ci->n_indexes; i++)
        cursor_buffer_push(c, &ci->indexes[i].spec);
    coll_info_destroy(ci);
    return cursor_reply_first(ctx, c, batch_n, false);
}

struct db_entry {
    const char *name; /* borrowed from the collection list */
    int64_t size_bytes;
};

static const char *const list_databases_fields[] = {"nameOnly", "filter", "authorizedDatabases", NULL};

int cmd_list_databases(struct cmd_ctx *ctx)
{
    struct coll_info **list = NULL;
    struct db_entry *dbs;
    struct matcher *m = NULL;
    bool is_name_only = false, is_authorized = false;
    int n = 0, n_dbs = 0, n_out = 0, rc;
    int64_t total = 0;
    bson_t arr;
    char key[24];

    if ((rc = args_check_known(ctx, list_databases_fields)) < 0 ||
        (rc = args_bool(ctx, "nameOnly", &is_name_only)) < 0 ||
        (rc = args_bool(ctx, "authorizedDatabases", &is_authorized)) < 0 || (rc = make_matcher(ctx, &m)) < 0)
        return rc;
    if ((rc = store_coll_list(ctx->txn, NULL, &list, &n, &ctx->err)) < 0) {
        matcher_destroy(m);
        return rc;
    }
    dbs = xcalloc((size_t)n + 1, sizeof *dbs);
    /* The list is sorted by database, so each database is one run. */
    for (int i = 0; i < n; i++) {
        struct coll_stats st = {0};
        if (n_dbs == 0 || strcmp(dbs[n_dbs - 1].name, list[i]->db) != 0)
            dbs[n_dbs++].name = list[i]->db;
        if ((rc = store_coll_stats(ctx->txn, list[i], &st, &ctx->err)) < 0)
            goto done;
        dbs[n_dbs - 1].size_bytes += st.storage_bytes + st.index_bytes;
    }
    bson_init(&arr);
    for (int i = 0; i < n_dbs; i++) {
        bson_t doc;
        bson_init(&doc);
        BSON_APPEND_UTF8(&doc, "name", dbs[i].name);
        if (!is_name_only) {
            BSON_APPEND_INT64(&doc, "sizeOnDisk", dbs[i].size_bytes);
            BSON_APPEND_BOOL(&doc, "empty", false);
        }
        if (matcher_match(m, &doc)) {
            snprintf(key, sizeof key, "%d", n_out++);
            BSON_APPEND_DOCUMENT(&arr, key, &doc);
            total += dbs[i].size_bytes;
        }
        bson_destroy(&doc);
    }
    BSON_APPEND_ARRAY(&ctx->reply, "databases", &arr);
    bson_destroy(&arr);
    if (!is_name_only) {
        BSON_APPEND_INT64(&ctx->reply, "totalSize", total);
        BSON_APPEND_INT64(&ctx->reply, "totalSizeMb", total / (1024 * 1024));
    }
    rc = 0;
done:
    free(dbs);
    coll_info_list_free(list, n);
    matcher_destroy(m);
    return rc;
}
