/* mongoc_smoke.c - libmongoc 1.23 against a running tallyd.
 *
 * Usage: mongoc_smoke <uri>. Runs ping, insert, find, update, delete,
 * count_documents and aggregate through the C driver's public API and checks
 * every result. Prints one line per check ("ok ..." / "FAIL ...") and a final
 * "mongoc: N passed, N failed"; exits non-zero if any check failed. Built by
 * tests/compat/run.sh with pkg-config libmongoc-1.0. */
#include <mongoc/mongoc.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_passed;
static int n_failed;

static void check(bool is_ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check(bool is_ok, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    printf("%s ", is_ok ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (is_ok)
        n_passed++;
    else
        n_failed++;
}

static int64_t get_int(const bson_t *doc, const char *path)
{
    bson_iter_t it;
    bson_iter_t child;

    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &child))
        return -999999;
    if (!BSON_ITER_HOLDS_NUMBER(&child))
        return -999998;
    return bson_iter_as_int64(&child);
}

static void check_ping_and_handshake(mongoc_client_t *client)
{
    bson_error_t error;
    bson_t reply;
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bool is_ok = mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, &error);

    check(is_ok, "ping (%s)", is_ok ? "" : error.message);
    bson_destroy(&reply);
    bson_destroy(cmd);

    cmd = BCON_NEW("buildInfo", BCON_INT32(1));
    is_ok = mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, &error);
    check(is_ok && get_int(&reply, "versionArray.0") == 6, "buildInfo versionArray starts with 6");
    bson_destroy(&reply);
    bson_destroy(cmd);
}

static void check_crud(mongoc_collection_t *coll)
{
    bson_error_t error;
    bson_t reply;
    bool is_ok;
    int i;
    int n_inserted = 0;

    mongoc_collection_drop(coll, NULL);

    for (i = 0; i < 10; i++) {
        bson_t *doc = BCON_NEW("_id", BCON_INT32(i), "g", BCON_INT32(i % 2), "name", BCON_UTF8("n"));

        is_ok = mongoc_collection_insert_one(coll, doc, NULL, &reply, &error);
        if (is_ok)
            n_inserted++;
        else
            printf("insert_one %d: %s\n", i, error.message);
        bson_destroy(&reply);
        bson_destroy(doc);
    }
    check(n_inserted == 10, "insert_one x10 (%d acknowledged)", n_inserted);

    bson_t *dup = BCON_NEW("_id", BCON_INT32(3));
    is_ok = mongoc_collection_insert_one(coll, dup, NULL, &reply, &error);
    check(!is_ok && error.code == 11000, "duplicate _id fails with 11000 (got %u: %s)", error.code, error.message);
    bson_destroy(&reply);
    bson_destroy(dup);

    bson_t *filter = BCON_NEW("g", BCON_INT32(1));
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64(3));
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    int64_t got[3] = {-1, -1, -1};
    int n = 0;

    while (mongoc_cursor_next(cursor, &doc)) {
        if (n < 3)
            got[n] = get_int(doc, "_id");
        n++;
    }
    is_ok = !mongoc_cursor_error(cursor, &error);
    check(is_ok && n == 3 && got[0] == 9 && got[1] == 7 && got[2] == 5, "find sort/limit returns 9,7,5 (n=%d)", n);
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
    bson_destroy(filter);

    /* A small batch size forces getMore. */
    opts = BCON_NEW("batchSize", BCON_INT32(2));
    filter = bson_new();
    cursor = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    n = 0;
    while (mongoc_cursor_next(cursor, &doc))
        n++;
    check(!mongoc_cursor_error(cursor, &error) && n == 10, "find with batchSize 2 iterates 10 docs (n=%d)", n);
    mongoc_cursor_destroy(cursor);
    bson_destroy(opts);
    bson_destroy(filter);

    filter = BCON_NEW("g", BCON_INT32(0));
    bson_t *update = BCON_NEW("$inc", "{", "v", BCON_INT32(5), "}");
    is_ok = mongoc_collection_update_many(coll, filter, update, NULL, &reply, &error);
    check(is_ok && get_int(&reply, "matchedCount") == 5 && get_int(&reply, "modifiedCount") == 5,
          "update_many matched 5 modified 5");
    bson_destroy(&reply);
    bson_destroy(update);
    bson_destroy(filter);

    filter = BCON_NEW("_id", BCON_INT32(100));
    update = BCON_NEW("$set", "{", "v", BCON_INT32(1), "}");
    opts = BCON_NEW("upsert", BCON_BOOL(true));
    is_ok = mongoc_collection_update_one(coll, filter, update, opts, &reply, &error);
    check(is_ok && get_int(&reply, "upsertedCount") == 1 && get_int(&reply, "upsertedId") == 100,
          "update_one upsert reports upsertedId 100");
    bson_destroy(&reply);
    bson_destroy(opts);
    bson_destroy(update);
    bson_destroy(filter);

    filter = BCON_NEW("v", "{", "$gte", BCON_INT32(1), "}");
    int64_t count = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &error);
    check(count == 6, "count_documents v>=1 is 6 (got %" PRId64 ")", count);
    bson_destroy(filter);

    filter = BCON_NEW("g", BCON_INT32(1));
    is_ok = mongoc_collection_delete_many(coll, filter, NULL, &reply, &error);
    check(is_ok && get_int(&reply, "deletedCount") == 5, "delete_many deletes 5");
    bson_destroy(&reply);
    bson_destroy(filter);

    filter = BCON_NEW("_id", BCON_INT32(100));
    is_ok = mongoc_collection_delete_one(coll, filter, NULL, &reply, &error);
    check(is_ok && get_int(&reply, "deletedCount") == 1, "delete_one deletes 1");
    bson_destroy(&reply);
    bson_destroy(filter);

    filter = bson_new();
    count = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &error);
    check(count == 5, "count_documents after deletes is 5 (got %" PRId64 ")", count);
    count = mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, &error);
    check(count == 5, "estimated_document_count is 5 (got %" PRId64 ")", count);
    bson_destroy(filter);
}

static void check_aggregate(mongoc_collection_t *coll)
{
    bson_error_t error;
    bson_t *pipeline = BCON_NEW("pipeline", "[",
                                "{", "$match", "{", "g", BCON_INT32(0), "}", "}",
                                "{", "$group", "{", "_id", BCON_NULL, "total", "{", "$sum", "$v", "}",
                                "n", "{", "$sum", BCON_INT32(1), "}", "}", "}",
                                "]");
    mongoc_cursor_t *cursor = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    int n = 0;
    int64_t total = -1;
    int64_t count = -1;

    while (mongoc_cursor_next(cursor, &doc)) {
        total = get_int(doc, "total");
        count = get_int(doc, "n");
        n++;
    }
    check(!mongoc_cursor_error(cursor, &error) && n == 1 && total == 25 && count == 5,
          "aggregate $match/$group gives total 25, n 5 (n=%d total=%" PRId64 " count=%" PRId64 ")", n, total,
          count);
    mongoc_cursor_destroy(cursor);
    bson_destroy(pipeline);
}

static void check_server_error(mongoc_client_t *client)
{
    bson_error_t error;
    bson_t reply;
    bson_t *cmd = BCON_NEW("noSuchCommandForMongoc", BCON_INT32(1));
    bool is_ok = mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, &error);

    check(!is_ok && error.code == 59, "unknown command fails with code 59 (got %u)", error.code);
    bson_destroy(&reply);
    bson_destroy(cmd);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <mongodb-uri>\n", argv[0]);
        return 2;
    }
    mongoc_init();
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[1], &error);

    if (!uri) {
        fprintf(stderr, "bad uri: %s\n", error.message);
        return 2;
    }
    /* Pooled, like a real application: exercises the background monitor. */
    mongoc_client_pool_t *pool = mongoc_client_pool_new(uri);
    mongoc_client_t *client = mongoc_client_pool_pop(pool);
    char dbname[64];

    snprintf(dbname, sizeof dbname, "mongoc_smoke_%d", (int)getpid());
    mongoc_collection_t *coll = mongoc_client_get_collection(client, dbname, "c");

    check_ping_and_handshake(client);
    check_crud(coll);
    check_aggregate(coll);
    check_server_error(client);

    mongoc_database_t *db = mongoc_client_get_database(client, dbname);
    mongoc_database_drop(db, NULL);
    mongoc_database_destroy(db);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    printf("mongoc: %d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 && n_passed > 0 ? 0 : 1;
}
