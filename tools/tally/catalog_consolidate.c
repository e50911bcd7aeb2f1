/* The consolidator: staged backup events into admin.backups, then the
 * catalog reconciled against the manifests on disk.
 *
 * Order of a pass: the Redis stream, the spool, the manifests. Each staged
 * event is applied with an idempotent upsert (catalog_event.c) under
 * w:"majority" on a retryable-writes connection, and removed from where it
 * was staged only after that write is acknowledged; the first failure ends
 * the pass with everything not yet applied still staged, so a failover, a
 * Redis restart or a crash loses nothing and a later pass (or a concurrent
 * one) finishes the work. Reconciliation: a manifest without a catalog entry
 * gets one (outcome ok); an entry of this destination whose manifest is gone
 * is marked missing: true, never deleted; an entry marked missing whose
 * manifest is back loses the mark. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_impl.h"

enum { PAGE = 128, DUPLICATE_KEY = 11000 };

mongoc_client_t *catalog_client_open(const char *uri_str, int timeout_ms, char *errbuf, size_t errlen)
{
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_str, &error);
    if (uri == NULL) {
        snprintf(errbuf, errlen, "bad --uri '%.200s': %s", uri_str, error.message);
        return NULL;
    }
    /* Retryable writes ride out one primary change; the timeouts bound how
     * long a pass waits for a writable primary. */
    mongoc_uri_set_option_as_bool(uri, MONGOC_URI_RETRYWRITES, true);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout_ms < 5000 ? timeout_ms : 5000);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, timeout_ms + 10000);
    mongoc_uri_set_appname(uri, "tally-backup-catalog");
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    mongoc_uri_destroy(uri);
    if (client == NULL) {
        snprintf(errbuf, errlen, "cannot create a client for '%.200s'", uri_str);
        return NULL;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    return client;
}

static void append_majority(bson_t *opts, int timeout_ms)
{
    bson_t wc;
    BSON_APPEND_DOCUMENT_BEGIN(opts, "writeConcern", &wc);
    BSON_APPEND_UTF8(&wc, "w", "majority");
    BSON_APPEND_INT32(&wc, "wtimeout", timeout_ms);
    bson_append_document_end(opts, &wc);
}

/* update_one with upsert and w:"majority"; a duplicate-key error means a
 * concurrent upsert inserted the document first, so the update is retried
 * once and then matches it. */
static int update_majority(mongoc_client_t *client, const char *id, const bson_t *filter_extra,
                           const bson_t *update, bool is_upsert, int timeout_ms, char *errbuf, size_t errlen)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(client, CATALOG_DB, CATALOG_COLL);
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", id);
    if (filter_extra != NULL) {
        bson_concat(&filter, filter_extra);
    }
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "upsert", is_upsert);
    append_majority(&opts, timeout_ms);
    int rc = -1;
    for (int attempt = 0; attempt < 2 && rc != 0; attempt++) {
        bson_error_t error;
        bson_t reply;
        if (mongoc_collection_update_one(coll, &filter, update, &opts, &reply, &error)) {
            rc = 0;
        } else {
            snprintf(errbuf, errlen, "catalog write for backup %s: %s (code %u)", id, error.message, error.code);
            if (error.code != DUPLICATE_KEY) {
                attempt = 2;
            }
        }
        bson_destroy(&reply);
    }
    bson_destroy(&opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    return rc;
}

int catalog_apply_event(mongoc_client_t *client, const bson_t *event, int timeout_ms, char *errbuf,
                        size_t errlen)
{
    struct catalog_key key;
    if (catalog_event_key(event, &key, errbuf, errlen) != 0) {
        return -1;
    }
    bson_t update = BSON_INITIALIZER;
    catalog_event_update(event, &key, &update);
    int rc = update_majority(client, key.id, NULL, &update, true, timeout_ms, errbuf, errlen);
    bson_destroy(&update);
    return rc;
}

static void free_staged(struct catalog_staged *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (s[i].event != NULL) {
            bson_destroy(s[i].event);
            s[i].event = NULL;
        }
    }
}

static int drain_redis(mongoc_client_t *client, const struct catalog_target *t, struct catalog_counts *c,
                       char *errbuf, size_t errlen)
{
    struct catalog_redis *r = catalog_redis_open(t->redis_url, t->timeout_ms, errbuf, errlen);
    if (r == NULL) {
        return -1;
    }
    static struct catalog_staged page[PAGE];
    char after[80] = "";
    int rc = 0;
    for (;;) {
        int n = catalog_redis_range(r, after, page, PAGE, errbuf, errlen);
        if (n <= 0) {
            rc = n;
            break;
        }
        for (int i = 0; i < n && rc == 0; i++) {
            snprintf(after, sizeof after, "%.79s", page[i].handle);
            if (page[i].event == NULL) {
                c->n_bad++;
                continue;
            }
            /* Removed only after the majority write: at-least-once. */
            if (catalog_apply_event(client, page[i].event, t->timeout_ms, errbuf, errlen) != 0 ||
                catalog_redis_del(r, page[i].handle, errbuf, errlen) != 0) {
                rc = -1;
            } else {
                c->n_redis++;
            }
        }
        free_staged(page, n);
        if (rc != 0 || n < PAGE) {
            break;
        }
    }
    catalog_redis_close(r);
    return rc;
}

static int drain_spool(mongoc_client_t *client, const struct catalog_target *t, struct catalog_counts *c,
                       char *errbuf, size_t errlen)
{
    static struct catalog_staged page[PAGE];
    for (;;) {
        int n = catalog_spool_list(t->spool_dir, page, PAGE, errbuf, errlen);
        if (n <= 0) {
            return n;
        }
        int rc = 0, n_done = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            if (page[i].event == NULL) {
                c->n_bad++;
                continue;
            }
            if (catalog_apply_event(client, page[i].event, t->timeout_ms, errbuf, errlen) != 0 ||
                catalog_spool_remove(page[i].handle, errbuf, errlen) != 0) {
                rc = -1;
            } else {
                c->n_spool++;
                n_done++;
            }
        }
        free_staged(page, n);
        /* A page of unreadable files only would otherwise loop forever. */
        if (rc != 0 || n_done == 0 || n < PAGE) {
            return rc;
        }
    }
}

/* The catalog's view of one entry of this destination. */
struct entry {
    char id[CATALOG_ID_MAX];
    bool is_ok, is_deleted, is_missing, is_seen;
};

static int load_entries(mongoc_client_t *client, const char *dest, struct entry **out, int *n_out,
                        char *errbuf, size_t errlen)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(client, CATALOG_DB, CATALOG_COLL);
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "destination", dest);
    bson_t opts = BSON_INITIALIZER, proj;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "outcome", 1);
    BSON_APPEND_INT32(&proj, "deleted", 1);
    BSON_APPEND_INT32(&proj, "missing", 1);
    bson_append_document_end(&opts, &proj);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    int cap = 64, n = 0;
    struct entry *e = bson_malloc0((size_t)cap * sizeof *e);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) {
            continue;
        }
        if (n == cap) {
            cap *= 2;
            e = bson_realloc(e, (size_t)cap * sizeof *e);
        }
        memset(&e[n], 0, sizeof e[n]);
        snprintf(e[n].id, sizeof e[n].id, "%s", bson_iter_utf8(&it, NULL));
        const char *outcome = catalog_str(doc, "outcome");
        e[n].is_ok = outcome != NULL && strcmp(outcome, "ok") == 0;
        e[n].is_deleted = bson_iter_init_find(&it, doc, "deleted") && bson_iter_as_bool(&it);
        e[n].is_missing = bson_iter_init_find(&it, doc, "missing") && bson_iter_as_bool(&it);
        n++;
    }
    bson_error_t error;
    int rc = 0;
    if (mongoc_cursor_error(cur, &error)) {
        snprintf(errbuf, errlen, "reading the catalog: %.300s (code %u)", error.message, error.code);
        rc = -1;
        bson_free(e);
        e = NULL;
        n = 0;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    *out = e;
    *n_out = n;
    return rc;
}

static int set_missing(mongoc_client_t *client, const char *id, bool is_missing, int timeout_ms, char *errbuf,
                       size_t errlen)
{
    char now[40];
    catalog_now_iso(now, sizeof now);
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_BOOL(&set, "missing", is_missing);
    BSON_APPEND_UTF8(&set, is_missing ? "missing_since" : "found_again", now);
    bson_append_document_end(&update, &set);
    int rc = update_majority(client, id, NULL, &update, false, timeout_ms, errbuf, errlen);
    bson_destroy(&update);
    return rc;
}

static int reconcile(mongoc_client_t *client, const struct catalog_target *t, struct catalog_counts *c,
                     char *errbuf, size_t errlen)
{
    char dest[PATH_MAX];
    if (realpath(t->dest, dest) == NULL) {
        snprintf(errbuf, errlen, "backup folder %s is not there; not reconciling (entries are kept)", t->dest);
        return -1;
    }
    struct catalog_manifest *m;
    int n_m = catalog_manifests_load(dest, &m, errbuf, errlen);
    if (n_m < 0) {
        return -1;
    }
    struct entry *e;
    int n_e;
    if (load_entries(client, dest, &e, &n_e, errbuf, errlen) != 0) {
        catalog_manifests_free(m, n_m);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n_m && rc == 0; i++) {
        struct entry *found = NULL;
        for (int j = 0; j < n_e; j++) {
            if (strcmp(e[j].id, m[i].id) == 0) {
                found = &e[j];
                found->is_seen = true;
            }
        }
        if (found == NULL || !found->is_ok) {
            bson_t event = BSON_INITIALIZER;
            catalog_manifest_event(&m[i], &event);
            rc = catalog_apply_event(client, &event, t->timeout_ms, errbuf, errlen);
            bson_destroy(&event);
            c->n_added += rc == 0 ? 1 : 0;
        } else if (found->is_missing) {
            rc = set_missing(client, m[i].id, false, t->timeout_ms, errbuf, errlen);
        }
    }
    for (int j = 0; j < n_e && rc == 0; j++) {
        if (!e[j].is_seen && e[j].is_ok && !e[j].is_deleted && !e[j].is_missing) {
            fprintf(stderr, "tally: backup %s is in the catalog but %s/%s/manifest.json is gone; marked missing\n",
                    e[j].id, dest, e[j].id);
            rc = set_missing(client, e[j].id, true, t->timeout_ms, errbuf, errlen);
            c->n_missing += rc == 0 ? 1 : 0;
        }
    }
    bson_free(e);
    catalog_manifests_free(m, n_m);
    return rc;
}

int catalog_consolidate(const struct catalog_target *t, struct catalog_counts *counts, char *errbuf,
                        size_t errlen)
{
    memset(counts, 0, sizeof *counts);
    mongoc_client_t *client = catalog_client_open(t->uri, t->timeout_ms, errbuf, errlen);
    if (client == NULL) {
        return -1;
    }
    /* Each step runs even when an earlier one failed (the spool fills while
     * Redis is down; manifests need no staging); the first error is kept. */
    bson_error_t error;
    mongoc_server_description_t *sd = mongoc_client_select_server(client, true, NULL, &error);
    if (sd == NULL) {
        snprintf(errbuf, errlen, "no writable primary: %s; events stay staged", error.message);
        mongoc_client_destroy(client);
        return -1;
    }
    mongoc_server_description_destroy(sd);
    int rc = 0;
    char step_err[1024];
    if (t->redis_url != NULL && t->redis_url[0] != '\0' &&
        drain_redis(client, t, counts, step_err, sizeof step_err) != 0) {
        snprintf(errbuf, errlen, "%s", step_err);
        rc = -1;
    }
    if (t->spool_dir != NULL && drain_spool(client, t, counts, step_err, sizeof step_err) != 0 && rc == 0) {
        snprintf(errbuf, errlen, "%s", step_err);
        rc = -1;
    }
    if (t->dest != NULL && reconcile(client, t, counts, step_err, sizeof step_err) != 0 && rc == 0) {
        snprintf(errbuf, errlen, "%s", step_err);
        rc = -1;
    }
    mongoc_client_destroy(client);
    if (!t->is_quiet) {
        fprintf(stderr,
                "tally: catalog: %d event%s from Redis, %d from the spool, %d manifest%s added, %d marked "
                "missing%s%s\n",
                counts->n_redis, counts->n_redis == 1 ? "" : "s", counts->n_spool, counts->n_added,
                counts->n_added == 1 ? "" : "s", counts->n_missing, counts->n_bad ? "; unreadable entries kept: " : "",
                counts->n_bad ? "see above" : "");
    }
    return rc;
}
