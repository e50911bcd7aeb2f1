/* oplog_read.c - find/getMore/count/aggregate/listCollections/collStats on
 * local.oplog.rs and local.system.replset (see oplog_read.h).
 *
 * The oplog is read straight from its LMDB sub-database in timestamp order.
 * Timestamp bounds found at the top level of the filter ({ts: X}, {ts: {$gte:
 * X, $lt: Y}}, ...) become the range of the iterator, so a fetcher's
 * {ts: {$gte: last}} starts at `last` instead of scanning from the oldest
 * entry; the matcher still decides every entry. A cursor remembers the
 * timestamp of the last entry it examined and resumes after it, which is what
 * makes tailable cursors work: entries only ever arrive at the end.
 *
 * Entries also leave: a rollback truncates the newest ones (and bumps the
 * rollback id) and may append entries of another branch after them; a trim
 * removes the oldest. A getMore therefore first checks that the rollback id
 * is the one the cursor started with and that the last entry it examined is
 * still there with the same term; otherwise the cursor dies with
 * CappedPositionLost (136), as a mongod cursor whose capped position was
 * deleted. A fetcher can never be handed entries of a different branch
 * without its consistency check (the find from its newest entry). */
#include "cmd/oplog_read.h"

#include "cmd/args.h"
#include "core/mem.h"
#include "net/server.h"
#include "query/project.h"
#include "repl/oplog_cap.h"
#include "storage/oplog.h"

#include <string.h>

#define DEFAULT_FIRST_BATCH 101
#define DEFAULT_AWAIT_MS 1000

/* The oplog's configured size (repl/oplog_cap.c enforces it). */
static int64_t oplog_max_bytes(const struct cmd_ctx *ctx)
{
    static const struct config no_config = {.map_size_mb = 65536};
    return oplog_cap_bytes(ctx->srv ? &ctx->srv->cfg : &no_config);
}

static const char *const find_fields[] = {
    "filter", "projection", "sort", "skip", "limit", "batchSize", "singleBatch", "hint", "min", "max",
    "returnKey", "showRecordId", "allowDiskUse", "noCursorTimeout", "allowPartialResults", "tailable",
    "awaitData", "oplogReplay", "let", "collation", "term", "readOnce", "ntoreturn", "$_requestResumeToken",
    "$_resumeAfter", "isolationLevel", NULL,
};

bool oplog_read_is_ns(const char *db, const char *coll)
{
    return db && coll && strcmp(db, "local") == 0 &&
           (strcmp(coll, "oplog.rs") == 0 || strcmp(coll, "system.replset") == 0);
}

bool oplog_read_is_oplog_request(const struct cmd_request *req)
{
    bson_iter_t it;

    if (!req->db || strcmp(req->db, "local") != 0 || !req->name)
        return false;
    if (strcmp(req->name, "find") == 0)
        return bson_iter_init_find(&it, &req->body, "find") && BSON_ITER_HOLDS_UTF8(&it) &&
               strcmp(bson_iter_utf8(&it, NULL), "oplog.rs") == 0;
    if (strcmp(req->name, "getMore") == 0)
        return bson_iter_init_find(&it, &req->body, "collection") && BSON_ITER_HOLDS_UTF8(&it) &&
               strcmp(bson_iter_utf8(&it, NULL), "oplog.rs") == 0;
    return false;
}

static bool is_oplog(const char *coll)
{
    return strcmp(coll, "oplog.rs") == 0;
}

/* --- timestamp bounds from the filter --- */

/* Narrows [*lo, *hi] (inclusive) with one comparison on ts. */
static void narrow(const char *op, uint64_t v, uint64_t *lo, uint64_t *hi)
{
    if (strcmp(op, "$eq") == 0 || strcmp(op, "$gte") == 0) {
        if (v > *lo)
            *lo = v;
    }
    if (strcmp(op, "$eq") == 0 || strcmp(op, "$lte") == 0) {
        if (v < *hi)
            *hi = v;
    }
    if (strcmp(op, "$gt") == 0) {
        if (v == UINT64_MAX)
            *hi = 0, *lo = 1;
        else if (v + 1 > *lo)
            *lo = v + 1;
    }
    if (strcmp(op, "$lt") == 0) {
        if (v == 0)
            *hi = 0, *lo = 1;
        else if (v - 1 < *hi)
            *hi = v - 1;
    }
}

static uint64_t iter_ts(const bson_iter_t *it)
{
    uint32_t secs, inc;

    bson_iter_timestamp(it, &secs, &inc);
    return (uint64_t)secs << 32 | inc;
}

/* Only Timestamp operands bound the range: other types never compare equal
 * to a Timestamp, so the matcher alone handles them. */
static void filter_bounds(const bson_t *filter, uint64_t *lo, uint64_t *hi)
{
    bson_iter_t it, ops;

    *lo = 0;
    *hi = UINT64_MAX;
    if (!filter || !bson_iter_init_find(&it, filter, "ts"))
        return;
    if (BSON_ITER_HOLDS_TIMESTAMP(&it)) {
        narrow("$eq", iter_ts(&it), lo, hi);
        return;
    }
    if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &ops))
        return;
    while (bson_iter_next(&ops))
        if (BSON_ITER_HOLDS_TIMESTAMP(&ops))
            narrow(bson_iter_key(&ops), iter_ts(&ops), lo, hi);
}

/* --- batches --- */

static int shape(const struct cursor *c, const bson_t *doc, bson_t *out, struct err *e)
{
    int rc;

    bson_init(out);
    if (!c->proj) {
        bson_concat(out, doc);
        return 0;
    }
    rc = projection_apply(c->proj, doc, -1, out, e);
    if (rc < 0)
        bson_destroy(out);
    return rc;
}

static void set_position(struct cursor *c, struct optime ot)
{
    c->oplog_from = ot.ts;
    c->oplog_from_term = ot.term;
    c->is_oplog_from_inclusive = false;
}

static int64_t entry_term(const bson_t *entry)
{
    bson_iter_t it;

    if (bson_iter_init_find(&it, entry, "t") && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    return -1;
}

/* 0 when c may resume where it stopped, else CappedPositionLost. */
static int check_position(const struct cursor *c, struct store_txn *t, struct err *e)
{
    int32_t rbid = 0;
    bson_t entry;
    int rc;

    if ((rc = oplog_get_rbid(t, &rbid, e)) < 0)
        return rc;
    if (rbid != c->oplog_rbid)
        return err_set(e, ERR_CAPPED_POSITION_LOST,
                       "CollectionScan died due to position in capped collection being deleted: local.oplog.rs was "
                       "rolled back after the cursor was opened (rollback id %d, now %d)",
                       (int)c->oplog_rbid, (int)rbid);
    if (c->is_oplog_from_inclusive)
        return 0;
    if ((rc = oplog_find(t, c->oplog_from, &entry, e)) < 0)
        return rc;
    if (rc == 0 || entry_term(&entry) != c->oplog_from_term)
        return err_set(e, ERR_CAPPED_POSITION_LOST,
                       "CollectionScan died due to position in capped collection being deleted. Last seen record "
                       "id: Timestamp(%u, %u), t: %lld",
                       (unsigned)(c->oplog_from >> 32), (unsigned)(c->oplog_from & 0xffffffffu),
                       (long long)c->oplog_from_term);
    return 0;
}

/* Appends up to max_docs matching entries to arr, from c's resume point.
 * Returns the count or a negative error; *is_exhausted when no later entry
 * can ever be returned. */
static int64_t fill_oplog(struct cursor *c, struct store_txn *t, int64_t max_docs, bson_t *arr, bool *is_exhausted,
                          struct err *e)
{
    struct oplog_iter *it = NULL;
    struct optime ot;
    bson_t entry, shaped;
    size_t n_bytes = 0;
    int64_t n = 0;
    char key[24];
    int rc;

    *is_exhausted = false;
    if (c->oplog_lo > c->oplog_hi || c->limit_left <= 0) {
        *is_exhausted = true;
        return 0;
    }
    rc = oplog_iter_open(t, c->oplog_from, c->is_oplog_from_inclusive, c->is_reverse, &it, e);
    if (rc < 0)
        return rc;
    for (;;) {
        if (n >= max_docs)
            break;
        rc = oplog_iter_next(it, &ot, &entry, e);
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            /* A reverse scan reached the oldest entry; a forward one the newest:
             * only a tailable cursor waits there for more. */
            *is_exhausted = c->is_reverse || !c->is_tailable;
            break;
        }
        if ((!c->is_reverse && ot.ts > c->oplog_hi) || (c->is_reverse && ot.ts < c->oplog_lo)) {
            *is_exhausted = true;
            break;
        }
        if (!matcher_match(c->matcher, &entry)) {
            set_position(c, ot);
            continue;
        }
        if (c->skip_left > 0) {
            c->skip_left--;
            set_position(c, ot);
            continue;
        }
        if ((rc = shape(c, &entry, &shaped, e)) < 0)
            goto fail;
        if (n > 0 && n_bytes + shaped.len > CURSOR_BATCH_MAX_BYTES) {
            bson_destroy(&shaped);
            break;
        }
        snprintf(key, sizeof key, "%lld", (long long)n);
        bson_append_document(arr, key, -1, &shaped);
        n_bytes += shaped.len + strlen(key) + 2;
        bson_destroy(&shaped);
        n++;
        set_position(c, ot);
        if (c->limit_left != CURSOR_NO_LIMIT && --c->limit_left <= 0) {
            *is_exhausted = true;
            break;
        }
    }
    /* A full batch of a non-tailable cursor at the end of the range is done:
     * peek so the client does not need an empty getMore to learn it. */
    if (!*is_exhausted && n >= max_docs && !c->is_tailable) {
        rc = oplog_iter_next(it, &ot, NULL, e);
        if (rc < 0)
            goto fail;
        if (rc == 0 || (!c->is_reverse && ot.ts > c->oplog_hi) || (c->is_reverse && ot.ts < c->oplog_lo))
            *is_exhausted = true;
    }
    oplog_iter_close(it);
    return n;
fail:
    oplog_iter_close(it);
    return rc;
}

/* --- find --- */

struct find_opts {
    bson_t filter, projection, sort, hint;
    bool has_filter, has_projection, has_sort, has_hint;
    int64_t skip, limit, batch_size;
    bool has_batch_size;
    bool is_single_batch, is_tailable, is_await_data, is_no_timeout;
};

static int parse_natural(struct cmd_ctx *ctx, const bson_t *spec, const char *what, int *natural)
{
    bson_iter_t it;

    if (bson_count_keys(spec) == 0)
        return 0;
    if (bson_count_keys(spec) != 1 || !bson_iter_init_find(&it, spec, "$natural") || !BSON_ITER_HOLDS_NUMBER(&it) ||
        (bson_iter_as_int64(&it) != 1 && bson_iter_as_int64(&it) != -1))
        return err_set(&ctx->err, ERR_BAD_VALUE,
                       "local.oplog.rs can only be read in $natural order: %s must be {$natural: 1} or "
                       "{$natural: -1}",
                       what);
    *natural = (int)bson_iter_as_int64(&it);
    return 0;
}

static int parse_find(struct cmd_ctx *ctx, struct find_opts *o)
{
    bool flag = false;
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
        (rc = args_bool(ctx, "oplogReplay", &flag)) < 0)
        return rc;
    o->has_batch_size = bson_has_field(&ctx->req->body, "batchSize");
    if (o->skip < 0)
        return err_set(&ctx->err, ERR_NEGATIVE_VALUE, "BSON field 'skip' value must be >= 0, actual value '%lld'",
                       (long long)o->skip);
    if (o->batch_size < 0)
        return err_set(&ctx->err, ERR_NEGATIVE_VALUE,
                       "BSON field 'batchSize' value must be >= 0, actual value '%lld'", (long long)o->batch_size);
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

/* The stored config, when there is one: 1 with *doc owned, 0 when absent. */
static int load_config(struct cmd_ctx *ctx, bson_t *doc)
{
    return oplog_get_config(ctx->txn, doc, &ctx->err);
}

static int find_replset(struct cmd_ctx *ctx, struct cursor *c, const struct find_opts *o, int64_t batch_n)
{
    bson_t config, shaped;
    int rc = load_config(ctx, &config);

    if (rc < 0) {
        cursor_destroy(c);
        return rc;
    }
    if (rc == 1) {
        if (o->skip == 0 && matcher_match(c->matcher, &config)) {
            rc = shape(c, &config, &shaped, &ctx->err);
            if (rc < 0) {
                bson_destroy(&config);
                cursor_destroy(c);
                return rc;
            }
            cursor_buffer_push(c, &shaped);
            bson_destroy(&shaped);
        }
        bson_destroy(&config);
    }
    return cursor_reply_first(ctx, c, batch_n, o->is_single_batch);
}

static int find_oplog(struct cmd_ctx *ctx, struct cursor *c, const struct find_opts *o, int64_t batch_n)
{
    bool is_exhausted = false;
    int64_t n, id = 0;
    bson_t arr;
    int rc;

    if (o->is_tailable && c->is_reverse) {
        cursor_destroy(c);
        return err_set(&ctx->err, ERR_BAD_VALUE,
                       "error processing query: ns=local.oplog.rs planner returned error :: caused by :: cannot use "
                       "tailable option with a sort other than {$natural: 1}");
    }
    c->is_oplog = true;
    filter_bounds(o->has_filter ? &o->filter : NULL, &c->oplog_lo, &c->oplog_hi);
    c->oplog_from = c->is_reverse ? c->oplog_hi : c->oplog_lo;
    c->is_oplog_from_inclusive = true;
    if ((rc = oplog_get_rbid(ctx->txn, &c->oplog_rbid, &ctx->err)) < 0) {
        cursor_destroy(c);
        return rc;
    }
    bson_init(&arr);
    n = fill_oplog(c, ctx->txn, batch_n, &arr, &is_exhausted, &ctx->err);
    if (n < 0) {
        bson_destroy(&arr);
        cursor_destroy(c);
        return (int)n;
    }
    if (is_exhausted || o->is_single_batch || !ctx->srv || !ctx->srv->cursors)
        cursor_destroy(c);
    else
        id = cursor_registry_add(ctx->srv->cursors, c, ctx->now_ms);
    cursor_append_reply(&ctx->reply, id, "local.oplog.rs", &arr, true);
    bson_destroy(&arr);
    return 0;
}

int oplog_read_find(struct cmd_ctx *ctx, const char *coll)
{
    struct find_opts o;
    struct cursor *c;
    int natural = 0, hint_natural = 0, rc;
    int64_t batch_n;
    char ns[300];
    bson_t empty;

    if ((rc = parse_find(ctx, &o)) < 0)
        return rc;
    if (is_oplog(coll)) {
        if (o.has_sort && (rc = parse_natural(ctx, &o.sort, "sort", &natural)) < 0)
            return rc;
        if (bson_has_field(&ctx->req->body, "hint")) {
            if ((rc = args_doc(ctx, "hint", &o.hint, &o.has_hint)) < 0)
                return err_set(&ctx->err, ERR_BAD_VALUE, "hint provided does not correspond to an existing index");
            if ((rc = parse_natural(ctx, &o.hint, "hint", &hint_natural)) < 0)
                return rc;
            if (!natural)
                natural = hint_natural;
        }
    } else if (o.is_tailable) {
        return err_set(&ctx->err, ERR_BAD_VALUE,
                       "error processing query: ns=local.system.replset tree: ... planner returned error :: caused "
                       "by :: tailable cursor requested on non capped collection");
    }
    snprintf(ns, sizeof ns, "local.%s", coll);
    c = cursor_create("local", coll, ns);
    bson_init(&empty);
    rc = matcher_create(o.has_filter ? &o.filter : &empty, &c->matcher, &ctx->err);
    if (rc >= 0 && o.has_projection && bson_count_keys(&o.projection) > 0)
        rc = projection_create(&o.projection, &c->proj, &ctx->err);
    if (rc < 0) {
        cursor_destroy(c);
        return rc;
    }
    c->is_reverse = natural < 0;
    c->limit_left = o.limit > 0 ? o.limit : CURSOR_NO_LIMIT;
    c->skip_left = o.skip;
    c->is_tailable = o.is_tailable;
    c->is_await_data = o.is_await_data;
    c->is_no_timeout = o.is_no_timeout;
    batch_n = o.has_batch_size ? o.batch_size : DEFAULT_FIRST_BATCH;
    if (o.is_single_batch && !o.has_batch_size)
        batch_n = CURSOR_NO_LIMIT;
    if (o.limit > 0 && o.limit < batch_n)
        batch_n = o.limit;
    if (!is_oplog(coll))
        return find_replset(ctx, c, &o, batch_n);
    return find_oplog(ctx, c, &o, batch_n);
}

/* --- getMore --- */

int oplog_read_get_more(struct cmd_ctx *ctx, struct cursor *c, int64_t batch_size, int64_t max_time_ms)
{
    struct cursor_registry *reg = ctx->srv->cursors;
    bool is_exhausted = false;
    int64_t n, id = c->id;
    char ns[sizeof c->ns];
    bson_t arr;
    int rc;

    if ((rc = check_position(c, ctx->txn, &ctx->err)) < 0) {
        cursor_registry_release(reg, c);
        return rc;
    }
    bson_init(&arr);
    n = fill_oplog(c, ctx->txn, batch_size > 0 ? batch_size : CURSOR_NO_LIMIT, &arr, &is_exhausted, &ctx->err);
    if (n < 0) {
        bson_destroy(&arr);
        cursor_registry_release(reg, c);
        return (int)n;
    }
    if (n == 0 && c->is_tailable && c->is_await_data && !is_exhausted && !ctx->is_await_expired) {
        bson_destroy(&arr);
        cursor_registry_checkin(reg, c, ctx->now_ms);
        ctx->await_deadline_ms = ctx->now_ms + (max_time_ms > 0 ? max_time_ms : DEFAULT_AWAIT_MS);
        return CMD_PARK;
    }
    memcpy(ns, c->ns, sizeof ns);
    if (is_exhausted) {
        cursor_registry_release(reg, c);
        id = 0;
    } else {
        cursor_registry_checkin(reg, c, ctx->now_ms);
    }
    cursor_append_reply(&ctx->reply, id, ns, &arr, false);
    bson_destroy(&arr);
    return 0;
}

/* --- count --- */

int oplog_read_count(struct cmd_ctx *ctx, const char *coll, const bson_t *query, int64_t *n)
{
    struct oplog_stats st;
    struct matcher *m = NULL;
    struct oplog_iter *it = NULL;
    struct optime ot;
    uint64_t lo, hi;
    bson_t entry, config, empty;
    int rc;

    *n = 0;
    bson_init(&empty);
    if (is_oplog(coll) && (!query || bson_count_keys(query) == 0)) {
        if ((rc = oplog_stats(ctx->txn, &st, &ctx->err)) < 0)
            return rc;
        *n = st.n_entries;
        return 0;
    }
    if ((rc = matcher_create(query ? query : &empty, &m, &ctx->err)) < 0)
        return rc;
    if (!is_oplog(coll)) {
        rc = load_config(ctx, &config);
        if (rc == 1) {
            *n = matcher_match(m, &config) ? 1 : 0;
            bson_destroy(&config);
        }
        matcher_destroy(m);
        return rc < 0 ? rc : 0;
    }
    filter_bounds(query, &lo, &hi);
    if (lo <= hi && (rc = oplog_iter_open(ctx->txn, lo, true, false, &it, &ctx->err)) >= 0) {
        while ((rc = oplog_iter_next(it, &ot, &entry, &ctx->err)) > 0 && ot.ts <= hi)
            if (matcher_match(m, &entry))
                (*n)++;
        oplog_iter_close(it);
    }
    matcher_destroy(m);
    return rc < 0 ? rc : 0;
}

/* --- aggregate --- */

struct source_state {
    struct oplog_iter *it; /* the oplog; NULL for system.replset */
    bson_t entry;
    bson_t config;
    bool has_config, is_config_done;
};

static int source_next(void *arg, const bson_t **doc, struct err *e)
{
    struct source_state *s = arg;
    int rc;

    if (!s->it) {
        if (!s->has_config || s->is_config_done)
            return 0;
        s->is_config_done = true;
        *doc = &s->config;
        return 1;
    }
    rc = oplog_iter_next(s->it, NULL, &s->entry, e);
    if (rc > 0)
        *doc = &s->entry;
    return rc;
}

static int emit_to_cursor(void *arg, const bson_t *doc, struct err *e)
{
    (void)e;
    cursor_buffer_push(arg, doc);
    return 0;
}

int oplog_read_run_pipeline(struct cmd_ctx *ctx, struct pipeline *p, const char *coll, struct cursor *c)
{
    struct source_state s = {0};
    struct agg_source src = {.next = source_next, .ctx = &s};
    int rc;

    if (is_oplog(coll)) {
        if ((rc = oplog_iter_open(ctx->txn, 0, true, false, &s.it, &ctx->err)) < 0)
            return rc;
    } else {
        if ((rc = load_config(ctx, &s.config)) < 0)
            return rc;
        s.has_config = rc == 1;
    }
    rc = pipeline_run(p, &src, emit_to_cursor, c, ctx->now_ms, &ctx->err);
    if (s.it)
        oplog_iter_close(s.it);
    if (s.has_config)
        bson_destroy(&s.config);
    return rc < 0 ? rc : 0;
}

/* --- collStats and listCollections --- */

static void append_num(bson_t *b, const char *key, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX)
        bson_append_int32(b, key, -1, (int32_t)v);
    else
        bson_append_int64(b, key, -1, v);
}

int oplog_read_coll_stats(struct cmd_ctx *ctx, const char *coll, int64_t scale)
{
    struct oplog_stats st = {0};
    bson_t config, sizes;
    int64_t n = 0, bytes = 0;
    int rc;

    if (scale < 1)
        scale = 1;
    if (is_oplog(coll)) {
        if ((rc = oplog_stats(ctx->txn, &st, &ctx->err)) < 0)
            return rc;
        n = st.n_entries;
        bytes = st.n_bytes;
    } else {
        if ((rc = load_config(ctx, &config)) < 0)
            return rc;
        if (rc == 0)
            return err_set(&ctx->err, ERR_NAMESPACE_NOT_FOUND, "Collection [local.system.replset] not found.");
        n = 1;
        bytes = config.len;
        bson_destroy(&config);
    }
    BSON_APPEND_UTF8(&ctx->reply, "ns", is_oplog(coll) ? "local.oplog.rs" : "local.system.replset");
    append_num(&ctx->reply, "size", bytes / scale);
    append_num(&ctx->reply, "count", n);
    if (n > 0)
        append_num(&ctx->reply, "avgObjSize", bytes / n);
    append_num(&ctx->reply, "storageSize", bytes / scale);
    append_num(&ctx->reply, "freeStorageSize", 0);
    BSON_APPEND_BOOL(&ctx->reply, "capped", is_oplog(coll));
    if (is_oplog(coll)) {
        append_num(&ctx->reply, "max", -1);
        append_num(&ctx->reply, "maxSize", oplog_max_bytes(ctx) / scale);
    }
    append_num(&ctx->reply, "nindexes", 0);
    append_num(&ctx->reply, "totalIndexSize", 0);
    append_num(&ctx->reply, "totalSize", bytes / scale);
    bson_append_document_begin(&ctx->reply, "indexSizes", -1, &sizes);
    bson_append_document_end(&ctx->reply, &sizes);
    append_num(&ctx->reply, "scaleFactor", scale);
    return 0;
}

/* capped_size 0: not capped. */
static void push_listing(const struct matcher *m, bool is_name_only, struct cursor *c, const char *name,
                         int64_t capped_size)
{
    /* Fixed UUIDs: these namespaces are not catalog collections, but tools
     * expect every listed collection to carry one. */
    static const uint8_t uuid_oplog[16] = {0x7a, 0x11, 0x7e, 0x00, 0x0b, 0x1c, 0x40, 0x01,
                                           0x80, 0x00, 0x6f, 0x70, 0x6c, 0x6f, 0x67, 0x01};
    static const uint8_t uuid_replset[16] = {0x7a, 0x11, 0x7e, 0x00, 0x0b, 0x1c, 0x40, 0x02,
                                             0x80, 0x00, 0x72, 0x73, 0x65, 0x74, 0x00, 0x02};
    bson_t doc, sub, opts, key, short_doc;

    bson_init(&doc);
    BSON_APPEND_UTF8(&doc, "name", name);
    BSON_APPEND_UTF8(&doc, "type", "collection");
    bson_append_document_begin(&doc, "options", -1, &opts);
    if (capped_size > 0) {
        BSON_APPEND_BOOL(&opts, "capped", true);
        bson_append_int64(&opts, "size", -1, capped_size);
    }
    bson_append_document_end(&doc, &opts);
    bson_append_document_begin(&doc, "info", -1, &sub);
    BSON_APPEND_BOOL(&sub, "readOnly", false);
    bson_append_binary(&sub, "uuid", -1, BSON_SUBTYPE_UUID, capped_size > 0 ? uuid_oplog : uuid_replset, 16);
    bson_append_document_end(&doc, &sub);
    if (capped_size == 0) {
        bson_append_document_begin(&doc, "idIndex", -1, &sub);
        BSON_APPEND_INT32(&sub, "v", 2);
        bson_append_document_begin(&sub, "key", -1, &key);
        BSON_APPEND_INT32(&key, "_id", 1);
        bson_append_document_end(&sub, &key);
        BSON_APPEND_UTF8(&sub, "name", "_id_");
        bson_append_document_end(&doc, &sub);
    }
    if (matcher_match(m, &doc)) {
        if (is_name_only) {
            bson_init(&short_doc);
            BSON_APPEND_UTF8(&short_doc, "name", name);
            BSON_APPEND_UTF8(&short_doc, "type", "collection");
            cursor_buffer_push(c, &short_doc);
            bson_destroy(&short_doc);
        } else {
            cursor_buffer_push(c, &doc);
        }
    }
    bson_destroy(&doc);
}

int oplog_read_list_collections(struct cmd_ctx *ctx, const struct matcher *m, bool is_name_only, struct cursor *c)
{
    struct oplog_stats st = {0};
    bson_t config;
    int rc;

    if (strcmp(ctx->req->db, "local") != 0)
        return 0;
    if ((rc = oplog_stats(ctx->txn, &st, &ctx->err)) < 0)
        return rc;
    if ((ctx->srv && ctx->srv->repl) || st.n_entries > 0)
        push_listing(m, is_name_only, c, "oplog.rs", oplog_max_bytes(ctx));
    if ((rc = load_config(ctx, &config)) < 0)
        return rc;
    if (rc == 1) {
        bson_destroy(&config);
        push_listing(m, is_name_only, c, "system.replset", 0);
    }
    return 0;
}
