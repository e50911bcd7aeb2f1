/* cmd_aggregate.c - the aggregate command.
 *
 * Parses the command, builds the pipeline (query/agg.h), plans the scan from
 * a leading $match, feeds the executor's documents to the pipeline and
 * buffers every output document in a cursor; the first batch goes out in the
 * reply and the rest through getMore. When everything fits in the first
 * batch the cursor id is 0 (libmongoc's countDocuments requires it). */
#include "cmd/args.h"
#include "cmd/cursor.h"
#include "cmd/handlers.h"
#include "cmd/oplog_read.h"
#include "cmd/readopt.h"
#include "query/agg.h"

#include <string.h>

#define DEFAULT_FIRST_BATCH 101

static const char *const aggregate_fields[] = {
    "pipeline", "cursor", "allowDiskUse", "explain", "let", "hint", "collation", "fromMongos", "needsMerge",
    "isMapReduceCommand", "$_requestReshardingResumeToken", NULL,
};

struct scan_source {
    struct exec_scan *scan;
    bson_t doc;
};

static int scan_next(void *arg, const bson_t **doc, struct err *e)
{
    struct scan_source *src = arg;
    int rc;

    if (!src->scan)
        return 0;
    rc = exec_scan_next(src->scan, &src->doc, NULL, e);
    if (rc > 0)
        *doc = &src->doc;
    return rc;
}

static int emit_to_cursor(void *arg, const bson_t *doc, struct err *e)
{
    (void)e;
    cursor_buffer_push(arg, doc);
    return 0;
}

/* The name of the first stage (borrowed), or NULL for an empty pipeline. */
static const char *first_stage_name(const bson_t *pipeline)
{
    bson_iter_t it, stage;

    if (!bson_iter_init(&it, pipeline) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &stage) || !bson_iter_next(&stage))
        return NULL;
    return bson_iter_key(&stage);
}

static int parse_cursor_opt(struct cmd_ctx *ctx, int64_t *batch_n)
{
    bson_t cur;
    bool is_present = false;
    bson_iter_t it;
    int rc;

    if ((rc = args_doc(ctx, "cursor", &cur, &is_present)) < 0)
        return rc;
    if (!is_present)
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE,
                       "The 'cursor' option is required, except for aggregate with the explain argument");
    *batch_n = DEFAULT_FIRST_BATCH;
    if (!bson_iter_init(&it, &cur))
        return err_set(&ctx->err, ERR_INVALID_BSON, "aggregate.cursor is not valid BSON");
    while (bson_iter_next(&it)) {
        if (strcmp(bson_iter_key(&it), "batchSize") != 0)
            return err_set(&ctx->err, ERR_UNKNOWN_FIELD, "BSON field 'aggregate.cursor.%s' is an unknown field.",
                           bson_iter_key(&it));
        if (!BSON_ITER_HOLDS_NUMBER(&it))
            return err_set(&ctx->err, ERR_TYPE_MISMATCH,
                           "BSON field 'aggregate.cursor.batchSize' is the wrong type, expected a number");
        *batch_n = bson_iter_as_int64(&it);
        if (*batch_n < 0)
            return err_set(&ctx->err, ERR_NEGATIVE_VALUE,
                           "BSON field \'batchSize\' value must be >= 0, actual value '%lld'", (long long)*batch_n);
    }
    return 0;
}

/* Database-level aggregate ({aggregate: 1}): only collectionless stages apply. */
static int check_db_level(struct cmd_ctx *ctx, const bson_t *pipeline)
{
    const char *first = first_stage_name(pipeline);

    if (first && (strcmp(first, "$currentOp") == 0 || strcmp(first, "$listLocalSessions") == 0 ||
                  strcmp(first, "$documents") == 0 || strcmp(first, "$changeStream") == 0 ||
                  strcmp(first, "$listSessions") == 0))
        return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "%s is not supported by this server yet", first);
    return err_set(&ctx->err, ERR_INVALID_NAMESPACE,
                   "{aggregate: 1} is not valid for '%s'; a collection is required.", first ? first : "$match");
}

/* Resolves the collection name; *coll is NULL for {aggregate: 1}. */
static int parse_target(struct cmd_ctx *ctx, const char **coll)
{
    bson_iter_t it;

    *coll = NULL;
    if (!bson_iter_init(&it, &ctx->req->body) || !bson_iter_next(&it))
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "empty command");
    if (BSON_ITER_HOLDS_NUMBER(&it) && bson_iter_as_int64(&it) == 1)
        return 0;
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE,
                       "Invalid command format: the 'aggregate' field must specify a collection name or 1");
    return args_collection(ctx, coll);
}

static int run_pipeline(struct cmd_ctx *ctx, struct pipeline *p, const char *coll, int natural, struct cursor *c)
{
    struct coll_info *ci = NULL;
    struct matcher *m = NULL;
    struct scan_source src = {0};
    struct agg_source source = {.next = scan_next, .ctx = &src};
    const bson_t *lead = pipeline_leading_match(p);
    bson_t empty;
    int rc;

    bson_init(&empty);
    if (oplog_read_is_ns(ctx->req->db, coll))
        return oplog_read_run_pipeline(ctx, p, coll, c);
    if ((rc = store_coll_find(ctx->txn, ctx->req->db, coll, &ci, &ctx->err)) < 0)
        return rc;
    if (ci) {
        if ((rc = readopt_hint(ctx, ci, &natural)) < 0 || (rc = matcher_create(lead ? lead : &empty, &m, &ctx->err)) < 0 ||
            (rc = exec_scan_open(ctx->txn, ci, m, natural < 0, NULL, &src.scan, &ctx->err)) < 0)
            goto done;
    }
    rc = pipeline_run(p, &source, emit_to_cursor, c, ctx->now_ms, &ctx->err);
done:
    exec_scan_close(src.scan);
    if (m)
        matcher_destroy(m);
    if (ci)
        coll_info_destroy(ci);
    return rc < 0 ? rc : 0;
}

int cmd_aggregate(struct cmd_ctx *ctx)
{
    const char *coll = NULL;
    struct pipeline *p = NULL;
    struct cursor *c = NULL;
    bson_t pipeline;
    bool is_present = false, is_explain = false, allow_disk = false;
    int64_t batch_n = DEFAULT_FIRST_BATCH;
    char ns[300];
    int rc;

    if ((rc = parse_target(ctx, &coll)) < 0 || (rc = args_check_known(ctx, aggregate_fields)) < 0 ||
        (rc = args_array(ctx, "pipeline", &pipeline, &is_present)) < 0 ||
        (rc = args_bool(ctx, "explain", &is_explain)) < 0 || (rc = args_bool(ctx, "allowDiskUse", &allow_disk)) < 0)
        return rc;
    if (!is_present)
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "BSON field 'aggregate.pipeline' is missing but a required "
                       "field");
    if (is_explain)
        return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "explain is not supported by this server yet");
    if ((rc = parse_cursor_opt(ctx, &batch_n)) < 0 || (rc = readopt_collation(ctx)) < 0)
        return rc;
    if (!coll)
        return check_db_level(ctx, &pipeline);
    if ((rc = args_namespace(ctx, coll, ns, sizeof ns)) < 0)
        return rc;
    if ((rc = pipeline_create(&pipeline, &p, &ctx->err)) < 0)
        return rc;
    c = cursor_create(ctx->req->db, coll, ns);
    rc = run_pipeline(ctx, p, coll, 0, c);
    pipeline_destroy(p);
    if (rc < 0) {
        cursor_destroy(c);
        return rc;
    }
    return cursor_reply_first(ctx, c, batch_n, false);
}
