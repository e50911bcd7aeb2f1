/* cmd_indexes.c - createIndexes and dropIndexes (alias deleteIndexes).
 *
 * Run on the writer thread inside the shared write transaction. createIndexes
 * validates every specification before building any, builds them one by one
 * through the store, and if one build fails (e.g. duplicates under unique)
 * drops the ones this command already built, so the command is all or
 * nothing like mongod's. Index types the engine lacks (text, geo, hashed,
 * wildcard, partial) fail with NotImplemented. expireAfterSeconds is kept in
 * the specification (listIndexes shows it) but TTL deletion is not run. */
#include "cmd/args.h"
#include "cmd/handlers.h"
#include "cmd/write_common.h"
#include "core/mem.h"
#include "query/bsonval.h"

#include <stdio.h>
#include <string.h>

static const char *const create_fields[] = {"indexes", "commitQuorum", "ignoreUnknownIndexOptions", NULL};

static int spec_error(struct cmd_ctx *ctx, const bson_t *spec, int code, const char *msg)
{
    char buf[512];

    return err_set(&ctx->err, code, "Error in specification %s :: caused by :: %s",
                   write_format_doc(spec, buf, sizeof buf), msg);
}

static bool is_one_of(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

/* The key pattern: ascending/descending numbers on non-empty, non-$ paths. */
static int check_key(struct cmd_ctx *ctx, const bson_t *spec, const bson_t *key)
{
    static const char *const plugins[] = {"text", "2d", "2dsphere", "geoHaystack", "hashed", NULL};
    bson_iter_t it;
    char msg[256];

    if (bson_empty(key))
        return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX, "Index keys cannot be an empty field.");
    bson_iter_init(&it, key);
    while (bson_iter_next(&it)) {
        const char *field = bson_iter_key(&it);
        const bson_value_t *v = bson_iter_value(&it);

        if (field[0] == '\0')
            return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX, "Index keys cannot be an empty field.");
        if (field[0] == '$' || strstr(field, ".$") != NULL || strstr(field, "$**") != NULL) {
            if (strcmp(field, "$**") == 0 || strstr(field, ".$**") != NULL)
                return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "wildcard indexes are not supported by this server yet");
            return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX,
                              "Index key contains an illegal field name: field name starts with '$'.");
        }
        if (v->value_type == BSON_TYPE_UTF8) {
            if (is_one_of(v->value.v_utf8.str, plugins))
                return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "'%s' indexes are not supported by this server yet",
                               v->value.v_utf8.str);
            snprintf(msg, sizeof msg, "Unknown index plugin '%s'", v->value.v_utf8.str);
            return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX, msg);
        }
        if (!bsonval_is_number(v)) {
            snprintf(msg, sizeof msg,
                     "Values in v:2 index key pattern cannot be of type %s. Only numbers > 0, numbers < 0, and "
                     "strings are allowed.",
                     v->value_type == BSON_TYPE_BOOL       ? "bool"
                     : v->value_type == BSON_TYPE_NULL     ? "null"
                     : v->value_type == BSON_TYPE_DOCUMENT ? "object"
                     : v->value_type == BSON_TYPE_ARRAY    ? "array"
                                                           : "non-number");
            return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX, msg);
        }
        if (bsonval_as_double(v) == 0 || bsonval_as_double(v) != bsonval_as_double(v))
            return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX,
                              "Values in the index key pattern can't be 0 or NaN; use 1 or -1");
    }
    return 0;
}

/* Validates one specification and writes the normalised form the store
 * takes, {v: 2, key, name, unique?, sparse?, expireAfterSeconds?}, into *out
 * (initialised on success only). */
static int spec_normalize(struct cmd_ctx *ctx, const bson_t *spec, bson_t *out)
{
    static const char *const ignored[] = {"v", "background", "ns", "dropDups", NULL};
    static const char *const unsupported[] = {"partialFilterExpression", "hidden", "weights", "default_language",
                                              "language_override", "textIndexVersion", "2dsphereIndexVersion",
                                              "bits", "min", "max", "bucketSize", "wildcardProjection",
                                              "storageEngine", "prepareUnique", NULL};
    bson_iter_t it;
    bson_t key;
    const char *name = NULL;
    bool has_key = false, is_unique = false, is_sparse = false, has_ttl = false;
    bson_value_t ttl;
    char msg[256];
    int rc;

    bson_iter_init(&it, spec);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);

        if (strcmp(k, "key") == 0) {
            const uint8_t *data;
            uint32_t len;
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                return spec_error(ctx, spec, ERR_TYPE_MISMATCH, "The field 'key' must be an object");
            bson_iter_document(&it, &len, &data);
            has_key = bson_init_static(&key, data, len);
        } else if (strcmp(k, "name") == 0) {
            if (!BSON_ITER_HOLDS_UTF8(&it))
                return spec_error(ctx, spec, ERR_TYPE_MISMATCH, "The field 'name' must be a string");
            name = bson_iter_utf8(&it, NULL);
        } else if (strcmp(k, "unique") == 0 || strcmp(k, "sparse") == 0) {
            if (!BSON_ITER_HOLDS_BOOL(&it) && !BSON_ITER_HOLDS_NUMBER(&it))
                return spec_error(ctx, spec, ERR_TYPE_MISMATCH, "The fields 'unique' and 'sparse' must be booleans");
            if (k[0] == 'u')
                is_unique = bson_iter_as_bool(&it);
            else
                is_sparse = bson_iter_as_bool(&it);
        } else if (strcmp(k, "expireAfterSeconds") == 0) {
            if (!BSON_ITER_HOLDS_NUMBER(&it) || bson_iter_as_double(&it) < 0)
                return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX,
                                  "TTL index 'expireAfterSeconds' option must be a non-negative number");
            ttl = *bson_iter_value(&it);
            has_ttl = true;
        } else if (strcmp(k, "collation") == 0) {
            rc = write_check_collation(bson_iter_value(&it), &ctx->err);
            if (rc < 0)
                return rc;
        } else if (is_one_of(k, unsupported)) {
            return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "index option '%s' is not supported by this server yet", k);
        } else if (!is_one_of(k, ignored)) {
            snprintf(msg, sizeof msg, "The field '%s' is not valid for an index specification.", k);
            return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX, msg);
        }
    }
    if (!has_key)
        return spec_error(ctx, spec, ERR_FAILED_TO_PARSE,
                          "The 'key' field is a required property of an index specification");
    if (name == NULL)
        return spec_error(ctx, spec, ERR_FAILED_TO_PARSE,
                          "The 'name' field is a required property of an index specification");
    if (name[0] == '\0')
        return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX, "The index name cannot be empty");
    rc = check_key(ctx, spec, &key);
    if (rc < 0)
        return rc;
    if (bson_iter_init_find(&it, &key, "_id") && bson_count_keys(&key) == 1 && (is_unique || is_sparse))
        return spec_error(ctx, spec, ERR_CANNOT_CREATE_INDEX,
                          is_unique ? "The field 'unique' is not valid for an _id index specification."
                                    : "The field 'sparse' is not valid for an _id index specification.");

    bson_init(out);
    BSON_APPEND_INT32(out, "v", 2);
    BSON_APPEND_DOCUMENT(out, "key", &key);
    BSON_APPEND_UTF8(out, "name", name);
    if (is_unique)
        BSON_APPEND_BOOL(out, "unique", true);
    if (is_sparse)
        BSON_APPEND_BOOL(out, "sparse", true);
    if (has_ttl)
        bson_append_value(out, "expireAfterSeconds", -1, &ttl);
    return 0;
}

static int parse_specs(struct cmd_ctx *ctx, bson_t **specs_out, int *n_out)
{
    bson_t arr;
    bson_iter_t it;
    bool is_present = false;
    bson_t *specs = NULL;
    int n = 0, rc;

    rc = args_array(ctx, "indexes", &arr, &is_present);
    if (rc < 0)
        return rc;
    if (!is_present)
        return err_set(&ctx->err, ERR_MISSING_FIELD,
                       "BSON field 'createIndexes.indexes' is missing but a required field");
    if (bson_empty(&arr))
        return err_set(&ctx->err, ERR_BAD_VALUE, "Must specify at least one index to create");
    specs = xcalloc(bson_count_keys(&arr), sizeof *specs);
    bson_iter_init(&it, &arr);
    while (bson_iter_next(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t spec;

        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            rc = err_set(&ctx->err, ERR_TYPE_MISMATCH,
                         "BSON field 'createIndexes.indexes.%d' is the wrong type, expected type 'object'", n);
            goto fail;
        }
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&spec, data, len)) {
            rc = err_set(&ctx->err, ERR_INVALID_BSON, "index specification %d is not valid BSON", n);
            goto fail;
        }
        rc = spec_normalize(ctx, &spec, &specs[n]);
        if (rc < 0)
            goto fail;
        n++;
    }
    *specs_out = specs;
    *n_out = n;
    return 0;
fail:
    for (int i = 0; i < n; i++)
        bson_destroy(&specs[i]);
    free(specs);
    return rc;
}

/* Drops the indexes this command built before a later one failed. */
static void undo_created(struct cmd_ctx *ctx, const char *coll, bson_t *specs, const bool *is_created, int n)
{
    struct coll_info *c = NULL;
    struct err e;
    bson_iter_t it;

    err_init(&e);
    for (int i = 0; i < n; i++) {
        if (!is_created[i] || !bson_iter_init_find(&it, &specs[i], "name"))
            continue;
        if (write_coll_get(ctx->txn, ctx->req->db, coll, false, &c, NULL, &e) == 0 && c != NULL) {
            store_index_drop(ctx->txn, c, bson_iter_utf8(&it, NULL), &e);
            coll_info_destroy(c);
        }
        c = NULL;
    }
    err_clear(&e);
}

int cmd_create_indexes(struct cmd_ctx *ctx)
{
    const char *coll = NULL;
    bson_t *specs = NULL;
    bool *is_created = NULL;
    bool is_coll_created = false;
    struct coll_info *c = NULL;
    int n_specs = 0, n_before = 0, n_created = 0, rc;

    rc = args_collection(ctx, &coll);
    if (rc == 0)
        rc = args_check_known(ctx, create_fields);
    if (rc == 0)
        rc = write_check_ns_writable(ctx->req->db, coll, &ctx->err);
    if (rc == 0)
        rc = parse_specs(ctx, &specs, &n_specs);
    if (rc < 0)
        return rc;
    rc = write_coll_get(ctx->txn, ctx->req->db, coll, true, &c, &is_coll_created, &ctx->err);
    if (rc < 0)
        goto done;
    n_before = c->n_indexes;
    is_created = xcalloc((size_t)n_specs, sizeof *is_created);
    for (int i = 0; i < n_specs; i++) {
        /* Re-read the catalog so each build sees the ones before it. */
        if (i > 0) {
            coll_info_destroy(c);
            c = NULL;
            rc = write_coll_get(ctx->txn, ctx->req->db, coll, false, &c, NULL, &ctx->err);
            if (rc == 0 && c == NULL)
                rc = err_set(&ctx->err, ERR_INTERNAL_ERROR, "collection %s.%s vanished during createIndexes",
                             ctx->req->db, coll);
            if (rc < 0)
                goto done;
        }
        rc = store_index_create(ctx->txn, c, &specs[i], &is_created[i], &ctx->err);
        if (rc < 0) {
            if (!write_is_fatal(rc))
                undo_created(ctx, coll, specs, is_created, i);
            goto done;
        }
        n_created += is_created[i];
    }
    BSON_APPEND_INT32(&ctx->reply, "numIndexesBefore", n_before);
    BSON_APPEND_INT32(&ctx->reply, "numIndexesAfter", n_before + n_created);
    BSON_APPEND_BOOL(&ctx->reply, "createdCollectionAutomatically", is_coll_created);
    if (n_created == 0)
        BSON_APPEND_UTF8(&ctx->reply, "note", "all indexes already exist");
done:
    for (int i = 0; i < n_specs; i++)
        bson_destroy(&specs[i]);
    free(specs);
    free(is_created);
    if (c != NULL)
        coll_info_destroy(c);
    return rc;
}

/* --- dropIndexes --- */

static int find_by_key(struct cmd_ctx *ctx, const struct coll_info *c, const bson_t *key)
{
    char buf[256];

    for (int i = 0; i < c->n_indexes; i++)
        if (bson_equal(&c->indexes[i].key, key))
            return i;
    return err_set(&ctx->err, ERR_INDEX_NOT_FOUND, "can't find index with key: %s", write_format_doc(key, buf, sizeof buf));
}

static int find_by_name(struct cmd_ctx *ctx, const struct coll_info *c, const char *name)
{
    for (int i = 0; i < c->n_indexes; i++)
        if (strcmp(c->indexes[i].name, name) == 0)
            return i;
    return err_set(&ctx->err, ERR_INDEX_NOT_FOUND, "index not found with name [%s]", name);
}

/* Resolves the `index` argument into the list of names to drop (borrowed
 * from c), checking every one exists and none is _id_ before anything is
 * dropped. "*" means every index but _id_. */
static int resolve_targets(struct cmd_ctx *ctx, const struct coll_info *c, const bson_iter_t *arg,
                           const char ***names_out, int *n_out, bool *is_all)
{
    const char **names = xcalloc((size_t)c->n_indexes + 1, sizeof *names);
    int n = 0, i, rc = 0;

    *is_all = false;
    if (BSON_ITER_HOLDS_UTF8(arg) && strcmp(bson_iter_utf8(arg, NULL), "*") == 0) {
        *is_all = true;
        for (i = 1; i < c->n_indexes; i++)
            names[n++] = c->indexes[i].name;
    } else if (BSON_ITER_HOLDS_UTF8(arg)) {
        rc = i = find_by_name(ctx, c, bson_iter_utf8(arg, NULL));
        if (rc >= 0)
            names[n++] = c->indexes[i].name;
    } else if (BSON_ITER_HOLDS_DOCUMENT(arg)) {
        const uint8_t *data;
        uint32_t len;
        bson_t key;
        bson_iter_document(arg, &len, &data);
        if (!bson_init_static(&key, data, len))
            rc = err_set(&ctx->err, ERR_INVALID_BSON, "index key is not valid BSON");
        else if ((rc = i = find_by_key(ctx, c, &key)) >= 0)
            names[n++] = c->indexes[i].name;
    } else if (BSON_ITER_HOLDS_ARRAY(arg)) {
        bson_iter_t el;
        bson_iter_recurse(arg, &el);
        while (rc >= 0 && bson_iter_next(&el)) {
            if (!BSON_ITER_HOLDS_UTF8(&el)) {
                rc = err_set(&ctx->err, ERR_TYPE_MISMATCH, "dropIndexes %s.%s: index names must be strings",
                             c->db, c->name);
                break;
            }
            if ((rc = i = find_by_name(ctx, c, bson_iter_utf8(&el, NULL))) >= 0 && n < c->n_indexes)
                names[n++] = c->indexes[i].name;
        }
    } else {
        rc = err_set(&ctx->err, ERR_TYPE_MISMATCH,
                     "BSON field 'dropIndexes.index' is the wrong type, expected types '[string, object, array]'");
    }
    for (i = 0; rc >= 0 && i < n; i++)
        if (strcmp(names[i], "_id_") == 0)
            rc = err_set(&ctx->err, ERR_INVALID_OPTIONS, "cannot drop _id index");
    if (rc < 0) {
        free(names);
        return rc;
    }
    *names_out = names;
    *n_out = n;
    return 0;
}

int cmd_drop_indexes(struct cmd_ctx *ctx)
{
    static const char *const fields[] = {"index", NULL};
    const char *coll = NULL;
    const char **names = NULL;
    struct coll_info *c = NULL;
    bson_iter_t arg;
    bool is_all = false;
    int n_names = 0, rc;

    rc = args_collection(ctx, &coll);
    if (rc == 0)
        rc = args_check_known(ctx, fields);
    if (rc < 0)
        return rc;
    if (!bson_iter_init_find(&arg, &ctx->req->body, "index"))
        return err_set(&ctx->err, ERR_MISSING_FIELD, "BSON field '%s.index' is missing but a required field",
                       ctx->req->name);
    rc = write_coll_get(ctx->txn, ctx->req->db, coll, false, &c, NULL, &ctx->err);
    if (rc < 0)
        return rc;
    if (c == NULL)
        return err_set(&ctx->err, ERR_NAMESPACE_NOT_FOUND, "ns not found %s.%s", ctx->req->db, coll);
    rc = resolve_targets(ctx, c, &arg, &names, &n_names, &is_all);
    /* A fresh catalog view for each drop: the previous one changed it. */
    for (int i = 0; rc == 0 && i < n_names; i++) {
        struct coll_info *now = NULL;
        rc = write_coll_get(ctx->txn, ctx->req->db, coll, false, &now, NULL, &ctx->err);
        if (rc == 0 && now != NULL)
            rc = store_index_drop(ctx->txn, now, names[i], &ctx->err);
        if (now != NULL)
            coll_info_destroy(now);
    }
    if (rc == 0) {
        BSON_APPEND_INT32(&ctx->reply, "nIndexesWas", c->n_indexes);
        if (is_all)
            BSON_APPEND_UTF8(&ctx->reply, "msg", "non-_id indexes dropped for collection");
    }
    free(names);
    coll_info_destroy(c);
    return rc;
}
