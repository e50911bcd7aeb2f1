/* cmd_find.c - the find command.
 *
 * Parses and validates every option the way mongod 6.0 does, then builds a
 * cursor: for an unsorted (or $natural) find the cursor keeps a resumable
 * scan; for a sorted find the whole result is computed here (a blocking sort,
 * capped at 100 MiB of buffered documents like mongod without disk use, and
 * keeping only the best skip+limit when a limit is given) and buffered in the
 * cursor. Tailable cursors are only allowed on capped collections. */
#include "cmd/args.h"
#include "cmd/cursor.h"
#include "cmd/handlers.h"
#include "cmd/oplog_read.h"
#include "cmd/readopt.h"
#include "core/mem.h"
#include "query/sort.h"

#include <stdlib.h>
#include <string.h>

#define SORT_MEMORY_LIMIT_BYTES (100 * 1024 * 1024)
#define DEFAULT_FIRST_BATCH 101

static const char *const find_fields[] = {
    "filter", "projection", "sort", "skip", "limit", "batchSize", "singleBatch", "hint", "min", "max",
    "returnKey", "showRecordId", "allowDiskUse", "noCursorTimeout", "allowPartialResults", "tailable",
    "awaitData", "oplogReplay", "let", "collation", "term", "readOnce", "ntoreturn", "$_requestResumeToken",
    "$_resumeAfter", "isolationLevel", NULL,
};

struct find_opts {
    bson_t filter, projection, sort;
    bool has_filter, has_projection, has_sort;
    int64_t skip, limit, batch_size;
    bool has_batch_size;
    bool is_single_batch, is_tailable, is_await_data, is_no_timeout;
};

static int parse_opts(struct cmd_ctx *ctx, struct find_opts *o)
{
    bool allow_disk = false, flag = false;
    int rc;

    memset(o, 0, sizeof *o);
    if ((rc = args_check_known(ctx, find_fields)) < 0 ||
        (rc = args_doc(ctx, "filter", &o->filter, &o->has_filter)) < 0 ||
        (rc = args_doc(ctx, "projection", &o->projection, &o->has_projection)) < 0 ||
        (rc = args_doc(ctx, "sort", &o->sort, &o->has_sort)) < 0 || (rc = args_int64(ctx, "skip", &o->skip)) < 0 ||
        (rc = args_int64(ctx, "limit", &o->limit)) < 0 || (rc = args_int64(ctx, "batchSize", &o->batch_size)) < 0 ||
        (rc = args_bool(ctx, "singleBatch", &o->is_single_batch)) < 0 ||
        (rc = args_bool(ctx, "tailable", &o->is_tailable)) < 0 ||
        (rc = args_bool(ctx, "awaitData", &o->is_await_data)) < 0 ||
        (rc = args_bool(ctx, "noCursorTimeout", &o->is_no_timeout)) < 0 ||
        (rc = args_bool(ctx, "allowDiskUse", &allow_disk)) < 0 ||
        (rc = args_bool(ctx, "allowPartialResults", &flag)) < 0 || (rc = args_bool(ctx, "returnKey", &flag)) < 0 ||
        (rc = args_bool(ctx, "showRecordId", &flag)) < 0 || (rc = readopt_collation(ctx)) < 0)
        return rc;
    o->has_batch_size = bson_has_field(&ctx->req->body, "batchSize");
    if (o->skip < 0)
        return err_set(&ctx->err, ERR_NEGATIVE_VALUE, "BSON field 'skip' value must be >= 0, actual value '%lld'",
                       (long long)o->skip);
    if (o->batch_size < 0)
        return err_set(&ctx->err, ERR_NEGATIVE_VALUE, "BSON field \'batchSize\' value must be >= 0, actual value '%lld'",
                       (long long)o->batch_size);
    /* A negative limit (legacy drivers) asks for one batch of |limit| documents. */
    if (o->limit < 0) {
        if (o->limit == INT64_MIN)
            return err_set(&ctx->err, ERR_BAD_VALUE, "limit value is out of range");
        o->limit = -o->limit;
        o->is_single_batch = true;
    }
    if (o->is_await_data && !o->is_tailable)
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "Cannot set 'awaitData' without also setting 'tailable'");
    if (o->is_tailable && o->is_single_batch)
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE,
                       "Cannot set both 'tailable' and 'singleBatch' (or a negative limit)");
    return 0;
}

/* --- blocking sort --- */

struct sort_entry {
    uint8_t *key;
    size_t key_len;
    bson_t *doc;
    int positional_index;
    int64_t seq;
};

struct sorter {
    const struct sort_spec *spec;
    struct sort_entry *v;
    size_t n, cap;
    size_t n_bytes;
    int64_t keep; /* 0 = keep everything */
    int64_t seq;
};

static int compare_entries(const void *pa, const void *pb)
{
    const struct sort_entry *a = pa, *b = pb;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);

    if (c != 0)
        return c;
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void sorter_truncate(struct sorter *s, size_t keep)
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, compare_entries);
    for (size_t i = keep; i < s->n; i++) {
        s->n_bytes -= s->v[i].key_len + s->v[i].doc->len;
        free(s->v[i].key);
        bson_destroy(s->v[i].doc);
    }
    if (s->n > keep)
        s->n = keep;
}

static int sorter_add(struct sorter *s, const bson_t *doc, int positional_index, struct err *e)
{
    struct keybuf kb;
    struct sort_entry *en;

    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    keybuf_init(&kb);
    sort_key_append(s->spec, doc, &kb);
    en = &s->v[s->n++];
    en->key = kb.data;
    en->key_len = kb.len;
    en->doc = bson_copy(doc);
    en->positional_index = positional_index;
    en->seq = s->seq++;
    s->n_bytes += en->key_len + en->doc->len;
    if (s->keep > 0 && s->n >= (size_t)s->keep * 2 + 64)
        sorter_truncate(s, (size_t)s->keep);
    if (s->n_bytes > SORT_MEMORY_LIMIT_BYTES)
        return err_set(e, ERR_OPERATION_FAILED,
                       "Executor error during find command :: caused by :: Sort exceeded memory limit of %d bytes, "
                       "but did not opt in to external sorting.",
                       SORT_MEMORY_LIMIT_BYTES);
    return 0;
}

static void sorter_destroy(struct sorter *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        bson_destroy(s->v[i].doc);
    }
    free(s->v);
}

/* Runs the whole scan, sorts, applies skip/limit and the projection, and
 * leaves the results buffered in c (whose scan is then finished). */
static int run_blocking_sort(struct cmd_ctx *ctx, struct cursor *c, const struct coll_info *ci,
                             const struct sort_spec *spec, const struct find_opts *o)
{
    struct sorter s = {.spec = spec};
    struct exec_scan *scan = NULL;
    bson_t doc, shaped;
    int pi, rc;

    if (o->limit > 0 && o->limit <= INT64_MAX / 4 - o->skip && o->skip + o->limit < (1 << 24))
        s.keep = o->skip + o->limit;
    rc = exec_scan_open(ctx->txn, ci, c->matcher, false, NULL, &scan, &ctx->err);
    if (rc < 0)
        return rc;
    for (;;) {
        pi = -1;
        rc = exec_scan_next(scan, &doc, &pi, &ctx->err);
        if (rc <= 0)
            break;
        if ((rc = sorter_add(&s, &doc, pi, &ctx->err)) < 0)
            break;
    }
    exec_scan_close(scan);
    if (rc < 0)
        goto done;
    sorter_truncate(&s, s.n);
    for (size_t i = (size_t)(o->skip < (int64_t)s.n ? o->skip : (int64_t)s.n); i < s.n; i++) {
        if (c->proj) {
            bson_init(&shaped);
            rc = projection_apply(c->proj, s.v[i].doc, s.v[i].positional_index, &shaped, &ctx->err);
            if (rc < 0) {
                bson_destroy(&shaped);
                goto done;
            }
            cursor_buffer_push(c, &shaped);
            bson_destroy(&shaped);
        } else {
            cursor_buffer_push(c, s.v[i].doc);
        }
    }
    rc = 0;
done:
    sorter_destroy(&s);
    c->has_scan = false;
    c->skip_left = 0;
    return rc;
}

static int check_tailable(struct cmd_ctx *ctx, const struct coll_info *ci, const char *ns, int natural,
                          const struct find_opts *o)
{
    if (!o->is_tailable)
        return 0;
    if (!ci->is_capped)
        return err_set(&ctx->err, ERR_BAD_VALUE,
                       "error processing query: ns=%s tree: ... planner returned error :: caused by :: tailable "
                       "cursor requested on non capped collection",
                       ns);
    if (natural < 0)
        return err_set(&ctx->err, ERR_BAD_VALUE,
                       "error processing query: ns=%s planner returned error :: caused by :: cannot use tailable "
                       "option with a sort other than {$natural: 1}",
                       ns);
    return 0;
}

static void reply_empty(struct cmd_ctx *ctx, const char *ns)
{
    bson_t arr;

    bson_init(&arr);
    cursor_append_reply(&ctx->reply, 0, ns, &arr, true);
    bson_destroy(&arr);
}

int cmd_find(struct cmd_ctx *ctx)
{
    struct find_opts o;
    struct coll_info *ci = NULL;
    struct sort_spec *spec = NULL;
    struct cursor *c = NULL;
    const char *coll = NULL;
    int natural = 0, hint_natural = 0, rc;
    int64_t batch_n;
    char ns[300];
    bson_t empty;

    if ((rc = args_collection(ctx, &coll)) < 0 || (rc = args_namespace(ctx, coll, ns, sizeof ns)) < 0)
        return rc;
    if (oplog_read_is_ns(ctx->req->db, coll))
        return oplog_read_find(ctx, coll);
    if ((rc = parse_opts(ctx, &o)) < 0)
        return rc;
    c = cursor_create(ctx->req->db, coll, ns);
    bson_init(&empty);
    rc = matcher_create(o.has_filter ? &o.filter : &empty, &c->matcher, &ctx->err);
    if (rc >= 0 && o.has_projection && bson_count_keys(&o.projection) > 0)
        rc = projection_create(&o.projection, &c->proj, &ctx->err);
    if (rc >= 0 && o.has_sort && bson_count_keys(&o.sort) > 0)
        rc = sort_spec_create(&o.sort, &spec, &ctx->err);
    if (rc < 0)
        goto fail;
    if (spec && sort_spec_natural(spec)) {
        natural = sort_spec_natural(spec);
        sort_spec_destroy(spec);
        spec = NULL;
    }
    if ((rc = store_coll_find(ctx->txn, ctx->req->db, coll, &ci, &ctx->err)) < 0)
        goto fail;
    if (!ci) {
        if (spec)
            sort_spec_destroy(spec);
        cursor_destroy(c);
        reply_empty(ctx, ns);
        return 0;
    }
    if ((rc = readopt_hint(ctx, ci, &hint_natural)) < 0)
        goto fail;
    if (!natural)
        natural = hint_natural;
    if ((rc = check_tailable(ctx, ci, ns, natural, &o)) < 0)
        goto fail;
    if (o.is_tailable && spec) {
        rc = err_set(&ctx->err, ERR_BAD_VALUE, "error processing query: ns=%s planner returned error :: caused by "
                     ":: cannot use tailable option with a sort other than {$natural: 1}", ns);
        goto fail;
    }
    c->coll_id = ci->id;
    c->is_reverse = natural < 0;
    c->limit_left = o.limit > 0 ? o.limit : CURSOR_NO_LIMIT;
    c->skip_left = o.skip;
    c->is_tailable = o.is_tailable;
    c->is_await_data = o.is_await_data;
    c->is_no_timeout = o.is_no_timeout;
    if (spec) {
        if ((rc = run_blocking_sort(ctx, c, ci, spec, &o)) < 0)
            goto fail;
    } else {
        c->has_scan = true;
    }
    batch_n = o.has_batch_size ? o.batch_size : DEFAULT_FIRST_BATCH;
    if (o.is_single_batch && !o.has_batch_size)
        batch_n = CURSOR_NO_LIMIT;
    if (o.limit > 0 && o.limit < batch_n)
        batch_n = o.limit;
    if (spec)
        sort_spec_destroy(spec);
    coll_info_destroy(ci);
    return cursor_reply_first(ctx, c, batch_n, o.is_single_batch);
fail:
    if (spec)
        sort_spec_destroy(spec);
    if (ci)
        coll_info_destroy(ci);
    cursor_destroy(c);
    return rc;
}
