/* Per-collection document counts and content hashes.
 *
 * A full backup records them, computed on the snapshot itself (a temporary
 * standalone tallyd on the downloaded file, before it is deleted), and
 * `backup verify` recomputes them on a restore: equal hashes mean the
 * restored documents are byte-for-byte the ones snapshotted. The hash is
 * sha256 over every document's BSON bytes in natural order, which is _id
 * order in Tally's storage, so it does not depend on when the data was
 * written. The local database (oplog, replication state) is left out: a
 * restore resets it on purpose. */
#include <stdio.h>
#include <string.h>

#include "backup_int.h"

static int hash_one(mongoc_client_t *client, const char *db, const char *coll, int64_t *count, char hex[65],
                    struct backup_error *err)
{
    mongoc_collection_t *c = mongoc_client_get_collection(client, db, coll);
    bson_t filter = BSON_INITIALIZER;
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_INT32(&opts, "batchSize", 10000);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, &opts, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    const bson_t *doc;
    *count = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        EVP_DigestUpdate(md, bson_get_data(doc), doc->len);
        (*count)++;
    }
    bson_error_t berr;
    int rc = 0;
    if (mongoc_cursor_error(cur, &berr)) {
        snprintf(err->msg, sizeof err->msg, "reading %s.%s for its hash failed: %s", db, coll, berr.message);
        rc = -1;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    EVP_MD_CTX_free(md);
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return rc;
}

int backup_hash_collections(mongoc_client_t *client, bson_t *out_array, struct backup_error *err)
{
    bson_error_t berr;
    char **dbs = mongoc_client_get_database_names_with_opts(client, NULL, &berr);
    if (dbs == NULL) {
        snprintf(err->msg, sizeof err->msg, "listDatabases failed: %s", berr.message);
        return -1;
    }
    int rc = 0, k = 0;
    for (int i = 0; dbs[i] != NULL && rc == 0; i++) {
        if (strcmp(dbs[i], "local") == 0)
            continue;
        mongoc_database_t *db = mongoc_client_get_database(client, dbs[i]);
        char **colls = mongoc_database_get_collection_names_with_opts(db, NULL, &berr);
        if (colls == NULL) {
            snprintf(err->msg, sizeof err->msg, "listCollections on %s failed: %s", dbs[i], berr.message);
            rc = -1;
        }
        /* Sorted, so the array is comparable as a whole. */
        int nc = 0;
        while (colls != NULL && colls[nc] != NULL)
            nc++;
        for (int a = 1; a < nc; a++)
            for (int b = a; b > 0 && strcmp(colls[b - 1], colls[b]) > 0; b--) {
                char *t = colls[b];
                colls[b] = colls[b - 1];
                colls[b - 1] = t;
            }
        for (int j = 0; j < nc && rc == 0; j++) {
            int64_t count;
            char hex[65];
            if ((rc = hash_one(client, dbs[i], colls[j], &count, hex, err)) < 0)
                break;
            char key[16], ns[512];
            snprintf(key, sizeof key, "%d", k++);
            snprintf(ns, sizeof ns, "%s.%s", dbs[i], colls[j]);
            bson_t e;
            BSON_APPEND_DOCUMENT_BEGIN(out_array, key, &e);
            BSON_APPEND_UTF8(&e, "ns", ns);
            BSON_APPEND_INT64(&e, "count", count);
            BSON_APPEND_UTF8(&e, "hash", hex);
            bson_append_document_end(out_array, &e);
        }
        bson_strfreev(colls);
        mongoc_database_destroy(db);
    }
    bson_strfreev(dbs);
    return rc;
}
