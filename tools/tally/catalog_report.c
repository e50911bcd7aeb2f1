/* `tally backup report`: the last success of each kind of backup, and the
 * newest failure when it is more recent, from the catalog (--uri), the
 * manifests on disk (--to) and the agent's status file (--state).
 *
 * The exit code makes it a monitoring check: 0 when every source asked for
 * knows a successful full backup (restorable data exists), 1 otherwise, 2 on
 * bad usage. With --json it prints one document with the same facts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog_impl.h"

static const char *const TYPES[] = {"full", "diff", "incr"};

static const char *or_unknown(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "?";
}

static void fmt_age(const char *iso, char *out, size_t len)
{
    time_t t = catalog_parse_iso(iso);
    if (t < 0) {
        snprintf(out, len, "?");
        return;
    }
    long s = (long)(time(NULL) - t);
    if (s < 0) {
        s = 0;
    }
    if (s < 120) {
        snprintf(out, len, "%lds ago", s);
    } else if (s < 7200) {
        snprintf(out, len, "%ldm ago", s / 60);
    } else if (s < 172800) {
        snprintf(out, len, "%ldh%02ldm ago", s / 3600, s % 3600 / 60);
    } else {
        snprintf(out, len, "%ldd%02ldh ago", s / 86400, s % 86400 / 3600);
    }
}

/* Adds {id, end_wall, bytes_stored} of src under key to out and prints a line. */
static void report_one(bson_t *out, const char *source, const char *type, const char *what, const bson_t *src,
                       bool is_json)
{
    const char *id = catalog_str(src, "id");
    bson_iter_t it;
    if (id == NULL && bson_iter_init_find(&it, src, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
        id = bson_iter_utf8(&it, NULL);
    }
    const char *when = catalog_str(src, "end_wall");
    if (when == NULL || strcmp(what, "last_failure") == 0) {
        when = catalog_str(src, "event_time");
    }
    const char *err = catalog_str(src, "error");
    char key[64], age[32];
    snprintf(key, sizeof key, "%s_%s", type, what);
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(out, key, &sub);
    BSON_APPEND_UTF8(&sub, "id", id ? id : "");
    BSON_APPEND_UTF8(&sub, "time", when ? when : "");
    BSON_APPEND_INT64(&sub, "bytes_stored", catalog_int(src, "bytes_stored", 0));
    if (strcmp(what, "last_failure") == 0) {
        BSON_APPEND_UTF8(&sub, "error", err ? err : "");
    }
    bson_append_document_end(out, &sub);
    if (!is_json) {
        fmt_age(when, age, sizeof age);
        if (strcmp(what, "last_failure") == 0) {
            printf("%-8s %-5s FAILED  %s at %s (%s): %s\n", source, type, id ? id : "-", when ? when : "?", age,
                   err ? err : "");
        } else {
            printf("%-8s %-5s ok      %s at %s (%s), %lld bytes stored\n", source, type, id ? id : "-",
                   when ? when : "?", age, (long long)catalog_int(src, "bytes_stored", 0));
        }
    }
}

static bool find_newest(mongoc_collection_t *coll, const char *type, bool is_ok, bson_t *out, char *errbuf,
                        size_t errlen)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, ne;
    BSON_APPEND_UTF8(&filter, "type", type);
    BSON_APPEND_UTF8(&filter, "outcome", is_ok ? "ok" : "failed");
    if (is_ok) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "deleted", &ne);
        BSON_APPEND_BOOL(&ne, "$ne", true);
        bson_append_document_end(&filter, &ne);
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "missing", &ne);
        BSON_APPEND_BOOL(&ne, "$ne", true);
        bson_append_document_end(&filter, &ne);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "event_time", -1);
    BSON_APPEND_INT32(&sort, "_id", -1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT32(&opts, "limit", 1);
    mongoc_read_prefs_t *prefs = mongoc_read_prefs_new(MONGOC_READ_PRIMARY_PREFERRED);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, prefs);
    const bson_t *doc;
    bool is_found = false;
    if (mongoc_cursor_next(cur, &doc)) {
        bson_copy_to(doc, out);
        is_found = true;
    }
    bson_error_t error;
    if (mongoc_cursor_error(cur, &error)) {
        snprintf(errbuf, errlen, "reading admin.backups: %s", error.message);
    }
    mongoc_cursor_destroy(cur);
    mongoc_read_prefs_destroy(prefs);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return is_found;
}

static int report_catalog(const char *uri, bson_t *out, bool is_json, bool *has_full)
{
    char errbuf[1024] = "";
    mongoc_client_t *client = catalog_client_open(uri, 10000, errbuf, sizeof errbuf);
    if (client == NULL) {
        fprintf(stderr, "tally: backup report: %s\n", errbuf);
        return -1;
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(client, CATALOG_DB, CATALOG_COLL);
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(out, "catalog", &sub);
    for (int i = 0; i < 3 && errbuf[0] == '\0'; i++) {
        bson_t ok, failed;
        bool has_ok = find_newest(coll, TYPES[i], true, &ok, errbuf, sizeof errbuf);
        bool has_failed = find_newest(coll, TYPES[i], false, &failed, errbuf, sizeof errbuf);
        if (has_ok) {
            report_one(&sub, "catalog", TYPES[i], "last_success", &ok, is_json);
            *has_full = *has_full || i == 0;
        } else if (!is_json) {
            printf("%-8s %-5s none\n", "catalog", TYPES[i]);
        }
        const char *ok_time = has_ok ? catalog_str(&ok, "event_time") : NULL;
        const char *fail_time = has_failed ? catalog_str(&failed, "event_time") : NULL;
        if (has_failed && (ok_time == NULL || (fail_time != NULL && strcmp(fail_time, ok_time) > 0))) {
            report_one(&sub, "catalog", TYPES[i], "last_failure", &failed, is_json);
        }
        if (has_ok) {
            bson_destroy(&ok);
        }
        if (has_failed) {
            bson_destroy(&failed);
        }
    }
    bson_append_document_end(out, &sub);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    if (errbuf[0] != '\0') {
        fprintf(stderr, "tally: backup report: %s\n", errbuf);
        return -1;
    }
    return 0;
}

static int report_disk(const char *dest, bson_t *out, bool is_json, bool *has_full)
{
    char errbuf[1024];
    struct catalog_manifest *m;
    int n = catalog_manifests_load(dest, &m, errbuf, sizeof errbuf);
    if (n < 0) {
        fprintf(stderr, "tally: backup report: %s\n", errbuf);
        return -1;
    }
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(out, "disk", &sub);
    for (int t = 0; t < 3; t++) {
        int newest = -1;
        for (int i = 0; i < n; i++) {
            if (strcmp(m[i].type, TYPES[t]) == 0) {
                newest = i;
            }
        }
        if (newest >= 0) {
            report_one(&sub, "disk", TYPES[t], "last_success", m[newest].doc, is_json);
            *has_full = *has_full || t == 0;
        } else if (!is_json) {
            printf("%-8s %-5s none\n", "disk", TYPES[t]);
        }
    }
    bson_append_document_end(out, &sub);
    catalog_manifests_free(m, n);
    return 0;
}

static int report_state(const char *state, bson_t *out, bool is_json, bool *has_full)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/status.json", state);
    bson_error_t error;
    bson_json_reader_t *reader = bson_json_reader_new_from_file(path, &error);
    bson_t doc = BSON_INITIALIZER;
    if (reader == NULL || bson_json_reader_read(reader, &doc, &error) != 1) {
        fprintf(stderr, "tally: backup report: cannot read the agent's status file %s%s%s\n", path,
                reader ? ": " : "", reader ? error.message : "");
        if (reader != NULL) {
            bson_json_reader_destroy(reader);
        }
        bson_destroy(&doc);
        return -1;
    }
    bson_json_reader_destroy(reader);
    BSON_APPEND_DOCUMENT(out, "agent", &doc);
    bson_iter_t it, sub;
    if (bson_iter_init_find(&it, &doc, "last_success") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "full")) {
        *has_full = true;
    }
    if (!is_json) {
        char age[32];
        const char *updated = catalog_str(&doc, "updated");
        fmt_age(updated, age, sizeof age);
        printf("%-8s state %s (pid %lld, updated %s, %s)\n", "agent", or_unknown(catalog_str(&doc, "state")),
               (long long)catalog_int(&doc, "pid", 0), updated ? updated : "?", age);
        for (int t = 0; t < 3; t++) {
            bson_t kind;
            uint32_t len;
            const uint8_t *data;
            const char *groups[] = {"last_success", "last_failure", "next"};
            for (int g = 0; g < 3; g++) {
                if (bson_iter_init_find(&it, &doc, groups[g]) && BSON_ITER_HOLDS_DOCUMENT(&it) &&
                    bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, TYPES[t])) {
                    if (BSON_ITER_HOLDS_DOCUMENT(&sub)) {
                        bson_iter_document(&sub, &len, &data);
                        if (bson_init_static(&kind, data, len)) {
                            printf("%-8s %-5s %-13s %s %s %s\n", "agent", TYPES[t], groups[g],
                                   or_unknown(catalog_str(&kind, "id")), or_unknown(catalog_str(&kind, "time")),
                                   catalog_str(&kind, "error") ? catalog_str(&kind, "error") : "");
                        }
                    } else if (BSON_ITER_HOLDS_UTF8(&sub)) {
                        printf("%-8s %-5s %-13s %s\n", "agent", TYPES[t], groups[g], bson_iter_utf8(&sub, NULL));
                    }
                }
            }
        }
    }
    bson_destroy(&doc);
    return 0;
}

int catalog_report_main(int argc, char **argv)
{
    const char *uri = NULL, *dest = NULL, *state = NULL;
    bool is_json = false;
    const struct catalog_opt opts[] = {
        {"--uri", &uri, NULL}, {"--to", &dest, NULL}, {"--state", &state, NULL}, {"--json", NULL, &is_json}};
    int rc = catalog_parse_opts(argc, argv, 1, opts, 4, "report");
    if (rc != 0) {
        return rc;
    }
    if (uri == NULL && dest == NULL && state == NULL) {
        return catalog_usage_error("report", "give --uri URI (the catalog), --to DEST (the manifests) and/or "
                                             "--state DIR (the agent's status)");
    }
    bson_t out = BSON_INITIALIZER;
    bool is_ok = true;
    bool has_full;
    if (uri != NULL) {
        has_full = false;
        is_ok = report_catalog(uri, &out, is_json, &has_full) == 0 && has_full && is_ok;
    }
    if (dest != NULL) {
        has_full = false;
        is_ok = report_disk(dest, &out, is_json, &has_full) == 0 && has_full && is_ok;
    }
    if (state != NULL) {
        has_full = false;
        is_ok = report_state(state, &out, is_json, &has_full) == 0 && has_full && is_ok;
    }
    if (is_json) {
        BSON_APPEND_BOOL(&out, "ok", is_ok);
        char *s = bson_as_relaxed_extended_json(&out, NULL);
        printf("%s\n", s);
        bson_free(s);
    } else if (!is_ok) {
        printf("no successful full backup is known: nothing could be restored\n");
    }
    bson_destroy(&out);
    return is_ok ? 0 : 1;
}
