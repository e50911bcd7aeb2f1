/* write_cmd_testhelp.h - runs write-command handlers against a real store in
 * a test's temporary directory: one write transaction per test (setup and
 * teardown), a command from JSON, and helpers to read the reply and count the
 * documents a filter matches. Shared by the write-command unit tests. */
#ifndef TALLY_WRITE_CMD_TESTHELP_H
#define TALLY_WRITE_CMD_TESTHELP_H

#include "cmd/handlers.h"
#include "cmd/write_common.h"
#include "storage/store.h"
#include "testhelp.h"

#include <inttypes.h>

static struct store *st;
static struct store_txn *txn;
static bson_t last_reply;
static struct err last_err;

static void setup(void)
{
    struct store_options opt = {0, true};
    struct err e;

    err_init(&e);
    if (store_open(test_dir, &opt, &st, &e) < 0 || store_txn_begin_write(st, &txn, &e) < 0) {
        fprintf(stderr, "store: %s\n", e.msg);
        exit(2);
    }
    bson_init(&last_reply);
    err_init(&last_err);
}

static void teardown(void)
{
    store_txn_end(txn);
    store_close(st);
    bson_destroy(&last_reply);
    err_clear(&last_err);
}

/* Runs one command (JSON body, database "db" unless body has $db) with the
 * handler its first key names; keeps the reply and error for checks. */
static int run(cmd_handler_cb handler, const char *body_json)
{
    bson_error_t error;
    bson_t *body = bson_new_from_json((const uint8_t *)body_json, -1, &error);
    struct cmd_request req;
    struct cmd_ctx ctx;
    bson_iter_t it;
    int rc;

    if (body == NULL) {
        fprintf(stderr, "bad json %s: %s\n", body_json, error.message);
        exit(2);
    }
    memset(&req, 0, sizeof req);
    bson_init(&req.body);
    bson_concat(&req.body, body);
    bson_destroy(body);
    bson_iter_init(&it, &req.body);
    bson_iter_next(&it);
    req.name = bson_iter_key(&it);
    req.db = bson_iter_init_find(&it, &req.body, "$db") ? bson_iter_utf8(&it, NULL) : "db";
    memset(&ctx, 0, sizeof ctx);
    ctx.req = &req;
    ctx.txn = txn;
    ctx.now_ms = 1700000000000;
    bson_init(&ctx.reply);
    err_init(&ctx.err);
    rc = handler(&ctx);
    bson_destroy(&last_reply);
    bson_init(&last_reply);
    bson_concat(&last_reply, &ctx.reply);
    bson_destroy(&ctx.reply);
    err_move(&last_err, &ctx.err);
    bson_destroy(&req.body);
    return rc;
}

/* Integer at a dotted path of the last reply, or -999 when absent. */
static int64_t reply_int(const char *path)
{
    bson_iter_t it, f;

    if (!bson_iter_init(&it, &last_reply) || !bson_iter_find_descendant(&it, path, &f))
        return -999;
    return bson_iter_as_int64(&f);
}

static bool reply_has(const char *path)
{
    bson_iter_t it, f;
    return bson_iter_init(&it, &last_reply) && bson_iter_find_descendant(&it, path, &f);
}

/* Documents of db.coll matching filter_json, counted through the executor. */
static int64_t count_docs(const char *coll, const char *filter_json)
{
    struct coll_info *c = NULL;
    struct matcher *m = NULL;
    struct write_target *t = NULL;
    struct err e;
    bson_error_t error;
    bson_t *f = bson_new_from_json((const uint8_t *)filter_json, -1, &error);
    int n = -1;

    err_init(&e);
    if (store_coll_find(txn, "db", coll, &c, &e) == 0 && c != NULL && matcher_create(f, &m, &e) == 0)
        write_targets_collect(txn, c, m, 0, &t, &n, &e);
    else if (c == NULL)
        n = 0;
    write_targets_free(t, n > 0 ? n : 0);
    if (m)
        matcher_destroy(m);
    if (c)
        coll_info_destroy(c);
    bson_destroy(f);
    err_clear(&e);
    return n;
}

#endif
