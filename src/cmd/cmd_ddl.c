/* cmd_ddl.c - collection and database DDL: create, drop, dropDatabase,
 * renameCollection.
 *
 * Run on the writer thread inside the shared write transaction. Each checks
 * its request fully before calling the store, whose catalog changes are
 * all-or-nothing, so a failed command changes nothing. Features the storage
 * engine does not have (views, time series, clustered indexes, collations)
 * fail with NotImplemented instead of being silently ignored; a validator is
 * kept in the collection options (listCollections shows it) but not enforced. */
#include "cmd/args.h"
#include "cmd/handlers.h"
#include "cmd/write_common.h"

#include <math.h>
#include <string.h>

static const char *const create_fields[] = {
    "capped",          "size",         "max",       "validator",       "validationLevel",
    "validationAction", "collation",   "viewOn",    "pipeline",        "timeseries",
    "clusteredIndex",  "changeStreamPreAndPostImages", "idIndex", "autoIndexId", "storageEngine",
    "indexOptionDefaults", "expireAfterSeconds", "encryptedFields", "flags", "temp", NULL,
};

/* Options that are stored with the collection (listCollections shows them);
 * the rest of the body is request plumbing. */
static bool is_stored_option(const char *key)
{
    static const char *const stored[] = {"validator", "validationLevel", "validationAction",
                                         "changeStreamPreAndPostImages", "storageEngine", "indexOptionDefaults",
                                         NULL};
    for (const char *const *s = stored; *s; s++)
        if (strcmp(*s, key) == 0)
            return true;
    return false;
}

static int check_enum(struct cmd_ctx *ctx, const char *field, const char *const *allowed)
{
    const char *v = NULL;
    int rc = args_utf8(ctx, field, &v);

    if (rc < 0 || v == NULL)
        return rc;
    for (; *allowed; allowed++)
        if (strcmp(*allowed, v) == 0)
            return 0;
    return err_set(&ctx->err, ERR_BAD_VALUE, "Enumeration value '%s' for field 'create.%s' is not a valid value.", v,
                   field);
}

/* Reads a byte/document limit given as any number; the store takes int64. */
static int get_limit(struct cmd_ctx *ctx, const char *field, int64_t *out)
{
    bson_iter_t it;
    double d;

    if (!bson_iter_init_find(&it, &ctx->req->body, field))
        return 0;
    if (!BSON_ITER_HOLDS_NUMBER(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field 'create.%s' is the wrong type, expected types '[long, int, decimal, double]'",
                       field);
    d = bson_iter_as_double(&it);
    if (!isfinite(d) || d < 0 || d > 1e15 + 0.5)
        return err_set(&ctx->err, ERR_BAD_VALUE, "BSON field 'create.%s' value must be between 0 and 1PB, got %g",
                       field, d);
    *out = (int64_t)ceil(d);
    return 0;
}

static int create_check_unsupported(struct cmd_ctx *ctx)
{
    static const char *const levels[] = {"off", "strict", "moderate", NULL};
    static const char *const actions[] = {"error", "warn", NULL};
    bson_iter_t it;
    int rc;

    if (bson_iter_init_find(&it, &ctx->req->body, "viewOn") || bson_iter_init_find(&it, &ctx->req->body, "pipeline"))
        return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "views are not supported by this server yet");
    if (bson_iter_init_find(&it, &ctx->req->body, "timeseries"))
        return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "time-series collections are not supported by this server yet");
    if (bson_iter_init_find(&it, &ctx->req->body, "clusteredIndex"))
        return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "clustered collections are not supported by this server yet");
    if (bson_iter_init_find(&it, &ctx->req->body, "encryptedFields"))
        return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "encrypted collections are not supported by this server yet");
    if (bson_iter_init_find(&it, &ctx->req->body, "collation")) {
        rc = write_check_collation(bson_iter_value(&it), &ctx->err);
        if (rc < 0)
            return rc;
    }
    if (bson_iter_init_find(&it, &ctx->req->body, "validator") && !BSON_ITER_HOLDS_DOCUMENT(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field 'create.validator' is the wrong type, expected type 'object'");
    rc = check_enum(ctx, "validationLevel", levels);
    if (rc == 0)
        rc = check_enum(ctx, "validationAction", actions);
    return rc;
}

int cmd_create(struct cmd_ctx *ctx)
{
    const char *coll = NULL;
    bool is_capped = false;
    int64_t size = -1, max = 0;
    bson_t options;
    bson_iter_t it;
    int rc;

    rc = args_collection(ctx, &coll);
    if (rc == 0)
        rc = args_check_known(ctx, create_fields);
    if (rc == 0)
        rc = args_bool(ctx, "capped", &is_capped);
    if (rc == 0)
        rc = get_limit(ctx, "size", &size);
    if (rc == 0)
        rc = get_limit(ctx, "max", &max);
    if (rc == 0)
        rc = create_check_unsupported(ctx);
    if (rc < 0)
        return rc;
    if (is_capped && size < 0)
        return err_set(&ctx->err, ERR_INVALID_OPTIONS, "the 'size' field is required when 'capped' is true");

    /* Normalised option types, so the store and listCollections see
     * {capped: true, size: long, max: long} whatever numeric types came in. */
    bson_init(&options);
    if (is_capped) {
        BSON_APPEND_BOOL(&options, "capped", true);
        BSON_APPEND_INT64(&options, "size", size);
        if (max > 0)
            BSON_APPEND_INT64(&options, "max", max);
    }
    bson_iter_init(&it, &ctx->req->body);
    while (bson_iter_next(&it))
        if (is_stored_option(bson_iter_key(&it)))
            bson_append_value(&options, bson_iter_key(&it), -1, bson_iter_value(&it));

    rc = store_coll_create(ctx->txn, ctx->req->db, coll, &options, NULL, &ctx->err);
    bson_destroy(&options);
    if (rc == -ERR_NAMESPACE_EXISTS)
        return err_set(&ctx->err, ERR_NAMESPACE_EXISTS, "Collection %s.%s already exists.", ctx->req->db, coll);
    return rc;
}

int cmd_drop(struct cmd_ctx *ctx)
{
    static const char *const fields[] = {NULL};
    const char *coll = NULL;
    struct coll_info *c = NULL;
    char ns[300];
    int n_indexes, rc;

    rc = args_collection(ctx, &coll);
    if (rc == 0)
        rc = args_check_known(ctx, fields);
    if (rc == 0)
        rc = args_namespace(ctx, coll, ns, sizeof ns);
    if (rc == 0)
        rc = store_coll_find(ctx->txn, ctx->req->db, coll, &c, &ctx->err);
    if (rc < 0)
        return rc;
    /* mongod 6.0 answers NamespaceNotFound; drivers ignore it for drop. */
    if (c == NULL)
        return err_set(&ctx->err, ERR_NAMESPACE_NOT_FOUND, "ns not found");
    n_indexes = c->n_indexes;
    rc = store_coll_drop(ctx->txn, c, &ctx->err);
    coll_info_destroy(c);
    if (rc < 0)
        return rc;
    BSON_APPEND_INT32(&ctx->reply, "nIndexesWas", n_indexes);
    BSON_APPEND_UTF8(&ctx->reply, "ns", ns);
    return 0;
}

int cmd_drop_database(struct cmd_ctx *ctx)
{
    static const char *const fields[] = {NULL};
    int rc = args_check_known(ctx, fields);

    if (rc < 0)
        return rc;
    if (!args_is_valid_db_name(ctx->req->db))
        return err_set(&ctx->err, ERR_INVALID_NAMESPACE, "Invalid database name: '%s'", ctx->req->db);
    /* The admin database holds server-wide state; mongod refuses too. */
    if (strcmp(ctx->req->db, "admin") == 0)
        return err_set(&ctx->err, ERR_ILLEGAL_OPERATION, "Dropping the 'admin' database is prohibited.");
    rc = store_db_drop(ctx->txn, ctx->req->db, &ctx->err);
    if (rc < 0)
        return rc;
    BSON_APPEND_UTF8(&ctx->reply, "dropped", ctx->req->db);
    return 0;
}

/* Splits "db.coll" at the first dot into db (buffer) and coll (borrowed). */
static bool split_ns(const char *ns, char *db, size_t cap, const char **coll)
{
    const char *dot = strchr(ns, '.');

    if (dot == NULL || (size_t)(dot - ns) >= cap || strlen(ns) > 255)
        return false;
    memcpy(db, ns, (size_t)(dot - ns));
    db[dot - ns] = '\0';
    *coll = dot + 1;
    return args_is_valid_db_name(db) && args_is_valid_coll_name(*coll);
}

int cmd_rename_collection(struct cmd_ctx *ctx)
{
    static const char *const fields[] = {"to", "dropTarget", "stayTemp", NULL};
    const char *from = NULL, *to = NULL, *from_coll, *to_coll;
    char from_db[128], to_db[128];
    bool is_drop_target = false;
    struct coll_info *c = NULL, *target = NULL;
    bson_iter_t it;
    int rc;

    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_UTF8(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                       "BSON field 'renameCollection.renameCollection' is the wrong type, expected type 'string'");
    from = bson_iter_utf8(&it, NULL);
    rc = args_check_known(ctx, fields);
    if (rc == 0)
        rc = args_utf8(ctx, "to", &to);
    if (rc == 0)
        rc = args_bool(ctx, "dropTarget", &is_drop_target);
    if (rc < 0)
        return rc;
    if (to == NULL)
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'renameCollection.to' is missing but a required field");
    if (!split_ns(from, from_db, sizeof from_db, &from_coll))
        return err_set(&ctx->err, ERR_INVALID_NAMESPACE, "Invalid source namespace: %s", from);
    if (!split_ns(to, to_db, sizeof to_db, &to_coll))
        return err_set(&ctx->err, ERR_INVALID_NAMESPACE, "Invalid target namespace: %s", to);
    if (strcmp(from, to) == 0)
        return err_set(&ctx->err, ERR_ILLEGAL_OPERATION, "Can't rename a collection to itself");
    rc = write_check_ns_writable(from_db, from_coll, &ctx->err);
    if (rc == 0)
        rc = write_check_ns_writable(to_db, to_coll, &ctx->err);
    if (rc == 0)
        rc = store_coll_find(ctx->txn, from_db, from_coll, &c, &ctx->err);
    if (rc < 0)
        return rc;
    if (c == NULL)
        return err_set(&ctx->err, ERR_NAMESPACE_NOT_FOUND, "source namespace does not exist");
    rc = store_coll_find(ctx->txn, to_db, to_coll, &target, &ctx->err);
    if (rc == 0 && target != NULL && !is_drop_target)
        rc = err_set(&ctx->err, ERR_NAMESPACE_EXISTS, "target namespace exists");
    if (rc == 0)
        rc = store_coll_rename(ctx->txn, c, to_db, to_coll, is_drop_target, &ctx->err);
    if (target != NULL)
        coll_info_destroy(target);
    coll_info_destroy(c);
    return rc;
}
