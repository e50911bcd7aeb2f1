/* cmd_count.c - count and distinct.
 *
 * count without a filter answers from the collection statistics (O(1), as
 * drivers' estimatedDocumentCount expects); with a filter it runs the shared
 * executor. distinct collects the values at a dotted path (array elements
 * count one by one), then sorts and dedupes them in MongoDB's value order,
 * which is also the order mongod returns them in. */
#include "cmd/args.h"
#include "cmd/exec.h"
#include "cmd/handlers.h"
#include "cmd/oplog_read.h"
#include "cmd/readopt.h"
#include "core/mem.h"
#include "query/bsonval.h"

#include <stdlib.h>
#include <string.h>

#define DISTINCT_MAX_BYTES (16 * 1024 * 1024)

static const char *const count_fields[] = {"query", "limit", "skip", "hint", "collation", "fields", NULL};

static void append_count(bson_t *reply, int64_t n)
{
    if (n <= INT32_MAX)
        bson_append_int32(reply, "n", -1, (int32_t)n);
    else
        bson_append_int64(reply, "n", -1, n);
}

static int count_matches(struct cmd_ctx *ctx, const struct coll_info *ci, const bson_t *query, int natural,
                         int64_t *n_out)
{
    struct matcher *m = NULL;
    struct exec_scan *s = NULL;
    bson_t doc;
    int64_t n = 0;
    int rc;

    if ((rc = matcher_create(query, &m, &ctx->err)) < 0)
        return rc;
    rc = exec_scan_open(ctx->txn, ci, m, natural < 0, NULL, &s, &ctx->err);
    while (rc >= 0 && (rc = exec_scan_next(s, &doc, NULL, &ctx->err)) > 0)
        n++;
    exec_scan_close(s);
    matcher_destroy(m);
    if (rc < 0)
        return rc;
    *n_out = n;
    return 0;
}

int cmd_count(struct cmd_ctx *ctx)
{
    const char *coll = NULL;
    struct coll_info *ci = NULL;
    struct coll_stats st;
    bson_t query;
    bool has_query = false;
    int64_t limit = 0, skip = 0, n = 0;
    int natural = 0, rc;

    if ((rc = args_collection(ctx, &coll)) < 0 || (rc = args_check_known(ctx, count_fields)) < 0 ||
        (rc = args_doc(ctx, "query", &query, &has_query)) < 0 || (rc = args_int64(ctx, "limit", &limit)) < 0 ||
        (rc = args_int64(ctx, "skip", &skip)) < 0 || (rc = readopt_collation(ctx)) < 0)
        return rc;
    if (skip < 0)
        return err_set(&ctx->err, ERR_NEGATIVE_VALUE, "BSON field 'skip' value must be >= 0, actual value '%lld'", (long long)skip);
    /* A negative limit means the same as its absolute value for count. */
    if (limit < 0)
        limit = limit == INT64_MIN ? INT64_MAX : -limit;
    if (oplog_read_is_ns(ctx->req->db, coll)) {
        if ((rc = oplog_read_count(ctx, coll, has_query ? &query : NULL, &n)) < 0)
            return rc;
        n = n > skip ? n - skip : 0;
        append_count(&ctx->reply, limit > 0 && n > limit ? limit : n);
        return 0;
    }
    if ((rc = store_coll_find(ctx->txn, ctx->req->db, coll, &ci, &ctx->err)) < 0)
        return rc;
    if (!ci) {
        append_count(&ctx->reply, 0);
        return 0;
    }
    if ((rc = readopt_hint(ctx, ci, &natural)) < 0)
        goto done;
    if (!has_query || bson_count_keys(&query) == 0) {
        if ((rc = store_coll_stats(ctx->txn, ci, &st, &ctx->err)) < 0)
            goto done;
        n = st.n_docs;
    } else if ((rc = count_matches(ctx, ci, &query, natural, &n)) < 0) {
        goto done;
    }
    n = n > skip ? n - skip : 0;
    if (limit > 0 && n > limit)
        n = limit;
    append_count(&ctx->reply, n);
    rc = 0;
done:
    coll_info_destroy(ci);
    return rc;
}

/* --- distinct --- */

struct value_set {
    bson_value_t *v; /* owned copies */
    size_t n, cap;
    size_t n_bytes;
};

static void set_add(struct value_set *s, const bson_value_t *v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    bson_value_copy(v, &s->v[s->n++]);
}

static int compare_values(const void *a, const void *b)
{
    return bsonval_compare(a, b);
}

/* Sorts and drops duplicates; keeps the first of equal values (1 and 1.0 are equal). */
static void set_finish(struct value_set *s)
{
    size_t w = 0;

    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof *s->v, compare_values);
    for (size_t i = 1; i < s->n; i++) {
        if (bsonval_compare(&s->v[w], &s->v[i]) == 0) {
            bson_value_destroy(&s->v[i]);
        } else {
            s->v[++w] = s->v[i];
        }
    }
    s->n = w + 1;
}

static void set_destroy(struct value_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        bson_value_destroy(&s->v[i]);
    free(s->v);
}

static bool visit_value(const bson_value_t *v, void *arg)
{
    struct value_set *s = arg;
    bson_iter_t it;
    bson_t arr;

    if (v->value_type != BSON_TYPE_ARRAY) {
        set_add(s, v);
        return true;
    }
    if (bson_init_static(&arr, v->value.v_doc.data, v->value.v_doc.data_len) && bson_iter_init(&it, &arr))
        while (bson_iter_next(&it))
            set_add(s, bson_iter_value(&it));
    return true;
}

/* Keeps the candidate set small on big scans: dedupe whenever it doubles. */
static void maybe_compact(struct value_set *s, size_t *next_compact)
{
    if (s->n < *next_compact)
        return;
    set_finish(s);
    *next_compact = s->n * 2 + 1024;
}

static int collect_distinct(struct cmd_ctx *ctx, const struct coll_info *ci, const bson_t *query, const char *key,
                            struct value_set *set)
{
    struct matcher *m = NULL;
    struct exec_scan *s = NULL;
    size_t next_compact = 4096;
    bson_t doc;
    int rc;

    if ((rc = matcher_create(query, &m, &ctx->err)) < 0)
        return rc;
    rc = exec_scan_open(ctx->txn, ci, m, false, NULL, &s, &ctx->err);
    while (rc >= 0 && (rc = exec_scan_next(s, &doc, NULL, &ctx->err)) > 0) {
        bsonval_walk_path(&doc, key, visit_value, set);
        maybe_compact(set, &next_compact);
    }
    exec_scan_close(s);
    matcher_destroy(m);
    return rc < 0 ? rc : 0;
}

static const char *const distinct_fields[] = {"key", "query", "collation", "hint", NULL};

int cmd_distinct(struct cmd_ctx *ctx)
{
    const char *coll = NULL, *key = NULL;
    struct coll_info *ci = NULL;
    struct value_set set = {0};
    bson_t query, empty, arr;
    bool has_query = false;
    int natural = 0, rc;
    char idx[24];

    if ((rc = args_collection(ctx, &coll)) < 0 || (rc = args_check_known(ctx, distinct_fields)) < 0 ||
        (rc = args_utf8(ctx, "key", &key)) < 0 || (rc = args_doc(ctx, "query", &query, &has_query)) < 0 ||
        (rc = readopt_collation(ctx)) < 0)
        return rc;
    if (!key)
        return err_set(&ctx->err, ERR_MISSING_FIELD, "BSON field 'distinct.key' is missing but a required field");
    bson_init(&empty);
    if ((rc = store_coll_find(ctx->txn, ctx->req->db, coll, &ci, &ctx->err)) < 0)
        return rc;
    if (ci) {
        if ((rc = readopt_hint(ctx, ci, &natural)) < 0 ||
            (rc = collect_distinct(ctx, ci, has_query ? &query : &empty, key, &set)) < 0)
            goto done;
    }
    set_finish(&set);
    bson_init(&arr);
    for (size_t i = 0; i < set.n; i++) {
        snprintf(idx, sizeof idx, "%zu", i);
        bson_append_value(&arr, idx, -1, &set.v[i]);
    }
    if (arr.len > DISTINCT_MAX_BYTES) {
        bson_destroy(&arr);
        rc = err_set(&ctx->err, ERR_BSON_OBJECT_TOO_LARGE, "distinct too big, 16mb cap");
        goto done;
    }
    bson_append_array(&ctx->reply, "values", -1, &arr);
    bson_destroy(&arr);
    rc = 0;
done:
    set_destroy(&set);
    if (ci)
        coll_info_destroy(ci);
    return rc;
}
