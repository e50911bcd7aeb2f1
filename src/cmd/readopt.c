/* readopt.c - hint and collation checks shared by find, count, distinct and
 * aggregate.
 *
 * A hint only has to name an existing index: the planner re-plans anyway and
 * every index returns the same documents (sparse indexes aside), so honouring
 * the name is a matter of validation, except {$natural: -1}, which reverses
 * the scan. Also the checks readConcern "linearizable" passes before the
 * read runs (its wait afterwards is linearizable.c). */
#include "cmd/readopt.h"

#include "net/server.h"
#include "query/bsonval.h"
#include "repl/node.h"

#include <string.h>

static int natural_direction(const bson_t *hint)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, hint) || !bson_iter_next(&it) || strcmp(bson_iter_key(&it), "$natural") != 0)
        return 0;
    return bsonval_as_double(bson_iter_value(&it)) < 0 ? -1 : 1;
}

static int no_such_index(struct cmd_ctx *ctx)
{
    return err_set(&ctx->err, ERR_BAD_VALUE, "hint provided does not correspond to an existing index");
}

int readopt_hint(struct cmd_ctx *ctx, const struct coll_info *c, int *natural)
{
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;
    bson_t hint;

    *natural = 0;
    if (!bson_iter_init_find(&it, &ctx->req->body, "hint"))
        return 0;
    if (BSON_ITER_HOLDS_UTF8(&it)) {
        const char *name = bson_iter_utf8(&it, NULL);
        if (!c)
            return 0;
        for (int i = 0; i < c->n_indexes; i++)
            if (strcmp(c->indexes[i].name, name) == 0)
                return 0;
        return no_such_index(ctx);
    }
    if (!BSON_ITER_HOLDS_DOCUMENT(&it))
        return err_set(&ctx->err, ERR_FAILED_TO_PARSE, "hint must be a string or an object");
    bson_iter_document(&it, &len, &data);
    if (!bson_init_static(&hint, data, len))
        return err_set(&ctx->err, ERR_INVALID_BSON, "hint is not valid BSON");
    if (bson_count_keys(&hint) == 0)
        return 0;
    *natural = natural_direction(&hint);
    if (*natural || !c)
        return 0;
    for (int i = 0; i < c->n_indexes; i++)
        if (bsondoc_compare(&c->indexes[i].key, &hint) == 0)
            return 0;
    return no_such_index(ctx);
}

int readopt_collation(struct cmd_ctx *ctx)
{
    bson_iter_t it, sub;

    if (!bson_iter_init_find(&it, &ctx->req->body, "collation"))
        return 0;
    if (!BSON_ITER_HOLDS_DOCUMENT(&it))
        return err_set(&ctx->err, ERR_TYPE_MISMATCH, "BSON field '%s.collation' is the wrong type, expected type "
                       "'object'", ctx->req->name);
    if (bson_iter_recurse(&it, &sub)) {
        bool is_simple = true;
        while (bson_iter_next(&sub))
            if (strcmp(bson_iter_key(&sub), "locale") != 0 || !BSON_ITER_HOLDS_UTF8(&sub) ||
                strcmp(bson_iter_utf8(&sub, NULL), "simple") != 0)
                is_simple = false;
        if (is_simple)
            return 0;
    }
    return err_set(&ctx->err, ERR_NOT_IMPLEMENTED, "collation is not supported by this server yet");
}

int readopt_check_linearizable(struct server *srv, const bson_t *rc, struct err *e)
{
    bson_iter_t it;

    if (srv->repl == NULL)
        return err_set(e, ERR_NOT_A_REPLICA_SET, "node needs to be a replica set member to use read concern");
    if (bson_iter_init_find(&it, rc, "afterOpTime"))
        return err_set(e, ERR_FAILED_TO_PARSE, "afterOpTime not compatible with linearizable read concern");
    if (bson_iter_init_find(&it, rc, "afterClusterTime"))
        return err_set(e, ERR_INVALID_OPTIONS,
                       "afterClusterTime field can be set only if level is equal to majority, local, or snapshot");
    if (bson_iter_init_find(&it, rc, "atClusterTime"))
        return err_set(e, ERR_INVALID_OPTIONS, "atClusterTime field can be set only if level is snapshot");
    /* Digest 3.8: primary only; a deposed primary must not answer either. */
    if (!repl_node_is_writable_primary(srv->repl))
        return err_set(e, ERR_NOT_WRITABLE_PRIMARY, "cannot satisfy linearizable read concern on non-primary node");
    return 0;
}
