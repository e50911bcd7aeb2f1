/* `tally backup list|report|consolidate|record|agent`, and the catalog's
 * entry point for the backup tool, catalog_record_event.
 *
 * catalog_record_event never makes a backup fail for want of a catalog: the
 * event goes to Redis when one is configured and answers, else to the spool
 * (fsync'd), and one short consolidation pass is tried; whatever it cannot
 * move waits for `tally backup consolidate` or the agent. list and report
 * read admin.backups (report can also read the manifests or the agent's
 * status file). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "catalog_impl.h"
#include "tally.h"

enum { RECORD_TIMEOUT_MS = 3000, CLI_TIMEOUT_MS = 10000 };

static struct {
    char *uri;
    char *redis_url;
    char *spool_dir;
} config;

static void replace(char **slot, const char *value)
{
    if (value != NULL) {
        bson_free(*slot);
        *slot = bson_strdup(value);
    }
}

void catalog_configure(const char *uri, const char *redis_url, const char *spool_dir)
{
    replace(&config.uri, uri);
    replace(&config.redis_url, redis_url);
    replace(&config.spool_dir, spool_dir);
}

void catalog_config_get(const char **uri, const char **redis_url, const char **spool_dir)
{
    *uri = config.uri;
    *redis_url = config.redis_url;
    *spool_dir = config.spool_dir;
}

const char *catalog_redis_default(const char *given)
{
    if (given != NULL) {
        return given;
    }
    const char *env = getenv("TALLY_REDIS_URL");
    return env != NULL && env[0] != '\0' ? env : NULL;
}

int catalog_usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tally: backup %s: ", verb);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nrun `tally backup help` for usage\n");
    va_end(ap);
    return 2;
}

int catalog_parse_opts(int argc, char **argv, int first, const struct catalog_opt *opts, int n_opts,
                       const char *verb)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct catalog_opt *o = NULL;
        for (int j = 0; j < n_opts; j++) {
            if (strlen(opts[j].name) == name_len && strncmp(opts[j].name, arg, name_len) == 0) {
                o = &opts[j];
            }
        }
        if (o == NULL) {
            return catalog_usage_error(verb, "unknown option '%s'", arg);
        }
        if (o->value == NULL) {
            if (eq != NULL) {
                return catalog_usage_error(verb, "option %s takes no value", o->name);
            }
            *o->flag = true;
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (val == NULL) {
            if (i + 1 >= argc) {
                return catalog_usage_error(verb, "option %s needs a value", o->name);
            }
            val = argv[++i];
        }
        *o->value = val;
    }
    return 0;
}

/* An id for an event that came without one (a backup that failed before it
 * had an id); made once, so every copy of the event has the same key. */
static void make_failed_id(const bson_t *event, char *out, size_t len)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    const char *type = catalog_str(event, "type");
    bool is_known = type && (!strcmp(type, "full") || !strcmp(type, "diff") || !strcmp(type, "incr"));
    snprintf(out, len, "%s-%s-failed%06x", stamp, is_known ? type : "unknown",
             (unsigned)((uint32_t)rand() ^ (uint32_t)getpid() ^ (uint32_t)clock()) & 0xffffffu);
}

static void uri_from_event(const bson_t *event, char *out, size_t len)
{
    const char *source = catalog_str(event, "source");
    const char *set = catalog_str(event, "set_name");
    out[0] = '\0';
    if (source != NULL && source[0] != '\0' && strpbrk(source, "/?@") == NULL) {
        if (set != NULL && set[0] != '\0' && strpbrk(set, "/?&=") == NULL) {
            snprintf(out, len, "mongodb://%s/?replicaSet=%s", source, set);
        } else {
            snprintf(out, len, "mongodb://%s/", source);
        }
    }
}

int catalog_record_event(const bson_t *event_in)
{
    char errbuf[1024];
    bson_t event = BSON_INITIALIZER;
    bson_copy_to_excluding_noinit(event_in, &event, "", NULL);
    if (catalog_str(&event, "id") == NULL || catalog_str(&event, "id")[0] == '\0') {
        char id[CATALOG_ID_MAX];
        make_failed_id(&event, id, sizeof id);
        bson_t copy = BSON_INITIALIZER;
        bson_copy_to_excluding_noinit(&event, &copy, "id", NULL);
        BSON_APPEND_UTF8(&copy, "id", id);
        bson_destroy(&event);
        bson_steal(&event, &copy);
    }
    if (!bson_has_field(&event, "event_time")) {
        char now[40];
        catalog_now_iso(now, sizeof now);
        BSON_APPEND_UTF8(&event, "event_time", now);
    }
    struct catalog_key key;
    if (catalog_event_key(&event, &key, errbuf, sizeof errbuf) != 0) {
        fprintf(stderr, "tally: catalog: %s; event not recorded\n", errbuf);
        bson_destroy(&event);
        return -1;
    }
    size_t len;
    char *json = catalog_event_to_json(&event, &len);
    const char *redis_url = catalog_redis_default(config.redis_url);
    bool is_staged = false;
    if (redis_url != NULL && redis_url[0] != '\0') {
        struct catalog_redis *r = catalog_redis_open(redis_url, RECORD_TIMEOUT_MS, errbuf, sizeof errbuf);
        if (r != NULL && catalog_redis_add(r, &key, json, len, errbuf, sizeof errbuf) == 0) {
            is_staged = true;
        } else {
            fprintf(stderr, "tally: catalog: %s; spooling the event for backup %s\n", errbuf, key.id);
        }
        catalog_redis_close(r);
    }
    const char *dest = catalog_str(&event, "destination");
    char spool[PATH_MAX];
    if (config.spool_dir != NULL) {
        snprintf(spool, sizeof spool, "%s", config.spool_dir);
    } else {
        snprintf(spool, sizeof spool, "%s/%s", dest && dest[0] ? dest : ".", CATALOG_SPOOL_NAME);
    }
    int rc = 0;
    if (!is_staged) {
        if (catalog_spool_write(spool, &key, json, len, errbuf, sizeof errbuf) != 0) {
            fprintf(stderr, "tally: catalog: %s; the event for backup %s is NOT recorded (its manifest, if any, "
                    "still is: `tally backup consolidate --to DEST` reconciles it)\n", errbuf, key.id);
            rc = -1;
        }
    }
    bson_free(json);
    char uri[1024];
    if (config.uri != NULL) {
        snprintf(uri, sizeof uri, "%s", config.uri);
    } else {
        uri_from_event(&event, uri, sizeof uri);
    }
    if (rc == 0 && uri[0] != '\0') {
        struct catalog_target t = {
            .uri = uri,
            .redis_url = redis_url,
            .spool_dir = spool,
            .dest = dest && dest[0] ? dest : NULL,
            .timeout_ms = RECORD_TIMEOUT_MS,
            .is_quiet = true,
        };
        struct catalog_counts counts;
        if (catalog_consolidate(&t, &counts, errbuf, sizeof errbuf) != 0) {
            fprintf(stderr, "tally: catalog: the event for backup %s is recorded (%s %s); consolidation "
                    "incomplete: %s; `tally backup consolidate` or the agent finishes it\n", key.id,
                    is_staged ? "Redis" : "spool", is_staged ? redis_url : spool, errbuf);
        }
    }
    bson_destroy(&event);
    return rc;
}

/* "secs:inc/tT" for an optime stored as {ts: Timestamp|{t, i}, t}. */
static void fmt_optime(const bson_t *doc, const char *field, char *out, size_t len)
{
    bson_iter_t it, sub;
    snprintf(out, len, "-");
    if (!bson_iter_init_find(&it, doc, field) || !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &sub)) {
        return;
    }
    uint32_t secs = 0, inc = 0;
    int64_t term = -1;
    while (bson_iter_next(&sub)) {
        if (strcmp(bson_iter_key(&sub), "ts") == 0) {
            if (BSON_ITER_HOLDS_TIMESTAMP(&sub)) {
                bson_iter_timestamp(&sub, &secs, &inc);
            } else if (BSON_ITER_HOLDS_DOCUMENT(&sub)) {
                uint32_t dlen;
                const uint8_t *data;
                bson_iter_document(&sub, &dlen, &data);
                bson_t ts;
                if (bson_init_static(&ts, data, dlen)) {
                    secs = (uint32_t)catalog_int(&ts, "t", 0);
                    inc = (uint32_t)catalog_int(&ts, "i", 0);
                }
            }
        } else if (strcmp(bson_iter_key(&sub), "t") == 0 && BSON_ITER_HOLDS_NUMBER(&sub)) {
            term = bson_iter_as_int64(&sub);
        }
    }
    snprintf(out, len, "%u:%u/t%lld", secs, inc, (long long)term);
}

static void fmt_bytes(int64_t n, char *out, size_t len)
{
    if (n < 0) {
        snprintf(out, len, "-");
    } else if (n < 1024) {
        snprintf(out, len, "%lldB", (long long)n);
    } else if (n < 1024 * 1024) {
        snprintf(out, len, "%.1fKiB", (double)n / 1024);
    } else if (n < 1024LL * 1024 * 1024) {
        snprintf(out, len, "%.1fMiB", (double)n / (1024 * 1024));
    } else {
        snprintf(out, len, "%.2fGiB", (double)n / (1024.0 * 1024 * 1024));
    }
}

static bool doc_flag(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, key) && bson_iter_as_bool(&it);
}

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

static void print_row(const bson_t *doc)
{
    char start[64], end[64], raw[32], stored[32], outcome[64];
    fmt_optime(doc, "start_optime", start, sizeof start);
    fmt_optime(doc, "end_optime", end, sizeof end);
    fmt_bytes(catalog_int(doc, "bytes_raw", -1), raw, sizeof raw);
    fmt_bytes(catalog_int(doc, "bytes_stored", -1), stored, sizeof stored);
    snprintf(outcome, sizeof outcome, "%s%s%s", or_dash(catalog_str(doc, "outcome")),
             doc_flag(doc, "deleted") ? ",deleted" : "", doc_flag(doc, "missing") ? ",missing" : "");
    bson_iter_t it;
    const char *id = bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                                                         : "?";
    printf("%-36s %-4s %-36s %-22s %-22s %-24s %-24s %9s %9s %-16s %s\n", id, or_dash(catalog_str(doc, "type")),
           or_dash(catalog_str(doc, "parent")), start, end, or_dash(catalog_str(doc, "start_wall")),
           or_dash(catalog_str(doc, "end_wall")), raw, stored, outcome, or_dash(catalog_str(doc, "destination")));
}

static int cmd_list(int argc, char **argv)
{
    const char *uri = NULL;
    bool is_json = false;
    const struct catalog_opt opts[] = {{"--uri", &uri, NULL}, {"--json", NULL, &is_json}};
    int rc = catalog_parse_opts(argc, argv, 1, opts, 2, "list");
    if (rc != 0) {
        return rc;
    }
    if (uri == NULL) {
        return catalog_usage_error("list", "--uri URI is required");
    }
    char errbuf[1024];
    mongoc_client_t *client = catalog_client_open(uri, CLI_TIMEOUT_MS, errbuf, sizeof errbuf);
    if (client == NULL) {
        fprintf(stderr, "tally: backup list: %s\n", errbuf);
        return 1;
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(client, CATALOG_DB, CATALOG_COLL);
    bson_t filter = BSON_INITIALIZER, fopts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&fopts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", -1);
    bson_append_document_end(&fopts, &sort);
    /* Any member will do for reading the catalog. */
    mongoc_read_prefs_t *prefs = mongoc_read_prefs_new(MONGOC_READ_PRIMARY_PREFERRED);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &fopts, prefs);
    const bson_t *doc;
    int n = 0;
    if (is_json) {
        printf("[");
    } else {
        printf("%-36s %-4s %-36s %-22s %-22s %-24s %-24s %9s %9s %-16s %s\n", "ID", "TYPE", "PARENT",
               "START_OPTIME", "END_OPTIME", "START_WALL", "END_WALL", "RAW", "STORED", "OUTCOME", "DESTINATION");
    }
    while (mongoc_cursor_next(cur, &doc)) {
        if (is_json) {
            char *s = bson_as_relaxed_extended_json(doc, NULL);
            printf("%s\n%s", n ? "," : "", s);
            bson_free(s);
        } else {
            print_row(doc);
        }
        n++;
    }
    bson_error_t error;
    rc = 0;
    if (mongoc_cursor_error(cur, &error)) {
        fprintf(stderr, "tally: backup list: reading admin.backups: %s\n", error.message);
        rc = 1;
    }
    if (is_json) {
        printf("]\n");
    }
    mongoc_cursor_destroy(cur);
    mongoc_read_prefs_destroy(prefs);
    bson_destroy(&fopts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    return rc;
}

static int cmd_consolidate(int argc, char **argv)
{
    const char *uri = NULL, *redis = NULL, *spool = NULL, *dest = NULL, *timeout = NULL;
    const struct catalog_opt opts[] = {{"--uri", &uri, NULL},     {"--redis", &redis, NULL},
                                       {"--spool", &spool, NULL}, {"--to", &dest, NULL},
                                       {"--timeout", &timeout, NULL}};
    int rc = catalog_parse_opts(argc, argv, 1, opts, 5, "consolidate");
    if (rc != 0) {
        return rc;
    }
    if (uri == NULL) {
        return catalog_usage_error("consolidate", "--uri URI is required");
    }
    int timeout_s = 60;
    if (timeout != NULL) {
        char *end;
        long v = strtol(timeout, &end, 10);
        if (*end != '\0' || end == timeout || v < 1 || v > 86400) {
            return catalog_usage_error("consolidate", "--timeout must be 1..86400 seconds, not '%s'", timeout);
        }
        timeout_s = (int)v;
    }
    redis = catalog_redis_default(redis);
    char errbuf[1024];
    if (redis != NULL && redis[0] != '\0' && catalog_redis_parse_check(redis, errbuf, sizeof errbuf) != 0) {
        return catalog_usage_error("consolidate", "%s", errbuf);
    }
    char spool_buf[PATH_MAX];
    if (spool == NULL && dest != NULL) {
        snprintf(spool_buf, sizeof spool_buf, "%s/%s", dest, CATALOG_SPOOL_NAME);
        spool = spool_buf;
    }
    struct catalog_target t = {.uri = uri, .redis_url = redis, .spool_dir = spool, .dest = dest,
                               .timeout_ms = CLI_TIMEOUT_MS};
    /* Passes repeat until one completes: a failover or a Redis restart in
     * the middle only delays the work. */
    time_t deadline = time(NULL) + timeout_s;
    for (;;) {
        struct catalog_counts counts;
        if (catalog_consolidate(&t, &counts, errbuf, sizeof errbuf) == 0) {
            return 0;
        }
        if (time(NULL) >= deadline) {
            fprintf(stderr, "tally: backup consolidate: %s; gave up after %d s (what is staged stays)\n", errbuf,
                    timeout_s);
            return 1;
        }
        fprintf(stderr, "tally: backup consolidate: %s; retrying\n", errbuf);
        struct timespec ts = {.tv_sec = 1};
        nanosleep(&ts, NULL);
    }
}

static int cmd_record(int argc, char **argv)
{
    const char *file = NULL, *uri = NULL, *redis = NULL, *spool = NULL;
    const struct catalog_opt opts[] = {{"--event", &file, NULL}, {"--uri", &uri, NULL},
                                       {"--redis", &redis, NULL}, {"--spool", &spool, NULL}};
    int rc = catalog_parse_opts(argc, argv, 1, opts, 4, "record");
    if (rc != 0) {
        return rc;
    }
    if (file == NULL) {
        return catalog_usage_error("record", "--event FILE.json is required ('-' reads stdin)");
    }
    bson_error_t error;
    bson_json_reader_t *reader = strcmp(file, "-") == 0 ? bson_json_reader_new_from_fd(0, false)
                                                        : bson_json_reader_new_from_file(file, &error);
    if (reader == NULL) {
        fprintf(stderr, "tally: backup record: cannot read %s: %s\n", file, error.message);
        return 1;
    }
    catalog_configure(uri, redis, spool);
    bson_t event = BSON_INITIALIZER;
    int n = 0;
    rc = 0;
    int got;
    while (rc == 0 && (got = bson_json_reader_read(reader, &event, &error)) == 1) {
        rc = catalog_record_event(&event) == 0 ? 0 : 1;
        bson_reinit(&event);
        n++;
    }
    if (rc == 0 && got < 0) {
        fprintf(stderr, "tally: backup record: %s: %s\n", file, error.message);
        rc = 1;
    }
    bson_destroy(&event);
    bson_json_reader_destroy(reader);
    if (rc == 0) {
        fprintf(stderr, "tally: backup record: %d event%s recorded\n", n, n == 1 ? "" : "s");
    }
    return rc;
}

static int cmd_prune(int argc, char **argv)
{
    const char *dest = NULL, *keep = NULL, *uri = NULL, *redis = NULL;
    const struct catalog_opt opts[] = {{"--to", &dest, NULL}, {"--keep-full", &keep, NULL},
                                       {"--uri", &uri, NULL}, {"--redis", &redis, NULL}};
    int rc = catalog_parse_opts(argc, argv, 1, opts, 4, "prune");
    if (rc != 0) {
        return rc;
    }
    char *end = NULL;
    long n = keep ? strtol(keep, &end, 10) : 0;
    if (dest == NULL || keep == NULL || *end != '\0' || n < 1 || n > 100000) {
        return catalog_usage_error("prune", "needs --to DEST and --keep-full N (N >= 1)");
    }
    catalog_configure(uri, redis, NULL);
    char errbuf[1024];
    int n_deleted = catalog_retention_apply(dest, (int)n, errbuf, sizeof errbuf);
    if (n_deleted < 0) {
        fprintf(stderr, "tally: backup prune: %s\n", errbuf);
        return 1;
    }
    printf("deleted %d backup%s\n", n_deleted, n_deleted == 1 ? "" : "s");
    return 0;
}

static const char HELP[] =
    "catalog commands (tally backup VERB ...):\n"
    "  list --uri URI [--json]        the catalog (admin.backups), newest first\n"
    "  report [--uri URI] [--to DEST] [--state DIR] [--json]\n"
    "                                 last success (and newer failure) of each kind;\n"
    "                                 exit 1 when no successful full backup is known\n"
    "  consolidate --uri URI [--to DEST] [--redis URL] [--spool DIR] [--timeout SECS]\n"
    "                                 move staged events into admin.backups, reconcile\n"
    "                                 with the manifests in DEST\n"
    "  record --event FILE|- [--uri URI] [--redis URL] [--spool DIR]\n"
    "                                 stage events (JSON documents) as a backup would\n"
    "  prune --to DEST --keep-full N [--uri URI] [--redis URL]\n"
    "                                 apply retention once\n"
    "  agent --uri URI --to DEST --state DIR [schedule, retention options]\n"
    "                                 run backups on a schedule (see docs/backups.md)\n"
    "--redis defaults to $TALLY_REDIS_URL; without Redis, events wait in the spool\n"
    "(default DEST/.tally-spool).\n";

static int dispatch(int argc, char **argv)
{
    const char *verb = argv[0];
    if (strcmp(verb, "list") == 0) {
        return cmd_list(argc, argv);
    }
    if (strcmp(verb, "consolidate") == 0) {
        return cmd_consolidate(argc, argv);
    }
    if (strcmp(verb, "record") == 0) {
        return cmd_record(argc, argv);
    }
    if (strcmp(verb, "prune") == 0) {
        return cmd_prune(argc, argv);
    }
    if (strcmp(verb, "report") == 0) {
        return catalog_report_main(argc, argv);
    }
    if (strcmp(verb, "agent") == 0) {
        return catalog_agent_main(argc, argv);
    }
    if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0) {
        fputs(HELP, stdout);
        return 0;
    }
    return catalog_usage_error(verb, "unknown command (want list, report, consolidate, record, prune or agent)");
}

int catalog_cli(int argc, char **argv)
{
    if (argc < 1) {
        fputs(HELP, stderr);
        return 2;
    }
    mongoc_init();
    client_quiet_logs();
    int rc = dispatch(argc, argv);
    mongoc_cleanup();
    return rc;
}
