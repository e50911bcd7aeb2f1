/* cmd_find_and_modify.c - findAndModify (findOneAndUpdate/Replace/Delete).
 *
 * Runs on the writer thread inside the shared write transaction. Picks one
 * document (the first match, or the first in `sort` order among all matches),
 * then removes it, updates it, or (nothing matched, upsert) inserts a new one,
 * and returns the pre-image (default) or post-image (new: true) through the
 * optional projection `fields`. Unlike insert/update/delete, every failure
 * here is a command error; a duplicate key carries keyPattern/keyValue. */
#include "cmd/args.h"
#include "cmd/handlers.h"
#include "cmd/write_common.h"
#include "query/project.h"
#include "query/sort.h"
#include "query/update.h"

#include <string.h>

static const char *const fam_fields[] = {"query", "sort",         "remove", "update",    "new",  "fields",
                                         "upsert", "arrayFilters", "hint",   "collation", "let", NULL};

struct fam_args {
    const char *coll;
    bson_t query, sort, fields, array_filters;
    bool has_sort, has_fields, has_array_filters, has_update;
    bson_value_t update;
    bool is_remove, is_new, is_upsert;
};

static int parse_args(struct cmd_ctx *ctx, struct fam_args *a)
{
    bool has_query = false;
    bson_iter_t it;
    int rc;

    memset(a, 0, sizeof *a);
    rc = args_collection(ctx, &a->coll);
    if (rc == 0)
        rc = args_check_known(ctx, fam_fields);
    if (rc == 0)
        rc = args_doc(ctx, "query", &a->query, &has_query);
    if (rc == 0)
        rc = args_doc(ctx, "sort", &a->sort, &a->has_sort);
    if (rc == 0)
        rc = args_doc(ctx, "fields", &a->fields, &a->has_fields);
    if (rc == 0)
        rc = args_array(ctx, "arrayFilters", &a->array_filters, &a->has_array_filters);
    if (rc == 0)
        rc = args_bool(ctx, "remove", &a->is_remove);
    if (rc == 0)
        rc = args_bool(ctx, "new", &a->is_new);
    if (rc == 0)
        rc = args_bool(ctx, "upsert", &a->is_upsert);
    if (rc < 0)
        return rc;
    if (!has_query)
        bson_init_static(&a->query, (const uint8_t *)"\x05\0\0\0\0", 5);
    if (bson_iter_init_find(&it, &ctx->req->body, "collation")) {
        rc = write_check_collation(bson_iter_value(&it), &ctx->err);
        if (rc < 0)
            return rc;
    }
    if (bson_iter_init_find(&it, &ctx->req->body, "update") && !BSON_ITER_HOLDS_NULL(&it)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it))
            return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "Update argument must be either an object or an array");
        a->update = *bson_iter_value(&it);
        a->has_update = true;
    }
    /* mongod's findAndModify request rules, checked in its order. */
    if (a->is_remove) {
        if (a->has_update)
            return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "Cannot specify both an update and remove=true");
        if (a->is_upsert)
            return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "Cannot specify both upsert=true and remove=true");
        if (a->is_new)
            return err_set(&ctx->err, ERR_FAILED_TO_PARSE,
                           "Cannot specify both new=true and remove=true; 'remove' always returns the deleted "
                           "document");
        if (a->has_array_filters)
            return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "Cannot specify arrayFilters and remove=true");
    } else if (!a->has_update) {
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "Either an update or remove=true must be specified");
    }
    return write_check_ns_writable(ctx->req->db, a->coll, &ctx->err);
}

static int key_compare(const struct keybuf *a, const struct keybuf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->data, b->data, n);

    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Index of the target that sorts first (ties keep scan order), or -1. */
static int pick_target(const struct sort_spec *sort, const struct write_target *targets, int n)
{
    struct keybuf best, cur;
    int best_i = -1;

    if (n == 0)
        return -1;
    if (sort == NULL || sort_spec_natural(sort) > 0)
        return 0;
    if (sort_spec_natural(sort) < 0)
        return n - 1;
    keybuf_init(&best);
    keybuf_init(&cur);
    for (int i = 0; i < n; i++) {
        keybuf_reset(&cur);
        sort_key_append(sort, targets[i].doc, &cur);
        if (best_i < 0 || key_compare(&cur, &best) < 0) {
            keybuf_reset(&best);
            keybuf_append(&best, cur.data, cur.len);
            best_i = i;
        }
    }
    keybuf_destroy(&best);
    keybuf_destroy(&cur);
    return best_i;
}

/* The reply's `value`: doc through the projection (into *out, owned), or
 * null when doc is NULL (*is_null). Computed before any store change, so a
 * projection error leaves the collection untouched. */
static int project_value(struct cmd_ctx *ctx, const struct projection *p, const bson_t *doc, int positional,
                         bson_t *out, bool *is_null)
{
    *is_null = doc == NULL;
    if (doc == NULL)
        return 0;
    if (p == NULL) {
        bson_copy_to(doc, out);
        return 0;
    }
    bson_init(out);
    if (projection_apply(p, doc, positional, out, &ctx->err) < 0) {
        bson_destroy(out);
        return -ctx->err.code;
    }
    return 0;
}

/* Appends lastErrorObject then value (and takes ownership of *value). */
static void append_result(struct cmd_ctx *ctx, int n, int updated_existing, const bson_value_t *upserted_id,
                          bson_t *value, bool is_null)
{
    bson_t leo;

    BSON_APPEND_DOCUMENT_BEGIN(&ctx->reply, "lastErrorObject", &leo);
    BSON_APPEND_INT32(&leo, "n", n);
    if (updated_existing >= 0)
        BSON_APPEND_BOOL(&leo, "updatedExisting", updated_existing > 0);
    if (upserted_id != NULL)
        bson_append_value(&leo, "upserted", -1, upserted_id);
    bson_append_document_end(&ctx->reply, &leo);
    if (is_null) {
        BSON_APPEND_NULL(&ctx->reply, "value");
    } else {
        BSON_APPEND_DOCUMENT(&ctx->reply, "value", value);
        bson_destroy(value);
    }
}

static int do_remove(struct cmd_ctx *ctx, const struct coll_info *c, const struct write_target *t,
                     const struct projection *p)
{
    bson_t value;
    bool is_null;
    int rc = project_value(ctx, p, t ? t->doc : NULL, t ? t->positional_index : -1, &value, &is_null);

    if (rc < 0)
        return rc;
    if (t != NULL)
        rc = store_doc_delete(ctx->txn, c, t->doc, &ctx->err);
    if (rc < 0) {
        if (!is_null)
            bson_destroy(&value);
        return rc;
    }
    append_result(ctx, t != NULL ? 1 : 0, -1, NULL, &value, is_null);
    return 0;
}

static int do_update(struct cmd_ctx *ctx, const struct fam_args *a, const struct coll_info *c,
                     const struct write_target *t, const struct projection *p)
{
    struct update *u = NULL;
    struct update_env env = {t ? t->positional_index : -1, t == NULL, ctx->now_ms};
    bool is_changed = false, is_inserting = false, is_null = true;
    const bson_t *shown = NULL;
    bson_t post, value;
    bson_iter_t it;
    int rc;

    bson_init(&post);
    rc = update_create(&a->update, a->has_array_filters ? &a->array_filters : NULL, &u, &ctx->err);
    if (rc < 0)
        goto done;
    if (t != NULL) {
        rc = update_apply(u, t->doc, &env, &post, &is_changed, &ctx->err);
        if (rc == 0 && is_changed)
            rc = write_doc_check_updated(&post, &ctx->err);
        shown = a->is_new && is_changed ? &post : t->doc;
    } else if (a->is_upsert) {
        rc = update_build_upsert(u, &a->query, &env, &post, &ctx->err);
        if (rc == 0)
            rc = write_doc_check_updated(&post, &ctx->err);
        is_inserting = true;
        shown = a->is_new ? &post : NULL;
    }
    if (rc == 0)
        rc = project_value(ctx, p, shown, t ? t->positional_index : -1, &value, &is_null);
    if (rc < 0)
        goto done;

    if (t != NULL && is_changed)
        rc = store_doc_update(ctx->txn, c, t->doc, &post, &ctx->err);
    else if (is_inserting)
        rc = store_doc_insert(ctx->txn, c, &post, &ctx->err);
    if (rc < 0) {
        if (!is_null)
            bson_destroy(&value);
        goto done;
    }
    append_result(ctx, t != NULL || is_inserting ? 1 : 0, t != NULL,
                  is_inserting && bson_iter_init_find(&it, &post, "_id") ? bson_iter_value(&it) : NULL, &value,
                  is_null);
done:
    bson_destroy(&post);
    if (u != NULL)
        update_destroy(u);
    return rc;
}

int cmd_find_and_modify(struct cmd_ctx *ctx)
{
    struct fam_args a;
    struct matcher *m = NULL;
    struct sort_spec *sort = NULL;
    struct projection *p = NULL;
    struct coll_info *c = NULL;
    struct write_target *targets = NULL;
    int n_targets = 0, pick = -1, rc;

    rc = parse_args(ctx, &a);
    if (rc == 0)
        rc = matcher_create(&a.query, &m, &ctx->err);
    if (rc == 0 && a.has_sort)
        rc = sort_spec_create(&a.sort, &sort, &ctx->err);
    if (rc == 0 && a.has_fields && !bson_empty(&a.fields))
        rc = projection_create(&a.fields, &p, &ctx->err);
    if (rc == 0)
        rc = write_coll_get(ctx->txn, ctx->req->db, a.coll, a.is_upsert, &c, NULL, &ctx->err);
    if (rc < 0)
        goto done;
    if (c != NULL) {
        /* Without a sort the first match is the answer; with one every match
         * is a candidate. */
        bool is_first_only = sort == NULL || sort_spec_natural(sort) > 0;
        rc = write_targets_collect(ctx->txn, c, m, is_first_only ? 1 : 0, &targets, &n_targets, &ctx->err);
        if (rc < 0)
            goto done;
        pick = pick_target(sort, targets, n_targets);
    }
    if (a.is_remove)
        rc = do_remove(ctx, c, pick >= 0 ? &targets[pick] : NULL, p);
    else
        rc = do_update(ctx, &a, c, pick >= 0 ? &targets[pick] : NULL, p);
done:
    write_targets_free(targets, n_targets);
    if (c != NULL)
        coll_info_destroy(c);
    if (p != NULL)
        projection_destroy(p);
    if (sort != NULL)
        sort_spec_destroy(sort);
    if (m != NULL)
        matcher_destroy(m);
    return rc;
}
